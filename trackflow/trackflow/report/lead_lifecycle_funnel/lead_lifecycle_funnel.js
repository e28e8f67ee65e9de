// Copyright (c) 2026, TrackFlow developers
// License: AGPL-3.0. See license.txt

frappe.query_reports["Lead Lifecycle Funnel"] = {
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
			fieldname: "by_channel",
			label: __("Column per channel"),
			fieldtype: "Check",
			default: 0,
		},
	],
	formatter(value, row, column, data, default_formatter) {
		value = default_formatter(value, row, column, data);
		return data && data.is_exit ? `<span class="text-muted">${value}</span>` : value;
	},
};
