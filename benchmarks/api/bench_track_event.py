"""track_event (one request of 1,000 server-side events) against 1,000 single collect calls, through a
real site's web server, and the drain's rate for each stream.

Run inside the site (it creates a TrackFlow Site, an integration user with a token, and commits them), with
the site served on BASE (e.g. gunicorn on 127.0.0.1:8000):

    bench --site SITE execute trackflow... (or any runner that imports frappe and calls main())
    python benchmarks/api/bench_track_event.py --site SITE --base http://127.0.0.1:8000 [--n 1000] [--rounds 3]

The script connects to the site itself (it must run from the bench's sites folder with the bench's Python).
"""

import argparse
import json
import secrets
import statistics
import time

import frappe
import requests


def setup(n: int) -> tuple[dict, str, str]:
	from trackflow.permissions import TRACKFLOW_INTEGRATION

	site = frappe.get_doc(
		{
			"doctype": "TrackFlow Site",
			"site_name": f"Bench {secrets.token_hex(3)}",
			"allowed_domains": "bench.example.com",
		}
	).insert(ignore_permissions=True)
	email = f"bench-integration-{secrets.token_hex(3)}@example.com"
	user = frappe.get_doc(
		{"doctype": "User", "email": email, "first_name": "Bench", "user_type": "System User"}
	)
	user.insert(ignore_permissions=True)
	user.add_roles(TRACKFLOW_INTEGRATION)
	from frappe.core.doctype.user.user import generate_keys

	secret = generate_keys(email)["api_secret"]
	key = frappe.db.get_value("User", email, "api_key")
	frappe.db.commit()
	return site.as_dict(), f"token {key}:{secret}", email


def collect_body(site_key: str, i: int) -> bytes:
	now = int(time.time() * 1000)
	return json.dumps(
		{
			"site": site_key,
			"v": 1,
			"visitor": secrets.token_hex(16),
			"session": secrets.token_hex(16),
			"sent_at": now,
			"events": [
				{
					"type": "pageview",
					"id": secrets.token_hex(16),
					"ts": now,
					"url": f"https://bench.example.com/p{i}",
				}
			],
		}
	).encode()


def events(n: int) -> list[dict]:
	now = time.time()
	return [
		{"event_id": secrets.token_hex(8), "type": "pageview", "time": now - 60, "visitor": secrets.token_hex(16),
		 "url": f"https://bench.example.com/p{i}"}
		for i in range(n)
	]  # fmt: skip


def main():
	parser = argparse.ArgumentParser()
	parser.add_argument("--site", required=True)
	parser.add_argument("--base", default="http://127.0.0.1:8000")
	parser.add_argument("--n", type=int, default=1000)
	parser.add_argument("--rounds", type=int, default=3)
	args = parser.parse_args()
	frappe.init(site=args.site, sites_path=".")
	frappe.connect()
	frappe.set_user("Administrator")
	site, token, _email = setup(args.n)
	http = requests.Session()
	host = {"Host": args.site}
	collect_url = f"{args.base}/api/method/trackflow.api.tracking.collect"
	track_url = f"{args.base}/api/method/trackflow.api.tracking.track_event"
	browser = (
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"
	)
	collect_headers = {
		**host,
		"Origin": "https://bench.example.com",
		"Content-Type": "text/plain",
		"User-Agent": browser,
	}
	singles, batches = [], []
	for _round in range(args.rounds):  # alternating, so both see the same moments of the machine
		bodies = [collect_body(site["site_key"], i) for i in range(args.n)]
		started = time.perf_counter()
		for body in bodies:
			answer = http.post(collect_url, data=body, headers=collect_headers)
			assert answer.status_code in (204, 429), answer.text  # 429: the per-client limit (300/min)
		singles.append(time.perf_counter() - started)
		batch = events(args.n)
		started = time.perf_counter()
		answer = http.post(track_url, json={"events": batch}, headers={**host, "Authorization": token})
		batches.append(time.perf_counter() - started)
		assert answer.status_code == 200 and answer.json()["message"]["accepted"] == args.n, answer.text
	single, one = statistics.median(singles), statistics.median(batches)
	print(f"{args.n} single collect calls: median {single:.3f} s ({', '.join(f'{s:.3f}' for s in singles)})")
	print(
		f"one track_event of {args.n} events: median {one:.3f} s ({', '.join(f'{s:.3f}' for s in batches)})"
	)
	print(f"ratio {one / single:.3f}")
	from trackflow.drain import drain

	for stream in ("collect", "events"):
		result = drain(stream, max_seconds=600)
		rate = result["records"] / result["seconds"] if result["seconds"] else 0
		print(f"drain {stream}: {result['records']} records in {result['seconds']} s ({rate:,.0f} records/s)")
	frappe.destroy()


if __name__ == "__main__":
	main()
