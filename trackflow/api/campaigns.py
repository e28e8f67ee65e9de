"""Campaign figures for integrators: what Campaign Performance shows, for one campaign."""

import frappe
from frappe import _

from trackflow.engine.money import in_currency
from trackflow.trackflow.report.report_data import (
	campaign_performance,
	check_report_access,
	company_currency,
	default_model,
	period_of,
	permitted_campaigns,
)


@frappe.whitelist(methods=["GET"])
def get_campaign_stats(
	campaign: str, from_date: str | None = None, to_date: str | None = None, model: str | None = None
) -> dict:
	"""A campaign's clicks, unique visitors, sessions, leads, won deals, credited revenue, spend, ROI and
	ROAS over a date range (default: the last 30 days) under an attribution model (default: TrackFlow
	Settings'), computed by Campaign Performance's own function. Permission: read on the ledger (the
	reports' rule) and on the Link Campaign."""
	check_report_access()
	if not campaign:
		frappe.throw(_("Say which campaign"), frappe.DoesNotExistError)
	frappe.has_permission("Link Campaign", "read", campaign, throw=True)
	filters = {"campaign": campaign, "from_date": from_date, "to_date": to_date}
	period = period_of(filters)
	model = default_model(model)
	chosen = permitted_campaigns(filters)
	if not chosen:
		frappe.throw(_("Link Campaign {0} not found").format(campaign), frappe.DoesNotExistError)
	currency = company_currency()
	(row,) = campaign_performance(period, model, chosen, currency)["rows"]
	return {
		"campaign": row["name"],
		"campaign_name": row["campaign_name"],
		"from_date": str(period.from_date),
		"to_date": str(period.to_date),
		"model": model,
		"currency": currency,
		**{
			key: row[key]
			for key in (
				"clicks",
				"unique_visitors",
				"sessions",
				"leads",
				"attributed_leads",
				"deals_created",
				"deals_won",
				"attributed_won",
			)
		},
		**{
			key: None if row[key] is None else in_currency(row[key], currency)
			for key in ("revenue", "spend", "cost_per_lead", "cost_per_won")
		},
		"roi": _ratio(row["roi"]),
		"roas": _ratio(row["roas"]),
	}


def _ratio(value) -> float | None:
	return None if value is None else float(value)
