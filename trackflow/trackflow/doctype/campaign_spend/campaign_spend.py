# Copyright (c) 2026, TrackFlow developers
# License: AGPL-3.0. See license.txt

import frappe
from frappe import _
from frappe.model.document import Document


class CampaignSpend(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		amount: DF.Currency
		campaign: DF.Link
		currency: DF.Link | None
		date: DF.Date
		notes: DF.SmallText | None
		source: DF.Literal[
			"", "Manual", "CSV Import", "Google Ads", "Meta Ads", "LinkedIn Ads", "Microsoft Ads", "Other"
		]
	# end: auto-generated types

	def validate(self):
		self.currency = self.currency or frappe.db.get_value("Link Campaign", self.campaign, "currency")
		# A unique index on (campaign, date) (install.ensure_indexes) closes the race; this gives the message.
		duplicate = frappe.db.exists(
			"Campaign Spend", {"campaign": self.campaign, "date": self.date, "name": ("!=", self.name)}
		)
		if duplicate:
			frappe.throw(
				_("Spend for {0} on {1} is already recorded in {2}: edit that record instead").format(
					frappe.bold(self.campaign), frappe.format(self.date, "Date"), duplicate
				),
				frappe.DuplicateEntryError,
			)
