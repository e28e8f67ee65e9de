"""Whitelisted reads of journeys and the attribution ledger. Each checks read permission on the CRM
document itself, so CRM's own rules decide: a Sales User sees only the leads and deals CRM shows them."""

import json

import frappe
from frappe import _

from trackflow import times
from trackflow.engine.attribution.ledger import credit_models
from trackflow.engine.attribution.preview import preview_input
from trackflow.engine.errors import ValidationError
from trackflow.journeys import Person, journey, journeys
from trackflow.ledger import ledger_models
from trackflow.permissions import CAMPAIGN_MANAGER, TRACKFLOW_MANAGER, require_roles
from trackflow.trackflow.report.report_data import company_currency


@frappe.whitelist()
def get_deal_attribution(deal: str, model: str | None = None) -> dict:
	"""The deal's journey and, per model, the credits of its won conversion (else of its creation)."""
	frappe.has_permission("CRM Deal", "read", deal, throw=True)
	conversions = _conversions({"crm_deal": deal})
	chosen = _pick(conversions, ("deal_won", "deal_created"))
	return _attribution("CRM Deal", deal, conversions, chosen, model)


@frappe.whitelist()
def get_lead_journey(lead: str) -> dict:
	"""The lead's journey (all its visitors' touches) and the credits of its lead_created conversion."""
	frappe.has_permission("CRM Lead", "read", lead, throw=True)
	conversions = _conversions({"crm_lead": lead})
	chosen = _pick(conversions, ("lead_created", "lead_qualified"))
	return _attribution("CRM Lead", lead, conversions, chosen, None)


@frappe.whitelist()
def get_visitor_journey(visitor: str) -> dict:
	"""One visitor's touches, sessions and the lead it belongs to."""
	frappe.has_permission("TrackFlow Visitor", "read", visitor, throw=True)
	doc = frappe.get_doc("TrackFlow Visitor", visitor)
	if doc.crm_lead:
		frappe.has_permission("CRM Lead", "read", doc.crm_lead, throw=True)
	touches = list(journeys([Person(visitor=visitor)], None)[0].rows.values())
	sessions = frappe.get_all(
		"TrackFlow Session",
		filters={"visitor": visitor},
		fields=["name", "started_at", "ended_at", "channel", "landing_url", "page_views"],
		order_by="started_at asc",
	)
	return {
		"doc": visitor,
		"crm_lead": doc.crm_lead,
		"journey": [_touch(t, {}, _unverified_visitors({visitor})) for t in touches],
		"sessions": sessions,
	}


@frappe.whitelist()
def get_conversion_credits(conversion: str) -> dict:
	"""Every ledger row of one conversion, by model."""
	doc = frappe.get_doc("Conversion", conversion)
	doc.check_permission("read")
	for doctype, name in (("CRM Deal", doc.crm_deal), ("CRM Lead", doc.crm_lead)):
		if name:
			frappe.has_permission(doctype, "read", name, throw=True)
	return {"conversion": doc.as_dict(), "models": _models(doc, None)}


def _conversions(filters: dict) -> list[dict]:
	return frappe.get_all(
		"Conversion",
		filters={**filters, "status": ("!=", "void")},
		fields=["name", "conversion_type", "occurred_at", "value", "currency", "status"],
		order_by="occurred_at asc",
	)


def _pick(conversions: list[dict], types: tuple[str, ...]):
	for conversion_type in types:
		for row in reversed(conversions):
			if row.conversion_type == conversion_type:
				return frappe.get_doc("Conversion", row.name)
	return None


def _attribution(doctype: str, name: str, conversions: list[dict], chosen, model: str | None) -> dict:
	probe = chosen or frappe._dict(
		crm_lead=name if doctype == "CRM Lead" else None,
		crm_deal=name if doctype == "CRM Deal" else None,
		visitor=None,
	)
	# Every touch of the person, before and after the conversion (the side panel shows the whole story).
	touches = list(journeys([Person(probe.crm_lead, probe.crm_deal, probe.visitor)], None)[0].rows.values())
	milestones = _milestones(chosen)
	unverified = _unverified_visitors({t.visitor for t in touches if t.visitor})
	return {
		"doc": name,
		"currency": chosen.currency if chosen else frappe.db.get_default("currency"),
		"journey": [_touch(t, milestones, unverified) for t in touches],
		"conversions": conversions,
		"models": _models(chosen, model) if chosen else [],
	}


