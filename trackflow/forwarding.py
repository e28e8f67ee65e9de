"""Server-to-server conversions for the ad platforms: one Conversion Delivery per conversion and enabled
destination, sent in batches by a scheduled job. Payloads, consent, ages, batching and retries are the
engine's (trackflow.engine.forwarding); this module reads the rows and writes the outcomes."""

import json
from datetime import timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import frappe
from frappe.utils import get_datetime, get_system_timezone, now_datetime

from trackflow.engine.forwarding.plan import outcome_without_sending
from trackflow.engine.forwarding.sender import Sender
from trackflow.engine.forwarding.types import ForwardedConversion

MAX_ATTEMPTS = 8
SEND_BATCH = 5000


def enqueue_deliveries(conversion: str) -> None:
	"""After the conversion's transaction commits: create its deliveries (never inside a CRM save)."""
	frappe.enqueue(
		"trackflow.forwarding.queue_deliveries",
		queue="default",
		job_id=f"trackflow-deliveries-{conversion}",
		deduplicate=True,
		enqueue_after_commit=True,
		conversion=conversion,
	)


def enabled_destinations() -> list:
	return [
		frappe.get_doc("Conversion Destination", name)
		for name in frappe.get_all("Conversion Destination", {"enabled": 1}, pluck="name")
	]


def queue_deliveries(conversion: str) -> list[str]:
	"""One delivery per enabled destination that takes this conversion's type; idempotent (the unique
	(conversion, destination) index and this check). Conversions settled without sending (consent, age)
	get their final status at once."""
	if not frappe.db.exists("Conversion", conversion):
		return []
	forwarded = forwarded_conversions([conversion]).get(conversion)
	made = []
	for doc in enabled_destinations():
		destination = doc.engine_destination(MAX_ATTEMPTS)
		event_name = destination.event_name(forwarded.conversion_type)
		if not event_name or frappe.db.exists(
			"Conversion Delivery", {"conversion": conversion, "destination": doc.name}
		):
			continue
		settled = outcome_without_sending(forwarded, destination, now_utc())
		frappe.get_doc(
			{
				"doctype": "Conversion Delivery",
				"conversion": conversion,
				"destination": doc.name,
				"event_name": event_name,
				"status": settled.status if settled else "queued",
				"response_excerpt": settled.response_excerpt if settled else None,
				"next_attempt_at": None if settled else now_datetime(),
			}
		).insert(ignore_permissions=True)
		made.append(doc.name)
	return made


def send_due_deliveries() -> dict:
	"""Scheduled: send every queued or retrying delivery that is due, per destination, one HTTP session."""
	delivery = frappe.qb.DocType("Conversion Delivery")
	due = (
		frappe.qb.from_(delivery)
		.select(delivery.name, delivery.conversion, delivery.destination, delivery.attempts)
		.where(delivery.status.isin(["queued", "retrying"]))
		.where(delivery.next_attempt_at.isnull() | (delivery.next_attempt_at <= now_datetime()))
		.limit(SEND_BATCH)
		.run(as_dict=True)
	)
	by_destination: dict[str, list] = {}
	for row in due:
		by_destination.setdefault(row.destination, []).append(row)
	counts: dict[str, int] = {}
	with Sender() as sender:
		for destination_name, rows in by_destination.items():
			doc = frappe.get_doc("Conversion Destination", destination_name)
			destination = doc.engine_destination(MAX_ATTEMPTS)
			conversions = forwarded_conversions([r.conversion for r in rows])
			attempts = {r.conversion: r.attempts or 0 for r in rows}
			outcomes = sender.deliver(destination, list(conversions.values()), attempts, now_utc())
			names = {r.conversion: r.name for r in rows}
			for outcome in outcomes:
				write_outcome(names[outcome.conversion_id], outcome)
				counts[outcome.status] = counts.get(outcome.status, 0) + 1
			frappe.db.commit()  # what was sent is recorded before the next destination is tried
	return counts


def write_outcome(delivery: str, outcome) -> None:
	tz = ZoneInfo(get_system_timezone())

	def local(value):
		return value.astimezone(tz).replace(tzinfo=None) if value else None

	frappe.db.set_value(
		"Conversion Delivery",
		delivery,
		{
			"status": outcome.status,
			"attempts": outcome.attempts,
			"http_status": outcome.http_status,
			"response_excerpt": (outcome.response_excerpt or "")[:2000],
			"next_attempt_at": local(outcome.next_attempt_at),
			"sent_at": local(outcome.sent_at),
		},
		update_modified=True,
	)


