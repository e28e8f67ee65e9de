"""Identity you can trust, on a real site: a browser's identify is a claim that links a CRM Lead only when the
website's backend signed it (or the site does not require it); an unverified claim links only a lead created
after it, first claim only; server-to-server and web-form leads link their own visitor."""

import secrets

import frappe
from frappe.utils import add_to_date, now_datetime

from trackflow.drain import drain
from trackflow.engine.identity import sign
from trackflow.queues import get_queue
from trackflow.testing import TrackFlowTestCase
from trackflow.trackflow.doctype.trackflow_site.test_trackflow_site import batch, event, make_site, post


def new_email() -> str:
	return f"tf-id-{secrets.token_hex(4)}@example.com"


def make_lead(email: str):
	return frappe.get_doc({"doctype": "CRM Lead", "first_name": "Ada", "email": email}).insert()


class TestIdentity(TrackFlowTestCase):
	def setUp(self):
		get_queue("collect").clear()
		self.site = make_site()
		self.secret = self.site.reveal_identity_secret()

	def tearDown(self):
		frappe.db.set_value("TrackFlow Site", self.site.name, "verify_identity", 1)

	def identify(self, traits: dict, visitor: str | None = None) -> str:
		visitor = visitor or secrets.token_hex(16)
		body = batch(self.site.site_key, visitor, secrets.token_hex(16), event("identify", traits=traits))
		self.assertEqual(post(body).status_code, 204)
		frappe.db.commit()
		drain("collect")
		return visitor

	def visitor(self, name: str):
		return frappe.db.get_value(
			"TrackFlow Visitor",
			name,
			["email", "crm_lead", "identity_verified", "identity_source"],
			as_dict=True,
		)

	def test_an_unsigned_identify_for_an_existing_leads_email_does_not_link(self):
		email = new_email()
		lead = make_lead(email)
		visitor = self.identify({"email": email})
		row = self.visitor(visitor)
		self.assertEqual((row.email, row.crm_lead, row.identity_verified), (email, None, 0))
		self.assertEqual(row.identity_source, "unverified identify")
		self.assertIsNotNone(lead)

	def test_a_signed_identify_links_and_a_wrong_signature_does_not(self):
		email = new_email()
		lead = make_lead(email)
		signed = self.identify({"email": email, "signature": sign(self.secret, email)})
		self.assertEqual(self.visitor(signed).crm_lead, lead.name)
		self.assertEqual(
			(self.visitor(signed).identity_verified, self.visitor(signed).identity_source),
			(1, "signed identify"),
		)
		forged = self.identify({"email": email, "signature": sign("not the secret", email)})
		self.assertIsNone(self.visitor(forged).crm_lead)
		self.assertEqual(self.visitor(forged).identity_verified, 0)

	def test_a_later_claim_never_moves_an_existing_link_or_overwrites_a_verified_email(self):
		email, other = new_email(), new_email()
		lead = make_lead(email)
		make_lead(other)
		visitor = self.identify({"email": email, "signature": sign(self.secret, email)})
		self.identify({"email": other}, visitor=visitor)
		self.identify({"email": other, "signature": sign(self.secret, other)}, visitor=visitor)
		row = self.visitor(visitor)
		self.assertEqual(row.crm_lead, lead.name)
		self.assertEqual(row.email, other)  # the newest verified email, but the lead link stays

	def test_a_site_that_does_not_require_signing_links_unsigned_claims(self):
		frappe.db.set_value("TrackFlow Site", self.site.name, "verify_identity", 0)
		email = new_email()
		lead = make_lead(email)
		visitor = self.identify({"email": email})
		self.assertEqual(self.visitor(visitor).crm_lead, lead.name)

	def test_the_first_unverified_claim_links_a_lead_created_after_it(self):
		email = new_email()
		first = self.identify({"email": email})
		second = self.identify({"email": email})
		# the claims are a moment old when the lead comes in (a web form's lead a few minutes later)
		frappe.db.set_value(
			"TrackFlow Visitor", first, "identified_at", add_to_date(now_datetime(), minutes=-5)
		)
		frappe.db.set_value(
			"TrackFlow Visitor", second, "identified_at", add_to_date(now_datetime(), minutes=-4)
		)
		lead = make_lead(email)
		self.assertEqual(self.visitor(first).crm_lead, lead.name)
		self.assertIsNone(self.visitor(second).crm_lead)
		# the journey shows that this browser's link rests on an unverified claim
		from trackflow.api.attribution import get_lead_journey

		frappe.get_doc(
			{
				"doctype": "Touchpoint",
				"occurred_at": add_to_date(now_datetime(), minutes=-6),
				"touch_type": "session",
				"channel": "referral",
				"visitor": first,
			}
		).insert()
		journey = get_lead_journey(lead.name)["journey"]
		self.assertTrue(journey and all(touch["unverified_identity"] for touch in journey))

	def test_a_claim_older_than_the_window_links_nothing(self):
		email = new_email()
		visitor = self.identify({"email": email})
		frappe.db.set_value(
			"TrackFlow Visitor", visitor, "identified_at", add_to_date(now_datetime(), days=-2)
		)
		make_lead(email)
		self.assertIsNone(self.visitor(visitor).crm_lead)

	def test_the_websites_backend_names_the_visitor_when_it_creates_the_lead(self):
		visitor = secrets.token_hex(16)
		body = batch(self.site.site_key, visitor, secrets.token_hex(16), event("pageview"))
		self.assertEqual(post(body).status_code, 204)
		frappe.db.commit()
		drain("collect")
		lead = frappe.get_doc(
			{"doctype": "CRM Lead", "first_name": "Api", "email": new_email(), "tf_visitor": visitor}
		).insert()
		row = self.visitor(visitor)
		self.assertEqual((row.crm_lead, row.identity_verified, row.identity_source), (lead.name, 1, "server"))


class TestConsentPerPerson(TrackFlowTestCase):
	def test_a_denial_in_any_browser_keeps_web_activity_out_of_scoring(self):
		from zoneinfo import ZoneInfo

		from frappe.utils import get_system_timezone

		from trackflow.scoring import lead_activities

		lead = make_lead(new_email())
		granted = frappe.get_doc(
			{"doctype": "TrackFlow Visitor", "crm_lead": lead.name, "consent": "granted"}
		).insert()
		denied = frappe.get_doc(
			{"doctype": "TrackFlow Visitor", "crm_lead": lead.name, "consent": "denied"}
		).insert()
		frappe.get_doc(
			{
				"doctype": "TrackFlow Event",
				"event_type": "pageview",
				"visitor": granted.name,
				"occurred_at": now_datetime(),
				"url": "https://www.shop-example.com/pricing",
			}
		).insert()
		tz = ZoneInfo(get_system_timezone())
		self.assertNotIn("page_view", {a.kind for a in lead_activities(lead.name, tz)})
		frappe.db.set_value("TrackFlow Visitor", denied.name, "consent", "granted")
		self.assertIn("page_view", {a.kind for a in lead_activities(lead.name, tz)})
