"""TrackFlow never fails or blocks a CRM operation, on CRM 1.34 and 1.8x: a deal inserted as Won (with and
without an owner), a Won deal moved to Lost with a reason, and a lead and a deal deleted while TrackFlow holds
conversions and credits for them."""

import secrets

import frappe
from frappe.utils import add_to_date, now_datetime

from trackflow.engine.conversions import deal_fields
from trackflow.testing import TrackFlowTestCase
from trackflow.trackflow.doctype.conversion.test_conversion import add_journey, make_lead
from trackflow.trackflow.doctype.trackflow_settings.test_trackflow_settings import make_user


def settings():
	return frappe.get_single("TrackFlow Settings")


def trackflow_errors(since) -> list[str]:
	return frappe.get_all(
		"Error Log", {"method": ("like", "TrackFlow%"), "creation": (">=", since)}, pluck="method"
	)


def conversions(key_prefix: str, name: str) -> list:
	return frappe.get_all(
		"Conversion", {"idempotency_key": f"{key_prefix}:{name}"}, ["name", "status", "value", "crm_deal"]
	)


class TestCrmEvents(TrackFlowTestCase):
	def setUp(self):
		self.started = now_datetime()
		self.fields = deal_fields(f.fieldname for f in frappe.get_meta("CRM Deal").fields)
		self.won = settings().won_deal_statuses[0].deal_status

	def tearDown(self):
		frappe.set_user("Administrator")

	def insert_won_deal(self, owner: str | None):
		lead = make_lead()
		add_journey(lead)
		values = {"doctype": "CRM Deal", "lead": lead.name, "status": self.won, self.fields.value: 700}
		if owner:
			values["deal_owner"] = owner
		# Through Frappe's REST insert, as the /crm UI and integrations do (CRM's after_insert then shares
		# and assigns the deal, which needs it to be found in the same request).
		return frappe.get_doc(frappe.client.insert(values))

	def test_a_deal_inserted_as_won_saves_with_and_without_an_owner(self):
		owner = make_user(f"tf-owner-{secrets.token_hex(3)}@example.com", ["Sales User"])
		for deal_owner in (owner, "Administrator", None):
			deal = self.insert_won_deal(deal_owner)
			self.assertEqual(deal.status, self.won)
			self.assertEqual(len(conversions("deal_created", deal.name)), 1)
			(won,) = conversions("deal_won", deal.name)
			self.assertEqual((won.crm_deal, float(won.value)), (deal.name, 700.0))
		self.assertEqual(trackflow_errors(self.started), [])

	def test_a_won_deal_moved_to_lost_with_a_reason_voids_its_conversion(self):
		deal = self.insert_won_deal(None)
		lost = settings().lost_deal_statuses[0].deal_status
		deal.status = lost
		if deal.meta.has_field("lost_reason"):  # CRM 1.8x asks why
			reason = "TF test reason"
			if not frappe.db.exists("CRM Lost Reason", reason):
				frappe.get_doc({"doctype": "CRM Lost Reason", "lost_reason": reason}).insert()
			deal.lost_reason = reason
		deal.save()
		(won,) = conversions("deal_won", deal.name)
		self.assertEqual(won.status, "void")
		self.assertEqual(frappe.db.count("Attribution Credit", {"conversion": won.name}), 0)
		self.assertEqual(trackflow_errors(self.started), [])

	def test_deleting_a_deal_and_its_lead_keeps_the_ledger_unlinked(self):
		from trackflow.ledger import attribute_conversion

		deal = self.insert_won_deal(None)
		lead = deal.lead
		(won,) = conversions("deal_won", deal.name)
		self.assertEqual(attribute_conversion(won.name), "attributed")
		credits = frappe.db.count("Attribution Credit", {"conversion": won.name})
		self.assertGreater(credits, 0)

		frappe.delete_doc("CRM Deal", deal.name)
		self.assertFalse(frappe.db.exists("CRM Deal", deal.name))
		kept = frappe.get_doc("Conversion", won.name)
		self.assertEqual((kept.crm_deal, kept.source_name, kept.status), (None, None, "attributed"))
		self.assertEqual(frappe.db.count("Attribution Credit", {"conversion": won.name}), credits)
		self.assertEqual(frappe.db.count("Attribution Credit", {"crm_deal": deal.name}), 0)
		self.assertTrue(
			frappe.db.exists(
				"Comment",
				{"reference_doctype": "Conversion", "reference_name": won.name, "comment_type": "Info"},
			)
		)

		frappe.delete_doc("CRM Lead", lead)
		self.assertFalse(frappe.db.exists("CRM Lead", lead))
		self.assertEqual(frappe.db.count("TrackFlow Visitor", {"crm_lead": lead}), 0)
		self.assertEqual(frappe.db.count("Touchpoint", {"crm_lead": lead}), 0)
		self.assertEqual(frappe.db.count("Conversion", {"crm_lead": lead}), 0)
		self.assertEqual(frappe.db.count("Attribution Credit", {"conversion": won.name}), credits)
		self.assertEqual(trackflow_errors(self.started), [])

	def test_crm_delete_with_linked_documents_path_works(self):
		"""CRM 1.8x's UI deletes through crm.api.doc.delete_bulk_docs (or remove_linked_doc_reference); on any
		version a plain delete must not be blocked by TrackFlow's links."""
		deal = self.insert_won_deal(None)
		try:
			from crm.api.doc import delete_bulk_docs
		except ImportError:
			delete_bulk_docs = None
		if delete_bulk_docs:
			delete_bulk_docs("CRM Deal", [deal.name], delete_linked=True)
		else:
			frappe.delete_doc("CRM Deal", deal.name)
		self.assertFalse(frappe.db.exists("CRM Deal", deal.name))
		self.assertEqual(trackflow_errors(self.started), [])


