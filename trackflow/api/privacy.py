"""Whitelisted privacy operations: erasing a visitor on request (right to erasure)."""

import frappe
from frappe import _

from trackflow.maintenance import erase_visitor_data
from trackflow.permissions import TRACKFLOW_MANAGER


@frappe.whitelist(methods=["POST"])
def erase_visitor(visitor: str | None = None, email: str | None = None) -> dict:
	"""Erase one visitor (or every visitor identified with `email`) and everything identifying about them;
	anonymous aggregate counts and the attribution ledger's money stay whole. TrackFlow Manager only."""
	frappe.only_for(TRACKFLOW_MANAGER)
	visitors = [visitor] if visitor else []
	if email:
		visitors += frappe.get_all("TrackFlow Visitor", {"email": email.strip().lower()}, pluck="name")
	visitors = [v for v in dict.fromkeys(visitors) if frappe.db.exists("TrackFlow Visitor", v)]
	if not visitors:
		frappe.throw(_("No visitor found to erase"))
	return {v: erase_visitor_data(v) for v in visitors}
