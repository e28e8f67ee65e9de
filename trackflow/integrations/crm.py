"""CRM Lead and CRM Deal events become conversions. Every handler is guarded: TrackFlow never fails a CRM
save. A failure is rolled back to a savepoint, logged to Error Log, and made good by the hourly sweeper
(catch_up), which re-derives missing conversions from the CRM records themselves."""

import re
from datetime import datetime, time
from zoneinfo import ZoneInfo

import frappe
from frappe.query_builder.functions import Concat
from frappe.utils import add_days, get_datetime, get_system_timezone, getdate, now_datetime

from trackflow.engine import guest, lead_sources
from trackflow.engine import identity as identity_rules
from trackflow.engine.conversions import deal_fields
from trackflow.error_log import log_failure
from trackflow.ledger import CRM, save_conversion, void_conversion
from trackflow.scoring import lead_fields_changed
from trackflow.settings import get_settings

VISITOR_COOKIES = ("_tf_v", "_tf_r")  # the embed script's visitor, and the /r/ redirect's
VISITOR_ID = re.compile(r"[0-9a-f]{32}")


def lead_for_email(email: str | None):
	"""The CRM Lead an email resolves to, as {name, creation}: the oldest lead with that email (trimmed,
	lower case; the column compares without case). The one rule for the drain, the conversions API and the
	offline-touch import, so duplicate emails always resolve to the same lead. None when none has it."""
	email = (email or "").strip().lower()
	if not email:
		return None
	leads = frappe.get_all(
		"CRM Lead", {"email": email}, ["name", "creation"], order_by="creation asc, name asc", limit=1
	)
	return leads[0] if leads else None


def run_guarded(handler, doc) -> None:
	"""Run a handler inside a savepoint; on any error roll back to it, log, and let CRM's save go on."""
	savepoint = f"trackflow_{frappe.generate_hash(length=8)}"
	frappe.db.savepoint(savepoint)
	try:
		handler(doc)
	except Exception as error:
		frappe.db.rollback(save_point=savepoint)
		log_failure(
			f"TrackFlow: {handler.__name__} failed for {doc.doctype} {doc.name}", error, doc.doctype, doc.name
		)


# doc_events (hooks.py)
def on_lead_insert(doc, method=None):
	run_guarded(lead_created, doc)


def on_lead_change(doc, method=None):
	run_guarded(lead_changed, doc)
	run_guarded(rescore_changed_lead, doc)


def on_deal_insert(doc, method=None):
	run_guarded(deal_created, doc)


def on_deal_change(doc, method=None):
	run_guarded(deal_changed, doc)


def on_lead_trash(doc, method=None):
	run_guarded(unlink_deleted, doc)


def on_deal_trash(doc, method=None):
	run_guarded(unlink_deleted, doc)


# TrackFlow's links to CRM records, cleared when the record is deleted (see unlink_deleted).
CRM_LINKS = {
	"CRM Lead": (
		("Conversion", "crm_lead"),
		("Attribution Credit", "crm_lead"),
		("Touchpoint", "crm_lead"),
		("TrackFlow Visitor", "crm_lead"),
	),
	"CRM Deal": (("Conversion", "crm_deal"), ("Attribution Credit", "crm_deal"), ("Touchpoint", "crm_deal")),
}