class TestCatchUp(TrackFlowTestCase):
	def test_a_lead_dated_in_the_future_no_longer_blocks_the_hourly_sweep(self):
		from trackflow.integrations.crm import catch_up

		future = make_lead()
		later = make_lead()
		frappe.db.set_value(
			"CRM Lead", future.name, "creation", add_to_date(now_datetime(), days=1), update_modified=False
		)
		# both lost their conversion (a failed handler): the sweep must make them again
		frappe.db.delete("Conversion", {"crm_lead": ("in", [future.name, later.name])})
		catch_up()
		for lead in (future, later):
			self.assertEqual(len(conversions("lead_created", lead.name)), 1)
		made = frappe.get_doc("Conversion", conversions("lead_created", future.name)[0].name)
		self.assertLessEqual(made.occurred_at, now_datetime())

	def test_one_failing_record_is_logged_once_and_skipped(self):
		from unittest.mock import patch

		from trackflow.integrations import crm

		broken, fine = make_lead(), make_lead()
		frappe.db.delete("Conversion", {"crm_lead": ("in", [broken.name, fine.name])})
		real = crm.lead_created

		def fail_for_broken(lead):
			if lead.name == broken.name:
				raise ValueError("this lead cannot be recorded")
			return real(lead)

		started = now_datetime()
		frappe.cache.delete_value(f"trackflow:catch-up-failed:fail_for_broken:{broken.name}")
		with patch.object(crm, "lead_created", fail_for_broken):
			crm.catch_up()
			crm.catch_up()  # the next hour: still failing, not logged again
		self.assertEqual(len(conversions("lead_created", fine.name)), 1)
		self.assertEqual(conversions("lead_created", broken.name), [])
		logs = [m for m in trackflow_errors(started) if broken.name in m]
		self.assertEqual(len(logs), 1)


