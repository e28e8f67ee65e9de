"""Install, migrate and uninstall steps. Every step is idempotent: running it twice changes nothing."""

import json
from pathlib import Path

import click
import frappe

from trackflow.engine.crm_schema import default_status_mapping
from trackflow.integrations import crm_ui
from trackflow.permissions import CAMPAIGN_MANAGER, TRACKFLOW_INTEGRATION, TRACKFLOW_MANAGER

# TrackFlow's roles and whether they use the desk (the integration role is for API-only machine users).
ROLES = {TRACKFLOW_MANAGER: 1, CAMPAIGN_MANAGER: 1, TRACKFLOW_INTEGRATION: 0}

# What TrackFlow adds to other apps' doctypes, by doctype. before_uninstall removes exactly these and
# nothing else. The CRM integration registers its custom fields, layout sections and form scripts here.
CUSTOM_FIELDS_FILE = Path(__file__).parent / "integrations" / "crm_custom_fields.json"


def _custom_fields() -> dict[str, list[dict]]:
	"""The custom fields per CRM doctype, from crm_custom_fields.json (one list, placed per doctype)."""
	data = json.loads(CUSTOM_FIELDS_FILE.read_text())
	return {
		doctype: [dict(field, insert_after=field.get("insert_after") or after) for field in data["fields"]]
		for doctype, after in data["insert_after"].items()
	}


CUSTOM_FIELDS: dict[str, list[dict]] = _custom_fields()
# CRM Form Scripts this app installs (see trackflow.integrations.crm_ui.FORM_SCRIPT_SOURCES).
FORM_SCRIPTS: tuple[str, ...] = ("TrackFlow CRM Lead", "TrackFlow CRM Deal")


def before_install():
	ensure_roles()


def after_install():
	after_migrate()


def after_migrate():
	ensure_roles()
	ensure_currency_permissions()
	ensure_attribution_models()
	ensure_settings_defaults()
	ensure_indexes()
	ensure_custom_fields()
	crm_ui.ensure_crm_layouts()
	crm_ui.ensure_form_scripts()
	ensure_start_here_block()
	crm_ui.ensure_score_view()


def before_tests():
	# Frappe 15 runs only the tested app's before_tests; CRM's own (CRM 1.8x creates the users its test
	# records name as owners) must run too, since TrackFlow's tests link to CRM's doctypes and Frappe builds
	# their test records first.
	for method in frappe.get_hooks("before_tests", app_name="crm"):
		frappe.get_attr(method)()
	after_migrate()
	frappe.db.commit()  # the defaults must be visible to every test, whatever it rolls back


def before_uninstall():
	crm_ui.remove_crm_layouts()  # first: the layouts and the list view name the custom fields
	crm_ui.remove_score_view()
	remove_custom_fields()
	remove_form_scripts()
	remove_currency_permissions()
	remove_scheduled_jobs()
	remove_start_here_block()


def remove_scheduled_jobs():
	"""TrackFlow's Scheduled Job Types: left behind, they would fail every run until the next migrate."""
	frappe.db.delete("Scheduled Job Type", {"method": ("like", "trackflow.%")})


# The workspace's "Start here" steps: a Custom HTML Block, the one workspace block Frappe shows by role, so
# Sales users (who read campaigns and links but create neither) see no set-up steps. Its HTML, script and
# style live beside the workspace JSON, which names the block.
START_HERE = {
	"name": "TrackFlow Start Here",
	"folder": Path(__file__).parent / "trackflow" / "workspace" / "trackflow",
	"roles": (TRACKFLOW_MANAGER, CAMPAIGN_MANAGER, "System Manager"),
}


def ensure_start_here_block():
	"""Create or refresh the block from its files (a changed file reaches the site on migrate)."""
	folder = START_HERE["folder"]
	values = {
		"html": (folder / "start_here.html").read_text(),
		"script": (folder / "start_here.js").read_text(),
		"style": (folder / "start_here.css").read_text(),
		"private": 0,
	}
	roles = list(START_HERE["roles"])
	if not frappe.db.exists("Custom HTML Block", START_HERE["name"]):
		block = frappe.new_doc("Custom HTML Block")
		block.update(values)
		block.set("roles", [{"role": role} for role in roles])
		block.insert(ignore_permissions=True, set_name=START_HERE["name"])
		return
	block = frappe.get_doc("Custom HTML Block", START_HERE["name"])
	if (
		any(block.get(key) != value for key, value in values.items())
		or [r.role for r in block.roles] != roles
	):
		block.update(values)
		block.set("roles", [{"role": role} for role in roles])
		block.save(ignore_permissions=True)


def remove_start_here_block():
	if frappe.db.exists("Custom HTML Block", START_HERE["name"]):
		frappe.delete_doc("Custom HTML Block", START_HERE["name"], ignore_permissions=True, force=True)


def ensure_roles():
	for role, desk_access in ROLES.items():
		if not frappe.db.exists("Role", role):
			frappe.get_doc({"doctype": "Role", "role_name": role, "desk_access": desk_access}).insert(
				ignore_permissions=True
			)


# TrackFlow's roles pick currencies on Link Campaign and Campaign Spend (a Link to Currency, so the value
# is a real currency and money is formatted by it). Frappe gives Currency read to System Manager and a few
# ERP roles only, so the Link's search answered 403. Currency is reference data: read is harmless.
CURRENCY_READERS = (TRACKFLOW_MANAGER, CAMPAIGN_MANAGER)


