"""Static integrity checks of the Frappe layer, by reading files (AST, JSON), never importing frappe.

Each check takes the repository root and returns a list of problems (strings naming file and defect);
an empty list means the check passed. tests/integrity/test_app.py runs them on this repository and
tests/integrity/test_checks.py proves, on small broken fixture apps, that each one catches its defect.
"""

from __future__ import annotations

import ast
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from trackflow.engine import openapi

APP = "trackflow"
REFERENCE = Path(__file__).with_name("frappe_crm_reference.json")

# Frappe and CRM paths this app may name in hooks and JS. Each entry says why it is allowed: these are
# real functions in Frappe 15/16 or CRM 1.34+ that the app relies on (checked against their source).
EXTERNAL_PATHS: dict[str, str] = {
	"frappe.desk.query_report.run": "Frappe's report runner, called by report JS",
	"frappe.client.get_list": "Frappe's generic list read (permission-checked by Frappe)",
	"frappe.client.get": "Frappe's generic document read (permission-checked by Frappe)",
	"frappe.client.get_value": "Frappe's generic value read (permission-checked by Frappe)",
}

# Roles that exist on a Frappe + CRM site without TrackFlow.
STANDARD_ROLES = frozenset(
	{
		"Administrator",
		"System Manager",
		"All",
		"Guest",
		"Desk User",
		"Sales User",
		"Sales Manager",
		"Sales Master Manager",
		"Website Manager",
		"Blogger",
		"Report Manager",
		"Dashboard Manager",
		"Workspace Manager",
	}
)

# Columns every document has, and the Document API a controller may use on `self`.
STANDARD_FIELDS = frozenset(
	{
		"name", "owner", "creation", "modified", "modified_by", "docstatus", "idx", "parent",
		"parentfield", "parenttype", "doctype", "_user_tags", "_comments", "_assign", "_liked_by",
		"_seen", "amended_from",
	}
)  # fmt: skip
DOCUMENT_API = frozenset(
	{
		"flags", "meta", "get", "set", "append", "extend", "remove", "save", "insert", "delete", "reload",
		"db_set", "db_get", "db_insert", "db_update", "get_doc_before_save", "has_value_changed",
		"is_new", "is_child_table_same", "run_method", "check_permission", "has_permission",
		"add_comment", "add_tag", "get_tags", "get_title", "get_url", "as_dict", "as_json", "update",
		"get_valid_dict", "validate", "before_validate", "before_save", "before_insert", "after_insert",
		"on_update", "on_change", "on_trash", "after_delete", "on_submit", "on_cancel",
		"get_formatted", "precision", "set_new_name", "autoname", "get_value", "setdefault",
		"get_password", "is_dirty", "_doc_before_save", "notify_update", "clear_cache", "lock",
		"unlock", "queue_action", "submit", "cancel", "get_all_children", "set_onload", "get_onload",
		"_action", "round_floats_in", "load_from_db", "get_db_value", "set_user_and_timestamp",
		"validate_value", "get_children", "in_format_data", "is_locked", "add_seen", "add_viewed",
		"is_dummy_password",
	}
)  # fmt: skip

# Hooks whose values are dotted paths to callables, and what Frappe passes them.
DOC_EVENT_ARGS = 2  # handler(doc, method)
SCALAR_PATH_HOOKS = frozenset(
	{
		"before_install", "after_install", "after_migrate", "before_migrate", "before_uninstall",
		"after_uninstall", "before_tests", "boot_session", "on_session_creation", "on_logout",
		"extend_bootinfo", "before_request", "after_request", "before_job", "after_job",
		"update_website_context", "get_website_user_home_page", "auth_hooks", "before_app_install",
		"after_app_install", "before_app_uninstall", "after_app_uninstall", "page_renderer",
		"website_path_resolver", "default_log_clearing_doctypes_hook", "get_translated_dict",
	}
)  # fmt: skip
# Frappe calls these with no argument.
NO_ARGUMENT_HOOKS = frozenset(
	{"before_install", "after_install", "after_migrate", "before_migrate", "before_uninstall",
	 "after_uninstall", "before_tests"}
)  # fmt: skip
DICT_PATH_HOOKS = frozenset(
	{
		"permission_query_conditions", "has_permission", "override_doctype_class",
		"override_whitelisted_methods", "standard_queries", "get_site_info", "notification_config",
		"jinja",
	}
)  # fmt: skip
DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")
FRAPPE_FIELDNAME = re.compile(r"^[a-z_][a-z0-9_]*$")

# Top-level function names Frappe's conventions make recur (report execute, page get_context, ...).
CONVENTIONAL_NAMES = frozenset(
	{"execute", "get_context", "get_data", "get_columns", "get_chart", "get_filters", "main", "setUp",
	 "columns", "data", "chart", "summary", "report_summary", "message",
	 "tearDown", "setUpClass", "tearDownClass", "validate", "on_update", "get_permission_query_conditions",
	 "has_permission", "get_list_context"}
)  # fmt: skip


def scrub(name: str) -> str:
	return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def controller_class_name(doctype: str) -> str:
	"""Frappe derives the controller class from the DocType name by dropping spaces and dashes."""
	return doctype.replace(" ", "").replace("-", "")


@cache
def reference() -> dict:
	return json.loads(REFERENCE.read_text())


def external_doctypes() -> frozenset[str]:
	return frozenset(reference()["doctypes"])


def valid_fieldtypes() -> frozenset[str]:
	return frozenset(reference()["fieldtypes"])


# ---------------------------------------------------------------------------------------------------
# Reading the app


@dataclass
class FunctionInfo:
	module: str
	name: str
	node: ast.FunctionDef | ast.AsyncFunctionDef
	path: Path
	whitelisted: bool = False
	allow_guest: bool = False
	rate_limited: bool = False
	in_class: str | None = None


