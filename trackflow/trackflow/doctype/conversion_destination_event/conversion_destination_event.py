# Copyright (c) 2026, TrackFlow developers
# License: AGPL-3.0. See license.txt

from frappe.model.document import Document


class ConversionDestinationEvent(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		conversion_type: DF.Literal[
			"lead_created",
			"lead_qualified",
			"deal_created",
			"deal_won",
			"form_submit",
			"purchase",
			"signup",
			"custom",
		]
		event_name: DF.Data | None
		parent: DF.Data
		parentfield: DF.Data
		parenttype: DF.Data
	# end: auto-generated types

	pass
