"""Campaign Performance: per campaign, traffic, the funnel the chosen model credits to it, spend and ROI."""

import frappe
from frappe import _
from frappe.utils import cint

from trackflow.trackflow.report.report_data import (
	campaign_performance,
	check_report_access,
	company_currency,
	default_model,
	never_raises,
	period_of,
	permitted_campaigns,
	ratio,
	summary_tile,
)

CHART_CAMPAIGNS = 10


@never_raises
def execute(filters: dict | None = None):
	check_report_access()
	filters = frappe._dict(filters or {})
	period = period_of(filters)
	model = default_model(filters.get("attribution_model"))
	currency = company_currency(period)  # the ledger's currency, not today's site default
	drill_down = bool(cint(filters.get("drill_down")))
	result = campaign_performance(period, model, permitted_campaigns(filters), currency, drill_down)
	data = []
	for row in result["rows"]:
		data.append({**_row(row, currency), "row_id": row["name"], "indent": 0})
		for link in row.get("links", ()):
			data.append(_drill_row(row["name"], link, currency, link["tracked_link"], 1))
			for variant in link["variants"]:
				row_id = f"{link['tracked_link']}/{variant['variant']}"
				data.append(_drill_row(link["tracked_link"], variant, currency, row_id, 2))
	total = result["total"]
	if data:
		data.append(_row({**total, "name": None, "campaign_name": _("Total"), "is_total": 1}, currency))
	message = _("Leads, deals and revenue credited to each campaign by the {0} model, {1} to {2}.").format(
		frappe.bold(model), frappe.format(period.from_date, "Date"), frappe.format(period.to_date, "Date")
	)
	return columns(currency), data, message, chart(result["rows"], currency), summary(total, currency)


def _row(row: dict, currency: str) -> dict:
	return {
		"campaign": row.get("name"),
		"campaign_name": row.get("campaign_name"),
		"status": row.get("status"),
		"channel": row.get("channel"),
		"clicks": row["clicks"],
		"unique_visitors": row["unique_visitors"],
		"sessions": row["sessions"],
		"leads": row["leads"],
		"attributed_leads": row["attributed_leads"],
		"deals_created": row["deals_created"],
		"deals_won": row["deals_won"],
		"revenue": row["revenue"],
		"spend": row["spend"],
		"roi": None if row["roi"] is None else float(row["roi"] * 100),
		"roas": ratio(row["roas"]),
		"cost_per_lead": row["cost_per_lead"],
		"cost_per_won": row["cost_per_won"],
		"currency": currency,
		"is_total": row.get("is_total", 0),
	}


def _drill_row(parent: str, figures: dict, currency: str, row_id: str, indent: int) -> dict:
	"""A link (indent 1) or variant (indent 2) under its campaign: traffic and credited results; spend
	and the ratios built on it are the campaign's alone."""
	return {
		"campaign": None,
		"tracked_link": figures["tracked_link"] if indent == 1 else None,
		"variant": figures.get("variant"),
		"campaign_name": figures.get("variant") or figures.get("tracked_link"),
		**{key: figures[key] for key in DRILL_FIGURES},
		"currency": currency,
		"row_id": row_id,
		"parent_row": parent,
		"indent": indent,
	}


DRILL_FIGURES = (
	"clicks",
	"unique_visitors",
	"sessions",
	"leads",
	"attributed_leads",
	"deals_created",
	"deals_won",
	"revenue",
)


