"""The OpenAPI 3.1 description of the app's whitelisted methods, read from their source (never imported).

Everything comes from the code: the decorator gives the HTTP methods and whether guests may call (no
security requirement then), the annotations give the JSON Schema of each argument and of the answer (which
Frappe wraps as {"message": ...}), the docstring gives the summary and description, and the permission
checks at the top of the method give its `x-permission`. Reading source with `ast` keeps this runnable
without Frappe (CI) and inside it alike; a new typed, documented method appears without a change here.
"""

import ast
import json
import re
import textwrap
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

OPENAPI_VERSION = "3.1.0"
APP_PACKAGE = Path(__file__).resolve().parents[1]
SPEC_METHOD = "trackflow.api.docs"
# Frappe's whitelist without methods= accepts all four; the description lists the two clients use.
FRAPPE_DEFAULT_METHODS = ("GET", "POST", "PUT", "DELETE")
DEFAULT_DESCRIBED = ("GET", "POST")
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# The calls that check a permission (as tests/integrity counts them).
PERMISSION_CALLS = frozenset(
	{
		"has_permission",
		"only_for",
		"require_roles",
		"check_permission",
		"get_list",
		"has_app_permission",
		"throw_permission_error",
	}
)
DECIMAL_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"

SCALARS = {
	"str": {"type": "string"},
	"int": {"type": "integer"},
	"float": {"type": "number"},
	"bool": {"type": "boolean"},
	"dict": {"type": "object"},
	"list": {"type": "array"},
	"tuple": {"type": "array"},
	"set": {"type": "array", "uniqueItems": True},
	"bytes": {"type": "string"},
	"None": {"type": "null"},
	"NoneType": {"type": "null"},
	"Any": {},
	"object": {},
	"datetime": {"type": "string", "format": "date-time"},
	"date": {"type": "string", "format": "date"},
	"time": {"type": "string", "format": "time"},
}
# What Frappe's JSON encoder makes of a returned value, where it differs from what an argument accepts.
RETURNED = {
	"Decimal": {"type": "number", "description": "a decimal, sent as a JSON number by Frappe"},
	"datetime": {"type": "string", "description": "date and time, 'YYYY-MM-DD HH:MM:SS[.ffffff]'"},
	"date": {"type": "string", "format": "date"},
}
RAW_RESPONSE_TYPES = frozenset({"Response"})


# ---------------------------------------------------------------------------------------------------
# Types


def type_schema(node: ast.expr | None, returned: bool = False) -> dict:
	"""The JSON Schema of a Python annotation (an ast node); `returned` describes it as Frappe sends it."""
	if node is None:
		return {}
	if isinstance(node, ast.Constant):
		if node.value is None:
			return {"type": "null"}
		if isinstance(node.value, str):  # a forward reference: "Decimal", "list[str]"
			try:
				return type_schema(ast.parse(node.value, mode="eval").body, returned)
			except SyntaxError:
				return {}
		return {}
	if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
		return _union([type_schema(member, returned) for member in _union_members(node)])
	name = _type_name(node)
	if name is not None:
		if returned and name in RETURNED:
			return dict(RETURNED[name])
		if name == "Decimal":
			return {"type": "string", "format": "decimal", "pattern": DECIMAL_PATTERN}
		if name in SCALARS:
			return dict(SCALARS[name])
		return {"x-python-type": name}
	if isinstance(node, ast.Subscript):
		base = _type_name(node.value)
		args = list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]
		if base in ("Optional",):
			return _union([type_schema(args[0], returned), {"type": "null"}])
		if base == "Union":
			return _union([type_schema(a, returned) for a in args])
		if base == "Literal":
			values = [a.value for a in args if isinstance(a, ast.Constant)]
			return _literal(values)
		if base == "Annotated":
			return type_schema(args[0], returned)
		if base in ("list", "List", "Sequence", "Iterable", "set", "Set", "frozenset", "FrozenSet"):
			schema = {"type": "array", "items": type_schema(args[0], returned)}
			if base in ("set", "Set", "frozenset", "FrozenSet"):
				schema["uniqueItems"] = True
			return _prune(schema)
		if base in ("tuple", "Tuple"):
			if len(args) == 2 and isinstance(args[1], ast.Constant) and args[1].value is Ellipsis:
				return _prune({"type": "array", "items": type_schema(args[0], returned)})
			items = [type_schema(a, returned) for a in args]
			return {"type": "array", "prefixItems": items, "minItems": len(items), "maxItems": len(items)}
		if base in ("dict", "Dict", "Mapping"):
			schema = {"type": "object"}
			if len(args) == 2:
				values = type_schema(args[1], returned)
				if values:
					schema["additionalProperties"] = values
			return schema
		return type_schema(node.value, returned)
	return {}


