# Copyright (c) 2026, TrackFlow developers
# License: AGPL-3.0. See license.txt

"""The reports' numbers on a small known dataset, hand-computed, and the PDF export."""

import io
import secrets
import unittest
from decimal import Decimal

import frappe
from frappe.utils import add_days, add_to_date, now_datetime, nowdate
from pypdf import PdfReader

from trackflow.api.reports import generate_attribution_pdf
from trackflow.clicks import store_clicks
from trackflow.engine.pdf import pdf_text
from trackflow.ledger import attribute_conversion
from trackflow.testing import TrackFlowTestCase, epoch_seconds
from trackflow.trackflow.doctype.conversion.test_conversion import make_lead, win
from trackflow.trackflow.doctype.trackflow_settings.test_trackflow_settings import make_user
from trackflow.trackflow.report.campaign_performance import campaign_performance as performance_report
from trackflow.trackflow.report.channel_attribution_comparison import (
	channel_attribution_comparison as comparison_report,
)
from trackflow.trackflow.report.link_ab_results import link_ab_results as ab_report
from trackflow.trackflow.report.report_data import channel_model_table, conversion_paths, period_of

FIRST_TOUCH, LINEAR = "First Touch", "Linear"


def wkhtmltopdf_works() -> bool:
	try:
		from frappe.utils.pdf import get_pdf

		return bool(get_pdf("<p>probe</p>"))
	except Exception:
		return False


def touch(
	visitor: str, channel: str, days_ago: float, campaign=None, click_event=None, tracked_link=None
) -> str:
	return (
		frappe.get_doc(
			{
				"doctype": "Touchpoint",
				"occurred_at": add_to_date(now_datetime(), days=-days_ago),
				"touch_type": "session",
				"channel": channel,
				"source": channel,
				"visitor": visitor,
				"link_campaign": campaign,
				"click_event": click_event,
				"tracked_link": tracked_link,
			}
		)
		.insert()
		.name
	)


def visitor_of(lead) -> str:
	name = secrets.token_hex(16)
	frappe.get_doc({"doctype": "TrackFlow Visitor", "crm_lead": lead.name}).insert(set_name=name)
	return name


def click(link: str, campaign=None, variant=None, visitor_id=None, is_bot=0, days_ago=1) -> str:
	"""A click stored the way the redirect's queue record is: through the drain (Click Event, touchpoint,
	counters and the Link Click Day rollup the reports read)."""
	record = {
		"id": secrets.token_hex(16),
		"link": link,
		"campaign": campaign,
		"variant": variant,
		"visitor": visitor_id or secrets.token_hex(16),
		"is_bot": is_bot,
		"ts": epoch_seconds(add_to_date(now_datetime(), days=-days_ago)),
	}
	store_clicks([record])
	return record["id"]


def tracked_link(campaign=None, variants=("A", "B")) -> str:
	return (
		frappe.get_doc(
			{
				"doctype": "Tracked Link",
				"destination_url": "https://example.com/a",
				"campaign": campaign,
				"variants": [
					{"label": label, "destination_url": f"https://example.com/{label.lower()}", "weight": 50}
					for label in variants
				],
			}
		)
		.insert()
		.name
	)


def attribute_all(*leads) -> None:
	for name in frappe.get_all(
		"Conversion", {"crm_lead": ("in", [lead.name for lead in leads])}, pluck="name"
	):
		attribute_conversion(name)


