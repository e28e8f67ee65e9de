"""Clicks: the click stream's sink (Click Event rows, a touchpoint per human click), the Link Click Day
rollup every click count is read from, and the link and campaign counters kept from it.

One definition of each number: clicks and bot clicks are the rollup's sums; unique visitors are the
distinct visitors of the rollup's visitor sets (engine.rollup), which the retention purge folds into one
lifetime row per link instead of dropping, so lifetime counters survive the purge of old clicks."""

import secrets
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

import frappe
import redis
from frappe.query_builder import CustomFunction
from frappe.query_builder.functions import Count
from frappe.utils import get_datetime, now_datetime

from trackflow import queues
from trackflow.bulk import STANDARD_FIELDS, insert_guest_rows, insert_rows, standard_values, update_by_name
from trackflow.engine import bots, rollup
from trackflow.engine.channels import classify_channel
from trackflow.engine.redirect import Click
from trackflow.engine.sessions import VisitorRow
from trackflow.error_log import log_failure
from trackflow.links import invalidate_link, reconcile_click_limits
from trackflow.sessions import set_first_touch_channels, store_visitors
from trackflow.times import local_datetime, site_tz


def record_click(click: Click, limit: tuple[str, int] | None = None) -> None:
	"""One round trip to the queue (the rate limit counted with it; RateLimited when over). While
	redis_queue is away the click is written directly (the slow path, the same sink the drain uses) and
	counted, and the limit fails open; whatever fails there, the visitor still gets the redirect."""
	try:
		queues.enqueue(
			"clicks", click.encode(), [limit] if limit else ()
		)  # None: shed at the backlog cap (counted)
		return
	except redis.RedisError:
		pass
	try:
		store_clicks([click.encode()], parse_agents=False)
		count_direct_write()
		frappe.db.commit()
	except Exception as error:
		frappe.db.rollback()
		log_failure("TrackFlow: a click could not be queued nor written", error, "Tracked Link", click.link)


def store_clicks(records: list[dict], parse_agents: bool = True) -> None:
	"""Sink of the "clicks" stream: Click Event rows, a Touchpoint per human click, and the counters of
	links, variants and campaigns, incremented only by clicks this call actually inserted.

	`parse_agents` false (the redirect's direct write while Redis is away) leaves browser, OS and device
	empty: parsing a user agent costs a fresh web worker a fifth of a second the first time, and the raw
	user agent is stored all the same. A record that is not a click raises ValidationError (the queue
	sets it aside)."""
	by_id = {r.id: r for r in map(Click.decode, records)}
	if not by_id:
		return
	click = frappe.qb.DocType("Click Event")
	existing = set(
		frappe.qb.from_(click).select(click.name).where(click.name.isin(list(by_id))).run(pluck=True)
	)
	new = [r for r in by_id.values() if r.id not in existing]
	if not new:
		return  # a replayed batch
	tz = site_tz()
	now = now_datetime()
	link_names = sorted({r.link for r in new})
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

	fields = [*STANDARD_FIELDS, "tracked_link", "campaign", "variant", "clicked_at", "visitor_id", "is_bot"]
	fields += ["bot_reason", "is_qr_scan", "ip_prefix", "referrer", "user_agent", "browser", "os", "device"]
	fields += ["outcome", "redirected_to"]
	values = []
	for r in new:
		agent = bots.parse_user_agent(r.user_agent or "") if parse_agents else bots.UNKNOWN_AGENT
		values.append(
			[
				*standard_values(r.id, now),
				r.link,
				r.campaign,
				r.variant,
				local_datetime(int(r.ts * 1000), tz),
				r.visitor,
				r.is_bot,
				r.bot_reason,
				r.is_scan,
				r.ip,
				r.referrer,
				r.user_agent,
				agent.browser,
				agent.os,
				agent.device_type,
				r.outcome,
				r.redirected_to,
			]
		)
	insert_guest_rows("Click Event", fields, values)

	humans = [r for r in new if not r.is_bot and r.link in links]
	channels = _store_click_touchpoints(humans, links, tz, now)
	_store_click_visitors(humans, tz, now)
	set_first_touch_channels(channels)
	_count_clicks(new, links, tz)
	roll_up_clicks([r.encode() for r in new], lambda r: local_datetime(int(r["ts"] * 1000), tz).date(), now)


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


