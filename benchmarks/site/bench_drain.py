"""Drain throughput into MariaDB, on a real site: TrackFlow's queue drain against Frappe's deferred_insert.

Run from the bench directory (it connects to the site itself; nothing is built or fetched):

	env/bin/python apps/trackflow/benchmarks/site/bench_drain.py --site trackflow.localhost

or inside `bench --site SITE console`:

	exec(open("../apps/trackflow/benchmarks/site/bench_drain.py").read()); run(clicks=20000, collect=10000)

What it does, one worker (this process), in the site's own queues:
  0. setup: a Link Campaign, 20 Tracked Links (titles "perf-bench drain N", two with A/B variants) and the
     TrackFlow Site "Bench" (allowed domain www.shop-example.com), created once and reused;
  1. drains whatever is already queued (e.g. what bench_http.py left) and reports it separately, so the
     timed runs start from an empty queue with warm caches;
  2. clicks: enqueue N synthetic click records shaped like trackflow.engine.redirect.decide's `click`
     (5% bots, 10% QR scans, returning visitors, A/B variants), then time trackflow.drain.drain("clicks");
  3. the same clicks as Click Event rows through frappe.deferred_insert (one deferred_insert call per
     click, as Frappe's own callers do), then save_to_db() + commit until the queue is empty;
  4. collect: N collect records built with encode_record from valid wire-format bodies (3-5 events each;
     sessions with a landing batch and one or two follow-up batches, distinct visitors), then time
     trackflow.drain.drain("collect").
SQL statements are counted with this connection's own counters (SHOW SESSION STATUS), so other clients
do not disturb them. --cleanup deletes the rows made here (see cleanup()).
"""

import argparse
import json
import os
import random
import secrets
import sys
import time
from datetime import datetime

import frappe

