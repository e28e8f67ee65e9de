"""Self-tests of the integrity checks: a clean fixture app passes; each defect is caught by its check."""

import json
import textwrap
from pathlib import Path

import pytest

from tests.integrity import checks

CLEAN_HOOKS = """
app_name = "trackflow"
required_apps = ["frappe/crm"]
after_install = "trackflow.install.after_install"
add_to_apps_screen = [{"name": "trackflow", "has_permission": "trackflow.permissions.has_app_permission"}]
doc_events = {"CRM Deal": {"on_update": "trackflow.integrations.crm.on_deal_update"}}
scheduler_events = {"hourly": ["trackflow.tasks.hourly"], "cron": {"* * * * *": ["trackflow.tasks.every_minute"]}}
"""
CLEAN_FILES = {
	"trackflow/__init__.py": "",
	"trackflow/modules.txt": "TrackFlow\n",
	"trackflow/install.py": 'ROLE = "Campaign Manager"\n\n\ndef after_install():\n\tpass\n',
	"trackflow/integrations/crm_custom_fields.json": '{"insert_after": {"CRM Deal": "lead_name"}, "fields": [{"fieldname": "tf_channel"}]}',
	"trackflow/permissions.py": "def has_app_permission():\n\treturn True\n",
	"trackflow/tasks.py": "def hourly():\n\tpass\n\n\ndef every_minute():\n\tpass\n",
	"trackflow/integrations/__init__.py": "",
	"trackflow/integrations/crm.py": "def on_deal_update(doc, method=None):\n\treturn doc.status, doc.tf_channel, doc.get('deal_value')\n",
	"trackflow/api/__init__.py": "",
	"trackflow/api/links.py": textwrap.dedent(
		"""\
		import frappe
		from frappe.rate_limiter import rate_limit


		@frappe.whitelist(methods=["POST"])
		def create_link(destination: str) -> dict:
			frappe.has_permission("Widget", "create", throw=True)
			return {}


		@frappe.whitelist(allow_guest=True, methods=["POST"])
		@rate_limit(limit=100, seconds=60)
		def collect() -> None:
			return None
		"""
	),
	"trackflow/public/js/widget.js": 'frappe.call({method: "trackflow.api.links.create_link"});\n',
	"trackflow/trackflow/__init__.py": "",
	"trackflow/trackflow/doctype/__init__.py": "",
	"trackflow/trackflow/doctype/widget/__init__.py": "",
	"trackflow/trackflow/doctype/widget/widget.py": "from frappe.model.document import Document\n\n\n"
	"class Widget(Document):\n\tdef validate(self):\n\t\tself.title = self.title.strip()\n\t\treturn self.name\n",
	"trackflow/trackflow/doctype/widget_part/__init__.py": "",
	"trackflow/trackflow/doctype/widget_part/widget_part.py": "from frappe.model.document import Document\n\n\n"
	"class WidgetPart(Document):\n\tpass\n",
	"README.md": "# x\n\n## API\n\n| `trackflow.api.links.create_link` | |\n| `trackflow.api.links.collect` | |\n\n## Other\n",
}
WIDGET = {
	"doctype": "DocType",
	"name": "Widget",
	"module": "TrackFlow",
	"field_order": ["title", "deal", "parts", "kind"],
	"fields": [
		{"fieldname": "title", "fieldtype": "Data"},
		{"fieldname": "deal", "fieldtype": "Link", "options": "CRM Deal"},
		{"fieldname": "parts", "fieldtype": "Table", "options": "Widget Part"},
		{"fieldname": "kind", "fieldtype": "Select", "options": "a\nb", "default": "a"},
	],
	"permissions": [{"role": "Campaign Manager", "read": 1}],
}
WIDGET_PART = {
	"doctype": "DocType",
	"name": "Widget Part",
	"module": "TrackFlow",
	"istable": 1,
	"fields": [{"fieldname": "label", "fieldtype": "Data"}],
}


