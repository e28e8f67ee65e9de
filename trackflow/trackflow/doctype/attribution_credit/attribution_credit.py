# Copyright (c) 2026, TrackFlow developers
# License: AGPL-3.0. See license.txt

from frappe.model.document import Document


class AttributionCredit(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		attribution_model: DF.Link
		campaign: DF.Link | None
		channel: DF.Data | None
		company_currency: DF.Link | None
		conversion: DF.Link
		conversion_type: DF.Data | None
		converted_at: DF.Datetime | None
		credited_value: DF.Currency
		credited_value_company: DF.Currency
		crm_deal: DF.Link | None
		crm_lead: DF.Link | None
		currency: DF.Link | None
		engine_version: DF.Data | None
		medium: DF.Data | None
		model_spec: DF.SmallText | None
		params_hash: DF.Data | None
		source: DF.Data | None
		touched_at: DF.Datetime | None
		touchpoint: DF.Link | None
		weight: DF.Float
	# end: auto-generated types

	pass
