"""Analytics for integrators: a deal's return on each campaign's spend, and the journey paths the
original TrackFlow guide documents under this module (thin aliases of `trackflow.api.attribution`)."""

from collections import defaultdict
from decimal import Decimal

import frappe
from frappe import _
from frappe.query_builder.functions import Sum

from trackflow.api import attribution
from trackflow.engine import stats
from trackflow.engine.money import in_currency
from trackflow.trackflow.report.report_data import check_report_access, default_model, money, visible


@frappe.whitelist(methods=["GET"])
def get_deal_roi(deal: str, model: str | None = None) -> dict:
	"""A won deal's credited revenue per campaign under a model (default: TrackFlow Settings'), and the
	share of each campaign's spend the deal carries: the campaign's lifetime spend times the deal's part of
	the revenue credited to the campaign under the same model. Money in the ledger's company currency, as
	exact decimal strings. Permission: read on the CRM Deal and on the ledger; spend figures need read on
	Campaign Spend (without it they are null)."""
	if not deal:
		frappe.throw(_("Say which deal"), frappe.DoesNotExistError)
	frappe.has_permission("CRM Deal", "read", deal, throw=True)
	check_report_access()
	model = default_model(model)
	credit = frappe.qb.DocType("Attribution Credit")
	mine = (
		visible(frappe.qb.from_(credit), "Attribution Credit")
		.select(credit.campaign, Sum(credit.credited_value_company).as_("revenue"), credit.company_currency)
		.where((credit.crm_deal == deal) & (credit.conversion_type == "deal_won"))
		.where(credit.attribution_model == model)
		.groupby(credit.campaign, credit.company_currency)
		.run(as_dict=True)
	)
	if not mine:
		frappe.throw(_("Deal {0} has no won conversion credited under {1}").format(deal, model))
	campaigns = sorted({row.campaign for row in mine if row.campaign})
	totals = dict(
		frappe.qb.from_(credit)
		.select(credit.campaign, Sum(credit.credited_value_company))
		.where(credit.campaign.isin(campaigns or [""]) & (credit.attribution_model == model))
		.where(credit.conversion_type == "deal_won")
		.groupby(credit.campaign)
		.run()
	)
	spend = _lifetime_spend(campaigns) if frappe.has_permission("Campaign Spend", "read") else None
	currency = mine[0].company_currency
	rows, revenue = [], Decimal(0)
	for row in sorted(mine, key=lambda r: (-money(r.revenue), r.campaign or "")):
		credited = money(row.revenue)
		revenue += credited
		carried = None
		if spend is not None and row.campaign:
			total = money(totals.get(row.campaign))
			carried = spend.get(row.campaign, Decimal(0)) * credited / total if total else None
		rows.append(
			{
				"campaign": row.campaign,  # None: touches of no campaign (organic, direct, offline)
				"revenue": in_currency(credited, currency),
				"campaign_spend": None
				if spend is None or not row.campaign
				else in_currency(spend.get(row.campaign, Decimal(0)), currency),
				"spend_carried": None if carried is None else in_currency(carried, currency),
				"roi": None if not carried else float(stats.roi(credited, carried)),
			}
		)
	return {
		"deal": deal,
		"model": model,
		"currency": currency,
		"revenue": in_currency(revenue, currency),
		"campaigns": rows,
	}


def _lifetime_spend(campaigns: list[str]) -> dict[str, Decimal]:
	if not campaigns:
		return {}
	spend = frappe.qb.DocType("Campaign Spend")
	totals: dict[str, Decimal] = defaultdict(Decimal)
	for campaign, amount in (
		frappe.qb.from_(spend)
		.select(spend.campaign, Sum(spend.amount))
		.where(spend.campaign.isin(campaigns))
		.groupby(spend.campaign)
		.run()
	):
		totals[campaign] = money(amount)
	return totals


@frappe.whitelist(methods=["GET"])
def get_visitor_journey(visitor: str) -> dict:
	"""Alias of `trackflow.api.attribution.get_visitor_journey` (the path the original guide documents).
	Permission: read on the TrackFlow Visitor (and on its CRM Lead)."""
	frappe.has_permission("TrackFlow Visitor", "read", visitor, throw=True)
	return attribution.get_visitor_journey(visitor)
