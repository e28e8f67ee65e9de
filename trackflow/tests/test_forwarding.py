# Copyright (c) 2026, TrackFlow developers
# License: AGPL-3.0. See license.txt
"""Frappe tests of conversion forwarding against a local stand-in of Meta's endpoint."""

import base64
import hashlib
import hmac
import json
import os
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest.mock import patch
from urllib.parse import parse_qs

import frappe
from frappe.utils import add_to_date, now_datetime

from trackflow.api.forwarding import send_test_event
from trackflow.forwarding import queue_deliveries, send_due_deliveries
from trackflow.testing import TrackFlowTestCase
from trackflow.trackflow.doctype.conversion.test_conversion import conversion_of, make_lead, win
from trackflow.trackflow.doctype.trackflow_settings.test_trackflow_settings import make_user

TOKEN = "EAAB-secret-token-for-tests"
GA4_SECRET = "ga4-secret-for-tests"


class StandIn:
	"""Meta's /{version}/{dataset}/events and GA4's /mp/collect and /debug/mp/collect on 127.0.0.1: answers
	with the scripted statuses, then 200 (GA4: 204; validation: the scripted validation messages)."""

	def __init__(self, statuses=()):
		self.statuses = list(statuses)
		self.validation_messages: list[dict] = []
		self.requests: list[tuple[str, dict, dict]] = []  # (path, query, body)
		stand_in = self

		class Handler(BaseHTTPRequestHandler):
			def do_POST(self):
				body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
				path, _, query = self.path.partition("?")
				stand_in.requests.append((path, parse_qs(query), body))
				status = stand_in.statuses.pop(0) if stand_in.statuses else 200
				if status != 200:
					answer = {"error": {"message": "stand-in failure", "code": 2}}
				elif path.startswith("/debug/"):
					answer = {"validationMessages": stand_in.validation_messages}
				elif path.endswith("/events"):
					answer = {"events_received": len(body.get("data", [])), "fbtrace_id": "StandIn1"}
				else:
					status, answer = 204, None
				data = json.dumps(answer).encode() if answer is not None else b""
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

	@property
	def bodies(self) -> list[dict]:
		return [body for _, _, body in self.requests]

	def close(self):
		self.server.shutdown()
		self.server.server_close()


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


def make_ga4_destination(url: str, **fields):
	return frappe.get_doc(
		{
			"doctype": "Conversion Destination",
			"destination_name": f"TF GA4 {secrets.token_hex(3)}",
			"platform": "GA4 Measurement Protocol",
			"enabled": 1,
			"api_base_url": url,
			"ga4_measurement_id": "G-TESTSTAND1",
			"ga4_api_secret": GA4_SECRET,
			"send_hashed_contact_data": 1,
			**fields,
		}
	).insert()


def delivery_rows(conversion: str) -> list:
	return frappe.get_all(
		"Conversion Delivery", {"conversion": conversion}, ["destination", "status", "event_name"]
	)


def readme_webhook_json() -> str:
	"""The example Webhook body in the README's forwarding section, exactly as documented."""
	with open(os.path.join(frappe.get_app_path("trackflow"), "..", "README.md"), encoding="utf-8") as readme:
		text = readme.read()
	example = text[text.index("**Generic webhooks**") :]
	return example.split("```\n", 2)[1].strip()


def allow_stand_in_base_url(test) -> None:
	"""The stand-in answers on 127.0.0.1, off the platforms' hosts: allowed by the site config key a test
	sets for itself (restored after), whatever the site's developer_mode."""
	previous = frappe.local.conf.get("trackflow_allow_custom_api_base_url")
	frappe.local.conf.trackflow_allow_custom_api_base_url = 1
	test.addCleanup(frappe.local.conf.__setitem__, "trackflow_allow_custom_api_base_url", previous)