def ensure_currency_permissions():
	"""Read on Currency for TrackFlow's roles, as Custom DocPerm rows (Role Permissions Manager's way:
	the first custom row copies Currency's standard rows, which Frappe then reads instead)."""
	from frappe.permissions import add_permission

	for role in CURRENCY_READERS:
		if not frappe.db.exists("Custom DocPerm", {"parent": "Currency", "role": role, "permlevel": 0}):
			add_permission("Currency", role, 0, "read")
	frappe.clear_cache(doctype="Currency")


def remove_currency_permissions():
	"""Remove the rows ensure_currency_permissions added (the copied standard rows stay: they equal them)."""
	for name in frappe.get_all(
		"Custom DocPerm", {"parent": "Currency", "role": ("in", CURRENCY_READERS)}, pluck="name"
	):
		frappe.delete_doc("Custom DocPerm", name, ignore_permissions=True, force=True)
	frappe.clear_cache(doctype="Currency")


# Composite indexes the DocType JSON cannot declare (it has only single-column search_index/unique).
UNIQUE_INDEXES = {
	"Campaign Spend": [("unique_campaign_date", ["campaign", "date"])],
	"Lead Score History": [("unique_lead_day", ["crm_lead", "day"])],
	"Lead Activity Summary": [("unique_lead_period_start", ["crm_lead", "period", "start_date"])],
}
INDEXES = {
	"Click Event": [
		("link_time", ["tracked_link", "clicked_at"]),
	],
	# Campaign Performance reads the rollup by campaign and day range (benchmarks/README.md, Reports)
	"Link Click Day": [("campaign_day", ["campaign", "day"])],
}


def ensure_indexes():
	"""Add composite indexes; Frappe's add_index/add_unique skip ones that exist, so this is idempotent."""
	for doctype, indexes in UNIQUE_INDEXES.items():
		for name, fields in indexes:
			frappe.db.add_unique(doctype, fields, constraint_name=name)
	for doctype, indexes in INDEXES.items():
		for name, fields in indexes:
			frappe.db.add_index(doctype, fields, index_name=name)


# The built-in models (name, engine model, parameters), seeded once; users may deactivate them or add
# their own (e.g. position-based 30/40/30).
BUILT_IN_MODELS = (
	("First Touch", "first_touch", {}),
	("Last Touch", "last_touch", {}),
	("Last Non-Direct Touch", "last_non_direct", {}),
	("Linear", "linear", {}),
	("Time Decay", "time_decay", {"half_life_days": 7}),
	("Position Based", "position_based", {"first": 0.4, "last": 0.4}),
	("J-Shaped", "j_shaped", {}),
	("Inverse J", "inverse_j", {}),
	("W-Shaped", "w_shaped", {}),
	("Full Path", "full_path", {}),
	("Markov Chain", "markov", {"order": 1}),
	("Shapley Value", "shapley", {}),
)


def ensure_attribution_models():
	for name, engine_model, params in BUILT_IN_MODELS:
		if not frappe.db.exists("Attribution Model", name):
			frappe.get_doc(
				{
					"doctype": "Attribution Model",
					"model_name": name,
					"engine_model": engine_model,
					"parameters": json.dumps(params),
					"active": 1,
					"built_in": 1,
				}
			).insert(ignore_permissions=True)


def ensure_settings_defaults():
	"""Fill settings that are still empty: JSON defaults, then the CRM status mapping. Saves only on change."""
	settings = frappe.get_single("TrackFlow Settings")
	# A field added by an upgrade has no row in tabSingles yet; Frappe loads a missing Check as 0, so the
	# stored rows, not the loaded values, say what was never set.
	singles = frappe.qb.DocType("Singles")
	stored = set(
		frappe.qb.from_(singles)
		.select(singles.field)
		.where(singles.doctype == "TrackFlow Settings")
		.run(pluck=True)
	)
	changed = False
	for df in settings.meta.fields:
		if df.default is not None and (
			settings.get(df.fieldname) in (None, "") or df.fieldname not in stored
		):
			settings.set(df.fieldname, df.default)
			changed = True

	if not frappe.db.exists("Attribution Model", settings.default_attribution_model or ""):
		settings.default_attribution_model = "Last Non-Direct Touch"
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


def ensure_custom_fields():
	"""Create or update CUSTOM_FIELDS on CRM Lead and CRM Deal (same fieldnames, so convert_to_deal copies them)."""
	from frappe.custom.doctype.custom_field.custom_field import create_custom_fields

	# Only what is missing or differs: create_custom_fields ends with an ALTER TABLE on each doctype it
	# touches (Frappe re-sets Float/Currency defaults every time), a DDL that commits the transaction.
	outdated: dict[str, list[dict]] = {}
	for doctype, fields in CUSTOM_FIELDS.items():
		for field in fields:
			current = frappe.db.get_value(
				"Custom Field", {"dt": doctype, "fieldname": field["fieldname"]}, list(field), as_dict=True
			)
			if not current or any(current.get(key) != value for key, value in field.items()):
				outdated.setdefault(doctype, []).append(field)
	if outdated:
		create_custom_fields(outdated, ignore_validate=True, update=True)


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
