"""Lead Source Quality: per first-touch channel (or campaign), the leads created in the period, their
average lead score, the share of hot / warm / cold leads, the win rate and the average won deal.

Shares are of all the group's leads (leads not scored yet have no temperature, so the three shares may
add up to less than 100 %). Win rate = won deals / leads, where a won deal is a CRM Deal of one of the
leads in a won status of TrackFlow Settings; its value is its deal_won Conversion's
value_company_currency. Average won deal value = won revenue / won deals."""

import frappe
from frappe import _

from trackflow.trackflow.report.lead_data import (
	TEMPERATURES,
	SourceQuality,
	check_lead_access,
	permitted_leads,
	source_quality,
)
from trackflow.trackflow.report.report_data import company_currency, never_raises, period_of, summary_tile

CHART_GROUPS = 12
LEAD_FIELDS = ["tf_first_touch_campaign", "tf_engagement_score", "tf_temperature"]
REPORT = "Lead Source Quality"


@never_raises
def execute(filters: dict | None = None):
	check_lead_access(REPORT)
	filters = frappe._dict(filters or {})
	period = period_of(filters)
	group_by = "campaign" if filters.get("group_by") == "Campaign" else "channel"
	rows, total = source_quality(permitted_leads(filters, LEAD_FIELDS, period), group_by)
	currency = company_currency()
	data = [_row(row, currency) for row in rows]
	if data:
		data.append({**_row(total, currency), "source": _("Total"), "is_total": 1})
	message = _(
		"Leads created from {0} to {1} by first-touch {2}. Win rate = won deals / leads; average won deal "
		"= won revenue / won deals (company currency)."
	).format(frappe.format(period.from_date, "Date"), frappe.format(period.to_date, "Date"), _(group_by))
	return columns(group_by), data, message, chart(rows), summary(total, currency)


def _percent(value: float | None) -> float | None:
	return None if value is None else value * 100


def _row(row: SourceQuality, currency: str) -> dict:
	return {
		"source": row.key,
		"leads": row.leads,
		"avg_score": row.avg_score,
		**{f"{t}_share": _percent(row.share(t)) for t in TEMPERATURES},
		"won": row.won,
		"win_rate": _percent(row.win_rate),
		"won_revenue": row.won_value,
		"avg_won_value": row.avg_won_value(currency),
		"currency": currency,
		"is_total": 0,
	}


def columns(group_by: str) -> list[dict]:
	money = {"fieldtype": "Currency", "options": "currency", "width": 140}
	source = (
		{
			"label": _("First-Touch Campaign"),
			"fieldname": "source",
			"fieldtype": "Link",
			"options": "Link Campaign",
		}
		if group_by == "campaign"
		else {"label": _("First-Touch Channel"), "fieldname": "source", "fieldtype": "Data"}
	)
	return [
		{**source, "width": 160},
		{"label": _("Leads"), "fieldname": "leads", "fieldtype": "Int", "width": 70},
		{"label": _("Avg Lead Score"), "fieldname": "avg_score", "fieldtype": "Float", "precision": 1, "width": 140},
		{"label": _("Hot %"), "fieldname": "hot_share", "fieldtype": "Percent", "width": 80},
		{"label": _("Warm %"), "fieldname": "warm_share", "fieldtype": "Percent", "width": 80},
		{"label": _("Cold %"), "fieldname": "cold_share", "fieldtype": "Percent", "width": 80},
		{"label": _("Won Deals"), "fieldname": "won", "fieldtype": "Int", "width": 90},
		{"label": _("Win Rate %"), "fieldname": "win_rate", "fieldtype": "Percent", "width": 100},
		{"label": _("Won Revenue"), "fieldname": "won_revenue", **money},
		{"label": _("Avg Won Deal"), "fieldname": "avg_won_value", **money},
		{"label": _("Currency"), "fieldname": "currency", "fieldtype": "Data", "hidden": 1},
	]  # fmt: skip


def chart(rows: list[SourceQuality]) -> dict | None:
	"""Win rate and share of hot leads of the sources with the most leads."""
	top = rows[:CHART_GROUPS]
	if not top:
		return None
	return {
		"data": {
			"labels": [row.key for row in top],
			"datasets": [
				{"name": _("Win Rate %"), "values": [_percent(row.win_rate) or 0 for row in top]},
				{"name": _("Hot %"), "values": [_percent(row.share("hot")) or 0 for row in top]},
			],
		},
		"type": "bar",
		"fieldtype": "Percent",
	}


def summary(total: SourceQuality, currency: str) -> list[dict]:
	return [
		{"label": _("Leads"), "value": total.leads, "datatype": "Int", "indicator": "Blue"},
		summary_tile(_("Avg Lead Score"), total.avg_score, "Float", _("no leads")),
		summary_tile(_("Hot Leads"), _percent(total.share("hot")), "Percent", _("no leads"), indicator="Red"),
		summary_tile(_("Win Rate"), _percent(total.win_rate), "Percent", _("no leads"), indicator="Green"),
		summary_tile(
			_("Avg Won Deal"),
			total.avg_won_value(currency),
			"Currency",
			_("no won deals"),
			currency=currency,
			indicator="Green",
		),
	]
