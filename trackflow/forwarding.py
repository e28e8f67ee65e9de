"""Server-to-server conversions for the ad platforms: one Conversion Delivery per conversion and enabled
destination, sent in batches by a scheduled job. Payloads, consent, ages, batching and retries are the
engine's (trackflow.engine.forwarding); this module reads the rows and writes the outcomes."""

import json
from collections import defaultdict
from dataclasses import replace
from datetime import datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import frappe
from frappe.utils import get_datetime, get_system_timezone, now_datetime

from trackflow.engine.forwarding.plan import outcome_without_sending
from trackflow.engine.forwarding.sender import Sender
from trackflow.engine.forwarding.types import (
	DISABLED,
	META,
	STAGE_ORDER,
	DeliveryOutcome,
	ForwardedConversion,
)
from trackflow.engine.privacy import person_consent
from trackflow.error_log import log_failure
from trackflow.settings import get_settings
from trackflow.times import aware, site_tz, stored, utc_now
from trackflow.trackflow.doctype.conversion_destination.conversion_destination import allow_custom_base_url

# Deliveries read per run; the rest wait for the next run (every 5 minutes).
SEND_BATCH = 10_000
RUN_LOCK_SECONDS = 15 * 60
EXCERPT_LIMIT = 2000


def max_attempts() -> int:
	"""Attempts a delivery gets in all before it is marked failed (TrackFlow Settings)."""
	return get_settings().forwarding_max_attempts


def queue_deliveries(conversion_name: str) -> list[str]:
	"""The job enqueued after a conversion commits: one delivery per enabled destination that takes its
	type, queued or settled at once by the engine (consent, age). Idempotent: a second call finds the rows
	and creates nothing; a concurrent one hits the unique (conversion, destination) index."""
	destinations = [
		frappe.get_doc("Conversion Destination", name)
		for name in frappe.get_all("Conversion Destination", {"enabled": 1}, pluck="name", order_by="name")
	]
	if not destinations:
		return []
	forwarded = forwarded_conversions([conversion_name]).get(conversion_name)
	if not forwarded:  # deleted or voided before the job ran
		return []
	existing = set(
		frappe.get_all("Conversion Delivery", {"conversion": conversion_name}, pluck="destination")
	)
	made = []
	now = utc_now()
	for doc in destinations:
		if doc.name in existing:
			continue
		destination = doc.engine_destination(max_attempts())
		event_name = destination.event_name(forwarded.conversion_type)
		if not event_name:
			continue
		settled = outcome_without_sending(forwarded, destination, now)
		try:
			frappe.get_doc(
				{
					"doctype": "Conversion Delivery",
					"conversion": conversion_name,
					"destination": doc.name,
					"event_name": event_name,
					"status": settled.status if settled else "queued",
					"response_excerpt": settled.response_excerpt if settled else None,
					"next_attempt_at": None if settled else now_datetime(),
				}
			).insert(ignore_permissions=True)
		except (frappe.DuplicateEntryError, frappe.UniqueValidationError):
			continue  # another job made it between the check and the insert
		made.append(doc.name)
	return made


def send_due_deliveries() -> dict[str, int]:
	"""Scheduled every 5 minutes: send every queued or retrying delivery that is due, grouped per
	destination (stage order per lead, the platform's batch sizes), over one HTTP session for the run.
	One run at a time per site (a Redis lock), so a slow run and the next never send the same rows."""
	lock = frappe.cache.make_key("trackflow:forwarding:send-lock")
	if not frappe.cache.set(lock, frappe.local.site, nx=True, ex=RUN_LOCK_SECONDS):
		return {}
	try:
		return _send_due()
	finally:
		frappe.cache.delete(lock)


