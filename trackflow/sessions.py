"""Website visits: the collect stream's sink. What the embed script sent (decoded and validated by
engine.collect, turned into rows by engine.sessions) becomes visitors, sessions, events, touchpoints and
identities, in bulk and idempotently; a landing session claims its /r/ click's touchpoint."""

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from zoneinfo import ZoneInfo

import frappe
from frappe.query_builder import CustomFunction
from frappe.utils import now_datetime
from pypika.terms import Case

from trackflow.bulk import STANDARD_FIELDS, insert_guest_rows, standard_values
from trackflow.engine import guest, sessions
from trackflow.engine import identity as identity_rules
from trackflow.engine.channels import classify_channel
from trackflow.engine.collect import decode_record
from trackflow.engine.conversions import check_conversion
from trackflow.engine.errors import ValidationError
from trackflow.engine.money import minor_units
from trackflow.error_log import log_failure
from trackflow.integrations.crm import lead_for_email
from trackflow.ledger import save_browser_conversions
from trackflow.scoring import enqueue_rescore
from trackflow.times import aware, local_datetime, site_tz

GREATEST = CustomFunction("GREATEST", ["a", "b"])


COALESCE = CustomFunction("COALESCE", ["a", "b"])


# A /r/ click is claimed by the first landing session that presents its id within this many seconds.
CLICK_CLAIM_SECONDS = 3600


def store_collected(records: list[dict]) -> None:
	"""Sink of the "collect" stream: visitors, sessions, events, touchpoints and identities, in bulk.

	A record that does not decode raises ValidationError: the queue sets it aside as a dead letter."""
	by_site: dict[str, list] = defaultdict(list)
	for record in records:
		batch, meta = decode_record(record)
		by_site[meta.get("site") or ""].append(batch)

	tz = site_tz()
	now = now_datetime()
	for site_name, batches in by_site.items():
		site = frappe.db.get_value(
			"TrackFlow Site",
			site_name,
			["name", "allowed_domains", "capture_ad_cookies", "verify_identity"],
			as_dict=True,
		)
		if not site:
			continue  # the site was deleted after the batch was accepted
		rows = sessions.build_rows(
			batches,
			internal_domains=site.allowed_domains.split(),
			classify=partial(classify_channel),
			ad_cookies=bool(site.capture_ad_cookies),
		)
		click_sessions = [
			s for s in rows.sessions if s.touch.kind == sessions.TOUCH_CLICK and s.touch.click_id
		]
		claimed = _claim_clicks(click_sessions, tz)
		campaigns = utm_campaigns(s.utm.get("campaign") for s in rows.sessions)
		store_visitors(rows.visitors, site.name, tz, now)
		_store_sessions(rows, claimed, campaigns, site.name, tz, now)
		_store_events(rows.events, site.name, tz, now)
		_count_page_views({e.session for e in rows.events if e.type == "pageview"})
		_store_pings(batches, site.name, tz, now)
		_store_touchpoints(rows, click_sessions, claimed, campaigns, tz, now)
		set_first_touch_channels(_first_channels(rows.sessions))
		_store_identities(rows.identities, site)
		_store_conversions(rows.conversions, tz)
		_rescore_leads({v.visitor for v in rows.visitors})


