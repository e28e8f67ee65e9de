"""The drain's database side: the sinks that store a batch of queue records, idempotently and in bulk.

RedisQueue (engine) hands a sink one batch; the sink writes it in the job's transaction and commits, and
only then does the queue forget the batch. A replayed batch (a worker died after the commit and before
the queue was told) writes nothing twice: every row is named after its record's unique id and inserted
with INSERT IGNORE, and counters are incremented only for rows that were not there before.
"""

import secrets
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

import frappe
from frappe.query_builder import CustomFunction
from frappe.utils import get_system_timezone, now_datetime
from pypika.terms import Case

from trackflow.bulk import insert_rows, update_by_name
from trackflow.engine import bots, guest, rollup, sessions
from trackflow.engine import identity as identity_rules
from trackflow.engine.channels import classify_channel
from trackflow.engine.collect import decode_record

GREATEST = CustomFunction("GREATEST", ["a", "b"])
COALESCE = CustomFunction("COALESCE", ["a", "b"])


def local_datetime(epoch_ms: int, tz: ZoneInfo) -> datetime:
	"""A browser's epoch milliseconds as the naive system-timezone datetime Frappe stores."""
	return datetime.fromtimestamp(epoch_ms / 1000, tz).replace(tzinfo=None)


def standard_values(name: str, now: datetime) -> list:
	return [name, now, now, "Guest", "Guest"]


STANDARD_FIELDS = ["name", "creation", "modified", "owner", "modified_by"]
# A /r/ click is claimed by the first landing session that presents its id within this many seconds.
CLICK_CLAIM_SECONDS = 3600


def insert_guest_rows(doctype: str, fields: list[str], rows: list[list], **options) -> None:
	"""insert_rows for rows that carry guest data: every value passes the guest boundary first (inert,
	fitted to its column), so nothing a stranger sent can run in the desk or overflow a column."""
	insert_rows(doctype, fields, guest.fit_rows(doctype, fields, rows), **options)


def store_collected(records: list[dict]) -> None:
	"""Sink of the "collect" stream: visitors, sessions, events, touchpoints and identities, in bulk.

	A record that does not decode raises ValidationError: the queue sets it aside as a dead letter."""
	by_site: dict[str, list] = defaultdict(list)
	for record in records:
		batch, meta = decode_record(record)
		by_site[meta.get("site") or ""].append(batch)

	tz = ZoneInfo(get_system_timezone())
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
		_store_visitors(rows.visitors, site.name, tz, now)
		_store_sessions(rows, claimed, site.name, tz, now)
		_store_events(rows.events, site.name, tz, now)
		_store_pings(batches, site.name, tz, now)
		_store_touchpoints(rows, click_sessions, claimed, tz, now)
		_store_identities(rows.identities, site)
		_rescore_leads({v.visitor for v in rows.visitors})


def _store_visitors(visitors, site: str, tz: ZoneInfo, now: datetime) -> None:
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


def _store_sessions(rows, claimed: set[str], site: str, tz: ZoneInfo, now: datetime) -> None:
	table = frappe.qb.DocType("TrackFlow Session")
	if rows.sessions:
		fields = [
			*STANDARD_FIELDS,
			"visitor",
			"site",
			"started_at",
			"ended_at",
			"channel",
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
				s.landing_url,
				s.referrer,
				s.touch.click_id if s.session in claimed else None,
				dict(s.click_ids) if s.click_ids else None,
				*(s.utm.get(k) for k in ("source", "medium", "campaign", "content", "term")),
			]
			for s in rows.sessions
		]
		insert_guest_rows("TrackFlow Session", fields, values)
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


