"""Install, migrate and uninstall steps. Every step is idempotent: running it twice changes nothing."""

import click
import frappe

from trackflow.engine.crm_schema import default_status_mapping
from trackflow.permissions import CAMPAIGN_MANAGER, TRACKFLOW_MANAGER

ROLES = (TRACKFLOW_MANAGER, CAMPAIGN_MANAGER)

# What TrackFlow adds to other apps' doctypes, by doctype. before_uninstall removes exactly these and
# nothing else. The CRM integration registers its custom fields, layout sections and form scripts here.
CUSTOM_FIELDS: dict[str, list[dict]] = {}
FORM_SCRIPTS: tuple[str, ...] = ()


def before_install():
	ensure_roles()


def after_install():
	after_migrate()


def after_migrate():
	ensure_roles()
	ensure_settings_defaults()
	ensure_indexes()


def before_tests():
	after_migrate()
	frappe.db.commit()  # the defaults must be visible to every test, whatever it rolls back


def before_uninstall():
	remove_custom_fields()
	remove_form_scripts()


def ensure_roles():
	for role in ROLES:
		if not frappe.db.exists("Role", role):
			frappe.get_doc({"doctype": "Role", "role_name": role, "desk_access": 1}).insert(
				ignore_permissions=True
			)


# Composite indexes the DocType JSON cannot declare (it has only single-column search_index/unique).
UNIQUE_INDEXES = {"Campaign Spend": [("unique_campaign_date", ["campaign", "date"])]}
INDEXES = {"Click Event": [("link_time", ["tracked_link", "clicked_at"])]}


def ensure_indexes():
	"""Add composite indexes; Frappe's add_index/add_unique skip ones that exist, so this is idempotent."""
	for doctype, indexes in UNIQUE_INDEXES.items():
		for name, fields in indexes:
			frappe.db.add_unique(doctype, fields, constraint_name=name)
	for doctype, indexes in INDEXES.items():
		for name, fields in indexes:
			frappe.db.add_index(doctype, fields, index_name=name)


def ensure_settings_defaults():
	"""Fill settings that are still empty: JSON defaults, then the CRM status mapping. Saves only on change."""
	settings = frappe.get_single("TrackFlow Settings")
	changed = False
	for df in settings.meta.fields:
		if df.default is not None and settings.get(df.fieldname) in (None, ""):
			settings.set(df.fieldname, df.default)
			changed = True

	mapping = default_status_mapping(_statuses("CRM Deal Status"), _statuses("CRM Lead Status"))
	for fieldname, child_field, statuses in (
		("won_deal_statuses", "deal_status", mapping.won_deal_statuses),
		("lost_deal_statuses", "deal_status", mapping.lost_deal_statuses),
		("qualified_lead_statuses", "lead_status", mapping.qualified_lead_statuses),
	):
		if not settings.get(fieldname) and statuses:
			settings.set(fieldname, [{child_field: status} for status in statuses])
			changed = True

	if changed:
		settings.flags.ignore_permissions = True
		settings.save()


def _statuses(doctype: str) -> list[dict]:
	fields = ["name", "type"] if frappe.get_meta(doctype).has_field("type") else ["name"]
	return frappe.get_all(doctype, fields=fields, order_by="name asc")


def remove_custom_fields():
	for doctype, fields in CUSTOM_FIELDS.items():
		for field in fields:
			name = f"{doctype}-{field['fieldname']}"
			if frappe.db.exists("Custom Field", name):
				frappe.delete_doc("Custom Field", name, ignore_permissions=True, force=True)
		frappe.clear_cache(doctype=doctype)
	if CUSTOM_FIELDS:
		click.secho("* Removed TrackFlow's custom fields from CRM", fg="yellow")


def remove_form_scripts():
	for name in FORM_SCRIPTS:
		if frappe.db.exists("CRM Form Script", name):
			frappe.delete_doc("CRM Form Script", name, ignore_permissions=True, force=True)
