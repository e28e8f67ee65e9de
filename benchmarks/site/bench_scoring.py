"""Lead scoring on a real site: the daily job with components over 100k leads, and one explanation.

Run from the bench directory (it inserts synthetic rows, measures, and deletes them again):
    env/bin/python apps/trackflow/benchmarks/site/bench_scoring.py --site SITE [--leads 100000]

Leads get stored components (fit, engagement anchor scored 1 to 30 days ago, intent) as score_lead writes
them; a share of them (--due, default 15 %, the engine benchmark's share) has intent that leaves its window
today and two touches each, so the job rescores them from their activity. `trackflow.scoring.decay_scores()`
then runs twice (the second run is the next day: scores one day older, nothing due). One fit, one activity
and one intent rule are active. explain_lead is timed on leads with 20 touches each.
"""

import argparse
import os
import random
import statistics
import time
from datetime import timedelta

TAG = "score-bench"


def main():
	parser = argparse.ArgumentParser()
	parser.add_argument("--site", required=True)
	parser.add_argument("--leads", type=int, default=100_000)
	parser.add_argument("--due", type=float, default=0.15)
	args = parser.parse_args()
	os.chdir("sites")
	import frappe

	frappe.init(site=args.site)
	frappe.connect()
	frappe.set_user("Administrator")
	try:
		add_rules()
		bench_daily(args.leads, args.due)
		bench_explain()
	finally:
		cleanup()
		frappe.destroy()


def questions() -> int:
	import frappe

	return int(frappe.db.sql("SHOW SESSION STATUS LIKE 'Questions'")[0][1])


def add_rules():
	import frappe

	rules = [
		{"rule_type": "fit", "lead_field": "email", "operator": "not_free_mail", "points": 40},
		{"rule_type": "activity", "activity_kind": "channel", "channel": "email", "points": 10},
		{"rule_type": "intent", "activity_kind": "channel", "channel": "paid_search", "points": 30},
	]
	for i, rule in enumerate(rules):
		frappe.get_doc({"doctype": "Lead Scoring Rule", "rule_name": f"{TAG}-{i}", **rule}).insert()
	frappe.db.commit()


def bench_daily(count: int, due_share: float):
	import frappe
	from frappe.utils import now_datetime

	from trackflow.bulk import insert_rows
	from trackflow.scoring import decay_scores

	rng = random.Random(7)
	now = now_datetime()
	fields = ["name", "creation", "modified", "owner", "first_name", "lead_name", "status", "naming_series"]
	fields += ["email", "tf_fit_score", "tf_activity_score", "tf_engagement_fixed", "tf_intent_score"]
	fields += ["tf_scored_at", "tf_intent_changes_at", "tf_engagement_score", "tf_engagement_grade"]
	fields += ["tf_temperature", "tf_last_activity_at", "tf_activity_cadence_days"]
	rows, touches = [], []
	for i in range(count):
		name = f"{TAG}-{i:07d}"
		due = rng.random() < due_share
		scored_at = now - timedelta(days=rng.uniform(1, 30))
		fit, anchor, intent = rng.choice((0, 40)), rng.uniform(0, 120), 30 if due else 0
		rows.append(
			[
				name, now - timedelta(days=60), now, "Administrator", "Bench", "Bench", "New", "CRM-LEAD-.YYYY.-",
				f"{name}@example.com", fit, anchor, 0, intent, scored_at,
				now - timedelta(hours=1) if due else None, 50.0, "C", "warm", scored_at, rng.choice((0, 2, 7)),
			]
		)  # fmt: skip
		if due:
			for days, channel in ((8, "paid_search"), (3, "email")):
				at = now - timedelta(days=days)
				touches.append([f"{name}-{days}", at, at, "Administrator", at, channel, "session", name])
	started = time.perf_counter()
	insert_rows("CRM Lead", fields, rows)
	insert_rows(
		"Touchpoint",
		["name", "creation", "modified", "owner", "occurred_at", "channel", "touch_type", "crm_lead"],
		touches,
	)
	frappe.db.commit()
	print(f"inserted {count:,} leads and {len(touches):,} touches in {time.perf_counter() - started:.1f} s")
	for label in ("first run", "next day's run"):
		before = questions()
		started = time.perf_counter()
		result = decay_scores()
		frappe.db.commit()
		elapsed = time.perf_counter() - started
		print(
			f"decay_scores, {label}: {elapsed:.1f} s; {result['changed']:,} of {result['leads']:,} leads "
			f"decayed, {result['rescored']:,} rescored from activity, churn risk changed on "
			f"{result['churn_changed']:,}; {questions() - before:,} statements"
		)
		frappe.db.sql(
			"UPDATE `tabCRM Lead` SET tf_scored_at = tf_scored_at - INTERVAL 1 DAY WHERE name LIKE %s",
			f"{TAG}-%",
		)
		frappe.db.commit()


def bench_explain(leads: int = 20, touches: int = 20):
	import frappe
	from frappe.utils import now_datetime

	from trackflow.api.scoring import explain_lead
	from trackflow.bulk import insert_rows

	now = now_datetime()
	names = [f"{TAG}-{i:07d}" for i in range(leads)]
	rows = [
		[f"{name}-x{j}", now, now, "Administrator", now - timedelta(days=j), "email", "session", name]
		for name in names
		for j in range(touches)
	]
	insert_rows(
		"Touchpoint",
		["name", "creation", "modified", "owner", "occurred_at", "channel", "touch_type", "crm_lead"],
		rows,
	)
	frappe.db.commit()
	explain_lead(names[0])  # warm the caches (meta, settings, stage medians)
	times = []
	for name in names * 5:
		started = time.perf_counter()
		explain_lead(name)
		times.append((time.perf_counter() - started) * 1000)
	times.sort()
	print(
		f"explain_lead ({touches} touches, 3 rules): median {statistics.median(times):.1f} ms, "
		f"p95 {times[int(len(times) * 0.95) - 1]:.1f} ms, max {times[-1]:.1f} ms over {len(times)} calls"
	)


def cleanup():
	import frappe

	frappe.db.rollback()
	for doctype, field in (
		("CRM Lead", "name"),
		("Touchpoint", "crm_lead"),
		("Lead Score History", "crm_lead"),
		("Lead Scoring Rule", "name"),
	):
		frappe.db.sql(f"DELETE FROM `tab{doctype}` WHERE `{field}` LIKE %s", f"{TAG}-%")
		frappe.db.commit()


if __name__ == "__main__":
	main()
