"""Lead scoring on the site: a lead's fields, activity (TrackFlow and CRM) and manual adjustments, scored by the
engine (engine.scoring_lead: fit, engagement, intent, weighted into the total with grade and temperature;
engine.scoring_health: churn risk), written to the CRM Lead's tf_* fields with one history row per day.

When scores change: a lead is rescored on new activity and when its own fields change (debounced jobs), at
once when a salesperson adjusts it, and by the daily job, which decays engagement without reading activity,
rescores the leads whose intent leaves its window, refreshes churn risk and keeps the activity summaries."""

import hashlib
import json
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import frappe
from frappe.utils import get_datetime, now_datetime

from trackflow.bulk import INSERT_CHUNK, UPDATE_CHUNK, insert_rows, update_by_name
from trackflow.engine import scoring, scoring_health, scoring_lead, scoring_summary
from trackflow.engine.privacy import person_consent
from trackflow.engine.scoring_lead import ALL_RULE_FIELDS, Adjustment, LeadScore, RuleSet, Weights
from trackflow.engine.settings import SCORE_WEIGHT_FIELDS
from trackflow.error_log import log_failure
from trackflow.settings import get_settings
from trackflow.times import site_tz

CHUNK = 500  # leads per IN (...) list when reading activity for many leads
STAGE_MEDIANS_KEY = "trackflow:stage-median-days"
STAGE_MEDIANS_SECONDS = 6 * 3600
CHURN_MIN_CHANGE = 0.005  # churn risk is shown to 2 places
# The CRM Lead fields a lead's score is written to (besides tf_scored_at, tf_last_activity_at and the trend).
TOTAL, GRADE, TEMPERATURE = "tf_engagement_score", "tf_engagement_grade", "tf_temperature"
COMPONENT_FIELDS = {
	"fit": "tf_fit_score",
	"engagement": "tf_engagement_component",
	"intent": "tf_intent_score",
}
SUMMARY_PERIODS = scoring_summary.PERIODS
# Scores are written in bulk (no document events): a lead that turns hot gets this method run on it, so a
# Frappe Notification (Event "Method", Method "on_trackflow_hot"), a webhook or a server script can act.
HOT_EVENT = "on_trackflow_hot"


@dataclass(frozen=True)
class ScoringSetup:
	"""What every score on the site is computed with: the active rules and TrackFlow Settings' values."""

	rules: RuleSet
	weights: Weights
	half_life_days: float
	hot: float
	warm: float

	@property
	def fit_fields(self) -> tuple[str, ...]:
		return tuple(dict.fromkeys(rule.field for rule in self.rules.fit))


def scoring_setup() -> ScoringSetup:
	settings = get_settings()
	return ScoringSetup(
		active_rules(),
		Weights.from_settings({field: settings.get(field) for field in SCORE_WEIGHT_FIELDS}),
		settings.score_half_life_days,
		settings.hot_threshold,
		settings.warm_threshold,
	)


def active_rules() -> RuleSet:
	"""The active Lead Scoring Rules of every type (activity, intent, fit) as the engine's RuleSet."""
	rows = frappe.get_all("Lead Scoring Rule", filters={"active": 1}, fields=list(ALL_RULE_FIELDS))
	return scoring_lead.rules_from_rows(rows)


def fit_rule_fields() -> tuple[str, ...]:
	"""The CRM Lead fields active fit rules read (a change to one of them rescores the lead)."""
	return tuple(
		frappe.get_all(
			"Lead Scoring Rule", filters={"active": 1, "rule_type": "fit"}, pluck="lead_field", distinct=True
		)
	)


# ---- reading a lead's inputs ----------------------------------------------------------------------


def lead_activities(lead: str, tz: ZoneInfo) -> list[scoring.Activity]:
	"""Everything a lead did that rules can score (see activities_of)."""
	return activities_of([lead], tz)[lead]


