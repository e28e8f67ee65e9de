"""The deal attribution path the original TrackFlow guide documents, kept for teams moving from it."""

import frappe

from trackflow.api import attribution


@frappe.whitelist(methods=["GET"])
def get_deal_attribution_report(deal: str, model: str | None = None) -> dict:
	"""Alias of `trackflow.api.attribution.get_deal_attribution`: the deal's journey and, per model, the
	credits of its won conversion. Permission: read on the CRM Deal."""
	frappe.has_permission("CRM Deal", "read", deal, throw=True)
	return attribution.get_deal_attribution(deal, model)