def make_app(tmp_path: Path, files: dict | None = None, hooks: str = CLEAN_HOOKS, widget: dict | None = None):
	all_files = dict(CLEAN_FILES)
	all_files["trackflow/hooks.py"] = hooks
	all_files["trackflow/trackflow/doctype/widget/widget.json"] = json.dumps(widget or WIDGET)
	all_files["trackflow/trackflow/doctype/widget_part/widget_part.json"] = json.dumps(WIDGET_PART)
	all_files.update(files or {})
	for rel, text in all_files.items():
		if text is None:
			continue
		path = tmp_path / rel
		path.parent.mkdir(parents=True, exist_ok=True)
		path.write_text(text)
	return tmp_path


@pytest.mark.parametrize("check", checks.ALL_CHECKS, ids=lambda c: c.__name__)
def test_clean_fixture_passes(tmp_path, check):
	assert check(make_app(tmp_path)) == []


def widget_with(**changes):
	data = json.loads(json.dumps(WIDGET))
	data.update(changes)
	return data


def field_change(index, **changes):
	data = json.loads(json.dumps(WIDGET))
	data["fields"][index].update(changes)
	return data


# (check, what the fixture breaks, expected fragment of the problem)
DEFECTS = {
	"hook to a missing function": (
		checks.check_hooks,
		dict(hooks=CLEAN_HOOKS.replace("tasks.hourly", "tasks.hourli")),
		"trackflow.tasks.hourli does not exist",
	),
	"hook to a missing module": (
		checks.check_hooks,
		dict(hooks=CLEAN_HOOKS.replace("trackflow.install.after_install", "trackflow.setup.after_install")),
		"does not exist",
	),
	"doc event handler with the wrong arity": (
		checks.check_hooks,
		dict(files={"trackflow/integrations/crm.py": "def on_deal_update(doc):\n\treturn doc.status\n"}),
		"cannot be called with 2 argument(s)",
	),
	"scheduler job that needs an argument": (
		checks.check_hooks,
		dict(files={"trackflow/tasks.py": "def hourly(x):\n\tpass\n\n\ndef every_minute():\n\tpass\n"}),
		"cannot be called with 0 argument(s)",
	),
	"app screen permission hook missing": (
		checks.check_hooks,
		dict(files={"trackflow/permissions.py": "def has_permission():\n\treturn True\n"}),
		"has_app_permission does not exist",
	),
	"frappe path not on the allow-list": (
		checks.check_hooks,
		dict(hooks=CLEAN_HOOKS + 'before_request = ["frappe.nowhere.fn"]\n'),
		"not on the allow-list",
	),
	"doc event on an unknown doctype": (
		checks.check_hooks,
		dict(hooks=CLEAN_HOOKS.replace('"CRM Deal"', '"CRM Dael"')),
		"'CRM Dael' is not a known DocType",
	),
	"required_apps without crm": (
		checks.check_hooks,
		dict(hooks=CLEAN_HOOKS.replace('required_apps = ["frappe/crm"]', "")),
		"required_apps must name crm",
	),
	"override of a method that is not whitelisted": (
		checks.check_hooks,
		dict(
			hooks=CLEAN_HOOKS
			+ 'override_whitelisted_methods = {"frappe.client.get": "trackflow.permissions.has_app_permission"}\n'
		),
		"must be decorated with @frappe.whitelist",
	),
	"invalid doctype JSON": (
		checks.check_doctypes,
		dict(files={"trackflow/trackflow/doctype/widget_part/widget_part.json": "{"}),
		"invalid JSON",
	),
	"doctype name not matching its folder": (
		checks.check_doctypes,
		dict(widget=widget_with(name="Gadget")),
		"does not match its folder",
	),
	"module not in modules.txt": (
		checks.check_doctypes,
		dict(widget=widget_with(module="Marketing")),
		"is not in modules.txt",
	),
	"unknown fieldtype": (
		checks.check_doctypes,
		dict(widget=field_change(0, fieldtype="Text Area")),
		"unknown fieldtype 'Text Area'",
	),
	"data field longer than Frappe allows": (
		checks.check_doctypes,
		dict(widget=field_change(0, length=2048)),
		"Data length above Frappe's limit",
	),
	"duplicate fieldname": (
		checks.check_doctypes,
		dict(widget=field_change(1, fieldname="title")),
		"duplicate fieldname 'title'",
	),
	"link to an unknown doctype": (
		checks.check_doctypes,
		dict(widget=field_change(1, options="CRM Dael")),
		"Link to unknown DocType 'CRM Dael'",
	),
	"table of a non-child doctype": (
		checks.check_doctypes,
		dict(widget=field_change(2, options="Widget")),
		"which is not a child table",
	),
	"select default outside its options": (
		checks.check_doctypes,
		dict(widget=field_change(3, default="c")),
		"is not one of its options",
	),
	"single with a Link default to an app record": (
		checks.check_doctypes,
		dict(
			files={
				"trackflow/trackflow/doctype/widget_settings/__init__.py": "",
				"trackflow/trackflow/doctype/widget_settings/widget_settings.py": "from frappe.model.document import Document\n"
				"class WidgetSettings(Document):\n\tpass\n",
				"trackflow/trackflow/doctype/widget_settings/widget_settings.json": json.dumps(
					{
						"doctype": "DocType",
						"name": "Widget Settings",
						"module": "TrackFlow",
						"issingle": 1,
						"fields": [
							{
								"fieldname": "default_widget",
								"fieldtype": "Link",
								"options": "Widget",
								"default": "W-1",
							}
						],
						"permissions": [{"role": "System Manager", "read": 1}],
					}
				),
			}
		),
		"a single's Link default to 'Widget' breaks install-app",
	),
	"permission for an unknown role": (
		checks.check_doctypes,
		dict(widget=widget_with(permissions=[{"role": "Marketing Wizard", "read": 1}])),
		"unknown role 'Marketing Wizard'",
	),
	"doctype folder without __init__.py": (
		checks.check_doctypes,
		dict(files={"trackflow/trackflow/doctype/widget/__init__.py": None}),
		"missing __init__.py",
	),
	"controller class misnamed": (
		checks.check_doctypes,
		dict(
			files={
				"trackflow/trackflow/doctype/widget/widget.py": "from frappe.model.document import Document\n"
				"class WidgetController(Document):\n\tpass\n"
			}
		),
		"no class Widget",
	),
	"JS calls a missing method": (
		checks.check_js_calls,
		dict(files={"trackflow/public/js/widget.js": 'frappe.xcall("trackflow.api.links.make_link")\n'}),
		"trackflow.api.links.make_link, which does not exist",
	),
	"JS calls a method that is not whitelisted": (
		checks.check_js_calls,
		dict(files={"trackflow/public/js/widget.js": "fetch('/api/method/trackflow.tasks.hourly')\n"}),
		"not @frappe.whitelist()-ed",
	),
	"guest method without a rate limit": (
		checks.check_whitelisted_methods,
		dict(
			files={
				"trackflow/api/links.py": CLEAN_FILES["trackflow/api/links.py"].replace(
					"@rate_limit(limit=100, seconds=60)\n", ""
				)
			}
		),
		"guest method without @rate_limit",
	),
	"untyped whitelisted argument": (
		checks.check_whitelisted_methods,
		dict(
			files={
				"trackflow/api/links.py": CLEAN_FILES["trackflow/api/links.py"].replace(
					"destination: str", "destination"
				)
			}
		),
		"untyped argument(s) destination",
	),
	"whitelisted method without a permission check": (
		checks.check_whitelisted_methods,
		dict(
			files={
				"trackflow/api/links.py": CLEAN_FILES["trackflow/api/links.py"].replace(
					'frappe.has_permission("Widget", "create", throw=True)', "pass"
				)
			}
		),
		"never checks permission",
	),
	"whitelisted method without a return annotation": (
		checks.check_whitelisted_methods,
		dict(
			files={
				"trackflow/api/links.py": CLEAN_FILES["trackflow/api/links.py"].replace(
					"destination: str) -> dict:", "destination: str):"
				)
			}
		),
		"no return annotation",
	),
	"whitelisted method taking **kwargs": (
		checks.check_whitelisted_methods,
		dict(
			files={
				"trackflow/api/links.py": CLEAN_FILES["trackflow/api/links.py"].replace(
					"destination: str)", "destination: str, **kwargs)"
				)
			}
		),
		"*args/**kwargs on a whitelisted method",
	),
	"desk URL built in Python": (
		checks.check_desk_routes,
		dict(files={"trackflow/tasks.py": 'def hourly():\n\treturn f"{URL}/app/tracked-link/{NAME}"\n'}),
		"hard-coded desk path",
	),
	"desk URL in JS": (
		checks.check_desk_routes,
		dict(files={"trackflow/public/js/widget.js": "window.location.href = '/app/widget/' + name;\n"}),
		"hard-coded desk path",
	),
	"v16 desk URL in a template": (
		checks.check_desk_routes,
		dict(files={"trackflow/templates/mail.html": '<a href="/desk/crm-deal/{{ deal }}">deal</a>\n'}),
		"hard-coded desk path",
	),
	"desk URL in a workspace JSON": (
		checks.check_desk_routes,
		dict(
			files={
				"trackflow/trackflow/workspace/widgets/widgets.json": json.dumps(
					{"doctype": "Workspace", "links": [{"type": "URL", "url": "/app/widget?status=open"}]}
				)
			}
		),
		"hard-coded desk path in '/app/widget?status=open'",
	),
	"apps-screen tile routed to /app": (
		checks.check_desk_routes,
		dict(
			hooks=CLEAN_HOOKS.replace(
				'"name": "trackflow",', '"name": "trackflow", "route": "/app/trackflow",'
			)
		),
		"tile route '/app/trackflow'",
	),
	"SQL aggregate in get_all fields": (
		checks.check_query_field_strings,
		dict(
			files={
				"trackflow/tasks.py": "import frappe\n\n\ndef hourly():\n\treturn frappe.get_all("
				'"Widget", fields=["kind", "count(name) as n"], group_by="kind")\n'
			}
		),
		"SQL in get_all() field string 'count(name) as n'",
	),
	"SQL aggregate as get_value's positional fieldname": (
		checks.check_query_field_strings,
		dict(
			files={
				"trackflow/tasks.py": "import frappe\n\n\ndef hourly():\n\treturn frappe.db.get_value("
				'"Widget", {"kind": "a"}, "max(modified)")\n'
			}
		),
		"SQL in get_value() field string 'max(modified)'",
	),
	"syntax newer than Python 3.10": (
		checks.check_python_versions,
		dict(
			files={"trackflow/tasks.py": "def hourly():\n\ttry:\n\t\tpass\n\texcept* ValueError:\n\t\tpass\n"}
		),
		"not Python 3.10 syntax",
	),
	"unguarded tomllib": (
		checks.check_python_versions,
		dict(files={"trackflow/tasks.py": "import tomllib\n"}),
		"imports tomllib, new in Python 3.11",
	),
	"typing name newer than 3.10": (
		checks.check_python_versions,
		dict(files={"trackflow/tasks.py": "from typing import Self\n"}),
		"typing.Self is newer than Python 3.10",
	),
	"datetime.UTC": (
		checks.check_python_versions,
		dict(files={"trackflow/tasks.py": "import datetime\n\nNOW = datetime.datetime.now(datetime.UTC)\n"}),
		"datetime.UTC is newer than Python 3.10",
	),
	"module removed from Python 3.12+": (
		checks.check_python_versions,
		dict(files={"trackflow/tasks.py": "from distutils.version import LooseVersion\n"}),
		"removed from Python 3.12+",
	),
	"controller reads a field that does not exist": (
		checks.check_field_reads,
		dict(
			files={
				"trackflow/trackflow/doctype/widget/widget.py": "from frappe.model.document import Document\n"
				"class Widget(Document):\n\tdef validate(self):\n\t\treturn self.titel\n"
			}
		),
		"reads self.titel, not a field of Widget",
	),
	"CRM handler reads a field missing on CRM": (
		checks.check_field_reads,
		dict(
			files={
				"trackflow/integrations/crm.py": "def on_deal_update(doc, method=None):\n\treturn doc.amount\n"
			}
		),
		"doc.amount is not a field of CRM Deal",
	),
	"CRM handler reads a version-specific field as an attribute": (
		checks.check_field_reads,
		dict(
			files={
				"trackflow/integrations/crm.py": "def on_deal_update(doc, method=None):\n\treturn doc.deal_value\n"
			}
		),
		"exists only on some CRM versions",
	),
	"CRM handler passes the doc to a helper that reads a missing field": (
		checks.check_field_reads,
		dict(
			files={
				"trackflow/integrations/crm.py": "def on_deal_update(doc, method=None):\n\trun_guarded(won, doc)\n\n\n"
				"def run_guarded(handler, doc):\n\thandler(doc)\n\n\n"
				"def won(deal):\n\treturn total(deal)\n\n\n"
				"def total(d):\n\treturn d.amount_total\n"
			}
		),
		"d.amount_total is not a field of CRM Deal",
	),
	"Frappe test at the package root": (
		checks.check_structure,
		dict(files={"trackflow/test_jobs.py": "def test_x():\n\tpass\n"}),
		"Frappe tests must live in a subpackage",
	),
	"module shadowing a package": (
		checks.check_structure,
		dict(files={"trackflow/integrations.py": "X = 1\n"}),
		"shadows the package integrations/",
	),
	"the same function written twice": (
		checks.check_structure,
		dict(
			files={
				"trackflow/a.py": "def norm(x):\n\ty = x.strip()\n\tz = y.lower()\n\tw = z.replace(' ', '')\n\treturn w\n",
				"trackflow/b.py": "def tidy(s):\n\ty = s.strip()\n\tz = y.lower()\n\tw = z.replace(' ', '')\n\treturn w\n",
			}
		),
		"implemented more than once",
	),
	"one function name defined in two modules": (
		checks.check_structure,
		dict(
			files={
				"trackflow/a.py": "def settings():\n\treturn 1\n",
				"trackflow/b.py": "def settings():\n\treturn 2\n",
			}
		),
		"settings() is defined in several modules",
	),
	"one function name in two packages": (
		checks.check_structure,
		dict(
			files={
				"trackflow/api/widgets.py": "def widget_total():\n\treturn 1\n",
				"trackflow/integrations/widgets.py": "def widget_total():\n\treturn 2\n",
			}
		),
		"widget_total() is defined in several modules",
	),
	"import of a module that does not exist": (
		checks.check_imports,
		dict(
			files={
				"trackflow/tasks.py": "from trackflow.integrations import crm_ui\n\n\ndef hourly():\n\tpass\n\n\ndef every_minute():\n\tpass\n"
			}
		),
		"imports crm_ui from trackflow.integrations, which does not define it",
	),
	"import of a name a module does not define": (
		checks.check_imports,
		dict(
			files={
				"trackflow/tasks.py": "from trackflow.permissions import has_permission\n\n\ndef hourly():\n\tpass\n\n\ndef every_minute():\n\tpass\n"
			}
		),
		"imports has_permission from trackflow.permissions",
	),
	"README missing a whitelisted method": (
		checks.check_readme_api,
		dict(files={"README.md": "# x\n\n## API\n\n| `trackflow.api.links.create_link` | |\n"}),
		"README API does not list trackflow.api.links.collect",
	),
	"README listing a method that does not exist": (
		checks.check_readme_api,
		dict(
			files={
				"README.md": CLEAN_FILES["README.md"].replace(
					"## Other", "`trackflow.api.links.gone`\n\n## Other"
				)
			}
		),
		"trackflow.api.links.gone, which is not a whitelisted method",
	),
}


