"""TrackFlow's parts of the CRM UI: custom fields, the side-panel section, the form scripts, the desk JS."""

import ast
import copy
import json
import re
from pathlib import Path

import frappe

from trackflow import install
from trackflow.integrations import crm_ui
from trackflow.testing import TrackFlowTestCase

CRM_DOCTYPES = ("CRM Lead", "CRM Deal")


def side_panel(doctype: str) -> list:
	return json.loads(frappe.db.get_value("CRM Fields Layout", f"{doctype}-Side Panel", "layout"))


def our_sections(layout: list) -> list:
	return [
		s
		for sections in crm_ui._section_lists(layout)
		for s in sections
		if s.get("name") == "trackflow_attribution"
	]


def tf_custom_fields(doctype: str) -> set[str]:
	fieldnames = frappe.get_all("Custom Field", filters={"dt": doctype}, pluck="fieldname")
	return {fieldname for fieldname in fieldnames if fieldname.startswith("tf_")}


def install_crm_ui():
	install.ensure_custom_fields()
	crm_ui.ensure_crm_layouts()
	crm_ui.ensure_form_scripts()
	crm_ui.ensure_score_view()


def score_views() -> list[dict]:
	return frappe.get_all(
		"CRM View Settings",
		{"dt": "CRM Lead", "label": crm_ui.SCORE_VIEW_LABEL},
		["name", "user", "public", "columns", "rows", "order_by"],
	)


