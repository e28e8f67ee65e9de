"""Scheduled upkeep on the site: exact counters, link expiry, lead scores and their decay, retention purges
and visitor erasure. The rules are the engine's (scoring, retention); this module reads and writes rows."""

import hashlib
import time
from datetime import timedelta
from zoneinfo import ZoneInfo

import frappe
from frappe.query_builder.functions import Count, Max
from frappe.utils import get_datetime, get_system_timezone, now_datetime
from pypika.terms import Case, ExistsCriterion, Values

from trackflow.engine import retention, scoring
from trackflow.trackflow.doctype.trackflow_settings.trackflow_settings import get_settings
from trackflow.web.redirect import invalidate_link

SCORE_CHUNK = 1000


# --- counters and links ------------------------------------------------------------------------------


def refresh_counters() -> int:
	"""Hourly: recount every link's and campaign's clicks from Click Event (the drain only increments)."""
	click = frappe.qb.DocType("Click Event")
	rows = (
		frappe.qb.from_(click)
		.select(
			click.tracked_link,
			click.campaign,
			Count(Case().when(click.is_bot == 0, 1)).as_("clicks"),
			Count(Case().when(click.is_bot == 1, 1)).as_("bots"),
			Max(click.clicked_at).as_("last"),
		)
		.groupby(click.tracked_link, click.campaign)
		.run(as_dict=True)
	)
	uniques = dict(
		frappe.qb.from_(click)
		.select(click.tracked_link, Count(click.visitor_id).distinct())
		.where((click.is_bot == 0) & click.visitor_id.isnotnull())
		.groupby(click.tracked_link)
		.run()
	)
	campaign_uniques = dict(
		frappe.qb.from_(click)
		.select(click.campaign, Count(click.visitor_id).distinct())
		.where((click.is_bot == 0) & click.visitor_id.isnotnull() & click.campaign.isnotnull())
		.groupby(click.campaign)
		.run()
	)
	links: dict[str, dict] = {}
	campaigns: dict[str, dict] = {}
	for row in rows:
		for key, target in ((row.tracked_link, links), (row.campaign, campaigns)):
			if not key:
				continue
			total = target.setdefault(key, {"total_clicks": 0, "bot_clicks": 0, "last_click_at": None})
			total["total_clicks"] += row.clicks
			total["bot_clicks"] += row.bots
			total["last_click_at"] = max(filter(None, (total["last_click_at"], row.last)), default=None)
	for name, values in links.items():
		values["unique_visitors"] = uniques.get(name, 0)
		frappe.db.set_value("Tracked Link", name, values, update_modified=False)
	for name, values in campaigns.items():
		values["unique_visitors"] = campaign_uniques.get(name, 0)
		frappe.db.set_value("Link Campaign", name, values, update_modified=False)
	return len(links)


def expire_links() -> list[str]:
	"""Daily: links past their expiry date become Expired (their fallback still answers)."""
	expired = frappe.get_all(
		"Tracked Link", filters={"status": "Active", "expires_at": ("<", now_datetime())}, pluck="name"
	)
	for name in expired:
		frappe.db.set_value("Tracked Link", name, "status", "Expired")
		invalidate_link(name)
	return expired


# --- lead scores ---------------------------------------------------------------------------------------


def scoring_settings() -> tuple[float, float, float]:
	settings = get_settings()
	return (
		settings.score_half_life_days or scoring.DEFAULT_HALF_LIFE_DAYS,
		settings.hot_threshold or scoring.DEFAULT_HOT,
		settings.warm_threshold or scoring.DEFAULT_WARM,
	)


def active_rules() -> list[scoring.ScoringRule]:
	rows = frappe.get_all("Lead Scoring Rule", filters={"active": 1}, fields=list(scoring.RULE_FIELDS))
	return [scoring.rule_from_row(row) for row in rows]


def lead_activities(lead: str, tz: ZoneInfo) -> list[scoring.Activity]:
	"""Everything a lead did that rules can score: its visitors' page views, events and forms, its touches,
	conversions, calls logged in CRM and emails it sent."""

	def aware(value):
		return get_datetime(value).replace(tzinfo=tz)

	activities = []
	visitors = frappe.get_all("TrackFlow Visitor", {"crm_lead": lead}, pluck="name")
	if visitors:
		kinds = {"pageview": "page_view", "event": "event", "form": "form_submit"}
		for row in frappe.get_all(
			"TrackFlow Event",
			filters={"visitor": ("in", visitors), "event_type": ("in", list(kinds))},
			fields=["event_type", "event_name", "url", "occurred_at"],
		):
			activities.append(
				scoring.Activity(
					kinds[row.event_type], aware(row.occurred_at), name=row.event_name, path=row.url
				)
			)
	touch_filters = [["visitor", "in", visitors]] if visitors else []
	for row in frappe.get_all(
		"Touchpoint",
		or_filters=[*touch_filters, ["crm_lead", "=", lead]],
		fields=["occurred_at", "channel", "link_campaign"],
	):
		activities.append(
			scoring.Activity("touch", aware(row.occurred_at), campaign=row.link_campaign, channel=row.channel)
		)
	for row in frappe.get_all(
		"Conversion",
		filters={"crm_lead": lead, "status": ("!=", "void")},
		fields=["conversion_type", "occurred_at"],
	):
		activities.append(
			scoring.Activity("conversion", aware(row.occurred_at), conversion_type=row.conversion_type)
		)
	if frappe.db.exists("DocType", "CRM Call Log"):
		for when in frappe.get_all("CRM Call Log", filters={"reference_docname": lead}, pluck="creation"):
			activities.append(scoring.Activity("call", aware(when)))
	for when in frappe.get_all(
		"Communication",
		filters={"reference_doctype": "CRM Lead", "reference_name": lead, "sent_or_received": "Received"},
		pluck="creation",
	):
		activities.append(scoring.Activity("email_reply", aware(when)))
	return activities


