"""The OpenAPI description keeps in step with the code: every whitelisted method the integrity scanner finds
is described, with every argument it takes, under the HTTP methods its decorator allows."""

import ast
from collections import defaultdict
from pathlib import Path

from tests.integrity import checks
from trackflow.engine import openapi

ROOT = Path(__file__).resolve().parents[2]


def described() -> dict[str, list[dict]]:
	"""x-frappe-method -> its operations (with the HTTP verb)."""
	operations = defaultdict(list)
	for item in openapi.build_spec(ROOT / checks.APP)["paths"].values():
		for verb, operation in item.items():
			operations[operation["x-frappe-method"]].append({**operation, "verb": verb.upper()})
	return operations


def argument_names(operation: dict) -> set[str]:
	names = {p["name"] for p in operation.get("parameters", []) if p["in"] != "path"}
	for content in operation.get("requestBody", {}).get("content", {}).values():
		names |= set(content["schema"].get("properties", {}))
	return names


def declared_verbs(node: ast.FunctionDef) -> set[str] | None:
	for decorator in node.decorator_list:
		if isinstance(decorator, ast.Call) and ast.unparse(decorator.func) in (
			"frappe.whitelist",
			"whitelist",
		):
			for keyword in decorator.keywords:
				if keyword.arg == "methods":
					return {m.upper() for m in ast.literal_eval(keyword.value)}
	return None


def test_every_whitelisted_method_is_described_with_all_its_arguments():
	app = checks.load_app(ROOT)
	whitelisted = {dotted: info for dotted, info in app.functions.items() if info.whitelisted}
	assert len(whitelisted) >= 15
	operations = described()
	assert set(operations) == set(whitelisted)
	for dotted, info in whitelisted.items():
		args = info.node.args
		names = {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs} - {"self"}
		verbs = declared_verbs(info.node) or {"GET", "POST"}
		assert {op["verb"] for op in operations[dotted]} == verbs, dotted
		for operation in operations[dotted]:
			if operation["verb"] != "GET" and not operation.get("requestBody", {}).get("content", {}).get(
				"text/plain"
			):
				assert argument_names(operation) == names, (dotted, operation["verb"])
		# a GET may leave out lists and objects (a query string cannot carry them), never anything else
		every = set().union(*(argument_names(op) for op in operations[dotted]))
		assert every == names, dotted


def test_guests_and_permissions_are_described():
	app = checks.load_app(ROOT)
	for dotted, operations in described().items():
		info = app.functions[dotted]
		for operation in operations:
			if info.allow_guest:
				assert operation["security"] == [], dotted
			else:
				assert "security" not in operation, dotted  # the global one: a token or a session
				assert operation["x-permission"], dotted
				assert operation["x-permission-code"], dotted


def test_every_described_method_has_a_summary():
	for dotted, operations in described().items():
		for operation in operations:
			assert operation["summary"] and operation["summary"] != dotted.rpartition(".")[2], dotted
