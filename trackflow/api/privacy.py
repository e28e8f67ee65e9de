"""Whitelisted privacy operations: erasing a visitor on request (right to erasure)."""

import json

import frappe
from frappe import _
from frappe.utils.verified_command import get_signed_params

from trackflow.error_log import log_failure
from trackflow.permissions import TRACKFLOW_MANAGER, require_roles
from trackflow.privacy import erase_person, erase_visitor_data, person_data


@frappe.whitelist(methods=["POST"])
def erase_visitor(visitor: str | None = None, email: str | None = None) -> dict:
	"""Erase one visitor, or the person with `email` (their verified or lead-linked visitors; a stranger's
	unverified claim of the email only loses the email), and everything identifying about them, including
	records still queued in Redis and TrackFlow's Error Log entries; anonymous aggregate counts and the
	attribution ledger's money stay whole. TrackFlow Manager only."""
	require_roles(TRACKFLOW_MANAGER)
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
		try:
			erase_person(doc.email)
		except Exception as error:  # logged for the admin; Frappe's own deletion goes on
			log_failure("TrackFlow: personal data deletion failed", error, doc.doctype, doc.name)


def on_personal_data_download(doc, method=None):
	"""Frappe's Personal Data Download Request: its user_data_fields hook reaches only rows holding the email
	itself, so TrackFlow adds the person's visitor-keyed data as a second private file on the request and
	mails its link the way Frappe mails its own. A TrackFlow failure never fails Frappe's request."""
	try:
		_add_trackflow_data(doc)
	except Exception as error:
		log_failure("TrackFlow: personal data download failed", error, doc.doctype, doc.name)


def _add_trackflow_data(doc) -> None:
	data = person_data(frappe.db.get_value("User", doc.user, "email") or doc.user)
	if not data:
		return
	file = frappe.get_doc(
		{
			"doctype": "File",
			"file_name": f"TrackFlow-Personal-Data-{doc.name}.json",
			"attached_to_doctype": doc.doctype,
			"attached_to_name": doc.name,
			"content": json.dumps(data, indent=1, default=str),
			"is_private": 1,
		}
	).insert(ignore_permissions=True)
	link = frappe.utils.get_url("/api/method/frappe.utils.file_manager.download_file") + "?"
	link += get_signed_params({"file_url": file.file_url})
	try:
		frappe.sendmail(
			recipients=doc.user,
			subject=_("Your TrackFlow data"),
			message=_("The marketing-tracking data this site holds about you: {0}").format(link),
		)
	except Exception as error:  # no outgoing email account: the file stays attached to the request
		log_failure("TrackFlow: the personal data download email was not sent", error, doc.doctype, doc.name)
