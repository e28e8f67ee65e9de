// TrackFlow: the deal's marketing journey and per-model credits on /app/crm-deal.
frappe.ui.form.on("CRM Deal", {
	refresh(frm) {
		trackflowDeskAttribution(frm, () =>
			frappe.xcall("trackflow.api.attribution.get_deal_attribution", { deal: frm.doc.name })
		);
	},
});