def _type_name(node: ast.expr) -> str | None:
	"""`str`, `typing.Any`, `decimal.Decimal`, `datetime.datetime` -> the last name; None for anything else."""
	if isinstance(node, ast.Name):
		return node.id
	if isinstance(node, ast.Attribute):
		return node.attr
	return None


def _union_members(node: ast.expr) -> list[ast.expr]:
	if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
		return _union_members(node.left) + _union_members(node.right)
	return [node]


def _union(schemas: list[dict]) -> dict:
	"""One schema accepting any of `schemas`: a list of types where each is a bare type, anyOf otherwise."""
	flat: list[dict] = []
	for schema in schemas:
		members = schema["anyOf"] if set(schema) == {"anyOf"} else [schema]
		for member in members:
			if member not in flat:
				flat.append(member)
	if any(schema == {} for schema in flat):
		return {}
	if all(set(schema) == {"type"} for schema in flat):
		types: list[str] = []
		for schema in flat:
			for t in schema["type"] if isinstance(schema["type"], list) else [schema["type"]]:
				if t not in types:
					types.append(t)
		return {"type": types[0] if len(types) == 1 else types}
	return flat[0] if len(flat) == 1 else {"anyOf": flat}


def _literal(values: list) -> dict:
	kinds = {type(v) for v in values}
	json_type = {str: "string", int: "integer", bool: "boolean", float: "number"}
	schema: dict = {"enum": values}
	if len(kinds) == 1 and next(iter(kinds)) in json_type:
		schema = {"type": json_type[next(iter(kinds))], "enum": values}
	return schema


def _prune(schema: dict) -> dict:
	if schema.get("items") == {}:
		del schema["items"]
	return schema


def query_schema(schema: dict) -> dict | None:
	"""The part of a schema a query string or form field can carry (Frappe passes those values as text
	and does not decode JSON in them): objects and arrays are left out; None if nothing is left."""
	if schema == {}:
		return {"type": "string"}
	if "anyOf" in schema:
		kept = [s for s in (query_schema(member) for member in schema["anyOf"]) if s is not None]
		return _union(kept) if kept else None
	types = schema.get("type")
	if types == "null":
		return None
	if isinstance(types, list):
		kept_types = [t for t in types if t not in ("object", "array", "null")]  # absent means None
		if not kept_types:
			return None
		return {**schema, "type": kept_types[0] if len(kept_types) == 1 else kept_types}
	if types in ("object", "array") or "x-python-type" in schema:
		return None
	return schema


# ---------------------------------------------------------------------------------------------------
# Reading the app


@dataclass
class Parameter:
	name: str
	schema: dict
	required: bool
	default: object = None
	python_type: str = ""


@dataclass
class Method:
	"""One whitelisted method as its source declares it."""

	dotted: str  # the module-level path Frappe resolves, or module.Class.method for a document method
	module: str
	name: str
	http_methods: tuple[str, ...]
	declared_methods: tuple[str, ...] | None
	allow_guest: bool
	parameters: list[Parameter]
	returns: dict
	raw_response: bool
	reads_raw_body: bool
	docstring: str
	permission: str
	permission_code: list[str]
	rate_limit: dict | None = None
	doctype: str | None = None  # set for a whitelisted method of a DocType controller
	module_doc: str = ""
	python_returns: str = ""


