// TrackFlow: the lead's marketing journey and per-model credits on /app/crm-lead.
frappe.ui.form.on("CRM Lead", {
	refresh(frm) {
		trackflowDeskAttribution(frm, () =>
			frappe.xcall("trackflow.api.attribution.get_lead_journey", { lead: frm.doc.name })
		);
	},
});