def columns(currency: str) -> list[dict]:
	"""One campaign column (a Link; Link Campaign is named by its campaign name): link and variant rows
	and the total show their label there (campaign_name, hidden, through the report's formatter)."""
	money = {"fieldtype": "Currency", "options": "currency", "width": 130}
	return [
		{"label": _("Campaign"), "fieldname": "campaign", "fieldtype": "Link", "options": "Link Campaign", "width": 200},
		{"label": _("Tracked Link"), "fieldname": "tracked_link", "fieldtype": "Link", "options": "Tracked Link", "width": 110},
		{"label": _("Status"), "fieldname": "status", "fieldtype": "Data", "width": 90},
		{"label": _("Channel"), "fieldname": "channel", "fieldtype": "Data", "width": 110},
		{"label": _("Clicks"), "fieldname": "clicks", "fieldtype": "Int", "width": 80},
		{"label": _("Unique Visitors"), "fieldname": "unique_visitors", "fieldtype": "Int", "width": 100},
		{"label": _("Sessions"), "fieldname": "sessions", "fieldtype": "Int", "width": 80},
		{"label": _("Leads"), "fieldname": "leads", "fieldtype": "Int", "width": 70},
		{"label": _("Attributed Leads"), "fieldname": "attributed_leads", "fieldtype": "Float", "precision": 2, "width": 100},
		{"label": _("Deals Created"), "fieldname": "deals_created", "fieldtype": "Int", "width": 90},
		{"label": _("Deals Won"), "fieldname": "deals_won", "fieldtype": "Int", "width": 80},
		{"label": _("Won Revenue (attributed, {0})").format(currency), "fieldname": "revenue", **money, "width": 170},
		{"label": _("Spend ({0})").format(currency), "fieldname": "spend", **money},
		{"label": _("ROI %"), "fieldname": "roi", "fieldtype": "Percent", "width": 90},
		{"label": _("ROAS"), "fieldname": "roas", "fieldtype": "Float", "precision": 2, "width": 80},
		{"label": _("Cost per Lead ({0})").format(currency), "fieldname": "cost_per_lead", **money},
		{"label": _("Cost per Won Deal ({0})").format(currency), "fieldname": "cost_per_won", **money},
		{"label": _("Name"), "fieldname": "campaign_name", "fieldtype": "Data", "hidden": 1},
		{"label": _("Currency"), "fieldname": "currency", "fieldtype": "Data", "hidden": 1},
		{"label": _("Row"), "fieldname": "row_id", "fieldtype": "Data", "hidden": 1},
		{"label": _("Parent Row"), "fieldname": "parent_row", "fieldtype": "Data", "hidden": 1},
	]  # fmt: skip


def chart(rows: list[dict], currency: str) -> dict | None:
	"""Attributed won revenue and spend of the campaigns with the most revenue (then spend)."""
	top = sorted(rows, key=lambda r: (-r["revenue"], -r["spend"], r["campaign_name"] or ""))[:CHART_CAMPAIGNS]
	top = [r for r in top if r["revenue"] or r["spend"]]
	if not top:
		return None
	return {
		"data": {
			"labels": [r["campaign_name"] or r["name"] for r in top],
			"datasets": [
				{"name": _("Won Revenue"), "values": [float(r["revenue"]) for r in top]},
				{"name": _("Spend"), "values": [float(r["spend"]) for r in top]},
			],
		},
		"type": "bar",
		"fieldtype": "Currency",
		"options": currency,
	}


def summary(total: dict, currency: str) -> list[dict]:
	roi = total["roi"]
	return [
		{"label": _("Clicks"), "value": total["clicks"], "datatype": "Int", "indicator": "Blue"},
		{"label": _("Leads"), "value": total["leads"], "datatype": "Int", "indicator": "Blue"},
		{"label": _("Deals Won"), "value": total["deals_won"], "datatype": "Int", "indicator": "Green"},
		{
			"label": _("Won Revenue ({0})").format(currency),
			"value": total["revenue"],
			"datatype": "Currency",
			"currency": currency,
			"indicator": "Green",
		},
		{
			"label": _("Spend ({0})").format(currency),
			"value": total["spend"],
			"datatype": "Currency",
			"currency": currency,
		},
		summary_tile(
			_("ROI"),
			None if roi is None else float(roi * 100),
			"Percent",
			_("no spend recorded in the period"),
			indicator="Green" if roi is not None and roi >= 0 else "Red",
		),
	]