def _send_due() -> dict[str, int]:
	delivery = frappe.qb.DocType("Conversion Delivery")
	due = (
		frappe.qb.from_(delivery)
		.select(delivery.name, delivery.conversion, delivery.destination, delivery.attempts)
		.where(delivery.status.isin(["queued", "retrying"]))
		.where(delivery.next_attempt_at.isnull() | (delivery.next_attempt_at <= now_datetime()))
		.orderby(delivery.next_attempt_at)
		.limit(SEND_BATCH)
		.run(as_dict=True)
	)
	by_destination: dict[str, list] = defaultdict(list)
	for row in due:
		by_destination[row.destination].append(row)
	counts: dict[str, int] = defaultdict(int)
	forwarded = forwarded_conversions(list({row.conversion for row in due})) if due else {}
	with Sender() as sender:
		for destination_name, rows in by_destination.items():
			delivery_of = {row.conversion: row.name for row in rows}
			attempts = {row.conversion: row.attempts or 0 for row in rows}
			sendable = [forwarded[row.conversion] for row in rows if row.conversion in forwarded]
			destination = None
			try:  # one destination's failure (even a missing one) never stops the others
				destination = frappe.get_doc("Conversion Destination", destination_name).engine_destination(
					max_attempts()
				)
				outcomes = sender.deliver(destination, sendable, attempts, utc_now())
			except Exception as error:
				frappe.db.rollback()
				log_failure(
					f"TrackFlow: sending to {destination_name} failed",
					error,
					"Conversion Destination",
					destination_name,
					secrets=destination.secrets if destination else (),
				)
				continue
			answered = {outcome.conversion_id for outcome in outcomes}
			# Voided or deleted conversions, and types the destination stopped taking, are not sent.
			outcomes += [
				DeliveryOutcome(
					conversion,
					DISABLED,
					attempts=attempts[conversion],
					response_excerpt="The conversion was voided or deleted"
					if conversion not in forwarded
					else f"{destination_name} no longer sends {forwarded[conversion].conversion_type}",
				)
				for conversion in delivery_of
				if conversion not in answered
			]
			write_outcomes(delivery_of, outcomes)
			for outcome in outcomes:
				counts[outcome.status] += 1
			if not frappe.flags.in_test:
				frappe.db.commit()  # what was sent is recorded before the next destination is tried
	return dict(counts)


def write_outcomes(delivery_of: dict[str, str], outcomes: list[DeliveryOutcome]) -> None:
	"""One UPDATE per distinct outcome (a batch shares its status, answer and times)."""
	groups: dict[tuple, list[str]] = defaultdict(list)
	for outcome in outcomes:
		values = (
			outcome.status,
			outcome.attempts,
			outcome.http_status or 0,  # an Int column: 0 when no HTTP answer came (timeout, not sent)
			(outcome.response_excerpt or "")[:EXCERPT_LIMIT],
			stored(outcome.next_attempt_at),
			stored(outcome.sent_at),
		)
		groups[values].append(delivery_of[outcome.conversion_id])
	delivery = frappe.qb.DocType("Conversion Delivery")
	modified = now_datetime()
	for (status, attempts, http_status, excerpt, next_attempt_at, sent_at), names in groups.items():
		(
			frappe.qb.update(delivery)
			.set(delivery.status, status)
			.set(delivery.attempts, attempts)
			.set(delivery.http_status, http_status)
			.set(delivery.response_excerpt, excerpt)
			.set(delivery.next_attempt_at, next_attempt_at)
			.set(delivery.sent_at, sent_at)
			.set(delivery.modified, modified)
			.where(delivery.name.isin(names))
			.run()
		)