class TestReports(TrackFlowTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		frappe.set_user("Administrator")
		cls.campaign = (
			frappe.get_doc(
				{
					"doctype": "Link Campaign",
					"campaign_name": f"Spring {secrets.token_hex(3)}",
					"status": "Active",
					"channel": "email",
				}
			)
			.insert()
			.name
		)
		for days_ago, amount in ((2, 100), (1, 50)):
			frappe.get_doc(
				{
					"doctype": "Campaign Spend",
					"campaign": cls.campaign,
					"date": add_days(nowdate(), -days_ago),
					"amount": amount,
				}
			).insert()
		frappe.get_doc(  # outside the period: not counted
			{
				"doctype": "Campaign Spend",
				"campaign": cls.campaign,
				"date": add_days(nowdate(), -60),
				"amount": 999,
			}
		).insert()
		# 3 human clicks from 2 visitors and a bot in the period, one human click before it, on one link
		# with variants: A has visitor a's two clicks, B visitor b's
		cls.link = tracked_link(cls.campaign)
		cls.clicks = {}
		for visitor_id, variant, is_bot, days_ago in (
			("a", "A", 0, 1),
			("a", "A", 0, 1),
			("b", "B", 0, 2),
			("c", "A", 1, 1),
			("d", "B", 0, 40),
		):
			cls.clicks[visitor_id] = click(
				cls.link, cls.campaign, variant, f"{visitor_id}-{cls.campaign}", is_bot, days_ago
			)
		# lead 1: email (campaign) then paid search (no campaign); becomes a deal won at 1000
		cls.lead1 = make_lead()
		v1 = visitor_of(cls.lead1)
		touch(v1, "email", 3, cls.campaign)
		touch(v1, "paid_search", 2)
		cls.deal = frappe.get_doc(
			{"doctype": "CRM Deal", "lead": cls.lead1.name, "status": "Qualification"}
		).insert()
		win(cls.deal, 1000)
		# lead 2: only the campaign's email, through variant A of its link (the session visitor a landed in)
		cls.lead2 = make_lead()
		touch(visitor_of(cls.lead2), "email", 1, cls.campaign, cls.clicks["a"], cls.link)
		attribute_all(cls.lead1, cls.lead2)
		cls.filters = {
			"from_date": add_days(nowdate(), -7),
			"to_date": nowdate(),
			"campaign": cls.campaign,
		}

	def campaign_row(self, model: str) -> dict:
		_columns, data, *_rest = performance_report.execute({**self.filters, "attribution_model": model})
		rows = [row for row in data if row["campaign"] == self.campaign]
		self.assertEqual(len(rows), 1)
		return rows[0]

	def test_campaign_performance_first_touch(self):
		row = self.campaign_row(FIRST_TOUCH)
		self.assertEqual((row["clicks"], row["unique_visitors"], row["sessions"]), (3, 2, 2))
		self.assertEqual((row["leads"], row["deals_created"], row["deals_won"]), (2, 1, 1))
		self.assertEqual(row["revenue"], Decimal("1000"))
		self.assertEqual(row["spend"], Decimal("150"))
		self.assertAlmostEqual(row["roi"], (1000 - 150) / 150 * 100)  # percent
		self.assertAlmostEqual(row["roas"], 1000 / 150)
		self.assertEqual(row["cost_per_lead"], Decimal("75.00"))
		self.assertEqual(row["cost_per_won"], Decimal("150.00"))

	def test_campaign_performance_drills_down_to_links_and_variants(self):
		_columns, data, *_rest = performance_report.execute(
			{**self.filters, "attribution_model": FIRST_TOUCH, "drill_down": 1}
		)
		start = next(i for i, row in enumerate(data) if row["campaign"] == self.campaign)
		campaign, link, variant_a, variant_b = data[start : start + 4]
		self.assertEqual((campaign["indent"], link["indent"], variant_a["indent"]), (0, 1, 2))
		self.assertEqual((link["tracked_link"], link["parent_row"]), (self.link, self.campaign))
		self.assertEqual((variant_a["parent_row"], variant_b["parent_row"]), (self.link, self.link))
		self.assertEqual((variant_a["variant"], variant_b["variant"]), ("A", "B"))
		figures = ("clicks", "unique_visitors", "sessions", "leads")
		self.assertEqual([link[f] for f in figures], [3, 2, 1, 1])  # lead 2 came through the link
		self.assertEqual([variant_a[f] for f in figures], [2, 1, 1, 1])  # ... and its variant A
		self.assertEqual([variant_b[f] for f in figures], [1, 1, 0, 0])
		self.assertNotIn("spend", link)  # spend is the campaign's alone
		_columns, flat, *_rest = performance_report.execute(
			{**self.filters, "attribution_model": FIRST_TOUCH}
		)
		self.assertFalse([row for row in flat if row.get("indent")])

	def test_dashboard_cards_and_chart(self):
		from trackflow.api.reports import queue_backlog_card
		from trackflow.trackflow.dashboard_chart_source.top_campaigns_by_roi.top_campaigns_by_roi import get

		chart = get()
		self.assertIn(frappe.db.get_value("Link Campaign", self.campaign, "campaign_name"), chart["labels"])
		self.assertEqual(chart["datasets"][0]["values"], sorted(chart["datasets"][0]["values"], reverse=True))
		self.assertIsInstance(queue_backlog_card()["value"], int)
		frappe.set_user(make_user("tf-report-sales@example.com", ["Sales User"]))
		with self.assertRaises(frappe.PermissionError):
			queue_backlog_card()

	def test_campaign_performance_linear_matches_the_ledger(self):
		row = self.campaign_row(LINEAR)
		ledger = frappe.get_all(
			"Attribution Credit",
			{"campaign": self.campaign, "attribution_model": LINEAR, "conversion_type": "deal_won"},
			pluck="credited_value_company",
		)
		self.assertEqual(row["revenue"], sum(Decimal(str(v)) for v in ledger))
		self.assertEqual(row["revenue"], Decimal("500"))  # two touches, one from the campaign
		self.assertAlmostEqual(row["attributed_leads"], 1.5)  # half of lead 1, all of lead 2
		self.assertEqual(row["leads"], 2)
		self.assertAlmostEqual(row["roi"], (500 - 150) / 150 * 100)
		_columns, data, _message, chart, summary = performance_report.execute(
			{**self.filters, "attribution_model": LINEAR}
		)
		self.assertTrue(data[-1]["is_total"])
		self.assertEqual(chart["data"]["datasets"][0]["values"], [500.0])
		self.assertIn(150, [s["value"] for s in summary])

	def test_every_model_credits_exactly_the_won_value(self):
		period = period_of(self.filters)
		table = channel_model_table(period, "deal_won", scope={"crm_deal": self.deal.name})
		credited = [m.name for m in table["models"] if not m["data_driven"]]
		self.assertIn(LINEAR, credited)
		for model in credited:
			self.assertEqual(table["totals"][model][1], Decimal("1000"), model)
			self.assertAlmostEqual(table["totals"][model][0], 1.0, places=6)
		self.assertEqual({row["key"] for row in table["rows"]}, {"email", "paid_search"})
		linear = {row["key"]: row[LINEAR][1] for row in table["rows"]}
		self.assertEqual(linear, {"email": Decimal("500"), "paid_search": Decimal("500")})

		# the report over the period: each model's total is the ledger's sum for that model
		_columns, data, message, _chart, _summary = comparison_report.execute(self.filters)
		total = data[-1]
		self.assertTrue(total["is_total"])
		for model in credited:
			ledger = frappe.get_all(
				"Attribution Credit",
				{
					"attribution_model": model,
					"conversion_type": "deal_won",
					"converted_at": ("between", [period.start, period.end]),
				},
				pluck="credited_value_company",
			)
			self.assertEqual(
				total[comparison_report.field(model, "revenue")], sum(Decimal(str(v)) for v in ledger)
			)
		self.assertIn("Markov Chain", message)  # data-driven models state their sufficiency

	def test_link_ab_results(self):
		link = frappe._dict(name=tracked_link())
		click(link.name, variant="A")
		click(link.name, variant="A")
		converting_click = click(link.name, variant="B")
		lead = make_lead()
		touch(visitor_of(lead), "email", 0.5, click_event=converting_click)
		attribute_all(lead)
		_columns, data, *_rest = ab_report.execute({**self.filters, "tracked_link": link.name})
		arms = {row["variant"]: row for row in data}
		self.assertEqual((arms["A"]["visitors"], arms["A"]["conversions"]), (2, 0))
		self.assertEqual((arms["B"]["visitors"], arms["B"]["conversions"], arms["B"]["rate"]), (1, 1, 100))
		self.assertEqual(arms["A"]["verdict"], "Control")
		self.assertEqual(arms["B"]["verdict"], "Not enough data")
		self.assertGreater(arms["B"]["probability_best"], arms["A"]["probability_best"])

	def test_conversion_paths_of_the_deal(self):
		result = conversion_paths(period_of(self.filters), "deal_won", scope={"crm_deal": self.deal.name})
		self.assertEqual(result["conversions"], 1)
		(path,) = result["paths"]
		self.assertEqual((path.path, path.conversions, path.avg_touches), ("email > paid_search", 1, 2))
		self.assertAlmostEqual(path.avg_days_to_convert, 3, places=1)  # first touch three days before the win

	def test_a_long_range_pdf_runs_in_the_background(self):
		result = generate_attribution_pdf(from_date=add_days(nowdate(), -200), to_date=nowdate())
		self.assertEqual((result["queued"], result["file_url"]), (True, None))

	def test_the_pdf_password_never_travels_in_a_job_argument_in_clear(self):
		from unittest.mock import patch

		from frappe.utils.password import decrypt

		jobs = []
		with patch("frappe.enqueue", side_effect=lambda method, **kwargs: jobs.append(kwargs)):
			generate_attribution_pdf(
				from_date=add_days(nowdate(), -200), to_date=nowdate(), password="s3cret-pdf-pass"
			)
		(job,) = jobs
		self.assertNotIn("s3cret-pdf-pass", repr(job))
		self.assertEqual(decrypt(job["encrypted_password"]), "s3cret-pdf-pass")

	def test_pdf_needs_permission(self):
		frappe.set_user(make_user("tf-report-outsider@example.com", ["Blogger"]))
		for kwargs in ({"campaign": self.campaign}, {"deal": self.deal.name}, {}):
			with self.assertRaises(frappe.PermissionError, msg=str(kwargs)):
				generate_attribution_pdf(**kwargs)
		# a report answers a permission problem with no rows (raising would flip prepared_report)
		self.assertEqual(performance_report.execute(self.filters)[:2], ([], []))

	@unittest.skipUnless(
		wkhtmltopdf_works(), "wkhtmltopdf is not installed: frappe.utils.pdf.get_pdf can't run"
	)
	def test_pdf_of_a_campaign(self):
		result = generate_attribution_pdf(
			campaign=self.campaign,
			from_date=self.filters["from_date"],
			to_date=self.filters["to_date"],
			model=FIRST_TOUCH,
			password="s3cret",
		)
		file = frappe.get_doc("File", {"file_url": result["file_url"]})
		self.assertTrue(file.is_private)
		# the requester's own file, attached to nothing: a campaign's readers do not all read the ledger
		self.assertEqual((file.attached_to_doctype, file.attached_to_name), (None, None))
		self.assertEqual(file.owner, frappe.session.user)
		data = file.get_content()
		text = " ".join(" ".join(pdf_text(data, "s3cret")).split())  # extraction separates words by tabs
		for figure in (
			"Summary",
			"Channels by model",
			"Campaign ROI",
			"1,000.00",
			"150.00",
			"566.7 %",
			"75.00",
		):
			self.assertIn(figure, text)
		reader = PdfReader(io.BytesIO(data))
		reader.decrypt("s3cret")
		self.assertEqual(reader.metadata.creator, "TrackFlow")
		self.assertEqual(
			{item.title for item in reader.outline},
			{"Summary", "Channels by model", "Top paths", "Campaign ROI"},
		)

	def test_campaign_performance_has_one_campaign_column(self):
		columns, data, *_rest = performance_report.execute({**self.filters, "attribution_model": FIRST_TOUCH})
		shown = [c["fieldname"] for c in columns if not c.get("hidden")]
		self.assertEqual(shown[0], "campaign")
		self.assertNotIn("campaign_name", shown)  # the campaign's name is its ID: one column, not two
		self.assertEqual(data[-1]["campaign_name"], "Total")  # the formatter shows it in the campaign column

	def test_roi_without_spend_says_why(self):
		campaign = frappe.get_doc(
			{
				"doctype": "Link Campaign",
				"campaign_name": f"No spend {secrets.token_hex(3)}",
				"status": "Active",
			}
		).insert()
		*_rest, summary = performance_report.execute({**self.filters, "campaign": campaign.name})
		roi = next(tile for tile in summary if tile["label"].startswith("ROI"))
		self.assertEqual(roi["value"], "\u2014")
		self.assertIn("no spend", roi["label"])
		*_rest, summary = performance_report.execute({**self.filters, "attribution_model": FIRST_TOUCH})
		roi = next(tile for tile in summary if tile["label"].startswith("ROI"))
		self.assertAlmostEqual(roi["value"], (1000 - 150) / 150 * 100)  # with spend: the figure

	def test_largest_model_gap_counts_only_models_that_gave_credit(self):
		# an active data-driven model that was never fitted gives no credits (whatever other tests fitted)
		frappe.get_doc(
			{
				"doctype": "Attribution Model",
				"model_name": f"TF unfitted {secrets.token_hex(3)}",
				"engine_model": "shapley",
				"active": 1,
			}
		).insert()
		period = period_of(self.filters)
		table = channel_model_table(period, "deal_won")
		self.assertTrue([m for m, (credited, _value) in table["totals"].items() if not credited])
		crediting = [float(value) for credited, value in table["totals"].values() if credited]
		*_rest, summary = comparison_report.execute(self.filters)
		gap = next(tile for tile in summary if tile["label"].startswith("Largest model gap"))
		self.assertEqual(gap["value"], max(crediting) - min(crediting))
		one = frappe._dict(name="One", is_default=True)
		lonely = {
			"models": [one],
			"rows": [],
			"totals": {"One": (1.0, Decimal(10)), "None": (0.0, Decimal(0))},
		}
		gap = comparison_report.summary(lonely, "USD")[-1]
		self.assertEqual(gap["value"], "\u2014")  # one model gave credit: there is no gap to show
		self.assertIn("fewer than two models", gap["label"])

	def test_money_is_in_the_ledgers_currency_not_the_sites_default(self):
		from trackflow.api.reports import report_context

		ledger = frappe.db.get_value("Attribution Credit", {"campaign": self.campaign}, "company_currency")
		default = frappe.db.get_default("currency")
		frappe.db.set_default("currency", "EUR" if ledger != "EUR" else "USD")
		try:
			columns, data, *_rest, summary = performance_report.execute(
				{**self.filters, "attribution_model": FIRST_TOUCH}
			)
			row = next(row for row in data if row["campaign"] == self.campaign)
			self.assertEqual(row["currency"], ledger)
			spend = next(c for c in columns if c["fieldname"] == "spend")
			self.assertIn(ledger, spend["label"])
			revenue = next(tile for tile in summary if tile["label"].startswith("Won Revenue"))
			self.assertEqual(revenue["currency"], ledger)
			context = report_context(
				self.campaign, None, self.filters["from_date"], self.filters["to_date"], FIRST_TOUCH
			)
			self.assertEqual(context["currency"], ledger)
			self.assertIn(ledger, dict(context["filters"])["Money"])
		finally:
			frappe.db.set_default("currency", default)

	def test_clicks_by_channel_labels_are_short_dates(self):
		from frappe.utils import formatdate, getdate

		from trackflow.trackflow.report.touches_by_channel import touches_by_channel

		*_rest, chart, _summary = touches_by_channel.execute(self.filters)
		self.assertEqual(chart["data"]["labels"][0], formatdate(getdate(self.filters["from_date"]), "d MMM"))
		self.assertEqual(len(chart["data"]["labels"]), 8)

	def test_top_campaigns_by_roi_says_why_it_is_empty(self):
		from unittest.mock import patch

		from trackflow.api.reports import top_campaigns_by_roi

		with patch("trackflow.api.reports.campaign_performance", return_value={"rows": [], "total": {}}):
			chart = top_campaigns_by_roi()
		self.assertIn("Campaign Spend", chart["yMarkers"][0]["label"])
