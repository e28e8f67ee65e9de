// Copyright (c) 2026, TrackFlow developers
// License: AGPL-3.0. See license.txt

frappe.query_reports["Lead Cohorts"] = {
	filters: [
		{
			fieldname: "from_date",
			label: __("From Date"),
			fieldtype: "Date",
			default: frappe.datetime.add_days(frappe.datetime.get_today(), -364),
			reqd: 1,
		},
		{
			fieldname: "to_date",
			label: __("To Date"),
			fieldtype: "Date",
			default: frappe.datetime.get_today(),
			reqd: 1,
		},
		{
			fieldname: "channel",
			label: __("First-Touch Channel"),
			fieldtype: "Select",
			options: [
				"",
				"email",
				"paid_search",
				"organic_search",
				"paid_social",
				"organic_social",
				"display",
				"affiliate",
				"video",
				"sms",
				"qr",
				"referral",
				"offline",
				"direct",
				"other",
				"(none)",
			],
		},
		{
			fieldname: "campaign",
			label: __("First-Touch Campaign"),
			fieldtype: "Link",
			options: "Link Campaign",
		},
		{
			fieldname: "months",
			label: __("Months Followed"),
			fieldtype: "Int",
			default: 6,
		},
		{
			fieldname: "measure",
			label: __("Month Columns Show"),
			fieldtype: "Select",
			options: ["Won Revenue", "Won Deals", "Deals Created"],
			default: "Won Revenue",
		},
		{
			fieldname: "by_channel",
			label: __("Split by channel"),
			fieldtype: "Check",
			default: 1,
		},
		{
			fieldname: "cumulative",
			label: __("Running total"),
			fieldtype: "Check",
			default: 0,
		},
	],
};
