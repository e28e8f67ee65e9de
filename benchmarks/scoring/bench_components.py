"""Engine-only cost of the component score (fit, engagement, intent) over 100k synthetic leads: a full rescore
of every lead, the daily path that reads no activity, one lead's explanation, journey health and summaries.

No site, no database: the figures are what the engine adds to the daily job's reads and writes.
"""

import argparse
import math
import random
import statistics
import time
from datetime import datetime, timedelta, timezone

from trackflow.engine.scoring import Activity, ScoringRule
from trackflow.engine.scoring_fit import FitRule
from trackflow.engine.scoring_health import journey_health
from trackflow.engine.scoring_lead import (
	Adjustment,
	IntentRule,
	RuleSet,
	changed_lead_scores,
	explain,
	score_lead,
)
from trackflow.engine.scoring_summary import summarize_activity

NOW = datetime(2026, 6, 30, 2, 30, tzinfo=timezone.utc)  # the daily job runs at 02:30
PATHS = ["/pricing", "/pricing/team", "/docs/a/install", "/blog/x", "/", "/careers", "/about"]
EMPLOYEES = ["1-10", "11-50", "51-200", "201-500", "501-1000", "1000+"]
INDUSTRIES = ["Technology", "Software", "Retail", "Finance", "Healthcare", "Education", None]
DOMAINS = ["gmail.com", "yahoo.com", "outlook.com", "acme.io", "globex.com", "initech.co.uk", "hooli.com"]

RULES = RuleSet(
	engagement=(
		ScoringRule("pricing", "page_view", 10, path_pattern="/pricing*", max_per_period=3, period_days=7),
		ScoringRule("docs", "page_view", 2, path_pattern="/docs/*"),
		ScoringRule("careers", "page_view", -5, path_pattern="/careers*"),
		ScoringRule("reply", "email_reply", 15),
		ScoringRule("paid", "channel", 3, channel="paid_search"),
	),
	intent=(
		IntentRule(
			ScoringRule(
				"pricing week", "page_view", 15, path_pattern="/pricing*", max_per_period=2, period_days=7
			),
			7,
		),
		IntentRule(ScoringRule("demo", "form_submit", 40, event_name="demo request"), 30),
		IntentRule(ScoringRule("qualified", "conversion", 25, conversion_type="lead_qualified"), 30),
	),
	fit=(
		FitRule("company email", "email", "not_free_mail", 15),
		FitRule("software", "industry", "in_list", 20, "Technology\nSoftware"),
		FitRule("mid market", "no_of_employees", "greater_than", 20, "50"),
		FitRule("revenue", "annual_revenue", "greater_than", 10, "1000000"),
		FitRule("title", "job_title", "is_set", 5),
		FitRule("india", "territory", "equals", 5, "India"),
	),
)


def synthetic_activity(rng: random.Random, count: int) -> list[tuple]:
	"""Rows as the Frappe side reads them: (kind, time, name, path, conversion_type, channel)."""
	rows = []
	for _ in range(count):
		when = NOW - timedelta(hours=rng.expovariate(1 / 900))  # most activity in the last ~2 months
		roll = rng.random()
		if roll < 0.75:
			rows.append(("page_view", when, None, rng.choice(PATHS), None, None))
		elif roll < 0.85:
			rows.append(
				("touch", when, None, None, None, rng.choice(["paid_search", "email", "organic_search"]))
			)
		elif roll < 0.93:
			rows.append(("email_reply", when, None, None, None, None))
		elif roll < 0.97:
			rows.append(("form_submit", when, "demo request", "/demo", None, None))
		else:
			rows.append(("conversion", when, None, None, "lead_qualified", None))
	return rows


def synthetic_leads(count: int, seed: int) -> list[tuple[dict, list[tuple]]]:
	"""Lead fields and activity rows. Activities per lead: 30 % none, else log-normal (median 8, cap 400)."""
	rng = random.Random(seed)
	leads = []
	for i in range(count):
		fields = {
			"name": f"CRM-LEAD-2026-{i:06d}",
			"email": f"p{i}@{rng.choice(DOMAINS)}",
			"industry": rng.choice(INDUSTRIES),
			"no_of_employees": rng.choice(EMPLOYEES),
			"annual_revenue": rng.choice([0.0, 250_000.0, 5_000_000.0]),
			"job_title": rng.choice([None, "CTO", "Buyer"]),
			"territory": rng.choice(["India", "US", None]),
		}
		n = 0 if rng.random() < 0.3 else min(400, int(rng.lognormvariate(math.log(8), 1.0)))
		leads.append((fields, synthetic_activity(rng, n)))
	return leads


