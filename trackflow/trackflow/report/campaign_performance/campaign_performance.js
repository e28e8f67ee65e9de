// Copyright (c) 2026, TrackFlow developers
// License: AGPL-3.0. See license.txt

frappe.query_reports["Campaign Performance"] = {
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
			fieldname: "attribution_model",
			label: __("Attribution Model"),
			fieldtype: "Link",
			options: "Attribution Model",
			description: __("Empty: the default model from TrackFlow Settings"),
		},
		{
			fieldname: "status",
			label: __("Campaign Status"),
			fieldtype: "Select",
			options: ["", "Planned", "Active", "Paused", "Completed"],
		},
		{
			fieldname: "channel",
			label: __("Channel"),
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
			],
		},
		{
			fieldname: "campaign",
			label: __("Campaign"),
			fieldtype: "Link",
			options: "Link Campaign",
		},
		{
			fieldname: "drill_down",
			label: __("Links and Variants"),
			fieldtype: "Check",
			default: 0,
			description: __("Expand each campaign into its tracked links and their A/B variants"),
		},
		{
			fieldname: "exclude_browser_reported",
			label: __("Exclude browser-reported"),
			fieldtype: "Check",
			default: 0,
			description: __("Leave out conversions only the website's embed script reported (anyone can send one)"),
		},
	],
	tree: true,
	name_field: "row_id",
	parent_field: "parent_row",
	initial_depth: 0,
	formatter(value, row, column, data, default_formatter) {
		if (column.fieldname === "campaign" && data && !data.campaign) {
			// link and variant rows and the total: their label in the one campaign column
			value = frappe.utils.escape_html(data.campaign_name || "");
		} else {
			value = default_formatter(value, row, column, data);
		}
		return data && data.is_total ? `<b>${value}</b>` : value;
	},
	onload(report) {
		report.page.add_inner_button(__("Download PDF report"), () => {
			const filters = report.get_values() || {};
			trackflow.download_attribution_pdf({
				campaign: filters.campaign,
				from_date: filters.from_date,
				to_date: filters.to_date,
				model: filters.attribution_model,
			});
		});
	},
};