def _store_click_touchpoints(humans: list[Click], links: dict, tz: ZoneInfo, now: datetime) -> dict[str, str]:
	"""Each human click is a touchpoint (named after the click id); a tracked landing session adopts it.
	Returns {visitor: channel of their earliest click in the batch}."""
	if not humans:
		return {}
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
	campaigns = sorted({links[r.link].campaign for r in humans if links[r.link].campaign})
	campaign_channels = dict(
		frappe.get_all(
			"Link Campaign", filters={"name": ("in", campaigns)}, fields=["name", "channel"], as_list=True
		)
		if campaigns
		else []
	)
	values = []
	for r in humans:
		link = links[r.link]
		channel = click_channel(r, link, campaign_channels.get(link.campaign))
		values.append(
			[
				*standard_values(r.id, now),
				local_datetime(int(r.ts * 1000), tz),
				"click",
				channel,
				r.visitor,
				r.id,
				r.link,
				link.campaign,
				link.utm_source,
				link.utm_medium,
				link.utm_campaign,
				link.utm_content,
				link.utm_term,
				r.referrer,
			]
		)
	insert_guest_rows("Touchpoint", fields, values)
	first: dict[str, tuple] = {}
	for r, row in zip(humans, values, strict=True):
		if r.visitor and (r.visitor not in first or r.ts < first[r.visitor][0]):
			first[r.visitor] = (r.ts, row[fields.index("channel")])
	return {visitor: channel for visitor, (_ts, channel) in first.items()}


def click_channel(click: Click, link, campaign_channel: str | None) -> str:
	"""A scan is "qr"; else the campaign's channel; else what the link's UTM says. A short-link click is a
	marketing touch by definition, so "direct" (nothing known) becomes "other"."""
	if click.is_scan:
		return "qr"
	if campaign_channel:
		return campaign_channel
	channel = classify_channel(link.utm_source, link.utm_medium, click.referrer)
	return "other" if channel == "direct" else channel


def _store_click_visitors(humans: list[Click], tz: ZoneInfo, now: datetime) -> None:
	"""The redirect's visitor ids are visitors too: a lead created on this site with that cookie (or a
	landing session that adopts the click) ties the click to a person."""
	visitors: dict[str, tuple[int, int]] = {}
	for r in humans:
		if r.visitor:
			ms = int(r.ts * 1000)
			first, last = visitors.get(r.visitor, (ms, ms))
			visitors[r.visitor] = (min(first, ms), max(last, ms))
	rows = [
		VisitorRow(visitor=v, site=None, first_seen=first, last_seen=last, consent=None)
		for v, (first, last) in visitors.items()
	]
	store_visitors(rows, None, tz, now)


GREATEST = CustomFunction("GREATEST", ["a", "b"])
COALESCE = CustomFunction("COALESCE", ["a", "b"])


