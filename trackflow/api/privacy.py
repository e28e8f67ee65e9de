"""Whitelisted privacy operations: erasing a visitor on request (right to erasure)."""

import frappe
from frappe import _

from trackflow.maintenance import erase_person, erase_visitor_data
from trackflow.permissions import TRACKFLOW_MANAGER


@frappe.whitelist(methods=["POST"])
def erase_visitor(visitor: str | None = None, email: str | None = None) -> dict:
	"""Erase one visitor, or the person with `email` (their verified or lead-linked visitors; a stranger's
	unverified claim of the email only loses the email), and everything identifying about them, including
	records still queued in Redis and TrackFlow's Error Log entries; anonymous aggregate counts and the
	attribution ledger's money stay whole. TrackFlow Manager only."""
	frappe.only_for(TRACKFLOW_MANAGER)
	if not visitor and not email:
		frappe.throw(_("Give a visitor id or an email"))
	result = {}
	if visitor:
		if not frappe.db.exists("TrackFlow Visitor", visitor):
			frappe.throw(_("No visitor found to erase"))
		result[visitor] = erase_visitor_data(visitor)
	if email:
		claimed = frappe.db.exists("TrackFlow Visitor", {"email": email.strip().lower()})
		if not claimed and not result:
			frappe.throw(_("No visitor found to erase"))
		result.update(erase_person(email))
	return result


def on_personal_data_deletion(doc, method=None):
	"""Frappe's Personal Data Deletion Request, once carried out (status Deleted), erases the person's
	TrackFlow data too: its user_data_fields hook can only redact fields holding the email, and sessions,
	events, touchpoints and clicks are keyed by visitor."""
	if doc.status == "Deleted" and doc.has_value_changed("status") and doc.email:
		erase_person(doc.email)
