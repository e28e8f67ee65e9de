# Copyright (c) 2026, TrackFlow developers
# License: AGPL-3.0. See license.txt
"""The integrators' API: campaign stats as Campaign Performance computes them, a deal's ROI per campaign,
the original guide's aliases, and the model preview that computes exactly what the ledger stores."""

import json
import secrets
from decimal import Decimal

import frappe
from frappe.utils import add_to_date, nowdate

from trackflow.api.analytics import get_deal_roi, get_visitor_journey
from trackflow.api.attribution import get_deal_attribution, preview_attribution
from trackflow.api.attribution import get_visitor_journey as visitor_journey
from trackflow.api.campaigns import get_campaign_stats
from trackflow.api.tracking import track_event
from trackflow.drain import drain
from trackflow.integrations.crm_deal import get_deal_attribution_report
from trackflow.ledger import attribute_conversion, compute_credits
from trackflow.permissions import TRACKFLOW_INTEGRATION
from trackflow.queues import get_queue
from trackflow.testing import TrackFlowTestCase
from trackflow.times import aware
from trackflow.trackflow.doctype.conversion.test_conversion import add_journey, conversion_of, make_lead, win
from trackflow.trackflow.doctype.trackflow_settings.test_trackflow_settings import make_user
from trackflow.trackflow.report.campaign_performance.campaign_performance import execute as campaign_report


def campaign_with_spend(amount: str) -> str:
	name = (
		frappe.get_doc(
			{
				"doctype": "Link Campaign",
				"campaign_name": f"Integrators {secrets.token_hex(3)}",
				"status": "Active",
			}
		)
		.insert()
		.name
	)
	frappe.get_doc(
		{"doctype": "Campaign Spend", "campaign": name, "date": nowdate(), "amount": Decimal(amount)}
	).insert()
	return name


def won_deal_on(campaign: str, value: float):
	"""A lead whose two touches (email, then paid search) belong to `campaign`, and its deal won."""
	lead = make_lead()
	visitor = add_journey(lead, ("email", "paid_search"))
	for name in frappe.get_all("Touchpoint", {"visitor": visitor}, pluck="name"):
		frappe.db.set_value("Touchpoint", name, "link_campaign", campaign)
	deal = frappe.get_doc({"doctype": "CRM Deal", "lead": lead.name, "status": "Qualification"}).insert()
	win(deal, value)
	conversion = conversion_of(f"deal_won:{deal.name}")
	attribute_conversion(conversion.name)
	return lead, deal, visitor, conversion


