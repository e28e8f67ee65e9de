"""The queries behind TrackFlow's Script Reports and PDF export: aggregated in SQL (frappe.qb, indexed
columns), finished with the engine's statistics. Definitions of every figure are in the README's
`## Reports` section; one implementation here serves the reports, the dashboard and the PDF."""

import functools
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import frappe
from frappe import _
from frappe.query_builder.functions import Count, Date, Sum
from frappe.utils import add_days, cint, get_datetime, getdate, nowdate

from trackflow.engine import rollup, stats
from trackflow.engine.attribution.registry import get_model
from trackflow.error_log import log_failure
from trackflow.journeys import lost_deal_journeys
from trackflow.permissions import row_criterion
from trackflow.settings import get_settings

DEFAULT_DAYS = 30
FUNNEL_TYPES = ("lead_created", "deal_created", "deal_won")
MAX_LOST_DEALS = 5000  # non-converting journeys read for Conversion Paths


@dataclass(frozen=True)
class Period:
	"""A closed date range [from_date, to_date] as the half-open datetime range [start, end)."""

	from_date: object
	to_date: object
	# The ledger's conversions the report counts: browser-reported ones (the embed script's, which anyone
	# could send) are included unless the report's "Exclude browser-reported" filter is ticked.
	browser_reported: bool = True

	@property
	def start(self) -> datetime:
		return get_datetime(self.from_date)

	@property
	def end(self) -> datetime:
		return get_datetime(add_days(self.to_date, 1))


def period_of(filters: dict | None) -> Period:
	"""The filters' date range; the last 30 days (today included) when a bound is missing."""
	filters = filters or {}
	to_date = getdate(filters.get("to_date") or nowdate())
	from_date = getdate(filters.get("from_date") or add_days(to_date, -(DEFAULT_DAYS - 1)))
	if from_date > to_date:
		frappe.throw(_("From Date must be on or before To Date"))
	return Period(from_date, to_date, not cint(filters.get("exclude_browser_reported")))


def check_report_access() -> None:
	"""Reports read the attribution ledger: the user needs read permission on it (Frappe checks the
	report's roles as well)."""
	frappe.has_permission("Attribution Credit", "read", throw=True)


def never_raises(execute):
	"""Wrap a Script Report's execute: a permission or filter problem answers with no rows and the reason
	as the report's message, anything else is logged too. Frappe's report runner starts a 15 s timer that
	sets prepared_report = 1 on the Report (for everyone) and does not cancel it when execute raises."""

	@functools.wraps(execute)
	def run(filters: dict | None = None):
		try:
			return execute(filters)
		except (frappe.PermissionError, frappe.ValidationError) as error:
			return [], [], str(error) or _("You do not have permission to see this report")
		except Exception as error:
			if frappe.flags.in_test:
				raise
			log_failure(f"TrackFlow report {execute.__module__.rsplit('.', 1)[-1]}", error)
			return [], [], _("The report failed; the details are in the Error Log")

	return run


def visible(query, doctype: str):
	"""Narrow a frappe.qb query over `tab<doctype>` (unaliased) to the rows the user may read: the CRM
	rule of trackflow.permissions (managers read every row)."""
	criterion = row_criterion(doctype)
	return query if criterion is None else query.where(criterion)


def ledger(credit, period: Period | None):
	"""The ledger rows a report may count: those the user may read (`visible`), without browser-reported
	conversions when the period's filters exclude them."""
	query = visible(frappe.qb.from_(credit), "Attribution Credit")
	if period is not None and not period.browser_reported:
		query = query.where(credit.reported_by.isnull() | (credit.reported_by != "Browser"))
	return query


def default_model(model: str | None = None) -> str:
	"""The chosen attribution model, else TrackFlow Settings' default; it must exist."""
	model = model or get_settings().default_attribution_model
	if not model or not frappe.db.exists("Attribution Model", model):
		frappe.throw(_("Choose an attribution model (TrackFlow Settings has no valid default)"))
	return model


def permitted_campaigns(filters: dict | None = None) -> list[dict]:
	"""Link Campaigns the user may read (user permissions apply), narrowed by status/channel/campaign."""
	filters = filters or {}
	conditions = {key: filters[key] for key in ("status", "channel") if filters.get(key)}
	if filters.get("campaign"):
		conditions["name"] = filters["campaign"]
	return frappe.get_list(
		"Link Campaign",
		filters=conditions,
		fields=["name", "campaign_name", "status", "channel", "currency"],
		order_by="campaign_name asc",
		limit_page_length=0,
	)


