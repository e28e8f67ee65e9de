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

from trackflow.bulk import INSERT_CHUNK, UPDATE_CHUNK, insert_rows, update_by_name
from trackflow.engine import retention, rollup, scoring
from trackflow.engine.privacy import person_consent
from trackflow.queues import STREAMS, get_queue
from trackflow.trackflow.doctype.trackflow_settings.trackflow_settings import get_settings
from trackflow.web.redirect import invalidate_link

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
	# "is set" too: Frappe compares IFNULL(expires_at, '0001-01-01') and would expire links with no expiry.
	expired = frappe.get_all(
		"Tracked Link",
		filters=[["status", "=", "Active"], ["expires_at", "is", "set"], ["expires_at", "<", now_datetime()]],
		pluck="name",
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
		if step.table == "clicks":
			report["tables"]["click visitor sets"] = _clear_click_visitor_sets(step.cutoff, dry_run)
	if not dry_run:
		frappe.logger("trackflow").info(f"TrackFlow purge: {report}")
	return report


def _clear_click_visitor_sets(cutoff, dry_run: bool) -> int:
	"""The rollup's visitor sets go with the clicks they came from; its counts stay (they identify no one).
	Deltas are folded first, so each purged day keeps one exact daily count."""
	from trackflow.drain import fold_click_rollup

	if not dry_run:
		fold_click_rollup()
	day = frappe.qb.DocType("Link Click Day")
	condition = (day.day < get_datetime(cutoff).date()) & day.visitor_set.isnotnull()
	count = frappe.qb.from_(day).select(Count(day.name)).where(condition).run()[0][0]
	if count and not dry_run:
		frappe.qb.update(day).set(day.visitor_set, None).where(condition).run()
		frappe.db.commit()
	return count


def _forget_visitor_in_rollup(visitor: str) -> int:
	"""Take an erased visitor out of the visitor sets of the days they clicked (before their clicks lose
	the visitor id); their clicks still count. Deltas are folded first, so only the days' rows hold them."""
	from trackflow.drain import fold_click_rollup

	fold_click_rollup(commit=False)
	click = frappe.qb.DocType("Click Event")
	clicks = (
		frappe.qb.from_(click)
		.select(click.tracked_link, click.campaign, click.variant, click.clicked_at)
		.distinct()
		.where((click.visitor_id == visitor) & (click.is_bot == 0))
		.run(as_dict=True)
	)
	names = sorted(
		{
			rollup.row_name(
				(c.campaign or None, c.tracked_link, c.variant or "", get_datetime(c.clicked_at).date())
			)
			for c in clicks
		}
	)
	if not names:
		return 0
	day = frappe.qb.DocType("Link Click Day")
	rows = (
		frappe.qb.from_(day)
		.select(day.name, day.visitor_set)
		.where(day.name.isin(names) & day.visitor_set.isnotnull())
		.for_update()
		.run(as_dict=True)
	)
	key = rollup.visitor_key(visitor)
	updates: dict[str, dict] = {"visitor_set": {}, "visitors": {}}
	for row in rows:
		updates["visitor_set"][row.name], updates["visitors"][row.name] = rollup.remove(row.visitor_set, key)
	update_by_name("Link Click Day", updates)
	return len(rows)


def rebuild_click_rollup(chunk: int = 20_000) -> int:
	"""Rebuild Link Click Day from the stored clicks (install on a site with clicks, or repair); returns
	the clicks read. Idempotent: it starts from an empty rollup."""
	from trackflow.drain import fold_click_rollup, roll_up_clicks

	frappe.db.delete("Link Click Day")
	click = frappe.qb.DocType("Click Event")
	last, read, now = "", 0, now_datetime()
	while True:
		rows = (
			frappe.qb.from_(click)
			.select(
				click.name,
				click.tracked_link.as_("link"),
				click.campaign,
				click.variant,
				click.visitor_id.as_("visitor"),
				click.is_bot,
				click.clicked_at,
			)
			.where(click.name > last)
			.where(click.tracked_link.isnotnull())
			.orderby(click.name)
			.limit(chunk)
			.run(as_dict=True)
		)
		if not rows:
			return read
		roll_up_clicks(rows, lambda r: get_datetime(r["clicked_at"]).date(), now)
		fold_click_rollup(commit=False)  # a chunk's deltas, before the next chunk adds its own
		frappe.db.commit()
		read += len(rows)
		last = rows[-1].name


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


def persons_visitors(email: str) -> list[str]:
	"""The visitors that are the person's with this (normalised) email: identity verified, or linked to a
	CRM Lead. A visitor that only claimed the email (an unverified identify anyone could send) is not."""
	visitor = frappe.qb.DocType("TrackFlow Visitor")
	return (
		frappe.qb.from_(visitor)
		.select(visitor.name)
		.where((visitor.email == email) & ((visitor.identity_verified == 1) | visitor.crm_lead.isnotnull()))
		.run(pluck=True)
	)


def erase_person(email: str) -> dict:
	"""Erase the person with this email: every visitor that is theirs (identity verified, or linked to a
	CRM Lead) is erased whole; a visitor that only *claimed* the email (an unverified identify, which anyone
	could send) keeps its own data and loses the email. Returns {visitor: counts}."""
	email = email.strip().lower()
	result = {name: erase_visitor_data(name) for name in persons_visitors(email)}
	visitor = frappe.qb.DocType("TrackFlow Visitor")
	claims = (
		frappe.qb.update(visitor)
		.set(visitor.email, None)
		.set(visitor.identity_source, None)
		.where(visitor.email == email)
	)
	claims.run()
	_forget_in_queues([email])
	_forget_in_error_log([email])
	return result


PERSON_DATA_ROWS = 10_000  # per table in a personal data download


def person_data(email: str) -> dict:
	"""What TrackFlow holds about the person with this email, for Frappe's personal data download: their
	verified or lead-linked visitors (as erase_person erases them) and those visitors' sessions, events,
	touchpoints and clicks (at most PERSON_DATA_ROWS rows per table)."""
	theirs = persons_visitors(email.strip().lower())
	if not theirs:
		return {}
	data = {"TrackFlow Visitor": frappe.get_all("TrackFlow Visitor", {"name": ("in", theirs)}, ["*"])}
	for doctype, field in (
		("TrackFlow Session", "visitor"),
		("TrackFlow Event", "visitor"),
		("Touchpoint", "visitor"),
		("Click Event", "visitor_id"),
	):
		data[doctype] = frappe.get_all(
			doctype, {field: ("in", theirs)}, ["*"], order_by="creation asc", limit=PERSON_DATA_ROWS
		)
	return data


def _forget_in_queues(needles: list) -> int:
	"""Records still in the Redis queues (waiting, in flight, dead) that carry the visitor or email."""
	return sum(get_queue(stream).remove_containing(filter(None, needles)) for stream in STREAMS)


def _forget_in_error_log(needles: list) -> int:
	"""TrackFlow's own Error Log entries that name the visitor or email."""
	log = frappe.qb.DocType("Error Log")
	names = set()
	for needle in filter(None, needles):
		names.update(
			frappe.qb.from_(log)
			.select(log.name)
			.where(log.method.like("TrackFlow%") & log.error.like(f"%{_escape_like(needle)}%"))
			.run(pluck=True)
		)
	if names:
		frappe.db.delete("Error Log", {"name": ("in", sorted(names))})
	return len(names)


def _escape_like(text: str) -> str:
	return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def erase_visitor_data(visitor: str) -> dict:
	"""Erase a visitor and everything identifying about them. Events, sessions and touchpoints no credit
	needs are deleted; kept rows (ledger touchpoints, clicks, conversions) lose their identifying fields,
	so counts and money stay whole."""

	def names(doctype: str, field: str = "visitor") -> list[str]:
		return frappe.get_all(doctype, filters={field: visitor}, pluck="name")

	email = frappe.db.get_value("TrackFlow Visitor", visitor, "email")
	counts = {
		"queued records": _forget_in_queues([visitor, email]),
		"error logs": _forget_in_error_log([visitor, email]),
	}
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
	counts["click days"] = _forget_visitor_in_rollup(visitor)
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