def module_of(path: Path, package: Path) -> str:
	parts = list(path.relative_to(package.parent).with_suffix("").parts)
	if parts[-1] == "__init__":
		parts.pop()
	return ".".join(parts)


def module_level(body: list[ast.stmt]):
	"""Statements that run at import time, including inside try/except and if blocks (version shims)."""
	for node in body:
		if isinstance(node, ast.Try):
			for block in (node.body, *(h.body for h in node.handlers), node.orelse, node.finalbody):
				yield from module_level(block)
		elif isinstance(node, ast.If):
			yield from module_level(node.body)
			yield from module_level(node.orelse)
		else:
			yield node


def _whitelist_call(node: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.expr | None:
	for decorator in node.decorator_list:
		target = decorator.func if isinstance(decorator, ast.Call) else decorator
		if ast.unparse(target) in ("frappe.whitelist", "whitelist"):
			return decorator
	return None


@dataclass
class _Source:
	"""A module's text and tree, and the string constants it defines or imports from the app."""

	module: str
	path: Path
	text: str
	tree: ast.Module
	functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef]
	constants: dict[str, object]
	imports: dict[str, tuple[str, str]]  # local name -> (module, name)


class _App:
	def __init__(self, package: Path):
		self.package = package
		self.sources: dict[str, _Source] = {}
		for path in sorted(package.rglob("*.py")):
			try:
				text = path.read_text()
				tree = ast.parse(text, filename=str(path))
			except (SyntaxError, UnicodeDecodeError):
				continue
			module = module_of(path, package)
			functions, constants, imports = {}, {}, {}
			for node in module_level(tree.body):
				if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
					functions[node.name] = node
				elif isinstance(node, ast.Assign) and len(node.targets) == 1:
					target = node.targets[0]
					if isinstance(target, ast.Name):
						try:
							constants[target.id] = ast.literal_eval(node.value)
						except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
							constants[target.id] = node.value  # resolved on demand (frozenset({...}), names)
				elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
					for alias in node.names:
						imports[alias.asname or alias.name] = (node.module, alias.name)
			self.sources[module] = _Source(module, path, text, tree, functions, constants, imports)

	def constant(self, module: str, name: str, depth: int = 0):
		"""The value of a module-level constant, following `from app.x import NAME`; None if unknown."""
		source = self.sources.get(module)
		if source is None or depth > 5:
			return None
		if name in source.constants:
			value = source.constants[name]
			return self.evaluate(module, value, depth + 1) if isinstance(value, ast.AST) else value
		if name in source.imports:
			return self.constant(*source.imports[name], depth=depth + 1)
		return None

	def evaluate(self, module: str, node: ast.AST, depth: int = 0):
		"""A literal, a constant's name, or a tuple/list/set (or frozenset(...)) of those; None if not."""
		if isinstance(node, ast.Constant):
			return node.value
		if isinstance(node, ast.Name):
			return self.constant(module, node.id, depth)
		if isinstance(node, ast.Tuple | ast.List | ast.Set):
			values = [self.evaluate(module, item, depth) for item in node.elts]
			return None if any(v is None for v in values) else tuple(values)
		if (
			isinstance(node, ast.Call)
			and _type_name(node.func) in ("frozenset", "set", "tuple")
			and node.args
		):
			return self.evaluate(module, node.args[0], depth)
		return None


def _doctype_of(path: Path) -> str | None:
	"""The DocType whose controller `path` is (the JSON beside it names it)."""
	definition = path.with_suffix(".json")
	if path.parent.parent.name != "doctype" or not definition.exists():
		return None
	try:
		data = json.loads(definition.read_text())
	except ValueError:
		return None
	return data.get("name") if isinstance(data, dict) else None


def read_methods(package: Path = APP_PACKAGE) -> list[Method]:
	"""Every whitelisted function and document method of the app, in module order."""
	app = _App(Path(package))
	methods = []
	for source in app.sources.values():
		module_doc = ast.get_docstring(source.tree) or ""
		for node in module_level(source.tree.body):
			if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
				if _whitelist_call(node) is not None:
					methods.append(_method(app, source, node, None, module_doc))
			elif isinstance(node, ast.ClassDef):
				for item in node.body:
					if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and _whitelist_call(item):
						methods.append(_method(app, source, item, node, module_doc))
	return methods


