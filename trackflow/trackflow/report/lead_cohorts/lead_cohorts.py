"""Lead Cohorts: leads grouped by first-touch month (and channel), with the deals created, the deals won
and the won revenue in each following month.

A lead's cohort is the month of its first touch (tf_first_touch_at), else of its creation; the period
selects leads by that date. Per lead (engine `cohorts`): its first deal's creation month, and its first
win's month with the value of all its won deals (a deal in a won status of TrackFlow Settings; value and
time from its deal_won Conversion in company currency). Offset 0 is the cohort month itself."""

from decimal import Decimal

import frappe
from frappe import _
from frappe.utils import cint

from trackflow.engine import stats
from trackflow.trackflow.report.lead_data import check_lead_access, lead_cohorts, permitted_leads
from trackflow.trackflow.report.report_data import company_currency, never_raises, period_of

DEFAULT_MONTHS = 6
MAX_MONTHS = 24
CHART_COHORTS = 8
MEASURES = {"Deals Created": "deals", "Won Deals": "won", "Won Revenue": "won_revenue"}
REPORT = "Lead Cohorts"


@never_raises
def execute(filters: dict | None = None):
	check_lead_access(REPORT)
	filters = frappe._dict(filters or {})
	period = period_of(filters)
	months = min(max(cint(filters.get("months") or DEFAULT_MONTHS), 0), MAX_MONTHS)
	measure = MEASURES.get(filters.get("measure") or "Won Revenue", "won_revenue")
	by_channel = bool(cint(filters.get("by_channel", 1)))
	cumulative = bool(cint(filters.get("cumulative")))
	leads = permitted_leads(filters, [], period, by_first_touch=True)
	rows = lead_cohorts(leads, months, by_channel, cumulative)
	currency = company_currency()
	data = [_row(row, measure, currency) for row in rows]
	message = _(
		"Leads by the month of their first touch (else creation), {0} to {1}. Month columns: {2} in "
		"that many months after the cohort month{3}; totals count every month."
	).format(
		frappe.format(period.from_date, "Date"),
		frappe.format(period.to_date, "Date"),
		_(filters.get("measure") or "Won Revenue"),
		_(", running total") if cumulative else "",
	)
	return (
		columns(months, measure, by_channel),
		data,
		message,
		chart(rows, months, measure),
		summary(rows, currency),
	)


def _month_field(offset: int) -> str:
	return f"m{offset}"


def _row(row: stats.CohortRow, measure: str, currency: str) -> dict:
	values = getattr(row, measure)
	return {
		"cohort": row.cohort,
		"channel": row.channel,
		"leads": row.leads,
		"deals": row.deals_total,
		"won": row.won_total,
		"won_revenue": row.won_revenue_total,
		"win_rate": row.won_total / row.leads * 100 if row.leads else None,
		"currency": currency,
		**{_month_field(i): value for i, value in enumerate(values)},
	}


def columns(months: int, measure: str, by_channel: bool) -> list[dict]:
	money = {"fieldtype": "Currency", "options": "currency"}
	out = [{"label": _("Cohort"), "fieldname": "cohort", "fieldtype": "Data", "width": 90}]
	if by_channel:
		out.append({"label": _("Channel"), "fieldname": "channel", "fieldtype": "Data", "width": 120})
	out += [
		{"label": _("Leads"), "fieldname": "leads", "fieldtype": "Int", "width": 70},
		{"label": _("Deals Created"), "fieldname": "deals", "fieldtype": "Int", "width": 100},
		{"label": _("Won Deals"), "fieldname": "won", "fieldtype": "Int", "width": 90},
		{"label": _("Won Revenue"), "fieldname": "won_revenue", **money, "width": 130},
		{"label": _("Leads Won %"), "fieldname": "win_rate", "fieldtype": "Percent", "width": 100},
	]
	month = money if measure == "won_revenue" else {"fieldtype": "Int"}
	out += [
		{"label": _("Month {0}").format(i), "fieldname": _month_field(i), **month, "width": 100}
		for i in range(months + 1)
	]
	out.append(
		{
			"label": _("Currency"),
			"fieldname": "currency",
			"fieldtype": "Data",
			"hidden": 1,
		}
	)
	return out


def chart(rows: list[stats.CohortRow], months: int, measure: str) -> dict | None:
	"""The chosen measure by month offset, one line per cohort month (channels added up), latest cohorts."""
	by_cohort: dict[str, list] = {}
	for row in rows:
		values = [float(v) for v in getattr(row, measure)]
		mine = by_cohort.setdefault(row.cohort, [0.0] * len(values))
		by_cohort[row.cohort] = [a + b for a, b in zip(mine, values, strict=True)]
	if not by_cohort:
		return None
	cohorts = sorted(by_cohort)[-CHART_COHORTS:]
	return {
		"data": {
			"labels": [_("Month {0}").format(i) for i in range(months + 1)],
			"datasets": [{"name": cohort, "values": by_cohort[cohort]} for cohort in cohorts],
		},
		"type": "line",
		"fieldtype": "Currency" if measure == "won_revenue" else "Int",
	}


def summary(rows: list[stats.CohortRow], currency: str) -> list[dict]:
	leads = sum(row.leads for row in rows)
	won = sum(row.won_total for row in rows)
	return [
		{"label": _("Cohorts"), "value": len({row.cohort for row in rows}), "datatype": "Int"},
		{"label": _("Leads"), "value": leads, "datatype": "Int", "indicator": "Blue"},
		{"label": _("Deals Created"), "value": sum(row.deals_total for row in rows), "datatype": "Int"},
		{"label": _("Won Deals"), "value": won, "datatype": "Int", "indicator": "Green"},
		{
			"label": _("Won Revenue"),
			"value": sum((row.won_revenue_total for row in rows), start=Decimal(0)),
			"datatype": "Currency",
			"currency": currency,
			"indicator": "Green",
		},
	]
