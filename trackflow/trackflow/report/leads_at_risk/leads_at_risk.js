// Copyright (c) 2026, TrackFlow developers
// License: AGPL-3.0. See license.txt

frappe.query_reports["Leads at Risk"] = {
	filters: [
		{
			fieldname: "threshold",
			label: __("Churn Risk from"),
			fieldtype: "Float",
			default: 0.6,
			description: __("0 to 1"),
		},
		{ fieldname: "lead_owner", label: __("Lead Owner"), fieldtype: "Link", options: "User" },
		{ fieldname: "status", label: __("Status"), fieldtype: "Link", options: "CRM Lead Status" },
	],
	formatter(value, row, column, data, default_formatter) {
		if (column.fieldname === "lead" && value) {
			const href = frappe.utils.escape_html(frappe.utils.get_form_link("CRM Lead", value));
			return `<a href="${href}">${frappe.utils.escape_html(value)}</a>`;
		}
		return default_formatter(value, row, column, data);
	},
};
