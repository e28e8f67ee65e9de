"""Campaign Performance over 1M clicks and 10k conversions, and the PDF of one campaign, on a real site.

Run from the bench directory (inserts tagged synthetic rows, measures, and deletes them again):
    env/bin/python apps/trackflow/benchmarks/reports/bench_campaign_performance.py --site SITE
Options: --clicks 1000000 --conversions 10000 --campaigns 50 --runs 5 --keep (leave the rows for EXPLAIN),
--reuse (measure again on the rows a --keep run left), --cleanup (only delete the rows of a --keep run).

Data (every name starts with "rpbench-", which --cleanup deletes): 50 Link Campaigns; clicks spread evenly
over the last 120 days (2 % bots, visitors drawn from 300k ids); one session Touchpoint per 20 clicks;
Campaign Spend per campaign and day; conversions (50 % lead_created, 30 % deal_created, 20 % deal_won)
with 1-3 ledger rows each for the default model and for Linear. Then Campaign Performance's execute()
for the last 90 days (target < 1 s), and generate_attribution_pdf for one campaign (target < 3 s).
"""

import argparse
import os
import random
import statistics
import time
from datetime import timedelta

TAG = "rpbench-"
LINKS_PER_CAMPAIGN = 4
DAYS = 120
RANGE_DAYS = 90


def main():
	parser = argparse.ArgumentParser()
	parser.add_argument("--site", required=True)
	parser.add_argument("--clicks", type=int, default=1_000_000)
	parser.add_argument("--conversions", type=int, default=10_000)
	parser.add_argument("--campaigns", type=int, default=50)
	parser.add_argument("--runs", type=int, default=5)
	parser.add_argument("--keep", action="store_true", help="leave the rows in place")
	parser.add_argument("--cleanup", action="store_true", help="only delete the rows of an earlier run")
	parser.add_argument(
		"--reuse", action="store_true", help="measure the rows an earlier --keep run left (implies --keep)"
	)
	args = parser.parse_args()
	os.chdir("sites")  # run from the bench directory
	import frappe

	frappe.init(site=args.site)
	frappe.connect()
	frappe.set_user("Administrator")
	try:
		if args.cleanup:
			cleanup()
			return
		if not args.reuse:
			generate(args.campaigns, args.clicks, args.conversions)
		bench_report(args.runs)
		bench_pdf()
	finally:
		if not (args.keep or args.reuse or args.cleanup):
			cleanup()
		frappe.destroy()


def insert(doctype: str, fields: list[str], rows: list[list]) -> None:
	import frappe

	from trackflow.bulk import insert_rows

	insert_rows(doctype, fields, rows, ignore_duplicates=False)
	frappe.db.commit()


