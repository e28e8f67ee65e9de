"""A person's data: find it (the visitors that are theirs), hand it over (Frappe's personal data
download) and erase it (Frappe's personal data deletion, `trackflow erase`), queues and Error Log included."""

import frappe

from trackflow.clicks import forget_visitor_in_rollup
from trackflow.engine import retention
from trackflow.queues import STREAMS, get_queue


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
	counts["click days"] = forget_visitor_in_rollup(visitor)
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
