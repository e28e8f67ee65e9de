"""Fast multi-row inserts for the drain and the ledger, which write thousands of rows per job."""

import frappe

from trackflow.engine import guest

INSERT_CHUNK = 1000
# A CASE costs its length per row, so updates go in small chunks to stay linear.
UPDATE_CHUNK = 250


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
	"""Set different values on many rows in one statement per chunk: UPDATE ... SET f = CASE name WHEN ...

	`values_by_field` maps a column to {row name: value}; every column must cover the same names. `same`
	maps columns to one value for all those rows (a plain SET: a CASE costs its length per row)."""
	names = sorted(next(iter(values_by_field.values()), {}))
	for start in range(0, len(names), UPDATE_CHUNK):
		chunk = names[start : start + UPDATE_CHUNK]
		sets, params = [], []
		for field, values in values_by_field.items():
			sets.append(
				f"`{field}` = CASE `name` {' '.join(['WHEN %s THEN %s'] * len(chunk))} ELSE `{field}` END"
			)
			for name in chunk:
				params += [name, values[name]]
		for field, value in (same or {}).items():
			sets.append(f"`{field}` = %s")
			params.append(value)
		params += chunk
		frappe.db.sql(
			f"UPDATE `tab{doctype}` SET {', '.join(sets)} WHERE `name` IN ({', '.join(['%s'] * len(chunk))})",
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
