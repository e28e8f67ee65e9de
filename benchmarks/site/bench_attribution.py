"""Attribution of one conversion with 50 touches under every active model, on a real site.

Run from the bench directory:
    env/bin/python apps/trackflow/benchmarks/site/bench_attribution.py --site SITE [--runs 50]

It creates one lead with a visitor and 50 touchpoints over 60 days on 8 channels, a won deal worth
12,345.67, fits the data-driven models once (fits cached on the Attribution Model, as in production),
then times `trackflow.ledger.attribute_conversion` (read the journey, every active model, write the
ledger rows, write the CRM summary) as a first attribution and as a recompute (which also deletes the
previous rows), over --runs runs each, and rolls everything back.
"""

import argparse
import os
import secrets
import statistics
import time


def main():
	parser = argparse.ArgumentParser()
	parser.add_argument("--site", required=True)
	parser.add_argument("--runs", type=int, default=50)
	args = parser.parse_args()
	os.chdir("sites")  # run from the bench directory
	import frappe

	frappe.init(site=args.site)
	frappe.connect()
	frappe.set_user("Administrator")
	try:
		run(args.runs)
	finally:
		frappe.db.rollback()
		frappe.destroy()


def run(runs: int):
	import frappe
	from frappe.utils import add_to_date, now_datetime

	from trackflow.ledger import attribute_conversion, fit_models

	channels = [
		"paid_search",
		"email",
		"organic_search",
		"referral",
		"paid_social",
		"direct",
		"display",
		"qr",
	]
	lead = frappe.get_doc(
		{"doctype": "CRM Lead", "first_name": "Bench", "email": f"b-{secrets.token_hex(4)}@x.org"}
	)
	lead.insert()
	visitor = secrets.token_hex(16)
	frappe.get_doc({"doctype": "TrackFlow Visitor", "crm_lead": lead.name}).insert(set_name=visitor)
	for i in range(50):
		frappe.get_doc(
			{
				"doctype": "Touchpoint",
				"occurred_at": add_to_date(now_datetime(), days=-60 + i * 1.2, hours=-1),
				"channel": channels[i % len(channels)],
				"source": channels[i % len(channels)],
				"visitor": visitor,
			}
		).insert()
	deal = frappe.get_doc({"doctype": "CRM Deal", "lead": lead.name, "status": "Qualification"}).insert()
	value_field = "deal_value" if frappe.get_meta("CRM Deal").has_field("deal_value") else "annual_revenue"
	deal.set(value_field, 12345.67)
	deal.status = frappe.get_single("TrackFlow Settings").won_deal_statuses[0].deal_status
	deal.save()
	conversion = frappe.db.get_value("Conversion", {"idempotency_key": f"deal_won:{deal.name}"})
	fit_models()
	models = frappe.get_all("Attribution Model", {"active": 1}, ["name", "engine_model", "sufficient"])
	attribute_conversion(conversion)  # warm caches
	times = []
	recompute = []
	for _ in range(runs):
		frappe.db.delete("Attribution Credit", {"conversion": conversion})  # a first attribution, untimed
		started = time.perf_counter()
		attribute_conversion(conversion)
		times.append((time.perf_counter() - started) * 1000)
		started = time.perf_counter()
		attribute_conversion(conversion)  # a recompute: replaces the rows it just wrote
		recompute.append((time.perf_counter() - started) * 1000)
	rows = frappe.db.count("Attribution Credit", {"conversion": conversion})
	print(
		f"active models: {len(models)} ({sum(1 for m in models if m.engine_model in ('markov', 'shapley'))} data-driven,"
	)
	print(f"  with credits only when their fit is sufficient); ledger rows per run: {rows}")
	for label, values in (("first attribution", times), ("recompute", recompute)):
		print(
			f"attribute_conversion ({label}), 50 touches, {runs} runs: median {statistics.median(values):.1f} ms, "
			f"p95 {sorted(values)[int(0.95 * len(values)) - 1]:.1f} ms, min {min(values):.1f} ms"
		)


if __name__ == "__main__":
	main()