def _store_touchpoints(rows, click_sessions: list, claimed: set[str], tz: ZoneInfo, now: datetime) -> None:
	"""A session with a marketing source becomes a Touchpoint named after the session (so a replay adds
	none). A session that came through /r/ claims the click's touchpoint instead, if it is the first to
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
	fields += ["source", "medium", "campaign_name", "content", "term", "referrer"]
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
		]
		for t in touchpoints
	]
	insert_guest_rows("Touchpoint", fields, values)


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
	from trackflow.maintenance import enqueue_rescore

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
	tz = ZoneInfo(get_system_timezone())
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
			lead = frappe.db.get_value("CRM Lead", {"email": email}, "name", order_by="creation asc")
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
	leads = frappe.get_all(
		"CRM Lead", {"email": email}, ["name", "creation"], order_by="creation asc", limit=1
	)
	if not leads:
		return None
	tz = ZoneInfo(get_system_timezone())
	claims = [
		identity_rules.Claim(row.name, email, row.identified_at.replace(tzinfo=tz).timestamp())
		for row in frappe.get_all(
			"TrackFlow Visitor",
			{"email": email, "identified_at": ("is", "set"), "name": ("!=", visitor)},
			["name", "identified_at"],
		)
	]
	claim = identity_rules.Claim(visitor, email, claimed_at.replace(tzinfo=tz).timestamp())
	created = leads[0].creation.replace(tzinfo=tz).timestamp()
	return leads[0].name if identity_rules.claim_may_link(claim, created, claims) else None


def store_clicks(records: list[dict], parse_agents: bool = True) -> None:
	"""Sink of the "clicks" stream: Click Event rows, a Touchpoint per human click, and the counters of
	links, variants and campaigns, incremented only by clicks this call actually inserted.

	`parse_agents` false (the redirect's direct write while Redis is away) leaves browser, OS and device
	empty: parsing a user agent costs a fresh web worker a fifth of a second the first time, and the raw
	user agent is stored all the same."""
	by_id = {r["id"]: r for r in records if r.get("link")}
	if not by_id:
		return
	click = frappe.qb.DocType("Click Event")
	existing = set(
		frappe.qb.from_(click).select(click.name).where(click.name.isin(list(by_id))).run(pluck=True)
	)
	new = [r for r in by_id.values() if r["id"] not in existing]
	if not new:
		return  # a replayed batch
	tz = ZoneInfo(get_system_timezone())
	now = now_datetime()
	link_names = sorted({r["link"] for r in new})
	links = {
		row.name: row
		for row in frappe.get_all(
			"Tracked Link",
			filters={"name": ("in", link_names)},
			fields=[
				"name",
				"campaign",
				"max_clicks",
				"utm_source",
				"utm_medium",
				"utm_campaign",
				"utm_content",
				"utm_term",
			],
		)
	}
	seen_before = _visitors_seen_before(new)

	fields = [*STANDARD_FIELDS, "tracked_link", "campaign", "variant", "clicked_at", "visitor_id", "is_bot"]
	fields += ["bot_reason", "is_qr_scan", "ip_prefix", "referrer", "user_agent", "browser", "os", "device"]
	values = []
	for r in new:
		agent = bots.parse_user_agent(r.get("user_agent") or "") if parse_agents else bots.UNKNOWN_AGENT
		values.append(
			[
				*standard_values(r["id"], now),
				r["link"],
				r.get("campaign"),
				r.get("variant"),
				local_datetime(int(r["ts"] * 1000), tz),
				r.get("visitor"),
				r.get("is_bot") or 0,
				r.get("bot_reason"),
				r.get("is_scan") or 0,
				r.get("ip"),
				r.get("referrer"),
				r.get("user_agent"),
				agent.browser,
				agent.os,
				agent.device_type,
			]
		)
	insert_guest_rows("Click Event", fields, values)

	humans = [r for r in new if not r.get("is_bot") and r["link"] in links]
	_store_click_touchpoints(humans, links, tz, now)
	_store_click_visitors(humans, tz, now)
	_count_clicks(new, seen_before, links, tz)
	roll_up_clicks(new, lambda r: local_datetime(int(r["ts"] * 1000), tz).date(), now)


ROLLUP_FIELDS = ["campaign", "tracked_link", "variant", "day", "clicks", "bot_clicks", "visitors"]
FOLD_CHUNK = 2000  # delta rows folded per transaction


def roll_up_clicks(clicks: list[dict], day_of: Callable[[dict], date], now: datetime) -> None:
	"""Add newly stored clicks ({"link", "campaign", "variant", "visitor", "is_bot"}, on the day `day_of`
	gives) to the Link Click Day rollup: one delta row per (campaign, link, variant, day) of the batch, with
	the batch's counts and visitors, in one INSERT.

	A batch never reads or rewrites a day's row, so its cost does not grow with the day's visitor sets and
	drains never wait for each other; `fold_click_rollup` (hourly) folds the deltas into one row per day.
	Reports may read a day's row and its deltas together: clicks add up and visitor sets union."""
	deltas = rollup.rollup_clicks(clicks, day_of)
	if not deltas:
		return
	tag = secrets.token_hex(8)  # 64 random bits: a key's deltas never share a name
	insert_rows(
		"Link Click Day",
		[*STANDARD_FIELDS, *ROLLUP_FIELDS, "visitor_set", "is_delta"],
		[
			[
				*standard_values(f"{rollup.row_name(key)}-{tag}", now),
				*key,
				counts.clicks,
				counts.bot_clicks,
				len(counts.visitors),
				rollup.encode(counts.visitors),
				1,
			]
			for key, counts in deltas.items()
		],
		ignore_duplicates=False,
	)


def fold_click_rollup(commit: bool = True) -> int:
	"""Fold the drain's delta rows into one Link Click Day row per (campaign, link, variant, day): counts
	added, visitor sets merged, deltas deleted. Returns the deltas folded; idempotent, safe beside drains
	(they only insert new deltas) and beside another fold (both lock the same committed rows by name).
	Commits after each chunk unless `commit` is false (then it is part of the caller's transaction)."""
	day = frappe.qb.DocType("Link Click Day")
	folded, after = 0, ""
	while True:
		found = (
			frappe.qb.from_(day)
			.select(day.name)
			.where((day.is_delta == 1) & (day.name > after))
			.orderby(day.name)
			.limit(FOLD_CHUNK)
			.run(pluck=True)
		)
		if not found:
			return folded
		after = found[-1]
		folded += _fold(found)
		if commit:
			frappe.db.commit()


def _fold(delta_names: list[str]) -> int:
	day = frappe.qb.DocType("Link Click Day")
	fields = [day.name, *(day[f] for f in ROLLUP_FIELDS), day.visitor_set]
	deltas = (  # locked by name: committed rows no drain touches; a concurrent fold waits here
		frappe.qb.from_(day)
		.select(*fields)
		.where(day.name.isin(delta_names) & (day.is_delta == 1))
		.orderby(day.name)
		.for_update()
		.run(as_dict=True)
	)
	by_row: dict[str, list] = defaultdict(list)
	for delta in deltas:
		by_row[delta.name.split("-", 1)[0]].append(delta)
	now = now_datetime()
	insert_rows(  # the day's row, if this is its first fold
		"Link Click Day",
		[*STANDARD_FIELDS, *ROLLUP_FIELDS, "visitor_set"],
		[
			[*standard_values(name, now), *(rows[0][f] for f in ROLLUP_FIELDS[:4]), 0, 0, 0, ""]
			for name, rows in sorted(by_row.items())
		],
	)
	targets = (
		frappe.qb.from_(day)
		.select(day.name, day.clicks, day.bot_clicks, day.visitors, day.visitor_set)
		.where(day.name.isin(sorted(by_row)))
		.orderby(day.name)
		.for_update()
		.run(as_dict=True)
	)
	updates: dict[str, dict] = {
		f: {} for f in ("clicks", "bot_clicks", "visitors", "visitor_set", "modified")
	}
	for row in targets:
		rows = by_row[row.name]
		visitor_set, visitors = rollup.fold(
			row.visitor_set, row.visitors, [(r.visitor_set, r.visitors) for r in rows]
		)
		updates["clicks"][row.name] = row.clicks + sum(r.clicks for r in rows)
		updates["bot_clicks"][row.name] = row.bot_clicks + sum(r.bot_clicks for r in rows)
		updates["visitors"][row.name] = visitors
		updates["visitor_set"][row.name] = visitor_set
		updates["modified"][row.name] = now
	update_by_name("Link Click Day", updates)
	if deltas:
		frappe.qb.from_(day).delete().where(day.name.isin([d.name for d in deltas])).run()
	return len(deltas)


def _visitors_seen_before(clicks: list[dict]) -> set[tuple[str, str]]:
	"""(link, visitor) pairs among these clicks that an earlier stored click already had."""
	pairs = {(r["link"], r["visitor"]) for r in clicks if r.get("visitor") and not r.get("is_bot")}
	if not pairs:
		return set()
	click = frappe.qb.DocType("Click Event")
	rows = (
		frappe.qb.from_(click)
		.select(click.tracked_link, click.visitor_id)
		.distinct()
		.where(click.tracked_link.isin(sorted({link for link, _ in pairs})))
		.where(click.visitor_id.isin(sorted({visitor for _, visitor in pairs})))
		.run()
	)
	return {(link, visitor) for link, visitor in rows} & pairs


def _store_click_touchpoints(humans: list[dict], links: dict, tz: ZoneInfo, now: datetime) -> None:
	"""Each human click is a touchpoint (named after the click id); a tracked landing session adopts it."""
	if not humans:
		return
	fields = [*STANDARD_FIELDS, "occurred_at", "touch_type", "channel", "visitor", "click_event"]
	fields += [
		"tracked_link",
		"link_campaign",
		"source",
		"medium",
		"campaign_name",
		"content",
		"term",
		"referrer",
	]
	campaigns = sorted({links[r["link"]].campaign for r in humans if links[r["link"]].campaign})
	campaign_channels = dict(
		frappe.get_all(
			"Link Campaign", filters={"name": ("in", campaigns)}, fields=["name", "channel"], as_list=True
		)
		if campaigns
		else []
	)
	values = []
	for r in humans:
		link = links[r["link"]]
		channel = click_channel(r, link, campaign_channels.get(link.campaign))
		values.append(
			[
				*standard_values(r["id"], now),
				local_datetime(int(r["ts"] * 1000), tz),
				"click",
				channel,
				r.get("visitor"),
				r["id"],
				r["link"],
				link.campaign,
				link.utm_source,
				link.utm_medium,
				link.utm_campaign,
				link.utm_content,
				link.utm_term,
				r.get("referrer"),
			]
		)
	insert_guest_rows("Touchpoint", fields, values)


def click_channel(click: dict, link, campaign_channel: str | None) -> str:
	"""A scan is "qr"; else the campaign's channel; else what the link's UTM says. A short-link click is a
	marketing touch by definition, so "direct" (nothing known) becomes "other"."""
	if click.get("is_scan"):
		return "qr"
	if campaign_channel:
		return campaign_channel
	channel = classify_channel(link.utm_source, link.utm_medium, click.get("referrer"))
	return "other" if channel == "direct" else channel


def _store_click_visitors(humans: list[dict], tz: ZoneInfo, now: datetime) -> None:
	"""The redirect's visitor ids are visitors too: a lead created on this site with that cookie (or a
	landing session that adopts the click) ties the click to a person."""
	visitors: dict[str, tuple[int, int]] = {}
	for r in humans:
		if r.get("visitor"):
			ms = int(r["ts"] * 1000)
			first, last = visitors.get(r["visitor"], (ms, ms))
			visitors[r["visitor"]] = (min(first, ms), max(last, ms))
	rows = [
		sessions.VisitorRow(visitor=v, site=None, first_seen=first, last_seen=last, consent=None)
		for v, (first, last) in visitors.items()
	]
	_store_visitors(rows, None, tz, now)


def _count_clicks(new: list[dict], seen_before: set, links: dict, tz: ZoneInfo) -> None:
	"""One UPDATE per link, per variant and per campaign in the batch, from the clicks inserted now."""
	link_counts: dict[str, dict] = defaultdict(
		lambda: {"clicks": 0, "bots": 0, "visitors": set(), "last": None}
	)
	variant_counts: dict[tuple[str, str], int] = defaultdict(int)
	for r in new:
		counts = link_counts[r["link"]]
		when = local_datetime(int(r["ts"] * 1000), tz)
		counts["last"] = max(counts["last"] or when, when)
		if r.get("is_bot"):
			counts["bots"] += 1
			continue
		counts["clicks"] += 1
		if r.get("visitor") and (r["link"], r["visitor"]) not in seen_before:
			counts["visitors"].add(r["visitor"])
		if r.get("variant"):
			variant_counts[(r["link"], r["variant"])] += 1

	link_table = frappe.qb.DocType("Tracked Link")
	campaign_counts: dict[str, dict] = defaultdict(
		lambda: {"clicks": 0, "bots": 0, "visitors": 0, "last": None}
	)
	for name, counts in link_counts.items():
		_increment(
			link_table, name, counts["clicks"], counts["bots"], len(counts["visitors"]), counts["last"]
		)
		campaign = links[name].campaign if name in links else None
		if campaign:
			total = campaign_counts[campaign]
			total["clicks"] += counts["clicks"]
			total["bots"] += counts["bots"]
			total["visitors"] += len(counts["visitors"])
			total["last"] = max(total["last"] or counts["last"], counts["last"])
	campaign_table = frappe.qb.DocType("Link Campaign")
	for name, total in campaign_counts.items():
		_increment(campaign_table, name, total["clicks"], total["bots"], total["visitors"], total["last"])
	variant = frappe.qb.DocType("Tracked Link Variant")
	for (link, label), count in variant_counts.items():
		frappe.qb.update(variant).set(variant.clicks, variant.clicks + count).where(
			(variant.parent == link) & (variant.parenttype == "Tracked Link") & (variant.label == label)
		).run()
	from trackflow.web.redirect import invalidate_link

	for name in link_counts:
		if name in links and links[name].max_clicks:
			invalidate_link(name)  # the cached click count is what enforces max_clicks


def _increment(table, name: str, clicks: int, bots_: int, visitors: int, last: datetime) -> None:
	frappe.qb.update(table).set(table.total_clicks, table.total_clicks + clicks).set(
		table.bot_clicks, table.bot_clicks + bots_
	).set(table.unique_visitors, table.unique_visitors + visitors).set(
		table.last_click_at, GREATEST(COALESCE(table.last_click_at, last), last)
	).where(table.name == name).run()


def count_direct_write() -> None:
	"""One more click written directly because redis_queue was away: an atomic increment (web workers
	racing on a read-modify-write would lose counts)."""
	singles = frappe.qb.DocType("Singles")
	where = (singles.doctype == "TrackFlow Settings") & (singles.field == "direct_click_writes")
	if frappe.qb.from_(singles).select(singles.value).where(where).run():
		frappe.qb.update(singles).set(singles.value, singles.value + 1).where(where).run()
	else:
		frappe.db.set_single_value("TrackFlow Settings", "direct_click_writes", 1)