class TestCrmUi(TrackFlowTestCase):
	def test_custom_fields_literal_has_identical_fieldnames_on_lead_and_deal(self):
		fields = install.CUSTOM_FIELDS
		self.assertEqual(set(fields), set(CRM_DOCTYPES))
		lead = [f["fieldname"] for f in fields["CRM Lead"]]
		deal = [f["fieldname"] for f in fields["CRM Deal"]]
		self.assertEqual(lead, deal)
		for field in fields["CRM Lead"] + fields["CRM Deal"]:
			self.assertTrue(field["fieldname"].startswith("tf_"))
			if field["fieldtype"] not in ("Section Break", "Column Break"):
				self.assertEqual((field["read_only"], field["no_copy"]), (1, 0), field["fieldname"])

	def test_score_grade_and_temperature_are_list_columns_filters_and_sort_keys(self):
		keys = ("tf_engagement_score", "tf_engagement_grade", "tf_temperature")
		meta = frappe.get_meta("CRM Lead")
		for key in keys:  # the desk list and its sidebar filters
			self.assertTrue(meta.get_field(key).in_list_view, key)
			self.assertTrue(meta.get_field(key).in_standard_filter, key)
		(view,) = score_views()  # the /crm list: a public view with the columns, sorted by score
		self.assertEqual((view.user, view.public, view.order_by), ("", 1, "tf_engagement_score desc"))
		columns = [c["key"] for c in json.loads(view.columns)]
		for key in keys:
			self.assertIn(key, columns)
			self.assertIn(key, json.loads(view.rows))
		self.assertIn("status", columns)  # CRM's own default columns stay
		from crm.api.doc import get_quick_filters, sort_options

		self.assertTrue(set(keys) <= {f["fieldname"] for f in sort_options("CRM Lead")})
		# quick filters are the in_standard_filter fields unless a site chose its own (CRM 1.8x Global Settings)
		chosen = frappe.db.exists("DocType", "CRM Global Settings") and frappe.db.exists(
			"CRM Global Settings", {"dt": "CRM Lead", "type": "Quick Filters"}
		)
		if not chosen:
			quick = {f["fieldname"] for f in get_quick_filters("CRM Lead")}
			self.assertTrue({"tf_engagement_score", "tf_temperature", "tf_churn_risk"} <= quick)
		crm_ui.ensure_score_view()  # idempotent
		self.assertEqual(len(score_views()), 1)

	def test_custom_fields_exist_on_both_doctypes(self):
		wanted = {f["fieldname"] for f in install.CUSTOM_FIELDS["CRM Lead"]}
		for doctype in CRM_DOCTYPES:
			meta = frappe.get_meta(doctype)
			self.assertEqual(tf_custom_fields(doctype), wanted)
			self.assertEqual(meta.get_field("tf_first_touch_campaign").options, "Link Campaign")
			self.assertEqual(meta.get_field("tf_visitor").options, "TrackFlow Visitor")
			self.assertEqual(meta.get_field("tf_temperature").options, "\nhot\nwarm\ncold")
			self.assertTrue(meta.get_field("tf_marketing_attribution_section").collapsible)
			self.assertTrue(frappe.db.has_column(doctype, "tf_touch_count"))

	def test_convert_to_deal_copies_the_attribution_fields(self):
		from crm.fcrm.doctype.crm_lead.crm_lead import convert_to_deal

		lead = frappe.get_doc(
			{
				"doctype": "CRM Lead",
				"first_name": "Ada",
				"last_name": "Attribution",
				"email": "ada@example.invalid",
			}
		).insert(ignore_permissions=True)
		lead.db_set({"tf_first_touch_channel": "email", "tf_touch_count": 3, "tf_temperature": "warm"})
		deal = frappe.get_doc("CRM Deal", convert_to_deal(lead.name))
		self.assertEqual(
			(deal.tf_first_touch_channel, deal.tf_touch_count, deal.tf_temperature), ("email", 3, "warm")
		)

	def test_side_panel_sections_are_added_once_and_read_by_crm(self):
		from crm.fcrm.doctype.crm_fields_layout.crm_fields_layout import get_sidepanel_sections

		before = {doctype: side_panel(doctype) for doctype in CRM_DOCTYPES}
		install_crm_ui()
		install_crm_ui()
		for doctype in CRM_DOCTYPES:
			layout = side_panel(doctype)
			self.assertEqual(layout, before[doctype])
			(section,) = our_sections(layout)
			self.assertEqual(section["label"], "Marketing attribution")
			self.assertEqual(section["columns"][0]["fields"], list(crm_ui.SIDE_PANEL_FIELDS))
			served = next(s for s in get_sidepanel_sections(doctype) if s["name"] == "trackflow_attribution")
			self.assertEqual(
				[f["fieldname"] for f in served["columns"][0]["fields"]], list(crm_ui.SIDE_PANEL_FIELDS)
			)

	def test_form_scripts_are_installed_once_enabled_and_served_by_crm(self):
		from crm.fcrm.doctype.crm_form_script.crm_form_script import get_form_script

		self.assertEqual(set(install.FORM_SCRIPTS), set(crm_ui.FORM_SCRIPT_SOURCES))
		install_crm_ui()
		install_crm_ui()
		for name, (doctype, filename) in crm_ui.FORM_SCRIPT_SOURCES.items():
			rows = frappe.get_all(
				"CRM Form Script",
				filters={"name": name},
				fields=["dt", "view", "enabled", "is_standard", "script"],
			)
			self.assertEqual(len(rows), 1)
			(row,) = rows
			self.assertEqual((row.dt, row.view, row.enabled, row.is_standard), (doctype, "Form", 1, 1))
			self.assertEqual(row.script, crm_ui.form_script_source(filename))
			served = get_form_script(doctype)
			self.assertIn(row.script, served if isinstance(served, list) else [served])
			self.assertEqual(
				frappe.db.count("CRM Form Script", {"dt": doctype, "name": ["like", "TrackFlow%"]}), 1
			)

	def test_form_script_runs_as_setup_form_and_names_no_class(self):
		for _name, (_doctype, filename) in crm_ui.FORM_SCRIPT_SOURCES.items():
			script = crm_ui.form_script_source(filename)
			self.assertIn("function setupForm(", script)  # CRM 1.34 and 1.81 run setupForm
			# CRM 1.81 runs every `class Name` of a script as a controller: ours must not declare one.
			self.assertIsNone(re.search(r"class\s+[A-Za-z0-9_]+", script))
			self.assertIn("trackflow.api.attribution.get_", script)

	def test_edited_script_is_brought_back_and_enabled_is_kept(self):
		name = "TrackFlow CRM Deal"
		frappe.db.set_value("CRM Form Script", name, {"script": "function setupForm() {}", "enabled": 0})
		self.addCleanup(frappe.db.set_value, "CRM Form Script", name, "enabled", 1)
		crm_ui.ensure_form_scripts()
		row = frappe.db.get_value("CRM Form Script", name, ["script", "enabled"], as_dict=True)
		self.assertEqual(row.script, crm_ui.form_script_source("crm_deal_form_script.js"))
		self.assertEqual(row.enabled, 0)

	def test_desk_forms_load_the_attribution_js(self):
		from frappe.desk.form.meta import get_meta

		for doctype, method in (
			("CRM Lead", "get_lead_journey"),
			("CRM Deal", "get_deal_attribution"),
		):
			js = get_meta(doctype, cached=False).get("__js")
			self.assertIn("function trackflowAttributionHtml(", js)
			self.assertIn("function trackflowDeskAttribution(", js)
			self.assertIn(f"trackflow.api.attribution.{method}", js)


