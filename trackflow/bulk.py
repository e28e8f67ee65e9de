"""Fast multi-row inserts for the drain and the ledger, which write thousands of rows per job."""

import frappe

from trackflow.engine import guest

INSERT_CHUNK = 1000
UPDATE_CHUNK = 1000  # rows per UPDATE ... JOIN


def insert_rows(
	doctype: str,
	fields: list[str],
	rows: list[list],
	on_duplicate: str | None = None,
	ignore_duplicates: bool = True,
) -> None:
	"""Multi-row INSERT IGNORE (a plain INSERT when not `ignore_duplicates`, or INSERT ... ON DUPLICATE
	KEY UPDATE `on_duplicate`) with placeholders.

	Raw SQL on purpose: frappe.db.bulk_insert builds each statement through the query builder value by
	value, which measured as half the drain's time and most of an attribution's (benchmarks/README.md, "On a real site"); a parametrised
	statement does the same work in a fraction of it. Column names come from code, never from input.
	"""
	if not rows:
		return
	columns = ", ".join(f"`{f}`" for f in fields)
	row_sql = "(" + ", ".join(["%s"] * len(fields)) + ")"
	verb = "INSERT IGNORE" if ignore_duplicates and not on_duplicate else "INSERT"
	tail = f" ON DUPLICATE KEY UPDATE {on_duplicate}" if on_duplicate else ""
	for start in range(0, len(rows), INSERT_CHUNK):
		chunk = rows[start : start + INSERT_CHUNK]
		values = [value for row in chunk for value in row]
		frappe.db.sql(
			f"{verb} INTO `tab{doctype}` ({columns}) VALUES {', '.join([row_sql] * len(chunk))}{tail}", values
		)


def update_by_name(
	doctype: str, values_by_field: dict[str, dict[str, object]], same: dict[str, object] | None = None
) -> None:
	"""Set different values on many rows in one statement per chunk: UPDATE ... JOIN (SELECT name, values
	UNION ALL ...) ON name SET f = v.f.

	`values_by_field` maps a column to {row name: value}; every column must cover the same names. `same`
	maps columns to one value for all those rows (a plain SET). The joined rows find theirs by primary key,
	so a statement costs its length once (a CASE per column cost its length per row: 250-row chunks)."""
	names = sorted(next(iter(values_by_field.values()), {}))
	fields = list(values_by_field)
	columns = [values_by_field[field] for field in fields]
	first = "SELECT %s AS `name`" + "".join(f", %s AS `{field}`" for field in fields)
	other = "SELECT " + ", ".join(["%s"] * (len(fields) + 1))
	sets = [f"t.`{field}` = v.`{field}`" for field in fields]
	sets += [f"t.`{field}` = %s" for field in same or {}]
	for start in range(0, len(names), UPDATE_CHUNK):
		chunk = names[start : start + UPDATE_CHUNK]
		params = []
		for name in chunk:
			params.append(name)
			params += [column[name] for column in columns]
		params += list((same or {}).values())
		rows = " UNION ALL ".join([first] + [other] * (len(chunk) - 1))
		frappe.db.sql(
			f"UPDATE `tab{doctype}` AS t JOIN ({rows}) AS v ON t.`name` = v.`name` SET {', '.join(sets)}",
			params,
		)


STANDARD_FIELDS = ["name", "creation", "modified", "owner", "modified_by"]


def standard_values(name: str, now) -> list:
	"""The standard columns of a row written by a job on a guest's behalf."""
	return [name, now, now, "Guest", "Guest"]


def insert_guest_rows(doctype: str, fields: list[str], rows: list[list], **options) -> None:
	"""insert_rows for rows that carry guest data: every value passes the guest boundary first (inert,
	fitted to its column), so nothing a stranger sent can run in the desk or overflow a column."""
	insert_rows(doctype, fields, guest.fit_rows(doctype, fields, rows), **options)
