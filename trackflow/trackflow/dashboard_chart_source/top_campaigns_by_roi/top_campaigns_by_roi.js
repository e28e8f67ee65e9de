// Copyright (c) 2026, TrackFlow developers
// License: AGPL-3.0. See license.txt

frappe.provide("frappe.dashboards.chart_sources");

frappe.dashboards.chart_sources["Top Campaigns by ROI"] = {
	method: "trackflow.trackflow.dashboard_chart_source.top_campaigns_by_roi.top_campaigns_by_roi.get",
	filters: [],
};
