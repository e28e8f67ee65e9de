"""Leads at Risk: open leads whose churn risk (engine.scoring_health) is at or above a threshold, riskiest
first, with what the risk was computed from: days without activity, the lead's own activity cadence and
the median days leads spend in its status.

The risk is the one the daily scoring job keeps on the lead (tf_churn_risk); days inactive are counted
now. Leads are the ones the user may read in CRM (a Sales User sees the leads CRM shows them); converted
leads are left out (their deals carry on)."""

import frappe
from frappe import _
from frappe.utils import flt, get_datetime, now_datetime

from trackflow.engine.scoring import days_since
from trackflow.scoring import stage_median_days
from trackflow.times import site_tz
from trackflow.trackflow.report.lead_data import check_lead_access
from trackflow.trackflow.report.report_data import never_raises

REPORT = "Leads at Risk"
DEFAULT_THRESHOLD = 0.6
MAX_ROWS = 5000
FIELDS = (
	"name",
	"lead_name",
	"lead_owner",
	"status",
	"creation",
	"tf_engagement_score",
	"tf_temperature",
	"tf_last_activity_at",
	"tf_activity_cadence_days",
	"tf_churn_risk",
)


@never_raises
def execute(filters: dict | None = None):
	check_lead_access(REPORT)
	filters = frappe._dict(filters or {})
	threshold = flt(filters.get("threshold")) if filters.get("threshold") not in (None, "") else None
	threshold = DEFAULT_THRESHOLD if threshold is None else min(max(threshold, 0.0), 1.0)
	leads = at_risk(threshold, filters)
	message = _(
		"Open leads with a churn risk of {0} or more (0: active as usual, 1: silent for four usual gaps), "
		"riskiest first. The risk is refreshed by the daily scoring job."
	).format(threshold)
	if len(leads) == MAX_ROWS:
		message += " " + _("Showing the first {0}.").format(MAX_ROWS)
	return columns(), leads, message, None, summary(leads)


def at_risk(threshold: float, filters: dict) -> list[dict]:
	"""The readable, unconverted leads at or above the threshold, as report rows."""
	conditions = {"tf_churn_risk": (">=", threshold), "tf_scored_at": ("is", "set")}
	if frappe.get_meta("CRM Lead").has_field("converted"):
		conditions["converted"] = 0
	for key in ("lead_owner", "status"):
		if filters.get(key):
			conditions[key] = filters[key]
	if threshold <= 0:
		conditions.pop("tf_churn_risk")
	rows = frappe.get_list(
		"CRM Lead",
		filters=conditions,
		fields=list(FIELDS),
		order_by="tf_churn_risk desc, tf_engagement_score desc",
		limit_page_length=MAX_ROWS,
	)
	tz = site_tz()
	now = now_datetime().replace(tzinfo=tz)
	medians = stage_median_days()
	return [
		{
			"lead": row.name,
			"lead_name": row.lead_name,
			"lead_owner": row.lead_owner,
			"status": row.status,
			"score": row.tf_engagement_score,
			"temperature": row.tf_temperature,
			"days_inactive": days_since(
				get_datetime(row.tf_last_activity_at or row.creation).replace(tzinfo=tz), now
			),
			"cadence_days": row.tf_activity_cadence_days or None,
			"stage_median_days": medians.get(row.status),
			"churn_risk": row.tf_churn_risk,
		}
		for row in rows
	]


def columns() -> list[dict]:
	return [
		# Data, not Link: Frappe adds user match conditions for Link columns (the report JS links the name)
		{"label": _("Lead"), "fieldname": "lead", "fieldtype": "Data", "width": 170},
		{"label": _("Name"), "fieldname": "lead_name", "fieldtype": "Data", "width": 150},
		{
			"label": _("Owner"),
			"fieldname": "lead_owner",
			"fieldtype": "Data",
			"width": 150,
		},
		{"label": _("Status"), "fieldname": "status", "fieldtype": "Data", "width": 100},
		{"label": _("Lead Score"), "fieldname": "score", "fieldtype": "Float", "width": 90},
		{"label": _("Temperature"), "fieldname": "temperature", "fieldtype": "Data", "width": 90},
		{"label": _("Days Inactive"), "fieldname": "days_inactive", "fieldtype": "Int", "width": 100},
		{"label": _("Cadence (days)"), "fieldname": "cadence_days", "fieldtype": "Float", "width": 110},
		{
			"label": _("Status Median (days)"),
			"fieldname": "stage_median_days",
			"fieldtype": "Float",
			"width": 140,
		},
		{
			"label": _("Churn Risk"),
			"fieldname": "churn_risk",
			"fieldtype": "Float",
			"precision": 2,
			"width": 90,
		},
	]


def summary(rows: list[dict]) -> list[dict]:
	return [
		{"label": _("Leads at Risk"), "value": len(rows), "datatype": "Int", "indicator": "Red"},
		{
			"label": _("Hot or Warm among them"),
			"value": sum(1 for r in rows if r["temperature"] in ("hot", "warm")),
			"datatype": "Int",
			"indicator": "Orange",
		},
	]
