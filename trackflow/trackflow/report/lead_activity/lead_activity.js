// Copyright (c) 2026, TrackFlow developers
// License: AGPL-3.0. See license.txt

frappe.query_reports["Lead Activity"] = {
	filters: [
		{
			fieldname: "period",
			label: __("Period"),
			fieldtype: "Select",
			options: ["day", "week", "month"],
			default: "week",
			reqd: 1,
		},
		{
			fieldname: "from_date",
			label: __("From Date"),
			fieldtype: "Date",
			default: frappe.datetime.add_days(frappe.datetime.get_today(), -29),
		},
		{
			fieldname: "to_date",
			label: __("To Date"),
			fieldtype: "Date",
			default: frappe.datetime.get_today(),
		},
		{
			fieldname: "lead",
			label: __("Lead"),
			fieldtype: "Link",
			options: "CRM Lead",
		},
	],
	formatter(value, row, column, data, default_formatter) {
		if (column.fieldname === "crm_lead" && data && data.crm_lead) {
			const url = frappe.utils.get_form_link("CRM Lead", data.crm_lead);
			return `<a href="${url}">${frappe.utils.escape_html(data.crm_lead)}</a>`;
		}
		return default_formatter(value, row, column, data);
	},
};