def activities_of(leads: list[str], tz: ZoneInfo) -> dict[str, list[scoring.Activity]]:
	"""Everything each lead did that rules can score, a few queries per CHUNK leads: its visitors' page
	views, events and forms and its touches (unless the person denied consent in any browser), conversions,
	calls logged in CRM and emails it sent."""
	by_lead: dict[str, list[scoring.Activity]] = {lead: [] for lead in leads}
	for start in range(0, len(leads), CHUNK):
		_add_activities(by_lead, leads[start : start + CHUNK], tz)
	return by_lead


def _add_activities(by_lead: dict, leads: list[str], tz: ZoneInfo) -> None:
	def aware(value):
		return get_datetime(value).replace(tzinfo=tz)

	consents: dict[str, list] = defaultdict(list)
	visitor_rows = frappe.get_all(
		"TrackFlow Visitor", {"crm_lead": ("in", leads)}, ["name", "consent", "crm_lead"]
	)
	for row in visitor_rows:
		consents[row.crm_lead].append(row.consent)
	# A person who denied tracking in any of their browsers is scored on CRM activity alone.
	lead_of_visitor = {
		row.name: row.crm_lead for row in visitor_rows if person_consent(consents[row.crm_lead]) != "denied"
	}
	visitors = list(lead_of_visitor)
	if visitors:
		kinds = {"pageview": "page_view", "event": "event", "form": "form_submit"}
		for row in frappe.get_all(
			"TrackFlow Event",
			filters={"visitor": ("in", visitors), "event_type": ("in", list(kinds))},
			fields=["visitor", "event_type", "event_name", "url", "occurred_at"],
		):
			by_lead[lead_of_visitor[row.visitor]].append(
				scoring.Activity(
					kinds[row.event_type], aware(row.occurred_at), name=row.event_name, path=row.url
				)
			)
	touch_filters = [["visitor", "in", visitors]] if visitors else []
	for row in frappe.get_all(
		"Touchpoint",
		or_filters=[*touch_filters, ["crm_lead", "in", leads]],
		fields=["visitor", "crm_lead", "occurred_at", "channel", "link_campaign"],
	):
		owners = {row.crm_lead, lead_of_visitor.get(row.visitor)} & by_lead.keys()
		for lead in owners:
			by_lead[lead].append(
				scoring.Activity(
					"touch", aware(row.occurred_at), campaign=row.link_campaign, channel=row.channel
				)
			)
	for row in frappe.get_all(
		"Conversion",
		filters={"crm_lead": ("in", leads), "status": ("!=", "void")},
		fields=["crm_lead", "conversion_type", "occurred_at"],
	):
		by_lead[row.crm_lead].append(
			scoring.Activity("conversion", aware(row.occurred_at), conversion_type=row.conversion_type)
		)
	if frappe.db.exists("DocType", "CRM Call Log"):
		for row in frappe.get_all(
			"CRM Call Log",
			filters={"reference_docname": ("in", leads)},
			fields=["reference_docname", "creation"],
		):
			by_lead[row.reference_docname].append(scoring.Activity("call", aware(row.creation)))
	for row in frappe.get_all(
		"Communication",
		filters={
			"reference_doctype": "CRM Lead",
			"reference_name": ("in", leads),
			"sent_or_received": "Received",
		},
		fields=["reference_name", "creation"],
	):
		by_lead[row.reference_name].append(scoring.Activity("email_reply", aware(row.creation)))


def adjustments_of(leads: list[str], tz: ZoneInfo) -> dict[str, list[Adjustment]]:
	"""Each lead's manual score adjustments (Lead Score Adjustment) as the engine's Adjustment."""
	by_lead: dict[str, list[Adjustment]] = {lead: [] for lead in leads}
	for start in range(0, len(leads), CHUNK):
		for row in frappe.get_all(
			"Lead Score Adjustment",
			filters={"crm_lead": ("in", leads[start : start + CHUNK])},
			fields=["name", "crm_lead", "points", "reason", "decays", "owner", "creation"],
			order_by="creation asc",
		):
			by_lead[row.crm_lead].append(
				Adjustment(
					row.points,
					row.reason,
					get_datetime(row.creation).replace(tzinfo=tz),
					decays=bool(row.decays),
					id=row.name,
					by=row.owner,
				)
			)
	return by_lead


