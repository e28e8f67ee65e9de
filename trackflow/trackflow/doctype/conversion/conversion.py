# Copyright (c) 2026, TrackFlow developers
# License: AGPL-3.0. See license.txt

from decimal import Decimal

import frappe
from frappe import _
from frappe.model.document import Document
from frappe.utils import flt, get_datetime, now_datetime

from trackflow.engine.conversions import check_conversion
from trackflow.engine.errors import ValidationError


class Conversion(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		attempts: DF.Int
		attributed_at: DF.Datetime | None
		company_currency: DF.Link | None
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
		crm_deal: DF.Link | None
		crm_lead: DF.Link | None
		currency: DF.Link | None
		error: DF.SmallText | None
		exchange_rate: DF.Float
		flag_reason: DF.SmallText | None
		flagged: DF.Check
		idempotency_key: DF.Data | None
		next_attempt_at: DF.Datetime | None
		occurred_at: DF.Datetime
		source_doctype: DF.Link | None
		source_name: DF.DynamicLink | None
		status: DF.Literal["", "pending", "attributed", "no_touchpoints", "error", "void"]
		value: DF.Currency
		value_company_currency: DF.Currency
		visitor: DF.Link | None
	# end: auto-generated types

	def validate(self):
		self.company_currency = frappe.db.get_default("currency") or "USD"
		self.currency = self.currency or self.company_currency
		self.exchange_rate = flt(self.exchange_rate) or 1
		value = Decimal(str(self.value)) if self.value not in (None, "") else None
		try:
			check = check_conversion(
				self.conversion_type, value, self.currency, get_datetime(self.occurred_at), now_datetime()
			)
		except ValidationError as e:
			frappe.throw(str(e), title=_("Invalid Conversion"))
		self.flagged, self.flag_reason = int(check.flagged), check.reason
		self.value_company_currency = flt(flt(self.value) * self.exchange_rate, self.precision("value"))