def _method(app: _App, source: _Source, node, cls: ast.ClassDef | None, module_doc: str) -> Method:
	decorator = _whitelist_call(node)
	keywords = {kw.arg: kw.value for kw in decorator.keywords} if isinstance(decorator, ast.Call) else {}
	allow_guest = (
		bool(app.evaluate(source.module, keywords["allow_guest"])) if "allow_guest" in keywords else False
	)
	declared = None
	if "methods" in keywords:
		value = app.evaluate(source.module, keywords["methods"])
		declared = tuple(str(m).upper() for m in (value if isinstance(value, tuple) else (value,)) if m)
	described = declared or DEFAULT_DESCRIBED
	args = node.args
	positional = args.posonlyargs + args.args
	defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
	pairs = list(zip(positional, defaults, strict=True)) + list(
		zip(args.kwonlyargs, args.kw_defaults, strict=True)
	)
	parameters = []
	for arg, default in pairs:
		if cls is not None and arg is positional[0]:
			continue  # self
		default_value = None
		if default is not None:
			try:
				default_value = ast.literal_eval(default)
			except ValueError:
				default_value = app.evaluate(source.module, default)
		parameters.append(
			Parameter(
				name=arg.arg,
				schema=type_schema(arg.annotation),
				required=default is None,
				default=default_value,
				python_type=ast.unparse(arg.annotation) if arg.annotation is not None else "",
			)
		)
	returns = type_schema(node.returns, returned=True)
	return_name = _type_name(node.returns) if node.returns is not None else None
	summary, code = _permission(app, source, node)
	dotted = f"{source.module}.{cls.name}.{node.name}" if cls else f"{source.module}.{node.name}"
	return Method(
		dotted=dotted,
		module=source.module,
		name=node.name,
		http_methods=tuple(described),
		declared_methods=declared,
		allow_guest=allow_guest,
		parameters=parameters,
		returns=returns,
		raw_response=return_name in RAW_RESPONSE_TYPES,
		reads_raw_body=_reads_raw_body(node),
		docstring=ast.get_docstring(node) or _comment_above(source.text, node),
		permission=summary,
		permission_code=code,
		rate_limit=_rate_limit(app, source, node),
		doctype=(_doctype_of(source.path) or cls.name) if cls else None,
		module_doc=module_doc,
		python_returns=ast.unparse(node.returns) if node.returns is not None else "",
	)


def _comment_above(text: str, node) -> str:
	"""The comment block right above a function's decorators: the description of a method without a
	docstring (a guest endpoint explains there why a guest may call it)."""
	first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
	lines = text.splitlines()[: first - 1]
	block: list[str] = []
	for line in reversed(lines):
		stripped = line.strip()
		if not stripped.startswith("#"):
			break
		block.append(stripped.lstrip("#").strip())
	return " ".join(reversed(block)).strip()


def _reads_raw_body(node) -> bool:
	"""The method reads the request body itself (`request.get_data()`) instead of taking arguments."""
	return any(
		isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "get_data"
		for call in ast.walk(node)
	)


def _rate_limit(app: _App, source: _Source, node) -> dict | None:
	for decorator in node.decorator_list:
		if isinstance(decorator, ast.Call) and _type_name(decorator.func) == "rate_limit":
			limit = {kw.arg: app.evaluate(source.module, kw.value) for kw in decorator.keywords}
			return {k: v for k, v in limit.items() if k in ("limit", "seconds", "key") and v is not None}
	return None


# ---------------------------------------------------------------------------------------------------
# Permissions


def _call_name(call: ast.Call) -> str:
	return call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")


def _body(node) -> list[ast.stmt]:
	body = list(node.body)
	if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
		body = body[1:]  # the docstring
	return body


