"""Touches by Channel: marketing touches (sessions and clicks that became touchpoints) per channel per day."""

import frappe
from frappe import _
from frappe.utils import add_days, date_diff, formatdate

from trackflow.trackflow.report.report_data import (
	channel_activity,
	check_report_access,
	never_raises,
	period_of,
)


@never_raises
def execute(filters: dict | None = None):
	check_report_access()
	frappe.has_permission("Touchpoint", "read", throw=True)
	period = period_of(frappe._dict(filters or {}))
	counts = channel_activity(period)
	days = [add_days(period.from_date, i) for i in range(date_diff(period.to_date, period.from_date) + 1)]
	channels = sorted({channel for channel, _day in counts})
	columns = [{"label": _("Date"), "fieldname": "date", "fieldtype": "Date", "width": 110}]
	columns += [{"label": c, "fieldname": c, "fieldtype": "Int", "width": 110} for c in channels]
	columns.append({"label": _("Total"), "fieldname": "total", "fieldtype": "Int", "width": 90})
	data = []
	for day in days:
		row = {"date": day, **{c: counts.get((c, day), 0) for c in channels}}
		row["total"] = sum(row[c] for c in channels)
		data.append(row)
	chart = {
		"data": {
			# "3 Dec": short enough for frappe-charts to print a month of days in full (a long date
			# format came out as "0.. 0.. 1.."); the table keeps the full date
			"labels": [formatdate(day, "d MMM") for day in days],
			"datasets": [{"name": c, "values": [counts.get((c, day), 0) for day in days]} for c in channels],
		},
		"type": "line",
	}
	summary = [
		{"label": c, "value": sum(counts.get((c, day), 0) for day in days), "datatype": "Int"}
		for c in channels[:6]
	]
	return columns, data, None, chart if channels else None, summary
