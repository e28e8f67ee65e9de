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