def forwarded_conversions(names: list[str]) -> dict[str, ForwardedConversion]:
	"""Conversions (not voided) with what the platforms can match on: the lead's contact data, the visitor's
	consent and site, the latest session's ad click ids, page and browser, and the credited touch's
	campaign/source/medium under the default model. A fixed number of queries for any number of names."""
	conversions = frappe.get_all(
		"Conversion",
		filters={"name": ("in", names), "status": ("!=", "void")},
		fields=[
			"name", "idempotency_key", "conversion_type", "occurred_at", "value", "currency",
			"crm_lead", "visitor",
		],
	)  # fmt: skip
	if not conversions:
		return {}
	lead_names = list({c.crm_lead for c in conversions if c.crm_lead})
	leads = {
		lead.name: lead
		for lead in frappe.get_all(
			"CRM Lead",
			filters={"name": ("in", lead_names)},
			fields=["name", "email", "first_name", "last_name", "mobile_no", "phone"],
		)
	} if lead_names else {}  # fmt: skip
	visitors = _visitors(conversions, lead_names)
	sessions = _latest_sessions([v.name for v in visitors.values()])
	sites = {
		site.name: site
		for site in frappe.get_all(
			"TrackFlow Site",
			filters={"name": ("in", list({v.site for v in visitors.values() if v.site}))},
			fields=["name", "consent_mode", "capture_ad_cookies"],
		)
	}
	touches = _credited_touches([c.name for c in conversions])
	settings = get_settings()
	result = {}
	for c in conversions:
		lead = leads.get(c.crm_lead) or frappe._dict()
		visitor = visitors.get(c.name) or frappe._dict()
		session = sessions.get(visitor.name) or frappe._dict()
		site = sites.get(visitor.site) or frappe._dict()
		touch = touches.get(c.name) or frappe._dict()
		click_ids = session.click_ids or {}
		# Consent modes govern the website's tracking: a CRM-only conversion (no visitor) is not under one,
		# and goes out with hashed contact data only where the destination allows it (the engine decides).
		consent_mode = (site.consent_mode or settings.consent_mode or "none") if visitor.name else "none"
		result[c.name] = ForwardedConversion(
			id=c.name,
			event_id=c.idempotency_key or c.name,
			conversion_type=c.conversion_type,
			occurred_at=aware(c.occurred_at),
			value=Decimal(str(c.value)) if c.value else None,
			currency=c.currency or None,
			lead=c.crm_lead or None,
			email=lead.email or None,
			phone=lead.mobile_no or lead.phone or None,
			first_name=lead.first_name or None,
			last_name=lead.last_name or None,
			client_ip=session.ip_prefix or None,
			user_agent=session.user_agent or None,
			page_url=session.landing_url or None,
			fbclid=click_ids.get("fbclid"),
			fbclid_at_ms=int(aware(session.started_at).timestamp() * 1000)
			if click_ids.get("fbclid") and session.started_at
			else None,
			fbp=(click_ids.get("_fbp") or None) if site.capture_ad_cookies else None,
			ga_client_id=(click_ids.get("_ga") or None) if site.capture_ad_cookies else None,
			visitor_id=visitor.name or None,
			web_seen=bool(visitor.name) and c.conversion_type not in STAGE_ORDER,
			consent=visitor.person_consent or "unknown",
			consent_mode=consent_mode,
			campaign=touch.campaign or None,
			source=touch.source or None,
			medium=touch.medium or None,
		)
	return result


def _visitors(conversions: list, lead_names: list[str]) -> dict[str, frappe._dict]:
	"""Each conversion's visitor (its own, else the lead's most recently seen one), with `person_consent`:
	the most restrictive consent among the conversion's visitor and all of its lead's visitors."""
	named = list({c.visitor for c in conversions if c.visitor})
	fields = ["name", "consent", "site", "crm_lead", "last_seen"]
	by_name = {
		v.name: v for v in frappe.get_all("TrackFlow Visitor", {"name": ("in", named)}, fields)
	} if named else {}  # fmt: skip
	by_lead: dict[str, frappe._dict] = {}
	consents: dict[str, list[str]] = defaultdict(list)
	if lead_names:
		for v in frappe.get_all(
			"TrackFlow Visitor", {"crm_lead": ("in", lead_names)}, fields, order_by="last_seen asc"
		):
			by_lead[v.crm_lead] = v  # the last one wins: the most recently seen
			consents[v.crm_lead].append(v.consent)
	result = {}
	for c in conversions:
		chosen = by_name.get(c.visitor) or by_lead.get(c.crm_lead)
		if chosen:
			states = consents.get(c.crm_lead, []) + (
				[by_name[c.visitor].consent] if c.visitor in by_name else []
			)
			result[c.name] = frappe._dict(chosen, person_consent=person_consent(states))
	return result