def lead_rows(leads: list[str], fields: tuple[str, ...] = ()) -> dict[str, dict]:
	"""The leads' own fields the score and its health read: fit rule fields (those CRM Lead has), status,
	creation."""
	meta = frappe.get_meta("CRM Lead")
	wanted = ["name", "status", "creation", TEMPERATURE, *(f for f in fields if meta.has_field(f))]
	rows = {}
	for start in range(0, len(leads), CHUNK):
		for row in frappe.get_all(
			"CRM Lead",
			filters={"name": ("in", leads[start : start + CHUNK])},
			fields=list(dict.fromkeys(wanted)),
		):
			rows[row.name] = row
	return rows


def stage_median_days() -> dict[str, float]:
	"""{CRM Lead status: median days leads spent in it} from CRM's status change log (stays that ended),
	cached for a few hours (the daily job refreshes it)."""
	cached = frappe.cache.get_value(STAGE_MEDIANS_KEY)
	if cached is not None:
		return cached
	return refresh_stage_medians()


def refresh_stage_medians() -> dict[str, float]:
	log = frappe.qb.DocType("CRM Status Change Log")
	rows = (
		frappe.qb.from_(log)
		.select(log["from"], log.duration)
		.where(log.parenttype == "CRM Lead")
		.where(log.to_date.isnotnull())
		.where(log.duration.isnotnull())
		.run()
	)
	medians = scoring_health.median_stage_days((stage, (seconds or 0) / 86400.0) for stage, seconds in rows)
	frappe.cache.set_value(STAGE_MEDIANS_KEY, medians, expires_in_sec=STAGE_MEDIANS_SECONDS)
	return medians


# ---- scoring ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scored:
	"""A lead scored from all its inputs, with the health figures written beside the score."""

	lead: str
	score: LeadScore
	churn: scoring_health.ChurnRisk
	activity_times: tuple[datetime, ...]
	temperature_before: str | None = None


def score_leads(
	leads: list[str], setup: ScoringSetup | None = None, now: datetime | None = None
) -> list[Scored]:
	"""Score leads from their fields, activities and adjustments (reads in chunks, for one or thousands)."""
	tz = site_tz()
	setup = setup or scoring_setup()
	now = now or now_datetime().replace(tzinfo=tz)
	rows = lead_rows(leads, setup.fit_fields)
	activities = activities_of(leads, tz)
	adjustments = adjustments_of(leads, tz)
	medians = stage_median_days()
	scored = []
	for lead in leads:
		row = rows.get(lead)
		if row is None:
			continue
		score = scoring_lead.score_lead(
			row,
			activities[lead],
			setup.rules,
			now,
			adjustments=adjustments[lead],
			weights=setup.weights,
			half_life_days=setup.half_life_days,
			hot=setup.hot,
			warm=setup.warm,
		)
		times = tuple(a.timestamp for a in activities[lead])
		churn = scoring_health.churn_risk(
			times,
			now,
			stage=row.status,
			stage_median_days=medians.get(row.status),
			created_at=get_datetime(row.creation).replace(tzinfo=tz),
		)
		scored.append(Scored(lead, score, churn, times, row.get(TEMPERATURE)))
	return scored


def rescore_lead(lead: str) -> float:
	"""Score one lead from all its inputs and write its score, components, health and history."""
	scored = score_leads([lead])
	write_rescored(scored)
	return scored[0].score.total if scored else 0.0


def rescore_leads(leads: list[str], setup: ScoringSetup | None = None) -> int:
	"""Rescore many leads (the daily job's due intents, a migration): their inputs are read in chunks of
	CHUNK leads and the scores written together in bulk; returns how many."""
	setup = setup or scoring_setup()
	scored = []
	for start in range(0, len(leads), CHUNK):
		scored += score_leads(leads[start : start + CHUNK], setup)
	write_rescored(scored)
	return len(scored)


