// TrackFlow: the deal's marketing journey and per-model credits on the desk form of CRM Deal.
frappe.ui.form.on("CRM Deal", {
	refresh(frm) {
		trackflowDeskAttribution(frm, () =>
			frappe.xcall("trackflow.api.attribution.get_deal_attribution", { deal: frm.doc.name })
		);
		if (!frm.is_new()) {
			frm.add_custom_button(__("Download PDF report"), () =>
				trackflow.download_attribution_pdf({ deal: frm.doc.name })
			);
		}
	},
});
