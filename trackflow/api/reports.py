"""The PDF attribution report: a campaign, a single deal or a date range rendered from a Jinja template
with Frappe's get_pdf, finished by the engine (cover, metadata, outline, password) and saved as a
private File of the user who asked, attached to no document: its figures are what that user may read
(the CRM rule of trackflow.permissions), so only they (and Administrator) may read the file. Large ranges are built in the background and the user is notified when the file is ready."""

import frappe
from frappe import _
from frappe.query_builder.functions import Sum
from frappe.utils import date_diff, format_date, get_url, now_datetime
from frappe.utils.password import decrypt, encrypt
from frappe.utils.pdf import get_pdf

from trackflow.engine import pdf as pdf_engine
from trackflow.error_log import log_failure
from trackflow.permissions import CAMPAIGN_MANAGER, TRACKFLOW_MANAGER, require_roles
from trackflow.queues import STREAMS, get_queue
from trackflow.trackflow.report.report_data import (
	Period,
	campaign_performance,
	channel_model_table,
	check_report_access,
	company_currency,
	conversion_paths,
	default_model,
	period_of,
	permitted_campaigns,
	sufficiency_notes,
	visible,
)

TEMPLATE = "templates/attribution_report.html"
SECTIONS = ("Summary", "Channels by model", "Top paths", "Campaign ROI")
# A date-range report longer than this is built by a background job (campaign and deal reports never are).
BACKGROUND_AFTER_DAYS = 92
REALTIME_EVENT = "trackflow_pdf_ready"
PDF_OPTIONS = {"page-size": "A4", "margin-top": "15mm", "margin-bottom": "15mm", "margin-left": "12mm"}


@frappe.whitelist(methods=["POST"])
def generate_attribution_pdf(
	campaign: str | None = None,
	deal: str | None = None,
	from_date: str | None = None,
	to_date: str | None = None,
	model: str | None = None,
	password: str | None = None,
) -> dict:
	"""Build the attribution PDF of a campaign, a deal or (without either) a date range; returns its file
	URL, or {"queued": True} when a long range is built in the background (the user is notified)."""
	if campaign and deal:
		frappe.throw(_("Choose a campaign or a deal, not both"))
	_check_pdf_permission(campaign, deal)
	model = default_model(model)
	if not (campaign or deal):
		period = period_of({"from_date": from_date, "to_date": to_date})
		if date_diff(period.to_date, period.from_date) + 1 > BACKGROUND_AFTER_DAYS:
			job = frappe.enqueue(
				"trackflow.api.reports.build_pdf_in_background",
				queue="long",
				timeout=1800,
				enqueue_after_commit=True,
				user=frappe.session.user,
				from_date=str(period.from_date),
				to_date=str(period.to_date),
				model=model,
				# RQ keeps a job's arguments in Redis: the password travels encrypted with the site's key
				encrypted_password=encrypt(password) if password else None,
			)
			return {"queued": True, "job_id": getattr(job, "id", None), "file_url": None}
	return {
		"queued": False,
		"file_url": build_attribution_pdf(campaign, deal, from_date, to_date, model, password),
	}


@frappe.whitelist()
def won_revenue_card(filters: str | dict | None = None) -> dict:
	"""The "Won Revenue Attributed" number card: won value credited under the default model in the last 30
	days (every model credits the same total; the default one is the ledger's reference)."""
	frappe.has_permission("Attribution Credit", "read", throw=True)
	period = period_of({})
	credit = frappe.qb.DocType("Attribution Credit")
	total = (
		visible(frappe.qb.from_(credit), "Attribution Credit")
		.select(Sum(credit.credited_value_company))
		.where(credit.attribution_model == default_model())
		.where(credit.conversion_type == "deal_won")
		.where(credit.converted_at >= period.start)
		.where(credit.converted_at < period.end)
		.run()
	)[0][0]
	return {
		"value": float(total or 0),
		"fieldtype": "Currency",
		"options": company_currency(period),
		"route": ["query-report", "Campaign Performance"],
	}


@frappe.whitelist()
def queue_backlog_card(filters: str | dict | None = None) -> dict:
	"""The "Queue Backlog" number card (managers only): clicks and page events waiting in Redis for the
	drain. It should stay near zero; a growing number means the scheduler or the workers are down. Who
	may read Conversion Delivery (the card's document type, so the workspace shows it to them alone)."""
	frappe.has_permission("Conversion Delivery", "read", throw=True)
	return {"value": sum(get_queue(stream).backlog() for stream in STREAMS), "fieldtype": "Int"}