def unlink_deleted(doc) -> None:
	"""A CRM Lead or Deal is being deleted (on_trash, before Frappe checks links): its conversions and their
	credits stay in the ledger, anonymised (the link to the deleted record cleared, a comment saying why),
	so revenue already reported does not change and the audit trail keeps every credit; a lead's score
	history, which only describes that lead, goes. Voiding the conversions stays a deliberate act."""
	for doctype, field in CRM_LINKS[doc.doctype]:
		table = frappe.qb.DocType(doctype)
		frappe.qb.update(table).set(table[field], None).where(table[field] == doc.name).run()
	conversion = frappe.qb.DocType("Conversion")
	names = (
		frappe.qb.from_(conversion)
		.select(conversion.name)
		.where((conversion.source_doctype == doc.doctype) & (conversion.source_name == doc.name))
		.run(pluck=True)
	)
	if names:
		# The idempotency key named the deleted record: retire it, so a record that ever gets the same name
		# (a reused naming series) starts its own conversions instead of finding these.
		frappe.qb.update(conversion).set(conversion.source_doctype, None).set(
			conversion.source_name, None
		).set(
			conversion.idempotency_key,
			Concat(conversion.idempotency_key, f":deleted-{frappe.generate_hash(length=8)}"),
		).where(conversion.name.isin(names)).run()
		for name in names:
			frappe.get_doc(
				{
					"doctype": "Comment",
					"comment_type": "Info",
					"reference_doctype": "Conversion",
					"reference_name": name,
					"content": f"{doc.doctype} {doc.name} was deleted; its credits stay in the ledger.",
				}
			).insert(ignore_permissions=True)
	if doc.doctype == "CRM Lead":
		for scores in ("Lead Score History", "Lead Score Adjustment", "Lead Activity Summary"):
			frappe.db.delete(scores, {"crm_lead": doc.name})


def lead_created(lead):
	save_conversion(
		"lead_created",
		f"lead_created:{lead.name}",
		reported_by=CRM,
		occurred_at=not_after_now(lead.creation),
		crm_lead=lead.name,
		source_doctype="CRM Lead",
		source_name=lead.name,
	)
	stitch_visitors(lead)
	settings = get_settings()
	if settings.lead_form_touches:
		record_lead_form_touch(lead)
	if settings.fill_crm_lead_source and not lead.get("source"):
		fill_lead_source(lead)


def record_lead_form_touch(lead) -> None:
	"""A lead from CRM's Facebook lead sync (facebook_lead_id, CRM 1.56+) gets its lead ad as a touch, named
	after the lead so a second call adds nothing; the Link Campaign that names the form gets the credit."""
	form_id = lead.get("facebook_form_id")
	form_name = (
		frappe.db.get_value("Facebook Lead Form", form_id, "form_name")
		if form_id and frappe.db.exists("DocType", "Facebook Lead Form")
		else None
	)
	touch = lead_sources.lead_form_touch(lead.get("facebook_lead_id"), form_id, form_name)
	name = f"lead-form-{lead.name}"
	if not touch or frappe.db.exists("Touchpoint", name):
		return
	campaigns = frappe.get_all("Link Campaign", fields=["name", "campaign_name", "utm_campaign"])
	frappe.get_doc(
		{
			"doctype": "Touchpoint",
			"occurred_at": not_after_now(lead.creation),
			"touch_type": "lead_form",
			"crm_lead": lead.name,
			"link_campaign": lead_sources.campaign_for_form(form_id, form_name, campaigns),
			**guest.fit("Touchpoint", touch),
		}
	).insert(ignore_permissions=True, set_name=name)


def fill_lead_source(lead) -> None:
	"""CRM's Source of a new lead that has none: the CRM Lead Source of its first touch's channel (created
	when missing), written without a modified stamp: it is TrackFlow's, not a user's edit."""
	visitors = frappe.get_all("TrackFlow Visitor", {"crm_lead": lead.name}, pluck="name")
	touchpoint = frappe.qb.DocType("Touchpoint")
	owned = touchpoint.crm_lead == lead.name
	if visitors:
		owned = owned | touchpoint.visitor.isin(visitors)
	first = (
		frappe.qb.from_(touchpoint)
		.select(touchpoint.channel)
		.where(owned)
		.orderby(touchpoint.occurred_at)
		.limit(1)
		.run(pluck=True)
	)
	source = lead_sources.crm_source_for(first[0] if first else None)
	if not source:
		return
	if not frappe.db.exists("CRM Lead Source", source):
		frappe.get_doc({"doctype": "CRM Lead Source", "source_name": source}).insert(ignore_permissions=True)
	frappe.db.set_value("CRM Lead", lead.name, "source", source, update_modified=False)
	lead.source = source