def _count_clicks(new: list[Click], links: dict, tz: ZoneInfo) -> None:
	"""Add the clicks inserted now to their links', variants' and campaigns' click counts (one UPDATE
	each), so max_clicks and the forms move at once. Unique visitors are not counted here: they are the
	rollup's distinct visitors, written by `refresh_counters`."""
	link_counts: dict[str, dict] = defaultdict(lambda: {"clicks": 0, "bots": 0, "last": None})
	variant_counts: dict[tuple[str, str], int] = defaultdict(int)
	for r in new:
		counts = link_counts[r.link]
		when = local_datetime(int(r.ts * 1000), tz)
		counts["last"] = max(counts["last"] or when, when)
		if r.is_bot:
			counts["bots"] += 1
			continue
		counts["clicks"] += 1
		if r.variant:
			variant_counts[(r.link, r.variant)] += 1
	campaign_counts: dict[str, dict] = defaultdict(lambda: {"clicks": 0, "bots": 0, "last": None})
	for name, counts in link_counts.items():
		_increment("Tracked Link", name, counts)
		campaign = links[name].campaign if name in links else None
		if campaign:
			total = campaign_counts[campaign]
			total["clicks"] += counts["clicks"]
			total["bots"] += counts["bots"]
			total["last"] = max(total["last"] or counts["last"], counts["last"])
	for name, total in campaign_counts.items():
		_increment("Link Campaign", name, total)
	variant = frappe.qb.DocType("Tracked Link Variant")
	for (link, label), count in variant_counts.items():
		frappe.qb.update(variant).set(variant.clicks, variant.clicks + count).where(
			(variant.parent == link) & (variant.parenttype == "Tracked Link") & (variant.label == label)
		).run()
	limited = [name for name in link_counts if name in links and links[name].max_clicks]
	if limited:
		reconcile_click_limits(
			dict(
				frappe.get_all(
					"Tracked Link", {"name": ("in", limited)}, ["name", "total_clicks"], as_list=True
				)
			)
		)
		for name in limited:
			invalidate_link(name)  # the cached entry's count is the claim counter's floor


def _increment(doctype: str, name: str, counts: dict) -> None:
	table = frappe.qb.DocType(doctype)
	frappe.qb.update(table).set(table.total_clicks, table.total_clicks + counts["clicks"]).set(
		table.bot_clicks, table.bot_clicks + counts["bots"]
	).set(table.last_click_at, GREATEST(COALESCE(table.last_click_at, counts["last"]), counts["last"])).where(
		table.name == name
	).run()


def count_direct_write() -> None:
	"""One more click written directly because redis_queue was away: an atomic increment (web workers
	racing on a read-modify-write would lose counts)."""
	singles = frappe.qb.DocType("Singles")
	where = (singles.doctype == "TrackFlow Settings") & (singles.field == "direct_click_writes")
	if frappe.qb.from_(singles).select(singles.value).where(where).run():
		frappe.qb.update(singles).set(singles.value, singles.value + 1).where(where).run()
	else:
		frappe.db.set_single_value("TrackFlow Settings", "direct_click_writes", 1)


def rebuild_click_rollup(chunk: int = 20_000) -> int:
	"""Rebuild Link Click Day from the stored clicks (install on a site with clicks, or repair); returns
	the clicks read. Idempotent: it starts from an empty rollup."""
	frappe.db.delete("Link Click Day")
	click = frappe.qb.DocType("Click Event")
	last, read, now = "", 0, now_datetime()
	while True:
		rows = (
			frappe.qb.from_(click)
			.select(
				click.name,
				click.tracked_link.as_("link"),
				click.campaign,
				click.variant,
				click.visitor_id.as_("visitor"),
				click.is_bot,
				click.clicked_at,
			)
			.where(click.name > last)
			.where(click.tracked_link.isnotnull())
			.orderby(click.name)
			.limit(chunk)
			.run(as_dict=True)
		)
		if not rows:
			return read
		roll_up_clicks(rows, lambda r: get_datetime(r["clicked_at"]).date(), now)
		fold_click_rollup(commit=False)  # a chunk's deltas, before the next chunk adds its own
		frappe.db.commit()
		read += len(rows)
		last = rows[-1].name


