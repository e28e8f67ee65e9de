# Copyright (c) 2026, TrackFlow developers
# License: AGPL-3.0. See license.txt

import frappe
from frappe import _
from frappe.model.document import Document

from trackflow.engine import scoring, scoring_fit, scoring_lead
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
		lead_field: DF.Data | None
		max_per_period: DF.Int
		operator: DF.Literal["", "equals", "in_list", "is_set", "not_free_mail", "greater_than"]
		path_pattern: DF.Data | None
		period_days: DF.Int
		points: DF.Float
		rule_name: DF.Data
		rule_type: DF.Literal["activity", "intent", "fit"]
		value: DF.SmallText | None
		window_days: DF.Int
	# end: auto-generated types

	def validate(self):
		# The form hides fields that do not apply to the rule type and kind; drop what a change left there.
		fit = self.rule_type == "fit"
		applicable = () if fit else scoring.MATCH_FIELDS.get(self.activity_kind, ())
		for fieldname in ("event_name", "path_pattern", "conversion_type"):
			if fieldname not in applicable:
				setattr(self, fieldname, None)
		if fit:
			self.activity_kind = self.campaign = self.channel = None
			self.max_per_period = 0
		else:
			self.lead_field = self.operator = self.value = None
		if self.rule_type != "intent":
			self.window_days = scoring_lead.DEFAULT_INTENT_WINDOW_DAYS
		try:
			rule = scoring_lead.rule_from_any_row(self.as_dict())
		except ValidationError as e:
			frappe.throw(str(e), title=_("Invalid Lead Scoring Rule"))
		if isinstance(rule, scoring_fit.FitRule):
			if not frappe.get_meta("CRM Lead").has_field(rule.field):
				frappe.throw(
					_("Lead Field: CRM Lead has no field {0}").format(rule.field),
					title=_("Invalid Lead Scoring Rule"),
				)
			self.lead_field, self.value = rule.field, rule.value
		else:
			activity_rule = rule.rule if isinstance(rule, scoring_lead.IntentRule) else rule
			self.path_pattern = activity_rule.path_pattern
			self.event_name = activity_rule.event_name

	@frappe.whitelist()
	def preview(self, leads: list[str]) -> list[dict]:
		"""What this fit rule gives each of a few leads (at most 20), as it stands on the form."""
		frappe.has_permission("Lead Scoring Rule", "read", throw=True)
		if self.rule_type != "fit":
			frappe.throw(_("Only fit rules can be previewed on leads"))
		leads = list(leads)[:20]
		for lead in leads:
			frappe.has_permission("CRM Lead", "read", lead, throw=True)
		try:
			rule = scoring_fit.fit_rule_from_row(self.as_dict())
		except ValidationError as e:
			frappe.throw(str(e), title=_("Invalid Lead Scoring Rule"))
		rows = frappe.get_all("CRM Lead", filters={"name": ("in", leads)}, fields=["name", rule.field])
		return [
			{"lead": p.lead, "points": p.points, "reasons": [m.text for m in p.matches]}
			for p in scoring_fit.preview_fit(rows, [rule])
		]
