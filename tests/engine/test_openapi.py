"""engine.openapi: the OpenAPI description is valid, and annotations, decorators, docstrings and permission
checks become the schemas, operations and texts they should."""

import ast
import json
import textwrap
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from trackflow.engine import openapi

ROOT = Path(__file__).resolve().parents[2]


def schema_of(annotation: str, returned: bool = False) -> dict:
	return openapi.type_schema(ast.parse(annotation, mode="eval").body, returned)


# ---------------------------------------------------------------------------------------------------
# The repository's description


def test_the_repository_spec_is_valid_openapi_3_1():
	spec = openapi.build_spec()
	validate(spec)
	assert spec["openapi"] == "3.1.0"
	assert spec["servers"] == [{"url": "/", "description": "this site"}]
	assert set(spec["components"]["securitySchemes"]) == {"token", "session"}


def test_the_served_json_is_the_spec_and_is_built_once():
	text = openapi.app_spec_json()
	assert json.loads(text) == json.loads(json.dumps(openapi.build_spec()))
	assert openapi.app_spec_json() is text


def test_the_spec_method_itself_is_get_only_for_logged_in_users():
	operation = openapi.build_spec()["paths"]["/api/method/trackflow.api.docs"]
	assert set(operation) == {"get"}
	assert "security" not in operation["get"]  # the global requirement: token or session
	assert operation["get"]["x-permission"] == "any logged-in user"


def test_guest_methods_need_no_security_and_others_inherit_it():
	paths = openapi.build_spec()["paths"]
	collect = paths["/api/method/trackflow.api.tracking.collect"]
	assert set(collect) == {"post"}
	assert collect["post"]["security"] == []
	assert collect["post"]["requestBody"]["content"] == {"text/plain": {"schema": {"type": "string"}}}
	assert "security" not in paths["/api/method/trackflow.api.links.create_tracked_link"]["post"]


def test_permission_lines_of_the_repository():
	paths = openapi.build_spec()["paths"]
	record = paths["/api/method/trackflow.api.conversions.record_conversion"]["post"]
	assert record["x-permission"] == (
		"create permission on Conversion; read permission on the CRM Lead `lead` and the CRM Deal `deal`"
	)
	erase = paths["/api/method/trackflow.api.privacy.erase_visitor"]["post"]
	assert erase["x-permission"] == "role TrackFlow Manager only"
	assert erase["x-permission-code"] == ["require_roles(TRACKFLOW_MANAGER)"]
	stats = paths["/api/method/trackflow.api.links.get_link_stats"]["get"]
	assert stats["x-permission"] == "read permission on the Tracked Link `link`"


def test_document_methods_use_frappes_v2_document_route():
	paths = openapi.build_spec()["paths"]
	rotate = paths["/api/v2/document/TrackFlow%20Site/{name}/method/rotate_key/"]
	assert rotate["post"]["parameters"][0] == {
		"name": "name",
		"in": "path",
		"required": True,
		"description": "the TrackFlow Site to run the method on",
		"schema": {"type": "string"},
	}
	envelope = rotate["post"]["responses"]["200"]["content"]["application/json"]["schema"]
	assert envelope["properties"] == {"data": {"type": "string"}}


# ---------------------------------------------------------------------------------------------------
# Types


