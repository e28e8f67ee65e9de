# Copyright (c) 2026, TrackFlow developers
# License: AGPL-3.0. See license.txt
"""Frappe tests of lead scoring on a site: the three components from real rules, fields and activity, manual
adjustments, the explanation, the daily job (decay, due intent, churn risk), summaries and the report."""

import json
import secrets
import time

import frappe
from frappe.utils import add_to_date, now_datetime

from trackflow.api.scoring import add_score_adjustment, explain_lead
from trackflow.integrations.crm import rescore_changed_lead
from trackflow.scoring import decay_scores, rescore_lead, summarize_recent_activity
from trackflow.testing import TrackFlowTestCase
from trackflow.trackflow.doctype.conversion.test_conversion import make_lead

TAG = f"tfscore{secrets.token_hex(3)}"


def rule(rule_type: str, **fields) -> str:
	return (
		frappe.get_doc(
			{"doctype": "Lead Scoring Rule", "rule_name": f"{TAG} {rule_type} {secrets.token_hex(2)}"}
			| {"rule_type": rule_type, **fields}
		)
		.insert()
		.name
	)


def touch(lead, days_ago: float, channel: str = "email"):
	frappe.get_doc(
		{
			"doctype": "Touchpoint",
			"occurred_at": add_to_date(now_datetime(), days=-days_ago),
			"touch_type": "session",
			"channel": channel,
			"crm_lead": lead.name,
		}
	).insert(ignore_permissions=True)


def stored(lead) -> frappe._dict:
	return frappe.db.get_value(
		"CRM Lead",
		lead.name,
		[
			"tf_engagement_score",
			"tf_fit_score",
			"tf_engagement_component",
			"tf_intent_score",
			"tf_churn_risk",
			"tf_intent_changes_at",
			"tf_scored_at",
		],
		as_dict=True,
	)


