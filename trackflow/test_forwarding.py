# Copyright (c) 2026, TrackFlow developers
# License: AGPL-3.0. See license.txt
"""Frappe tests of conversion forwarding against a local stand-in of Meta's endpoint."""

import base64
import hashlib
import hmac
import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import frappe
from frappe.utils import add_to_date, now_datetime

from trackflow.api.forwarding import send_test_event
from trackflow.forwarding import queue_deliveries, send_due_deliveries
from trackflow.testing import TrackFlowTestCase
from trackflow.trackflow.doctype.conversion.test_conversion import conversion_of, make_lead, win
from trackflow.trackflow.doctype.trackflow_settings.test_trackflow_settings import make_user

TOKEN = "EAAB-secret-token-for-tests"


class StandIn:
	"""Meta's /{version}/{dataset}/events on 127.0.0.1: answers with the scripted statuses, then 200."""

	def __init__(self, statuses=()):
		self.statuses = list(statuses)
		self.bodies: list[dict] = []
		stand_in = self

		class Handler(BaseHTTPRequestHandler):
			def do_POST(self):
				body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
				stand_in.bodies.append(body)
				status = stand_in.statuses.pop(0) if stand_in.statuses else 200
				answer = (
					{"events_received": len(body.get("data", []))}
					if status == 200
					else {"error": {"message": "x"}}
				)
				data = json.dumps(answer).encode()
				self.send_response(status)
				self.send_header("Content-Type", "application/json")
				self.send_header("Content-Length", str(len(data)))
				self.end_headers()
				self.wfile.write(data)

			def log_message(self, *args):
				pass

		self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
		threading.Thread(target=self.server.serve_forever, daemon=True).start()
		self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

	def close(self):
		self.server.shutdown()


def make_destination(url: str, **fields):
	name = f"TF Meta {secrets.token_hex(3)}"
	return frappe.get_doc(
		{
			"doctype": "Conversion Destination",
			"destination_name": name,
			"platform": "Meta Conversions API",
			"enabled": 1,
			"api_base_url": url,
			"meta_dataset_id": "1234567890",
			"meta_access_token": TOKEN,
			"send_hashed_contact_data": 1,
			**fields,
		}
	).insert()


class TestForwarding(TrackFlowTestCase):
	def setUp(self):
		self.stand_in = StandIn()
		for name in frappe.get_all("Conversion Destination", {"enabled": 1}, pluck="name"):
			frappe.db.set_value("Conversion Destination", name, "enabled", 0)

	def tearDown(self):
		self.stand_in.close()
		frappe.set_user("Administrator")

	def won_conversion(self, value=2500):
		lead = make_lead()
		deal = frappe.get_doc({"doctype": "CRM Deal", "lead": lead.name, "status": "Qualification"}).insert()
		win(deal, value)
		return lead, conversion_of(f"deal_won:{deal.name}")

	def test_won_deal_is_delivered_once_despite_two_failures(self):
		destination = make_destination(self.stand_in.url)
		lead, conversion = self.won_conversion()
		self.assertEqual(queue_deliveries(conversion.name), [destination.name])
		self.assertEqual(queue_deliveries(conversion.name), [])  # a second call adds nothing
		delivery = frappe.get_doc(
			"Conversion Delivery", {"conversion": conversion.name, "destination": destination.name}
		)
		self.assertEqual(delivery.status, "queued")

		self.stand_in.statuses = [500, 503]
		for expected in ("retrying", "retrying", "sent"):
			frappe.db.set_value(
				"Conversion Delivery",
				delivery.name,
				"next_attempt_at",
				add_to_date(now_datetime(), seconds=-1),
			)
			send_due_deliveries()
			self.assertEqual(frappe.db.get_value("Conversion Delivery", delivery.name, "status"), expected)
		send_due_deliveries()  # nothing due: nothing sent again
		events = [body["data"][0] for body in self.stand_in.bodies]
		self.assertEqual(len(events), 3)
		self.assertEqual({e["event_id"] for e in events}, {conversion.idempotency_key})
		event = events[-1]
		self.assertEqual((event["event_name"], event["action_source"]), ("Purchase", "system_generated"))
		self.assertEqual(event["custom_data"]["value"], 2500)
		self.assertEqual(
			event["user_data"]["em"], hashlib.sha256(lead.email.strip().lower().encode()).hexdigest()
		)
		excerpt = frappe.db.get_value("Conversion Delivery", delivery.name, "response_excerpt") or ""
		self.assertNotIn(TOKEN, excerpt + json.dumps(self.stand_in.bodies[-1].get("data")))

	def test_denied_consent_is_skipped(self):
		make_destination(self.stand_in.url)
		lead, conversion = self.won_conversion()
		visitor = secrets.token_hex(16)
		frappe.get_doc({"doctype": "TrackFlow Visitor", "crm_lead": lead.name, "consent": "denied"}).insert(
			set_name=visitor
		)
		queue_deliveries(conversion.name)
		self.assertEqual(
			frappe.db.get_value("Conversion Delivery", {"conversion": conversion.name}, "status"),
			"skipped_consent",
		)
		send_due_deliveries()
		self.assertEqual(self.stand_in.bodies, [])

	def test_secrets_and_permissions(self):
		destination = make_destination(self.stand_in.url)
		stored = frappe.get_doc("Conversion Destination", destination.name)
		self.assertNotEqual(stored.meta_access_token, TOKEN)
		self.assertEqual(stored.get_password("meta_access_token"), TOKEN)
		frappe.set_user(make_user("tf-campaigns@example.com", ["Campaign Manager"]))
		self.assertFalse(frappe.has_permission("Conversion Destination", "read"))
		with self.assertRaises(frappe.PermissionError):
			send_test_event(destination.name)

	def test_send_test_event(self):
		destination = make_destination(self.stand_in.url, meta_test_event_code="TEST123")
		result = send_test_event(destination.name)
		self.assertEqual(result["status"], "sent")
		self.assertEqual(self.stand_in.bodies[-1]["test_event_code"], "TEST123")
		self.assertNotIn(TOKEN, json.dumps(result))

	def test_documented_webhook_signature(self):
		"""README: Frappe's Webhook on Conversion signs the body with HMAC-SHA256 (base64)."""
		from frappe.integrations.doctype.webhook.webhook import get_webhook_data, get_webhook_headers

		_, conversion = self.won_conversion()  # before the webhook exists, so it fires for nothing here
		webhook = frappe.get_doc(
			{
				"doctype": "Webhook",
				"webhook_doctype": "Conversion",
				"webhook_docevent": "after_insert",
				"request_url": self.stand_in.url,
				"request_structure": "JSON",
				"webhook_json": '{"conversion": "{{ doc.name }}", "type": "{{ doc.conversion_type }}"}',
				"enable_security": 1,
				"webhook_secret": "shh",
			}
		).insert(set_name=f"TF webhook {secrets.token_hex(3)}")
		data = get_webhook_data(conversion, webhook)
		self.assertEqual(data, {"conversion": conversion.name, "type": "deal_won"})
		signature = get_webhook_headers(conversion, webhook)["X-Frappe-Webhook-Signature"]
		expected = base64.b64encode(hmac.new(b"shh", json.dumps(data).encode(), hashlib.sha256).digest())
		self.assertEqual(signature, expected)
		webhook.delete()