def rescore_scored_leads() -> int:
	"""Rescore every lead that has a score (after an upgrade that adds components; patches enqueue it)."""
	leads = frappe.get_all("CRM Lead", {"tf_scored_at": ("is", "set")}, pluck="name", order_by="name")
	done = 0
	for start in range(0, len(leads), CHUNK):
		done += rescore_leads(leads[start : start + CHUNK])
		frappe.db.commit()  # a long job: keep what is done if it is stopped
	return done


def enqueue_rescore(lead: str) -> None:
	"""New activity or changed fields: rescore after the transaction, at most one pending job per lead."""
	frappe.enqueue(
		"trackflow.scoring.rescore_lead",
		queue="default",
		job_id=f"trackflow-score-{lead}",
		deduplicate=True,
		enqueue_after_commit=True,
		lead=lead,
	)


def lead_fields_changed(lead) -> None:
	"""CRM Lead on_change (guarded by the caller): a new lead, or a change to a field a fit rule reads or to
	its status (the stage its churn risk is measured against), is rescored after the commit."""
	if lead.flags.in_delete:
		return
	if lead.is_new() or lead.flags.in_insert or not lead.get_doc_before_save():
		enqueue_rescore(lead.name)
		return
	if any(lead.has_value_changed(field) for field in ("status", *fit_rule_fields())):
		enqueue_rescore(lead.name)


# ---- the daily job ------------------------------------------------------------------------------

# The datetime columns the daily job reads as text: the driver's conversion of 300k datetimes (Frappe's
# get_datetime per value) took 2 of the 2.7 s of reading 100k leads; fromisoformat takes a tenth of it.
DATETIMES = ("creation", "tf_scored_at", "tf_intent_changes_at", "tf_last_activity_at")


def read_datetime(text: str | None) -> datetime | None:
	"""A DATETIME column's text as the driver would have returned it (naive)."""
	if text is None:
		return None
	try:
		return datetime.fromisoformat(text)
	except ValueError:
		return get_datetime(text)


def decay_scores() -> dict:
	"""Daily: decay every scored lead's engagement (no activity read), rescore the leads whose intent
	leaves its window, refresh churn risk, and write only the leads whose shown values change, in bulk."""
	started = time.monotonic()
	tz = site_tz()
	setup = scoring_setup()
	now = now_datetime().replace(tzinfo=tz)
	rows = frappe.db.sql(
		f"""SELECT `name`, `status`, `tf_activity_score`, `tf_engagement_fixed`, `tf_fit_score`,
		`tf_intent_score`, `tf_engagement_score`, `tf_engagement_grade`, `tf_temperature`,
		`tf_activity_cadence_days`, `tf_churn_risk`, {", ".join(f"CAST(`{f}` AS CHAR) AS `{f}`" for f in DATETIMES)}
		FROM `tabCRM Lead` WHERE `tf_scored_at` IS NOT NULL""",
		as_dict=True,
	)
	for r in rows:
		for field in DATETIMES:
			r[field] = read_datetime(r[field])

	def aware(value):
		if isinstance(value, datetime):  # what the driver returns: no parsing per lead
			return value.replace(tzinfo=tz)
		return get_datetime(value).replace(tzinfo=tz) if value else None

	stored = [
		scoring_lead.StoredScore(
			r.name,
			r.tf_fit_score,
			r.tf_activity_score or 0.0,
			r.tf_engagement_fixed or 0.0,
			r.tf_intent_score or 0.0,
			aware(r.tf_scored_at),
			aware(r.tf_intent_changes_at),
			r.tf_engagement_score,
			r.tf_engagement_grade,
			r.tf_temperature,
		)
		for r in rows
	]
	updates, due = scoring_lead.changed_lead_scores(
		stored,
		now,
		weights=setup.weights,
		half_life_days=setup.half_life_days,
		hot=setup.hot,
		warm=setup.warm,
	)
	done = set(due)
	churn = churn_changes([r for r in rows if r.name not in done], now)
	churn_changed = len(churn)
	# A decayed lead's churn risk goes in the same statement (its stored value when it did not move).
	stored_churn = {r.name: r.tf_churn_risk for r in rows}
	# fit and intent are as stored (the daily path does not change them); every lead is scored at `now`
	statements = write_scores(
		{
			TOTAL: {u.lead: u.total for u in updates},
			GRADE: {u.lead: u.grade for u in updates},
			TEMPERATURE: {u.lead: u.temperature for u in updates},
			"tf_engagement_component": {u.lead: u.engagement for u in updates},
			"tf_activity_score": {u.lead: u.engagement_anchor for u in updates},
			"tf_churn_risk": {u.lead: churn.pop(u.lead, stored_churn[u.lead]) for u in updates},
		},
		same={"tf_scored_at": now.replace(tzinfo=None)},
	)
	if churn:
		update_by_name("CRM Lead", {"tf_churn_risk": churn})
	was = {row.lead: row.temperature for row in stored}
	announce_hot([u.lead for u in updates if u.temperature == "hot" and was.get(u.lead) != "hot"])
	rescored = rescore_leads(due, setup)
	return {
		"leads": len(rows),
		"changed": len(updates),
		"rescored": rescored,
		"churn_changed": churn_changed,
		"statements": statements,
		"seconds": time.monotonic() - started,
	}


