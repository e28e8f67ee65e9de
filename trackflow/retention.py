"""Retention: the daily purge of raw tracking rows older than their retention (engine.retention plans it).
Touchpoints the ledger references, conversions and the ledger stay; click counts stay in the rollup."""

import time

import frappe
from frappe.utils import now_datetime
from pypika.terms import ExistsCriterion

from trackflow.clicks import retire_visitor_sets
from trackflow.engine import retention
from trackflow.settings import get_settings


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
			report["tables"]["click visitor sets"] = retire_visitor_sets(step.cutoff, dry_run)
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