@pytest.mark.parametrize("defect", DEFECTS, ids=str)
def test_each_check_catches_its_defect(tmp_path, defect):
	check, fixture, expected = DEFECTS[defect]
	files = dict(fixture.get("files") or {})
	removed = [rel for rel, text in files.items() if text is None]
	root = make_app(
		tmp_path,
		files={k: v for k, v in files.items() if v is not None},
		**{k: v for k, v in fixture.items() if k != "files"},
	)
	for rel in removed:
		(root / rel).unlink()
	problems = check(root)
	assert any(expected in p for p in problems), f"{check.__name__} missed {defect!r}: {problems}"


def test_sibling_modules_of_a_subpackage_may_share_an_interface(tmp_path):
	root = make_app(
		tmp_path,
		files={
			"trackflow/engine/__init__.py": "",
			"trackflow/engine/platforms/__init__.py": "",
			"trackflow/engine/platforms/meta.py": "def build_event(x):\n\treturn {'meta': x}\n",
			"trackflow/engine/platforms/ga4.py": "def build_event(x):\n\treturn {'ga4': x}\n",
		},
	)
	assert checks.check_structure(root) == []


def test_guarded_newer_stdlib_and_helpers_pass(tmp_path):
	root = make_app(
		tmp_path,
		files={
			"trackflow/compat.py": (
				"import sys\n\nif sys.version_info >= (3, 11):\n\timport tomllib\nelse:\n\timport tomli as tomllib\n"
				"try:\n\tfrom typing import Self\nexcept ImportError:\n\tSelf = object\n"
				"match sys.platform:\n\tcase _:\n\t\tpass\n"
			),
			"trackflow/links.py": "import frappe\n\n\ndef url(name):\n"
			'\treturn frappe.utils.get_url_to_form("Widget", name), frappe.get_all("Widget", fields=["name as id"])\n',
			"trackflow/public/js/go.js": 'frappe.set_route("Form", "Widget", name); // was /app/widget\n',
		},
		hooks=CLEAN_HOOKS.replace('"name": "trackflow",', '"name": "trackflow", "route": "/desk/trackflow",'),
	)
	assert checks.check_python_versions(root) == []
	assert checks.check_desk_routes(root) == []
	assert checks.check_query_field_strings(root) == []