def rescore_changed_lead(lead):
	"""A new lead, or one whose fit fields or status changed, is rescored after the commit (debounced)."""
	lead_fields_changed(lead)


def lead_changed(lead):
	if lead.is_new() or lead.flags.in_insert or lead.flags.in_delete or not lead.has_value_changed("status"):
		return
	qualified = {row.lead_status for row in get_settings().qualified_lead_statuses}
	if lead.status in qualified:
		save_conversion(
			"lead_qualified",
			f"lead_qualified:{lead.name}",
			reported_by=CRM,
			crm_lead=lead.name,
			source_doctype="CRM Lead",
			source_name=lead.name,
		)


def deal_created(deal):
	"""after_insert: the deal's row exists in this transaction, so a conversion may link to it. A deal
	inserted as won is recorded here too (on_change skips documents still being inserted)."""
	save_conversion(
		"deal_created",
		f"deal_created:{deal.name}",
		reported_by=CRM,
		occurred_at=not_after_now(deal.creation),
		crm_lead=deal.lead,
		crm_deal=deal.name,
		source_doctype="CRM Deal",
		source_name=deal.name,
	)
	if deal.status in {row.deal_status for row in get_settings().won_deal_statuses}:
		record_deal_won(deal)


def deal_changed(deal):
	# During an insert (CRM 1.81's validate db_sets exchange_rate, which fires on_change) the deal has no
	# row yet: a conversion linking to it would fail, and Frappe would cache the deal as missing for the
	# rest of CRM's request. deal_created (after_insert) covers the new deal.
	# Deleting runs on_change too (after on_trash, on a freshly loaded deal): that is no status change.
	if deal.is_new() or deal.flags.in_insert or deal.flags.in_delete or not deal.has_value_changed("status"):
		return
	won = {row.deal_status for row in get_settings().won_deal_statuses}
	before = deal.get_doc_before_save()
	if deal.status in won:
		record_deal_won(deal)
	elif before and before.status in won:
		void_conversion(
			f"deal_won:{deal.name}", f"Deal {deal.name} moved from {before.status} to {deal.status}"
		)


def record_deal_won(deal):
	"""deal_won with the deal's value (deal_value x exchange_rate on recent CRM, annual_revenue on 1.34),
	at the close date when one is set (never later than now)."""
	fields = deal_fields(f.fieldname for f in frappe.get_meta("CRM Deal").fields)
	save_conversion(
		"deal_won",
		f"deal_won:{deal.name}",
		reported_by=CRM,
		occurred_at=won_time(deal.get(fields.close_date) if fields.close_date else None),
		value=deal.get(fields.value) or 0,
		currency=deal.get("currency"),
		exchange_rate=(deal.get(fields.exchange_rate) if fields.exchange_rate else None) or 1,
		crm_lead=deal.lead,
		crm_deal=deal.name,
		source_doctype="CRM Deal",
		source_name=deal.name,
	)


def not_after_now(when) -> datetime:
	"""A record's time, or now when it says later (an import, clock skew, a changed site time zone): a
	conversion is never in the future."""
	now = now_datetime()
	return min(get_datetime(when), now) if when else now


def won_time(close_date) -> datetime:
	now = now_datetime()
	if not close_date or getdate(close_date) >= now.date():
		return now
	return datetime.combine(getdate(close_date), time(23, 59, 59))


