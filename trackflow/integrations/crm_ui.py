"""TrackFlow in the /crm UI: a side-panel section in CRM Fields Layout, and CRM Form Scripts for Lead and Deal.

The /crm UI shows only the fields a CRM Fields Layout lists, and runs client code from CRM Form Script
records. Both are records of CRM's, so install/migrate adds TrackFlow's parts idempotently (matched by
section name / script name) and uninstall removes exactly those parts.
"""

import json
from pathlib import Path

import frappe

LAYOUT_DOCTYPES = ("CRM Lead", "CRM Deal")
SECTION_NAME = "trackflow_attribution"
SECTION_LABEL = "Marketing attribution"
# The most useful of the custom fields for a salesperson; the rest stay on the desk form and in filters.
SIDE_PANEL_FIELDS = (
	"tf_first_touch_channel",
	"tf_first_touch_campaign",
	"tf_last_touch_channel",
	"tf_last_touch_campaign",
	"tf_touch_count",
	"tf_attributed_campaign",
	"tf_engagement_score",
	"tf_engagement_grade",
	"tf_temperature",
	"tf_churn_risk",
)

JS_DIR = Path(__file__).resolve().parent.parent / "public" / "js" / "crm"
# Rendering shared by the /crm form scripts and the desk forms (it must not name a JS class: CRM 1.81
# looks for `class Name` in a form script and would run it as a controller).
PANEL_SOURCE = "attribution_panel.js"
# name -> (doctype, file). The names are install.FORM_SCRIPTS, which uninstall removes.
FORM_SCRIPT_SOURCES = {
	"TrackFlow CRM Lead": ("CRM Lead", "crm_lead_form_script.js"),
	"TrackFlow CRM Deal": ("CRM Deal", "crm_deal_form_script.js"),
}


# ---- CRM Fields Layout ----------------------------------------------------------------------------


def attribution_section(fields: list[str] | tuple[str, ...], columns: bool = True) -> dict:
	"""TrackFlow's side-panel section, in the columns format (CRM 1.34+) or the older fields-only one."""
	section = {"label": SECTION_LABEL, "name": SECTION_NAME, "opened": True}
	if columns:
		section["columns"] = [{"name": f"{SECTION_NAME}_column", "fields": list(fields)}]
	else:
		section["fields"] = list(fields)
	return section


def _section_lists(layout: list) -> list[list]:
	"""The lists of sections in a layout: the layout itself, or each tab's sections when it has tabs."""
	if any(isinstance(item, dict) and "sections" in item for item in layout):
		return [
			item["sections"]
			for item in layout
			if isinstance(item, dict) and isinstance(item.get("sections"), list)
		]
	return [layout]


def with_attribution_section(layout: list, fields: list[str] | tuple[str, ...]) -> list | None:
	"""The layout with TrackFlow's section appended, or None when it already has it (matched by name) with
	these fields; a section of ours with other fields (an older release's) gets these.

	Handles a flat list of sections (the Side Panel on CRM 1.34 and 1.81) and a list of tabs holding
	sections (Data Fields on recent CRM): there the section goes at the end of the first tab.
	"""
	section_lists = _section_lists(layout)
	ours = [section for sections in section_lists for section in sections if _is_ours(section)]
	if ours:
		changed = False
		for section in ours:
			wanted = attribution_section(fields, columns="columns" in section)
			for key in ("columns", "fields"):
				if key in section and section[key] != wanted[key]:
					section[key] = wanted[key]
					changed = True
		return layout if changed else None
	if not section_lists:
		return None
	target = section_lists[0]
	uses_columns = not any(isinstance(s, dict) and "fields" in s and "columns" not in s for s in target)
	target.append(attribution_section(fields, columns=uses_columns))
	return layout


def without_attribution_section(layout: list) -> list | None:
	"""The layout without TrackFlow's section, or None when it has none."""
	changed = False
	for sections in _section_lists(layout):
		kept = [section for section in sections if not _is_ours(section)]
		if len(kept) != len(sections):
			sections[:] = kept
			changed = True
	return layout if changed else None


def _is_ours(section) -> bool:
	return isinstance(section, dict) and section.get("name") == SECTION_NAME


def _load_layout(name: str) -> list | None:
	raw = frappe.db.get_value("CRM Fields Layout", name, "layout")
	try:
		layout = json.loads(raw) if raw else None
	except ValueError:
		return None
	return layout if isinstance(layout, list) and layout else None


def _save_layout(name: str, layout: list):
	doc = frappe.get_doc("CRM Fields Layout", name)
	doc.layout = json.dumps(layout)
	doc.save(ignore_permissions=True)


def ensure_crm_layouts():
	"""Add the "Marketing attribution" section to the Side Panel of CRM Lead and CRM Deal, once.

	A missing, empty or unreadable layout is left alone: CRM creates its defaults on install, and an
	empty side panel is a choice TrackFlow should not override.
	"""
	for doctype in LAYOUT_DOCTYPES:
		name = f"{doctype}-Side Panel"
		layout = _load_layout(name) if frappe.db.exists("CRM Fields Layout", name) else None
		if layout is None:
			continue
		meta = frappe.get_meta(doctype)
		fields = [fieldname for fieldname in SIDE_PANEL_FIELDS if meta.has_field(fieldname)]
		if fields and (updated := with_attribution_section(layout, fields)) is not None:
			_save_layout(name, updated)


