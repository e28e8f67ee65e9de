"""Forwarding throughput: 10,000 conversions to one Meta and one GA4 destination on a local stand-in."""

import argparse
import math
import multiprocessing
import sys
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.engine.forwarding_stub import StubPlatform
from trackflow.engine.forwarding.plan import plan_deliveries
from trackflow.engine.forwarding.sender import Sender, request_for
from trackflow.engine.forwarding.types import GA4, META, Destination, ForwardedConversion

NOW = datetime.now(timezone.utc)


def serve(port_out) -> None:
	# In its own process, so the stand-in's CPU does not count against the sender's.
	with StubPlatform() as stub:
		port_out.put(stub.url)
		while True:
			time.sleep(3600)


def conversions(n: int, events_per_client: int) -> list[ForwardedConversion]:
	out = []
	for i in range(n):
		client = i // events_per_client
		out.append(
			ForwardedConversion(
				id=f"CONV-{i:06}",
				event_id=f"deal_won:CRM-DEAL-{i:06}",
				conversion_type="deal_won",
				occurred_at=NOW - timedelta(minutes=i % 600),
				value=Decimal("1250.00"),
				currency="EUR",
				lead=f"CRM-LEAD-{client:06}",
				email=f"buyer{client}@example.com",
				phone=f"+49 30 {client:08}",
				first_name="Zoë",
				last_name="O'Brien",
				client_ip="203.0.113.0",
				user_agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
				fbclid=f"IwAR{client:010}",
				fbclid_at_ms=1795000000000,
				ga_client_id=f"{1000000 + client}.1795000000",
				web_seen=bool(i % 2),
				consent="granted",
				campaign="spring-sale",
				source="facebook",
				medium="cpc",
			)
		)
	return out


def run(destination: Destination, items: list[ForwardedConversion]) -> dict:
	started = time.perf_counter()
	plan = plan_deliveries(destination, items, NOW)
	for batch in plan.batches:
		request_for(destination, list(batch.conversions))
	build_seconds = time.perf_counter() - started
	session = requests.Session()
	session.trust_env = False
	with Sender(session=session, timeout=10) as sender:
		started = time.perf_counter()
		outcomes = sender.deliver(destination, items, now=NOW)
		seconds = time.perf_counter() - started
		sent = sum(o.status == "sent" for o in outcomes)
		return {
			"events": len(items),
			"sent": sent,
			"requests": sender.requests_sent,
			"seconds": seconds,
			"events_per_s": sent / seconds,
			"build_events_per_s": len(items) / build_seconds,
		}


def main() -> None:
	parser = argparse.ArgumentParser(description=__doc__)
	parser.add_argument("-n", type=int, default=10_000)
	args = parser.parse_args()
	ports = multiprocessing.Queue()
	server = multiprocessing.Process(target=serve, args=(ports,), daemon=True)
	server.start()
	url = ports.get(timeout=10)
	try:
		meta = Destination("meta", META, base_url=url, meta_dataset_id="1234567", meta_access_token="token")
		ga4 = Destination("ga4", GA4, base_url=url, ga4_measurement_id="G-BENCH1234", ga4_api_secret="secret")
		n = args.n
		cases = [
			("Meta, 1,000 per request", meta, conversions(n, 1), math.ceil(n / 1000)),
			("GA4, 25 conversions per client", ga4, conversions(n, 25), math.ceil(n / 25)),
			("GA4, one conversion per client", ga4, conversions(n, 1), n),
		]
		print("| case | events | requests (expected) | seconds | events/s sent | events/s built |")
		print("|---|---:|---:|---:|---:|---:|")
		for label, destination, items, expected in cases:
			r = run(destination, items)
			print(
				f"| {label} | {r['sent']:,}/{r['events']:,} | {r['requests']:,} ({expected:,}) | {r['seconds']:.2f} "
				f"| {r['events_per_s']:,.0f} | {r['build_events_per_s']:,.0f} |"
			)
	finally:
		server.terminate()


if __name__ == "__main__":
	main()