def money(value) -> Decimal:
	"""A SQL sum (Decimal, float or None) as an exact Decimal."""
	return value if isinstance(value, Decimal) else Decimal(str(value or 0))


def ratio(value: Decimal | None) -> float | None:
	return None if value is None else float(value)


NO_VALUE = "\u2014"  # an em dash: the figure does not exist (as opposed to 0)


def summary_tile(label: str, value, datatype: str, reason: str, **extra) -> dict:
	"""A report summary tile; a figure that does not exist (None: a ratio over nothing) shows "—" and the
	reason in its label, where Frappe would show a blank tile."""
	if value is None:
		return {"label": _("{0} ({1})").format(label, reason), "value": NO_VALUE, "datatype": "Data"}
	return {"label": label, "value": value, "datatype": datatype, **extra}


# --- Campaign Performance --------------------------------------------------------------------------


def campaign_performance(
	period: Period, model: str, campaigns: list[dict], currency: str | None, drill_down: bool = False
) -> dict:
	"""Per campaign and in total: clicks, visitors, sessions, leads, deals, won revenue, spend and ratios.

	Returns {"rows": [...], "total": {...}}; money as Decimal, ratios as Decimal (None without spend).
	With `drill_down`, each campaign row has "links": its tracked links' figures (no spend, so no ratios
	but revenue), each with "variants" when the link has A/B variants.
	"""
	names = [c["name"] for c in campaigns]
	by_campaign = {name: _empty_figures() for name in names}
	links: dict[tuple, dict] = defaultdict(_empty_figures)  # (campaign, link) and (campaign, link, variant)
	visitors = rollup.VisitorUnion()
	if names:
		_add_clicks(by_campaign, links if drill_down else None, visitors, names, period)
		_add_sessions(by_campaign, links if drill_down else None, names, period)
		_add_spend(by_campaign, names, period)
		for row in _ledger_counts(names, period, model, by="campaign"):
			_add_ledger_row(by_campaign[row.campaign], row)
		if drill_down:
			for by in ("link", "variant"):
				for row in _ledger_counts(names, period, model, by=by):
					_add_ledger_row(links[_drill_key(row)], row)
	total = _empty_figures()
	for figures in by_campaign.values():
		for key in ("clicks", "sessions", "attributed_leads", "attributed_won"):
			total[key] += figures[key]
		total["revenue"] += figures["revenue"]
		total["spend"] += figures["spend"]
	total["unique_visitors"] = visitors.count_all(
		(name,) for name in names
	)  # a visitor of two campaigns counts once
	if names:  # a lead credited to two campaigns counts once in the total
		for row in _ledger_counts(names, period, model, by=None):
			_add_ledger_row(total, row, money_too=False)
	rows = []
	for campaign in campaigns:
		figures = by_campaign[campaign["name"]]
		row = {**campaign, **figures, **_ratios(figures, currency)}
		if drill_down:
			row["links"] = _drill_rows(campaign["name"], links)
		rows.append(row)
	return {"rows": rows, "total": {**total, **_ratios(total, currency)}}


def _empty_figures() -> dict:
	return {
		"clicks": 0,
		"unique_visitors": 0,
		"sessions": 0,
		"leads": 0,
		"attributed_leads": 0.0,
		"deals_created": 0,
		"deals_won": 0,
		"attributed_won": 0.0,
		"revenue": Decimal(0),
		"spend": Decimal(0),
	}


def _drill_key(row) -> tuple:
	if "variant" in row:
		return (row.campaign, row.tracked_link, row.variant or "")
	return (row.campaign, row.tracked_link)


def _drill_rows(campaign: str, links: dict[tuple, dict]) -> list[dict]:
	"""The campaign's links (most clicks first), each with its variants; a link without variants (the
	variant "") lists none."""
	variants: dict[tuple, list[dict]] = defaultdict(list)
	for key in sorted(k for k in links if len(k) == 3 and k[0] == campaign and k[2]):
		variants[key[:2]].append({"variant": key[2], **links[key]})
	mine = [key for key in links if len(key) == 2 and key[0] == campaign and key[1]]
	return [
		{"tracked_link": key[1], **links[key], "variants": variants.get(key, [])}
		for key in sorted(mine, key=lambda k: (-links[k]["clicks"], k[1]))
	]


