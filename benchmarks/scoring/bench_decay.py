"""Daily score decay over 100k synthetic leads: time to find the changed set, and how many rows change."""

import argparse
import math
import random
import statistics
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone

from trackflow.engine.scoring import (
	Activity,
	ScoreRow,
	ScoringRule,
	changed_scores,
	decayed,
	grade,
	score,
	temperature,
)

START = datetime(2026, 1, 1, 2, 30, tzinfo=timezone.utc)  # the daily job runs at 02:30
DAY = timedelta(days=1)


def synthetic_leads(count: int, seed: int) -> list[dict]:
	"""Lead rows as the Frappe layer would read them (dicts), anchored at each lead's last activity.

	Last activity: 40 % within 30 days, 35 % within a year, 25 % older (up to 3 years): a CRM with a
	long tail of quiet leads. Activity score at that moment: log-normal, median 25, capped at 300.
	Profile points: 0 for 30 % of leads, else 5-25.
	"""
	rng = random.Random(seed)
	rows = []
	for i in range(count):
		bucket = rng.random()
		age_days = (
			rng.uniform(0, 30)
			if bucket < 0.4
			else rng.uniform(30, 365)
			if bucket < 0.75
			else rng.uniform(365, 1095)
		)
		anchor = START - timedelta(days=age_days)
		activity = min(300.0, rng.lognormvariate(math.log(25), 0.9))
		profile = 0.0 if rng.random() < 0.3 else float(rng.randrange(5, 26))
		shown = round(max(0.0, activity + profile), 2)
		rows.append(
			{
				"lead": f"CRM-LEAD-2026-{i:06d}",
				"activity_score": activity,
				"scored_at": anchor,
				"profile_score": profile,
				"score": shown,
				"grade": grade(shown),
				"temperature": temperature(shown),
			}
		)
	return rows


def apply(rows: list[ScoreRow], updates) -> list[ScoreRow]:
	"""What the bulk update leaves in the table."""
	by_lead = {u.lead: u for u in updates}
	out = []
	for row in rows:
		u = by_lead.get(row.lead)
		out.append(
			row
			if u is None
			else replace(
				row,
				activity_score=u.activity_score,
				scored_at=u.scored_at,
				score=u.score,
				grade=u.grade,
				temperature=u.temperature,
			)
		)
	return out


def steady_state(rows: list[ScoreRow], args, min_delta: float) -> list[ScoreRow]:
	"""A first run after a long gap, then `args.days` daily runs; prints time and changed rows."""
	t = time.perf_counter()
	updates = changed_scores(rows, START, min_delta=min_delta)
	first = time.perf_counter() - t
	print(
		f"min_delta {min_delta}: first run {first * 1e3:.0f} ms, {len(updates):,} rows change "
		f"({math.ceil(len(updates) / args.batch)} bulk statements of {args.batch})"
	)
	rows = apply(rows, updates)
	timings, changed = [], []
	now = START
	for _ in range(args.days):
		now += DAY
		t = time.perf_counter()
		updates = changed_scores(rows, now, min_delta=min_delta)
		timings.append(time.perf_counter() - t)
		changed.append(len(updates))
		rows = apply(rows, updates)
	print(
		f"  then {args.days} daily runs: changed-set time median {statistics.median(timings) * 1e3:.0f} ms "
		f"(min {min(timings) * 1e3:.0f}, max {max(timings) * 1e3:.0f}); rows changed per day median "
		f"{statistics.median(changed):,.0f} ({statistics.median(changed) / args.leads:.1%}), "
		f"{math.ceil(statistics.median(changed) / args.batch)} bulk statements"
	)
	return rows


def main():
	parser = argparse.ArgumentParser(description=__doc__)
	parser.add_argument("--leads", type=int, default=100_000)
	parser.add_argument("--days", type=int, default=30, help="daily runs to simulate before measuring")
	parser.add_argument("--batch", type=int, default=1000, help="rows per bulk UPDATE statement")
	parser.add_argument("--seed", type=int, default=7)
	parser.add_argument("--min-delta", type=float, nargs="+", default=[0.01, 0.1, 1.0])
	args = parser.parse_args()

	dicts = synthetic_leads(args.leads, args.seed)
	t = time.perf_counter()
	rows_in = [ScoreRow(**d) for d in dicts]
	build = time.perf_counter() - t
	print(f"{args.leads:,} leads; ScoreRow from dicts: {build * 1e3:.0f} ms")

	for min_delta in args.min_delta:
		rows = steady_state(rows_in, args, min_delta)
	now = START + args.days * DAY

	# Exactness after the simulated month: anchors brought forward match a fresh decay from the start.
	worst = 0.0
	for d, row in zip(dicts, rows, strict=True):
		exact = decayed(d["activity_score"], d["scored_at"], now)
		worst = max(worst, abs(decayed(row.activity_score, row.scored_at, now) - exact))
	print(f"largest difference, re-anchored daily vs decayed once: {worst:.2e} points")

	# For scale: a full recompute of one lead from 50 activities (what new activity triggers).
	rules = [
		ScoringRule("pricing", "page_view", 10, path_pattern="/pricing*", max_per_period=3, period_days=7),
		ScoringRule("docs", "page_view", 2, path_pattern="/docs/*"),
		ScoringRule("demo", "event", 25, event_name="demo_booked"),
		ScoringRule("reply", "email_reply", 15),
		ScoringRule("paid", "channel", 3, channel="paid_search"),
	]
	rng = random.Random(1)
	acts = [
		Activity(
			"page_view",
			now - timedelta(hours=rng.randrange(2000)),
			path=rng.choice(["/pricing", "/docs/a", "/"]),
		)
		for _ in range(40)
	] + [
		Activity("touch", now - timedelta(hours=rng.randrange(2000)), channel="paid_search")
		for _ in range(10)
	]
	n = 2000
	t = time.perf_counter()
	for _ in range(n):
		score(acts, rules, now)
	print(f"score(): 50 activities x 5 rules: {(time.perf_counter() - t) / n * 1e6:.0f} us per lead")


if __name__ == "__main__":
	main()
