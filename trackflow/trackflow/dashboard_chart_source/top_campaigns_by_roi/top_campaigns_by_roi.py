# Copyright (c) 2026, TrackFlow developers
# License: AGPL-3.0. See license.txt

"""Dashboard chart source: the campaigns with spend in the last 30 days, best ROI first."""

import frappe

from trackflow.api.reports import top_campaigns_by_roi


@frappe.whitelist()
def get(
	chart_name: str | None = None,
	chart: str | None = None,
	no_cache: str | int | None = None,
	filters: str | None = None,
	from_date: str | None = None,
	to_date: str | None = None,
	timespan: str | None = None,
	time_interval: str | None = None,
	heatmap_year: str | int | None = None,
	refresh: str | int | None = None,
) -> dict:
	"""Frappe's Dashboard Chart calls every custom source with these arguments; this one needs none."""
	frappe.has_permission("Attribution Credit", "read", throw=True)  # the reports' rule
	return top_campaigns_by_roi()
