"""Daily upkeep on a real site: score decay over 100k leads, and the purge of 1M click rows.

Run from the bench directory (it inserts synthetic rows, measures, and deletes them again):
    env/bin/python apps/trackflow/benchmarks/site/bench_upkeep.py --site SITE [--leads 100000] [--clicks 1000000]

Decay: leads get random scores anchored 1 to 30 days ago, then `trackflow.scoring.decay_scores()` runs
twice (the second run is the steady daily case); it reports time, leads changed and SQL statements.
Purge: Click Event rows created 400+ days ago, then `trackflow.retention.purge()` with the default
retention (clicks 395 days); it reports time, rows deleted and the longest single batch (DELETE + COMMIT,
the longest time any lock is held).
"""

import argparse
import os
import random
import secrets
import time
from datetime import timedelta

TAG = "upkeep-bench"


def main():
	parser = argparse.ArgumentParser()
	parser.add_argument("--site", required=True)
	parser.add_argument("--leads", type=int, default=100_000)
	parser.add_argument("--clicks", type=int, default=1_000_000)
	args = parser.parse_args()
	os.chdir("sites")  # run from the bench directory
	import frappe

	frappe.init(site=args.site)
	frappe.connect()
	frappe.set_user("Administrator")
	try:
		bench_decay(args.leads)
		bench_purge(args.clicks)
	finally:
		cleanup()
		frappe.destroy()


def questions() -> int:
	import frappe

	return int(frappe.db.sql("SHOW SESSION STATUS LIKE 'Questions'")[0][1])


def bench_decay(count: int):
	import frappe
	from frappe.utils import now_datetime

	from trackflow.bulk import insert_rows
	from trackflow.scoring import decay_scores

	rng = random.Random(7)
	now = now_datetime()
	fields = ["name", "creation", "modified", "owner", "first_name", "lead_name", "status", "naming_series"]
	fields += [
		"tf_activity_score",
		"tf_scored_at",
		"tf_engagement_score",
		"tf_engagement_grade",
		"tf_temperature",
	]
	rows = []
	for i in range(count):
		score = round(rng.uniform(0, 120), 2)
		rows.append(
			[
				f"{TAG}-{i:07d}", now, now, "Administrator", "Bench", "Bench", "New", "CRM-LEAD-.YYYY.-",
				score, now - timedelta(days=rng.uniform(1, 30)), score, "A", "hot",
			]
		)  # fmt: skip
	started = time.perf_counter()
	insert_rows("CRM Lead", fields, rows)
	frappe.db.commit()
	print(f"inserted {count:,} leads in {time.perf_counter() - started:.1f} s")
	for label in ("first run (scores 1-30 days old)", "next day's run"):
		before = questions()
		result = decay_scores()
		frappe.db.commit()
		print(
			f"decay, {label}: {result['seconds']:.2f} s writing, {result['changed']:,} of {result['leads']:,} leads "
			f"changed, {result['statements']} write statements, {questions() - before} statements in all"
		)
		frappe.db.sql(
			"UPDATE `tabCRM Lead` SET tf_scored_at = tf_scored_at - INTERVAL 1 DAY WHERE name LIKE %s",
			f"{TAG}-%",
		)
		frappe.db.commit()


def bench_purge(count: int):
	import frappe
	from frappe.utils import add_days, now_datetime

	from trackflow.bulk import insert_rows
	from trackflow.retention import purge

	created = add_days(now_datetime(), -400)
	fields = ["name", "creation", "modified", "owner", "tracked_link", "clicked_at", "is_bot", "visitor_id"]
	started = time.perf_counter()
	batch = []
	for i in range(count):
		batch.append(
			[f"{TAG}-{i:08d}", created, created, "Guest", f"{TAG}-link", created, 0, secrets.token_hex(4)]
		)
		if len(batch) == 20_000:
			insert_rows("Click Event", fields, batch)
			frappe.db.commit()
			batch = []
	insert_rows("Click Event", fields, batch)
	frappe.db.commit()
	print(f"inserted {count:,} clicks created 400 days ago in {time.perf_counter() - started:.1f} s")
	started = time.perf_counter()
	report = purge()
	elapsed = time.perf_counter() - started
	clicks = report["tables"].get("clicks", 0)
	print(
		f"purge: {clicks:,} clicks deleted in {elapsed:.1f} s ({clicks / elapsed:,.0f} rows/s), "
		f"longest batch (DELETE + COMMIT) {report['max_batch_seconds'] * 1000:.0f} ms; all tables: {report['tables']}"
	)


def cleanup():
	import frappe

	frappe.db.rollback()
	for doctype in ("CRM Lead", "Click Event", "Lead Score History"):
		field = "crm_lead" if doctype == "Lead Score History" else "name"
		frappe.db.sql(f"DELETE FROM `tab{doctype}` WHERE `{field}` LIKE %s", f"{TAG}-%")
		frappe.db.commit()


if __name__ == "__main__":
	main()
