# Copyright (c) 2026, TrackFlow developers
# License: AGPL-3.0. See license.txt

from frappe.model.document import Document


class LeadActivitySummary(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		activities: DF.Int
		counts: DF.Code | None
		crm_lead: DF.Link
		end_date: DF.Date | None
		period: DF.Literal["day", "week", "month"]
		score_change: DF.Float
		score_end: DF.Float
		score_start: DF.Float
		stage_changes: DF.Int
		stage_from: DF.Data | None
		stage_to: DF.Data | None
		start_date: DF.Date
	# end: auto-generated types

	pass
