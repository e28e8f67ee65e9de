"""Fast multi-row inserts for the drain and the ledger, which write thousands of rows per job."""

import frappe

INSERT_CHUNK = 1000


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
