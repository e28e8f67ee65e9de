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
};
