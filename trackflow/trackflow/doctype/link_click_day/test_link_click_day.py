# Copyright (c) 2026, TrackFlow developers
# License: AGPL-3.0. See license.txt
"""The click rollup the reports read: written by the drain exactly once, kept exact through erasure,
purged with the clicks, and rebuilt from the clicks by the upgrade patch."""

import secrets

import frappe
from frappe.utils import add_days, add_to_date, getdate, now_datetime, nowdate

from trackflow.clicks import fold_click_rollup, rebuild_click_rollup, refresh_counters, store_clicks
from trackflow.engine import rollup
from trackflow.privacy import erase_visitor_data
from trackflow.retention import purge
from trackflow.testing import TrackFlowTestCase, epoch_seconds


def record(link: str, campaign: str, visitor: str | None, days_ago: float = 0.1, **extra) -> dict:
	return {
		"id": secrets.token_hex(16),
		"link": link,
		"campaign": campaign,
		"visitor": visitor,
		"ts": epoch_seconds(add_to_date(now_datetime(), days=-days_ago)),
		**extra,
	}


class TestLinkClickDay(TrackFlowTestCase):
	def setUp(self):
		frappe.set_user("Administrator")
		self.campaign = (
			frappe.get_doc({"doctype": "Link Campaign", "campaign_name": f"Rollup {secrets.token_hex(3)}"})
			.insert()
			.name
		)
		self.link = (
			frappe.get_doc(
				{
					"doctype": "Tracked Link",
					"destination_url": "https://example.com/",
					"campaign": self.campaign,
				}
			)
			.insert()
			.name
		)
		self.visitors = [secrets.token_hex(16) for _ in range(3)]

	def rows(self, lifetime: bool = False) -> list:
		return frappe.get_all(
			"Link Click Day",
			filters={"campaign": self.campaign, "day": ("=" if lifetime else "!=", rollup.LIFETIME_DAY)},
			fields=["day", "clicks", "bot_clicks", "visitors", "visitor_set", "is_delta"],
			order_by="day asc, is_delta asc, name asc",
		)

	def test_the_drain_writes_each_click_once(self):
		a, b, c = self.visitors
		batch = [
			record(self.link, self.campaign, a),
			record(self.link, self.campaign, a),
			record(self.link, self.campaign, b),
			record(self.link, self.campaign, c, is_bot=1),
			record(self.link, self.campaign, None),  # cookieless: a click, no visitor
		]
		store_clicks(batch)
		store_clicks(batch)  # a replayed batch adds nothing
		store_clicks([record(self.link, self.campaign, b), record(self.link, self.campaign, c)])
		# each batch wrote a delta row, which the reports can already read
		deltas = self.rows()
		self.assertEqual(
			sorted((r.is_delta, r.clicks, r.bot_clicks, r.visitors) for r in deltas),
			[(1, 2, 0, 2), (1, 4, 1, 2)],
		)
		union = rollup.VisitorUnion()
		for r in deltas:
			union.add(r.visitor_set, r.visitors, (self.campaign,))
		self.assertEqual(union.count((self.campaign,)), 3)

		self.assertEqual(fold_click_rollup(), 2)
		(row,) = self.rows()
		# the records' day in the site's time zone (0.1 day ago is yesterday just after midnight)
		self.assertEqual(getdate(row.day), getdate(add_to_date(now_datetime(), days=-0.1)))
		self.assertEqual((row.is_delta, row.clicks, row.bot_clicks, row.visitors), (0, 6, 1, 3))
		self.assertEqual(
			sorted(rollup.decode(row.visitor_set)), sorted(rollup.visitor_key(v) for v in self.visitors)
		)
		self.assertEqual(fold_click_rollup(), 0)  # nothing left to fold
		self.assertEqual(self.rows(), [row])

	def test_a_later_batch_folds_into_the_days_row(self):
		a, b, c = self.visitors
		store_clicks([record(self.link, self.campaign, a), record(self.link, self.campaign, b)])
		fold_click_rollup()
		store_clicks([record(self.link, self.campaign, b), record(self.link, self.campaign, c)])
		self.assertEqual([r.is_delta for r in self.rows()], [0, 1])
		fold_click_rollup()
		(row,) = self.rows()
		self.assertEqual((row.clicks, row.visitors), (4, 3))
		self.assertEqual(
			sorted(rollup.decode(row.visitor_set)), sorted(rollup.visitor_key(v) for v in self.visitors)
		)

	def test_erasure_takes_the_visitor_out_and_keeps_the_clicks(self):
		a, b, _c = self.visitors
		store_clicks([record(self.link, self.campaign, a), record(self.link, self.campaign, b)])
		erase_visitor_data(a)
		(row,) = self.rows()
		self.assertEqual((row.clicks, row.visitors), (2, 1))
		self.assertEqual(list(rollup.decode(row.visitor_set)), [rollup.visitor_key(b)])

	def test_purge_moves_old_visitor_sets_to_the_lifetime_row_and_keeps_counts(self):
		a, b, _c = self.visitors
		store_clicks([record(self.link, self.campaign, a, days_ago=500), record(self.link, self.campaign, b)])
		report = purge()
		self.assertGreaterEqual(report["tables"]["click visitor sets"], 1)
		old, recent = self.rows()
		self.assertEqual(getdate(old.day), getdate(add_days(nowdate(), -500)))
		self.assertEqual((old.clicks, old.visitors, old.visitor_set), (1, 1, None))
		self.assertEqual(
			(recent.visitors, list(rollup.decode(recent.visitor_set))), (1, [rollup.visitor_key(b)])
		)
		(lifetime,) = self.rows(lifetime=True)
		self.assertEqual(
			(lifetime.clicks, list(rollup.decode(lifetime.visitor_set))), (0, [rollup.visitor_key(a)])
		)
		erase_visitor_data(a)  # an erased visitor leaves the lifetime row too
		(lifetime,) = self.rows(lifetime=True)
		self.assertEqual((lifetime.visitors, lifetime.visitor_set), (0, ""))

	def test_a_purge_of_old_clicks_leaves_lifetime_counters_unchanged(self):
		a, b, c = self.visitors
		store_clicks(
			[
				record(self.link, self.campaign, a, days_ago=500),
				record(self.link, self.campaign, b, days_ago=500),
				record(self.link, self.campaign, a, days_ago=400),  # a returns: one visitor, two days
				record(self.link, self.campaign, c, days_ago=450, is_bot=1),
				record(self.link, self.campaign, a),
				record(self.link, self.campaign, c),
			]
		)
		click = frappe.qb.DocType("Click Event")  # the purge selects by creation: as if stored on the day
		frappe.qb.update(click).set(click.creation, click.clicked_at).where(
			click.tracked_link == self.link
		).run()
		fields = ["total_clicks", "bot_clicks", "unique_visitors"]
		refresh_counters()
		before = frappe.db.get_value("Tracked Link", self.link, fields, as_dict=True)
		campaign_before = frappe.db.get_value("Link Campaign", self.campaign, fields, as_dict=True)
		self.assertEqual((before.total_clicks, before.bot_clicks, before.unique_visitors), (5, 1, 3))
		self.assertEqual(campaign_before, before)
		purge()
		self.assertEqual(frappe.db.count("Click Event", {"tracked_link": self.link}), 2)  # old clicks gone
		refresh_counters()
		self.assertEqual(frappe.db.get_value("Tracked Link", self.link, fields, as_dict=True), before)
		self.assertEqual(
			frappe.db.get_value("Link Campaign", self.campaign, fields, as_dict=True), campaign_before
		)

	def test_rebuild_from_the_clicks_gives_the_drains_rows(self):
		a, b, c = self.visitors
		store_clicks(
			[
				record(self.link, self.campaign, a, days_ago=2),
				record(self.link, self.campaign, b, days_ago=2),
				record(self.link, self.campaign, a),
				record(self.link, self.campaign, c, is_bot=1),
			]
		)
		fold_click_rollup()
		drained = self.rows()
		self.assertEqual(len(drained), 2)
		# the rebuild reads every click of the site: chunks of 2 on a test site, larger ones on a site with data
		chunk = max(2, frappe.db.count("Click Event") // 20)
		self.assertGreaterEqual(rebuild_click_rollup(chunk=chunk), 4)
		self.assertEqual(self.rows(), drained)
