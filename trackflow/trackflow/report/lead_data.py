"""The queries behind the lead reports (Lead Lifecycle Funnel, Lead Cohorts, Lead Source Quality): the
user's permitted leads with their first touch, CRM status history and won deals, finished with the
engine's statistics (`trackflow.engine.stats`). Definitions are in each report's docstring."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

import frappe
from frappe import _
from frappe.utils import get_datetime

from trackflow.engine import stats
from trackflow.engine.conversions import deal_fields
from trackflow.engine.crm_schema import funnel_aliases, funnel_stages
from trackflow.settings import get_settings
from trackflow.trackflow.report.report_data import Period, money

CHUNK = 1000  # names per IN (...) list
_ONE_MICROSECOND = timedelta(microseconds=1)
TEMPERATURES = ("hot", "warm", "cold")


def check_lead_access(report: str) -> None:
	"""The user needs one of the report's roles (checked here too, not only by Frappe's report runner:
	CRM lets every role read CRM Lead, and execute() is also called directly) and read permission on
	CRM Lead; deals are read with the user's permissions."""
	if not frappe.get_cached_doc("Report", report).is_permitted():
		frappe.throw(_("You are not allowed to run the report {0}").format(report), frappe.PermissionError)
	frappe.has_permission("CRM Lead", "read", throw=True)


def _chunks(names: list[str]):
	for start in range(0, len(names), CHUNK):
		yield names[start : start + CHUNK]


def channel_of(value: str | None) -> str:
	return value or stats.NO_CHANNEL


def lead_filters(filters: dict) -> dict:
	"""get_list filters for the first-touch channel and campaign filters ("(none)": leads without one)."""
	conditions = {}
	for key, fieldname in (("channel", "tf_first_touch_channel"), ("campaign", "tf_first_touch_campaign")):
		value = filters.get(key)
		if value == stats.NO_CHANNEL:
			conditions[fieldname] = ("is", "not set")
		elif value:
			conditions[fieldname] = value
	return conditions


def permitted_leads(filters: dict, fields: list[str], period: Period, by_first_touch: bool = False) -> list:
	"""The CRM Leads the user may read, created in the period (or, with `by_first_touch`, whose first
	touch, else creation, is in it), narrowed by the first-touch channel/campaign filters."""
	fields = sorted({"name", "creation", "tf_first_touch_at", "tf_first_touch_channel", *fields})
	between = ("between", [period.start, period.end - _ONE_MICROSECOND])
	if not by_first_touch:
		return frappe.get_list(
			"CRM Lead",
			filters={**lead_filters(filters), "creation": between},
			fields=fields,
			order_by="creation asc",
			limit_page_length=0,
		)
	# a first touch comes before the lead, so every lead of the cohort period matches one of the two
	leads = frappe.get_list(
		"CRM Lead",
		filters=lead_filters(filters),
		or_filters={"tf_first_touch_at": between, "creation": between},
		fields=fields,
		order_by="creation asc",
		limit_page_length=0,
	)
	return [lead for lead in leads if period.start <= cohort_time(lead) < period.end]


def cohort_time(lead) -> datetime:
	return get_datetime(lead.tf_first_touch_at or lead.creation)


# --- stages ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LeadStages:
	"""The funnel's stages (CRM Lead Status by position) and the exits (statuses that leave the funnel)."""

	stages: list[str]
	exits: list[str]
	aliases: dict[str, str] = field(default_factory=dict)  # status -> the stage it counts as


def lead_stages() -> LeadStages:
	"""CRM Lead Statuses split into funnel stages and exits (rule: engine crm_schema.funnel_stages)."""
	typed = frappe.get_meta("CRM Lead Status").has_field("type")
	statuses = frappe.get_all("CRM Lead Status", fields=["name", "position", *(["type"] if typed else [])])
	qualified = [row.lead_status for row in get_settings().qualified_lead_statuses]
	stages, exits = funnel_stages(statuses, qualified)
	return LeadStages(list(stages), list(exits), funnel_aliases(statuses))