def _milestones(conversion) -> dict[str, list[str]]:
	"""touchpoint -> milestones, as the engine marked them for the conversion (recomputed, not stored)."""
	if not conversion:
		return {}
	return {t.id: sorted(t.milestones) for t in journey(conversion, None).touches if t.milestones}


def _unverified_visitors(visitors: set[str]) -> set[str]:
	"""The visitors whose link to the lead rests on an unverified identify (engine.identity: the first
	claim of an email a lead was then created with); the journey marks their touches."""
	if not visitors:
		return set()
	return set(
		frappe.get_all(
			"TrackFlow Visitor",
			{"name": ("in", sorted(visitors)), "identity_verified": 0, "email": ("is", "set")},
			pluck="name",
		)
	)


def _touch(row, milestones: dict, unverified: set[str] = frozenset()) -> dict:
	return {
		"unverified_identity": row.visitor in unverified,
		"touchpoint": row.name,
		"occurred_at": row.occurred_at,
		"channel": row.channel,
		"source": row.source,
		"medium": row.medium,
		"campaign": row.link_campaign,
		"campaign_name": row.campaign_name,
		"touch_type": row.touch_type,
		"milestones": milestones.get(row.name, []),
	}


def _models(conversion, model: str | None) -> list[dict]:
	default = frappe.db.get_single_value("TrackFlow Settings", "default_attribution_model")
	filters = {"conversion": conversion.name}
	if model:
		if not frappe.db.exists("Attribution Model", model):
			frappe.throw(_("Unknown attribution model {0}").format(model))
		filters["attribution_model"] = model
	credits = frappe.get_all(
		"Attribution Credit",
		filters=filters,
		fields=["attribution_model", "touchpoint", "channel", "campaign", "weight", "credited_value"],
		order_by="attribution_model asc, touched_at asc, touchpoint asc",
	)
	engine_models = dict(frappe.get_all("Attribution Model", fields=["name", "engine_model"], as_list=True))
	by_model: dict[str, list] = {}
	for credit in credits:
		by_model.setdefault(credit.attribution_model, []).append(credit)
	result = []
	for name, rows in by_model.items():
		channels: dict[str, dict] = {}
		for row in rows:
			channel = channels.setdefault(row.channel, {"channel": row.channel, "weight": 0.0, "value": 0.0})
			channel["weight"] += row.weight
			channel["value"] += row.credited_value
		result.append(
			{
				"model": name,
				"engine_model": engine_models.get(name),
				"is_default": name == default,
				"reason": None,
				"conversion": conversion.name,
				"total": sum(row.credited_value for row in rows),
				"credits": [
					{
						"touchpoint": row.touchpoint,
						"channel": row.channel,
						"campaign": row.campaign,
						"weight": row.weight,
						"value": row.credited_value,
					}
					for row in rows
				],
				"by_channel": sorted(channels.values(), key=lambda c: -c["value"]),
			}
		)
	result.sort(key=lambda m: (not m["is_default"], m["model"]))
	return result


@frappe.whitelist(methods=["POST"])
def preview_attribution(
	touchpoints: list | str, value: str | float, currency: str | None = None, occurred_at: str | None = None
) -> dict:
	"""Each active model's credits of a made-up conversion, exactly as the ledger would compute them,
	storing nothing: `touchpoints` is a list of {channel, time, id?, source?, medium?, campaign?,
	milestones?} (JSON text or a list), `value` the conversion's value (a string keeps every digit).
	Permission: TrackFlow Manager or Campaign Manager."""
	require_roles(TRACKFLOW_MANAGER, CAMPAIGN_MANAGER, "System Manager")
	if isinstance(touchpoints, str):
		try:
			touchpoints = json.loads(touchpoints)
		except ValueError:
			frappe.throw(_("touchpoints must be a JSON list of objects"))
	try:
		conversion, touches = preview_input(
			touchpoints, value, currency or company_currency(), occurred_at, now=times.utc_now()
		)
	except ValidationError as error:
		frappe.throw(str(error))
	engine_models = dict(frappe.get_all("Attribution Model", fields=["name", "engine_model"], as_list=True))
	return {
		"value": str(conversion.value),
		"currency": conversion.currency,
		"models": [
			{
				"model": credited.model,
				"engine_model": engine_models.get(credited.model),
				"spec": str(credited.spec),
				"reason": credited.reason,
				"credits": [
					{
						"touchpoint": c.touchpoint_id,
						"channel": c.channel,
						"weight": c.weight,
						"value": str(c.value),
					}
					for c in credited.result.credits
				],
			}
			for credited in credit_models(conversion, touches, ledger_models())
		],
	}
