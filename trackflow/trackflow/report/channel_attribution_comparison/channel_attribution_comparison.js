// Copyright (c) 2026, TrackFlow developers
// License: AGPL-3.0. See license.txt

frappe.query_reports["Channel Attribution Comparison"] = {
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
			fieldname: "conversion_type",
			label: __("Conversion Type"),
			fieldtype: "Select",
			options: [
				"deal_won",
				"deal_created",
				"lead_created",
				"lead_qualified",
				"purchase",
				"signup",
				"form_submit",
				"custom",
			],
			default: "deal_won",
		},
		{
			fieldname: "group_by",
			label: __("Group By"),
			fieldtype: "Select",
			options: ["Channel", "Campaign"],
			default: "Channel",
		},
		{
			fieldname: "exclude_browser_reported",
			label: __("Exclude browser-reported"),
			fieldtype: "Check",
			default: 0,
			description: __("Leave out conversions only the website's embed script reported (anyone can send one)"),
		},
	],
	formatter(value, row, column, data, default_formatter) {
		value = default_formatter(value, row, column, data);
		return data && data.is_total ? `<b>${value}</b>` : value;
	},
};
