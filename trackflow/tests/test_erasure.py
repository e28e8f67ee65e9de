"""Erasure that is complete, on a real site: a visitor's records still queued in Redis (waiting, in flight,
dead) and TrackFlow's Error Log entries naming it go with it; erasing a person by email spares a stranger's
unverified claim of that email (it only loses the email); Frappe's Personal Data Deletion Request reaches
TrackFlow's data."""

import secrets

import frappe

from trackflow.api.privacy import erase_visitor, on_personal_data_deletion
from trackflow.drain import drain
from trackflow.engine.identity import sign
from trackflow.queues import get_queue
from trackflow.testing import TrackFlowTestCase
from trackflow.trackflow.doctype.trackflow_site.test_trackflow_site import batch, event, make_site, post


class TestErasure(TrackFlowTestCase):
	def setUp(self):
		get_queue("collect").clear()
		self.site = make_site()
		self.secret = self.site.reveal_identity_secret()
		self.email = f"tf-erase-{secrets.token_hex(4)}@example.com"
		self.lead = frappe.get_doc(
			{"doctype": "CRM Lead", "first_name": "Erase", "email": self.email}
		).insert()

	def visit(self, traits=None) -> str:
		visitor = secrets.token_hex(16)
		events = [event("pageview", title="Home")]
		if traits:
			events.append(event("identify", traits=traits))
		self.assertEqual(
			post(batch(self.site.site_key, visitor, secrets.token_hex(16), *events)).status_code, 204
		)
		return visitor

	def test_erasing_a_visitor_removes_its_queued_records_and_error_logs(self):
		visitor = self.visit({"email": self.email, "signature": sign(self.secret, self.email)})
		frappe.db.commit()
		drain("collect")
		self.assertEqual(frappe.db.get_value("TrackFlow Visitor", visitor, "crm_lead"), self.lead.name)
		# more of its records wait in the queue, one is a dead letter, and an error names it
		body = batch(self.site.site_key, visitor, secrets.token_hex(16), event("pageview"))
		self.assertEqual(post(body).status_code, 204)
		get_queue("collect").bury({"id": secrets.token_hex(16), "body": body.decode()}, "bad record")
		frappe.log_error("TrackFlow: test failure", f"visitor {visitor} failed")
		other = self.visit()  # someone else's record stays
		result = erase_visitor(visitor=visitor)[visitor]
		self.assertEqual(result["queued records"], 2)
		self.assertEqual(result["error logs"], 1)
		self.assertFalse(frappe.db.exists("TrackFlow Visitor", visitor))
		self.assertEqual(get_queue("collect").backlog(), 1)
		self.assertEqual(get_queue("collect").dead_letters(), 0)
		frappe.db.commit()
		drain("collect")  # nothing recreates the erased visitor
		self.assertFalse(frappe.db.exists("TrackFlow Visitor", visitor))
		self.assertTrue(frappe.db.exists("TrackFlow Visitor", other))

	def test_erasing_a_person_by_email_spares_a_strangers_unverified_claim(self):
		theirs = self.visit({"email": self.email, "signature": sign(self.secret, self.email)})
		stranger = self.visit({"email": self.email})  # an unsigned claim: anyone could send it
		frappe.db.commit()
		drain("collect")
		result = erase_visitor(email=self.email)
		self.assertEqual(list(result), [theirs])
		self.assertFalse(frappe.db.exists("TrackFlow Visitor", theirs))
		self.assertTrue(frappe.db.exists("TrackFlow Visitor", stranger))
		self.assertIsNone(frappe.db.get_value("TrackFlow Visitor", stranger, "email"))
		self.assertGreater(frappe.db.count("TrackFlow Event", {"visitor": stranger}), 0)  # its own data stays

	def test_frappes_personal_data_deletion_request_erases_trackflow_data(self):
		theirs = self.visit({"email": self.email, "signature": sign(self.secret, self.email)})
		frappe.db.commit()
		drain("collect")
		request = frappe.get_doc(
			{"doctype": "Personal Data Deletion Request", "email": self.email, "status": "Deleted"}
		)
		request._doc_before_save = frappe._dict(status="Pending Approval")
		on_personal_data_deletion(request)
		self.assertFalse(frappe.db.exists("TrackFlow Visitor", theirs))
		self.assertEqual(frappe.db.count("TrackFlow Event", {"visitor": theirs}), 0)
		self.assertIn(
			"trackflow.api.privacy.on_personal_data_deletion",
			frappe.get_hooks("doc_events")["Personal Data Deletion Request"]["on_update"],
		)

	def test_frappes_personal_data_download_includes_trackflow_data(self):
		from trackflow.api.privacy import on_personal_data_download

		user = frappe.get_doc(
			{"doctype": "User", "email": self.email, "first_name": "Erase", "send_welcome_email": 0}
		).insert(ignore_permissions=True)
		theirs = self.visit({"email": self.email, "signature": sign(self.secret, self.email)})
		stranger = self.visit({"email": self.email})  # an unsigned claim of the same email
		frappe.db.commit()
		drain("collect")
		request = frappe._dict(
			doctype="Personal Data Download Request", name=f"PDR-{secrets.token_hex(3)}", user=user.name
		)
		on_personal_data_download(request)
		file = frappe.get_doc("File", {"attached_to_name": request.name})
		self.assertTrue(file.is_private)
		content = file.get_content()
		content = content.decode() if isinstance(content, bytes) else content
		self.assertIn(theirs, content)
		self.assertNotIn(stranger, content)
		self.assertIn('"TrackFlow Event"', content)
		self.assertIn(
			"trackflow.api.privacy.on_personal_data_download",
			frappe.get_hooks("doc_events")["Personal Data Download Request"]["after_insert"],
		)
