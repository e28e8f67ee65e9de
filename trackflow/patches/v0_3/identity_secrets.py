"""Every TrackFlow Site gets an identity secret (sites created before verified identity had none), so its
website's backend can sign identify calls. Idempotent: a site that has one keeps it."""

import secrets

import frappe
from frappe.utils.password import get_decrypted_password, set_encrypted_password


def execute():
	for name in frappe.get_all("TrackFlow Site", pluck="name"):
		if not get_decrypted_password("TrackFlow Site", name, "identity_secret", raise_exception=False):
			set_encrypted_password("TrackFlow Site", name, secrets.token_hex(32), "identity_secret")
			frappe.db.set_value("TrackFlow Site", name, "identity_secret", "*" * 64, update_modified=False)
