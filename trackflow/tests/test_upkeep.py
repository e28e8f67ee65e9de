# Copyright (c) 2026, TrackFlow developers
# License: AGPL-3.0. See license.txt
"""Frappe tests of the scheduled upkeep (scores, retention, erasure, links, counters) and the bench commands."""

import secrets

import frappe
from click.testing import CliRunner
from frappe.utils import add_to_date, now_datetime

from trackflow.clicks import refresh_counters
from trackflow.commands import trackflow_group
from trackflow.ledger import attribute_conversion
from trackflow.links import expire_links
from trackflow.privacy import erase_visitor_data
from trackflow.retention import purge
from trackflow.scoring import decay_scores, rescore_lead
from trackflow.testing import TrackFlowTestCase
from trackflow.trackflow.doctype.conversion.test_conversion import add_journey, conversion_of, make_lead


def old(doc, days: int):
	"""Age a row as if it had been created `days` ago (purge selects by creation)."""
	frappe.db.set_value(
		doc.doctype, doc.name, "creation", add_to_date(now_datetime(), days=-days), update_modified=False
	)


class TestUpkeep(TrackFlowTestCase):
	def test_scoring_rescore_and_decay_are_idempotent(self):
		rule = f"TF page views {secrets.token_hex(3)}"
		frappe.get_doc(
			{
				"doctype": "Lead Scoring Rule",
				"rule_name": rule,
				"activity_kind": "channel",
				"channel": "email",
				"points": 20,
			}
		).insert()
		lead = make_lead()
		add_journey(lead, ("email", "email", "paid_search"))
		score = rescore_lead(lead.name)
		self.assertGreater(score, 0)
		fields = frappe.db.get_value(
			"CRM Lead",
			lead.name,
			["tf_engagement_score", "tf_engagement_grade", "tf_temperature"],
			as_dict=True,
		)
		self.assertEqual(fields.tf_engagement_score, score)
		self.assertTrue(fields.tf_engagement_grade and fields.tf_temperature)
		self.assertTrue(frappe.db.exists("Lead Score History", {"crm_lead": lead.name}))
		decay_scores()
		second = decay_scores()
		self.assertEqual(frappe.db.get_value("CRM Lead", lead.name, "tf_engagement_score"), score)
		self.assertLessEqual(second["changed"], second["leads"])

	def test_purge_keeps_the_ledger_whole(self):
		lead = make_lead()
		add_journey(lead, ("email", "referral"))
		conversion = conversion_of(f"lead_created:{lead.name}")
		frappe.db.set_value("Conversion", conversion.name, "value", 100)
		attribute_conversion(conversion.name)
		credited = set(
			frappe.get_all("Attribution Credit", {"conversion": conversion.name}, pluck="touchpoint")
		)
		loose = frappe.get_doc(
			{
				"doctype": "Touchpoint",
				"occurred_at": add_to_date(now_datetime(), days=-900),
				"channel": "email",
			}
		).insert()
		for name in credited:
			old(frappe.get_doc("Touchpoint", name), 900)
		old(loose, 900)
		report = purge()
		self.assertGreaterEqual(report["tables"]["touchpoints"], 1)
		self.assertFalse(frappe.db.exists("Touchpoint", loose.name))
		for name in credited:
			self.assertTrue(frappe.db.exists("Touchpoint", name))
		self.assertEqual(purge()["tables"]["touchpoints"], 0)  # a second run finds nothing

	def test_erase_visitor_removes_identity_and_keeps_money(self):
		lead = make_lead()
		visitor = add_journey(lead, ("email", "paid_search"))
		frappe.db.set_value("TrackFlow Visitor", visitor, "email", lead.email)
		conversion = conversion_of(f"lead_created:{lead.name}")
		attribute_conversion(conversion.name)
		rows = frappe.db.count("Attribution Credit", {"conversion": conversion.name})
		erase_visitor_data(visitor)
		self.assertFalse(frappe.db.exists("TrackFlow Visitor", visitor))
		self.assertFalse(frappe.db.exists("Touchpoint", {"visitor": visitor}))
		self.assertEqual(frappe.db.count("Attribution Credit", {"conversion": conversion.name}), rows)

	def test_expire_links_and_counters(self):
		from trackflow.trackflow.doctype.tracked_link.test_tracked_link import make_link

		link = make_link(expires_at=add_to_date(now_datetime(), days=-1))
		forever = make_link()  # no expiry date: never expired
		self.assertIn(link.name, expire_links())
		self.assertEqual(frappe.db.get_value("Tracked Link", forever.name, "status"), "Active")
		self.assertEqual(frappe.db.get_value("Tracked Link", link.name, "status"), "Expired")
		self.assertEqual(expire_links(), [])
		refresh_counters()
		refresh_counters()


