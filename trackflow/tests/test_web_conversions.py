# Copyright (c) 2026, TrackFlow developers
# License: AGPL-3.0. See license.txt
"""Website conversions: what a page reports with trackflow('conversion', ...) becomes a Conversion marked
as the browser's, attributed like every other; a server-side report of the same order supersedes it."""

import json
import secrets
from decimal import Decimal

import frappe

from trackflow.api.conversions import record_conversion
from trackflow.drain import drain
from trackflow.ledger import attribute_conversion
from trackflow.queues import get_queue
from trackflow.testing import TrackFlowTestCase
from trackflow.trackflow.doctype.trackflow_site.test_trackflow_site import batch, event, make_site, post
from trackflow.trackflow.report.report_data import channel_model_table, period_of


class TestWebConversions(TrackFlowTestCase):
	def setUp(self):
		get_queue("collect").clear()
		self.site = make_site()
		self.visitor, self.session = secrets.token_hex(16), secrets.token_hex(16)
		self.order = f"order-{secrets.token_hex(4)}"

	def send(self, *events):
		start = event("session_start", utm={"source": "newsletter", "medium": "email", "campaign": "spring"})
		# the landing comes first, whatever the millisecond clock says (a touch must precede the conversion)
		start["ts"] = min([start["ts"], *(e["ts"] for e in events)]) - 1000
		body = batch(self.site.site_key, self.visitor, self.session, start, *events)
		self.assertEqual(post(body).status_code, 204)
		drain("collect")

	def purchase(self, **fields):
		return event(
			"conversion",
			conversion={"type": "purchase", "value": 49.5, "currency": "EUR", "id": self.order, **fields},
		)

	def browser_conversion(self):
		name = frappe.db.get_value("Conversion", {"order_id": self.order, "reported_by": "Browser"}, "name")
		return frappe.get_doc("Conversion", name) if name else None

	def test_a_pages_purchase_is_a_conversion_attributed_like_any_other(self):
		purchase = self.purchase()
		self.send(purchase)
		self.send(purchase)  # a reload of the thank-you page converts once
		conversion = self.browser_conversion()
		self.assertEqual(frappe.db.count("Conversion", {"order_id": self.order}), 1)
		self.assertEqual(
			(conversion.conversion_type, conversion.value, conversion.currency, conversion.visitor),
			("purchase", 49.5, "EUR", self.visitor),
		)
		properties = json.loads(frappe.db.get_value("TrackFlow Event", purchase["id"], "properties"))
		self.assertEqual(
			properties, {"type": "purchase", "value": "49.5", "currency": "EUR", "order_id": self.order}
		)
		self.assertEqual(attribute_conversion(conversion.name), "attributed")
		credits = frappe.get_all(
			"Attribution Credit",
			{"conversion": conversion.name},
			["attribution_model", "credited_value", "reported_by", "channel"],
		)
		self.assertTrue(credits)
		for model in {c.attribution_model for c in credits}:
			total = sum(Decimal(str(c.credited_value)) for c in credits if c.attribution_model == model)
			self.assertEqual(total, Decimal("49.5"))
		self.assertEqual({c.reported_by for c in credits}, {"Browser"})
		self.assertEqual({c.channel for c in credits}, {"email"})

	def test_a_server_side_report_of_the_same_order_supersedes_the_browsers(self):
		self.send(self.purchase())
		browser = self.browser_conversion()
		attribute_conversion(browser.name)
		server = record_conversion(
			"purchase",
			f"shop:{self.order}",
			value=49.5,
			currency="EUR",
			visitor=self.visitor,
			order_id=self.order,
		)
		browser.reload()
		self.assertEqual(browser.status, "void")
		self.assertIn(server["name"], browser.error)
		self.assertFalse(frappe.db.exists("Attribution Credit", {"conversion": browser.name}))
		self.assertEqual(frappe.db.count("Conversion", {"order_id": self.order, "status": ("!=", "void")}), 1)
		self.send(self.purchase())  # the page reporting it again changes nothing
		browser.reload()
		self.assertEqual(browser.status, "void")

	def test_a_browser_report_after_the_server_one_is_stored_void(self):
		self.send()  # the visitor lands first
		record_conversion(
			"purchase",
			f"shop:{self.order}",
			value=10,
			currency="EUR",
			visitor=self.visitor,
			order_id=self.order,
		)
		self.send(self.purchase(value=10))
		self.assertEqual(self.browser_conversion().status, "void")

	def test_values_are_rounded_to_the_currency_and_bad_ones_are_set_aside(self):
		self.send(self.purchase(value=0.1 + 0.2))
		self.assertEqual(Decimal(str(self.browser_conversion().value)), Decimal("0.3"))
		bad = f"order-{secrets.token_hex(4)}"
		self.send(
			event("conversion", conversion={"type": "purchase", "value": 5, "currency": "ZZZ", "id": bad}),
			event("pageview", title="after the bad conversion"),
		)
		self.assertFalse(frappe.db.exists("Conversion", {"order_id": bad}))
		self.assertEqual(
			frappe.db.count("TrackFlow Event", {"session": self.session, "event_type": "pageview"}), 1
		)
		self.assertTrue(
			frappe.db.exists("Error Log", {"method": "TrackFlow: a page's conversion was set aside"})
		)

	def test_reports_include_browser_reported_revenue_unless_told_not_to(self):
		self.send(self.purchase())
		conversion = self.browser_conversion()
		attribute_conversion(conversion.name)
		included = channel_model_table(period_of({}), "purchase")
		excluded = channel_model_table(period_of({"exclude_browser_reported": 1}), "purchase")
		browser = {
			model: Decimal(str(total or 0))
			for model, total in frappe.db.sql(
				"""SELECT `attribution_model`, SUM(`credited_value_company`) FROM `tabAttribution Credit`
				WHERE `reported_by` = 'Browser' AND `conversion_type` = 'purchase' AND `converted_at` >= %s
				GROUP BY `attribution_model`""",
				period_of({}).start,
			)
		}
		self.assertTrue(browser)
		# The models that credited this conversion (a data-driven one credits nothing while its stored fit
		# is insufficient, which depends on what earlier tests left on the site).
		credited = set(
			frappe.get_all("Attribution Credit", {"conversion": conversion.name}, pluck="attribution_model")
		)
		self.assertTrue(credited)
		for model, (_credited, value) in included["totals"].items():
			if model in credited:
				self.assertGreaterEqual(browser.get(model, Decimal(0)), Decimal("49.5"), model)
			left = Decimal(str(excluded["totals"].get(model, (0, 0))[1]))
			self.assertEqual(Decimal(str(value)) - left, browser.get(model, Decimal(0)), model)
