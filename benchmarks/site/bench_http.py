"""Latency and SQL statements per request of /r/<code> and the collect endpoint against /api/method/ping.

Runs against a live Frappe site (it builds nothing and fetches nothing else). Requests alternate
(ping, target, ping, target...) so both see the same moments of a shared machine; every request opens
its own TCP connection (gunicorn's sync workers close it anyway) unless --keep-alive is given, and
carries its own X-Forwarded-For address so the per-IP rate limits (300/min on /r/, 600/min on collect)
are not what is measured. Frappe takes request_ip from the first X-Forwarded-For entry.

	python benchmarks/site/bench_http.py http://127.0.0.1:8000 --host trackflow.localhost \\
		--code Hdh4U9J --site-key BZ3egqWffl4CIOHcZwWke505 --origin https://www.shop-example.com \\
		--pairs 600 --sql-requests 200 --mysql "mysql -h127.0.0.1 -P3306 -uroot"

SQL statements per request come from MariaDB's global counters (SHOW GLOBAL STATUS): a snapshot
before and after M requests of one kind, minus the same delta with no request in between (the cost
of the measuring queries themselves), divided by M. The counters are server-wide, so other clients
add noise: each kind is measured --sql-rounds times and the lowest round is reported.

Standard library only (http.client); `mysql` (the command-line client) for the SQL counts.
"""

import argparse
import http.client
import json
import os
import platform
import random
import secrets
import shlex
import statistics
import subprocess
import sys
import time
from urllib.parse import urlsplit

BROWSER_UA = (
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
	"Chrome/126.0.0.0 Safari/537.36"
)
STATUS_VARS = (
	"Questions",
	"Com_select",
	"Com_insert",
	"Com_update",
	"Com_delete",
	"Com_set_option",
	"Com_begin",
	"Com_commit",
	"Com_rollback",
)
PING = "/api/method/ping"
COLLECT = "/api/method/trackflow.api.tracking.collect"


class Client:
	"""GET/POST with one new connection per request (or one kept connection with keep_alive)."""

	def __init__(self, base_url: str, host: str, keep_alive: bool):
		parts = urlsplit(base_url)
		self.https = parts.scheme == "https"
		self.netloc = parts.netloc
		self.host = host or parts.hostname
		self.keep_alive = keep_alive
		self.conn = None
		self._ip = random.randrange(1 << 20) << 4  # a fresh block of addresses per run

	def next_ip(self) -> str:
		self._ip += 1
		n = self._ip & 0xFFFFFF
		return f"10.{n >> 16}.{(n >> 8) & 255}.{n & 255}"

	def _connection(self):
		if self.conn is None or not self.keep_alive:
			if self.conn is not None:
				self.conn.close()
			cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
			self.conn = cls(self.netloc, timeout=30)
		return self.conn

	def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
		"""(seconds, status, response headers) of one request, the body read to the end."""
		all_headers = {
			"Host": self.host,
			"User-Agent": BROWSER_UA,
			"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
			"Accept-Language": "en-GB,en;q=0.9",
			"X-Forwarded-For": self.next_ip(),
			"Connection": "keep-alive" if self.keep_alive else "close",
			**(headers or {}),
		}
		started = time.perf_counter()
		conn = self._connection()
		try:
			conn.request(method, path, body=body, headers=all_headers)
			response = conn.getresponse()
			response.read()
		except (OSError, http.client.HTTPException):
			conn.close()
			self.conn = None
			raise
		elapsed = time.perf_counter() - started
		if response.will_close:
			conn.close()
			self.conn = None
		return elapsed, response.status, response.headers


def hex32() -> str:
	return secrets.token_hex(16)


def collect_body(site_key: str, origin: str) -> bytes:
	"""A landing batch like the embed script sends (~1 KB): session_start with UTM and gclid, a page view
	and a custom event, fresh visitor, session and event ids, times of now."""
	now = int(time.time() * 1000)
	page = f"{origin}/products/espresso-machine-pro?utm_source=google&utm_medium=cpc&utm_campaign=spring_sale"
	gclid = "Cj0KCQjw" + secrets.token_urlsafe(40)
	batch = {
		"site": site_key,
		"v": 1,
		"visitor": hex32(),
		"session": hex32(),
		"sent_at": now,
		"events": [
			{
				"type": "session_start",
				"id": hex32(),
				"ts": now - 1800,
				"url": page + "&gclid=" + gclid,
				"ref": "https://www.google.com/",
				"utm": {"source": "google", "medium": "cpc", "campaign": "spring_sale", "term": "espresso"},
				"click_ids": {"gclid": gclid},
			},
			{
				"type": "pageview",
				"id": hex32(),
				"ts": now - 1790,
				"url": page,
				"title": "Espresso Machine Pro | Shop Example",
				"ref": "https://www.google.com/",
			},
			{
				"type": "event",
				"id": hex32(),
				"ts": now - 200,
				"url": page,
				"name": "add_to_cart",
				"props": {"sku": "EMP-2024-BLK", "price": 349.9, "qty": 1, "in_stock": True},
			},
		],
	}
	return json.dumps(batch, separators=(",", ":")).encode()


def percentile(values: list[float], p: float) -> float:
	"""Nearest-rank percentile."""
	ordered = sorted(values)
	rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
	return ordered[rank - 1]


class Target:
	def __init__(self, name: str, method: str, path: str, expect: int, body=None, headers=None):
		self.name, self.method, self.path, self.expect = name, method, path, expect
		self.body, self.headers = body, headers or {}

	def send(self, client: Client) -> float:
		body = self.body() if callable(self.body) else self.body
		elapsed, status, headers = client.request(self.method, self.path, body, self.headers)
		if status != self.expect:
			raise SystemExit(f"{self.name}: HTTP {status}, expected {self.expect}")
		if self.expect == 302 and not headers.get("Location"):
			raise SystemExit(f"{self.name}: 302 without Location")
		return elapsed


