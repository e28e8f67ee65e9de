"""Whitelisted methods of lead scoring: a lead's score explained point by point with its journey health, and
a salesperson's manual adjustment. Each checks permission on the CRM Lead itself, so CRM's own rules decide
who may read (explain) and who may change (adjust) a lead's score."""

from datetime import timedelta

import frappe
from frappe import _
from frappe.utils import cint, flt, now_datetime

from trackflow.engine import scoring_health, scoring_lead
from trackflow.scoring import score_history, score_leads, scoring_setup, stage_median_days
from trackflow.times import site_tz

TREND_DAYS = 40  # the history the trend reads (two windows of 14 days and a margin)
REASONS_PER_COMPONENT = 5
RECENT_ADJUSTMENTS = 10
MAX_ADJUSTMENT_POINTS = 100.0  # a component is 0-100: more than that is a typing slip


@frappe.whitelist()
def explain_lead(lead: str) -> dict:
	"""The lead's score now: total, grade, temperature; each component's value, weight, contribution and
	top reasons; its journey health (days since the last activity, trend, churn risk with its inputs); its
	latest manual adjustments; and whether the user may adjust it."""
	if not lead:
		frappe.throw(_("Say which lead"), frappe.DoesNotExistError)
	frappe.has_permission("CRM Lead", "read", lead, throw=True)
	tz = site_tz()
	now = now_datetime().replace(tzinfo=tz)
	setup = scoring_setup()
	scored = score_leads([lead], setup, now)
	if not scored:
		frappe.throw(_("CRM Lead {0} not found").format(lead), frappe.DoesNotExistError)
	result = scored[0]
	score = result.score
	reasons = scoring_lead.explain(score, REASONS_PER_COMPONENT)
	history = score_history([lead], now.date() - timedelta(days=TREND_DAYS))[lead]
	churn = result.churn
	health = scoring_health.journey_health(
		result.activity_times,
		history,
		now,
		stage=churn.stage,
		stage_median_days=churn.stage_median_days,
	)
	return {
		"lead": lead,
		"total": score.total,
		"grade": score.grade,
		"temperature": score.temperature,
		"scored_at": str(now.replace(tzinfo=None)),
		"components": [
			{
				"name": component.name,
				"value": component.value,
				"weight": component.weight,
				"contribution": round(component.contribution, 2),
				"reasons": [r for r in reasons if r["component"] == component.name],
			}
			for component in score.components
		],
		"health": {
			"days_since_last_activity": health.days_since_last_activity,
			"trend": health.trend,
			"churn_risk": churn.risk,
			"days_inactive": churn.days_inactive,
			"cadence_days": churn.cadence_days,
			"stage": churn.stage,
			"stage_median_days": churn.stage_median_days,
			"cadence_risk": churn.cadence_risk,
			"stage_risk": churn.stage_risk,
			"basis": list(churn.basis),
		},
		"adjustments": frappe.get_all(
			"Lead Score Adjustment",
			{"crm_lead": lead},
			["name", "points", "reason", "decays", "owner", "creation"],
			order_by="creation desc",
			limit=RECENT_ADJUSTMENTS,
		),
		"can_adjust": bool(frappe.has_permission("CRM Lead", "write", lead)),
		"stage_medians_known": bool(stage_median_days()),
	}


@frappe.whitelist(methods=["POST"])
def add_score_adjustment(lead: str, points: float, reason: str, decays: int | bool = 1) -> dict:
	"""Add a manual adjustment to the lead's engagement (write permission on the lead): it is recorded with
	who made it and why, and the lead is rescored at once. Returns the adjustment and the new score."""
	if not lead:
		frappe.throw(_("Say which lead"), frappe.DoesNotExistError)
	frappe.has_permission("CRM Lead", "write", lead, throw=True)
	points = flt(points)
	if abs(points) > MAX_ADJUSTMENT_POINTS:
		frappe.throw(_("Points must be between -100 and 100"), title=_("Points"))
	adjustment = frappe.get_doc(
		{
			"doctype": "Lead Score Adjustment",
			"crm_lead": lead,
			"points": points,
			"reason": reason,
			"decays": 1 if cint(decays) else 0,
		}
	).insert(ignore_permissions=True)  # permission checked on the lead above; the row is TrackFlow's record
	total = frappe.db.get_value("CRM Lead", lead, "tf_engagement_score")
	return {"adjustment": adjustment.name, "total": total}
