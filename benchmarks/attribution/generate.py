"""Seeded synthetic journeys for the attribution benchmark, written as ChannelAttribution path CSVs.

12 channels with skewed popularity, path length geometric with mean 4 capped at 30, ~4 % converting
(the chance rises with a few "strong" channels so data-driven models have something to find).
Usage: python benchmarks/attribution/generate.py [--journeys 1000000] [--seed 7] [--out FILE]
       python benchmarks/attribution/generate.py --touches 1000000   (TP.csv/CV.csv for --touchpoints)
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import defaultdict
from datetime import datetime, timedelta, timezone
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


def write_touchpoints(touches: int, seed: int, tp_out: Path, cv_out: Path) -> tuple[int, int]:
	"""The same synthetic journeys as TP.csv/CV.csv rows for `--touchpoints/--conversions`, until `touches`
	touchpoints are written (one touch an hour from the journey's start; conversions an hour after the
	last touch). Returns (journeys, conversions)."""
	tp_out.parent.mkdir(parents=True, exist_ok=True)
	start = datetime(2026, 1, 1, tzinfo=timezone.utc)
	written = journeys_written = conversions = 0
	with tp_out.open("w") as tp, cv_out.open("w") as cv:
		tp.write("journey_id,timestamp,channel\n")
		cv.write("journey_id,timestamp,value\n")
		for number, (path, converted, cents) in enumerate(journeys(touches, seed)):
			path = path[: touches - written]
			journey = f"j{number:07d}"
			first = start + timedelta(minutes=number % 500_000)
			for hour, channel in enumerate(path):
				tp.write(f"{journey},{(first + timedelta(hours=hour)).isoformat()},{channel}\n")
			written += len(path)
			journeys_written += 1
			if converted:
				at = first + timedelta(hours=len(path))
				cv.write(f"{journey},{at.isoformat()},{cents // 100}.{cents % 100:02d}\n")
				conversions += 1
			if written >= touches:
				break
	return journeys_written, conversions


def touchpoint_dataset(touches: int, seed: int = 7) -> tuple[Path, Path]:
	"""TP.csv and CV.csv paths for `touches` touchpoints, generated once under benchmarks/data/."""
	tp_out = DATA / f"attribution_touchpoints_{touches}_{seed}.csv"
	cv_out = DATA / f"attribution_conversions_{touches}_{seed}.csv"
	if not tp_out.exists() or not cv_out.exists():
		write_touchpoints(touches, seed, tp_out, cv_out)
	return tp_out, cv_out


def main(argv: list[str] | None = None) -> int:
	parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
	parser.add_argument("--journeys", type=int, default=1_000_000)
	parser.add_argument("--seed", type=int, default=7)
	parser.add_argument("--out", type=Path)
	parser.add_argument(
		"--touches", type=int, help="write TP.csv/CV.csv with this many touchpoints instead of paths"
	)
	args = parser.parse_args(argv)
	if args.touches:
		tp_out, cv_out = touchpoint_dataset(args.touches, args.seed)
		print(f"{tp_out}, {cv_out}: {args.touches} touchpoints")
		return 0
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
