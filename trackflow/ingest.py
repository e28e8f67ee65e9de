"""Server-side events: the "events" stream's sink. What a backend sent to `track_event` (checked by
engine.ingest) becomes touchpoints, page events and conversions, idempotently (a row is named after its
event id), attributed like every other touch. The caller was authenticated, so the identities it gives
are verified: a visitor it names with a lead or an email is linked to that lead."""

import hashlib
from datetime import datetime

import frappe
from frappe.query_builder import CustomFunction

from trackflow.bulk import STANDARD_FIELDS, insert_guest_rows, standard_values
from trackflow.engine import sessions as visits
from trackflow.engine.ingest import ServerEvent, decimal_value
from trackflow.integrations.crm import lead_for_email
from trackflow.ledger import SERVER, save_conversion
from trackflow.scoring import enqueue_rescore
from trackflow.sessions import store_visitors, utm_campaigns
from trackflow.times import local_datetime, site_tz

COALESCE = CustomFunction("COALESCE", ["a", "b"])


def store_server_events(records: list[dict], touch_type: str = "offline") -> None:
	"""Sink of the "events" stream (and of `bench trackflow import-touchpoints`, whose touches are of type
	"import"). A record that is not a server event, or names a lead or deal that does not exist, raises
	ValidationError: the queue sets it aside with the reason."""
	events = [ServerEvent.decode(record) for record in records]
	tz, now = site_tz(), frappe.utils.now_datetime()
	leads = _resolve_leads(events)
	visitors = _visitors(events, leads, tz, now)
	campaigns = utm_campaigns(e.campaign for e in events if e.type == "touch")
	_store_touches([e for e in events if e.type == "touch"], leads, visitors, campaigns, tz, now, touch_type)
	_store_page_events([e for e in events if e.type in ("pageview", "event")], visitors, tz, now)
	for event in events:
		if event.type == "conversion":
			save_conversion(
				event.conversion_type,
				f"api:{event.event_id}",
				occurred_at=local_datetime(int(event.ts * 1000), tz),
				value=decimal_value(event),
				currency=event.currency,
				crm_lead=leads.get(event.event_id),
				crm_deal=event.deal,
				visitor=visitors.get(event.event_id),
				reported_by=SERVER,
				order_id=event.order_id,
			)
	for lead in {lead for lead in leads.values() if lead}:
		enqueue_rescore(lead)


def _resolve_leads(events: list[ServerEvent]) -> dict[str, str | None]:
	"""{event id: its CRM Lead}: the lead given, the deal's lead, or the lead with the email."""
	leads: dict[str, str | None] = {}
	for event in events:
		lead = event.lead
		if lead and not frappe.db.exists("CRM Lead", lead):
			raise frappe.ValidationError(f"event {event.event_id}: CRM Lead {lead} does not exist")
		if event.deal:
			deal_lead = frappe.db.get_value("CRM Deal", event.deal, "lead")
			if deal_lead is None and not frappe.db.exists("CRM Deal", event.deal):
				raise frappe.ValidationError(f"event {event.event_id}: CRM Deal {event.deal} does not exist")
			lead = lead or deal_lead
		if not lead and event.email:
			lead = (lead_for_email(event.email) or {}).get("name")
		leads[event.event_id] = lead
	return leads


def lead_visitor(lead: str) -> str:
	"""The visitor id standing for a lead's server-side activity (no browser): fixed per lead."""
	return hashlib.blake2b(f"lead:{lead}".encode(), digest_size=16).hexdigest()


def _visitors(events: list[ServerEvent], leads: dict, tz, now: datetime) -> dict[str, str | None]:
	"""{event id: its TrackFlow Visitor}, created when new; a visitor named with a lead is linked to it
	(verified: the caller is authenticated). Page events about a lead alone get the lead's own visitor."""
	chosen: dict[str, str | None] = {}
	seen: dict[str, tuple[int, int]] = {}
	links: dict[str, str] = {}
	for event in events:
		lead = leads.get(event.event_id)
		visitor = event.visitor or (
			lead_visitor(lead) if lead and event.type in ("pageview", "event") else None
		)
		chosen[event.event_id] = visitor
		if visitor:
			ms = int(event.ts * 1000)
			first, last = seen.get(visitor, (ms, ms))
			seen[visitor] = (min(first, ms), max(last, ms))
			if lead:
				links.setdefault(visitor, lead)
	if seen:
		store_visitors(
			[visits.VisitorRow(v, None, first, last, None) for v, (first, last) in seen.items()],
			None,
			tz,
			now,
		)
	table = frappe.qb.DocType("TrackFlow Visitor")
	for visitor, lead in links.items():  # an existing link is never moved
		frappe.qb.update(table).set(table.crm_lead, COALESCE(table.crm_lead, lead)).set(
			table.identity_verified, 1
		).set(table.identity_source, "server").where(table.name == visitor).run()
	return chosen


def _store_touches(touches, leads, visitors, campaigns, tz, now, touch_type: str) -> None:
	if not touches:
		return
	fields = [*STANDARD_FIELDS, "occurred_at", "touch_type", "channel", "visitor", "crm_lead", "crm_deal"]
	fields += ["source", "medium", "campaign_name", "content", "term", "link_campaign"]
	values = [
		[
			*standard_values(e.key, now),
			local_datetime(int(e.ts * 1000), tz),
			touch_type,
			e.channel,
			visitors.get(e.event_id),
			leads.get(e.event_id),
			e.deal,
			e.source,
			e.medium,
			e.campaign,
			e.content,
			e.term,
			campaigns.get((e.campaign or "").lower())
			or (e.campaign if e.campaign and frappe.db.exists("Link Campaign", e.campaign) else None),
		]
		for e in touches
	]
	insert_guest_rows("Touchpoint", fields, values)


def _store_page_events(events, visitors, tz, now) -> None:
	if not events:
		return
	fields = [*STANDARD_FIELDS, "event_type", "event_name", "occurred_at", "visitor", "url", "properties"]
	values = [
		[
			*standard_values(e.key, now),
			e.type,
			e.name,
			local_datetime(int(e.ts * 1000), tz),
			visitors.get(e.event_id),
			e.url,
			e.properties or None,
		]
		for e in events
	]
	insert_guest_rows("TrackFlow Event", fields, values)