class TestForwarding(TrackFlowTestCase):
	def setUp(self):
		self.stand_in = StandIn()
		allow_stand_in_base_url(self)
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

	def test_deal_won_queues_one_delivery_per_enabled_destination(self):
		meta_destination = make_destination(self.stand_in.url)
		ga4_destination = make_ga4_destination(self.stand_in.url)
		make_destination(self.stand_in.url, enabled=0)
		jobs = []
		with patch("frappe.enqueue", side_effect=lambda method, **kw: jobs.append((method, kw))):
			_, conversion = self.won_conversion()
		queued = [kw for method, kw in jobs if method == "trackflow.forwarding.queue_deliveries"]
		job = next(kw for kw in queued if kw["conversion_name"] == conversion.name)
		self.assertTrue(job["enqueue_after_commit"] and job["deduplicate"])  # never in CRM's transaction
		self.assertEqual(job["job_id"], f"trackflow-deliveries-{conversion.name}")

		self.assertEqual(
			sorted(queue_deliveries(conversion.name)), sorted([meta_destination.name, ga4_destination.name])
		)
		rows = {row.destination: row for row in delivery_rows(conversion.name)}
		self.assertEqual(set(rows), {meta_destination.name, ga4_destination.name})
		self.assertEqual({row.status for row in rows.values()}, {"queued"})
		self.assertEqual(rows[meta_destination.name].event_name, "Purchase")
		self.assertEqual(rows[ga4_destination.name].event_name, "purchase")

		# saving the won deal again records no new conversion and queues nothing more
		jobs.clear()
		deal = frappe.get_doc("CRM Deal", conversion.crm_deal)
		with patch("frappe.enqueue", side_effect=lambda method, **kw: jobs.append((method, kw))):
			deal.save()
		self.assertEqual(queue_deliveries(conversion.name), [])
		self.assertEqual(len(delivery_rows(conversion.name)), 2)
		with self.assertRaises(frappe.UniqueValidationError):  # the unique index, below the existence check
			frappe.get_doc(
				{
					"doctype": "Conversion Delivery",
					"conversion": conversion.name,
					"destination": meta_destination.name,
				}
			).insert(ignore_permissions=True)

	def test_both_platforms_receive_the_won_deal(self):
		meta_destination = make_destination(self.stand_in.url)
		ga4_destination = make_ga4_destination(self.stand_in.url)
		lead, conversion = self.won_conversion(value=1200)
		queue_deliveries(conversion.name)
		self.assertEqual(send_due_deliveries().get("sent"), 2)
		self.assertEqual({row.status for row in delivery_rows(conversion.name)}, {"sent"})
		by_path = {path: (query, body) for path, query, body in self.stand_in.requests}
		self.assertEqual(set(by_path), {"/v21.0/1234567890/events", "/mp/collect"})
		query, body = by_path["/mp/collect"]
		self.assertEqual(query["measurement_id"], ["G-TESTSTAND1"])
		event = body["events"][0]
		self.assertEqual(event["name"], "purchase")
		self.assertEqual(event["params"]["transaction_id"], conversion.idempotency_key)
		self.assertEqual(event["params"]["value"], 1200)
		self.assertEqual(
			body["user_data"]["sha256_email_address"],
			[hashlib.sha256(lead.email.strip().lower().encode()).hexdigest()],
		)
		sent = frappe.get_all(
			"Conversion Delivery",
			{"conversion": conversion.name},
			["destination", "http_status", "sent_at", "attempts", "response_excerpt"],
		)
		for row in sent:
			self.assertEqual(row.attempts, 1)
			self.assertTrue(row.sent_at)
			self.assertNotIn(GA4_SECRET, row.response_excerpt or "")
		self.assertEqual(
			{row.destination: row.http_status for row in sent},
			{meta_destination.name: 200, ga4_destination.name: 204},
		)
		self.assertNotIn("sent", send_due_deliveries())  # nothing due any more
		self.assertEqual(len(self.stand_in.requests), 2)

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

	def test_max_attempts_comes_from_settings(self):
		destination = make_destination(self.stand_in.url)
		_lead, conversion = self.won_conversion()
		queue_deliveries(conversion.name)
		delivery = {"conversion": conversion.name, "destination": destination.name}
		frappe.db.set_single_value("TrackFlow Settings", "forwarding_max_attempts", 2)
		self.addCleanup(frappe.db.set_single_value, "TrackFlow Settings", "forwarding_max_attempts", 8)
		self.stand_in.statuses = [500, 500, 500]
		for expected in ("retrying", "failed"):
			frappe.db.set_value(
				"Conversion Delivery", delivery, "next_attempt_at", add_to_date(now_datetime(), seconds=-1)
			)
			send_due_deliveries()
			self.assertEqual(frappe.db.get_value("Conversion Delivery", delivery, "status"), expected)
		self.assertEqual(frappe.db.get_value("Conversion Delivery", delivery, "attempts"), 2)
		self.assertIn(
			"gave up after 2 attempts",
			frappe.db.get_value("Conversion Delivery", delivery, "response_excerpt"),
		)
		self.assertEqual(len(self.stand_in.requests), 2)

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

	def test_opt_in_site_without_consent_is_skipped(self):
		make_destination(self.stand_in.url)
		site = frappe.get_doc(
			{
				"doctype": "TrackFlow Site",
				"site_name": f"tf-{secrets.token_hex(3)}",
				"allowed_domains": "example.com",
				"consent_mode": "opt-in",
			}
		).insert()
		lead, conversion = self.won_conversion()
		frappe.get_doc(
			{"doctype": "TrackFlow Visitor", "crm_lead": lead.name, "consent": "unknown", "site": site.name}
		).insert(set_name=secrets.token_hex(16))
		queue_deliveries(conversion.name)
		row = frappe.db.get_value(
			"Conversion Delivery",
			{"conversion": conversion.name},
			["status", "response_excerpt"],
			as_dict=True,
		)
		self.assertEqual(row.status, "skipped_consent")
		self.assertIn("opt-in", row.response_excerpt)

	def test_secrets_and_permissions(self):
		from frappe.client import get as client_get
		from frappe.client import get_list as client_get_list

		destination = make_destination(self.stand_in.url)
		ga4_destination = make_ga4_destination(self.stand_in.url)
		stored = frappe.get_doc("Conversion Destination", destination.name)
		self.assertNotEqual(stored.meta_access_token, TOKEN)
		self.assertEqual(stored.get_password("meta_access_token"), TOKEN)
		self.assertEqual(ga4_destination.get_password("ga4_api_secret"), GA4_SECRET)
		frappe.set_user(make_user("tf-forwarding-manager@example.com", ["TrackFlow Manager"]))
		self.assertTrue(frappe.has_permission("Conversion Destination", "write"))
		for name in (destination.name, ga4_destination.name):
			seen = json.dumps(
				[
					frappe.get_doc("Conversion Destination", name).as_dict(),
					client_get("Conversion Destination", name),
					client_get_list("Conversion Destination", fields=["*"], filters={"name": name}),
				],
				default=str,
			)
			self.assertNotIn(TOKEN, seen)
			self.assertNotIn(GA4_SECRET, seen)
		for roles in (["Campaign Manager"], ["Sales Manager"], ["Sales User"]):
			frappe.set_user(make_user(f"tf-{roles[0].lower().replace(' ', '-')}@example.com", roles))
			self.assertFalse(frappe.has_permission("Conversion Destination", "read"), roles)
			with self.assertRaises(frappe.PermissionError):
				client_get("Conversion Destination", destination.name)
			with self.assertRaises(frappe.PermissionError):
				send_test_event(destination.name)
			# frappe.only_for lets everyone through in tests: check the role gate itself too
			frappe.flags.in_test = False
			try:
				with self.assertRaises(frappe.PermissionError):
					send_test_event(destination.name)
			finally:
				frappe.flags.in_test = True
		self.assertEqual(self.stand_in.requests, [])

	def test_send_test_event(self):
		destination = make_destination(self.stand_in.url, meta_test_event_code="TEST123", enabled=0)
		result = send_test_event(destination.name)
		self.assertEqual((result["status"], result["http_status"]), ("sent", 200))
		self.assertIn("events_received", result["response"])
		self.assertEqual(len(self.stand_in.requests), 1)
		self.assertEqual(self.stand_in.bodies[-1]["test_event_code"], "TEST123")
		self.assertNotIn(TOKEN, json.dumps(result))
		self.assertFalse(frappe.db.exists("Conversion Delivery", {"destination": destination.name}))

	def test_send_test_event_shows_ga4_validation_messages(self):
		destination = make_ga4_destination(self.stand_in.url, ga4_validation_mode=1)
		self.stand_in.validation_messages = [
			{
				"fieldPath": "events[0].params.currency",
				"description": "Currency code is invalid.",
				"validationCode": "VALUE_INVALID",
			}
		]
		result = send_test_event(destination.name)
		path, query, _ = self.stand_in.requests[-1]
		self.assertEqual(path, "/debug/mp/collect")
		self.assertEqual(query["api_secret"], [GA4_SECRET])  # the platform gets it, the user never does
		self.assertEqual(result["status"], "failed")
		self.assertIn("Currency code is invalid", result["response"])
		self.assertNotIn(GA4_SECRET, json.dumps(result))

		self.stand_in.validation_messages = []
		self.assertEqual(send_test_event(destination.name)["status"], "sent")

	def test_send_test_event_command(self):
		from click.testing import CliRunner

		from trackflow.commands import trackflow_group

		destination = make_destination(self.stand_in.url, meta_test_event_code="TEST123")
		result = CliRunner().invoke(
			trackflow_group,
			["send-test-event", destination.name],
			obj={"sites": [frappe.local.site], "profile": False},
		)
		if not getattr(frappe.local, "db", None):
			frappe.connect()
		self.assertEqual(result.exit_code, 0, result.output)
		self.assertIn("sent", result.output)
		self.assertNotIn(TOKEN, result.output)

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
				"webhook_json": readme_webhook_json(),
				"enable_security": 1,
				"webhook_secret": "shh",
			}
		).insert(set_name=f"TF webhook {secrets.token_hex(3)}")
		data = get_webhook_data(conversion, webhook)
		self.assertEqual(
			data,
			{
				"conversion": conversion.name,
				"type": "deal_won",
				"value": 2500,
				"currency": conversion.currency or "",
				"lead": conversion.crm_lead,
				"deal": conversion.crm_deal,
			},
		)
		signature = get_webhook_headers(conversion, webhook)["X-Frappe-Webhook-Signature"]
		expected = base64.b64encode(hmac.new(b"shh", json.dumps(data).encode(), hashlib.sha256).digest())
		self.assertEqual(signature, expected)
		webhook.delete()