def top_campaigns_by_roi(limit: int = 10) -> dict:
	"""Chart data: the campaigns with spend in the last 30 days, best ROI first (default model); the
	caller checks the user may read reports. Without spend there is no ROI to rank: the chart then says
	so on its zero line (a marker label) instead of drawing an empty box."""
	period = period_of({})
	currency = company_currency(period)
	result = campaign_performance(period, default_model(), permitted_campaigns(), currency)
	rows = sorted(
		(row for row in result["rows"] if row["roi"] is not None),
		key=lambda row: (-row["roi"], row["campaign_name"] or row["name"]),
	)[:limit]
	if not rows:
		return {
			"labels": [""],
			"datasets": [{"name": _("ROI %"), "values": [0]}],
			"yMarkers": [
				{
					"label": _("No campaign spend in the last 30 days: record Campaign Spend to see ROI"),
					"value": 0,
					"options": {"labelPos": "left"},
				}
			],
			"type": "bar",
		}
	return {
		"labels": [row["campaign_name"] or row["name"] for row in rows],
		"datasets": [{"name": _("ROI %"), "values": [float(row["roi"] * 100) for row in rows]}],
		"type": "bar",
	}


def _check_pdf_permission(campaign: str | None, deal: str | None) -> None:
	"""A deal's report needs read on the deal (CRM's rules); a campaign's, read on the campaign and on the
	ledger; a date range over every campaign, a TrackFlow or Campaign Manager."""
	if deal:
		frappe.has_permission("CRM Deal", "read", deal, throw=True)
	elif campaign:
		frappe.has_permission("Link Campaign", "read", campaign, throw=True)
		check_report_access()
	else:
		require_roles(TRACKFLOW_MANAGER, CAMPAIGN_MANAGER, "System Manager")


def build_pdf_in_background(
	user: str, from_date: str, to_date: str, model: str, encrypted_password: str | None = None
) -> None:
	"""The job behind a long range: build as the user who asked, then tell them where the file is."""
	frappe.set_user(user)
	password = decrypt(encrypted_password) if encrypted_password else None
	file_url = build_attribution_pdf(None, None, from_date, to_date, model, password)
	frappe.publish_realtime(REALTIME_EVENT, {"file_url": file_url}, user=user)
	frappe.get_doc(
		{
			"doctype": "Notification Log",
			"for_user": user,
			"type": "Alert",
			"subject": _("Your TrackFlow attribution report for {0} to {1} is ready").format(
				format_date(from_date), format_date(to_date)
			),
			"link": file_url,
		}
	).insert(ignore_permissions=True)


def build_attribution_pdf(
	campaign: str | None,
	deal: str | None,
	from_date: str | None,
	to_date: str | None,
	model: str,
	password: str | None = None,
) -> str:
	"""Render, finish and save the PDF (permission already checked); returns the private file's URL."""
	context = report_context(campaign, deal, from_date, to_date, model)
	try:
		body = get_pdf(frappe.render_template(TEMPLATE, {**context, "part": "body"}), PDF_OPTIONS)
		cover = get_pdf(frappe.render_template(TEMPLATE, {**context, "part": "cover"}), PDF_OPTIONS)
	except Exception as error:  # wkhtmltopdf missing or failing, print assets not built: the site's setup
		log_failure("TrackFlow: the attribution PDF could not be rendered", error)
		frappe.throw(
			_(
				"The PDF could not be rendered on this site (wkhtmltopdf and the print assets are needed); the details are in the Error Log"
			)
		)
	data = pdf_engine.finish_pdf(
		body,
		cover=cover,
		title=context["title"],
		author=frappe.utils.get_fullname(frappe.session.user),
		subject=context["subtitle"],
		keywords=["TrackFlow", "attribution", model],
		outline=pdf_engine.section_pages(body, SECTIONS),
		password=password or None,
	)
	stamp = now_datetime().strftime("%Y%m%d-%H%M%S")
	# Not attached to the campaign or deal: Frappe lets whoever reads the document read its private
	# attachments, and a Sales User reads every campaign but not the ledger, while the figures are the
	# ones this user may read. A private File attached to nothing is its owner's (and Administrator's).
	file = frappe.get_doc(
		{
			"doctype": "File",
			"file_name": f"trackflow-attribution-{frappe.scrub(campaign or deal or 'range')}-{stamp}.pdf",
			"is_private": 1,
			"content": data,
		}
	).insert(ignore_permissions=True)
	return file.file_url


