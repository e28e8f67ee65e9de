"""Channel Attribution Comparison: channels (or campaigns) x models, credited conversions and revenue."""

import frappe
from frappe import _
from frappe.utils import escape_html

from trackflow.trackflow.report.report_data import (
	channel_model_table,
	check_report_access,
	company_currency,
	never_raises,
	period_of,
	sufficiency_notes,
	summary_tile,
)


@never_raises
def execute(filters: dict | None = None):
	check_report_access()
	filters = frappe._dict(filters or {})
	period = period_of(filters)
	group_by = "campaign" if filters.get("group_by") == "Campaign" else "channel"
	conversion_type = filters.get("conversion_type") or "deal_won"
	table = channel_model_table(period, conversion_type, group_by)
	models, currency = table["models"], company_currency(period)  # the ledger's currency
	data = [_row(row, models, currency) for row in table["rows"]]
	if data:
		totals = {model: value for model, value in table["totals"].items()}
		data.append({**_row({"key": _("Total"), **totals}, models, currency), "is_total": 1})
	return (
		columns(models, group_by, currency),
		data,
		message(models),
		chart(table, currency),
		summary(table, currency),
	)


def field(model: str, what: str) -> str:
	return f"{frappe.scrub(model)}_{what}"


def _row(row: dict, models: list[dict], currency: str) -> dict:
	out = {"key": row["key"], "currency": currency}
	for model in models:
		credited, revenue = row.get(model.name, (0.0, 0))
		out[field(model.name, "conversions")] = credited
		out[field(model.name, "revenue")] = revenue
	return out


def columns(models: list[dict], group_by: str, currency: str) -> list[dict]:
	key = (
		{"label": _("Campaign"), "fieldname": "key", "fieldtype": "Link", "options": "Link Campaign"}
		if group_by == "campaign"
		else {"label": _("Channel"), "fieldname": "key", "fieldtype": "Data"}
	)
	out = [{**key, "width": 150}]
	for model in models:
		label = model.name + (" *" if model["is_default"] else "")
		out += [
			{
				"label": _("{0}: Conversions").format(label),
				"fieldname": field(model.name, "conversions"),
				"fieldtype": "Float",
				"precision": 2,
				"width": 120,
			},
			{
				"label": _("{0}: Revenue ({1})").format(label, currency),
				"fieldname": field(model.name, "revenue"),
				"fieldtype": "Currency",
				"options": "currency",
				"width": 140,
			},
		]
	out.append({"label": _("Currency"), "fieldname": "currency", "fieldtype": "Data", "hidden": 1})
	return out


def message(models: list[dict]) -> str:
	lines = [
		_("Credited conversions are the sum of each model's weights; revenue is the credited won value. "
		  "* marks the default model.")
	]  # fmt: skip
	notes = sufficiency_notes(models)
	if notes:
		lines.append(
			_("Data-driven models:") + "<ul>" + "".join(f"<li>{escape_html(n)}</li>" for n in notes) + "</ul>"
		)
	return "<br>".join(lines)


def chart(table: dict, currency: str) -> dict | None:
	"""Revenue per channel under each model, the top 10 channels."""
	rows = table["rows"][:10]
	if not rows:
		return None
	return {
		"data": {
			"labels": [row["key"] for row in rows],
			"datasets": [
				{"name": model.name, "values": [float(row.get(model.name, (0, 0))[1]) for row in rows]}
				for model in table["models"]
			],
		},
		"type": "bar",
		"fieldtype": "Currency",
		"options": currency,
	}


def summary(table: dict, currency: str) -> list[dict]:
	"""The largest model gap is between models that gave credit: a data-driven model without enough data
	gives none, which is not a total of 0 to compare with."""
	revenues = [float(revenue) for credited, revenue in table["totals"].values() if credited]
	spread = max(revenues) - min(revenues) if len(revenues) > 1 else None
	default = next((m.name for m in table["models"] if m["is_default"]), None)
	total = float(table["totals"][default][1]) if default in table["totals"] else 0
	return [
		{"label": _("Models"), "value": len(table["models"]), "datatype": "Int"},
		{"label": _("Revenue ({0}, {1})").format(default or "-", currency), "value": total, "datatype": "Currency", "currency": currency},
		{"label": _("Channels"), "value": len(table["rows"]), "datatype": "Int"},
		summary_tile(
			_("Largest model gap ({0})").format(currency), spread, "Currency", _("fewer than two models gave credit"),
			currency=currency, indicator="Orange",
		),
	]  # fmt: skip