class TestCommands(TrackFlowTestCase):
	def invoke(self, *args):
		result = CliRunner().invoke(
			trackflow_group, list(args), obj={"sites": [frappe.local.site], "profile": False}
		)
		frappe.connect()  # the command's site_connection destroyed this test's connection
		frappe.set_user("Administrator")
		return result

	def test_commands_run_and_fail_clearly(self):
		for args in (("stats",), ("purge", "--dry-run"), ("fit-models",), ("recompute", "--dry-run")):
			result = self.invoke(*args)
			self.assertEqual(result.exit_code, 0, (args, result.output))
		result = self.invoke("create-link", "javascript:alert(1)")
		self.assertNotEqual(result.exit_code, 0)
		self.assertIn("Error:", result.output)

	def test_stats_counts_deliveries_by_destination_and_status(self):
		"""The per-destination counts come from frappe.qb (Frappe 16 refuses "count(name)" in get_all fields)."""
		destination = f"TF stats {secrets.token_hex(3)}"
		for i, status in enumerate(("sent", "sent", "failed")):
			frappe.get_doc(
				{
					"doctype": "Conversion Delivery",
					"conversion": f"none {i}",
					"destination": destination,
					"status": status,
				}
			).db_insert()  # rows only: the command reads them through this same connection
		result = self.invoke("stats")
		self.assertEqual(result.exit_code, 0, result.output)
		lines = [line.split() for line in result.output.splitlines() if destination in line]
		counts = {words[-2]: words[-1] for words in lines}
		self.assertEqual(counts, {"sent": "2", "failed": "1"}, result.output)

	def test_every_command_works_on_a_site(self):
		import csv
		import os
		import tempfile

		lead = make_lead()
		visitor = add_journey(lead, ("email",))
		frappe.db.set_value("TrackFlow Visitor", visitor, "email", lead.email)
		attribute_conversion(conversion_of(f"lead_created:{lead.name}").name)
		with tempfile.TemporaryDirectory() as folder:
			touches = os.path.join(folder, "touches.csv")
			with open(touches, "w", newline="") as handle:
				writer = csv.writer(handle)
				writer.writerow(["timestamp", "channel", "source", "email"])
				writer.writerow(["2026-11-01 10:00:00", "offline", "trade-show", lead.email])
			result = self.invoke("import-touchpoints", touches)
			self.assertEqual(result.exit_code, 0, result.output)
			self.assertTrue(frappe.db.exists("Touchpoint", {"crm_lead": lead.name, "source": "trade-show"}))
			credits = os.path.join(folder, "credits.csv")
			result = self.invoke("export-credits", "--output", credits)
			self.assertEqual(result.exit_code, 0, result.output)
			with open(credits) as handle:
				rows = list(csv.DictReader(handle))
			self.assertTrue(any(row["crm_lead"] == lead.name for row in rows))
		for args in (
			("decay-scores",),
			("drain", "--max-seconds", "5"),
			("recompute", "--since", "2026-01-01"),
		):
			result = self.invoke(*args)
			self.assertEqual(result.exit_code, 0, (args, result.output))
		result = self.invoke("erase-visitor", "--email", lead.email)
		self.assertEqual(result.exit_code, 0, result.output)
		self.assertFalse(frappe.db.exists("TrackFlow Visitor", visitor))
		result = self.invoke("doctor")  # exits 1 here (no scheduler or workers on a test site), but reports
		self.assertIn(result.exit_code, (0, 1))
		self.assertTrue("✓" in result.output or "✗" in result.output, result.output)
		result = self.invoke("erase-visitor")
		self.assertNotEqual(result.exit_code, 0)
