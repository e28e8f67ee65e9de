"""Conversion Paths: the most common channel paths before conversion, against lost deals' paths."""

import frappe
from frappe import _
from frappe.utils import cint

from trackflow.trackflow.report.report_data import (
	check_report_access,
	conversion_paths,
	never_raises,
	period_of,
	summary_tile,
)


@never_raises
def execute(filters: dict | None = None):
	check_report_access()
	filters = frappe._dict(filters or {})
	period = period_of(filters)
	conversion_type = filters.get("conversion_type") or "deal_won"
	collapse = cint(filters.get("collapse_repeats", 1))
	result = conversion_paths(period, conversion_type, bool(collapse), cint(filters.get("limit")) or 20)
	data = [
		{
			"path": row.path,
			"conversions": row.conversions,
			"non_conversions": row.non_conversions,
			"conversion_rate": row.conversion_rate * 100,
			"avg_days_to_convert": row.avg_days_to_convert,
			"avg_touches": row.avg_touches,
		}
		for row in result["paths"]
	]
	message = _(
		"A path is the channels of every touch the ledger holds for a conversion, in time order. "
		"Non-converting paths are lost deals' journeys (deal_won only)."
	)
	return columns(), data, message, chart(result["paths"]), summary(result)


def columns() -> list[dict]:
	return [
		{"label": _("Path"), "fieldname": "path", "fieldtype": "Data", "width": 360},
		{"label": _("Conversions"), "fieldname": "conversions", "fieldtype": "Int", "width": 100},
		{"label": _("Lost"), "fieldname": "non_conversions", "fieldtype": "Int", "width": 80},
		{"label": _("Conversion Rate %"), "fieldname": "conversion_rate", "fieldtype": "Percent", "width": 120},
		{"label": _("Avg Days to Convert"), "fieldname": "avg_days_to_convert", "fieldtype": "Float", "precision": 1, "width": 130},
		{"label": _("Avg Touches"), "fieldname": "avg_touches", "fieldtype": "Float", "precision": 1, "width": 100},
	]  # fmt: skip


def chart(paths: list) -> dict | None:
	top = paths[:10]
	if not top:
		return None
	return {
		"data": {
			"labels": [row.path for row in top],
			"datasets": [
				{"name": _("Conversions"), "values": [row.conversions for row in top]},
				{"name": _("Lost"), "values": [row.non_conversions for row in top]},
			],
		},
		"type": "bar",
	}


def summary(result: dict) -> list[dict]:
	def rounded(value):
		return None if value is None else round(value, 1)

	return [
		{"label": _("Conversions"), "value": result["conversions"], "datatype": "Int", "indicator": "Green"},
		{"label": _("Lost deals"), "value": result["non_conversions"], "datatype": "Int", "indicator": "Red"},
		summary_tile(_("Avg touches"), rounded(result["avg_touches"]), "Float", _("no conversions")),
		summary_tile(_("Avg days to convert"), rounded(result["avg_days"]), "Float", _("no conversions")),
		summary_tile(_("Median days"), rounded(result["median_days"]), "Float", _("no conversions")),
	]