def _permission(app: _App, source: _Source, node) -> tuple[str, list[str]]:
	"""What the method checks before it acts: a sentence for people and the statements that do it."""
	phrases: list[str] = []
	code: list[str] = []
	for statement in _body(node):
		direct = [
			c for c in ast.walk(statement) if isinstance(c, ast.Call) and _call_name(c) in PERMISSION_CALLS
		]
		helpers = [
			source.functions[_call_name(c)]
			for c in ast.walk(statement)
			if isinstance(c, ast.Call)
			and isinstance(c.func, ast.Name)
			and c.func.id in source.functions
			and c.func.id != node.name
		]
		helpers = [h for h in helpers if any(_call_name(c) in PERMISSION_CALLS for c in _calls(h))]
		if not direct and not helpers:
			continue
		segment = ast.get_source_segment(source.text, statement, padded=True) or ast.unparse(statement)
		code.append(textwrap.dedent(segment).expandtabs(4).strip())
		phrases += [_phrase(app, source, node, call) for call in direct]
		for helper in helpers:
			doc = ast.get_docstring(helper)
			if doc:
				phrases.append(_sentence(" ".join(doc.split())).rstrip("."))
			else:
				phrases += [
					_phrase(app, source, helper, c)
					for c in _calls(helper)
					if _call_name(c) in PERMISSION_CALLS
				]
	phrases = list(dict.fromkeys(p for p in phrases if p))
	return "; ".join(phrases), code


def _calls(node) -> list[ast.Call]:
	return [c for c in ast.walk(node) if isinstance(c, ast.Call)]


def _phrase(app: _App, source: _Source, function, call: ast.Call) -> str:
	name = _call_name(call)
	keywords = {kw.arg: kw.value for kw in call.keywords}
	if name == "require_roles":
		roles = [app.evaluate(source.module, arg) for arg in call.args]
		if not roles or any(not isinstance(role, str) for role in roles):
			return f"`{ast.unparse(call)}`"
		if roles == ["All"]:
			return "any logged-in user"
		return "role " + _either(sorted(roles)) + " only"
	if name == "only_for":
		roles = app.evaluate(source.module, call.args[0]) if call.args else None
		if roles is None:
			return f"roles {ast.unparse(call.args[0])}" if call.args else "a role"
		roles = sorted(roles) if isinstance(roles, tuple) else [roles]
		if roles == ["All"]:
			return "any logged-in user"
		return "role " + _either(roles) + " only"
	if name == "has_permission":
		phrases = []
		for binding in _loop_bindings(function, call):
			doctype = _arg(app, source, call, 0, keywords.get("doctype"), binding)
			ptype = _arg(app, source, call, 1, keywords.get("ptype"), binding) or "read"
			doc = call.args[2] if len(call.args) > 2 else keywords.get("doc")
			if not isinstance(doctype, str):
				return f"`{ast.unparse(call)}`"
			doc = binding.get(doc.id, doc) if isinstance(doc, ast.Name) else doc
			phrases.append(f"the {doctype} `{ast.unparse(doc)}`" if doc is not None else doctype)
		return f"{ptype} permission on {_either(phrases, 'and')}"
	if name == "check_permission":
		ptype = _arg(app, source, call, 0, keywords.get("permtype"), {}) or "read"
		owner = call.func.value if isinstance(call.func, ast.Attribute) else None
		if isinstance(owner, ast.Name) and owner.id == "self":
			return f"{ptype} permission on the document"
		doctype, doc = _fetched_doc(app, source, function, owner)
		if doctype:
			return f"{ptype} permission on the {doctype} `{doc}`"
		return f"{ptype} permission on `{ast.unparse(owner) if owner is not None else ''}`"
	return f"`{ast.unparse(call)}`"


def _arg(app: _App, source: _Source, call: ast.Call, index: int, keyword: ast.expr | None, binding: dict):
	node = call.args[index] if len(call.args) > index else keyword
	if isinstance(node, ast.Name) and node.id in binding:
		node = binding[node.id]
	return app.evaluate(source.module, node) if node is not None else None