def forget_visitor_in_rollup(visitor: str) -> int:
	"""Take an erased visitor out of the visitor sets of the days they clicked (before their clicks lose
	the visitor id); their clicks still count. Deltas are folded first, so only the days' rows hold them."""
	fold_click_rollup(commit=False)
	click = frappe.qb.DocType("Click Event")
	clicks = (
		frappe.qb.from_(click)
		.select(click.tracked_link, click.campaign, click.variant, click.clicked_at)
		.distinct()
		.where((click.visitor_id == visitor) & (click.is_bot == 0))
		.run(as_dict=True)
	)
	names = sorted(
		{
			rollup.row_name(
				(c.campaign or None, c.tracked_link, c.variant or "", get_datetime(c.clicked_at).date())
			)
			for c in clicks
		}
	)
	day = frappe.qb.DocType("Link Click Day")
	# The days of their kept clicks, and every lifetime row (their purged clicks no longer say which).
	where = day.day == rollup.LIFETIME_DAY
	if names:
		where = where | day.name.isin(names)
	rows = (
		frappe.qb.from_(day)
		.select(day.name, day.visitor_set)
		.where(where & day.visitor_set.isnotnull())
		.for_update()
		.run(as_dict=True)
	)
	key = rollup.visitor_key(visitor)
	updates: dict[str, dict] = {"visitor_set": {}, "visitors": {}}
	for row in rows:
		text, count = rollup.remove(row.visitor_set, key)
		if text != (row.visitor_set or ""):
			updates["visitor_set"][row.name], updates["visitors"][row.name] = text, count
	update_by_name("Link Click Day", updates)
	return len(updates["visitor_set"])


# --- counters from the rollup --------------------------------------------------------------------------

ROLLUP_READ_CHUNK = 20_000


def refresh_counters() -> int:
	"""Hourly: every link's, variant's and campaign's counters recomputed from the rollup, so they are
	exact and stay whole after the purge of old clicks: clicks and bot clicks are the rollup's sums;
	unique visitors the distinct visitors of its visitor sets (a link's lifetime row included). A day
	purged before lifetime rows existed adds its daily count. Returns the links written."""
	fold_click_rollup()  # one row per (campaign, link, variant, day): sums and sets read once
	day = frappe.qb.DocType("Link Click Day")
	link_counts: dict[str, dict] = defaultdict(lambda: {"total_clicks": 0, "bot_clicks": 0})
	campaign_counts: dict[str, dict] = defaultdict(lambda: {"total_clicks": 0, "bot_clicks": 0})
	variant_clicks: dict[tuple[str, str], int] = defaultdict(int)
	link_keys: dict[str, set[int]] = defaultdict(set)
	campaign_keys: dict[str, set[int]] = defaultdict(set)
	with_lifetime: set[tuple] = set()
	purged: list[tuple[tuple, int]] = []
	after = ""
	while True:
		rows = (
			frappe.qb.from_(day)
			.select(day.name, *(day[f] for f in ROLLUP_FIELDS), day.visitor_set)
			.where(day.name > after)
			.orderby(day.name)
			.limit(ROLLUP_READ_CHUNK)
			.run(as_dict=True)
		)
		if not rows:
			break
		after = rows[-1].name
		for row in rows:
			key = (row.campaign or None, row.tracked_link, row.variant or "")
			for counts, name in ((link_counts, row.tracked_link), (campaign_counts, row.campaign)):
				if name:
					counts[name]["total_clicks"] += row.clicks
					counts[name]["bot_clicks"] += row.bot_clicks
			if row.variant:
				variant_clicks[(row.tracked_link, row.variant)] += row.clicks
			if get_datetime(row.day).date() == rollup.LIFETIME_DAY:
				with_lifetime.add(key)
			if row.visitor_set is None:
				purged.append((key, row.visitors or 0))
				continue
			keys = rollup.decode(row.visitor_set)
			link_keys[row.tracked_link].update(keys)
			if row.campaign:
				campaign_keys[row.campaign].update(keys)
	extra_link: dict[str, int] = defaultdict(int)
	extra_campaign: dict[str, int] = defaultdict(int)
	for key, visitors in purged:
		if key not in with_lifetime:  # purged before lifetime rows: only the daily count is left
			extra_link[key[1]] += visitors
			if key[0]:
				extra_campaign[key[0]] += visitors
	for name, counts in link_counts.items():
		counts["unique_visitors"] = len(link_keys.get(name, ())) + extra_link[name]
	for name, counts in campaign_counts.items():
		counts["unique_visitors"] = len(campaign_keys.get(name, ())) + extra_campaign[name]
	_write_counters("Tracked Link", link_counts)
	_write_counters("Link Campaign", campaign_counts)
	_write_variant_clicks(variant_clicks)
	return len(link_counts)