def _store_conversions(conversions, tz: ZoneInfo) -> None:
	"""A page's conversions (trackflow('conversion', ...)) become Conversions reported by the browser: the
	site's order id is the idempotency key (a reload converts once) and a CRM or server-side conversion of
	the same order supersedes it (ledger.save_browser_conversions: in bulk). The value is rounded to the currency's minor
	unit (a page's 0.1 + 0.2); one the conversion rules refuse (an unknown currency, a purchase without a
	value) is set aside with its reason in the Error Log, and the rest of the batch is stored."""
	if not conversions:
		return
	known = set(frappe.get_all("Currency", pluck="name"))
	default = frappe.db.get_default("currency") or "USD"
	visitor_leads = dict(
		frappe.get_all(
			"TrackFlow Visitor",
			{"name": ("in", sorted({c.visitor for c in conversions})), "crm_lead": ("is", "set")},
			["name", "crm_lead"],
			as_list=True,
		)
	)
	set_aside: list[tuple[str, str]] = []
	valid = []
	now = aware(now_datetime())
	for c in conversions:
		currency = c.currency or default
		try:
			if currency not in known:
				raise ValidationError(f"Unknown currency {currency}")
			value = None if c.value is None else c.value.quantize(Decimal(1).scaleb(-minor_units(currency)))
			occurred_at = local_datetime(c.ts, tz)
			check_conversion(c.conversion_type, value, currency, aware(occurred_at), now)
		except ValidationError as error:
			set_aside.append((c.event, str(error)))
			continue
		valid.append(
			{
				"conversion_type": c.conversion_type,
				"idempotency_key": c.idempotency_key,
				"occurred_at": occurred_at,
				"value": value,
				"currency": currency,
				"visitor": c.visitor,
				"crm_lead": visitor_leads.get(c.visitor),
				"source_name": c.event,
				"order_id": c.order_id,
			}
		)
	if valid:
		save_browser_conversions(valid)
	if set_aside:  # one entry per batch, however many a page sent
		try:
			raise frappe.ValidationError(
				f"{len(set_aside)} conversion(s) set aside; the first, event {set_aside[0][0]}: {set_aside[0][1]}"
			)
		except frappe.ValidationError as error:
			log_failure(
				"TrackFlow: a page's conversion was set aside", error, "TrackFlow Event", set_aside[0][0]
			)


def store_visitors(visitors, site: str, tz: ZoneInfo, now: datetime) -> None:
	fields = [*STANDARD_FIELDS, "site", "first_seen", "last_seen", "consent", "session_count"]
	rows = [
		[
			*standard_values(v.visitor, now),
			site,
			local_datetime(v.first_seen, tz),
			local_datetime(v.last_seen, tz),
			v.consent or "unknown",
			0,
		]
		for v in visitors
	]
	# A visitor seen before keeps first_seen; last_seen only moves forward; consent changes when told.
	update = "`last_seen` = GREATEST(COALESCE(`last_seen`, VALUES(`last_seen`)), VALUES(`last_seen`)), `modified` = VALUES(`modified`)"
	if any(v.consent for v in visitors):
		update += ", `consent` = IF(VALUES(`consent`) = 'unknown', `consent`, VALUES(`consent`))"
	insert_guest_rows("TrackFlow Visitor", fields, rows, on_duplicate=update)


def _store_sessions(
	rows, claimed: set[str], campaigns: dict[str, str], site: str, tz: ZoneInfo, now: datetime
) -> None:
	table = frappe.qb.DocType("TrackFlow Session")
	if rows.sessions:
		fields = [
			*STANDARD_FIELDS,
			"visitor",
			"site",
			"started_at",
			"ended_at",
			"channel",
			"campaign",
			"landing_url",
			"referrer",
			"click_event",
			"click_ids",
			"utm_source",
			"utm_medium",
			"utm_campaign",
			"utm_content",
			"utm_term",
		]
		values = [
			[
				*standard_values(s.session, now),
				s.visitor,
				site,
				local_datetime(s.started_at, tz),
				local_datetime(s.last_seen, tz),
				s.channel,
				campaigns.get((s.utm.get("campaign") or "").lower()),
				s.landing_url,
				s.referrer,
				s.touch.click_id if s.session in claimed else None,
				dict(s.click_ids) if s.click_ids else None,
				*(s.utm.get(k) for k in ("source", "medium", "campaign", "content", "term")),
			]
			for s in rows.sessions
		]
		insert_guest_rows("TrackFlow Session", fields, values)
		if claimed:  # a session that came through /r/ is the click's: its channel and campaign
			frappe.db.sql(
				"""UPDATE `tabTrackFlow Session` s JOIN `tabTouchpoint` t ON t.`name` = s.`click_event`
				SET s.`channel` = t.`channel`, s.`campaign` = COALESCE(t.`link_campaign`, s.`campaign`)
				WHERE s.`name` IN %(sessions)s""",
				{"sessions": sorted(claimed)},
			)
		new_visitors = defaultdict(int)
		for s in rows.sessions:
			new_visitors[s.visitor] += 1
		_count_sessions(new_visitors)
	if rows.session_updates:
		# One statement for every continued session of the batch: ended_at only moves forward.
		case = Case()
		for seen in rows.session_updates:
			case = case.when(
				table.name == seen.session,
				GREATEST(
					COALESCE(table.ended_at, local_datetime(seen.last_seen, tz)),
					local_datetime(seen.last_seen, tz),
				),
			)
		frappe.qb.update(table).set(table.ended_at, case.else_(table.ended_at)).where(
			table.name.isin([seen.session for seen in rows.session_updates])
		).run()