def generate(campaigns: int, clicks: int, conversions: int) -> None:
	import frappe
	from frappe.utils import add_days, now_datetime, nowdate

	from trackflow.settings import get_settings

	rng = random.Random(11)
	now = now_datetime()
	start = now - timedelta(days=DAYS)
	names = [f"{TAG}campaign-{i:03d}" for i in range(campaigns)]
	channels = ["email", "paid_search", "paid_social", "display", "qr"]
	started = time.perf_counter()
	base = ["name", "creation", "modified", "owner", "modified_by"]
	insert(
		"Link Campaign",
		[*base, "campaign_name", "status", "channel", "currency"],
		[[n, now, now, "Administrator", "Administrator", n, "Active", channels[i % 5], "USD"] for i, n in enumerate(names)],
	)  # fmt: skip
	spend = []
	for i, name in enumerate(names):
		for day in range(DAYS):
			date = add_days(nowdate(), -day)
			spend.append([f"{TAG}spend-{i:03d}-{day:03d}", now, now, "Administrator", "Administrator", name, date, rng.randint(10, 500), "USD", "Manual"])  # fmt: skip
	insert("Campaign Spend", [*base, "campaign", "date", "amount", "currency", "source"], spend)
	links = [f"{TAG}link-{i:03d}-{j}" for i in range(campaigns) for j in range(LINKS_PER_CAMPAIGN)]
	insert(
		"Tracked Link",
		[*base, "title", "destination_url", "campaign", "short_code", "status"],
		[[n, now, now, "Administrator", "Administrator", n, "https://example.com/", names[i // LINKS_PER_CAMPAIGN], n, "Active"] for i, n in enumerate(links)],
	)  # fmt: skip
	click_fields = [*base, "tracked_link", "campaign", "clicked_at", "visitor_id", "is_bot", "variant"]
	touch_fields = [*base, "occurred_at", "touch_type", "channel", "link_campaign", "source"]
	batch, touches = [], []
	seconds = DAYS * 86400
	for i in range(clicks):
		campaign = names[i % campaigns]
		link = links[(i % campaigns) * LINKS_PER_CAMPAIGN + (i // campaigns) % LINKS_PER_CAMPAIGN]
		variant = "AB"[i % 2] if link.endswith("-0") else None  # each campaign's first link runs an A/B test
		at = start + timedelta(seconds=rng.random() * seconds)
		batch.append([f"{TAG}c{i:08d}", at, at, "Guest", "Guest", link, campaign, at, f"v{rng.randrange(300_000):06d}", int(rng.random() < 0.02), variant])  # fmt: skip
		if i % 20 == 0:
			touches.append([f"{TAG}t{i:08d}", at, at, "Guest", "Guest", at, "session", channels[i % 5], campaign, "bench"])  # fmt: skip
		if len(batch) == 20_000:
			insert("Click Event", click_fields, batch)
			batch = []
	insert("Click Event", click_fields, batch)
	insert("Touchpoint", touch_fields, touches)
	print(
		f"inserted {clicks:,} clicks, {len(touches):,} touchpoints, {len(spend):,} spend rows in {time.perf_counter() - started:.1f} s"
	)
	from trackflow.clicks import rebuild_click_rollup

	started = time.perf_counter()
	rebuild_click_rollup()
	rollup_rows = frappe.db.count("Link Click Day", {"campaign": ("like", f"{TAG}%")})
	print(
		f"rolled up {clicks:,} clicks into {rollup_rows:,} Link Click Day rows (the upgrade patch's rebuild) in {time.perf_counter() - started:.1f} s"
	)

	started = time.perf_counter()
	models = sorted({get_settings().default_attribution_model, "Linear"})
	conversion_fields = [*base, "conversion_type", "occurred_at", "status", "value", "currency", "exchange_rate", "value_company_currency", "company_currency", "idempotency_key"]  # fmt: skip
	credit_fields = [*base, "conversion", "attribution_model", "conversion_type", "converted_at", "touchpoint", "touched_at", "channel", "campaign", "weight", "credited_value", "currency", "credited_value_company", "company_currency", "engine_version"]  # fmt: skip
	rows, credits = [], []
	for i in range(conversions):
		kind = "lead_created" if i % 10 < 5 else "deal_created" if i % 10 < 8 else "deal_won"
		at = start + timedelta(seconds=rng.random() * seconds)
		value = rng.randint(100, 5000) if kind == "deal_won" else 0
		name = f"{TAG}conv{i:06d}"
		rows.append([name, at, at, "Administrator", "Administrator", kind, at, "attributed", value, "USD", 1, value, "USD", f"{TAG}{kind}:{i}"])  # fmt: skip
		touched = rng.sample(names, rng.randint(1, 3))
		for model in models:
			weights = [1.0] if model != "Linear" else [1 / len(touched)] * len(touched)
			for j, (campaign, weight) in enumerate(
				zip(touched if model == "Linear" else touched[:1], weights, strict=True)
			):
				credits.append([f"{TAG}cr{i:06d}-{model[:3]}-{j}", at, at, "Administrator", "Administrator", name, model, kind, at, None, at - timedelta(days=1), channels[j], campaign, weight, value * weight, "USD", value * weight, "USD", "bench"])  # fmt: skip
	insert("Conversion", conversion_fields, rows)
	insert("Attribution Credit", credit_fields, credits)
	print(
		f"inserted {conversions:,} conversions and {len(credits):,} ledger rows ({', '.join(models)}) in {time.perf_counter() - started:.1f} s"
	)
	frappe.db.commit()


def bench_report(runs: int) -> None:
	import frappe
	from frappe.utils import add_days, nowdate

	from trackflow.trackflow.report.campaign_performance import campaign_performance

	filters = {"from_date": add_days(nowdate(), -(RANGE_DAYS - 1)), "to_date": nowdate()}
	times = []
	for _ in range(runs):
		started = time.perf_counter()
		_columns, data, *_rest = campaign_performance.execute({**filters, "drill_down": 1})
		times.append(time.perf_counter() - started)
	total = data[-1]
	print(
		f"Campaign Performance, {RANGE_DAYS} days, {len(data) - 1} rows (campaigns, links, variants): first {times[0] * 1000:.0f} ms, "
		f"median {statistics.median(times) * 1000:.0f} ms, min {min(times) * 1000:.0f} ms over {runs} runs; "
		f"total clicks {total['clicks']:,}, unique visitors {total['unique_visitors']:,}, leads {total['leads']:,}, won {total['deals_won']:,}"
	)
	times = []
	for _ in range(runs):
		started = time.perf_counter()
		campaign_performance.execute({**filters, "drill_down": 0})
		times.append(time.perf_counter() - started)
	print(f"... campaigns only (drill-down off): median {statistics.median(times) * 1000:.0f} ms")
	check_against_clicks(filters, total)


def check_against_clicks(filters: dict, total: dict) -> None:
	"""The rollup's figures against a direct count over every Click Event (the slow way)."""
	import frappe
	from frappe.query_builder.functions import Count

	from trackflow.trackflow.report.report_data import period_of

	period = period_of(filters)
	campaigns = frappe.get_all("Link Campaign", pluck="name")  # the report's: every campaign
	click = frappe.qb.DocType("Click Event")
	started = time.perf_counter()
	clicks, visitors = (
		frappe.qb.from_(click)
		.select(Count(click.name), Count(click.visitor_id).distinct())
		.where(click.campaign.isin(campaigns))
		.where(click.clicked_at >= period.start)
		.where(click.clicked_at < period.end)
		.where(click.is_bot == 0)
		.run()[0]
	)
	print(
		f"direct count over Click Event: {clicks:,} clicks, {visitors:,} unique visitors in "
		f"{time.perf_counter() - started:.1f} s; the report: {total['clicks']:,} / {total['unique_visitors']:,} "
		f"({'equal' if (clicks, visitors) == (total['clicks'], total['unique_visitors']) else 'DIFFERENT'})"
	)


def bench_pdf() -> None:
	import frappe
	import frappe.utils.pdf  # trackflow.api.reports uses frappe.utils.pdf without importing it
	from frappe.utils import add_days, nowdate

	from trackflow.api.reports import generate_attribution_pdf, report_context
	from trackflow.trackflow.report.report_data import default_model

	campaign = f"{TAG}campaign-000"
	from_date, to_date = add_days(nowdate(), -(RANGE_DAYS - 1)), nowdate()
	started = time.perf_counter()
	report_context(campaign, None, from_date, to_date, default_model())
	print(f"PDF context (queries) for one campaign: {(time.perf_counter() - started) * 1000:.0f} ms")
	try:
		started = time.perf_counter()
		result = generate_attribution_pdf(campaign=campaign, from_date=from_date, to_date=to_date)
		print(
			f"PDF of one campaign, {RANGE_DAYS} days: {time.perf_counter() - started:.2f} s ({result['file_url']})"
		)
	except Exception as error:  # wkhtmltopdf missing or broken on this bench
		import traceback

		print(f"PDF not rendered: {error!r}\n{traceback.format_exc(limit=-3)}")
	frappe.db.commit()


def cleanup() -> None:
	import frappe

	frappe.db.rollback()
	for name in frappe.get_all(
		"File",
		{"file_name": ("like", f"trackflow-attribution-{frappe.scrub(TAG)}%")},  # the PDFs (not attached)
		pluck="name",
	):
		frappe.delete_doc("File", name, ignore_permissions=True, force=True)
	frappe.db.commit()
	for doctype in (
		"Attribution Credit",
		"Conversion",
		"Touchpoint",
		"Click Event",
		"Tracked Link",
		"Campaign Spend",
		"Link Campaign",
	):
		# in batches: one huge DELETE holds its locks and undo log for a long time
		while frappe.db.sql(f"SELECT name FROM `tab{doctype}` WHERE name LIKE %s LIMIT 1", f"{TAG}%"):
			frappe.db.sql(f"DELETE FROM `tab{doctype}` WHERE name LIKE %s LIMIT 50000", f"{TAG}%")
			frappe.db.commit()
	while frappe.db.sql("SELECT name FROM `tabLink Click Day` WHERE campaign LIKE %s LIMIT 1", f"{TAG}%"):
		frappe.db.sql("DELETE FROM `tabLink Click Day` WHERE campaign LIKE %s LIMIT 50000", f"{TAG}%")
		frappe.db.commit()
	print("deleted the rpbench- rows")


if __name__ == "__main__":
	main()