def now_utc():
	return now_datetime().replace(tzinfo=ZoneInfo(get_system_timezone())).astimezone(timezone.utc)


def forwarded_conversions(names: list[str]) -> dict[str, ForwardedConversion]:
	"""Conversion rows with what the platforms can match on: the lead's contact data, the visitor's consent
	and site, the landing session's ad click ids and the credited touch's campaign/source/medium."""
	tz = ZoneInfo(get_system_timezone())
	rows = frappe.get_all(
		"Conversion",
		filters={"name": ("in", names)},
		fields=[
			"name",
			"idempotency_key",
			"conversion_type",
			"occurred_at",
			"value",
			"currency",
			"crm_lead",
			"visitor",
		],
	)
	result = {}
	for row in rows:
		lead = (
			frappe.db.get_value(
				"CRM Lead",
				row.crm_lead,
				["name", "email", "first_name", "last_name", "mobile_no"],
				as_dict=True,
			)
			if row.crm_lead
			else None
		) or frappe._dict()
		visitor = row.visitor or (
			frappe.db.get_value("TrackFlow Visitor", {"crm_lead": row.crm_lead}, "name")
			if row.crm_lead
			else None
		)
		visitor_row = (
			frappe.db.get_value("TrackFlow Visitor", visitor, ["consent", "site"], as_dict=True)
			if visitor
			else None
		) or frappe._dict()
		consent_mode = (
			(
				frappe.db.get_value("TrackFlow Site", visitor_row.site, "consent_mode")
				if visitor_row.site
				else None
			)
			or frappe.db.get_single_value("TrackFlow Settings", "consent_mode")
			or "none"
		)
		session = (
			frappe.db.get_value(
				"TrackFlow Session",
				{"visitor": visitor},
				["click_ids", "landing_url", "started_at"],
				as_dict=True,
				order_by="started_at desc",
			)
			if visitor
			else None
		) or frappe._dict()
		click_ids = json.loads(session.click_ids) if session.click_ids else {}
		touch = (
			frappe.db.get_value(
				"Attribution Credit",
				{"conversion": row.name},
				["campaign", "source", "medium"],
				as_dict=True,
				order_by="credited_value desc",
			)
			or frappe._dict()
		)
		fbclid_at = (
			int(get_datetime(session.started_at).replace(tzinfo=tz).timestamp() * 1000)
			if click_ids.get("fbclid")
			else None
		)
		result[row.name] = ForwardedConversion(
			id=row.name,
			event_id=row.idempotency_key or row.name,
			conversion_type=row.conversion_type,
			occurred_at=get_datetime(row.occurred_at).replace(tzinfo=tz),
			value=Decimal(str(row.value)) if row.value else None,
			currency=row.currency,
			lead=lead.name,
			email=lead.email,
			phone=lead.mobile_no,
			first_name=lead.first_name,
			last_name=lead.last_name,
			page_url=session.landing_url,
			fbclid=click_ids.get("fbclid"),
			fbclid_at_ms=fbclid_at,
			visitor_id=visitor,
			web_seen=row.conversion_type in ("purchase", "signup", "form_submit") and bool(visitor),
			consent=visitor_row.consent or "unknown",
			consent_mode=consent_mode,
			campaign=touch.campaign,
			source=touch.source,
			medium=touch.medium,
		)
	return result


def send_test_conversion(destination: str) -> dict:
	"""A test event to one destination (Meta's test event code / GA4's validation endpoint when set)."""
	doc = frappe.get_doc("Conversion Destination", destination)
	engine_destination = doc.engine_destination(1)
	now = now_utc()
	test = ForwardedConversion(
		id=f"trackflow-test-{frappe.generate_hash(length=10)}",
		event_id=f"trackflow-test-{frappe.generate_hash(length=10)}",
		conversion_type=next(iter(engine_destination.event_names), "lead_created"),
		occurred_at=now,
		email="test@example.com",
		consent="granted",
		consent_mode="none",
	)
	with Sender() as sender:
		outcomes = sender.deliver(engine_destination, [test], {}, now)
	outcome = outcomes[0] if outcomes else None
	return {
		"destination": destination,
		"status": outcome.status if outcome else "not_sent",
		"http_status": outcome.http_status if outcome else None,
		"response": outcome.response_excerpt if outcome else "This destination sends no event for that type",
	}
