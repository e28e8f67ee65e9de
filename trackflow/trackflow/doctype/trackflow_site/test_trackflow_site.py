# Copyright (c) 2026, TrackFlow developers
# License: AGPL-3.0. See license.txt

import json
import secrets
import time

import frappe

from trackflow.api.tracking import collect
from trackflow.drain import drain
from trackflow.engine.identity import sign
from trackflow.queues import get_queue
from trackflow.testing import TrackFlowTestCase, fake_request
from trackflow.trackflow.doctype.tracked_link.test_tracked_link import BROWSER, make_link, visit

ORIGIN = "https://www.shop-example.com"


def make_site(name: str = "TF Test Shop", domains: str = "www.shop-example.com\n*.shop-example.com"):
	if frappe.db.exists("TrackFlow Site", name):
		return frappe.get_doc("TrackFlow Site", name)
	return frappe.get_doc(
		{"doctype": "TrackFlow Site", "site_name": name, "allowed_domains": domains}
	).insert()


def batch(site_key: str, visitor: str, session: str, *events) -> bytes:
	now = int(time.time() * 1000)
	return json.dumps(
		{
			"site": site_key,
			"v": 1,
			"visitor": visitor,
			"session": session,
			"sent_at": now,
			"events": list(events),
		}
	).encode()


def event(type_: str, **fields) -> dict:
	return {
		"type": type_,
		"id": secrets.token_hex(16),
		"ts": int(time.time() * 1000),
		"url": f"{ORIGIN}/",
		**fields,
	}


def post(body: bytes, origin: str = ORIGIN, **headers):
	headers = {"Origin": origin, "User-Agent": BROWSER, **headers}
	fake_request("POST", "/api/method/trackflow.api.tracking.collect", body, headers)
	try:
		return collect()
	finally:
		frappe.local.request = None


class TestTrackFlowSite(TrackFlowTestCase):
	def setUp(self):
		get_queue("collect").clear()

	def test_key_snippet_and_domains(self):
		site = make_site()
		site.save()  # the snippet is rebuilt on every save
		self.assertGreaterEqual(len(site.site_key), 20)
		self.assertIn(f'data-site="{site.site_key}"', site.snippet)
		self.assertIn("/assets/trackflow/js/trackflow.min.js?v=", site.snippet)
		self.assertIn('data-session-minutes="30"', site.snippet)
		self.assertIn('data-consent="', site.snippet)
		site.honour_do_not_track = 0
		site.save()
		self.assertIn('data-respect-dnt="false"', site.snippet)
		self.assertNotIn("data-ad-cookies", site.snippet)  # off by default
		site.capture_ad_cookies = 1
		site.save()
		self.assertIn('data-ad-cookies="true"', site.snippet)
		site.capture_ad_cookies = 0
		site.save()
		with self.assertRaises(frappe.ValidationError):
			make_site("TF Bad Domains", "not a domain!")
		old = site.site_key
		self.assertNotEqual(site.rotate_key(), old)

	def test_collect_validates_and_queues_without_writing(self):
		site = make_site()
		visitor, session = secrets.token_hex(16), secrets.token_hex(16)
		body = batch(site.site_key, visitor, session, event("pageview", title="Home"))
		response = post(body)
		self.assertEqual(response.status_code, 204)
		self.assertEqual(response.headers["Access-Control-Allow-Origin"], ORIGIN)
		self.assertEqual(get_queue("collect").backlog(), 1)
		self.assertFalse(frappe.db.exists("TrackFlow Visitor", visitor))  # nothing written in the request

		self.assertEqual(post(body, origin="https://evil.example.net").status_code, 403)
		self.assertEqual(post(b'{"site": 1}').status_code, 400)
		self.assertEqual(post(b"x" * 40_000).status_code, 413)
		self.assertEqual(post(batch("unknown-key-123", visitor, session, event("pageview"))).status_code, 403)
		self.assertEqual(get_queue("collect").backlog(), 1)

	def test_drain_builds_visits_touchpoints_and_stitches_identity(self):
		site = make_site()
		email = f"tf-{secrets.token_hex(4)}@example.com"
		lead = frappe.get_doc({"doctype": "CRM Lead", "first_name": "Ada", "email": email}).insert()
		visitor, session = secrets.token_hex(16), secrets.token_hex(16)
		start = event(
			"session_start",
			ref="https://www.google.com/",
			utm={"source": "google", "medium": "cpc", "campaign": "spring"},
			# the site has not opted in to ad platform cookies: the drain drops them
			click_ids={
				"gclid": "abc123",
				"_ga": "GA1.1.1234567890.1700000000",
				"_fbp": "fb.1.1596403881668.1",
			},
		)
		body = batch(
			site.site_key,
			visitor,
			session,
			start,
			event("pageview", title="Home"),
			event(
				"identify", traits={"email": email, "signature": sign(site.reveal_identity_secret(), email)}
			),
		)
		self.assertEqual(post(body).status_code, 204)
		self.assertEqual(post(body).status_code, 204)  # a resent batch stores nothing twice
		drain("collect")

		self.assertEqual(frappe.db.get_value("TrackFlow Visitor", visitor, "crm_lead"), lead.name)
		self.assertEqual(frappe.db.get_value("TrackFlow Session", session, "channel"), "paid_search")
		stored_ids = frappe.db.get_value("TrackFlow Session", session, "click_ids")
		self.assertEqual(json.loads(stored_ids), {"gclid": "abc123"})
		stored = frappe.get_all("TrackFlow Event", {"session": session}, pluck="event_type")
		self.assertEqual(sorted(stored), ["identify", "pageview"])  # session_start became the session
		touch = frappe.get_doc("Touchpoint", session)
		self.assertEqual(
			(touch.channel, touch.source, touch.medium, touch.visitor),
			("paid_search", "google", "cpc", visitor),
		)

	def test_landing_from_a_short_link_adopts_the_click_touchpoint(self):
		site = make_site()
		link = make_link("https://www.shop-example.com/offer")
		click_id = visit(link.short_code).headers["Location"].split("tf_click=")[1]
		drain("clicks")
		visitor, session = secrets.token_hex(16), secrets.token_hex(16)
		start = event("session_start", click_ids={"tf_click": click_id})
		self.assertEqual(post(batch(site.site_key, visitor, session, start)).status_code, 204)
		drain("collect")
		self.assertEqual(frappe.db.count("Touchpoint", {"session": session}), 1)
		self.assertEqual(frappe.db.get_value("Touchpoint", click_id, "visitor"), visitor)
		self.assertFalse(frappe.db.exists("Touchpoint", session))

	def test_cookieless_pings_are_counted_without_identity(self):
		site = make_site()
		ping = {
			"type": "ping",
			"id": secrets.token_hex(16),
			"ts": int(time.time() * 1000),
			"url": f"{ORIGIN}/pricing",
		}
		body = json.dumps(
			{
				"site": site.site_key,
				"v": 1,
				"visitor": None,
				"session": None,
				"sent_at": ping["ts"],
				"events": [ping],
			}
		).encode()
		self.assertEqual(post(body).status_code, 204)
		self.assertEqual(post(body).status_code, 204)  # resent: counted once
		drain("collect")
		rows = frappe.get_all(
			"TrackFlow Event", {"name": ping["id"]}, ["event_type", "visitor", "session", "url"]
		)
		self.assertEqual(
			rows, [{"event_type": "ping", "visitor": None, "session": None, "url": f"{ORIGIN}/pricing"}]
		)