LINKS = 20
CAMPAIGN = "perf-bench campaign"
SITE_NAME = "Bench"
DOMAIN = "www.shop-example.com"
TITLE = "perf-bench drain"
AGENTS = (
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
	"Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
)
BOTS = (
	("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "crawler"),
	("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "preview:slack"),
	("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", "preview:facebook"),
)
REFERRERS = (
	None,
	None,
	"https://www.google.com/",
	"https://www.linkedin.com/",
	"https://t.co/",
	"https://news.example.org/post/123",
)
STATUS_VARS = ("Questions", "Com_select", "Com_insert", "Com_update", "Com_delete")


# --- setup ----------------------------------------------------------------------------------------------


def setup() -> list[dict]:
	"""The bench's campaign, links and TrackFlow Site (created once). Returns the links."""
	frappe.set_user("Administrator")
	if not frappe.db.exists("Link Campaign", CAMPAIGN):
		frappe.get_doc(
			{
				"doctype": "Link Campaign",
				"campaign_name": CAMPAIGN,
				"status": "Active",
				"channel": "email",
				"utm_source": "newsletter",
				"utm_medium": "email",
				"utm_campaign": "perf",
			}
		).insert()
	have = frappe.get_all("Tracked Link", {"title": ("like", f"{TITLE} %")}, pluck="name")
	for i in range(len(have), LINKS):
		doc = {
			"doctype": "Tracked Link",
			"title": f"{TITLE} {i}",
			"destination_url": f"https://{DOMAIN}/landing/{i}",
			"campaign": CAMPAIGN if i % 2 == 0 else None,
			"utm_source": "newsletter" if i % 2 else None,
			"utm_medium": "email" if i % 2 else None,
		}
		if i < 2:
			doc["variants"] = [
				{"label": "A", "destination_url": f"https://{DOMAIN}/a/{i}", "weight": 1},
				{"label": "B", "destination_url": f"https://{DOMAIN}/b/{i}", "weight": 1},
			]
		frappe.get_doc(doc).insert()
	if not frappe.db.exists("TrackFlow Site", SITE_NAME):
		frappe.get_doc(
			{"doctype": "TrackFlow Site", "site_name": SITE_NAME, "allowed_domains": DOMAIN}
		).insert()
	frappe.db.commit()
	links = frappe.get_all(
		"Tracked Link",
		{"title": ("like", f"{TITLE} %")},
		["name", "short_code", "campaign", "destination_url"],
		order_by="title asc",
	)
	for link in links:
		link["variants"] = frappe.get_all("Tracked Link Variant", {"parent": link["name"]}, pluck="label")
	return links


# --- synthetic records ------------------------------------------------------------------------------------


def hex32() -> str:
	return secrets.token_hex(16)


def make_clicks(n: int, links: list[dict], seed: int = 1) -> list[dict]:
	"""Click records as trackflow.engine.redirect.decide builds them, spread over the last hour."""
	from trackflow.engine.queue import new_id

	rng = random.Random(seed)
	visitors = [hex32() for _ in range(max(1, int(n * 0.7)))]
	seen: set[str] = set()
	weights = [1 / (i + 1) for i in range(len(links))]  # a few links get most clicks
	now = time.time()
	times = sorted(now - rng.random() * 3600 for _ in range(n))
	clicks = []
	for ts in times:
		link = rng.choices(links, weights)[0]
		bot = rng.random() < 0.05
		if bot:
			agent, reason = rng.choice(BOTS)
			visitor = None
		else:
			agent, reason = rng.choice(AGENTS), None
			visitor = rng.choice(visitors)
		variant = rng.choice(link["variants"]) if link["variants"] else None
		click_id = new_id()
		clicks.append(
			{
				"id": click_id,
				"link": link["name"],
				"code": link["short_code"],
				"campaign": link["campaign"],
				"variant": variant,
				"outcome": "destination",
				"ts": ts,
				"visitor": visitor,
				"new_visitor": 1 if visitor and visitor not in seen else 0,
				"ip": f"198.51.{rng.randrange(256)}.0",
				"user_agent": agent,
				"referrer": rng.choice(REFERRERS),
				"is_bot": 1 if bot else 0,
				"bot_reason": reason,
				"is_scan": 1 if rng.random() < 0.1 else 0,
				"redirected_to": f"{link['destination_url']}?tf_click={click_id}",
				"method": "GET",
			}
		)
		if visitor:
			seen.add(visitor)
	return clicks


def _event(rng: random.Random, ts: int, url: str) -> dict:
	kind = rng.random()
	if kind < 0.6:
		return {"type": "pageview", "id": hex32(), "ts": ts, "url": url, "title": "Shop Example", "ref": url}
	if kind < 0.95:
		return {
			"type": "event",
			"id": hex32(),
			"ts": ts,
			"url": url,
			"name": rng.choice(("add_to_cart", "scroll_75", "video_play", "cta_click")),
			"props": {"sku": f"SKU-{rng.randrange(1000)}", "price": 49.9, "qty": 1},
		}
	if kind < 0.99:
		return {
			"type": "conversion",
			"id": hex32(),
			"ts": ts,
			"url": url,
			"conversion": {"type": "purchase", "value": 99.5, "currency": "EUR", "id": f"o-{hex32()[:10]}"},
		}
	return {
		"type": "identify",
		"id": hex32(),
		"ts": ts,
		"url": url,
		"traits": {"email": f"bench.{hex32()[:12]}@example.com"},
	}


def make_collect_records(n: int, site_key: str, seed: int = 2) -> tuple[list[dict], int]:
	"""(records, events): sessions of one landing batch (session_start + 2-4 events, 40% from ads with
	UTM and gclid, 30% from search or social, 30% direct) and one or two follow-up batches of 3-5 events;
	a visitor in ten comes back for a second session. Records are built the way the endpoint builds them:
	the body is parsed (parse_collect) at its send time and wrapped with encode_record."""
	from trackflow.engine.collect import encode_record, parse_collect

	rng = random.Random(seed)
	now_ms = int(time.time() * 1000)
	planned = []  # (sent_at, body)
	visitors: list[str] = []
	while len(planned) < n:
		visitor = rng.choice(visitors) if visitors and rng.random() < 0.1 else hex32()
		visitors.append(visitor)
		session = hex32()
		start = now_ms - rng.randrange(300_000, 3_000_000)
		page = f"https://{DOMAIN}/products/{rng.randrange(500)}"
		source = rng.random()
		landing: dict = {"type": "session_start", "id": hex32(), "ts": start}
		if source < 0.4:
			gclid = "Cj0KCQjw" + secrets.token_urlsafe(24)
			landing["url"] = f"{page}?utm_source=google&utm_medium=cpc&utm_campaign=spring&gclid={gclid}"
			landing["utm"] = {"source": "google", "medium": "cpc", "campaign": "spring"}
			landing["click_ids"] = {"gclid": gclid}
			landing["ref"] = "https://www.google.com/"
		elif source < 0.7:
			landing["url"] = page
			landing["ref"] = rng.choice(("https://www.google.com/", "https://www.bing.com/", "https://t.co/"))
		else:
			landing["url"] = page
		events = [landing] + [_event(rng, start + 1000 * (i + 1), page) for i in range(rng.randint(2, 4))]
		batches = [events]
		t = start + 10_000
		for _ in range(rng.randint(1, 2)):
			batches.append([_event(rng, t + 1000 * i, page) for i in range(rng.randint(3, 5))])
			t += 30_000
		for events in batches:
			sent_at = events[-1]["ts"] + 50
			body = {"site": site_key, "v": 1, "visitor": visitor, "session": session, "sent_at": sent_at}
			body["events"] = events
			planned.append((sent_at, json.dumps(body, separators=(",", ":")).encode()))
	planned = sorted(planned[:n], key=lambda p: p[0])
	records, total_events = [], 0
	for sent_at, body in planned:
		batch = parse_collect(body, now=sent_at / 1000 + 0.2)
		total_events += len(batch.events)
		ua = rng.choice(AGENTS)
		records.append(encode_record(body, batch, ip=f"203.0.{rng.randrange(256)}.0", ua=ua, site=SITE_NAME))
	return records, total_events


# --- measurement ------------------------------------------------------------------------------------------


def session_status() -> dict[str, int]:
	names = ", ".join(f"'{v}'" for v in STATUS_VARS)
	rows = frappe.db.sql(f"SHOW SESSION STATUS WHERE Variable_name IN ({names})")
	return {name: int(value) for name, value in rows}


def statements(before: dict, after: dict) -> dict:
	# Each SHOW SESSION STATUS is itself one question.
	return {k: after[k] - before[k] - (1 if k == "Questions" else 0) for k in STATUS_VARS}


def count(doctype: str) -> int:
	return frappe.db.sql(f"SELECT COUNT(*) FROM `tab{doctype}`")[0][0]


def timed_drain(stream: str) -> dict:
	from trackflow.drain import drain

	before = session_status()
	started, cpu = time.perf_counter(), time.process_time()
	result = drain(stream, max_seconds=600, progress=lambda n: None)  # progress: no follow-up job
	result["wall_seconds"] = time.perf_counter() - started
	result["cpu_seconds"] = time.process_time() - cpu  # this worker's own CPU (Python), not MariaDB's
	result["sql"] = statements(before, session_status())
	return result


def check_drained(stream: str, enqueued: int, result: dict) -> None:
	"""Another process draining or clearing the same site's queue (a test run) would skew the figures."""
	if result.get("dead_letters"):
		print(f"{stream}: {result['dead_letters']:,} records set aside as dead letters")
	if result["records"] != enqueued:
		print(
			f"WARNING: {stream}: {enqueued:,} enqueued but {result['records']:,} drained by this process "
			"(someone else took or cleared records); rates below use the drained count"
		)


def poison(records: list[dict], every: int, spoil) -> list[dict]:
	"""Every `every`-th record replaced by one the sink cannot store (`spoil(record)`): the drain's cost of
	isolating bad records among good ones (0: none)."""
	if not every:
		return records
	return [spoil(r) if i % every == every - 1 else r for i, r in enumerate(records)]


def bench_clicks(links: list[dict], n: int, poison_every: int = 0) -> dict:
	from trackflow.queues import get_queue

	# a visitor id longer than its column: refused by the guest boundary, so the record is a dead letter
	clicks = poison(make_clicks(n, links), poison_every, lambda c: {**c, "visitor": "v" * 80})
	rows_before = {d: count(d) for d in ("Click Event", "Touchpoint", "TrackFlow Visitor")}
	started = time.perf_counter()
	get_queue("clicks").enqueue_many(clicks)
	enqueue_seconds = time.perf_counter() - started
	result = timed_drain("clicks")
	check_drained("clicks", len(clicks), result)
	result["enqueue_seconds"] = enqueue_seconds
	result["rows"] = {d: count(d) - c for d, c in rows_before.items()}
	result["clicks"] = clicks
	return result


def bench_deferred_insert(clicks: list[dict]) -> dict:
	"""The same clicks as Click Event documents through frappe.deferred_insert (Frappe 15's path)."""
	from frappe.deferred_insert import deferred_insert, queue_prefix, save_to_db

	from trackflow.engine import bots
	from trackflow.times import local_datetime

	key = f"{queue_prefix}Click Event"
	keys = [k.decode() if isinstance(k, bytes) else k for k in frappe.cache.get_keys(queue_prefix)]
	others = [k for k in keys if not k.endswith(key)]
	tz = __import__("zoneinfo").ZoneInfo(frappe.utils.get_system_timezone())
	started = time.perf_counter()
	for c in clicks:
		agent = bots.parse_user_agent(c["user_agent"] or "")
		row = {
			"tracked_link": c["link"],
			"campaign": c["campaign"],
			"variant": c["variant"],
			"clicked_at": str(local_datetime(int(c["ts"] * 1000), tz)),
			"visitor_id": c["visitor"],
			"is_bot": c["is_bot"],
			"bot_reason": c["bot_reason"],
			"is_qr_scan": c["is_scan"],
			"ip_prefix": c["ip"],
			"referrer": c["referrer"],
			"user_agent": c["user_agent"],
			"browser": agent.browser,
			"os": agent.os,
			"device": agent.device_type,
		}
		deferred_insert("Click Event", json.dumps(row))
	enqueue_seconds = time.perf_counter() - started
	before_rows = count("Click Event")
	before = session_status()
	runs = 0
	started, cpu = time.perf_counter(), time.process_time()
	while frappe.cache.llen(key) > 0:
		save_to_db()  # at most ~500 records per call, like the scheduler's job
		frappe.db.commit()
		runs += 1
	seconds = time.perf_counter() - started
	cpu_seconds = time.process_time() - cpu
	return {
		"records": len(clicks),
		"rows": count("Click Event") - before_rows,
		"runs": runs,
		"seconds": seconds,
		"cpu_seconds": cpu_seconds,
		"enqueue_seconds": enqueue_seconds,
		"sql": statements(before, session_status()),
		"other_queues": others,
	}


def bench_collect(n: int, poison_every: int = 0) -> dict:
	from trackflow.queues import get_queue

	site_key = frappe.db.get_value("TrackFlow Site", SITE_NAME, "site_key")
	records, events = make_collect_records(n, site_key)
	records = poison(records, poison_every, lambda r: {**r, "body": r["body"][:-1]})  # JSON cut short
	tables = ("TrackFlow Event", "TrackFlow Session", "TrackFlow Visitor", "Touchpoint")
	rows_before = {d: count(d) for d in tables}
	started = time.perf_counter()
	get_queue("collect").enqueue_many(records)
	enqueue_seconds = time.perf_counter() - started
	result = timed_drain("collect")
	check_drained("collect", len(records), result)
	result["enqueue_seconds"] = enqueue_seconds
	result["events"] = round(events * result["records"] / len(records))
	result["rows"] = {d: count(d) - c for d, c in rows_before.items()}
	return result


# --- cleanup ----------------------------------------------------------------------------------------------


def cleanup() -> dict:
	"""Delete the rows the benchmarks made: clicks, rollup rows, touchpoints and click visitors of links titled
	"perf-bench..." (this script's links and the one bench_http.py was pointed at, if so titled), and the
	visitors, sessions, events and touchpoints of the TrackFlow Site "Bench". Links, campaign and site stay
	(counters reset to 0); Redis keys of the site's queues that are empty are left as the drain leaves them."""
	links = frappe.get_all("Tracked Link", {"title": ("like", "perf-bench%")}, pluck="name")
	deleted = {}
	if links:
		marks = ", ".join(["%s"] * len(links))
		deleted["TrackFlow Visitor (clicks)"] = frappe.db.sql(
			f"""DELETE v FROM `tabTrackFlow Visitor` v
			WHERE v.site IS NULL AND v.name IN (SELECT visitor_id FROM `tabClick Event` WHERE tracked_link IN ({marks}))""",
			links,
		)
		for doctype, column in (
			("Touchpoint", "tracked_link"),
			("Click Event", "tracked_link"),
			("Link Click Day", "tracked_link"),
		):
			frappe.db.sql(f"DELETE FROM `tab{doctype}` WHERE {column} IN ({marks})", links)
		frappe.db.sql(
			f"""UPDATE `tabTracked Link` SET total_clicks = 0, bot_clicks = 0, unique_visitors = 0,
			last_click_at = NULL WHERE name IN ({marks})""",
			links,
		)
		frappe.db.sql(f"UPDATE `tabTracked Link Variant` SET clicks = 0 WHERE parent IN ({marks})", links)
	frappe.db.sql(
		"""UPDATE `tabLink Campaign` SET total_clicks = 0, bot_clicks = 0, unique_visitors = 0,
		last_click_at = NULL WHERE name = %s""",
		CAMPAIGN,
	)
	frappe.db.sql(
		"DELETE FROM `tabTouchpoint` WHERE session IN (SELECT name FROM `tabTrackFlow Session` WHERE site = %s)",
		SITE_NAME,
	)
	for doctype in ("TrackFlow Event", "TrackFlow Session", "TrackFlow Visitor"):
		frappe.db.sql(f"DELETE FROM `tab{doctype}` WHERE site = %s", SITE_NAME)
	frappe.db.commit()
	return {d: count(d) for d in ("Click Event", "Touchpoint", "TrackFlow Visitor", "TrackFlow Event")}


# --- report -----------------------------------------------------------------------------------------------


def sql_cells(sql: dict, records: int) -> str:
	"""Statements per 1,000 records."""
	return ", ".join(f"{k} {v * 1000 / max(1, records):,.0f}" for k, v in sql.items() if v)


def run(
	clicks: int = 20000,
	collect: int = 10000,
	deferred: int | None = None,
	do_cleanup: bool = False,
	poison_every: int = 0,
):
	links = setup()
	print(f"# {datetime.now():%Y-%m-%d %H:%M:%S}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
	print(f"# Frappe {frappe.__version__}, site {frappe.local.site}, {len(links)} bench links")

	for stream in ("clicks", "collect"):
		pre = timed_drain(stream)
		if pre["records"]:
			print(f"pre-drain {stream}: {pre['records']} records already queued, {pre['wall_seconds']:.2f} s")

	print(
		"\n| run | records | rows written | seconds (worker CPU) | records/s | SQL statements per 1,000 records |"
	)
	print("|---|---|---|---|---|---|")
	if clicks:
		c = bench_clicks(links, clicks, poison_every)
		rows = ", ".join(f"{d} {n:,}" for d, n in c["rows"].items())
		print(
			f"| TrackFlow drain, clicks | {c['records']:,} | {rows} | {c['wall_seconds']:.2f} ({c['cpu_seconds']:.2f}) "
			f"| **{c['records'] / c['wall_seconds']:,.0f} clicks/s** | {sql_cells(c['sql'], c['records'])} |"
		)
		n = deferred if deferred is not None else clicks
		if n:
			d = bench_deferred_insert(c["clicks"][:n])
			print(
				f"| frappe.deferred_insert, clicks as Click Event | {d['records']:,} | Click Event {d['rows']:,} "
				f"| {d['seconds']:.2f} ({d['cpu_seconds']:.2f}; {d['runs']} save_to_db runs) | **{d['rows'] / d['seconds']:,.0f} rows/s** "
				f"| {sql_cells(d['sql'], d['rows'])} |"
			)
			ratio = (c["records"] / c["wall_seconds"]) / (d["rows"] / d["seconds"])
			print(f"\nTrackFlow drain / deferred_insert (clicks per second): {ratio:.1f}x")
			print(
				f"enqueue: TrackFlow enqueue_many {c['enqueue_seconds']:.2f} s, "
				f"deferred_insert (one call per click) {d['enqueue_seconds']:.2f} s"
			)
			if d["other_queues"]:
				print(f"note: other deferred_insert queues were present and drained too: {d['other_queues']}")
	if collect:
		r = bench_collect(collect, poison_every)
		rows = ", ".join(f"{d} {n:,}" for d, n in r["rows"].items())
		print(
			f"\n| TrackFlow drain, collect | {r['records']:,} ({r['events']:,} events) | {rows} "
			f"| {r['wall_seconds']:.2f} ({r['cpu_seconds']:.2f}) | **{r['events'] / r['wall_seconds']:,.0f} events/s** "
			f"({r['records'] / r['wall_seconds']:,.0f} records/s) | {sql_cells(r['sql'], r['records'])} |"
		)
	if do_cleanup:
		print(f"\ncleanup: rows left {cleanup()}")


def main(argv=None):
	parser = argparse.ArgumentParser(description="TrackFlow drain throughput on a real site")
	parser.add_argument("--site", required=True)
	parser.add_argument("--sites-path", default="sites", help="relative to the bench directory")
	parser.add_argument("--clicks", type=int, default=20000)
	parser.add_argument("--collect", type=int, default=10000)
	parser.add_argument(
		"--deferred", type=int, default=None, help="clicks for deferred_insert (default: all)"
	)
	parser.add_argument("--cleanup", action="store_true", help="delete the bulk rows afterwards")
	parser.add_argument(
		"--poison", type=int, default=0, metavar="N", help="make every N-th record unstorable (dead letters)"
	)
	parser.add_argument("--cleanup-only", action="store_true")
	args = parser.parse_args(argv)
	os.chdir(args.sites_path)  # where bench console runs (logs, site paths)
	frappe.init(site=args.site, sites_path=".")
	frappe.connect()
	try:
		if args.cleanup_only:
			print(f"rows left {cleanup()}")
		else:
			run(args.clicks, args.collect, args.deferred, args.cleanup, args.poison)
	finally:
		frappe.destroy()


if __name__ == "__main__" and not getattr(frappe.local, "site", None):
	sys.exit(main())
