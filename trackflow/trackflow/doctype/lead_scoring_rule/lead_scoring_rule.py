# Copyright (c) 2026, TrackFlow developers
# License: AGPL-3.0. See license.txt

import frappe
from frappe import _
from frappe.model.document import Document

from trackflow.engine import scoring
from trackflow.engine.errors import ValidationError


class LeadScoringRule(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		active: DF.Check
		activity_kind: DF.Literal[
			"event", "page_view", "conversion", "form_submit", "email_reply", "call", "campaign", "channel"
		]
		campaign: DF.Link | None
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
		conversion_type: DF.Literal[
			"",
			"lead_created",
			"lead_qualified",
			"deal_created",
			"deal_won",
			"form_submit",
			"purchase",
			"signup",
			"custom",
		]
		description: DF.SmallText | None
		event_name: DF.Data | None
		max_per_period: DF.Int
		path_pattern: DF.Data | None
		period_days: DF.Int
		points: DF.Float
		rule_name: DF.Data
	# end: auto-generated types

	def validate(self):
		# The form hides match fields that do not apply to the kind; drop what a change of kind left there.
		applicable = scoring.MATCH_FIELDS.get(self.activity_kind, ())
		for fieldname in ("event_name", "path_pattern", "conversion_type"):
			if fieldname not in applicable:
				setattr(self, fieldname, None)
		try:
			rule = scoring.rule_from_row(self.as_dict())
		except ValidationError as e:
			frappe.throw(str(e), title=_("Invalid Lead Scoring Rule"))
		self.path_pattern = rule.path_pattern
		self.event_name = rule.event_name