@dataclass
class App:
	root: Path
	package: Path
	modules_txt: list[str] = field(default_factory=list)
	functions: dict[str, FunctionInfo] = field(default_factory=dict)  # dotted path -> info
	classes: dict[str, ast.ClassDef] = field(default_factory=dict)
	module_names: dict[str, set[str]] = field(default_factory=dict)  # module -> top-level names
	doctypes: dict[str, dict] = field(default_factory=dict)  # name -> json
	doctype_paths: dict[str, Path] = field(default_factory=dict)
	parse_errors: list[str] = field(default_factory=list)


def _decorator_facts(node: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[bool, bool, bool]:
	whitelisted = allow_guest = rate_limited = False
	for dec in node.decorator_list:
		target = dec.func if isinstance(dec, ast.Call) else dec
		name = ast.unparse(target)
		if name in ("frappe.whitelist", "whitelist"):
			whitelisted = True
			if isinstance(dec, ast.Call):
				for kw in dec.keywords:
					if kw.arg == "allow_guest" and isinstance(kw.value, ast.Constant) and kw.value.value:
						allow_guest = True
		if name.split(".")[-1] == "rate_limit":
			rate_limited = True
	return whitelisted, allow_guest, rate_limited


def module_of(path: Path, root: Path) -> str:
	rel = path.relative_to(root).with_suffix("")
	parts = list(rel.parts)
	if parts[-1] == "__init__":
		parts.pop()
	return ".".join(parts)


def load_app(root: Path) -> App:
	root = Path(root)
	package = root / APP
	app = App(root=root, package=package)
	modules_file = package / "modules.txt"
	if modules_file.exists():
		app.modules_txt = [line.strip() for line in modules_file.read_text().splitlines() if line.strip()]
	for path in sorted(package.rglob("*.py")):
		module = module_of(path, root)
		try:
			tree = ast.parse(path.read_text(), filename=str(path))
		except SyntaxError as e:
			app.parse_errors.append(f"{path.relative_to(root)}: syntax error: {e}")
			continue
		names = app.module_names.setdefault(module, set())
		for node in openapi.module_level(tree.body):
			if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
				names.add(node.name)
				w, g, r = _decorator_facts(node)
				app.functions[f"{module}.{node.name}"] = FunctionInfo(module, node.name, node, path, w, g, r)
			elif isinstance(node, ast.ClassDef):
				names.add(node.name)
				app.classes[f"{module}.{node.name}"] = node
				for item in node.body:
					if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
						w, g, r = _decorator_facts(item)
						app.functions[f"{module}.{node.name}.{item.name}"] = FunctionInfo(
							module, item.name, item, path, w, g, r, in_class=node.name
						)
			elif isinstance(node, ast.Assign | ast.AnnAssign):
				targets = node.targets if isinstance(node, ast.Assign) else [node.target]
				names.update(t.id for t in targets if isinstance(t, ast.Name))
			elif isinstance(node, ast.ImportFrom | ast.Import):
				names.update((a.asname or a.name).split(".")[0] for a in node.names)
	for path in sorted(package.glob("*/doctype/*/*.json")):
		if path.stem != path.parent.name:
			continue
		try:
			data = json.loads(path.read_text())
		except ValueError as e:
			app.parse_errors.append(f"{path.relative_to(root)}: invalid JSON: {e}")
			continue
		if isinstance(data, dict) and data.get("doctype") == "DocType":
			app.doctypes[data.get("name", path.stem)] = data
			app.doctype_paths[data.get("name", path.stem)] = path
	return app


def resolve(app: App, dotted: str) -> FunctionInfo | ast.ClassDef | str | None:
	"""What a dotted path names in this app: a function, a class, a module-level name, or None."""
	if dotted in app.functions:
		return app.functions[dotted]
	if dotted in app.classes:
		return app.classes[dotted]
	module, _, attr = dotted.rpartition(".")
	if attr in app.module_names.get(module, ()):
		return attr
	return None


def hooks_literals(app: App) -> tuple[dict, list[str]]:
	"""Module-level literal assignments of hooks.py, and problems reading it."""
	path = app.package / "hooks.py"
	if not path.exists():
		return {}, [f"{APP}/hooks.py is missing"]
	values, problems = {}, []
	for node in ast.parse(path.read_text()).body:
		if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
			try:
				values[node.targets[0].id] = ast.literal_eval(node.value)
			except ValueError:
				problems.append(f"hooks.py: {node.targets[0].id} is not a literal (hooks must be plain data)")
	return values, problems


def _positional_capacity(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[int, int]:
	"""(required, maximum) positional arguments; maximum is large with *args."""
	args = fn.args
	positional = len(args.posonlyargs) + len(args.args)
	required = positional - len(args.defaults)
	return required, (1_000 if args.vararg else positional)


# ---------------------------------------------------------------------------------------------------
# Checks


def check_hooks(root: Path) -> list[str]:
	"""Every dotted path in hooks.py resolves in this app (with the right arity) or is allow-listed."""
	app = load_app(root)
	hooks, problems = hooks_literals(app)
	problems = problems + app.parse_errors

	def check_path(dotted: str, where: str, args: int | None = None, whitelisted: bool = False):
		if not isinstance(dotted, str) or not DOTTED.match(dotted):
			problems.append(f"hooks.py {where}: {dotted!r} is not a dotted path")
			return
		top = dotted.split(".")[0]
		if top != APP:
			if dotted not in EXTERNAL_PATHS:
				problems.append(f"hooks.py {where}: {dotted} is outside {APP} and not on the allow-list")
			return
		target = resolve(app, dotted)
		if target is None:
			problems.append(f"hooks.py {where}: {dotted} does not exist")
			return
		if isinstance(target, FunctionInfo):
			if args is not None:
				required, maximum = _positional_capacity(target.node)
				if not required <= args <= maximum:
					problems.append(f"hooks.py {where}: {dotted} cannot be called with {args} argument(s)")
			if whitelisted and not target.whitelisted:
				problems.append(f"hooks.py {where}: {dotted} must be decorated with @frappe.whitelist")

	for name in SCALAR_PATH_HOOKS & hooks.keys():
		value = hooks[name]
		for dotted in value if isinstance(value, list | tuple) else [value]:
			check_path(dotted, name, args=0 if name in NO_ARGUMENT_HOOKS else None)
	for name in DICT_PATH_HOOKS & hooks.keys():
		for key, value in hooks[name].items():
			for dotted in value if isinstance(value, list | tuple) else [value]:
				check_path(dotted, f"{name}[{key!r}]", whitelisted=name == "override_whitelisted_methods")
			if name == "override_whitelisted_methods":
				check_path(key, f"{name} key")
			elif key not in external_doctypes() | app.doctypes.keys() and name != "jinja":
				problems.append(f"hooks.py {name}: {key!r} is not a known DocType")
	for doctype, events in (hooks.get("doc_events") or {}).items():
		if doctype != "*" and doctype not in external_doctypes() | app.doctypes.keys():
			problems.append(f"hooks.py doc_events: {doctype!r} is not a known DocType")
		for event, value in events.items():
			for dotted in value if isinstance(value, list | tuple) else [value]:
				check_path(dotted, f"doc_events[{doctype!r}][{event!r}]", args=DOC_EVENT_ARGS)
	for frequency, value in (hooks.get("scheduler_events") or {}).items():
		entries = value.items() if isinstance(value, dict) else [(frequency, value)]
		for key, paths in entries:
			for dotted in paths:
				check_path(dotted, f"scheduler_events[{key!r}]", args=0)
	for i, tile in enumerate(hooks.get("add_to_apps_screen") or []):
		if "has_permission" in tile:
			check_path(tile["has_permission"], f"add_to_apps_screen[{i}].has_permission", args=0)
	for i, entry in enumerate(hooks.get("user_data_fields") or []):
		doctype = entry.get("doctype")
		if doctype not in external_doctypes() | app.doctypes.keys():
			problems.append(f"hooks.py user_data_fields[{i}]: {doctype!r} is not a known DocType")
		elif doctype in app.doctypes:
			fieldnames = {f["fieldname"] for f in app.doctypes[doctype].get("fields", [])} | STANDARD_FIELDS
			for key in ("filter_by", "redact_fields"):
				wanted = entry.get(key) or []
				for fieldname in [wanted] if isinstance(wanted, str) else wanted:
					if fieldname not in fieldnames:
						problems.append(
							f"hooks.py user_data_fields[{i}]: {doctype} has no field {fieldname!r}"
						)
	for kind in ("doctype_js", "doctype_list_js"):
		for doctype, rel in (hooks.get(kind) or {}).items():
			for file in rel if isinstance(rel, list) else [rel]:
				if not (app.package / file).exists():
					problems.append(f"hooks.py {kind}[{doctype!r}]: {file} does not exist")
	if "crm" not in [app.rpartition("/")[2] for app in hooks.get("required_apps") or []]:
		problems.append("hooks.py: required_apps must name crm")
	return problems


def check_doctypes(root: Path) -> list[str]:
	"""Every DocType JSON is well-formed, in a listed module, with valid fields, links and controller."""
	app = load_app(root)
	problems = list(app.parse_errors)
	known = external_doctypes() | app.doctypes.keys()
	fieldtypes = valid_fieldtypes()
	roles = STANDARD_ROLES | _app_roles(app)
	for path in sorted(app.package.glob("*/doctype/*/")):
		if not path.is_dir() or path.name == "__pycache__":
			continue
		rel = path.relative_to(root)
		if not (path / "__init__.py").exists():
			problems.append(f"{rel}: missing __init__.py")
		if not (path / f"{path.name}.json").exists():
			problems.append(f"{rel}: no {path.name}.json")
	for module_dir in {p.parent.parent for p in app.package.glob("*/doctype/*/")}:
		for folder in (module_dir, module_dir / "doctype"):
			if not (folder / "__init__.py").exists():
				problems.append(f"{folder.relative_to(root)}: missing __init__.py")
	for name, data in app.doctypes.items():
		path = app.doctype_paths[name]
		rel = path.relative_to(root)
		if scrub(name) != path.parent.name:
			problems.append(f"{rel}: name {name!r} does not match its folder {path.parent.name!r}")
		module = data.get("module")
		if module not in app.modules_txt:
			problems.append(f"{rel}: module {module!r} is not in modules.txt")
		elif path.parent.parent.parent.name != scrub(module):
			problems.append(f"{rel}: lives outside the folder of its module {module!r}")
		fields = data.get("fields", [])
		fieldnames = [f.get("fieldname") for f in fields]
		for dup in sorted({n for n in fieldnames if fieldnames.count(n) > 1}):
			problems.append(f"{rel}: duplicate fieldname {dup!r}")
		if "field_order" in data and sorted(data["field_order"]) != sorted(fieldnames):
			problems.append(f"{rel}: field_order does not list exactly the fields")
		by_name = {f.get("fieldname"): f for f in fields}
		for f in fields:
			fname, ftype = f.get("fieldname"), f.get("fieldtype")
			where = f"{rel} field {fname!r}"
			if not isinstance(fname, str) or not FRAPPE_FIELDNAME.match(fname):
				problems.append(f"{where}: invalid fieldname")
			elif fname in STANDARD_FIELDS:
				problems.append(f"{where}: clashes with a standard column")
			if ftype not in fieldtypes:
				problems.append(f"{where}: unknown fieldtype {ftype!r}")
			if ftype == "Data" and int(f.get("length") or 0) > 1000:
				problems.append(f"{where}: Data length above Frappe's limit of 1000 (use Small Text)")
			options = (f.get("options") or "").strip()
			if ftype in ("Link", "Table", "Table MultiSelect"):
				if options not in known:
					problems.append(f"{where}: {ftype} to unknown DocType {options!r}")
				elif ftype != "Link" and options in app.doctypes and not app.doctypes[options].get("istable"):
					problems.append(f"{where}: {ftype} to {options!r}, which is not a child table")
			if ftype == "Dynamic Link":
				target = by_name.get(options)
				if (
					not target
					or target.get("fieldtype") not in ("Link", "Select")
					or (target.get("fieldtype") == "Link" and target.get("options") != "DocType")
				):
					problems.append(f"{where}: Dynamic Link options must name a Link-to-DocType field")
			if ftype == "Link" and data.get("issingle") and f.get("default") and options in app.doctypes:
				# Frappe saves every new single with its defaults (installer.init_singles) before the app's
				# after_install runs, so a default naming one of this app's records fails link validation.
				problems.append(f"{where}: a single's Link default to {options!r} breaks install-app")
			if ftype == "Select" and f.get("default") not in (None, ""):
				if str(f["default"]) not in options.split("\n"):
					problems.append(f"{where}: default {f['default']!r} is not one of its options")
		for perm in data.get("permissions", []):
			if perm.get("role") not in roles:
				problems.append(f"{rel}: permission for unknown role {perm.get('role')!r}")
		if not data.get("istable") and not data.get("permissions"):
			problems.append(f"{rel}: no permissions (every DocType states who may use it)")
		controller = path.with_suffix(".py")
		cls = controller_class_name(name)
		if not controller.exists():
			problems.append(f"{rel}: controller {controller.name} is missing")
		elif f"{module_of(controller, root)}.{cls}" not in app.classes:
			problems.append(
				f"{controller.relative_to(root)}: no class {cls} (Frappe derives it from the name)"
			)
	for path in sorted(app.package.glob("*/*/*/*.json")):
		if "doctype" in path.parts or path.stem != path.parent.name:
			continue
		data = json.loads(path.read_text())
		rel = path.relative_to(root)
		if isinstance(data, dict) and data.get("doctype") in (
			"Workspace", "Report", "Number Card", "Dashboard Chart", "Print Format", "Dashboard"
		):  # fmt: skip
			if data.get("module") not in app.modules_txt:
				problems.append(f"{rel}: module {data.get('module')!r} is not in modules.txt")
			for shortcut in data.get("shortcuts", []):
				if shortcut.get("type") == "DocType" and shortcut.get("link_to") not in known:
					problems.append(f"{rel}: shortcut to unknown DocType {shortcut.get('link_to')!r}")
			for key in ("ref_doctype", "document_type"):
				if data.get(key) and data[key] not in known:
					problems.append(f"{rel}: {key} {data[key]!r} is not a known DocType")
	return problems


def _app_roles(app: App) -> set[str]:
	"""Role names the app creates: string constants in permissions.py and install.py."""
	roles = set()
	for rel in ("permissions.py", "install.py"):
		path = app.package / rel
		if path.exists():
			for node in ast.walk(ast.parse(path.read_text())):
				if (
					isinstance(node, ast.Assign)
					and isinstance(node.value, ast.Constant)
					and isinstance(node.value.value, str)
					and any(isinstance(t, ast.Name) and t.id.isupper() for t in node.targets)
				):
					roles.add(node.value.value)
	return roles


JS_METHOD_PATTERNS = (
	re.compile(r"""\bmethod\s*:\s*["'`]([\w.]+)["'`]"""),
	re.compile(
		r"""\b(?:frappe\.call|frappe\.xcall|call|createResource|createListResource)\(\s*["'`]([\w.]+)["'`]"""
	),
	re.compile(r"""/api/method/([\w.]+)"""),
	re.compile(r"""\burl\s*:\s*["'`]([\w]+\.[\w.]+)["'`]"""),
)


def js_sources(app: App) -> list[tuple[Path, str]]:
	"""JS that calls the server: .js/.vue/.html files (CRM form scripts are kept as .js files too)."""
	return [
		(path, path.read_text())
		for path in sorted(app.package.rglob("*"))
		if path.suffix in (".js", ".vue", ".html") and "node_modules" not in path.parts
	]


def check_js_calls(root: Path) -> list[str]:
	"""Every server method named in JS exists and is whitelisted (or is an allow-listed Frappe method)."""
	app = load_app(root)
	problems = list(app.parse_errors)
	for path, text in js_sources(app):
		for pattern in JS_METHOD_PATTERNS:
			for match in pattern.finditer(text):
				dotted = match.group(1)
				if not DOTTED.match(dotted):
					continue
				rel = path.relative_to(root)
				top = dotted.split(".")[0]
				if top != APP:
					if top in ("frappe", "crm") and dotted not in EXTERNAL_PATHS:
						problems.append(f"{rel}: calls {dotted}, which is not on the allow-list")
					continue
				target = resolve(app, dotted)
				if not isinstance(target, FunctionInfo):
					problems.append(f"{rel}: calls {dotted}, which does not exist")
				elif not target.whitelisted:
					problems.append(f"{rel}: calls {dotted}, which is not @frappe.whitelist()-ed")
	return problems


# The calls that check a permission: one list, the OpenAPI description's (it states them per method).
PERMISSION_CALLS = openapi.PERMISSION_CALLS


def check_whitelisted_methods(root: Path) -> list[str]:
	"""Guest methods are rate-limited; whitelisted methods are typed and check permissions."""
	app = load_app(root)
	problems = list(app.parse_errors)
	module_functions = defaultdict(dict)
	for info in app.functions.values():
		if info.in_class is None:
			module_functions[info.module][info.name] = info

	def calls(node: ast.AST) -> set[str]:
		return {
			(n.func.attr if isinstance(n.func, ast.Attribute) else getattr(n.func, "id", ""))
			for n in ast.walk(node)
			if isinstance(n, ast.Call)
		}

	for _, info in sorted(app.functions.items()):
		if not info.whitelisted:
			continue
		rel = f"{info.path.relative_to(root)}:{info.node.lineno} {info.name}"
		if info.allow_guest and not info.rate_limited and not _limits_its_push(info.node):
			problems.append(f"{rel}: guest method without @rate_limit (or a rate-limited queue push)")
		args = info.node.args
		params = [a for a in args.posonlyargs + args.args + args.kwonlyargs if a.arg not in ("self", "cls")]
		untyped = [a.arg for a in params if a.annotation is None]
		if untyped:
			problems.append(f"{rel}: untyped argument(s) {', '.join(untyped)} (Frappe validates typed args)")
		if args.vararg or args.kwarg:
			# Frappe 16's require_type_annotated_api_methods skips them, so they would take anything
			problems.append(f"{rel}: *args/**kwargs on a whitelisted method (name and type every argument)")
		if info.node.returns is None:
			problems.append(f"{rel}: no return annotation (Frappe 16 apps annotate every API method fully)")
		if info.in_class or info.allow_guest:
			continue  # document methods: Frappe checks the doc's permission; guest: validated and limited
		called = calls(info.node)
		helpers = [module_functions[info.module][c] for c in called if c in module_functions[info.module]]
		for helper in helpers:
			called |= calls(helper.node)
		if not called & PERMISSION_CALLS:
			problems.append(f"{rel}: whitelisted method never checks permission")
	return problems


def _self_reads(cls: ast.ClassDef) -> set[tuple[str, int]]:
	defined = {n.name for n in cls.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
	defined |= {
		t.attr
		for n in ast.walk(cls)
		if isinstance(n, ast.Assign | ast.AugAssign | ast.AnnAssign)
		for t in (n.targets if isinstance(n, ast.Assign) else [n.target])
		if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self"
	}
	reads = set()
	for node in ast.walk(cls):
		if (
			isinstance(node, ast.Attribute)
			and isinstance(node.ctx, ast.Load)
			and isinstance(node.value, ast.Name)
			and node.value.id == "self"
			and node.attr not in defined
		):
			reads.add((node.attr, node.lineno))
	return reads


def crm_fields(doctype: str) -> tuple[set[str], set[str]]:
	"""(fields on every CRM version we support, fields on some version) of a CRM doctype."""
	versions = [v.get(doctype, {}) for v in reference()["crm_fields"].values()]
	present = [set(v) for v in versions if v]
	if not present:
		return set(), set()
	return set.intersection(*present), set.union(*present)


def check_field_reads(root: Path, custom_fields: dict[str, set[str]] | None = None) -> list[str]:
	"""Fields a controller reads on self, or a CRM doc_event handler reads on doc, exist.

	On CRM doctypes a handler may read `doc.<field>` only for fields every supported CRM version has;
	version-specific fields (deal_value, closed_date...) must be read with doc.get() after a meta check.
	"""
	app = load_app(root)
	problems = list(app.parse_errors)
	for name, path in app.doctype_paths.items():
		controller = path.with_suffix(".py")
		cls = app.classes.get(f"{module_of(controller, root)}.{controller_class_name(name)}")
		if cls is None:
			continue
		fieldnames = {f.get("fieldname") for f in app.doctypes[name].get("fields", [])}
		allowed = fieldnames | STANDARD_FIELDS | DOCUMENT_API
		for attr, line in sorted(_self_reads(cls)):
			if attr not in allowed and not attr.startswith("__"):
				problems.append(
					f"{controller.relative_to(root)}:{line}: reads self.{attr}, not a field of {name}"
				)
	hooks, _ = hooks_literals(app)
	custom_fields = custom_fields if custom_fields is not None else _custom_fields(app)
	for doctype, events in (hooks.get("doc_events") or {}).items():
		every, some = crm_fields(doctype)
		if not some:
			continue
		own = custom_fields.get(doctype, set())
		for value in events.values():
			for dotted in value if isinstance(value, list | tuple) else [value]:
				info = app.functions.get(dotted)
				if info is None or not info.node.args.args:
					continue
				for reader, doc_arg in _doc_readers(app, info, info.node.args.args[0].arg):
					problems += _doc_attribute_problems(root, reader, doc_arg, doctype, every, some, own)
	return problems


def _doc_readers(app: App, info: FunctionInfo, doc_arg: str) -> list[tuple[FunctionInfo, str]]:
	"""The handler, and the functions of its module it hands the document to (as first argument), deeply."""
	found, todo, seen = [], [(info, doc_arg)], set()
	while todo:
		current, arg = todo.pop()
		if current.name in seen:
			continue
		seen.add(current.name)
		found.append((current, arg))
		for node in ast.walk(current.node):
			if not isinstance(node, ast.Call):
				continue
			args = list(node.args)
			if isinstance(node.func, ast.Name) and node.func.id in ("run_guarded",) and len(args) > 1:
				callee, passed = args[0], args[1]  # run_guarded(handler, doc)
			else:
				callee, passed = node.func, args[0] if args else None
			if not (isinstance(callee, ast.Name) and isinstance(passed, ast.Name) and passed.id == arg):
				continue
			target = app.functions.get(f"{current.module}.{callee.id}")
			if target and target.node.args.args:
				todo.append((target, target.node.args.args[0].arg))
	return found


def _doc_attribute_problems(root, info, doc_arg, doctype, every, some, own) -> list[str]:
	"""Attribute reads `doc_arg.<field>` in one function that the CRM doctype may not have."""
	problems = []
	for node in ast.walk(info.node):
		if not (
			isinstance(node, ast.Attribute)
			and isinstance(node.ctx, ast.Load)
			and isinstance(node.value, ast.Name)
			and node.value.id == doc_arg
		):
			continue
		attr = node.attr
		if attr in every or attr in own or attr in STANDARD_FIELDS or attr in DOCUMENT_API:
			continue
		where = f"{info.path.relative_to(root)}:{node.lineno}"
		if attr in some:
			problems.append(
				f"{where}: {doc_arg}.{attr} exists only on some CRM versions of {doctype}: "
				"use doc.get() after checking the meta"
			)
		else:
			problems.append(f"{where}: {doc_arg}.{attr} is not a field of {doctype}")
	return problems


def _custom_fields(app: App) -> dict[str, set[str]]:
	"""Custom fields the app adds to CRM doctypes (integrations/crm_custom_fields.json: doctype -> fieldnames)."""
	path = app.package / "integrations" / "crm_custom_fields.json"
	if not path.exists():
		return {}
	data = json.loads(path.read_text())
	names = {field["fieldname"] for field in data.get("fields", [])}
	return dict.fromkeys(data.get("insert_after", {}), names)


def _body_fingerprint(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
	body = node.body
	if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
		body = body[1:]  # a docstring does not make two implementations different
	if sum(1 for n in body for _ in ast.walk(n) if isinstance(_, ast.stmt)) < 4:
		return None
	# Local names are renamed in order of appearance, so a copy with other variable names still matches.
	names: dict[str, str] = {a.arg: f"a{i}" for i, a in enumerate(node.args.args)}
	module = ast.Module(body=[ast.parse(ast.unparse(n)).body[0] for n in body], type_ignores=[])
	for n in ast.walk(module):
		if isinstance(n, ast.Name):
			n.id = names.setdefault(n.id, f"v{len(names)}")
	return ast.dump(module, annotate_fields=False)


def check_structure(root: Path) -> list[str]:
	"""No module shadows a package; no function is implemented twice across modules."""
	app = load_app(root)
	problems = list(app.parse_errors)
	for path in sorted(app.package.glob("test_*.py")):
		# Frappe 15's test runner names a test file at the package root after the app itself, so it never runs
		problems.append(
			f"{path.relative_to(root)}: Frappe tests must live in a subpackage (e.g. {APP}/tests/)"
		)
	for path in sorted(app.package.rglob("*.py")):
		if path.stem != "__init__" and (path.parent / path.stem).is_dir():
			problems.append(f"{path.relative_to(root)}: shadows the package {path.stem}/ beside it")
	by_body: dict[str, list[FunctionInfo]] = defaultdict(list)
	by_name: dict[str, list[FunctionInfo]] = defaultdict(list)
	for info in app.functions.values():
		if info.path.name.startswith("test_"):
			continue
		fingerprint = _body_fingerprint(info.node)
		if fingerprint:
			by_body[fingerprint].append(info)
		if info.in_class is None and not info.name.startswith("_") and info.name not in CONVENTIONAL_NAMES:
			by_name[info.name].append(info)
	for infos in by_body.values():
		if len({(i.module, i.in_class) for i in infos}) > 1:
			places = ", ".join(f"{i.module}.{i.name}" for i in infos)
			problems.append(f"the same function body is implemented more than once: {places}")
	for name, infos in sorted(by_name.items()):
		modules = sorted({i.module for i in infos})
		packages = {m.rpartition(".")[0] for m in modules}
		if len(packages) == 1 and packages != {APP}:
			continue  # sibling modules of one subpackage implementing one interface (e.g. one per platform)
		if len(modules) > 1:
			problems.append(f"function {name}() is defined in several modules: {', '.join(modules)}")
	return problems


def check_imports(root: Path) -> list[str]:
	"""Every `import trackflow.x` / `from trackflow.x import y` in the app names a module (and a name in
	it) that exists: a missing one breaks `bench migrate` on a site, where Frappe imports every module."""
	app = load_app(root)
	problems = list(app.parse_errors)
	modules = set(app.module_names)
	for path in sorted(app.package.rglob("*.py")):
		tree = ast.parse(path.read_text(), filename=str(path))
		for node in ast.walk(tree):
			if isinstance(node, ast.Import):
				targets = [(alias.name, None) for alias in node.names]
			elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
				targets = [(node.module, alias.name) for alias in node.names]
			else:
				continue
			for module, name in targets:
				if module.split(".")[0] != APP:
					continue
				where = f"{path.relative_to(root)}:{node.lineno}"
				if module not in modules:
					problems.append(f"{where}: imports {module}, which does not exist")
				elif name and name not in app.module_names[module] and f"{module}.{name}" not in modules:
					problems.append(f"{where}: imports {name} from {module}, which does not define it")
	return problems


# Desk paths moved from /app (Frappe 15) to /desk (Frappe 16); each redirects the other's with a full page
# load. Code builds desk URLs with Frappe's helpers (get_url_to_form, frappe.set_route, get_form_link).
DESK_PATH = re.compile(r"(?<![\w.\-/])/(?:app|desk)(?=/|$|[?#\s\"'`])")
JS_DESK_PATH = re.compile(r"""["'`]/(?:app|desk)(?=[/?#"'`])""")
# The apps-screen tile route is a literal path Frappe puts in an href: /desk/... (v16's own; Frappe 15
# redirects /desk/* to /app/* in its website_redirects), never /app/....
TILE_ROUTE_HOOKS = ("app_icon_route", "add_to_apps_screen")


def _string_constants(tree: ast.AST):
	"""(line, text) of every string literal, f-string parts included."""
	for node in ast.walk(tree):
		if isinstance(node, ast.Constant) and isinstance(node.value, str):
			yield node.lineno, node.value


def _tile_route_nodes(tree: ast.Module) -> set[int]:
	"""ids of the string nodes that are the tile routes in hooks.py."""
	found = set()
	for node in tree.body:
		if not (
			isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
		):
			continue
		name = node.targets[0].id
		if name == "app_icon_route" and isinstance(node.value, ast.Constant):
			found.add(id(node.value))
		elif name == "add_to_apps_screen":
			for item in ast.walk(node.value):
				if isinstance(item, ast.Dict):
					for key, value in zip(item.keys, item.values, strict=False):
						if isinstance(key, ast.Constant) and key.value == "route":
							found.add(id(value))
	return found


def _json_strings(value):
	if isinstance(value, str):
		yield value
	elif isinstance(value, dict):
		for item in value.values():
			yield from _json_strings(item)
	elif isinstance(value, list):
		for item in value:
			yield from _json_strings(item)


def check_desk_routes(root: Path) -> list[str]:
	"""No hard-coded /app/... or /desk/... desk URL in the app's Python, JS, HTML or JSON."""
	package = Path(root) / APP
	problems = []
	for path in sorted(package.rglob("*")):
		if not path.is_file() or "node_modules" in path.parts or "__pycache__" in path.parts:
			continue
		rel = path.relative_to(root)
		if path.suffix == ".py":
			try:
				tree = ast.parse(path.read_text(), filename=str(path))
			except SyntaxError:
				continue  # reported by the other checks
			tiles = _tile_route_nodes(tree) if path == package / "hooks.py" else set()
			for node in ast.walk(tree):
				if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
					continue
				if id(node) in tiles:
					if re.match(r"/app(?:/|$)", node.value):
						problems.append(
							f"{rel}:{node.lineno}: tile route {node.value!r}: use /desk/... (see checks)"
						)
				elif DESK_PATH.search(node.value):
					problems.append(f"{rel}:{node.lineno}: hard-coded desk path in {node.value!r}")
		elif path.suffix in (".js", ".vue", ".html", ".ts"):
			for number, line in enumerate(path.read_text().splitlines(), 1):
				if JS_DESK_PATH.search(line):
					problems.append(f"{rel}:{number}: hard-coded desk path: {line.strip()[:100]}")
		elif path.suffix == ".json":
			try:
				data = json.loads(path.read_text())
			except ValueError:
				continue
			for text in _json_strings(data):
				if DESK_PATH.search(text):
					problems.append(f"{rel}: hard-coded desk path in {text[:100]!r}")
	return problems


# Frappe 16 runs get_all/get_list/get_value through its query builder, which refuses SQL in field strings
# ("count(name) as n", "sum(x)"): aggregates are written with frappe.qb and frappe.query_builder.functions.
QUERY_METHODS = {"get_all": 1, "get_list": 1, "get_values": 2, "get_value": 2, "get_cached_value": 2}
QUERY_KEYWORDS = ("fields", "fieldname", "pluck", "group_by", "order_by")
SQL_FUNCTION = re.compile(r"[A-Za-z_]\w*\s*\(")


def check_query_field_strings(root: Path) -> list[str]:
	"""No SQL function call inside the field, pluck, group_by or order_by strings of frappe.get_all & co."""
	app = load_app(root)
	problems = list(app.parse_errors)
	for path in sorted(app.package.rglob("*.py")):
		try:
			tree = ast.parse(path.read_text(), filename=str(path))
		except SyntaxError:
			continue
		for node in ast.walk(tree):
			if not isinstance(node, ast.Call):
				continue
			name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
			if name not in QUERY_METHODS:
				continue
			values = [kw.value for kw in node.keywords if kw.arg in QUERY_KEYWORDS]
			if len(node.args) > QUERY_METHODS[name]:
				values.append(node.args[QUERY_METHODS[name]])
			for value in values:
				for line, text in _string_constants(value):
					if SQL_FUNCTION.search(text):
						problems.append(
							f"{path.relative_to(root)}:{line}: SQL in {name}() field string {text!r} "
							"(Frappe 16 refuses it: use frappe.qb with query_builder.functions)"
						)
	return problems


# Python 3.10 through 3.14: no syntax newer than 3.10, no module 3.12-3.14 removed, and no name added after
# 3.10 outside a version or import guard.
OLDEST_PYTHON = (3, 10)
REMOVED_MODULES = frozenset(
	{
		"distutils", "imp", "asynchat", "asyncore", "smtpd", "aifc", "audioop", "cgi", "cgitb", "chunk",
		"crypt", "imghdr", "mailcap", "msilib", "nis", "nntplib", "ossaudiodev", "pipes", "sndhdr", "spwd",
		"sunau", "telnetlib", "uu", "xdrlib", "lib2to3",
	}
)  # fmt: skip
NEWER_MODULES = frozenset({"tomllib"})  # 3.11
NEWER_NAMES = {
	"datetime": {"UTC"},
	"enum": {"StrEnum", "ReprEnum", "verify", "EnumCheck", "global_enum"},
	"typing": {
		"Self", "Never", "LiteralString", "Required", "NotRequired", "assert_never", "assert_type",
		"reveal_type", "TypeVarTuple", "Unpack", "dataclass_transform", "override", "TypeIs", "ReadOnly",
		"TypeAliasType", "get_protocol_members", "is_protocol", "NoDefault",
	},
	"itertools": {"batched"},
	"asyncio": {"TaskGroup", "timeout", "timeout_at", "Runner"},
	"hashlib": {"file_digest"},
	"contextlib": {"chdir"},
	"operator": {"call"},
	"builtins": {"ExceptionGroup", "BaseExceptionGroup"},
}  # fmt: skip
GUARD_EXCEPTIONS = frozenset({"ImportError", "ModuleNotFoundError", "AttributeError", "NameError"})


def python_files(root: Path) -> list[Path]:
	root = Path(root)
	files = sorted(root.glob("*.py"))
	for folder in (APP, "tests", "benchmarks"):
		files += sorted(p for p in (root / folder).rglob("*.py") if "node_modules" not in p.parts)
	return files


def _guarded(tree: ast.Module) -> set[int]:
	"""ids of nodes under `if sys.version_info ...`, `if TYPE_CHECKING` or `try: ... except ImportError`."""
	guarded: set[int] = set()
	for node in ast.walk(tree):
		body = []
		if isinstance(node, ast.If):
			test = ast.unparse(node.test)
			if "version_info" in test or "TYPE_CHECKING" in test:
				body = node.body + node.orelse
		elif isinstance(node, ast.Try):
			caught = set()
			for handler in node.handlers:
				if handler.type is not None:
					caught |= {n.id for n in ast.walk(handler.type) if isinstance(n, ast.Name)}
			if caught & GUARD_EXCEPTIONS:
				body = node.body
		for stmt in body:
			guarded |= {id(n) for n in ast.walk(stmt)}
	return guarded


def _module_version(rel, node: ast.AST, top: str, what: str, guarded: bool) -> list[str]:
	"""An import of a module removed from Python 3.12+, or (unguarded) one newer than the oldest Python."""
	if top in REMOVED_MODULES:
		return [f"{rel}:{node.lineno}: imports {what}, removed from Python 3.12+"]
	if top in NEWER_MODULES and not guarded:
		return [f"{rel}:{node.lineno}: imports {what}, new in Python 3.11 (guard it)"]
	return []


def check_python_versions(root: Path) -> list[str]:
	"""Every .py file parses as Python 3.10 and uses no stdlib that 3.10 lacks or 3.12-3.14 removed."""
	problems = []
	for path in python_files(root):
		rel = path.relative_to(root)
		try:
			tree = ast.parse(path.read_text(), filename=str(path), feature_version=OLDEST_PYTHON)
		except SyntaxError as e:
			problems.append(
				f"{rel}:{e.lineno}: not Python {'.'.join(map(str, OLDEST_PYTHON))} syntax: {e.msg}"
			)
			continue
		guarded = _guarded(tree)
		modules: dict[str, str] = {}  # local name -> stdlib module, for attribute uses
		for node in ast.walk(tree):
			if isinstance(node, ast.Import):
				for alias in node.names:
					top = alias.name.split(".")[0]
					modules[alias.asname or top] = top
					problems += _module_version(rel, node, top, alias.name, id(node) in guarded)
			elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
				top = node.module.split(".")[0]
				problems += _module_version(rel, node, top, f"from {node.module}", id(node) in guarded)
				newer = NEWER_NAMES.get(node.module, set())
				for alias in node.names:
					if alias.name in newer and id(node) not in guarded:
						problems.append(
							f"{rel}:{node.lineno}: {node.module}.{alias.name} is newer than Python 3.10"
						)
		for node in ast.walk(tree):
			if id(node) in guarded:
				continue
			if (
				isinstance(node, ast.Attribute)
				and isinstance(node.value, ast.Name)
				and node.attr in NEWER_NAMES.get(modules.get(node.value.id, ""), set())
			):
				problems.append(f"{rel}:{node.lineno}: {node.value.id}.{node.attr} is newer than Python 3.10")
			elif isinstance(node, ast.Name) and node.id in NEWER_NAMES["builtins"]:
				problems.append(f"{rel}:{node.lineno}: {node.id} is newer than Python 3.10")
	return problems


README_API = re.compile(r"`(trackflow(?:\.\w+)+)`")


def check_readme_api(root: Path) -> list[str]:
	"""The README's API section lists exactly the app's module-level whitelisted methods."""
	app = load_app(root)
	readme = Path(root) / "README.md"
	text = readme.read_text() if readme.exists() else ""
	match = re.search(r"^## API\b(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
	if not match:
		return ["README.md has no '## API' section"]
	listed = set(README_API.findall(match.group(1)))
	code = {dotted for dotted, info in app.functions.items() if info.whitelisted and info.in_class is None}
	problems = [f"README API lists {m}, which is not a whitelisted method" for m in sorted(listed - code)]
	problems += [f"README API does not list {m}" for m in sorted(code - listed)]
	return problems


def check_report_links(root: Path) -> list[str]:
	"""Every Link column a Script Report returns points at one of the app's doctypes that every role of the
	report may read (Frappe's query_report builds user match conditions for every Link column, so a Link to
	a doctype a role cannot read, Currency say, fails the report for that role): other targets are Data."""
	app = load_app(root)
	problems = []
	for report_json in sorted((app.package / APP).glob("report/*/*.json")):
		report = json.loads(report_json.read_text())
		roles = {row["role"] for row in report.get("roles", [])}
		source = report_json.with_suffix(".py")
		if not source.exists():
			continue
		rel = source.relative_to(root)
		for node in ast.walk(ast.parse(source.read_text())):
			if not isinstance(node, ast.Dict):
				continue
			values = {
				k.value: v.value
				for k, v in zip(node.keys, node.values, strict=True)
				if isinstance(k, ast.Constant) and isinstance(v, ast.Constant)
			}
			if values.get("fieldtype") != "Link":
				continue
			target = values.get("options")
			doctype = app.doctypes.get(target)
			if doctype is None:
				problems.append(f"{rel}:{node.lineno}: Link column to {target!r}, not a doctype of the app")
				continue
			readers = {perm["role"] for perm in doctype.get("permissions", []) if perm.get("read")}
			if roles - readers:
				problems.append(
					f"{rel}:{node.lineno}: Link column to {target}, which {', '.join(sorted(roles - readers))}"
					" (a role of the report) cannot read"
				)
	return problems


ALL_CHECKS = (
	check_report_links,
	check_hooks,
	check_doctypes,
	check_js_calls,
	check_whitelisted_methods,
	check_field_reads,
	check_structure,
	check_imports,
	check_readme_api,
	check_desk_routes,
	check_query_field_strings,
	check_python_versions,
)


def _limits_its_push(node: ast.AST) -> bool:
	"""A guest method may count its own rate limits in the queue push (`queues.enqueue(stream, record,
	limits)`: per-client and per-site limits in the push's round trip) instead of Frappe's @rate_limit."""
	for call in ast.walk(node):
		if not isinstance(call, ast.Call):
			continue
		name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
		if name == "enqueue" and (len(call.args) >= 3 or any(k.arg == "limits" for k in call.keywords)):
			return True
	return False