class TestCrmLeadSources(TrackFlowTestCase):
	def test_a_facebook_lead_ad_becomes_a_touch_of_the_campaign_that_names_its_form(self):
		if not frappe.get_meta("CRM Lead").has_field("facebook_lead_id"):
			self.skipTest("CRM before 1.56 has no Facebook lead sync")
		form_id = f"9{secrets.randbelow(10**9)}"
		campaign = frappe.get_doc(
			{
				"doctype": "Link Campaign",
				"campaign_name": f"FB {form_id}",
				"utm_campaign": form_id,
				"status": "Active",
			}
		).insert()
		lead = frappe.get_doc(
			{
				"doctype": "CRM Lead",
				"first_name": "Lead",
				"last_name": "Ad",
				"facebook_lead_id": f"fb-{form_id}",
				"facebook_form_id": form_id,
			}
		).insert()
		touch = frappe.get_doc("Touchpoint", f"lead-form-{lead.name}")
		self.assertEqual(
			(touch.touch_type, touch.channel, touch.source, touch.link_campaign, touch.crm_lead),
			("lead_form", "paid_social", "facebook", campaign.name, lead.name),
		)
		self.assertEqual(frappe.db.get_value("CRM Lead", lead.name, "source"), "Paid Social")
		from trackflow.ledger import attribute_conversion

		(created,) = conversions("lead_created", lead.name)
		self.assertEqual(attribute_conversion(created.name), "attributed")
		credited = frappe.get_all("Attribution Credit", {"conversion": created.name}, pluck="campaign")
		self.assertTrue(credited and set(credited) == {campaign.name})

	def test_crms_source_is_filled_from_the_first_touch_only_when_empty_and_when_on(self):
		settings = frappe.get_single("TrackFlow Settings")
		# a visitor id as the embed script makes them (32 hex): the backend names it in tf_visitor
		visitor = frappe.get_doc({"doctype": "TrackFlow Visitor"}).insert(set_name=secrets.token_hex(16))
		frappe.get_doc(
			{
				"doctype": "Touchpoint",
				"occurred_at": add_to_date(now_datetime(), days=-2),
				"touch_type": "session",
				"channel": "organic_search",
				"visitor": visitor.name,
			}
		).insert()
		lead = frappe.get_doc(
			{
				"doctype": "CRM Lead",
				"first_name": "Src",
				"email": f"src-{secrets.token_hex(3)}@example.com",
				"tf_visitor": visitor.name,
			}
		).insert()
		self.assertEqual(frappe.db.get_value("CRM Lead", lead.name, "source"), "Organic Search")
		self.assertTrue(frappe.db.exists("CRM Lead Source", "Organic Search"))
		if not frappe.db.exists("CRM Lead Source", "Walk In TF"):
			frappe.get_doc({"doctype": "CRM Lead Source", "source_name": "Walk In TF"}).insert()
		chosen = frappe.get_doc({"doctype": "CRM Lead", "first_name": "Own", "source": "Walk In TF"}).insert()
		self.assertEqual(frappe.db.get_value("CRM Lead", chosen.name, "source"), "Walk In TF")
		frappe.db.set_single_value("TrackFlow Settings", "fill_crm_lead_source", 0)
		try:
			frappe.clear_document_cache("TrackFlow Settings", "TrackFlow Settings")
			off = frappe.get_doc(
				{"doctype": "CRM Lead", "first_name": "Off", "tf_visitor": visitor.name}
			).insert()
			self.assertFalse(frappe.db.get_value("CRM Lead", off.name, "source"))
		finally:
			frappe.db.set_single_value(
				"TrackFlow Settings", "fill_crm_lead_source", settings.fill_crm_lead_source
			)
			frappe.clear_document_cache("TrackFlow Settings", "TrackFlow Settings")


class TestFunnelOnEveryCrm(TrackFlowTestCase):
	def test_overall_conversion_equals_the_leads_that_reached_a_deal(self):
		from crm.fcrm.doctype.crm_lead.crm_lead import convert_to_deal

		from trackflow.trackflow.report.lead_lifecycle_funnel import lead_lifecycle_funnel as funnel_report

		campaign = frappe.get_doc(
			{
				"doctype": "Link Campaign",
				"campaign_name": f"Funnel {secrets.token_hex(3)}",
				"status": "Active",
			}
		).insert()
		leads = [make_lead() for _ in range(4)]
		for lead in leads:
			frappe.db.set_value(
				"CRM Lead", lead.name, {"tf_first_touch_campaign": campaign.name}, update_modified=False
			)
		convert_to_deal(leads[0].name)  # CRM sets the lead to its Qualified status and makes the deal
		filters = {"from_date": add_to_date(now_datetime(), days=-1).date(), "to_date": now_datetime().date()}
		*_rest, summary = funnel_report.execute({**filters, "campaign": campaign.name})
		values = {s["label"]: s["value"] for s in summary}
		with_deal = frappe.db.count("CRM Deal", {"lead": ("in", [lead.name for lead in leads])})
		self.assertEqual((values["Leads"], with_deal), (4, 1))
		self.assertAlmostEqual(values["Overall Conversion"], with_deal / 4 * 100)
