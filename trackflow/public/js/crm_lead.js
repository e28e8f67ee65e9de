// TrackFlow: the lead's score, explained, and its marketing journey and per-model credits on the desk
// form of CRM Lead.
frappe.ui.form.on("CRM Lead", {
	refresh(frm) {
		trackflowDeskScore(frm);
		trackflowDeskAttribution(frm, () =>
			frappe.xcall("trackflow.api.attribution.get_lead_journey", { lead: frm.doc.name })
		);
	},
});