def refresh_churn_risk(rows: list, now: datetime) -> int:
	"""Churn risk of leads not rescored today, from the cadence kept at their last rescore and the days
	since their last activity (else creation): written where it moves by CHURN_MIN_CHANGE or more."""
	changed = churn_changes(rows, now)
	if changed:
		update_by_name("CRM Lead", {"tf_churn_risk": changed})
	return len(changed)


def churn_changes(rows: list, now: datetime) -> dict[str, float]:
	"""{lead: new churn risk} of the rows (as the daily job reads them) whose risk moves by
	CHURN_MIN_CHANGE or more (refreshes the stage medians)."""
	tz = now.tzinfo
	medians = refresh_stage_medians()
	changed = {}
	for r in rows:
		last = r.tf_last_activity_at or r.creation
		idle = scoring.days_since(get_datetime(last).replace(tzinfo=tz), now) if last else None
		risk = scoring_health.churn_from_idle(
			idle,
			r.tf_activity_cadence_days or None,
			stage=r.status,
			stage_median_days=medians.get(r.status),
		).risk
		risk = risk or 0.0  # a Float column: 0 when there is no figure
		if abs(risk - (r.tf_churn_risk or 0.0)) >= CHURN_MIN_CHANGE:
			changed[r.name] = risk
	return changed


def write_rescored(scored: list[Scored]) -> int:
	"""Write what score_leads computed: every component and what the daily job needs to bring it forward."""
	if not scored:
		return 0

	def naive(value):
		return value.replace(tzinfo=None) if value else None

	fields: dict[str, dict] = defaultdict(dict)
	for s in scored:
		score, lead = s.score, s.lead
		values = {
			TOTAL: score.total,
			GRADE: score.grade,
			TEMPERATURE: score.temperature,
			"tf_fit_score": score.fit.value,
			"tf_engagement_component": score.engagement.value,
			"tf_intent_score": score.intent.value,
			"tf_activity_score": score.engagement_anchor,
			"tf_engagement_fixed": score.engagement_fixed,
			"tf_scored_at": naive(score.scored_at),
			"tf_intent_changes_at": naive(score.intent_changes_at),
			"tf_last_activity_at": naive(score.last_activity_at),
			# Float columns are NOT NULL: 0 stands for unknown (no cadence yet, no risk figure)
			"tf_activity_cadence_days": s.churn.cadence_days or 0.0,
			"tf_churn_risk": s.churn.risk or 0.0,
		}
		for field, value in values.items():
			fields[field][lead] = value
	statements = write_scores(fields)
	announce_hot([s.lead for s in scored if s.score.temperature == "hot" and s.temperature_before != "hot"])
	return statements


