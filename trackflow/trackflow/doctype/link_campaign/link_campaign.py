# Copyright (c) 2026, TrackFlow developers
# License: AGPL-3.0. See license.txt

import frappe
from frappe import _
from frappe.model.document import Document
from frappe.utils import getdate


class LinkCampaign(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		bot_clicks: DF.Int
		budget: DF.Currency
		campaign_name: DF.Data
		campaign_owner: DF.Link | None
		channel: DF.Literal[
			"",
			"email",
			"paid_search",
			"organic_search",
			"paid_social",
			"organic_social",
			"display",
			"affiliate",
			"video",
			"sms",
			"qr",
			"referral",
			"offline",
			"direct",
			"other",
		]
		currency: DF.Link | None
		description: DF.TextEditor | None
		end_date: DF.Date | None
		last_click_at: DF.Datetime | None
		start_date: DF.Date | None
		status: DF.Literal["Planned", "Active", "Paused", "Completed"]
		total_clicks: DF.Int
		unique_visitors: DF.Int
		utm_campaign: DF.Data | None
		utm_content: DF.Data | None
		utm_medium: DF.Data | None
		utm_source: DF.Data | None
		utm_term: DF.Data | None
	# end: auto-generated types

	def validate(self):
		if self.start_date and self.end_date and getdate(self.end_date) < getdate(self.start_date):
			frappe.throw(_("End Date cannot be before Start Date"), title=_("Invalid Campaign Dates"))
		self.currency = self.currency or frappe.db.get_default("currency")
