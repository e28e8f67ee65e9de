// Copyright (c) 2026, TrackFlow developers
// License: AGPL-3.0. See license.txt

frappe.query_reports["Link AB Results"] = {
	filters: [
		{
			fieldname: "from_date",
			label: __("From Date"),
			fieldtype: "Date",
			default: frappe.datetime.add_days(frappe.datetime.get_today(), -29),
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
			fieldname: "tracked_link",
			label: __("Tracked Link"),
			fieldtype: "Link",
			options: "Tracked Link",
		},
		{
			fieldname: "conversion_type",
			label: __("Conversion Type"),
			fieldtype: "Select",
			options: ["lead_created", "deal_created", "deal_won", "signup", "purchase", "form_submit", "custom"],
			default: "lead_created",
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
