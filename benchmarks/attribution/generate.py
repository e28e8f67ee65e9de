"""Seeded synthetic journeys for the attribution benchmark, written as ChannelAttribution path CSVs.

12 channels with skewed popularity, path length geometric with mean 4 capped at 30, ~4 % converting
(the chance rises with a few "strong" channels so data-driven models have something to find).
Usage: python benchmarks/attribution/generate.py [--journeys 1000000] [--seed 7] [--out FILE]
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import defaultdict
from pathlib import Path

CHANNELS = (
	"paid_search",
	"organic_search",
	"direct",
	"email",
	"paid_social",
	"organic_social",
	"display",
	"referral",
	"affiliate",
	"video",
	"sms",
	"qr",
)
POPULARITY = (26, 21, 16, 10, 8, 6, 5, 3, 2, 1, 1, 1)
LIFT = {"email": 1.8, "paid_search": 1.5, "referral": 1.4, "sms": 1.3, "display": 0.6, "video": 0.7}
MEAN_LENGTH = 4
MAX_LENGTH = 30
BASE_RATE = 0.0255
DATA = Path(__file__).resolve().parents[1] / "data"


def journeys(n: int, seed: int):
	"""Yield (path tuple, converted bool, value cents) for n journeys."""
	rng = random.Random(seed)
	p_stop = 1 / MEAN_LENGTH
	choices = rng.choices
	for _ in range(n):
		length = 1
		while length < MAX_LENGTH and rng.random() >= p_stop:
			length += 1
		path = tuple(choices(CHANNELS, POPULARITY, k=length))
		rate = BASE_RATE
		for channel in set(path):
			rate *= LIFT.get(channel, 1.0)
		converted = rng.random() < min(rate, 0.9)
		yield path, converted, rng.randrange(1000, 50000) if converted else 0


def aggregate(n: int, seed: int) -> dict[tuple[str, ...], list[int]]:
	rows: dict[tuple[str, ...], list[int]] = defaultdict(lambda: [0, 0, 0])
	for path, converted, cents in journeys(n, seed):
		row = rows[path]
		if converted:
			row[0] += 1
			row[1] += cents
		else:
			row[2] += 1
	return rows


def write(rows: dict[tuple[str, ...], list[int]], out: Path) -> None:
	out.parent.mkdir(parents=True, exist_ok=True)
	with out.open("w") as f:
		f.write("path;total_conversions;total_conversion_value;total_null\n")
		for path in sorted(rows):
			conv, cents, nulls = rows[path]
			f.write(f"{' > '.join(path)};{conv};{cents // 100}.{cents % 100:02d};{nulls}\n")


def dataset(n: int, seed: int = 7) -> Path:
	"""Path of the aggregated CSV for n journeys, generated once and cached under benchmarks/data/."""
	out = DATA / f"attribution_paths_{n}_{seed}.csv"
	if not out.exists():
		write(aggregate(n, seed), out)
	return out


def main(argv: list[str] | None = None) -> int:
	parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
	parser.add_argument("--journeys", type=int, default=1_000_000)
	parser.add_argument("--seed", type=int, default=7)
	parser.add_argument("--out", type=Path)
	args = parser.parse_args(argv)
	rows = aggregate(args.journeys, args.seed)
	out = args.out or DATA / f"attribution_paths_{args.journeys}_{args.seed}.csv"
	write(rows, out)
	conv = sum(r[0] for r in rows.values())
	print(
		f"{out}: {args.journeys} journeys, {len(rows)} distinct paths, {conv / args.journeys:.2%} converting"
	)
	return 0


if __name__ == "__main__":
	sys.exit(main())