def _ratios(figures: dict, currency: str | None) -> dict:
	revenue, spend = figures["revenue"], figures["spend"]
	return {
		"roi": stats.roi(revenue, spend),
		"roas": stats.roas(revenue, spend),
		"cost_per_lead": stats.cost_per(spend, figures["leads"], currency),
		"cost_per_won": stats.cost_per(spend, figures["deals_won"], currency),
	}


def _add_clicks(
	by_campaign: dict, links: dict | None, visitors: rollup.VisitorUnion, names: list[str], period: Period
) -> None:
	"""Human clicks and exact unique visitors from the drain's per-day rollup (Link Click Day): a few
	rows per campaign and day instead of every click."""
	day = frappe.qb.DocType("Link Click Day")
	rows = (
		frappe.qb.from_(day)
		.select(day.campaign, day.tracked_link, day.variant, day.clicks, day.visitors, day.visitor_set)
		.where(day.campaign.isin(names))
		.where(day.day >= period.from_date)
		.where(day.day <= period.to_date)
		.run(as_dict=True)
	)
	for row in rows:
		by_campaign[row.campaign]["clicks"] += row.clicks
		if links is None:  # one set per campaign is all the campaign rows need
			visitors.add(row.visitor_set, row.visitors, (row.campaign,))
			continue
		variant = (row.campaign, row.tracked_link, row.variant or "")
		visitors.add(row.visitor_set, row.visitors, variant)
		links[variant[:2]]["clicks"] += row.clicks
		links[variant]["clicks"] += row.clicks
	for name in names:
		by_campaign[name]["unique_visitors"] = visitors.count((name,))
	for key in links or ():
		links[key]["unique_visitors"] = visitors.count(key)


def _add_sessions(by_campaign: dict, links: dict | None, names: list[str], period: Period) -> None:
	"""Sessions a campaign brought: its session touchpoints (imported or tagged ones) and its clicks'
	touchpoints that a landing session adopted (the embed script saw the visitor arrive)."""
	touch = frappe.qb.DocType("Touchpoint")
	query = visible(frappe.qb.from_(touch), "Touchpoint")
	query = (
		query.select(touch.link_campaign, Count(touch.name).as_("sessions"))
		.where(touch.link_campaign.isin(names))
		.where(touch.occurred_at >= period.start)
		.where(touch.occurred_at < period.end)
		.where((touch.touch_type == "session") | touch.session.isnotnull())
		.groupby(touch.link_campaign)
	)
	for row in query.run(as_dict=True):
		by_campaign[row.link_campaign]["sessions"] = row.sessions
	if links is None:
		return
	click = frappe.qb.DocType("Click Event")
	by_variant = (
		query.select(touch.tracked_link, click.variant)
		.left_join(click)
		.on(click.name == touch.click_event)
		.where(touch.tracked_link.isnotnull())
		.groupby(touch.tracked_link, click.variant)
	)
	for row in by_variant.run(as_dict=True):
		links[(row.link_campaign, row.tracked_link)]["sessions"] += row.sessions
		links[(row.link_campaign, row.tracked_link, row.variant or "")]["sessions"] += row.sessions


def _add_spend(by_campaign: dict, names: list[str], period: Period) -> None:
	spend = frappe.qb.DocType("Campaign Spend")
	rows = (
		frappe.qb.from_(spend)
		.select(spend.campaign, Sum(spend.amount).as_("spend"))
		.where(spend.campaign.isin(names))
		.where(spend.date >= period.from_date)
		.where(spend.date <= period.to_date)
		.groupby(spend.campaign)
		.run(as_dict=True)
	)
	for row in rows:
		by_campaign[row.campaign]["spend"] = money(row.spend)


def _ledger_counts(names: list[str], period: Period, model: str, by: str | None) -> list:
	"""Conversions, credited weight and revenue per conversion type, for all `names` together (by=None)
	or per campaign, per (campaign, link) or per (campaign, link, variant) through the credited
	touchpoint's click."""
	credit = frappe.qb.DocType("Attribution Credit")
	query = (
		ledger(credit, period)
		.select(
			credit.conversion_type,
			Count(credit.conversion).distinct().as_("conversions"),
			Sum(credit.weight).as_("credited"),
			Sum(credit.credited_value_company).as_("revenue"),
		)
		.where(credit.attribution_model == model)
		.where(credit.campaign.isin(names))
		.where(credit.converted_at >= period.start)
		.where(credit.converted_at < period.end)
		.where(credit.conversion_type.isin(FUNNEL_TYPES))
		.groupby(credit.conversion_type)
	)
	if by:
		query = query.select(credit.campaign).groupby(credit.campaign)
	if by in ("link", "variant"):
		touch = frappe.qb.DocType("Touchpoint")
		query = (
			query.join(touch)
			.on(touch.name == credit.touchpoint)
			.select(touch.tracked_link)
			.where(touch.tracked_link.isnotnull())
			.groupby(touch.tracked_link)
		)
	if by == "variant":
		click = frappe.qb.DocType("Click Event")
		query = (
			query.left_join(click)
			.on(click.name == touch.click_event)
			.select(click.variant)
			.groupby(click.variant)
		)
	return query.run(as_dict=True)