def test_a_guest_method_may_count_its_limits_in_its_queue_push(tmp_path):
	own_limit = CLEAN_FILES["trackflow/api/links.py"].replace(
		"@rate_limit(limit=100, seconds=60)\ndef collect() -> None:\n\treturn None",
		'def collect() -> None:\n\tqueues.enqueue("collect", {}, [("key", 600)])',
	)
	assert "queues.enqueue" in own_limit
	root = make_app(tmp_path, files={"trackflow/api/links.py": own_limit})
	assert not [p for p in checks.check_whitelisted_methods(root) if "rate_limit" in p]


def report_files(role: str, target: str) -> dict:
	return {
		"trackflow/trackflow/report/__init__.py": "",
		"trackflow/trackflow/report/widgets/__init__.py": "",
		"trackflow/trackflow/report/widgets/widgets.json": json.dumps(
			{"doctype": "Report", "name": "Widgets", "module": "TrackFlow", "roles": [{"role": role}]}
		),
		"trackflow/trackflow/report/widgets/widgets.py": (
			"def execute(filters=None):\n"
			f'\treturn [{{"fieldname": "w", "fieldtype": "Link", "options": "{target}"}}], []\n'
		),
	}


def test_a_report_link_column_must_point_where_every_role_of_the_report_reads(tmp_path):
	assert (
		checks.check_report_links(make_app(tmp_path / "ok", files=report_files("Campaign Manager", "Widget")))
		== []
	)
	(problem,) = checks.check_report_links(
		make_app(tmp_path / "role", files=report_files("Sales User", "Widget"))
	)
	assert "Link column to Widget, which Sales User (a role of the report) cannot read" in problem
	(problem,) = checks.check_report_links(
		make_app(tmp_path / "other", files=report_files("Campaign Manager", "Currency"))
	)
	assert "Link column to 'Currency', not a doctype of the app" in problem