def activities(rows: list[tuple]) -> list[Activity]:
	return [
		Activity(kind, when, name=name, path=path, conversion_type=ctype, channel=channel)
		for kind, when, name, path, ctype, channel in rows
	]


def main():
	parser = argparse.ArgumentParser(description=__doc__)
	parser.add_argument("--leads", type=int, default=100_000)
	parser.add_argument("--seed", type=int, default=7)
	parser.add_argument("--repeat", type=int, default=3, help="full rescores to time (the best is reported)")
	args = parser.parse_args()

	leads = synthetic_leads(args.leads, args.seed)
	total_acts = sum(len(rows) for _, rows in leads)
	print(f"{args.leads:,} leads, {total_acts:,} activities (mean {total_acts / args.leads:.1f} per lead)")

	t = time.perf_counter()
	built = [(fields, activities(rows)) for fields, rows in leads]
	build = time.perf_counter() - t
	print(f"Activity objects from rows: {build:.2f} s ({build / args.leads * 1e6:.0f} us per lead)")

	runs = []
	for _ in range(args.repeat):
		t = time.perf_counter()
		scores = [score_lead(fields, acts, RULES, NOW) for fields, acts in built]
		runs.append(time.perf_counter() - t)
	full = min(runs)
	print(
		f"score_lead(), every lead, all components: best of {args.repeat} {full:.2f} s "
		f"({full / args.leads * 1e6:.0f} us per lead; runs {', '.join(f'{r:.2f}' for r in runs)} s)"
	)

	stored = [s.stored(fields["name"]) for s, (fields, _) in zip(scores, built, strict=True)]
	day_timings, rescored = [], []
	for day in range(1, 8):
		t = time.perf_counter()
		_, rescore = changed_lead_scores(stored, NOW + timedelta(days=day))
		day_timings.append(time.perf_counter() - t)
		rescored.append(len(rescore))
	median_rescore = statistics.median(rescored)
	# the leads whose intent is due are rescored in full by the daily job: their engine cost on top
	per_lead = full / args.leads
	print(
		f"changed_lead_scores(), daily path: median {statistics.median(day_timings) * 1e3:.0f} ms over 7 days; "
		f"leads whose intent is due, rescored in full: median {median_rescore:,.0f} "
		f"({median_rescore / args.leads:.1%}), ~{median_rescore * per_lead:.2f} s of score_lead()"
	)

	heavy = max(built, key=lambda lead: len(lead[1]))
	adjustments = [
		Adjustment(20, "met at the fair", NOW - timedelta(days=3)),
		Adjustment(-5, "no budget", NOW, False),
	]
	n = 200
	t = time.perf_counter()
	for _ in range(n):
		explain(score_lead(heavy[0], heavy[1], RULES, NOW, adjustments=adjustments), top_per_component=5)
	print(
		f"explanation of one lead with {len(heavy[1])} activities: {(time.perf_counter() - t) / n * 1e3:.2f} ms"
	)

	sample = built[: min(10_000, len(built))]
	history = [(NOW.date() - timedelta(days=d), float(d)) for d in range(40, 0, -3)]
	t = time.perf_counter()
	for _, acts in sample:
		journey_health([a.timestamp for a in acts], history, NOW, stage_median_days=9)
	health = (time.perf_counter() - t) / len(sample)
	t = time.perf_counter()
	for fields, acts in sample:
		summarize_activity(fields["name"], acts, "week", score_history=history)
	summary = (time.perf_counter() - t) / len(sample)
	print(
		f"journey_health(): {health * 1e6:.0f} us per lead; summarize_activity(week): {summary * 1e6:.0f} us per lead"
	)


if __name__ == "__main__":
	main()
