// Copyright (c) 2026, TrackFlow developers
// License: AGPL-3.0. See license.txt

frappe.query_reports["Conversion Paths"] = {
	filters: [
		{
			fieldname: "from_date",
			label: __("From Date"),
			fieldtype: "Date",
			default: frappe.datetime.add_days(frappe.datetime.get_today(), -89),
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
			fieldname: "conversion_type",
			label: __("Conversion Type"),
			fieldtype: "Select",
			options: ["deal_won", "deal_created", "lead_created", "lead_qualified", "purchase", "signup"],
			default: "deal_won",
		},
		{
			fieldname: "collapse_repeats",
			label: __("Collapse repeated channels"),
			fieldtype: "Check",
			default: 1,
		},
		{
			fieldname: "limit",
			label: __("Paths"),
			fieldtype: "Int",
			default: 20,
		},
		{
			fieldname: "exclude_browser_reported",
			label: __("Exclude browser-reported"),
			fieldtype: "Check",
			default: 0,
			description: __("Leave out conversions only the website's embed script reported (anyone can send one)"),
		},
	],
};