def rescore_lead(lead: str) -> float:
	"""Score one lead from all its activity and write the score, grade, temperature, trend and history."""
	tz = ZoneInfo(get_system_timezone())
	half_life, hot, warm = scoring_settings()
	now = now_datetime().replace(tzinfo=tz)
	activities = lead_activities(lead, tz)
	result = scoring.score(activities, active_rules(), now, half_life_days=half_life)
	update = scoring.ScoreUpdate(
		lead,
		result.activity_score,
		now,
		result.score,
		scoring.grade(result.score),
		scoring.temperature(result.score, hot, warm),
	)
	write_scores([update], last_activity={lead: result.last_activity_at})
	return result.score


def enqueue_rescore(lead: str) -> None:
	"""New activity: rescore after the transaction, at most one pending job per lead (debounced)."""
	frappe.enqueue(
		"trackflow.maintenance.rescore_lead",
		queue="default",
		job_id=f"trackflow-score-{lead}",
		deduplicate=True,
		enqueue_after_commit=True,
		lead=lead,
	)


def decay_scores() -> dict:
	"""Daily: let every scored lead's score decay; write only leads whose shown values change, in bulk."""
	tz = ZoneInfo(get_system_timezone())
	half_life, hot, warm = scoring_settings()
	now = now_datetime().replace(tzinfo=tz)
	lead = frappe.qb.DocType("CRM Lead")
	rows = (
		frappe.qb.from_(lead)
		.select(
			lead.name,
			lead.tf_activity_score,
			lead.tf_scored_at,
			lead.tf_engagement_score,
			lead.tf_engagement_grade,
			lead.tf_temperature,
		)
		.where(lead.tf_scored_at.isnotnull())
		.run(as_dict=True)
	)
	score_rows = [
		scoring.ScoreRow(
			r.name,
			r.tf_activity_score or 0.0,
			get_datetime(r.tf_scored_at).replace(tzinfo=tz),
			score=r.tf_engagement_score,
			grade=r.tf_engagement_grade,
			temperature=r.tf_temperature,
		)
		for r in rows
	]
	updates = scoring.changed_scores(score_rows, now, half_life, hot=hot, warm=warm)
	started = time.monotonic()
	statements = write_scores(updates)
	return {
		"leads": len(rows),
		"changed": len(updates),
		"statements": statements,
		"seconds": time.monotonic() - started,
	}


def write_scores(updates: list, last_activity: dict | None = None) -> int:
	"""Write score fields with one CASE UPDATE per chunk of leads, then today's history rows in bulk.
	Returns the number of statements issued."""
	if not updates:
		return 0
	lead = frappe.qb.DocType("CRM Lead")
	statements = 0
	today = now_datetime().date()
	for start in range(0, len(updates), SCORE_CHUNK):
		chunk = updates[start : start + SCORE_CHUNK]
		query = frappe.qb.update(lead)
		for field, attr in (
			("tf_engagement_score", "score"),
			("tf_engagement_grade", "grade"),
			("tf_temperature", "temperature"),
			("tf_activity_score", "activity_score"),
			("tf_scored_at", "scored_at"),
		):
			case = Case()
			for u in chunk:
				value = getattr(u, attr)
				case = case.when(
					lead.name == u.lead, value.replace(tzinfo=None) if attr == "scored_at" else value
				)
			query = query.set(lead[field], case.else_(lead[field]))
		if last_activity:
			case = Case()
			for u in chunk:
				when = last_activity.get(u.lead)
				case = case.when(lead.name == u.lead, when.replace(tzinfo=None) if when else None)
			query = query.set(lead.tf_last_activity_at, case.else_(lead.tf_last_activity_at))
		query.where(lead.name.isin([u.lead for u in chunk])).run()
		statements += 1
		history = frappe.qb.DocType("Lead Score History")
		insert = frappe.qb.into(history).columns(
			history.name,
			history.creation,
			history.modified,
			history.owner,
			history.crm_lead,
			history.day,
			history.score,
		)
		now = now_datetime()
		for u in chunk:
			name = hashlib.sha256(f"{u.lead}|{today}".encode()).hexdigest()[:20]
			insert = insert.insert(name, now, now, "Administrator", u.lead, today, u.score)
		insert.on_duplicate_key_update(history.score, Values(history.score)).run()
		statements += 1
		statements += _write_trends([u.lead for u in chunk], today)
	return statements