def stitch_visitors(lead):
	"""Link the lead's visitors (never moving a visitor already linked):
	- those whose identity with the lead's email is verified (a signed identify, or a site that does not
	  require signing);
	- the first unverified claim of that email, if it was made within the claim window before the lead
	  was created (engine.identity);
	- the visitor the website's backend names in `tf_visitor` when it creates the lead with token auth;
	- for a lead a guest created (a web form), the browser that submitted it. A staff member's own cookie
	  is never used."""
	visitor = frappe.qb.DocType("TrackFlow Visitor")
	if lead.email:
		email = lead.email.strip().lower()
		frappe.qb.update(visitor).set(visitor.crm_lead, lead.name).where(
			(visitor.email == email) & (visitor.identity_verified == 1) & visitor.crm_lead.isnull()
		).run()
		first = frappe.get_all(
			"TrackFlow Visitor",
			{"email": email, "identity_verified": 0, "identified_at": ("is", "set")},
			["name", "identified_at", "crm_lead"],
			order_by="identified_at asc",
			limit=1,
		)
		tz = ZoneInfo(get_system_timezone())
		if first and not first[0].crm_lead:
			claim = identity_rules.Claim(
				first[0].name, email, first[0].identified_at.replace(tzinfo=tz).timestamp()
			)
			if identity_rules.claim_may_link(
				claim, get_datetime(lead.creation).replace(tzinfo=tz).timestamp()
			):
				frappe.qb.update(visitor).set(visitor.crm_lead, lead.name).where(
					(visitor.name == claim.visitor) & visitor.crm_lead.isnull()
				).run()
	if frappe.session.user != "Guest":
		named = lead.get("tf_visitor")
		if named and VISITOR_ID.fullmatch(named):
			frappe.qb.update(visitor).set(visitor.crm_lead, lead.name).set(visitor.identity_verified, 1).set(
				visitor.identity_source, "server"
			).where((visitor.name == named) & visitor.crm_lead.isnull()).run()
		return
	if not getattr(frappe.local, "request", None):
		return
	for cookie in VISITOR_COOKIES:
		value = frappe.request.cookies.get(cookie) or ""
		if VISITOR_ID.fullmatch(value) and frappe.db.exists("TrackFlow Visitor", value):
			frappe.qb.update(visitor).set(visitor.crm_lead, lead.name).set(visitor.identity_verified, 1).set(
				visitor.identity_source, "web form lead"
			).where((visitor.name == value) & visitor.crm_lead.isnull()).run()


def catch_up(days: int = 7) -> int:
	"""Hourly: conversions a failed handler did not record (leads, deals, won deals of the last days)."""
	since = add_days(now_datetime(), -days)
	made = 0
	conversion = frappe.qb.DocType("Conversion")

	def missing(
		doctype: str, prefix: str, extra: dict | None = None, since_field: str = "creation"
	) -> list[str]:
		names = frappe.get_all(doctype, filters={since_field: (">=", since), **(extra or {})}, pluck="name")
		if not names:
			return []
		keys = [f"{prefix}:{n}" for n in names]
		have = set(
			frappe.qb.from_(conversion)
			.select(conversion.idempotency_key)
			.where(conversion.idempotency_key.isin(keys))
			.run(pluck=True)
		)
		return [n for n in names if f"{prefix}:{n}" not in have]

	steps = [(name, "CRM Lead", lead_created) for name in missing("CRM Lead", "lead_created")]
	steps += [(name, "CRM Deal", deal_created) for name in missing("CRM Deal", "deal_created")]
	won = [row.deal_status for row in get_settings().won_deal_statuses]
	if won:
		steps += [
			(name, "CRM Deal", record_deal_won)
			for name in missing("CRM Deal", "deal_won", {"status": ("in", won)}, since_field="modified")
		]
	for name, doctype, handler in steps:
		if _catch_up_one(handler, doctype, name):
			made += 1
	return made


def _catch_up_one(handler, doctype: str, name: str) -> bool:
	"""One record of the sweep in its own savepoint: a record that fails is rolled back, logged once (not
	every hour) and skipped, and the sweep goes on with the rest."""
	savepoint = f"trackflow_{frappe.generate_hash(length=8)}"
	frappe.db.savepoint(savepoint)
	try:
		handler(frappe.get_doc(doctype, name))
		return True
	except Exception as error:
		frappe.db.rollback(save_point=savepoint)
		key = f"trackflow:catch-up-failed:{handler.__name__}:{name}"
		if not frappe.cache.get_value(key, expires=True):  # expires: never kept in this process
			frappe.cache.set_value(key, 1, expires_in_sec=7 * 86400)
			log_failure(
				f"TrackFlow: catch-up {handler.__name__} failed for {doctype} {name}", error, doctype, name
			)
		return False
