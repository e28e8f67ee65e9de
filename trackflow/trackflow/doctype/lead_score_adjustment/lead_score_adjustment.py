# Copyright (c) 2026, TrackFlow developers
# License: AGPL-3.0. See license.txt

import frappe
from frappe import _
from frappe.model.document import Document

from trackflow.scoring import enqueue_rescore, rescore_lead


class LeadScoreAdjustment(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		crm_lead: DF.Link
		decays: DF.Check
		points: DF.Float
		reason: DF.SmallText
	# end: auto-generated types

	def validate(self):
		self.reason = (self.reason or "").strip()
		if not self.reason:
			frappe.throw(_("A score adjustment needs a reason"), title=_("Reason"))

	def after_insert(self):
		# counted at once: the salesperson sees the new score when the dialog closes
		rescore_lead(self.crm_lead)

	def on_trash(self):
		# the row still exists in this transaction: rescore after the commit
		enqueue_rescore(self.crm_lead)