def _count_sessions(sessions_by_visitor: dict[str, int]) -> None:
	"""Recount (not increment: a replayed batch must not count twice) in one UPDATE ... JOIN statement."""
	if not sessions_by_visitor:
		return
	visitors = sorted(sessions_by_visitor)
	frappe.db.sql(
		"""UPDATE `tabTrackFlow Visitor` v JOIN (
			SELECT `visitor`, COUNT(*) AS n FROM `tabTrackFlow Session` WHERE `visitor` IN %(visitors)s GROUP BY `visitor`
		) s ON s.`visitor` = v.`name` SET v.`session_count` = s.n""",
		{"visitors": visitors},
	)


def _store_events(events, site: str, tz: ZoneInfo, now: datetime) -> None:
	if not events:
		return
	fields = [*STANDARD_FIELDS, "event_type", "event_name", "occurred_at", "visitor", "session", "site"]
	fields += ["url", "title", "properties"]
	values = [
		[
			*standard_values(e.event, now),
			e.type,
			e.name,
			local_datetime(e.ts, tz),
			e.visitor,
			e.session,
			site,
			e.url,
			e.title,
			dict(e.props) if e.props else None,
		]
		for e in events
	]
	insert_guest_rows("TrackFlow Event", fields, values)


def _store_pings(batches, site: str, tz: ZoneInfo, now: datetime) -> None:
	"""Cookieless page counts (opt-in sites before consent): stored as anonymous TrackFlow Events named
	after their event id, so a replay counts nothing twice; they carry no visitor, no query string and
	only the referrer's origin."""
	pings = [(e, b) for b in batches if b.visitor is None for e in b.events if e.type == "ping"]
	if not pings:
		return
	fields = [*STANDARD_FIELDS, "event_type", "occurred_at", "site", "url", "properties"]
	values = [
		[
			*standard_values(e.id, now),
			"ping",
			local_datetime(e.ts, tz),
			site,
			e.url,
			{"ref": e.ref} if e.ref else None,
		]
		for e, _batch in pings
	]
	insert_guest_rows("TrackFlow Event", fields, values)


def _store_touchpoints(
	rows, click_sessions: list, claimed: set[str], campaigns: dict[str, str], tz: ZoneInfo, now: datetime
) -> None:
	"""Every session becomes a Touchpoint named after the session (so a replay adds none): a marketing
	source, or a direct touch; one tagged with a Link Campaign's UTM campaign belongs to that campaign. A session that came through /r/ claims the click's touchpoint instead, if it is the first to
	present that click id within CLICK_CLAIM_SECONDS of the click; a later presenter (a forwarded link, a
	replayed or forged id) gets a touchpoint of its own from its landing URL and moves nothing."""
	touchpoints = list(rows.touchpoints)
	touchpoints += [
		sessions.TouchpointRow(
			s.session,
			s.visitor,
			s.site,
			s.started_at,
			s.channel,
			s.touch.source or s.touch.referrer_host,
			s.touch.medium,
			s.touch.campaign,
			s.touch.content,
			s.touch.term,
			s.touch.referrer_host,
			s.landing_url,
			s.click_ids,
		)
		for s in click_sessions
		if s.session not in claimed and (s.touch.source or s.touch.referrer_host)
	]
	if not touchpoints:
		return
	fields = [*STANDARD_FIELDS, "occurred_at", "touch_type", "channel", "visitor", "session"]
	fields += ["source", "medium", "campaign_name", "content", "term", "referrer", "link_campaign"]
	values = [
		[
			*standard_values(t.session, now),
			local_datetime(t.ts, tz),
			"session",
			t.channel or "other",
			t.visitor,
			t.session,
			t.source,
			t.medium,
			t.campaign,
			t.content,
			t.term,
			t.referrer_host,
			campaigns.get((t.campaign or "").lower()),
		]
		for t in touchpoints
	]
	insert_guest_rows("Touchpoint", fields, values)