def _add_ledger_row(figures: dict, row, money_too: bool = True) -> None:
	if row.conversion_type == "lead_created":
		figures["leads"] = row.conversions
		if money_too:
			figures["attributed_leads"] = float(row.credited or 0)
	elif row.conversion_type == "deal_created":
		figures["deals_created"] = row.conversions
	else:
		figures["deals_won"] = row.conversions
		if money_too:
			figures["attributed_won"] = float(row.credited or 0)
			figures["revenue"] = money(row.revenue)


# --- Channel Attribution Comparison ----------------------------------------------------------------


def comparison_models() -> list[dict]:
	"""Active models, the default first, with whether each is data-driven and its sufficiency."""
	default = get_settings().default_attribution_model
	models = frappe.get_all(
		"Attribution Model",
		filters={"active": 1},
		fields=["name", "engine_model", "sufficient", "sufficiency", "fitted_at", "journeys_used"],
		order_by="name asc",
	)
	for model in models:
		try:
			model["data_driven"] = get_model(model.engine_model).data_driven
		except Exception:  # a custom engine name the registry does not know: treat as a rule
			model["data_driven"] = False
		model["is_default"] = model.name == default
	return sorted(models, key=lambda m: (not m["is_default"], m["data_driven"], m["name"]))


def channel_model_table(
	period: Period | None,
	conversion_type: str | None,
	group_by: str = "channel",
	scope: dict | None = None,
) -> dict:
	"""{"models": [...], "rows": [{"key", "<model>": (credited conversions, revenue)}], "totals": {...}}.

	Credited conversions are the sum of the model's weights (a conversion split over three channels
	counts a third to each); revenue is the sum of credited_value_company, so each model's column sums
	to the value of the conversions it credited. `scope` narrows to {"campaign": ...} or {"crm_deal": ...}.
	"""
	column = "campaign" if group_by == "campaign" else "channel"
	credit = frappe.qb.DocType("Attribution Credit")
	query = (
		ledger(credit, period)
		.select(
			credit[column].as_("key"),
			credit.attribution_model,
			Sum(credit.weight).as_("credited"),
			Sum(credit.credited_value_company).as_("revenue"),
		)
		.groupby(credit[column], credit.attribution_model)
	)
	if period:
		query = query.where(credit.converted_at >= period.start).where(credit.converted_at < period.end)
	if conversion_type:
		query = query.where(credit.conversion_type == conversion_type)
	for field, value in (scope or {}).items():
		query = query.where(credit[field] == value)
	models = comparison_models()
	table: dict[str, dict] = defaultdict(dict)
	totals = {m.name: [0.0, Decimal(0)] for m in models}
	for row in query.run(as_dict=True):
		if row.attribution_model not in totals:
			continue  # an inactive model's old rows
		credited, revenue = float(row.credited or 0), money(row.revenue)
		table[row.key or stats.NO_CHANNEL][row.attribution_model] = (credited, revenue)
		totals[row.attribution_model][0] += credited
		totals[row.attribution_model][1] += revenue
	first = next((m.name for m in models if m["is_default"]), models[0].name if models else None)
	keys = sorted(table, key=lambda k: (-(table[k].get(first, (0, Decimal(0)))[1]), k))
	rows = [{"key": key, **table[key]} for key in keys]
	return {"models": models, "rows": rows, "totals": {k: tuple(v) for k, v in totals.items()}}


def sufficiency_notes(models: list[dict]) -> list[str]:
	"""One line per data-driven model: fitted or not, and its sufficiency verdict."""
	notes = []
	for model in models:
		if not model["data_driven"]:
			continue
		if not model.fitted_at:
			verdict = _("not fitted yet: it gives no credit until the daily fit runs")
		elif model.sufficient:
			verdict = _("enough data ({0} journeys)").format(model.journeys_used or 0)
		else:
			verdict = _sufficiency_message(model.sufficiency) or _("not enough data")
		notes.append(f"{model.name}: {verdict}")
	return notes


