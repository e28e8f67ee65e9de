"""Lead scoring on the site: a lead's activity read from TrackFlow and CRM, scored by the engine's rules
(engine.scoring: points, exact decay, grade, temperature, trend), written to the CRM Lead's tf_* fields
with one history row per day; rescoring on new activity (debounced) and the daily decay."""

import hashlib
import time
from datetime import timedelta
from zoneinfo import ZoneInfo

import frappe
from frappe.utils import get_datetime, now_datetime

from trackflow.bulk import INSERT_CHUNK, UPDATE_CHUNK, insert_rows, update_by_name
from trackflow.engine import scoring
from trackflow.engine.privacy import person_consent
from trackflow.settings import get_settings
from trackflow.times import site_tz


def scoring_settings() -> tuple[float, float, float]:
	settings = get_settings()
	return settings.score_half_life_days, settings.hot_threshold, settings.warm_threshold


def active_rules() -> list[scoring.ScoringRule]:
	rows = frappe.get_all("Lead Scoring Rule", filters={"active": 1}, fields=list(scoring.RULE_FIELDS))
	return [scoring.rule_from_row(row) for row in rows]


def lead_activities(lead: str, tz: ZoneInfo) -> list[scoring.Activity]:
	"""Everything a lead did that rules can score: its visitors' page views, events and forms and its touches
	(unless the person denied consent in any browser), conversions, calls logged in CRM and emails it sent."""

	def aware(value):
		return get_datetime(value).replace(tzinfo=tz)

	activities = []
	rows = frappe.get_all("TrackFlow Visitor", {"crm_lead": lead}, ["name", "consent"])
	# A person who denied tracking in any of their browsers is scored on CRM activity alone.
	visitors = [] if person_consent(row.consent for row in rows) == "denied" else [row.name for row in rows]
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
	tz = site_tz()
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
		"trackflow.scoring.rescore_lead",
		queue="default",
		job_id=f"trackflow-score-{lead}",
		deduplicate=True,
		enqueue_after_commit=True,
		lead=lead,
	)


def decay_scores() -> dict:
	"""Daily: let every scored lead's score decay; write only leads whose shown values change, in bulk."""
	tz = site_tz()
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
	"""Write score fields with one CASE UPDATE per chunk of leads, today's history rows in bulk, and the
	trends. Returns the number of statements issued (reads included)."""
	if not updates:
		return 0
	today = now_datetime().date()
	fields = {
		"tf_engagement_score": {u.lead: u.score for u in updates},
		"tf_engagement_grade": {u.lead: u.grade for u in updates},
		"tf_temperature": {u.lead: u.temperature for u in updates},
		"tf_activity_score": {u.lead: u.activity_score for u in updates},
		"tf_scored_at": {u.lead: u.scored_at.replace(tzinfo=None) for u in updates},
	}
	if last_activity:
		fields["tf_last_activity_at"] = {
			u.lead: last_activity[u.lead].replace(tzinfo=None) if last_activity.get(u.lead) else None
			for u in updates
		}
	update_by_name("CRM Lead", fields)
	now = now_datetime()
	history = [
		[
			hashlib.sha256(f"{u.lead}|{today}".encode()).hexdigest()[:20],
			now,
			now,
			"Administrator",
			u.lead,
			today,
			u.score,
		]
		for u in updates
	]
	insert_rows(
		"Lead Score History",
		["name", "creation", "modified", "owner", "crm_lead", "day", "score"],
		history,
		on_duplicate="`score` = VALUES(`score`), `modified` = VALUES(`modified`)",
	)
	trends = _trends([u.lead for u in updates], today)
	update_by_name("CRM Lead", {"tf_engagement_trend": trends})
	# score UPDATEs and trend UPDATEs per UPDATE_CHUNK; history upserts and history reads per INSERT_CHUNK
	return 2 * -(-len(updates) // UPDATE_CHUNK) + 2 * -(-len(updates) // INSERT_CHUNK)


def _trends(leads: list[str], today) -> dict[str, str]:
	"""increasing / stable / declining for each lead, from its last 28 days of history (engine rule)."""
	by_lead: dict[str, list] = {name: [] for name in leads}
	for start in range(0, len(leads), INSERT_CHUNK):
		chunk = leads[start : start + INSERT_CHUNK]
		for lead, day, value in frappe.db.sql(
			f"""SELECT `crm_lead`, `day`, `score` FROM `tabLead Score History`
			WHERE `crm_lead` IN ({", ".join(["%s"] * len(chunk))}) AND `day` >= %s ORDER BY `day`""",
			[*chunk, today - timedelta(days=40)],
		):
			by_lead[lead].append((day, value))
	return {lead: scoring.trend(rows, today) for lead, rows in by_lead.items()}