class TestCompleteJourneys(TrackFlowTestCase):
	"""Every session is a touch (direct ones too), a session keeps its click's channel and campaign or
	its UTM campaign's, page views and the first-touch channel are kept, and bots stay out."""

	def setUp(self):
		get_queue("collect").clear()
		self.site = make_site()
		self.visitor = secrets.token_hex(16)

	def session(self, *events, start=None) -> str:
		session = secrets.token_hex(16)
		body = batch(self.site.site_key, self.visitor, session, start or event("session_start"), *events)
		self.assertEqual(post(body).status_code, 204)
		drain("collect")
		return session

	def test_a_direct_session_is_a_direct_touch_with_its_page_views(self):
		session = self.session(event("pageview"), event("pageview", url=f"{ORIGIN}/pricing"))
		touch = frappe.get_doc("Touchpoint", session)
		self.assertEqual(
			(touch.channel, touch.touch_type, touch.visitor), ("direct", "session", self.visitor)
		)
		self.assertEqual(frappe.db.get_value("TrackFlow Session", session, "page_views"), 2)
		self.assertEqual(
			frappe.db.get_value("TrackFlow Visitor", self.visitor, "first_touch_channel"), "direct"
		)
		# a later session from a newsletter does not change the first touch
		self.session(start=event("session_start", utm={"source": "newsletter", "medium": "email"}))
		self.assertEqual(
			frappe.db.get_value("TrackFlow Visitor", self.visitor, "first_touch_channel"), "direct"
		)

	def test_a_session_tagged_with_a_campaigns_utm_belongs_to_it(self):
		utm = f"spring{secrets.token_hex(3)}"
		campaign = frappe.get_doc(
			{"doctype": "Link Campaign", "campaign_name": f"Spring {utm}", "utm_campaign": utm}
		).insert()
		session = self.session(start=event("session_start", utm={"campaign": utm.upper()}))
		self.assertEqual(frappe.db.get_value("Touchpoint", session, "link_campaign"), campaign.name)
		self.assertEqual(frappe.db.get_value("TrackFlow Session", session, "campaign"), campaign.name)

	def test_a_session_through_a_short_link_takes_the_clicks_channel_and_campaign(self):
		campaign = frappe.get_doc(
			{
				"doctype": "Link Campaign",
				"campaign_name": f"Clicks {secrets.token_hex(3)}",
				"channel": "paid_social",
			}
		).insert()
		link = make_link("https://www.shop-example.com/offer", campaign=campaign.name)
		click_id = visit(link.short_code).headers["Location"].split("tf_click=")[1]
		drain("clicks")
		session = self.session(start=event("session_start", click_ids={"tf_click": click_id}))
		self.assertEqual(
			frappe.db.get_value("TrackFlow Session", session, ["channel", "campaign"]),
			("paid_social", campaign.name),
		)

	def test_a_form_event_keeps_the_forms_id_and_its_marked_fields(self):
		form = event("form", form="contact-sales", fields={"company": "Acme", "plan": "pro"})
		session = self.session(form)
		row = frappe.db.get_value(
			"TrackFlow Event", form["id"], ["event_type", "event_name", "properties", "session"], as_dict=True
		)
		self.assertEqual((row.event_type, row.event_name, row.session), ("form", "contact-sales", session))
		self.assertEqual(json.loads(row.properties), {"company": "Acme", "plan": "pro"})

	def test_collect_drops_what_the_redirect_calls_a_bot(self):
		session = secrets.token_hex(16)
		body = batch(self.site.site_key, self.visitor, session, event("session_start"), event("pageview"))
		headless = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0 Safari/537.36"
		self.assertEqual(post(body, **{"User-Agent": headless}).status_code, 204)
		self.assertEqual(get_queue("collect").backlog(), 0)