def alternate(client: Client, ping: Target, target: Target, pairs: int, warmup: int) -> dict:
	times = {ping.name: [], target.name: []}
	for i in range(warmup + pairs):
		p, t = ping.send(client), target.send(client)
		if i >= warmup:
			times[ping.name].append(p)
			times[target.name].append(t)
	return times


def mysql_status(command: list[str]) -> dict[str, int]:
	names = ",".join(f"'{name}'" for name in STATUS_VARS)
	sql = f"SHOW GLOBAL STATUS WHERE Variable_name IN ({names})"
	out = subprocess.run([*command, "-N", "-B", "-e", sql], check=True, capture_output=True, text=True)
	return {name: int(value) for name, value in (line.split("\t") for line in out.stdout.splitlines())}


def delta(before: dict, after: dict) -> dict:
	return {k: after[k] - before[k] for k in STATUS_VARS}


def sql_per_request(client: Client, target: Target, command: list[str], n: int, rounds: int) -> dict:
	"""Lowest per-request statement counts over `rounds` rounds of n requests (measuring cost removed)."""
	best: dict[str, float] | None = None
	for _ in range(rounds):
		a = mysql_status(command)
		b = mysql_status(command)
		overhead = delta(a, b)
		before = mysql_status(command)
		for _ in range(n):
			target.send(client)
		after = mysql_status(command)
		per = {k: (v - overhead[k]) / n for k, v in delta(before, after).items()}
		if best is None or per["Questions"] < best["Questions"]:
			best = per
	return best


def fmt_ms(seconds: float) -> str:
	return f"{seconds * 1000:.2f}"


def print_latency(ping_name: str, name: str, times: dict) -> None:
	p, t = times[ping_name], times[name]
	print(f"\n{name} vs {ping_name}: {len(t)} alternating pairs")
	print("| request | n | p50 ms | p95 ms | p99 ms | mean ms | p50 ratio | p95 ratio |")
	print("|---|---|---|---|---|---|---|---|")
	for label, values in ((ping_name, p), (name, t)):
		print(
			f"| {label} | {len(values)} | {fmt_ms(percentile(values, 50))} | {fmt_ms(percentile(values, 95))} "
			f"| {fmt_ms(percentile(values, 99))} | {fmt_ms(statistics.fmean(values))} "
			f"| {percentile(values, 50) / percentile(p, 50):.2f}x | {percentile(values, 95) / percentile(p, 95):.2f}x |"
		)


def main(argv=None) -> int:
	parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
	parser.add_argument("url", help="base URL of the web server, e.g. http://127.0.0.1:8000")
	parser.add_argument("--host", default="", help="Host header (the site name), default: the URL's host")
	parser.add_argument("--code", help="short code of an active Tracked Link (benchmarks /r/<code>)")
	parser.add_argument("--prefix", default="r", help="redirect prefix (TrackFlow Settings)")
	parser.add_argument("--site-key", help="public key of a TrackFlow Site (benchmarks collect)")
	parser.add_argument("--origin", default="https://www.shop-example.com", help="an allowed origin of it")
	parser.add_argument("--pairs", type=int, default=600, help="alternating (ping, target) pairs")
	parser.add_argument("--warmup", type=int, default=30, help="pairs sent first and not counted")
	parser.add_argument("--keep-alive", action="store_true", help="reuse connections (default: one each)")
	parser.add_argument("--mysql", default="", help='command for SQL counts, e.g. "mysql -h127.0.0.1 -uroot"')
	parser.add_argument("--sql-requests", type=int, default=200, help="requests per SQL counting round")
	parser.add_argument("--sql-rounds", type=int, default=3)
	args = parser.parse_args(argv)

	client = Client(args.url, args.host, args.keep_alive)
	ping = Target("ping", "GET", PING, 200)
	targets = []
	if args.code:
		targets.append(Target("redirect", "GET", f"/{args.prefix}/{args.code}", 302))
	if args.site_key:
		targets.append(
			Target(
				"collect",
				"POST",
				COLLECT,
				204,
				body=lambda: collect_body(args.site_key, args.origin),
				headers={"Content-Type": "text/plain;charset=UTF-8", "Origin": args.origin},
			)
		)
	if not targets:
		parser.error("give --code and/or --site-key")

	print(
		f"# {time.strftime('%Y-%m-%d %H:%M:%S')} {platform.node()} {os.cpu_count()} CPUs, "
		f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}, Python {platform.python_version()}, "
		f"{'keep-alive' if args.keep_alive else 'one connection per request'}, distinct X-Forwarded-For"
	)
	if args.site_key:
		print(f"# collect body: {len(collect_body(args.site_key, args.origin))} bytes, 3 events, text/plain")
	for target in targets:
		times = alternate(client, ping, target, args.pairs, args.warmup)
		print_latency(ping.name, target.name, times)

	if args.mysql:
		command = shlex.split(args.mysql)
		print(f"\nSQL statements per request (MariaDB global counters, lowest of {args.sql_rounds} rounds)")
		print("| request | requests/round | " + " | ".join(STATUS_VARS) + " |")
		print("|---" * (len(STATUS_VARS) + 2) + "|")
		for target in (ping, *targets):
			per = sql_per_request(client, target, command, args.sql_requests, args.sql_rounds)
			cells = " | ".join(f"{per[k]:.2f}" for k in STATUS_VARS)
			print(f"| {target.name} | {args.sql_requests} | {cells} |")
	return 0


if __name__ == "__main__":
	sys.exit(main())
