"""Link AB Results: per tracked link with variants, each variant's visitors, conversions and significance."""

import frappe
from frappe import _

from trackflow.trackflow.report.report_data import ab_results, check_report_access, never_raises, period_of


@never_raises
def execute(filters: dict | None = None):
	check_report_access()
	filters = frappe._dict(filters or {})
	period = period_of(filters)
	arms = ab_results(period, filters.get("tracked_link"), filters.get("conversion_type") or "lead_created")
	data = [_row(arm) for arm in arms]
	message = _(
		"A conversion counts for a variant when its journey has a touch from a click on that variant. "
		"Each variant is tested against the first one (two-proportion z-test); below 100 visitors and 5 "
		"expected conversions per variant the test says not enough data."
	)
	return columns(), data, message, chart(arms), summary(arms)


def _verdict(arm: dict) -> str:
	if arm["control"]:
		return _("Control")
	if not arm["enough_data"]:
		return _("Not enough data")
	if arm["p_value"] is not None and arm["p_value"] < 0.05:
		return _("Better") if arm["difference"] > 0 else _("Worse")
	return _("No significant difference")


def _row(arm: dict) -> dict:
	def percent(value):
		return None if value is None else value * 100

	return {
		"tracked_link": arm["link"],
		"title": arm["title"],
		"variant": arm["variant"],
		"clicks": arm["clicks"],
		"visitors": arm["visitors"],
		"conversions": arm["conversions"],
		"rate": percent(arm["rate"]),
		"difference": percent(arm["difference"]),
		"p_value": arm["p_value"],
		"probability_best": percent(arm["probability_best"]),
		"verdict": _verdict(arm),
	}


def columns() -> list[dict]:
	return [
		{"label": _("Tracked Link"), "fieldname": "tracked_link", "fieldtype": "Link", "options": "Tracked Link", "width": 120},
		{"label": _("Title"), "fieldname": "title", "fieldtype": "Data", "width": 160},
		{"label": _("Variant"), "fieldname": "variant", "fieldtype": "Data", "width": 100},
		{"label": _("Clicks"), "fieldname": "clicks", "fieldtype": "Int", "width": 80},
		{"label": _("Visitors"), "fieldname": "visitors", "fieldtype": "Int", "width": 80},
		{"label": _("Conversions"), "fieldname": "conversions", "fieldtype": "Int", "width": 100},
		{"label": _("Conversion Rate %"), "fieldname": "rate", "fieldtype": "Percent", "width": 120},
		{"label": _("Difference (points)"), "fieldname": "difference", "fieldtype": "Float", "precision": 2, "width": 120},
		{"label": _("p-value"), "fieldname": "p_value", "fieldtype": "Float", "precision": 4, "width": 90},
		{"label": _("Probability to be Best %"), "fieldname": "probability_best", "fieldtype": "Percent", "width": 140},
		{"label": _("Verdict"), "fieldname": "verdict", "fieldtype": "Data", "width": 170},
	]  # fmt: skip


def chart(arms: list[dict]) -> dict | None:
	if not arms:
		return None
	return {
		"data": {
			"labels": [f"{a['title'] or a['link']}: {a['variant']}" for a in arms],
			"datasets": [{"name": _("Conversion Rate %"), "values": [(a["rate"] or 0) * 100 for a in arms]}],
		},
		"type": "bar",
		"fieldtype": "Percent",
	}


def summary(arms: list[dict]) -> list[dict]:
	links = {a["link"] for a in arms}
	decided = {a["link"] for a in arms if not a["control"] and a["enough_data"]}
	return [
		{"label": _("Links with variants"), "value": len(links), "datatype": "Int"},
		{
			"label": _("Links with enough data"),
			"value": len(decided),
			"datatype": "Int",
			"indicator": "Green",
		},
		{"label": _("Visitors"), "value": sum(a["visitors"] for a in arms), "datatype": "Int"},
		{"label": _("Conversions"), "value": sum(a["conversions"] for a in arms), "datatype": "Int"},
	]
