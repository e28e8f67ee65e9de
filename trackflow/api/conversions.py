"""Whitelisted method for server-side conversions from other systems (shop, billing, product)."""

import frappe
from frappe import _
from frappe.utils import get_datetime

from trackflow.integrations.crm import lead_for_email
from trackflow.ledger import SERVER, save_conversion


@frappe.whitelist(methods=["POST"])
def record_conversion(
	conversion_type: str,
	idempotency_key: str,
	value: float | None = None,
	currency: str | None = None,
	occurred_at: str | None = None,
	lead: str | None = None,
	deal: str | None = None,
	email: str | None = None,
	visitor: str | None = None,
	order_id: str | None = None,
) -> dict:
	"""Record a conversion (idempotent: the same key returns the same conversion) and attribute it.

	Identify who converted with `lead`, `deal`, `visitor` or `email` (the CRM Lead with that email). With
	`order_id` (the shop's order id, as the embed script's `id`), the browser's report of the same order is
	superseded: the order counts once."""
	frappe.has_permission("Conversion", "create", throw=True)
	for doctype, name in (("CRM Lead", lead), ("CRM Deal", deal)):
		if name:
			frappe.has_permission(doctype, "read", name, throw=True)
	if email and not lead:
		lead = (lead_for_email(email) or {}).get("name")
	when = None
	if occurred_at:
		try:
			when = get_datetime(occurred_at)
		except Exception:
			frappe.throw(_("occurred_at must be a date and time, such as 2026-12-03 10:15:00"))
	if not (lead or deal or visitor):
		frappe.throw(_("Say who converted: a lead, a deal, a visitor or the email of a lead"))
	doc = save_conversion(
		conversion_type,
		idempotency_key,
		occurred_at=when,
		value=value,
		currency=currency,
		crm_lead=lead,
		crm_deal=deal,
		visitor=visitor,
		reported_by=SERVER,
		order_id=(order_id or "").strip()[:140] or None,
	)
	return {"name": doc.name, "status": doc.status, "flagged": doc.flagged, "flag_reason": doc.flag_reason}
