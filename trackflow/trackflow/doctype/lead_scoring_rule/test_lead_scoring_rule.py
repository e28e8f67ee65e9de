# Copyright (c) 2026, TrackFlow developers
# License: AGPL-3.0. See license.txt

import secrets

import frappe

from trackflow.testing import TrackFlowTestCase


def make_rule(**fields):
	return frappe.get_doc(
		{"doctype": "Lead Scoring Rule", "rule_name": f"tf-{secrets.token_hex(4)}", "points": 10} | fields
	)


class TestLeadScoringRule(TrackFlowTestCase):
	def test_valid_rule_is_saved_normalised(self):
		rule = make_rule(activity_kind="page_view", path_pattern="  /pricing*  ").insert()
		self.assertEqual(rule.path_pattern, "/pricing*")
		self.assertEqual(rule.name, rule.rule_name)

	def test_invalid_rule_is_refused_with_the_engine_message(self):
		with self.assertRaisesRegex(frappe.ValidationError, "must start with"):
			make_rule(activity_kind="page_view", path_pattern="pricing").insert()
		with self.assertRaisesRegex(frappe.ValidationError, "needs a channel"):
			make_rule(activity_kind="channel").insert()

	def test_match_fields_hidden_by_a_change_of_kind_are_cleared(self):
		rule = make_rule(activity_kind="conversion", conversion_type="signup").insert()
		rule.activity_kind = "page_view"
		rule.save()
		self.assertFalse(rule.conversion_type)

	def test_fit_rule_is_saved_normalised_and_activity_fields_cleared(self):
		rule = make_rule(
			rule_type="fit",
			lead_field=" industry ",
			operator="in_list",
			value="Technology, Software",
			activity_kind="page_view",
			path_pattern="/pricing",
		).insert()
		self.assertEqual((rule.lead_field, rule.value), ("industry", "Technology\nSoftware"))
		self.assertFalse(rule.activity_kind or rule.path_pattern)

	def test_fit_rule_needs_a_lead_field_that_exists(self):
		with self.assertRaisesRegex(frappe.ValidationError, "has no field"):
			make_rule(rule_type="fit", lead_field="shoe_size", operator="is_set").insert()
		with self.assertRaisesRegex(frappe.ValidationError, "needs a number"):
			make_rule(
				rule_type="fit", lead_field="annual_revenue", operator="greater_than", value="lots"
			).insert()

	def test_intent_rule_keeps_its_window_and_activity_rules_get_the_default(self):
		intent = make_rule(rule_type="intent", activity_kind="email_reply", window_days=7).insert()
		self.assertEqual(intent.window_days, 7)
		activity = make_rule(activity_kind="call", window_days=3).insert()
		self.assertEqual(activity.window_days, 14)

	def test_preview_scores_leads_with_the_rule_on_the_form(self):
		lead = frappe.get_doc(
			{
				"doctype": "CRM Lead",
				"first_name": "Preview",
				"email": f"p-{secrets.token_hex(3)}@acme-corp.io",
			}
		).insert()
		rule = make_rule(rule_type="fit", lead_field="email", operator="not_free_mail", points=10)
		rows = rule.preview([lead.name])
		self.assertEqual(
			rows, [{"lead": lead.name, "points": 10.0, "reasons": ["company email domain (acme-corp.io)"]}]
		)