class TestCrmUiUninstall(TrackFlowTestCase):
	"""Its own class: its cleanup commits the reinstall, which must not commit other tests' records."""

	def test_uninstall_helpers_remove_exactly_what_was_added(self):
		other = frappe.get_doc(
			{
				"doctype": "CRM Form Script",
				"name": "TrackFlow test: another script",
				"dt": "CRM Deal",
				"view": "Form",
				"enabled": 1,
				"script": "function setupForm() { return {} }",
			}
		).insert(ignore_permissions=True)
		self.addCleanup(self._reinstall)
		self.addCleanup(frappe.delete_doc, "CRM Form Script", other.name, force=True, ignore_permissions=True)

		layouts = {doctype: side_panel(doctype) for doctype in CRM_DOCTYPES}
		other_fields = {
			doctype: set(frappe.get_all("Custom Field", filters={"dt": doctype}, pluck="name"))
			- {f"{doctype}-{fieldname}" for fieldname in tf_custom_fields(doctype)}
			for doctype in CRM_DOCTYPES
		}

		crm_ui.remove_crm_layouts()
		crm_ui.remove_score_view()
		install.remove_custom_fields()
		install.remove_form_scripts()

		self.assertEqual(score_views(), [])
		for doctype in CRM_DOCTYPES:
			expected = [s for s in layouts[doctype] if s.get("name") != "trackflow_attribution"]
			self.assertEqual(side_panel(doctype), expected)
			self.assertEqual(tf_custom_fields(doctype), set())
			self.assertEqual(
				set(frappe.get_all("Custom Field", filters={"dt": doctype}, pluck="name")),
				other_fields[doctype],
			)
			self.assertFalse(frappe.get_meta(doctype).has_field("tf_touch_count"))
		for name in install.FORM_SCRIPTS:
			self.assertFalse(frappe.db.exists("CRM Form Script", name))
		self.assertTrue(frappe.db.exists("CRM Form Script", other.name))

		# removing twice is a no-op
		crm_ui.remove_crm_layouts()
		crm_ui.remove_score_view()
		install.remove_custom_fields()
		install.remove_form_scripts()

	def test_ensure_custom_fields_touches_nothing_when_installed_and_repairs_drift(self):
		self.addCleanup(self._reinstall)
		modified = frappe.get_all(
			"Custom Field", filters={"dt": ["in", CRM_DOCTYPES]}, fields=["name", "modified"]
		)
		install.ensure_custom_fields()
		self.assertEqual(
			frappe.get_all("Custom Field", filters={"dt": ["in", CRM_DOCTYPES]}, fields=["name", "modified"]),
			modified,
		)
		frappe.db.set_value("Custom Field", "CRM Deal-tf_touch_count", "read_only", 0)
		frappe.delete_doc("Custom Field", "CRM Lead-tf_temperature", force=True, ignore_permissions=True)
		install.ensure_custom_fields()
		self.assertEqual(frappe.db.get_value("Custom Field", "CRM Deal-tf_touch_count", "read_only"), 1)
		self.assertTrue(frappe.db.exists("Custom Field", "CRM Lead-tf_temperature"))

	def _reinstall(self):
		install_crm_ui()
		frappe.db.commit()  # the site stays installed whatever the test's rollback undoes
		for doctype in CRM_DOCTYPES:
			self.assertEqual(len(our_sections(side_panel(doctype))), 1)


class TestLayoutFormats(TrackFlowTestCase):
	"""The layout helpers on the formats of CRM 1.34 and recent CRM (from the reference dumps)."""

	SIDE_PANEL = [  # noqa: RUF012
		{"label": "Contacts", "name": "contacts_section", "opened": True, "editable": False, "contacts": []},
		{
			"label": "Organization Details",
			"name": "organization_section",
			"opened": True,
			"columns": [{"name": "column_na2Q", "fields": ["organization", "website"]}],
		},
	]
	FIELDS = ("tf_first_touch_channel", "tf_temperature")

	def test_flat_sections_with_columns(self):
		layout = crm_ui.with_attribution_section(copy.deepcopy(self.SIDE_PANEL), self.FIELDS)
		self.assertEqual(layout[:2], self.SIDE_PANEL)
		self.assertEqual(layout[2]["columns"][0]["fields"], list(self.FIELDS))
		self.assertIsNone(crm_ui.with_attribution_section(layout, self.FIELDS))
		self.assertEqual(crm_ui.without_attribution_section(layout), self.SIDE_PANEL)
		self.assertIsNone(crm_ui.without_attribution_section(copy.deepcopy(self.SIDE_PANEL)))

	def test_tabbed_layout(self):
		tabs = [
			{"name": "first_tab", "sections": copy.deepcopy(self.SIDE_PANEL)},
			{"name": "second_tab", "label": "More", "sections": []},
		]
		layout = crm_ui.with_attribution_section(copy.deepcopy(tabs), self.FIELDS)
		self.assertEqual(len(layout), 2)
		self.assertEqual(layout[0]["sections"][-1]["name"], "trackflow_attribution")
		self.assertEqual(layout[1]["sections"], [])
		self.assertIsNone(crm_ui.with_attribution_section(layout, self.FIELDS))
		self.assertEqual(crm_ui.without_attribution_section(layout), tabs)

	def test_older_fields_only_sections(self):
		legacy = [{"label": "Details", "name": "details_section", "opened": True, "fields": ["organization"]}]
		layout = crm_ui.with_attribution_section(copy.deepcopy(legacy), self.FIELDS)
		self.assertEqual(layout[1]["fields"], list(self.FIELDS))
		self.assertNotIn("columns", layout[1])
		self.assertEqual(crm_ui.without_attribution_section(layout), legacy)