def _loop_bindings(function, call: ast.Call) -> list[dict[str, ast.expr]]:
	"""`for doctype, name in (("CRM Lead", lead), ("CRM Deal", deal)): ...call...` -> one binding of the
	loop's names per literal row, so each check can be named; [{}] when the call is in no such loop."""
	for loop in ast.walk(function):
		if not (isinstance(loop, ast.For) and any(node is call for node in ast.walk(loop))):
			continue
		names = loop.target.elts if isinstance(loop.target, ast.Tuple) else [loop.target]
		rows = loop.iter.elts if isinstance(loop.iter, ast.Tuple | ast.List) else None
		if not rows or not all(isinstance(n, ast.Name) for n in names):
			continue
		bindings = []
		for row in rows:
			values = row.elts if isinstance(row, ast.Tuple | ast.List) else [row]
			if len(values) != len(names):
				break
			bindings.append({n.id: v for n, v in zip(names, values, strict=True)})
		else:
			return bindings
	return [{}]


def _fetched_doc(app: _App, source: _Source, function, owner) -> tuple[str | None, str]:
	"""`doc = frappe.get_doc("Tracked Link", link)` before `doc.check_permission(...)` -> (doctype, arg)."""
	if not isinstance(owner, ast.Name):
		return None, ""
	for node in ast.walk(function):
		if (
			isinstance(node, ast.Assign)
			and any(isinstance(t, ast.Name) and t.id == owner.id for t in node.targets)
			and isinstance(node.value, ast.Call)
			and _call_name(node.value) == "get_doc"
			and len(node.value.args) >= 2
		):
			doctype = app.evaluate(source.module, node.value.args[0])
			if isinstance(doctype, str):
				return doctype, ast.unparse(node.value.args[1])
	return None, ""


def _either(items: list[str], conjunction: str = "or") -> str:
	return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" {conjunction} " + items[-1]


def _sentence(text: str) -> str:
	"""The first sentence of a text (a summary line)."""
	match = re.match(r"(.+?[.!?])(?:\s+(?=[A-Z(`\"'])|$)", text, flags=re.S)
	return (match.group(1) if match else text).strip()


# ---------------------------------------------------------------------------------------------------
# The description


def _method_path(method: Method) -> str:
	if method.doctype:
		doctype = method.doctype.replace(" ", "%20")
		return f"/api/v2/document/{doctype}/{{name}}/method/{method.name}/"
	return f"/api/method/{method.dotted}"


def _tag(method: Method) -> str:
	if method.doctype:
		return method.doctype
	if method.module.startswith("trackflow.api."):
		return method.module.removeprefix("trackflow.api.")
	return method.module.rpartition(".")[2]  # trackflow.api itself, a dashboard chart source, ...


def _description(method: Method) -> str:
	parts = [method.docstring.strip()] if method.docstring.strip() else []
	if method.allow_guest:
		parts.append("**Who:** guests too (no login).")
	elif method.permission:
		parts.append(f"**Who:** {method.permission}.")
	if method.doctype:
		parts.append(
			"Frappe's v2 document API runs it on the saved document `name` after checking read (GET) or write "
			'(POST) permission on it; the answer is wrapped as {"data": ...}.'
		)
	if method.rate_limit:
		limit = method.rate_limit
		parts.append(
			f"**Rate limit:** {limit.get('limit')} requests per {limit.get('seconds')} s (HTTP 429)."
		)
	if method.declared_methods is None:
		parts.append("Frappe also accepts PUT and DELETE for it (no methods= in its whitelist).")
	return "\n\n".join(parts)


def _envelope(method: Method) -> dict:
	key = "data" if method.doctype else "message"
	schema: dict = {"type": "object"}
	if method.python_returns not in ("None", ""):
		schema["properties"] = {key: method.returns}
		types = method.returns.get("type")
		if types is not None and "null" not in (types if isinstance(types, list) else [types]):
			schema["required"] = [key]  # Frappe leaves the key out when the method returns None
	return schema