@pytest.mark.parametrize(
	("annotation", "schema"),
	[
		("str", {"type": "string"}),
		("int", {"type": "integer"}),
		("float", {"type": "number"}),
		("bool", {"type": "boolean"}),
		("dict", {"type": "object"}),
		("list", {"type": "array"}),
		("None", {"type": "null"}),
		("str | None", {"type": ["string", "null"]}),
		("Optional[int]", {"type": ["integer", "null"]}),
		("typing.Optional[int]", {"type": ["integer", "null"]}),
		("Union[str, int, None]", {"type": ["string", "integer", "null"]}),
		("str | dict | None", {"type": ["string", "object", "null"]}),
		("list[str]", {"type": "array", "items": {"type": "string"}}),
		("list[dict]", {"type": "array", "items": {"type": "object"}}),
		("list[Any]", {"type": "array"}),
		("dict[str, Any]", {"type": "object"}),
		("dict[str, int]", {"type": "object", "additionalProperties": {"type": "integer"}}),
		(
			"dict[str, list[str]]",
			{"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
		),
		("tuple[int, ...]", {"type": "array", "items": {"type": "integer"}}),
		(
			"tuple[str, int]",
			{
				"type": "array",
				"prefixItems": [{"type": "string"}, {"type": "integer"}],
				"minItems": 2,
				"maxItems": 2,
			},
		),
		("set[str]", {"type": "array", "items": {"type": "string"}, "uniqueItems": True}),
		("Literal['first_touch', 'last_touch']", {"type": "string", "enum": ["first_touch", "last_touch"]}),
		("typing.Literal[1, 2]", {"type": "integer", "enum": [1, 2]}),
		("Literal['a'] | None", {"anyOf": [{"type": "string", "enum": ["a"]}, {"type": "null"}]}),
		("Decimal", {"type": "string", "format": "decimal", "pattern": openapi.DECIMAL_PATTERN}),
		("decimal.Decimal", {"type": "string", "format": "decimal", "pattern": openapi.DECIMAL_PATTERN}),
		("datetime", {"type": "string", "format": "date-time"}),
		("datetime.datetime", {"type": "string", "format": "date-time"}),
		("date", {"type": "string", "format": "date"}),
		("datetime.date | None", {"anyOf": [{"type": "string", "format": "date"}, {"type": "null"}]}),
		("Any", {}),
		("Any | None", {}),
		("'list[str]'", {"type": "array", "items": {"type": "string"}}),
		("Annotated[int, 'a note']", {"type": "integer"}),
		("SomeDataclass", {"x-python-type": "SomeDataclass"}),
	],
)
def test_argument_types(annotation, schema):
	assert schema_of(annotation) == schema


def test_returned_decimal_and_datetime_are_what_frappe_sends():
	# Frappe's JSON encoder sends a Decimal as a float and a datetime as str(datetime) (a space, no T)
	assert schema_of("Decimal", returned=True)["type"] == "number"
	assert "format" not in schema_of("datetime", returned=True)
	assert schema_of("list[Decimal]", returned=True)["items"]["type"] == "number"


def test_every_mapped_type_is_a_valid_schema():
	for annotation in ("str | None", "list[dict[str, Any]]", "Literal['a', 'b'] | None", "Decimal | None"):
		spec = {
			"openapi": "3.1.0",
			"info": {"title": "t", "version": "1"},
			"paths": {},
			"components": {"schemas": {"x": schema_of(annotation)}},
		}
		validate(spec)


@pytest.mark.parametrize(
	("annotation", "schema"),
	[
		("str", {"type": "string"}),
		("str | None", {"type": "string"}),
		("str | dict | None", {"type": "string"}),
		("int | str | None", {"type": ["integer", "string"]}),
		("list[str]", None),
		("dict | None", None),
		("Any", {"type": "string"}),
		("Literal['a'] | None", {"type": "string", "enum": ["a"]}),
	],
)
def test_what_a_query_string_can_carry(annotation, schema):
	assert openapi.query_schema(schema_of(annotation)) == schema


# ---------------------------------------------------------------------------------------------------
# Methods read from small fixture apps


def make_app(tmp_path: Path, files: dict[str, str]) -> Path:
	package = tmp_path / "fixtureapp"
	for name, text in files.items():
		path = package / name
		path.parent.mkdir(parents=True, exist_ok=True)
		path.write_text(textwrap.dedent(text).lstrip())
	(package / "__init__.py").write_text('__version__ = "9.8.7"\n')
	return package


def only(package: Path) -> openapi.Method:
	methods = openapi.read_methods(package)
	assert len(methods) == 1, [m.dotted for m in methods]
	return methods[0]


def test_a_typed_method_becomes_parameters_body_and_envelope(tmp_path):
	package = make_app(
		tmp_path,
		{
			"api/items.py": '''
				"""Items."""
				from decimal import Decimal
				from typing import Any, Literal

				import frappe

				LIMIT = 50

				@frappe.whitelist()
				def find(
					kind: Literal["a", "b"],
					tags: list[str] | None = None,
					price: Decimal | None = None,
					limit: int = LIMIT,
					options: dict[str, Any] | None = None,
				) -> list[dict]:
					"""Find items by kind.

					Longer text."""
					frappe.has_permission("Item", "read", throw=True)
					return []
			''',
		},
	)
	method = only(package)
	assert method.dotted == "fixtureapp.api.items.find"
	assert method.http_methods == ("GET", "POST")
	spec = openapi.build_spec(package)
	validate(spec)
	assert spec["info"]["version"] == "9.8.7"
	item = spec["paths"]["/api/method/fixtureapp.api.items.find"]
	get, post = item["get"], item["post"]
	assert [p["name"] for p in get["parameters"]] == ["kind", "price", "limit"]  # lists and dicts: POST
	assert get["parameters"][2]["schema"] == {"type": "integer", "default": 50, "x-python-type": "int"}
	body = post["requestBody"]["content"]["application/json"]["schema"]
	assert body["required"] == ["kind"]
	assert body["properties"]["tags"]["anyOf"] == [
		{"type": "array", "items": {"type": "string"}},
		{"type": "null"},
	]
	assert body["properties"]["price"]["anyOf"][0]["format"] == "decimal"
	assert "application/x-www-form-urlencoded" not in post["requestBody"]["content"]
	assert post["summary"] == "Find items by kind."
	assert post["description"].startswith("Find items by kind.\n\nLonger text.")
	assert post["x-permission"] == "read permission on Item"
	assert post["tags"] == ["items"]
	envelope = post["responses"]["200"]["content"]["application/json"]["schema"]
	assert envelope == {
		"type": "object",
		"properties": {"message": {"type": "array", "items": {"type": "object"}}},
		"required": ["message"],
	}


def test_declared_methods_guests_rate_limits_and_roles(tmp_path):
	package = make_app(
		tmp_path,
		{
			"roles.py": 'MANAGER = "Item Manager"\nBOTH = (MANAGER, "System Manager")\n',
			"api/ops.py": '''
				import frappe
				from frappe.rate_limiter import rate_limit

				from fixtureapp.roles import BOTH

				# Guests may call this: it only says hello.
				@frappe.whitelist(allow_guest=True, methods=["POST"])
				@rate_limit(limit=5, seconds=60)
				def hello(name: str) -> str:
					return name

				@frappe.whitelist(methods=("PUT",))
				def purge() -> None:
					"""Purge everything."""
					frappe.only_for(BOTH)
			''',
		},
	)
	spec = openapi.build_spec(package)
	validate(spec)
	hello = spec["paths"]["/api/method/fixtureapp.api.ops.hello"]
	assert set(hello) == {"post"}
	assert hello["post"]["security"] == []
	assert hello["post"]["x-rate-limit"] == {"limit": 5, "seconds": 60}
	assert hello["post"]["summary"] == "Guests may call this: it only says hello."
	assert set(hello["post"]["requestBody"]["content"]) == {
		"application/json",
		"application/x-www-form-urlencoded",
	}
	purge = spec["paths"]["/api/method/fixtureapp.api.ops.purge"]
	assert set(purge) == {"put"}
	assert purge["put"]["x-permission"] == "role Item Manager or System Manager only"
	assert "requestBody" not in purge["put"]
	assert "required" not in purge["put"]["responses"]["200"]["content"]["application/json"]["schema"]


def test_permission_through_a_helper_and_a_fetched_document(tmp_path):
	package = make_app(
		tmp_path,
		{
			"api/docs.py": '''
				import frappe

				@frappe.whitelist()
				def read(item: str) -> dict:
					"""Read one item."""
					doc = frappe.get_doc("Item", item)
					doc.check_permission("read")
					return doc.as_dict()

				@frappe.whitelist()
				def export(item: str | None = None) -> dict:
					"""Export."""
					if item == "x":
						frappe.throw("no")
					_check(item)
					return {}

				def _check(item):
					"""Read on the item, or a manager for all of them."""
					if item:
						frappe.has_permission("Item", "read", item, throw=True)
					else:
						frappe.only_for("Item Manager")
			''',
		},
	)
	by_name = {m.name: m for m in openapi.read_methods(package)}
	assert by_name["read"].permission == "read permission on the Item `item`"
	assert by_name["read"].permission_code == ['doc.check_permission("read")']
	assert by_name["export"].permission == "Read on the item, or a manager for all of them"
	assert by_name["export"].permission_code == ["_check(item)"]


def test_a_document_method_is_routed_by_its_doctype(tmp_path):
	package = make_app(
		tmp_path,
		{
			"mod/doctype/item_box/__init__.py": "",
			"mod/doctype/item_box/item_box.json": json.dumps({"doctype": "DocType", "name": "Item Box"}),
			"mod/doctype/item_box/item_box.py": '''
				import frappe
				from frappe.model.document import Document

				class ItemBox(Document):
					@frappe.whitelist()
					def shake(self, times: int = 1) -> bool:
						"""Shake the box."""
						self.check_permission("write")
						return True
			''',
		},
	)
	method = only(package)
	assert method.dotted == "fixtureapp.mod.doctype.item_box.item_box.ItemBox.shake"
	assert method.doctype == "Item Box"
	assert [p.name for p in method.parameters] == ["times"]
	spec = openapi.build_spec(package)
	validate(spec)
	get = spec["paths"]["/api/v2/document/Item%20Box/{name}/method/shake/"]["get"]
	assert [p["name"] for p in get["parameters"]] == ["name", "times"]
	assert get["x-permission"] == "write permission on the document"
	assert get["responses"]["4XX"] == {"$ref": "#/components/responses/ErrorV2"}


def test_a_method_that_builds_its_own_response(tmp_path):
	package = make_app(
		tmp_path,
		{
			"api/raw.py": '''
				import frappe
				from werkzeug.wrappers import Response

				@frappe.whitelist(allow_guest=True, methods=["POST"])
				def beacon() -> Response:
					"""Take a beacon."""
					return Response(frappe.request.get_data(), status=204)
			''',
		},
	)
	post = openapi.build_spec(package)["paths"]["/api/method/fixtureapp.api.raw.beacon"]["post"]
	assert set(post["responses"]) == {"default"}
	assert post["requestBody"]["content"] == {"text/plain": {"schema": {"type": "string"}}}


def test_methods_in_version_shims_and_not_whitelisted_functions(tmp_path):
	package = make_app(
		tmp_path,
		{
			"api/shim.py": '''
				import frappe

				try:
					from frappe.x import y
				except ImportError:
					@frappe.whitelist()
					def fallback() -> str:
						"""The fallback."""
						frappe.only_for("All")
						return ""

				def helper() -> str:
					return ""
			''',
		},
	)
	method = only(package)
	assert method.name == "fallback"
	assert method.permission == "any logged-in user"