def _write_trends(leads: list[str], today) -> int:
	history = frappe.qb.DocType("Lead Score History")
	rows = (
		frappe.qb.from_(history)
		.select(history.crm_lead, history.day, history.score)
		.where(history.crm_lead.isin(leads) & (history.day >= today - timedelta(days=40)))
		.orderby(history.day)
		.run()
	)
	by_lead: dict[str, list] = {}
	for lead_name, day, value in rows:
		by_lead.setdefault(lead_name, []).append((day, value))
	lead = frappe.qb.DocType("CRM Lead")
	case = Case()
	for name in leads:
		case = case.when(lead.name == name, scoring.trend(by_lead.get(name, []), today))
	frappe.qb.update(lead).set(lead.tf_engagement_trend, case.else_(lead.tf_engagement_trend)).where(
		lead.name.isin(leads)
	).run()
	return 2


# --- retention and erasure ----------------------------------------------------------------------------


def purge(dry_run: bool = False, progress=None) -> dict:
	"""Daily: delete raw tracking rows older than their retention, in small committed batches by indexed
	creation time. Touchpoints the ledger references are kept; the ledger and conversions never go."""
	settings = get_settings()
	plan = retention.plan_purge(retention.retention_days(settings.as_dict()), now_datetime())
	report = {"kept_forever": list(plan.kept_forever), "tables": {}, "max_batch_seconds": 0.0}
	credit = frappe.qb.DocType("Attribution Credit")
	for step in plan.steps:
		table = frappe.qb.DocType(step.doctype)
		condition = table[step.time_field] < step.cutoff
		if step.table == "touchpoints":
			referenced = (
				frappe.qb.from_(credit).select(credit.touchpoint).where(credit.touchpoint == table.name)
			)
			condition = condition & ~ExistsCriterion(referenced)
		if step.table == "visitors":
			condition = condition & table.crm_lead.isnull() & ~_visitor_referenced(table)
		deleted = 0
		while True:
			names = (
				frappe.qb.from_(table)
				.select(table.name)
				.where(condition)
				.limit(step.batch_size)
				.run(pluck=True)
			)
			if not names or dry_run:
				deleted += len(names)
				break
			started = time.monotonic()
			frappe.qb.from_(table).delete().where(table.name.isin(names)).run()
			frappe.db.commit()
			report["max_batch_seconds"] = max(report["max_batch_seconds"], time.monotonic() - started)
			deleted += len(names)
			if progress:
				progress(step.table, len(names))
			if len(names) < step.batch_size:
				break
		report["tables"][step.table] = deleted
	if not dry_run:
		frappe.logger("trackflow").info(f"TrackFlow purge: {report}")
	return report


def _visitor_referenced(visitor):
	"""SQL: some kept row still names this visitor (so it is not stale yet)."""
	condition = None
	for doctype, field in (
		("TrackFlow Session", "visitor"),
		("TrackFlow Event", "visitor"),
		("Touchpoint", "visitor"),
		("Click Event", "visitor_id"),
		("Conversion", "visitor"),
	):
		table = frappe.qb.DocType(doctype)
		exists = ExistsCriterion(
			frappe.qb.from_(table).select(table.name).where(table[field] == visitor.name)
		)
		condition = exists if condition is None else condition | exists
	return condition


def erase_visitor_data(visitor: str) -> dict:
	"""Erase a visitor and everything identifying about them. Events, sessions and touchpoints no credit
	needs are deleted; kept rows (ledger touchpoints, clicks, conversions) lose their identifying fields,
	so counts and money stay whole."""

	def names(doctype: str, field: str = "visitor") -> list[str]:
		return frappe.get_all(doctype, filters={field: visitor}, pluck="name")

	touchpoints = names("Touchpoint")
	referenced = (
		frappe.get_all("Attribution Credit", filters={"touchpoint": ("in", touchpoints)}, pluck="touchpoint")
		if touchpoints
		else []
	)
	plan = retention.erase_plan(
		visitor,
		sessions=names("TrackFlow Session"),
		events=names("TrackFlow Event"),
		touchpoints=touchpoints,
		clicks=names("Click Event", "visitor_id"),
		conversions=names("Conversion"),
		referenced_touchpoints=referenced,
	)
	counts = {}
	for key, ids in plan.delete.items():
		if ids:
			doctype = retention.TABLE_DOCTYPES[key]
			frappe.db.delete(doctype, {"name": ("in", list(ids))})
			counts[key] = len(ids)
	for step in plan.anonymise:
		if step.ids:
			frappe.db.set_value(
				step.doctype,
				{"name": ("in", list(step.ids))},
				dict.fromkeys(step.fields),
				update_modified=False,
			)
			counts[f"{step.table} anonymised"] = len(step.ids)
	return counts