def _responses(method: Method) -> dict:
	if method.raw_response:
		return {
			"default": {
				"description": "The method builds its own response (no JSON envelope): status and body as its "
				"description says.",
				"content": {"*/*": {"schema": {}}},
			}
		}
	error = "#/components/responses/ErrorV2" if method.doctype else "#/components/responses/Error"
	key = "data" if method.doctype else "message"
	responses = {
		"200": {
			"description": f"Success; the method's answer (`{method.python_returns or 'None'}`) is in `{key}`.",
			"content": {"application/json": {"schema": _envelope(method)}},
		},
		"4XX": {"$ref": error},
	}
	return responses


def _operation(method: Method, verb: str) -> dict:
	operation: dict = {
		"operationId": f"{method.dotted.replace('.', '_')}_{verb.lower()}",
		"tags": [_tag(method)],
		"summary": _sentence(" ".join(method.docstring.split())) if method.docstring else method.name,
		"description": _description(method),
	}
	if method.allow_guest:
		operation["security"] = []
	if method.permission:
		operation["x-permission"] = method.permission
		operation["x-permission-code"] = method.permission_code
	if method.rate_limit:
		operation["x-rate-limit"] = method.rate_limit
	operation["x-frappe-method"] = method.dotted
	operation["x-frappe-http-methods"] = list(method.declared_methods or FRAPPE_DEFAULT_METHODS)
	parameters = []
	if method.doctype:
		parameters.append(
			{
				"name": "name",
				"in": "path",
				"required": True,
				"description": f"the {method.doctype} to run the method on",
				"schema": {"type": "string"},
			}
		)
	if verb in BODY_METHODS:
		body = _request_body(method)
		if body:
			operation["requestBody"] = body
	else:
		for parameter in method.parameters:
			schema = query_schema(parameter.schema)
			if schema is None:
				continue  # an object or a list cannot travel in a query string: POST it as JSON
			parameters.append(_query_parameter(parameter, schema))
	if parameters:
		operation["parameters"] = parameters
	operation["responses"] = _responses(method)
	return operation


def _with_default(parameter: Parameter, schema: dict) -> dict:
	schema = dict(schema)
	if not parameter.required and parameter.default is not None and _jsonable(parameter.default):
		schema["default"] = parameter.default
	if parameter.python_type:
		schema["x-python-type"] = parameter.python_type
	return schema


def _jsonable(value) -> bool:
	try:
		json.dumps(value)
	except (TypeError, ValueError):
		return False
	return True


def _query_parameter(parameter: Parameter, schema: dict) -> dict:
	return {
		"name": parameter.name,
		"in": "query",
		"required": parameter.required,
		"schema": _with_default(parameter, schema),
	}


def _request_body(method: Method) -> dict | None:
	if method.reads_raw_body and not method.parameters:
		return {
			"description": "The body is read as it is (see the description).",
			"content": {"text/plain": {"schema": {"type": "string"}}},
		}
	if not method.parameters:
		return None
	properties = {p.name: _with_default(p, p.schema) for p in method.parameters}
	required = [p.name for p in method.parameters if p.required]
	schema: dict = {"type": "object", "properties": properties}
	if required:
		schema["required"] = required
	content = {"application/json": {"schema": schema}}
	form = {p.name: query_schema(p.schema) for p in method.parameters}
	if all(s is not None for s in form.values()):
		form_properties = {p.name: _with_default(p, form[p.name] or {}) for p in method.parameters}
		form_schema: dict = {"type": "object", "properties": form_properties}
		if required:
			form_schema["required"] = required
		content["application/x-www-form-urlencoded"] = {"schema": form_schema}
	return {"required": bool(required), "content": content}


def _tags(methods: list[Method]) -> list[dict]:
	tags: dict[str, str] = {}
	for method in methods:
		tag = _tag(method)
		if tag not in tags:
			doc = method.module_doc if not method.doctype else f"Whitelisted methods of a {method.doctype}."
			tags[tag] = _sentence(" ".join(doc.split())) if doc else ""
	return [{"name": name, "description": text} if text else {"name": name} for name, text in tags.items()]