def _sufficiency_message(sufficiency: str | None) -> str | None:
	"""The fit's verdict message (the field holds the engine's JSON verdict, or plain text)."""
	try:
		verdict = json.loads(sufficiency or "")
	except ValueError:
		return sufficiency
	return verdict.get("message") if isinstance(verdict, dict) else sufficiency


# --- Conversion Paths ------------------------------------------------------------------------------


def conversion_paths(
	period: Period | None,
	conversion_type: str = "deal_won",
	collapse: bool = True,
	limit: int = 20,
	scope: dict | None = None,
) -> dict:
	"""Top channel paths of the conversions in the period, with lost deals as the non-converting paths.

	A conversion's path is every touchpoint the ledger holds for it under any model (the union: the
	models share one journey within the longest lookback), ordered by touch time. Non-converting
	journeys (only for deal_won) are lost deals last modified in the period: the touchpoints of the
	deal, its lead and the lead's visitors up to that time, within the default lookback.
	"""
	credit = frappe.qb.DocType("Attribution Credit")
	query = (
		ledger(credit, period)
		.select(credit.conversion, credit.touchpoint, credit.touched_at, credit.channel, credit.converted_at)
		.distinct()
		.where(credit.conversion_type == conversion_type)
	)
	if period:
		query = query.where(credit.converted_at >= period.start).where(credit.converted_at < period.end)
	for field, value in (scope or {}).items():  # whole journeys of the conversions the scope touched
		scoped = frappe.qb.DocType("Attribution Credit").as_("scoped")
		query = query.where(
			credit.conversion.isin(
				frappe.qb.from_(scoped).select(scoped.conversion).distinct().where(scoped[field] == value)
			)
		)
	journeys: dict[str, list] = defaultdict(list)
	converted_at: dict[str, datetime] = {}
	for row in query.run(as_dict=True):
		journeys[row.conversion].append((get_datetime(row.touched_at), row.touchpoint, row.channel))
		converted_at[row.conversion] = get_datetime(row.converted_at)
	inputs = []
	for conversion, touches in journeys.items():
		touches.sort()
		channels = _path([t[2] for t in touches], collapse)
		days = (converted_at[conversion] - touches[0][0]).total_seconds() / 86400
		inputs.append((channels, True, len(touches), days))
	lost = _lost_journeys(period, collapse) if conversion_type == "deal_won" and not scope else []
	inputs += [(channels, False, 0, None) for channels in lost]
	paths = stats.top_paths(inputs, limit=limit)
	touches = [journey[2] for journey in inputs if journey[1]]
	days = [journey[3] for journey in inputs if journey[1]]
	return {
		"paths": paths,
		"conversions": len(journeys),
		"non_conversions": len(lost),
		"avg_touches": sum(touches) / len(touches) if touches else None,
		"avg_days": sum(days) / len(days) if days else None,
		"median_days": stats.median(days),
	}


def _path(channels: list[str | None], collapse: bool) -> list[str]:
	path = []
	for channel in channels:
		channel = channel or "other"
		if not (collapse and path and path[-1] == channel):
			path.append(channel)
	return path


def _lost_journeys(period: Period | None, collapse: bool) -> list[list[str]]:
	"""Lost deals' journeys (the same journeys the model fits count), at most MAX_LOST_DEALS of the newest."""
	if not frappe.has_permission("CRM Deal", "read"):
		return []  # a role CRM does not let read deals sees no lost journeys (get_list would raise)
	found = lost_deal_journeys(
		period.start if period else None, period.end if period else None, MAX_LOST_DEALS, as_user=True
	)
	return [_path(list(journey.channels), collapse) for journey in found]


# --- Link A/B Results ------------------------------------------------------------------------------