def _latest_sessions(visitor_names: list[str]) -> dict[str, frappe._dict]:
	"""Per visitor: the latest session's page and browser (its click's truncated IP and user agent), and
	the latest click ids seen (an fbclid from an earlier visit still identifies the ad click)."""
	if not visitor_names:
		return {}
	session = frappe.qb.DocType("TrackFlow Session")
	click = frappe.qb.DocType("Click Event")
	rows = (
		frappe.qb.from_(session)
		.left_join(click)
		.on(click.name == session.click_event)
		.select(
			session.visitor,
			session.started_at,
			session.landing_url,
			session.click_ids,
			click.ip_prefix,
			click.user_agent,
		)
		.where(session.visitor.isin(visitor_names))
		.orderby(session.started_at)
		.run(as_dict=True)
	)
	latest: dict[str, frappe._dict] = {}
	for row in rows:  # oldest first: later sessions overwrite
		ids = _json_object(row.click_ids)
		known = latest.get(row.visitor) or frappe._dict(click_ids={})
		merged = {**known.click_ids, **ids}
		latest[row.visitor] = frappe._dict(
			started_at=row.started_at if ids.get("fbclid") else known.started_at,
			landing_url=row.landing_url or known.landing_url,
			ip_prefix=row.ip_prefix or known.ip_prefix,
			user_agent=row.user_agent or known.user_agent,
			click_ids=merged,
		)
	return latest


def _json_object(value) -> dict:
	try:
		parsed = json.loads(value) if value else {}
	except ValueError:
		return {}
	return parsed if isinstance(parsed, dict) else {}


def _credited_touches(conversion_names: list[str]) -> dict[str, frappe._dict]:
	"""The touch with the largest weight under the default model, per conversion."""
	model = get_settings().default_attribution_model
	if not model:
		return {}
	best: dict[str, frappe._dict] = {}
	for row in frappe.get_all(
		"Attribution Credit",
		filters={"conversion": ("in", conversion_names), "attribution_model": model},
		fields=["conversion", "campaign", "source", "medium", "weight"],
		order_by="weight asc, touched_at asc",
	):
		best[row.conversion] = row  # the last one wins: the largest weight (latest touch on a tie)
	return best


def send_test_conversion(destination: str) -> dict:
	"""Send one made-up conversion to a destination, at once and once (no retry): with Meta's test event
	code, or to GA4's validation endpoint, when the destination sets them. Returns the platform's answer,
	already redacted by the engine."""
	doc = frappe.get_doc("Conversion Destination", destination)
	engine_destination = doc.engine_destination(max_attempts=1)
	conversion_type = next(iter(engine_destination.event_names), None) or "lead_created"
	token = frappe.generate_hash(length=12)
	now = utc_now()
	test = ForwardedConversion(
		id=f"trackflow-test-{token}",
		event_id=f"trackflow-test-{token}",
		conversion_type=conversion_type,
		occurred_at=now,
		lead=f"trackflow-test-{token}",
		email="test@example.com",
		client_ip="203.0.113.0",
		user_agent="TrackFlow test event",
		visitor_id=f"trackflow-test-{token}",
		consent="granted",
	)
	with Sender() as sender:
		# An enabled check belongs to real deliveries: testing a destination before enabling it is the point.
		outcomes = sender.deliver(replace(engine_destination, enabled=True), [test], {}, now)
	outcome = outcomes[0] if outcomes else None
	if engine_destination.platform == META:
		mode = "test event code" if engine_destination.meta_test_event_code else "live (no test event code)"
	else:
		mode = "validation" if engine_destination.ga4_validation_mode else "live (validation mode off)"
	return {
		"destination": destination,
		"platform": engine_destination.platform,
		"mode": mode,
		"event_name": outcome.event_name if outcome else None,
		"status": outcome.status if outcome else "not_sent",
		"http_status": outcome.http_status if outcome else None,
		# Another host's answer is echoed only where stand-ins are allowed (developer mode or the site config
		# key): the server must not become a way to read other hosts.
		"response": (
			(
				outcome.response_excerpt
				if engine_destination.on_platform_host or allow_custom_base_url()
				else "(answer of a non-platform host)"
			)
			if outcome
			else f"{destination} sends no {conversion_type}"
		),
	}