class TestIntegratorAPI(TrackFlowTestCase):
	def test_campaign_stats_are_campaign_performances_figures(self):
		campaign = campaign_with_spend("400.00")
		won_deal_on(campaign, 1000)
		stats = get_campaign_stats(campaign)
		_columns, data, *_ = campaign_report({"campaign": campaign})
		(row,) = [r for r in data if r.get("row_id") == campaign]
		self.assertEqual(stats["spend"], "400.00")
		self.assertEqual(Decimal(stats["revenue"]), Decimal(str(row["revenue"])))
		self.assertEqual(stats["deals_won"], row["deals_won"])
		self.assertEqual(stats["roi"], 1.5)  # (1000 - 400) / 400
		frappe.set_user(make_user("tf-nobody@example.com", []))
		with self.assertRaises(frappe.PermissionError):
			get_campaign_stats(campaign)

	def test_deal_roi_splits_each_campaigns_spend_by_the_deals_share(self):
		campaign = campaign_with_spend("300.00")
		_lead, deal, _visitor, _conversion = won_deal_on(campaign, 600)
		won_deal_on(campaign, 400)  # another deal credited to the same campaign
		roi = get_deal_roi(deal.name)
		self.assertEqual(roi["revenue"], "600.00")
		(row,) = roi["campaigns"]
		self.assertEqual(
			(row["campaign"], row["revenue"], row["campaign_spend"]), (campaign, "600.00", "300.00")
		)
		self.assertEqual(row["spend_carried"], "180.00")  # 300 x 600 / 1000
		self.assertAlmostEqual(row["roi"], (600 - 180) / 180)

	def test_the_guides_paths_are_the_methods_they_alias(self):
		campaign = campaign_with_spend("1.00")
		_lead, deal, visitor, _conversion = won_deal_on(campaign, 50)
		self.assertEqual(get_deal_attribution_report(deal.name), get_deal_attribution(deal.name))
		self.assertEqual(get_visitor_journey(visitor), visitor_journey(visitor))
		frappe.set_user(make_user("tf-nobody@example.com", []))
		with self.assertRaises(frappe.PermissionError):
			get_deal_attribution_report(deal.name)

	def test_a_preview_is_what_the_ledger_stores(self):
		lead = make_lead()
		add_journey(lead, ("paid_search", "email", "organic_search"))
		conversion = conversion_of(f"lead_created:{lead.name}")
		frappe.db.set_value("Conversion", conversion.name, "value", 250)
		conversion.reload()
		stored = compute_credits(conversion)
		touches = frappe.get_all(
			"Touchpoint", {"visitor": ("in", frappe.get_all("TrackFlow Visitor", {"crm_lead": lead.name}, pluck="name"))},
			["name", "occurred_at", "channel", "source"], order_by="occurred_at asc",
		)  # fmt: skip
		given = [
			{
				"id": t.name,
				"channel": t.channel,
				"source": t.source,
				"time": aware(t.occurred_at).isoformat(),
				"milestones": ["lead"] if i == len(touches) - 1 else [],
			}
			for i, t in enumerate(touches)
		]
		preview = preview_attribution(
			json.dumps(given), "250", conversion.currency, aware(conversion.occurred_at).isoformat()
		)
		for model in preview["models"]:
			mine = sorted(
				(r["touchpoint"], Decimal(str(r["credited_value"])))
				for r in stored
				if r["attribution_model"] == model["model"]
			)
			theirs = sorted((c["touchpoint"], Decimal(c["value"])) for c in model["credits"])
			self.assertEqual(theirs, mine, model["model"])
			if model["credits"]:
				self.assertEqual(sum(Decimal(c["value"]) for c in model["credits"]), Decimal("250"))
		frappe.set_user(make_user("tf-seller@example.com", ["Sales User"]))
		with self.assertRaises(frappe.PermissionError):
			preview_attribution(json.dumps(given), "250")

	def test_a_preview_refuses_bad_input_in_one_line(self):
		for touchpoints, value in (
			("not json", "1"),
			(json.dumps([{"channel": "email"}]), "1"),  # no time
			(json.dumps([{"channel": "email", "time": "2026-01-01T00:00:00Z"}]), "-5"),
			(json.dumps([{"channel": "email", "time": "2026-01-01T00:00:00Z", "evil": 1}]), "1"),
			(json.dumps([]), "1"),
		):
			with self.assertRaises(frappe.ValidationError):
				preview_attribution(touchpoints, value)

	def test_the_integration_role_exists_for_machine_users(self):
		self.assertEqual(frappe.db.get_value("Role", TRACKFLOW_INTEGRATION, "desk_access"), 0)