def ab_results(period: Period, link: str | None = None, conversion_type: str = "lead_created") -> list[dict]:
	"""Per link with variants, per variant: unique visitors, clicks, conversions, rate, z-test against
	the first variant and the probability to be best.

	A conversion counts for a variant when the ledger (any model) credits it to a touchpoint that came
	from a click on that variant (Touchpoint.click_event -> Click Event.variant); trials are the
	variant's unique visitors (non-bot clicks in the period).
	"""
	filters = {"name": link} if link else {}
	links = frappe.get_list("Tracked Link", filters=filters, fields=["name", "title"], limit_page_length=0)
	variant = frappe.qb.DocType("Tracked Link Variant")
	names = [row.name for row in links]
	if not names:
		return []
	variants = (
		frappe.qb.from_(variant)
		.select(variant.parent, variant.label, variant.idx)
		.where(variant.parenttype == "Tracked Link")
		.where(variant.parent.isin(names))
		.orderby(variant.parent)
		.orderby(variant.idx)
		.run(as_dict=True)
	)
	if not variants:
		return []
	with_variants = sorted({v.parent for v in variants})
	click = frappe.qb.DocType("Click Event")
	clicks = {
		(r.tracked_link, r.variant): r
		for r in frappe.qb.from_(click)
		.select(
			click.tracked_link,
			click.variant,
			Count(click.name).as_("clicks"),
			Count(click.visitor_id).distinct().as_("visitors"),
		)
		.where(click.tracked_link.isin(with_variants))
		.where(click.clicked_at >= period.start)
		.where(click.clicked_at < period.end)
		.where(click.is_bot == 0)
		.groupby(click.tracked_link, click.variant)
		.run(as_dict=True)
	}
	credit = frappe.qb.DocType("Attribution Credit")
	touch = frappe.qb.DocType("Touchpoint")
	conversions = {
		(r.tracked_link, r.variant): r.conversions
		for r in ledger(credit, period)
		.join(touch)
		.on(touch.name == credit.touchpoint)
		.join(click)
		.on(click.name == touch.click_event)
		.select(click.tracked_link, click.variant, Count(credit.conversion).distinct().as_("conversions"))
		.where(click.tracked_link.isin(with_variants))
		.where(credit.conversion_type == conversion_type)
		.where(credit.converted_at >= period.start)
		.where(credit.converted_at < period.end)
		.groupby(click.tracked_link, click.variant)
		.run(as_dict=True)
	}
	titles = {row.name: row.title for row in links}
	out = []
	for name in with_variants:
		arms = []
		for v in (v for v in variants if v.parent == name):
			counted = clicks.get((name, v.label))
			visitors = counted.visitors if counted else 0
			converted = min(conversions.get((name, v.label), 0), visitors)  # a journey of a lost visitor id
			arms.append(
				{
					"link": name,
					"title": titles.get(name),
					"variant": v.label,
					"clicks": counted.clicks if counted else 0,
					"visitors": visitors,
					"conversions": converted,
					"rate": converted / visitors if visitors else None,
				}
			)
		best = stats.probability_to_be_best([(a["conversions"], a["visitors"]) for a in arms])
		control = arms[0]
		for arm, probability in zip(arms, best, strict=True):
			arm["probability_best"] = probability
			if arm is control:
				arm.update(p_value=None, difference=None, enough_data=None, control=True)
				continue
			test = stats.two_proportion_z_test(
				control["conversions"], control["visitors"], arm["conversions"], arm["visitors"]
			)
			arm.update(
				p_value=test.p_value, difference=test.difference, enough_data=test.enough_data, control=False
			)
		out.extend(arms)
	return out


def company_currency(period: Period | None = None, scope: dict | None = None) -> str:
	"""The currency the ledger's credited_value_company is stored in: Attribution Credit.company_currency
	of the newest credit (in the period and scope when given). The site's default currency only when
	there is no credit: a default changed later must not relabel money stored in the old one."""
	credit = frappe.qb.DocType("Attribution Credit")
	query = (
		frappe.qb.from_(credit)
		.select(credit.company_currency)
		.where(credit.company_currency.isnotnull())
		.where(credit.company_currency != "")
		.orderby(credit.converted_at, order=frappe.qb.desc)
		.limit(1)
	)
	if period:
		query = query.where(credit.converted_at >= period.start).where(credit.converted_at < period.end)
	for field, value in (scope or {}).items():
		query = query.where(credit[field] == value)
	found = query.run()
	if found:
		return found[0][0]
	if period or scope:  # nothing credited there: the ledger's currency overall
		return company_currency()
	return frappe.db.get_default("currency") or "USD"


def channel_activity(period: Period) -> dict[tuple[str, object], int]:
	"""{(channel, day): touchpoints} in the period (Touchpoint.occurred_at is indexed)."""
	touch = frappe.qb.DocType("Touchpoint")
	day = Date(touch.occurred_at)
	rows = (
		visible(frappe.qb.from_(touch), "Touchpoint")
		.select(touch.channel, day.as_("day"), Count(touch.name).as_("touches"))
		.where(touch.occurred_at >= period.start)
		.where(touch.occurred_at < period.end)
		.groupby(touch.channel, day)
		.run(as_dict=True)
	)
	return {(row.channel or "other", getdate(row.day)): row.touches for row in rows}