def status_changes(lead_names: list[str]) -> list[tuple[str, str, str | None, datetime, datetime | None]]:
	"""CRM Status Change Log rows of the leads as (lead, from, to, from_date, to_date), oldest first."""
	log = frappe.qb.DocType("CRM Status Change Log")
	rows = []
	for names in _chunks(lead_names):
		rows += (
			frappe.qb.from_(log)
			.select(log.parent, log["from"], log["to"], log.from_date, log.to_date)
			.where(log.parenttype == "CRM Lead")
			.where(log.parentfield == "status_change_log")
			.where(log.parent.isin(names))
			.orderby(log.parent)
			.orderby(log.idx)
			.run()
		)
	return [
		(lead, from_status, to_status or None, _datetime(from_date), _datetime(to_date))
		for lead, from_status, to_status, from_date, to_date in rows
	]


def _datetime(value) -> datetime | None:
	return get_datetime(value) if value else None


@dataclass
class FunnelData:
	stages: LeadStages
	leads: int
	reached: dict[str, int]  # stage or exit -> leads that visited it (stages: reached it)
	current: dict[str, int]  # status -> leads in it now
	median_seconds: dict[str, float]
	steps: list[stats.FunnelStep] = field(default_factory=list)  # the stages, with conversion rates
	reached_by_channel: dict[str, dict[str, int]] = field(default_factory=dict)


def lifecycle_funnel(leads: list) -> FunnelData:
	"""Funnel of the leads: stage reached (the furthest stage a lead visited, and every stage before it,
	from its current status and status change log), exits visited, current status, median time in stage."""
	stages = lead_stages()
	changes = status_changes([lead.name for lead in leads])
	visited: dict[str, set[str]] = {lead.name: {lead.status} for lead in leads}
	for lead, from_status, to_status, _from_date, _to_date in changes:
		visited[lead].update(s for s in (from_status, to_status) if s)
	for statuses in visited.values():
		statuses.update(stages.aliases[s] for s in list(statuses) if s in stages.aliases)
	steps = stats.funnel(stats.reached(visited, stages.stages))
	reached = {step.stage: step.count for step in steps}
	for status in stages.exits:
		reached[status] = sum(1 for statuses in visited.values() if status in statuses)
	by_channel: dict[str, dict[str, set[str]]] = defaultdict(dict)
	for lead in leads:
		by_channel[channel_of(lead.tf_first_touch_channel)][lead.name] = visited[lead.name]
	current: dict[str, int] = defaultdict(int)
	for lead in leads:
		current[lead.status] += 1
	return FunnelData(
		stages=stages,
		leads=len(leads),
		reached=reached,
		current=dict(current),
		median_seconds=stats.stage_durations(changes),
		steps=steps,
		reached_by_channel={
			channel: dict(stats.reached(docs, stages.stages)) for channel, docs in sorted(by_channel.items())
		},
	)


# --- deals -----------------------------------------------------------------------------------------


@dataclass
class LeadDeals:
	"""One lead's deals: when the first was created, and its won deals (count, first win, total value)."""

	first_deal_at: datetime | None = None
	won: int = 0
	first_won_at: datetime | None = None
	won_value: Decimal = Decimal(0)


def deals_of_leads(lead_names: list[str]) -> dict[str, LeadDeals]:
	"""{lead: LeadDeals} over the CRM Deals the user may read. A deal is won when its status is one of
	TrackFlow Settings' won deal statuses; its value and time come from its deal_won Conversion
	(value_company_currency, occurred_at), else from the deal itself (value x exchange rate, close date,
	else last modified) for deals won before TrackFlow recorded them."""
	if not lead_names or not frappe.has_permission("CRM Deal", "read"):
		return {}  # a role CRM does not let read deals sees none (get_list would raise)
	fields = deal_fields(f.fieldname for f in frappe.get_meta("CRM Deal").fields)
	wanted = ["name", "lead", "creation", "modified", "status", fields.value]
	wanted += [f for f in (fields.exchange_rate, fields.close_date) if f]
	deals = []
	for names in _chunks(lead_names):
		deals += frappe.get_list(
			"CRM Deal", filters={"lead": ("in", names)}, fields=wanted, limit_page_length=0
		)
	won_statuses = {row.deal_status for row in get_settings().won_deal_statuses}
	won_deals = [deal for deal in deals if deal.status in won_statuses]
	recorded = _won_conversions([deal.name for deal in won_deals])
	out: dict[str, LeadDeals] = defaultdict(LeadDeals)
	for deal in deals:
		lead = out[deal.lead]
		created = get_datetime(deal.creation)
		lead.first_deal_at = min(filter(None, (lead.first_deal_at, created)))
	for deal in won_deals:
		if deal.name in recorded:
			won_at, value = recorded[deal.name]
		else:
			rate = money(deal.get(fields.exchange_rate) if fields.exchange_rate else 1) or Decimal(1)
			value = money(deal.get(fields.value)) * rate
			close = deal.get(fields.close_date) if fields.close_date else None
			won_at = get_datetime(close or deal.modified)
		lead = out[deal.lead]
		lead.won += 1
		lead.won_value += value
		lead.first_won_at = min(filter(None, (lead.first_won_at, won_at)))
	return dict(out)