def utm_campaigns(names) -> dict[str, str]:
	"""{utm campaign in lower case: Link Campaign} for the sessions' UTM campaigns: a visit tagged
	utm_campaign=spring26 without a tracked link belongs to the campaign whose UTM campaign is spring26
	(the oldest, if several share it)."""
	wanted = sorted({name.lower() for name in names if name})
	if not wanted:
		return {}
	found: dict[str, str] = {}
	for name, utm in frappe.get_all(
		"Link Campaign",
		{"utm_campaign": ("in", wanted)},
		["name", "utm_campaign"],
		order_by="creation asc",
		as_list=True,
	):
		found.setdefault(utm.lower(), name)
	return found


def _count_page_views(sessions_with_views: set[str]) -> None:
	"""Recount (a replayed batch must not count twice) the sessions' page views in one statement."""
	if not sessions_with_views:
		return
	frappe.db.sql(
		"""UPDATE `tabTrackFlow Session` s JOIN (
			SELECT `session`, COUNT(*) AS n FROM `tabTrackFlow Event`
			WHERE `session` IN %(sessions)s AND `event_type` = 'pageview' GROUP BY `session`
		) e ON e.`session` = s.`name` SET s.`page_views` = e.n""",
		{"sessions": sorted(sessions_with_views)},
	)


def _first_channels(session_rows) -> dict[str, str]:
	"""{visitor: channel of its earliest session in the batch}."""
	first: dict[str, tuple] = {}
	for s in session_rows:
		if s.channel and (s.visitor not in first or s.started_at < first[s.visitor][0]):
			first[s.visitor] = (s.started_at, s.channel)
	return {visitor: channel for visitor, (_ts, channel) in first.items()}


def set_first_touch_channels(channels: dict[str, str]) -> None:
	"""A visitor's first-touch channel, written once (the first batch that knows it; later ones keep it)."""
	if not channels:
		return
	visitor = frappe.qb.DocType("TrackFlow Visitor")
	by_channel: dict[str, list[str]] = defaultdict(list)
	for name, channel in channels.items():
		by_channel[channel].append(name)
	for channel, names in by_channel.items():  # one statement per channel (a CASE would cost per row)
		frappe.qb.update(visitor).set(visitor.first_touch_channel, channel).where(
			visitor.name.isin(sorted(names))
			& (visitor.first_touch_channel.isnull() | (visitor.first_touch_channel == ""))
		).run()


def _claim_clicks(click_sessions: list, tz: ZoneInfo) -> set[str]:
	"""Attach each click's touchpoint (named after the click id) to the first session that presents it
	within the claim window; returns the sessions that hold their click (a replayed batch holds it still)."""
	if not click_sessions:
		return set()
	touchpoint = frappe.qb.DocType("Touchpoint")
	for s in click_sessions:
		started = local_datetime(s.started_at, tz)
		frappe.qb.update(touchpoint).set(touchpoint.visitor, s.visitor).set(
			touchpoint.session, s.session
		).where(
			(touchpoint.name == s.touch.click_id)
			& touchpoint.session.isnull()
			& (touchpoint.touch_type == "click")
			& (touchpoint.occurred_at >= started - timedelta(seconds=CLICK_CLAIM_SECONDS))
			& (touchpoint.occurred_at <= started + timedelta(seconds=60))
		).run()
	holders = dict(
		frappe.qb.from_(touchpoint)
		.select(touchpoint.name, touchpoint.session)
		.where(touchpoint.name.isin(sorted({s.touch.click_id for s in click_sessions})))
		.run()
	)
	return {s.session for s in click_sessions if holders.get(s.touch.click_id) == s.session}