class TestTrackEvent(TrackFlowTestCase):
	"""Server-side ingestion: checked, queued (never written in the request), drained once, attributed."""

	def setUp(self):
		get_queue("events").clear()
		self.integration = make_user("tf-integration@example.com", [TRACKFLOW_INTEGRATION])

	def events(self, lead, visitor, order):
		now = frappe.utils.now_datetime()
		return [
			{"event_id": f"call-{order}", "type": "touch", "time": aware(add_to_date(now, days=-3)).isoformat(),
			 "lead": lead.name, "channel": "offline", "source": "sales call", "campaign": "Q4 show"},
			{"event_id": f"pv-{order}", "type": "pageview", "time": aware(add_to_date(now, days=-2)).isoformat(),
			 "visitor": visitor, "email": lead.email, "url": "https://shop.example.com/pricing"},
			{"event_id": f"buy-{order}", "type": "conversion", "time": aware(add_to_date(now, hours=-1)).isoformat(),
			 "email": lead.email, "conversion": {"type": "purchase", "value": 120, "currency": "EUR", "id": order}},
			{"event_id": f"bad-{order}", "type": "touch", "time": "yesterday", "lead": lead.name},
		]  # fmt: skip

	def test_a_backend_batch_is_queued_stored_once_and_attributed(self):
		lead = make_lead()
		visitor, order = secrets.token_hex(16), secrets.token_hex(4)
		frappe.set_user(self.integration)
		answer = track_event(json.dumps(self.events(lead, visitor, order)))
		self.assertEqual(answer["accepted"], 3)
		self.assertEqual([(r["index"], r["event_id"]) for r in answer["rejected"]], [(3, f"bad-{order}")])
		self.assertIn("ISO 8601", answer["rejected"][0]["error"])
		self.assertFalse(frappe.db.exists("Conversion", {"order_id": order}))  # nothing written yet
		track_event(self.events(lead, visitor, order))  # a resend
		frappe.set_user("Administrator")
		drain("events")
		touch = frappe.get_all(
			"Touchpoint", {"crm_lead": lead.name, "touch_type": "offline"}, ["channel", "source"]
		)
		self.assertEqual(touch, [{"channel": "offline", "source": "sales call"}])
		self.assertEqual(
			frappe.db.get_value("TrackFlow Visitor", visitor, ["crm_lead", "identity_verified"]),
			(lead.name, 1),
		)
		self.assertEqual(
			frappe.db.count("TrackFlow Event", {"visitor": visitor, "event_type": "pageview"}), 1
		)
		conversion = frappe.get_doc("Conversion", {"order_id": order})
		self.assertEqual(
			(conversion.reported_by, conversion.crm_lead, conversion.value), ("Server", lead.name, 120)
		)
		self.assertEqual(attribute_conversion(conversion.name), "attributed")
		channels = set(frappe.get_all("Attribution Credit", {"conversion": conversion.name}, pluck="channel"))
		self.assertIn("offline", channels)  # the sales call is part of the journey

	def test_only_managers_and_integrations_may_send_and_integrations_nothing_else(self):
		frappe.set_user(make_user("tf-seller@example.com", ["Sales User"]))
		with self.assertRaises(frappe.PermissionError):
			track_event("[]")
		frappe.set_user(self.integration)
		with self.assertRaises(frappe.ValidationError):
			track_event("[]")  # allowed in, but an empty batch is refused
		campaign = campaign_with_spend_as_admin()
		with self.assertRaises(frappe.PermissionError):
			get_campaign_stats(campaign)
		with self.assertRaises(frappe.PermissionError):
			preview_attribution("[]", "1")


def campaign_with_spend_as_admin() -> str:
	user = frappe.session.user
	frappe.set_user("Administrator")
	try:
		return campaign_with_spend("1.00")
	finally:
		frappe.set_user(user)


class TestIntegratorRoles(TrackFlowTestCase):
	def test_deal_roi_follows_crm_and_hides_spend_from_who_may_not_read_it(self):
		campaign = campaign_with_spend("300.00")
		_lead, deal, _visitor, _conversion = won_deal_on(campaign, 600)
		frappe.set_user(make_user("tf-roi-manager@example.com", ["Sales Manager"]))
		roi = get_deal_roi(deal.name)
		self.assertEqual(roi["revenue"], "600.00")
		(row,) = roi["campaigns"]
		if frappe.has_permission("Campaign Spend", "read"):
			self.assertEqual(row["campaign_spend"], "300.00")
		else:
			self.assertIsNone(row["campaign_spend"])
		for roles in ([], ["Website User"] if frappe.db.exists("Role", "Website User") else []):
			frappe.set_user(make_user("tf-roi-nobody@example.com", roles))
			with self.assertRaises(frappe.PermissionError):
				get_deal_roi(deal.name)

	def test_the_api_description_is_for_logged_in_users_only(self):
		from trackflow.api import docs

		frappe.set_user(make_user("tf-roi-manager@example.com", ["Sales Manager"]))
		self.assertEqual(json.loads(docs().get_data())["openapi"], "3.1.0")
		frappe.set_user("Guest")
		with self.assertRaises(frappe.PermissionError):
			docs()
