"""Measures parse_collect throughput (payloads/s) on realistic embed-script batches; the target is 20,000/s."""

import argparse
import json
import random
import statistics
import sys
import time

from trackflow.engine.collect import parse_collect
from trackflow.engine.sessions import build_rows

NOW = 1_767_225_600.0
SENT = int(NOW * 1000)


def _id(rng: random.Random) -> str:
	return f"{rng.getrandbits(128):032x}"


def payloads(count: int, seed: int = 5) -> list[bytes]:
	"""A mix like the script sends: landing batches (session_start + pageview), page views, events with
	props, conversions and identifies; 1-5 events per batch."""
	rng = random.Random(seed)
	out = []
	for n in range(count):
		url = f"https://shop.example.com/products/item-{rng.randrange(500)}?ref=home&page={rng.randrange(9)}"
		events = []
		if n % 4 == 0:
			events.append(
				{
					"type": "session_start",
					"ref": "https://www.google.com/",
					"utm": {"source": "google", "medium": "cpc", "campaign": f"spring-{n % 7}"},
					"click_ids": {"gclid": "Cj0KCQiA" + _id(rng)},
				}
			)
		events.append({"type": "pageview", "title": "Product item \u2013 Example Shop", "ref": url})
		for _ in range(rng.randrange(0, 4)):
			kind = rng.choice(["event", "event", "conversion", "identify"])
			if kind == "event":
				events.append(
					{
						"type": "event",
						"name": "add_to_cart",
						"props": {"sku": f"S-{n}", "qty": 2, "price": 19.9},
					}
				)
			elif kind == "conversion":
				conversion = {"type": "purchase", "value": 49.9, "currency": "EUR", "id": f"o-{n}"}
				events.append({"type": "conversion", "conversion": conversion})
			else:
				events.append(
					{"type": "identify", "traits": {"email": f"User{n}@Example.com", "name": "Ada Lovelace"}}
				)
		for i, event in enumerate(events):
			event.update(id=_id(rng), ts=SENT - 500 + i, url=url)
		body = {
			"site": "pk_live_ABCdef123",
			"v": 1,
			"visitor": _id(rng),
			"session": _id(rng),
			"sent_at": SENT,
			"events": events,
		}
		out.append(json.dumps(body, ensure_ascii=False).encode())
	return out


def main(argv=None) -> int:
	parser = argparse.ArgumentParser(description=__doc__)
	parser.add_argument("--payloads", type=int, default=20_000)
	parser.add_argument("--rounds", type=int, default=5)
	args = parser.parse_args(argv)
	bodies = payloads(args.payloads)
	mean_bytes = statistics.mean(map(len, bodies))
	mean_events = statistics.mean(len(json.loads(b)["events"]) for b in bodies)
	rates = []
	for _ in range(args.rounds):
		start = time.perf_counter()
		batches = [parse_collect(body, now=NOW) for body in bodies]
		rates.append(len(bodies) / (time.perf_counter() - start))
	start = time.perf_counter()
	rows = build_rows(batches)
	build_rate = len(rows.events) / (time.perf_counter() - start)
	median = statistics.median(rates)
	print(
		f"python {sys.version.split()[0]}; {len(bodies)} payloads, mean {mean_bytes:.0f} B, {mean_events:.2f} events each"
	)
	print(f"parse_collect: median {median:,.0f} payloads/s (best {max(rates):,.0f}, worst {min(rates):,.0f})")
	print(f"               = {median * mean_events:,.0f} events/s")
	print(
		f"build_rows:    {build_rate:,.0f} event rows/s ({len(rows.sessions)} sessions, {len(rows.touchpoints)} touchpoints)"
	)
	return 0


if __name__ == "__main__":
	raise SystemExit(main())