def _version(package: Path) -> str:
	init = package / "__init__.py"
	if init.exists():
		for node in ast.parse(init.read_text()).body:
			if (
				isinstance(node, ast.Assign)
				and any(isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets)
				and isinstance(node.value, ast.Constant)
			):
				return str(node.value.value)
	return "0"


COMPONENTS = {
	"securitySchemes": {
		"token": {
			"type": "apiKey",
			"in": "header",
			"name": "Authorization",
			"description": "Frappe token authentication: `Authorization: token <api_key>:<api_secret>`, the API "
			"Key and API Secret of a User (User form, Settings > API Access, or `bench --site SITE execute "
			"frappe.core.doctype.user.user.generate_keys --args \"['user@example.com']\"`). The call runs with "
			"that user's roles and permissions.",
		},
		"session": {
			"type": "apiKey",
			"in": "cookie",
			"name": "sid",
			"description": "The desk's session cookie (after /api/method/login). A POST with it must also send "
			"the `X-Frappe-CSRF-Token` header (the desk's `frappe.csrf_token`).",
		},
	},
	"schemas": {
		"FrappeError": {
			"type": "object",
			"description": "Frappe's error answer on /api/method (v1): the exception's class, and the messages "
			"shown to the user as a JSON-encoded list of JSON-encoded objects with a `message` each.",
			"properties": {
				"exc_type": {"type": "string", "examples": ["PermissionError", "ValidationError"]},
				"exception": {"type": "string", "description": "only when the site allows tracebacks"},
				"_server_messages": {"type": "string"},
				"_error_message": {"type": "string"},
			},
		},
		"FrappeErrorV2": {
			"type": "object",
			"description": "Frappe's error answer on /api/v2.",
			"properties": {
				"errors": {
					"type": "array",
					"items": {
						"type": "object",
						"properties": {
							"type": {"type": "string"},
							"message": {"type": "string"},
							"exception": {"type": "string"},
						},
					},
				}
			},
		},
	},
	"responses": {
		"Error": {
			"description": "Refused: 401 not logged in, 403 not permitted (also a wrong HTTP method), 404 no such "
			"document, 417 invalid arguments (Frappe validates typed arguments) or a validation error, 429 "
			"rate limited.",
			"content": {"application/json": {"schema": {"$ref": "#/components/schemas/FrappeError"}}},
		},
		"ErrorV2": {
			"description": "Refused (as for /api/method).",
			"content": {"application/json": {"schema": {"$ref": "#/components/schemas/FrappeErrorV2"}}},
		},
	},
}


def build_spec(package: Path = APP_PACKAGE, methods: list[Method] | None = None) -> dict:
	"""The OpenAPI 3.1 document for every whitelisted method of the app in `package`."""
	package = Path(package)
	methods = read_methods(package) if methods is None else methods
	paths: dict[str, dict] = {}
	for method in methods:
		item = paths.setdefault(_method_path(method), {})
		for verb in method.http_methods:
			item[verb.lower()] = _operation(method, verb)
	return {
		"openapi": OPENAPI_VERSION,
		"info": {
			"title": "TrackFlow API",
			"version": _version(package),
			"description": "Every whitelisted method of TrackFlow, generated from its code. A method is called "
			"as `/api/method/<dotted path>`: GET with query arguments or POST with a JSON body (or a form), "
			'and answers `{"message": <its result>}`. Errors come back with an HTTP status and Frappe\'s '
			"error object. `x-permission` says what the method checks before it acts. Requests must carry "
			"the site's name as `Host` (or `X-Frappe-Site-Name`).",
			"license": {"name": "AGPL-3.0-only", "identifier": "AGPL-3.0-only"},
		},
		"servers": [{"url": "/", "description": "this site"}],
		"security": [{"token": []}, {"session": []}],
		"tags": _tags(methods),
		"paths": paths,
		"components": COMPONENTS,
	}


@lru_cache(maxsize=4)
def app_spec_json(package: Path = APP_PACKAGE) -> str:
	"""The description as JSON text, built once per process (the code does not change while it runs)."""
	return json.dumps(build_spec(package), indent=1, sort_keys=False)