class TestDestinationSecrets(TrackFlowTestCase):
	def setUp(self):
		self.stand_in = StandIn()
		allow_stand_in_base_url(self)

	def tearDown(self):
		self.stand_in.close()

	def test_a_base_url_off_the_platform_needs_developer_mode_or_the_config_key(self):
		developer_mode = frappe.local.conf.developer_mode
		frappe.local.conf.developer_mode = 0
		frappe.local.conf.trackflow_allow_custom_api_base_url = None
		try:
			with self.assertRaisesRegex(frappe.ValidationError, "API Base URL must be on graph.facebook.com"):
				make_destination(self.stand_in.url)
			with self.assertRaisesRegex(frappe.ValidationError, "region1.google-analytics.com"):
				make_ga4_destination("http://www.google-analytics.com")  # not https
			make_destination("https://graph.facebook.com")  # the platform's own host is fine
			frappe.local.conf.trackflow_allow_custom_api_base_url = 1
			make_destination(self.stand_in.url)
		finally:
			frappe.local.conf.developer_mode = developer_mode

	def test_changing_the_base_url_drops_the_stored_secrets(self):
		destination = make_destination("https://graph.facebook.com")
		doc = frappe.get_doc("Conversion Destination", destination.name)
		doc.api_base_url = self.stand_in.url
		with self.assertRaisesRegex(frappe.ValidationError, "Meta Access Token is required"):
			doc.save()
		self.assertEqual(
			frappe.get_doc("Conversion Destination", destination.name).get_password("meta_access_token"),
			TOKEN,
		)
		doc = frappe.get_doc("Conversion Destination", destination.name)
		doc.api_base_url = self.stand_in.url
		doc.meta_access_token = "a-new-token-typed-with-the-url"
		doc.save()
		self.assertEqual(doc.get_password("meta_access_token"), "a-new-token-typed-with-the-url")

	def test_a_destination_never_shows_its_secrets_in_a_repr_and_a_failure_logs_none(self):
		destination = make_destination(self.stand_in.url)
		engine_destination = destination.engine_destination()
		self.assertNotIn(TOKEN, repr(engine_destination))
		ga4 = make_ga4_destination(self.stand_in.url)
		self.assertNotIn(GA4_SECRET, repr(ga4.engine_destination()))
		started = frappe.utils.add_to_date(frappe.utils.now_datetime(), seconds=-1)

		# A failure inside the sender: the traceback must carry no frame locals (the destination, the body)
		def fail(destination, *args):
			raise RuntimeError(f"boom {' '.join(destination.secrets)} {destination!r}")

		with patch("trackflow.engine.forwarding.sender.Sender.deliver", side_effect=fail):
			lead = make_lead()
			deal = frappe.get_doc(
				{"doctype": "CRM Deal", "lead": lead.name, "status": "Qualification"}
			).insert()
			win(deal, 100)
			conversion = conversion_of(f"deal_won:{deal.name}")
			queue_deliveries(conversion.name)
			send_due_deliveries()
		logs = frappe.get_all(
			"Error Log", {"method": ("like", "TrackFlow%"), "creation": (">=", started)}, ["method", "error"]
		)
		self.assertTrue(logs)
		for log in logs:
			self.assertNotIn(TOKEN, log.error)
			self.assertNotIn(GA4_SECRET, log.error)
			self.assertNotIn("access_token", log.error)