def announce_hot(leads: list[str]) -> None:
	"""Run HOT_EVENT on each lead that just turned hot (its Notifications, webhooks and server scripts);
	one that fails is logged and the others go on."""
	for lead in leads:
		try:
			frappe.get_doc("CRM Lead", lead).run_method(HOT_EVENT)
		except Exception as error:
			log_failure(f"TrackFlow: {HOT_EVENT} failed for CRM Lead {lead}", error, "CRM Lead", lead)


def write_scores(fields: dict[str, dict[str, object]], same: dict | None = None) -> int:
	"""Write score fields ({field: {lead: value}}, every field covering the same leads; `same`: {field:
	one value for them all}) and the trends with one UPDATE per chunk of leads, after today's history rows
	(in bulk; the trend reads them). Returns the number of statements issued (reads included)."""
	totals = fields.get(TOTAL) or {}
	if not totals:
		return 0
	today = now_datetime().date()
	now = now_datetime()
	history = [
		[history_name(lead, today), now, now, "Administrator", lead, today, total]
		for lead, total in totals.items()
	]
	insert_rows(
		"Lead Score History",
		["name", "creation", "modified", "owner", "crm_lead", "day", "score"],
		history,
		on_duplicate="`score` = VALUES(`score`), `modified` = VALUES(`modified`)",
	)
	update_by_name("CRM Lead", {**fields, "tf_engagement_trend": _trends(list(totals), today)}, same)
	# score and trend UPDATEs per UPDATE_CHUNK; history upserts and history reads per INSERT_CHUNK
	return -(-len(totals) // UPDATE_CHUNK) + 2 * -(-len(totals) // INSERT_CHUNK)


def history_name(lead: str, day) -> str:
	return hashlib.sha256(f"{lead}|{day}".encode()).hexdigest()[:20]


def score_history(leads: list[str], since) -> dict[str, list[tuple]]:
	"""Each lead's (day, score) history rows from `since`, oldest first."""
	by_lead: dict[str, list] = {name: [] for name in leads}
	for start in range(0, len(leads), INSERT_CHUNK):
		chunk = leads[start : start + INSERT_CHUNK]
		# plain SQL: the query builder's IN of 1,000 names cost more than the read (the daily job's 100k)
		for lead, day, value in frappe.db.sql(
			f"""SELECT `crm_lead`, `day`, `score` FROM `tabLead Score History`
			WHERE `crm_lead` IN ({", ".join(["%s"] * len(chunk))}) AND `day` >= %s
			ORDER BY `crm_lead`, `day`""",
			[*chunk, since],
		):
			by_lead[lead].append((day, value))
	return by_lead


def _trends(leads: list[str], today) -> dict[str, str]:
	"""increasing / stable / declining for each lead, from its last 28 days of history (engine rule)."""
	return {
		lead: scoring.trend(rows, today)
		for lead, rows in score_history(leads, today - timedelta(days=40)).items()
	}


# ---- activity summaries -----------------------------------------------------------------------------

SUMMARY_COLUMNS = [
	"name",
	"creation",
	"modified",
	"owner",
	"crm_lead",
	"period",
	"start_date",
	"end_date",
	"activities",
	"counts",
	"score_start",
	"score_end",
	"score_change",
	"stage_changes",
	"stage_from",
	"stage_to",
]
SUMMARY_LAST_RUN_KEY = "trackflow_summaries_until"


def summarize_recent_activity(since: datetime | None = None) -> int:
	"""Upsert the day / week / month summaries of the leads with activity, a score change or a stage change
	since the last run (the first run: the last 31 days); returns the rows written. Each lead's summaries
	are recomputed from its activity of the periods touched, so a rerun writes the same rows."""
	tz = site_tz()
	now = now_datetime()
	last_run = frappe.db.get_default(SUMMARY_LAST_RUN_KEY)
	since = since or (get_datetime(last_run) if last_run else now - timedelta(days=31))
	leads = active_leads_since(since)
	written = 0
	# the periods that hold `since` start at most a month before it
	window_start = (since - timedelta(days=31)).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
	for start in range(0, len(leads), CHUNK):
		chunk = leads[start : start + CHUNK]
		activities = activities_of(chunk, tz)
		# a day's score holds until the next row; the decay writes one most days, so 60 days back finds
		# the score a period starts from (a score unchanged for longer starts from 0 in its summary)
		history = score_history(chunk, window_start.date() - timedelta(days=60))
		changes = _stage_changes(chunk, window_start, tz)
		rows = []
		for lead in chunk:
			recent = [a for a in activities[lead] if a.timestamp.replace(tzinfo=None) >= window_start]
			for period in SUMMARY_PERIODS:
				for summary in scoring_summary.summarize_activity(
					lead,
					recent,
					period,
					score_history=history[lead],
					stage_changes=changes.get(lead, ()),
					tz=tz,
				):
					if summary.end >= since.date():
						rows.append(_summary_row(summary, now))
		insert_rows(
			"Lead Activity Summary",
			SUMMARY_COLUMNS,
			rows,
			on_duplicate=", ".join(f"`{c}` = VALUES(`{c}`)" for c in SUMMARY_COLUMNS[3:] if c != "owner"),
		)
		written += len(rows)
	frappe.db.set_default(SUMMARY_LAST_RUN_KEY, str(now))
	return written


def _summary_row(summary: scoring_summary.ActivitySummary, now) -> list:
	return [
		hashlib.sha256(summary.key.encode()).hexdigest()[:20],
		now,
		now,
		"Administrator",
		summary.lead,
		summary.period,
		summary.start,
		summary.end,
		summary.activities,
		json.dumps(dict(summary.counts), sort_keys=True),
		summary.score_start,
		summary.score_end,
		summary.score_change,
		summary.stage_changes,
		summary.stage_from,
		summary.stage_to,
	]


def active_leads_since(since: datetime) -> list[str]:
	"""Leads with a score written, a conversion, a touch, a page event of a linked visitor, a status change
	or a CRM call or email since `since` (the inputs of their summaries)."""
	leads: set[str] = set()
	leads.update(frappe.get_all("Lead Score History", {"modified": (">=", since)}, pluck="crm_lead"))
	leads.update(frappe.get_all("Conversion", {"creation": (">=", since)}, pluck="crm_lead"))
	leads.update(frappe.get_all("Touchpoint", {"creation": (">=", since)}, pluck="crm_lead"))
	visitors = frappe.get_all("TrackFlow Event", {"creation": (">=", since)}, pluck="visitor", distinct=True)
	for start in range(0, len(visitors), CHUNK):
		leads.update(
			frappe.get_all(
				"TrackFlow Visitor", {"name": ("in", visitors[start : start + CHUNK])}, pluck="crm_lead"
			)
		)
	log = frappe.qb.DocType("CRM Status Change Log")
	leads.update(
		frappe.qb.from_(log)
		.select(log.parent)
		.distinct()
		.where(log.parenttype == "CRM Lead")
		.where(log.to_date >= since)
		.run(pluck=True)
	)
	leads.update(
		frappe.get_all(
			"Communication",
			{"reference_doctype": "CRM Lead", "creation": (">=", since), "sent_or_received": "Received"},
			pluck="reference_name",
		)
	)
	leads.discard(None)
	existing = set()
	names = sorted(leads)
	for start in range(0, len(names), CHUNK):
		existing.update(
			frappe.get_all("CRM Lead", {"name": ("in", names[start : start + CHUNK])}, pluck="name")
		)
	return sorted(existing)


def _stage_changes(leads: list[str], since: datetime, tz: ZoneInfo) -> dict[str, list]:
	log = frappe.qb.DocType("CRM Status Change Log")
	changes: dict[str, list] = defaultdict(list)
	for lead, before, after, when in (
		frappe.qb.from_(log)
		.select(log.parent, log["from"], log["to"], log.to_date)
		.where(log.parenttype == "CRM Lead")
		.where(log.parent.isin(leads))
		.where(log.to_date >= since)
		.run()
	):
		if after:
			changes[lead].append((get_datetime(when).replace(tzinfo=tz), before, after))
	return changes
