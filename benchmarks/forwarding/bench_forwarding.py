"""Forwarding throughput: 10,000 conversions to one Meta and one GA4 destination on a local stand-in."""

import argparse
import math
import multiprocessing
import os
import sys
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.engine.forwarding_stub import StubPlatform
from trackflow.engine.forwarding.plan import plan_deliveries
from trackflow.engine.forwarding.sender import DEFAULT_CONCURRENCY, Sender, new_session, request_for
from trackflow.engine.forwarding.types import GA4, META, Destination, ForwardedConversion

NOW = datetime.now(timezone.utc)


def serve(port_out, latency: float = 0.0) -> None:
	# In its own process, so the stand-in's CPU does not count against the sender's.
	with StubPlatform(latency=latency) as stub:
		port_out.put(stub.url)
		while True:
			time.sleep(3600)


def cpu_seconds(pid: int) -> float | None:
	"""User + system CPU of a process so far (Linux /proc; None elsewhere)."""
	try:
		fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
	except OSError:
		return None
	return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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


def run(
	destination: Destination, items: list[ForwardedConversion], concurrency: int, server_pid: int
) -> dict:
	started = time.perf_counter()
	plan = plan_deliveries(destination, items, NOW)
	for batch in plan.batches:
		request_for(destination, list(batch.conversions))
	build_seconds = time.perf_counter() - started
	session = new_session(concurrency)
	session.trust_env = False  # no proxy from the environment between the sender and 127.0.0.1
	with Sender(session=session, timeout=10, concurrency=concurrency) as sender:
		server_cpu = cpu_seconds(server_pid)
		cpu = time.process_time()
		started = time.perf_counter()
		outcomes = sender.deliver(destination, items, now=NOW)
		seconds = time.perf_counter() - started
		cpu = time.process_time() - cpu
		server_cpu = None if server_cpu is None else cpu_seconds(server_pid) - server_cpu
		sent = sum(o.status == "sent" for o in outcomes)
		requests = sender.requests_sent
		return {
			"events": len(items),
			"sent": sent,
			"requests": requests,
			"seconds": seconds,
			"events_per_s": sent / seconds,
			"build_events_per_s": len(items) / build_seconds,
			"sender_us": cpu / requests * 1e6,
			"server_us": None if server_cpu is None else server_cpu / requests * 1e6,
		}


def main() -> None:
	parser = argparse.ArgumentParser(description=__doc__)
	parser.add_argument("-n", type=int, default=10_000)
	parser.add_argument(
		"-c",
		"--concurrency",
		type=int,
		nargs="+",
		default=[DEFAULT_CONCURRENCY],
		help=f"requests in flight (default {DEFAULT_CONCURRENCY}); several values: each case at each",
	)
	parser.add_argument(
		"--latency",
		type=float,
		default=0.0,
		help="seconds the stand-in waits before each answer, as a network round trip would (default 0)",
	)
	args = parser.parse_args()
	ports = multiprocessing.Queue()
	server = multiprocessing.Process(target=serve, args=(ports, args.latency), daemon=True)
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
		load = " ".join(f"{x:.1f}" for x in os.getloadavg())
		latency = f"stand-in latency {args.latency * 1000:g} ms"
		print(f"{os.cpu_count()} cores, load average {load} before the run; {latency}")
		print(
			"| case | concurrency | events sent | requests (expected) | seconds | events/s sent "
			"| events/s planned + built | sender CPU µs/request | stand-in CPU µs/request |"
		)
		print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
		for label, destination, items, expected in cases:
			for concurrency in args.concurrency:
				r = run(destination, items, concurrency, server.pid)
				server_us = "?" if r["server_us"] is None else f"{r['server_us']:,.0f}"
				cells = [
					label,
					concurrency,
					f"{r['sent']:,}/{r['events']:,}",
					f"{r['requests']:,} ({expected:,})",
					f"{r['seconds']:.2f}",
					f"{r['events_per_s']:,.0f}",
					f"{r['build_events_per_s']:,.0f}",
					f"{r['sender_us']:,.0f}",
					server_us,
				]
				print("| " + " | ".join(map(str, cells)) + " |", flush=True)
	finally:
		server.terminate()


if __name__ == "__main__":
	main()
