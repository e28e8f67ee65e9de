"""The guest boundary's column limits agree with the DocType JSONs (and CRM's custom fields): every declared
column exists, and no declared limit is larger than what the database column holds."""

import json
from pathlib import Path

import pytest

from trackflow.engine import guest
from trackflow.engine.guest import COLUMNS

APP = Path(__file__).resolve().parents[2] / "trackflow"
STANDARD = {"name", "owner", "modified_by"}
# What MariaDB holds for each Frappe field type, in characters (TEXT is 65,535 bytes of up to 4 each).
VARCHAR_TYPES = {"Data", "Link", "Select", "Dynamic Link"}
TEXT_TYPES = {
	"Small Text": 16383,
	"Text": 16383,
	"Code": 4_194_303,
	"Long Text": 4_194_303,
	"JSON": 4_194_303,
}


def doctype_fields(doctype: str) -> dict[str, dict]:
	if doctype == "CRM Summary":
		data = json.loads((APP / "integrations" / "crm_custom_fields.json").read_text())
		return {f["fieldname"]: f for f in data["fields"]}
	folder = doctype.lower().replace(" ", "_")
	data = json.loads((APP / "trackflow" / "doctype" / folder / f"{folder}.json").read_text())
	return {f["fieldname"]: f for f in data["fields"]}


def capacity(field: dict) -> int:
	if field["fieldtype"] in VARCHAR_TYPES:
		return int(field.get("length") or guest.DATA_LENGTH)
	return TEXT_TYPES[field["fieldtype"]]


@pytest.mark.parametrize("doctype", sorted(COLUMNS))
def test_declared_guest_columns_exist_and_fit_their_database_columns(doctype):
	fields = doctype_fields(doctype)
	for name, column in COLUMNS[doctype].items():
		if name in STANDARD:
			assert column.length <= guest.DATA_LENGTH
			continue
		assert name in fields, f"{doctype}.{name} is declared for guest data but is not a field"
		assert column.length <= capacity(fields[name]), (
			f"{doctype}.{name}: the boundary allows {column.length} characters, the column holds"
			f" {capacity(fields[name])}"
		)
