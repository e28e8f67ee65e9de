"""Lead Activity: the daily, weekly or monthly activity summaries the scoring job keeps per lead (Lead
Activity Summary: activities by kind, the score at the start and end of the period, status changes), for
the leads the user may read in CRM, newest periods first."""

import json

import frappe
from frappe import _
from frappe.utils import add_days, getdate, nowdate

from trackflow.scoring import SUMMARY_COLUMNS
from trackflow.trackflow.report.lead_data import check_lead_access
from trackflow.trackflow.report.report_data import never_raises

REPORT = "Lead Activity"
PERIODS = ("day", "week", "month")
MAX_ROWS = 5000
DEFAULT_DAYS = 30


@never_raises
def execute(filters: dict | None = None):
	check_lead_access(REPORT)
	filters = frappe._dict(filters or {})
	period = filters.get("period") or "week"
	if period not in PERIODS:
		frappe.throw(_("Period must be day, week or month"))
	to_date = getdate(filters.get("to_date") or nowdate())
	from_date = getdate(filters.get("from_date") or add_days(to_date, -(DEFAULT_DAYS - 1)))
	conditions = {"period": period, "start_date": ("between", [from_date, to_date])}
	if filters.get("lead"):
		conditions["crm_lead"] = filters["lead"]
	rows = frappe.get_list(  # the summaries follow their lead's CRM permissions
		"Lead Activity Summary",
		filters=conditions,
		fields=[f for f in SUMMARY_COLUMNS if f not in ("name", "creation", "modified", "owner", "period")],
		order_by="start_date desc, crm_lead asc",
		limit_page_length=MAX_ROWS,
	)
	data = [{**row, "counts": _counts(row.counts)} for row in rows]
	message = _("Activity per lead and {0}, {1} to {2}; the scoring job adds each day's summaries.").format(
		_(period), frappe.format(from_date, "Date"), frappe.format(to_date, "Date")
	)
	return columns(), data, message, None, summary(data)


def _counts(text: str | None) -> str:
	"""{"page_view": 3, "email_reply": 1} as "page view 3, email reply 1"."""
	try:
		counts = json.loads(text or "{}")
	except ValueError:
		return ""
	return ", ".join(
		f"{kind.replace('_', ' ')} {n}" for kind, n in sorted(counts.items(), key=lambda kv: -kv[1])
	)


def columns() -> list[dict]:
	return [
		# Data, not Link: Frappe adds user match conditions for Link columns
		{"label": _("Lead"), "fieldname": "crm_lead", "fieldtype": "Data", "width": 170},
		{"label": _("From"), "fieldname": "start_date", "fieldtype": "Date", "width": 100},
		{"label": _("To"), "fieldname": "end_date", "fieldtype": "Date", "width": 100},
		{"label": _("Activities"), "fieldname": "activities", "fieldtype": "Int", "width": 90},
		{"label": _("By Kind"), "fieldname": "counts", "fieldtype": "Data", "width": 260},
		{"label": _("Score at Start"), "fieldname": "score_start", "fieldtype": "Float", "width": 110},
		{"label": _("Score at End"), "fieldname": "score_end", "fieldtype": "Float", "width": 110},
		{"label": _("Score Change"), "fieldname": "score_change", "fieldtype": "Float", "width": 110},
		{"label": _("Status Changes"), "fieldname": "stage_changes", "fieldtype": "Int", "width": 110},
		{"label": _("Status From"), "fieldname": "stage_from", "fieldtype": "Data", "width": 110},
		{"label": _("Status To"), "fieldname": "stage_to", "fieldtype": "Data", "width": 110},
	]


def summary(rows: list[dict]) -> list[dict]:
	leads = {row["crm_lead"] for row in rows}
	return [
		{"label": _("Leads"), "value": len(leads), "datatype": "Int"},
		{"label": _("Activities"), "value": sum(row["activities"] or 0 for row in rows), "datatype": "Int"},
		{
			"label": _("Periods with a Status Change"),
			"value": sum(1 for row in rows if row["stage_changes"]),
			"datatype": "Int",
		},
	]
