"""Lead Lifecycle Funnel: leads created in the period by CRM status stage, with the conversion rate
between stages and the median time in each stage, split by first-touch channel.

Stages are CRM Lead Statuses in `position` order, without the exits (type Lost; on CRM 1.34 the statuses
after the last qualified status: Unqualified, Junk). A lead reached a stage when it visited it or any
later stage (its current status and every status of its CRM Status Change Log), so a lead that went New
-> Qualified without Contacted counts for Contacted too (engine `reached`, `funnel`). The time in a stage
is the sum of the lead's closed log rows for it; the median is over the leads with such rows (the
current, open stage is not counted; engine `stage_durations`)."""

import frappe
from frappe import _
from frappe.utils import cint

from trackflow.engine import stats
from trackflow.trackflow.report.lead_data import (
	FunnelData,
	check_lead_access,
	lifecycle_funnel,
	permitted_leads,
)
from trackflow.trackflow.report.report_data import never_raises, period_of, summary_tile

SECONDS_PER_DAY = 86400
REPORT = "Lead Lifecycle Funnel"


@never_raises
def execute(filters: dict | None = None):
	check_lead_access(REPORT)
	filters = frappe._dict(filters or {})
	period = period_of(filters)
	leads = permitted_leads(filters, ["status"], period)
	result = lifecycle_funnel(leads)
	channels = list(result.reached_by_channel) if cint(filters.get("by_channel")) else []
	data = [_row(result, step, channels) for step in result.steps]
	data += [_exit_row(result, status, channels) for status in result.stages.exits]
	message = _(
		"Leads created from {0} to {1}. A lead reached a stage when it visited it or a later one (CRM "
		"status change log); exits ({2}) are not stages. Median days: time spent in the stage, over the "
		"leads that left it."
	).format(
		frappe.format(period.from_date, "Date"),
		frappe.format(period.to_date, "Date"),
		", ".join(result.stages.exits) or _("none"),
	)
	return columns(channels), data, message, chart(result, channels), summary(result)


def _percent(value: float | None) -> float | None:
	return None if value is None else value * 100


def _days(result: FunnelData, stage: str) -> float | None:
	seconds = result.median_seconds.get(stage)
	return None if seconds is None else seconds / SECONDS_PER_DAY


def _row(result: FunnelData, step: stats.FunnelStep, channels: list[str]) -> dict:
	return {
		"stage": step.stage,
		"reached": step.count,
		"rate_from_previous": _percent(step.rate_from_previous),
		"rate_from_first": _percent(step.rate_from_first),
		"median_days": _days(result, step.stage),
		"current": result.current.get(step.stage, 0),
		"is_exit": 0,
		**{_channel_field(c): result.reached_by_channel[c][step.stage] for c in channels},
	}


def _exit_row(result: FunnelData, status: str, channels: list[str]) -> dict:
	"""An exit: leads that visited it, as a share of all leads."""
	return {
		"stage": status,
		"reached": result.reached[status],
		"rate_from_previous": None,
		"rate_from_first": result.reached[status] / result.leads * 100 if result.leads else None,
		"median_days": _days(result, status),
		"current": result.current.get(status, 0),
		"is_exit": 1,
		**{_channel_field(c): None for c in channels},
	}


def _channel_field(channel: str) -> str:
	return "channel_" + frappe.scrub(channel.strip("()"))


def columns(channels: list[str]) -> list[dict]:
	out = [
		{"label": _("Stage"), "fieldname": "stage", "fieldtype": "Data", "width": 140},
		{"label": _("Leads Reached"), "fieldname": "reached", "fieldtype": "Int", "width": 110},
		{"label": _("From Previous %"), "fieldname": "rate_from_previous", "fieldtype": "Percent", "width": 120},
		{"label": _("From First %"), "fieldname": "rate_from_first", "fieldtype": "Percent", "width": 110},
		{"label": _("Median Days in Stage"), "fieldname": "median_days", "fieldtype": "Float", "precision": 1, "width": 140},
		{"label": _("In Stage Now"), "fieldname": "current", "fieldtype": "Int", "width": 100},
		{"label": _("Exit"), "fieldname": "is_exit", "fieldtype": "Check", "width": 60},
	]  # fmt: skip
	out += [
		{"label": channel, "fieldname": _channel_field(channel), "fieldtype": "Int", "width": 110}
		for channel in channels
	]
	return out


def chart(result: FunnelData, channels: list[str]) -> dict | None:
	"""The funnel as bars: leads reaching each stage (stacked by channel when split)."""
	stages = result.stages.stages
	if not result.leads or not stages:
		return None
	if channels:
		datasets = [
			{"name": c, "values": [result.reached_by_channel[c][s] for s in stages]} for c in channels
		]
	else:
		datasets = [{"name": _("Leads Reached"), "values": [result.reached[s] for s in stages]}]
	return {"data": {"labels": stages, "datasets": datasets}, "type": "bar", "barOptions": {"stacked": 1}}


def summary(result: FunnelData) -> list[dict]:
	stages = result.stages.stages
	last = result.reached[stages[-1]] if stages else 0
	overall = result.steps[-1].rate_from_first if result.steps else None
	exited = sum(result.current.get(status, 0) for status in result.stages.exits)
	return [
		{"label": _("Leads"), "value": result.leads, "datatype": "Int", "indicator": "Blue"},
		{
			"label": _("Reached {0}").format(stages[-1] if stages else ""),
			"value": last,
			"datatype": "Int",
			"indicator": "Green",
		},
		summary_tile(_("Overall Conversion"), _percent(overall), "Percent", _("no leads"), indicator="Green"),
		{"label": _("Exited"), "value": exited, "datatype": "Int", "indicator": "Red"},
	]