class TestLeadScoring(TrackFlowTestCase):
	def setUp(self):
		super().setUp()
		# only this test's rules count
		rules = frappe.qb.DocType("Lead Scoring Rule")
		frappe.qb.update(rules).set(rules.active, 0).run()
		self.fit = rule("fit", lead_field="email", operator="not_free_mail", points=50)
		self.engagement = rule("activity", activity_kind="channel", channel="email", points=30)
		self.intent = rule("intent", activity_kind="channel", channel="paid_search", points=40, window_days=7)

	def test_components_are_written_and_weighted(self):
		lead = make_lead(f"ada-{TAG}@acme-{TAG}.io")
		touch(lead, 1)
		touch(lead, 2, "paid_search")
		total = rescore_lead(lead.name)
		row = stored(lead)
		self.assertEqual(row.tf_fit_score, 50)
		self.assertAlmostEqual(row.tf_engagement_component, 30 * 0.5 ** (1 / 14), places=1)
		self.assertEqual(row.tf_intent_score, 40)
		# default weights fit 35, engagement 40, intent 25
		expected = 50 * 0.35 + row.tf_engagement_component * 0.40 + 40 * 0.25
		self.assertAlmostEqual(total, expected, places=1)
		self.assertEqual(row.tf_engagement_score, total)
		self.assertIsNotNone(row.tf_intent_changes_at)  # paid_search leaves the 7-day window in 5 days

	def test_a_free_mail_lead_gets_no_fit_and_a_changed_email_rescores(self):
		lead = make_lead(f"bob-{TAG}@gmail.com")
		rescore_lead(lead.name)
		self.assertEqual(stored(lead).tf_fit_score, 0)
		lead.reload()
		lead.email = f"bob-{TAG}@acme-{TAG}.io"
		lead.save()
		queued = []
		original = frappe.enqueue
		frappe.enqueue = lambda method, **kw: queued.append(kw.get("lead"))
		try:
			rescore_changed_lead(lead)  # the on_change handler's step: a fit field changed
		finally:
			frappe.enqueue = original
		self.assertEqual(queued, [lead.name])
		rescore_lead(lead.name)
		self.assertEqual(stored(lead).tf_fit_score, 50)

	def test_adjustment_is_recorded_counted_at_once_and_explained(self):
		lead = make_lead(f"cy-{TAG}@gmail.com")
		rescore_lead(lead.name)
		result = add_score_adjustment(lead.name, 20, "met at the fair", decays=0)
		adjustment = frappe.get_doc("Lead Score Adjustment", result["adjustment"])
		self.assertEqual((adjustment.points, adjustment.owner, adjustment.decays), (20, "Administrator", 0))
		self.assertEqual(stored(lead).tf_engagement_component, 20)
		self.assertEqual(result["total"], 8.0)  # 20 x 40 %
		explained = explain_lead(lead.name)
		engagement = next(c for c in explained["components"] if c["name"] == "engagement")
		self.assertEqual((engagement["value"], engagement["weight"], engagement["contribution"]), (20, 40, 8))
		self.assertIn("met at the fair", engagement["reasons"][0]["text"])
		self.assertEqual(explained["adjustments"][0]["reason"], "met at the fair")
		with self.assertRaises(frappe.ValidationError):
			add_score_adjustment(lead.name, 20, "  ")
		with self.assertRaises(frappe.ValidationError):
			add_score_adjustment(lead.name, 500, "a typing slip")

	def test_explanation_is_fast_and_carries_health(self):
		lead = make_lead(f"di-{TAG}@acme-{TAG}.io")
		frappe.db.delete("Conversion", {"crm_lead": lead.name})  # lead_created: an activity of today
		for days_ago in (30, 28, 26, 24):
			touch(lead, days_ago)
		rescore_lead(lead.name)
		explain_lead(lead.name)  # warm caches (meta, stage medians)
		started = time.perf_counter()
		explained = explain_lead(lead.name)
		self.assertLess(time.perf_counter() - started, 0.05)
		health = explained["health"]
		self.assertEqual(health["days_since_last_activity"], 24)
		self.assertEqual(health["cadence_days"], 2)
		self.assertEqual(health["churn_risk"], 1.0)  # 24 days idle against a 2-day cadence
		self.assertEqual(stored(lead).tf_churn_risk, 1.0)
		self.assertEqual({c["name"] for c in explained["components"]}, {"fit", "engagement", "intent"})
		json.dumps(explained, default=str)

	def test_daily_job_decays_rescores_due_intent_and_refreshes_churn(self):
		lead = make_lead(f"ed-{TAG}@gmail.com")
		touch(lead, 6.5, "paid_search")
		touch(lead, 6.5)
		rescore_lead(lead.name)
		self.assertEqual(stored(lead).tf_intent_score, 40)
		# a day later: the intent activity has left its window and engagement decayed
		frappe.db.set_value(
			"Touchpoint",
			{"crm_lead": lead.name, "channel": "paid_search"},
			"occurred_at",
			add_to_date(now_datetime(), days=-7.5),
		)
		frappe.db.set_value(
			"CRM Lead",
			lead.name,
			{
				"tf_scored_at": add_to_date(stored(lead).tf_scored_at, days=-1),
				"tf_intent_changes_at": add_to_date(now_datetime(), hours=-1),
			},
		)
		result = decay_scores()
		self.assertGreaterEqual(result["rescored"], 1)
		self.assertEqual(stored(lead).tf_intent_score, 0)
		frappe.db.set_value("CRM Lead", lead.name, "tf_churn_risk", 0.5)
		decay_scores()
		self.assertNotEqual(stored(lead).tf_churn_risk, 0.5)  # recomputed from idle days and cadence

	def test_summaries_are_upserted_by_key(self):
		lead = make_lead(f"fy-{TAG}@gmail.com")
		touch(lead, 1)
		touch(lead, 1, "paid_search")
		rescore_lead(lead.name)
		since = add_to_date(now_datetime(), days=-3)
		summarize_recent_activity(since)
		rows = frappe.get_all(
			"Lead Activity Summary", {"crm_lead": lead.name}, ["period", "activities", "counts", "score_end"]
		)
		self.assertEqual({r.period for r in rows}, {"day", "week", "month"})
		day_counts = [json.loads(r.counts) for r in rows if r.period == "day"]
		self.assertIn({"touch": 2}, day_counts)
		summarize_recent_activity(since)  # a rerun writes the same rows, no new ones
		self.assertEqual(frappe.db.count("Lead Activity Summary", {"crm_lead": lead.name}), len(rows))
		# the Lead Activity report reads them back, per period
		from trackflow.trackflow.report.lead_activity.lead_activity import execute

		_columns, data, *_rest = execute({"period": "day", "lead": lead.name})
		self.assertIn(
			(2, "touch 2"), [(r["activities"], r["counts"]) for r in data]
		)  # and its lead_created day
		_columns, data, *_rest = execute({"period": "month", "lead": lead.name})
		self.assertEqual(len(data), 1)

	def test_a_lead_turning_hot_runs_its_notification(self):
		from trackflow.scoring import HOT_EVENT
		from trackflow.trackflow.doctype.trackflow_settings.test_trackflow_settings import make_user

		owner = make_user(f"owner-{TAG}@example.com", ["Sales User"])
		notification = frappe.get_doc(
			{
				"doctype": "Notification",
				"name": f"{TAG} hot lead",
				"subject": "{{ doc.name }} is hot",
				"document_type": "CRM Lead",
				"event": "Method",
				"method": HOT_EVENT,
				"channel": "System Notification",
				"recipients": [{"receiver_by_document_field": "lead_owner"}],
				"message": "hot",
			}
		).insert(ignore_permissions=True)
		self.addCleanup(frappe.delete_doc, "Notification", notification.name, force=True)
		settings = frappe.get_single("TrackFlow Settings")
		weights = {f: settings.get(f) for f in ("fit_weight", "engagement_weight", "intent_weight")}
		self.addCleanup(lambda: frappe.get_single("TrackFlow Settings").update(weights).save())
		settings.update({"fit_weight": 100, "engagement_weight": 0, "intent_weight": 0}).save()
		rule("fit", lead_field="email", operator="is_set", points=50)  # 50 + 50: a total of 100
		lead = make_lead(f"hot-{TAG}@acme-{TAG}.io")
		frappe.db.set_value("CRM Lead", lead.name, "lead_owner", owner)
		rescore_lead(lead.name)
		self.assertEqual(frappe.db.get_value("CRM Lead", lead.name, "tf_temperature"), "hot")
		logs = frappe.get_all(
			"Notification Log", {"document_name": lead.name, "for_user": owner}, pluck="subject"
		)
		self.assertEqual(logs, [f"{lead.name} is hot"])
		rescore_lead(lead.name)  # still hot: not announced again
		self.assertEqual(frappe.db.count("Notification Log", {"document_name": lead.name}), 1)