def _write_counters(doctype: str, counts: dict[str, dict]) -> None:
	"""The counters of the rows that still exist (a deleted link's rollup rows stay for the reports)."""
	names = set(frappe.get_all(doctype, {"name": ("in", sorted(counts))}, pluck="name")) if counts else set()
	fields = ("total_clicks", "bot_clicks", "unique_visitors")
	update_by_name(doctype, {f: {n: c[f] for n, c in counts.items() if n in names} for f in fields})


def _write_variant_clicks(variant_clicks: dict[tuple[str, str], int]) -> None:
	if not variant_clicks:
		return
	variant = frappe.qb.DocType("Tracked Link Variant")
	rows = (
		frappe.qb.from_(variant)
		.select(variant.name, variant.parent, variant.label)
		.where(
			(variant.parenttype == "Tracked Link")
			& variant.parent.isin(sorted({k[0] for k in variant_clicks}))
		)
		.run(as_dict=True)
	)
	clicks = {row.name: variant_clicks.get((row.parent, row.label), 0) for row in rows}
	update_by_name("Tracked Link Variant", {"clicks": clicks})


def retire_visitor_sets(cutoff, dry_run: bool = False) -> int:
	"""The retention purge of the rollup: visitor sets of days before `cutoff` leave the days (which keep
	their counts) and join their link's lifetime row (day `rollup.LIFETIME_DAY`), so no day says any more
	who clicked when, and lifetime unique visitors stay exact. Deltas are folded first. Returns the day
	rows retired; commits per chunk unless a dry run."""
	if not dry_run:
		fold_click_rollup()
	day = frappe.qb.DocType("Link Click Day")
	condition = (
		(day.day < get_datetime(cutoff).date())
		& (day.day != rollup.LIFETIME_DAY)
		& day.visitor_set.isnotnull()
		& (day.is_delta == 0)
	)
	if dry_run:
		return frappe.qb.from_(day).select(Count(day.name)).where(condition).run()[0][0]
	retired = 0
	while True:
		rows = (
			frappe.qb.from_(day)
			.select(day.name, day.campaign, day.tracked_link, day.variant, day.visitor_set)
			.where(condition)
			.orderby(day.name)
			.limit(FOLD_CHUNK)
			.for_update()
			.run(as_dict=True)
		)
		if not rows:
			return retired
		groups: dict[tuple, set[int]] = defaultdict(set)
		for row in rows:
			groups[(row.campaign or None, row.tracked_link, row.variant or "")].update(
				rollup.decode(row.visitor_set)
			)
		_merge_into_lifetime(groups)
		frappe.qb.update(day).set(day.visitor_set, None).where(day.name.isin([r.name for r in rows])).run()
		frappe.db.commit()
		retired += len(rows)


def _merge_into_lifetime(groups: dict[tuple, set[int]]) -> None:
	day = frappe.qb.DocType("Link Click Day")
	now = now_datetime()
	names = {key: rollup.row_name((*key, rollup.LIFETIME_DAY)) for key in groups}
	insert_rows(  # the lifetime row, the first time a link's days are retired
		"Link Click Day",
		[*STANDARD_FIELDS, *ROLLUP_FIELDS, "visitor_set"],
		[
			[*standard_values(names[key], now), key[0], key[1], key[2], rollup.LIFETIME_DAY, 0, 0, 0, ""]
			for key in sorted(groups, key=lambda k: names[k])
		],
	)
	current = dict(
		frappe.qb.from_(day)
		.select(day.name, day.visitor_set)
		.where(day.name.isin(sorted(names.values())))
		.for_update()
		.run()
	)
	sets, counts = {}, {}
	for key, keys in groups.items():
		name = names[key]
		sets[name], counts[name] = rollup.merge(current.get(name), keys)
	update_by_name("Link Click Day", {"visitor_set": sets, "visitors": counts})