def remove_crm_layouts():
	"""Remove exactly TrackFlow's section from the Lead and Deal Side Panel layouts."""
	for doctype in LAYOUT_DOCTYPES:
		name = f"{doctype}-Side Panel"
		layout = _load_layout(name) if frappe.db.exists("CRM Fields Layout", name) else None
		if layout is not None and (updated := without_attribution_section(layout)) is not None:
			_save_layout(name, updated)


# ---- the /crm Leads list --------------------------------------------------------------------------

# The /crm list builds its columns from CRM View Settings, else from CRM Lead's default_list_data(). A
# public view (user "") is offered to every user beside the default list: the default columns with the
# score, grade and temperature, sorted by score. Filters and sorting by these fields need nothing: CRM
# offers every labelled field (and quick filters for in_standard_filter ones).
SCORE_VIEW_LABEL = "Leads by score"
SCORE_COLUMNS = (
	{"label": "Lead Score", "type": "Float", "key": "tf_engagement_score", "width": "7rem"},
	{"label": "Score Grade", "type": "Data", "key": "tf_engagement_grade", "width": "6rem"},
	{"label": "Temperature", "type": "Select", "key": "tf_temperature", "width": "7rem"},
)


def score_view_layout() -> tuple[list[dict], list[str]]:
	"""The view's columns and rows: CRM's default list (this CRM version's) with the score columns after
	the status column (else first)."""
	from frappe.model.document import get_controller

	controller = get_controller("CRM Lead")
	default = controller.default_list_data() if hasattr(controller, "default_list_data") else {}
	columns = [c for c in default.get("columns") or [] if not c.get("key", "").startswith("tf_")]
	keys = [c.get("key") for c in columns]
	at = keys.index("status") + 1 if "status" in keys else 0
	columns[at:at] = [dict(c) for c in SCORE_COLUMNS]
	rows = list(dict.fromkeys([*(default.get("rows") or ["name"]), *(c["key"] for c in SCORE_COLUMNS)]))
	return columns, rows


def _score_views() -> list[str]:
	return frappe.get_all(
		"CRM View Settings", {"dt": "CRM Lead", "label": SCORE_VIEW_LABEL, "public": 1}, pluck="name"
	)


def ensure_score_view():
	"""Add the public "Leads by score" list view of CRM Lead, once (a user may edit it afterwards)."""
	if not frappe.db.exists("DocType", "CRM View Settings") or _score_views():
		return
	columns, rows = score_view_layout()
	view = frappe.get_doc(
		{
			"doctype": "CRM View Settings",
			"label": SCORE_VIEW_LABEL,
			"icon": "",
			"dt": "CRM Lead",
			"type": "list",
			"route_name": "Leads",
			"public": 1,
			"filters": "{}",
			"order_by": "tf_engagement_score desc",
			"columns": json.dumps(columns),
			"rows": json.dumps(rows),
		}
	).insert(ignore_permissions=True)
	# CRM lists public views as those with user "" (an insert leaves the Link NULL)
	frappe.db.set_value("CRM View Settings", view.name, "user", "", update_modified=False)


def remove_score_view():
	"""Remove exactly the public view ensure_score_view added."""
	if not frappe.db.exists("DocType", "CRM View Settings"):
		return
	for name in _score_views():
		frappe.delete_doc("CRM View Settings", name, ignore_permissions=True, force=True)


# ---- CRM Form Script ------------------------------------------------------------------------------


def form_script_source(filename: str) -> str:
	"""A form script as stored: the shared panel renderer, then the doctype's setupForm."""
	return (JS_DIR / PANEL_SOURCE).read_text() + "\n" + (JS_DIR / filename).read_text()


def ensure_form_scripts():
	"""Install TrackFlow's standard CRM Form Scripts, or bring their code up to date.

	An existing script keeps its `enabled` (CRM lets users switch standard scripts off). Updates use
	db.set_value, as CRM does for its own standard scripts: CRM Form Script.validate refuses changes
	to a standard script outside developer mode, and migrate is not an install or a patch.
	"""
	for name, (doctype, filename) in FORM_SCRIPT_SOURCES.items():
		script = form_script_source(filename)
		if frappe.db.exists("CRM Form Script", name):
			current = frappe.db.get_value(
				"CRM Form Script", name, ["dt", "view", "script", "is_standard"], as_dict=True
			)
			wanted = {"dt": doctype, "view": "Form", "script": script, "is_standard": 1}
			changes = {key: value for key, value in wanted.items() if current.get(key) != value}
			if changes:
				frappe.db.set_value("CRM Form Script", name, changes)
			continue
		frappe.get_doc(
			{
				"doctype": "CRM Form Script",
				"name": name,
				"dt": doctype,
				"view": "Form",
				"script": script,
				"enabled": 1,
				"is_standard": 1,
			}
		).insert(ignore_permissions=True)