def _won_conversions(deal_names: list[str]) -> dict[str, tuple[datetime, Decimal]]:
	conversion = frappe.qb.DocType("Conversion")
	out = {}
	for names in _chunks(deal_names):
		for row in (
			frappe.qb.from_(conversion)
			.select(conversion.crm_deal, conversion.occurred_at, conversion.value_company_currency)
			.where(conversion.conversion_type == "deal_won")
			.where(conversion.status != "void")
			.where(conversion.crm_deal.isin(names))
			.orderby(conversion.occurred_at)
			.run(as_dict=True)
		):
			out[row.crm_deal] = (get_datetime(row.occurred_at), money(row.value_company_currency))
	return out


# --- cohorts ---------------------------------------------------------------------------------------


def lead_cohorts(leads: list, months: int, by_channel: bool, cumulative: bool) -> list[stats.CohortRow]:
	"""engine cohorts over the leads: first-touch month (else creation month) and channel, with the first
	deal's creation, the first win and the won value of each lead."""
	deals = deals_of_leads([lead.name for lead in leads])
	rows = []
	for lead in leads:
		mine = deals.get(lead.name) or LeadDeals()
		first_touch = get_datetime(lead.tf_first_touch_at).date() if lead.tf_first_touch_at else None
		rows.append(
			(
				lead.name,
				first_touch,
				lead.tf_first_touch_channel,
				get_datetime(lead.creation).date(),
				mine.first_deal_at,
				mine.first_won_at if mine.won else None,
				mine.won_value if mine.won else None,
			)
		)
	return stats.cohorts(rows, months, by_channel=by_channel, cumulative=cumulative)


# --- source quality --------------------------------------------------------------------------------


@dataclass
class SourceQuality:
	key: str
	leads: int = 0
	score_total: float = 0.0
	temperatures: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TEMPERATURES, 0))
	won: int = 0
	won_value: Decimal = Decimal(0)

	@property
	def avg_score(self) -> float | None:
		return self.score_total / self.leads if self.leads else None

	def share(self, temperature: str) -> float | None:
		return self.temperatures[temperature] / self.leads if self.leads else None

	@property
	def win_rate(self) -> float | None:
		return self.won / self.leads if self.leads else None

	def avg_won_value(self, currency: str | None) -> Decimal | None:
		return stats.cost_per(self.won_value, self.won, currency)  # amount per count, in minor units


def source_quality(leads: list, group_by: str) -> tuple[list[SourceQuality], SourceQuality]:
	"""Per first-touch channel (or campaign) and in total: leads, engagement, temperature, won deals."""
	fieldname = "tf_first_touch_campaign" if group_by == "campaign" else "tf_first_touch_channel"
	deals = deals_of_leads([lead.name for lead in leads])
	groups: dict[str, SourceQuality] = {}
	total = SourceQuality(_("Total"))
	for lead in leads:
		key = channel_of(lead.get(fieldname))
		for tally in (groups.setdefault(key, SourceQuality(key)), total):
			tally.leads += 1
			tally.score_total += float(lead.tf_engagement_score or 0)
			if lead.tf_temperature in tally.temperatures:
				tally.temperatures[lead.tf_temperature] += 1
			mine = deals.get(lead.name)
			if mine:
				tally.won += mine.won
				tally.won_value += mine.won_value
	rows = sorted(groups.values(), key=lambda g: (-g.leads, g.key))
	return rows, total