def _rescore_leads(visitors: set[str]) -> None:
	"""New page views or events of identified visitors: their leads' scores change (debounced per lead)."""
	if not visitors:
		return
	leads = frappe.get_all(
		"TrackFlow Visitor",
		filters={"name": ("in", sorted(visitors)), "crm_lead": ("is", "set")},
		pluck="crm_lead",
	)
	for lead in set(leads):
		enqueue_rescore(lead)


def _store_identities(identities, site) -> None:
	"""identify() and captured forms give an email: remember it on the visitor and, when the claim is
	verified (engine.identity: signed with the site's secret, or the site does not require signing), link
	the CRM Lead that has it. An unverified claim is kept and may link only a lead created after it (see
	`trackflow.integrations.crm.stitch_visitors`); an existing link is never moved."""
	if not any(identity.email for identity in identities):
		return
	visitor = frappe.qb.DocType("TrackFlow Visitor")
	email_column = guest.COLUMNS["TrackFlow Visitor"]["email"]
	secret = frappe.get_doc("TrackFlow Site", site.name).get_password(
		"identity_secret", raise_exception=False
	)
	tz = site_tz()
	for identity in identities:
		if not identity.email:
			continue
		email = guest.fit_value(email_column, identity.email, "TrackFlow Visitor.email")
		signed = identity.source == "identify" and identity_rules.verify(secret, email, identity.signature)
		verified = signed or not site.verify_identity
		source = (
			"signed identify"
			if signed
			else ("unverified identify" if identity.source == "identify" else "form")
		)
		claimed_at = local_datetime(identity.ts, tz)
		update = (
			frappe.qb.update(visitor)
			.set(visitor.identified_at, COALESCE(visitor.identified_at, claimed_at))
			.where(visitor.name == identity.visitor)
		)
		if verified:
			lead = (lead_for_email(email) or {}).get("name")
			update = (
				update.set(visitor.email, email)
				.set(visitor.identity_verified, 1)
				.set(visitor.identity_source, source)
				.set(visitor.crm_lead, COALESCE(visitor.crm_lead, lead))
			)
		else:
			# A claim never overwrites a verified identity, and links only a lead created after it.
			lead = _lead_created_after_claim(email, identity.visitor, claimed_at)
			update = (
				update.set(
					visitor.email, Case().when(visitor.identity_verified == 1, visitor.email).else_(email)
				)
				.set(
					visitor.identity_source,
					Case().when(visitor.identity_verified == 1, visitor.identity_source).else_(source),
				)
				.set(visitor.crm_lead, COALESCE(visitor.crm_lead, lead))
			)
		update.run()


def _lead_created_after_claim(email: str, visitor: str, claimed_at: datetime) -> str | None:
	"""The lead an unverified claim may link: one created within the claim window after the claim, when no
	lead had the email before it and no other visitor claimed the email first (engine.identity)."""
	lead = lead_for_email(email)
	if not lead:
		return None
	tz = site_tz()
	claims = [
		identity_rules.Claim(row.name, email, row.identified_at.replace(tzinfo=tz).timestamp())
		for row in frappe.get_all(
			"TrackFlow Visitor",
			{"email": email, "identified_at": ("is", "set"), "name": ("!=", visitor)},
			["name", "identified_at"],
		)
	]
	claim = identity_rules.Claim(visitor, email, claimed_at.replace(tzinfo=tz).timestamp())
	created = lead.creation.replace(tzinfo=tz).timestamp()
	return lead.name if identity_rules.claim_may_link(claim, created, claims) else None
