"""The data-driven models' daily fit: every journey of the last year aggregated into channel paths
(converting: won deals, or created leads when too few deals were won; non-converting: lost deals and
visitors who never became a lead), fitted by the engine and stored on the Attribution Model."""

import json
from datetime import datetime
from decimal import Decimal

import frappe
from frappe.utils import add_to_date, flt, now_datetime

from trackflow.engine.attribution import fit_model
from trackflow.engine.attribution.registry import validate_params
from trackflow.engine.attribution.types import path_stats
from trackflow.journeys import journeys, lost_deal_journeys, of_conversion
from trackflow.ledger import model_spec
from trackflow.settings import get_settings

FIT_WINDOW_DAYS = 365


def fit_paths(since: datetime) -> tuple[list, str]:
	"""Aggregated channel paths for the data-driven models, and the conversion type they count.

	Converting journeys: the journeys of won deals when there are enough of them (the outcome that pays),
	else of created leads. Non-converting journeys: the journeys of lost deals, and of visitors that never
	became a lead. Each journey is cut to the lookback window before its end, as when it is attributed.
	"""
	settings = get_settings()
	min_journeys = settings.data_sufficiency_min_journeys
	won = frappe.db.count(
		"Conversion", {"conversion_type": "deal_won", "status": ("!=", "void"), "occurred_at": (">=", since)}
	)
	outcome = "deal_won" if won >= min_journeys else "lead_created"
	paths: dict[tuple[str, ...], list] = {}

	def add(path: tuple[str, ...], conversions: int, value: Decimal, nulls: int):
		if path:
			stats = paths.setdefault(path, [0, Decimal(0), 0])
			stats[0] += conversions
			stats[1] += value
			stats[2] += nulls

	converted = frappe.get_all(
		"Conversion",
		filters={"conversion_type": outcome, "status": ("!=", "void"), "occurred_at": (">=", since)},
		fields=["name", "crm_lead", "crm_deal", "visitor", "occurred_at", "conversion_type", "value"],
	)
	found = journeys([of_conversion(doc) for doc in converted], settings.attribution_lookback_days)
	for doc, path in zip(converted, found, strict=True):
		add(path.channels, 1, Decimal(str(flt(doc.value))), 0)
	for path in lost_deal_journeys(since):
		add(path.channels, 0, Decimal(0), 1)

	touchpoint, visitor = frappe.qb.DocType("Touchpoint"), frappe.qb.DocType("TrackFlow Visitor")
	rows = (
		frappe.qb.from_(touchpoint)
		.join(visitor)
		.on(visitor.name == touchpoint.visitor)
		.select(touchpoint.visitor, touchpoint.channel)
		.where(visitor.crm_lead.isnull() & (touchpoint.occurred_at >= since))
		.orderby(touchpoint.visitor)
		.orderby(touchpoint.occurred_at)
		.orderby(touchpoint.name)
		.run()
	)
	by_visitor: dict[str, list[str]] = {}
	for name, channel in rows:
		by_visitor.setdefault(name, []).append(channel or "other")
	for channels in by_visitor.values():
		add(tuple(channels), 0, Decimal(0), 1)
	return [path_stats(path, c, v, n) for path, (c, v, n) in paths.items()], outcome


def fit_models(model: str | None = None) -> dict[str, str]:
	"""Daily: refit every active data-driven model (or one) and store the fit on its Attribution Model."""
	filters = {"engine_model": ("in", ["markov", "shapley"])}
	filters.update({"name": model} if model else {"active": 1})
	models = frappe.get_all("Attribution Model", filters=filters, pluck="name")
	if not models:
		return {}
	paths, outcome = fit_paths(add_to_date(now_datetime(), days=-FIT_WINDOW_DAYS))
	settings = get_settings()
	verdicts = {}
	for name in models:
		doc = frappe.get_doc("Attribution Model", name)
		spec = model_spec(doc, settings.attribution_lookback_days)
		spec = validate_params(
			spec.name, {**spec.param_dict, "min_journeys": settings.data_sufficiency_min_journeys}
		)
		fit = fit_model(spec, paths)
		data = fit.to_dict()
		doc.fit_data = json.dumps(data, default=str)
		doc.fitted_at = now_datetime()
		doc.journeys_used = int(sum(p.conversions + p.nulls for p in paths))
		doc.sufficient = int(fit.sufficient)
		doc.sufficiency = json.dumps({"outcome": outcome, **fit.sufficiency}, default=str)[:10000]
		doc.flags.ignore_permissions = True
		doc.save()
		verdicts[name] = fit.sufficiency.get("verdict")
	return verdicts