def report_context(
	campaign: str | None, deal: str | None, from_date: str | None, to_date: str | None, model: str
) -> dict:
	"""Everything the template shows, computed by the report queries (the numbers match the reports)."""
	scope, deal_doc = {}, None
	if deal:
		scope = {"crm_deal": deal}
		deal_doc = frappe.db.get_value("CRM Deal", deal, ["name", "status", "lead"], as_dict=True)
		period = period_of({"from_date": from_date, "to_date": to_date}) if from_date or to_date else None
		title = _("Attribution report: deal {0}").format(deal)
	elif campaign:
		scope = {"campaign": campaign}
		info = frappe.db.get_value("Link Campaign", campaign, ["campaign_name", "start_date"], as_dict=True)
		period = period_of({"from_date": from_date or info.start_date, "to_date": to_date})
		title = _("Attribution report: {0}").format(info.campaign_name or campaign)
	else:
		period = period_of({"from_date": from_date, "to_date": to_date})
		title = _("Attribution report")
	subtitle = (
		_("{0} to {1}").format(format_date(period.from_date), format_date(period.to_date))
		if period
		else _("The deal's whole journey")
	)
	currency = company_currency(period, scope)  # the ledger's, whatever the site's default is today
	table = channel_model_table(period, "deal_won", scope=scope)
	paths = conversion_paths(period, "deal_won", limit=10, scope=scope)
	performance = None
	if not deal:
		campaigns = permitted_campaigns({"campaign": campaign} if campaign else {})
		performance = campaign_performance(period, model, campaigns, currency)
		performance["rows"] = sorted(
			(r for r in performance["rows"] if r["clicks"] or r["revenue"] or r["spend"] or r["leads"]),
			key=lambda r: (-r["revenue"], -r["spend"], r["campaign_name"] or ""),
		)[:15]
	return {
		"title": title,
		"subtitle": subtitle,
		"generated_at": now_datetime(),
		"generated_by": frappe.utils.get_fullname(frappe.session.user),
		"site": get_url(),
		"filters": _filter_lines(campaign, deal, period, model, currency),
		"model": model,
		"currency": currency,
		"deal": deal_doc,
		"deal_value": _deal_value(deal) if deal else None,
		"table": table,
		"notes": sufficiency_notes(table["models"]),
		"paths": paths,
		"performance": performance,
		"chart": pdf_engine.svg_data_uri(_chart(table, performance)),
		"fmt": lambda value, fieldtype="Currency": _format(value, fieldtype, currency),
	}


def _filter_lines(campaign, deal, period: Period | None, model: str, currency: str) -> list[tuple[str, str]]:
	lines = [(_("Attribution model"), model)]
	if campaign:
		lines.append((_("Campaign"), campaign))
	if deal:
		lines.append((_("Deal"), deal))
	lines.append(
		(
			_("Period"),
			f"{format_date(period.from_date)} - {format_date(period.to_date)}" if period else _("All time"),
		)
	)
	lines.append((_("Money"), _("won deals and spend, in {0}").format(currency)))
	return lines


def _deal_value(deal: str):
	return frappe.db.get_value(
		"Conversion",
		{"crm_deal": deal, "conversion_type": "deal_won", "status": ("!=", "void")},
		["value_company_currency", "occurred_at"],
		as_dict=True,
	)


def _chart(table: dict, performance: dict | None) -> str:
	if performance and len(performance["rows"]) > 1:
		rows = performance["rows"][:8]
		series = [
			(_("Won revenue"), [(r["campaign_name"] or r["name"], r["revenue"]) for r in rows]),
			(_("Spend"), [(r["campaign_name"] or r["name"], r["spend"]) for r in rows]),
		]
		return pdf_engine.chart_svg(series, "bar", 680, 300, title=_("Won revenue and spend by campaign"))
	series = [
		(_("Won revenue"), [(m.name, table["totals"][m.name][1]) for m in table["models"]]),
	]
	return pdf_engine.chart_svg(series, "bar", 680, 300, title=_("Credited won revenue by model"))


def _format(value, fieldtype: str, currency: str) -> str:
	if value is None:
		return "-"
	if fieldtype == "Currency":
		return frappe.utils.fmt_money(value, currency=currency)
	if fieldtype == "Percent":
		return f"{float(value) * 100:,.1f} %"
	if fieldtype in ("Float", "Ratio"):
		return f"{float(value):,.2f}"
	return f"{value:,}" if isinstance(value, int) else str(value)
