// Copyright (c) 2026, TrackFlow developers
// License: AGPL-3.0. See license.txt

frappe.ui.form.on("Link Campaign", {
	refresh(frm) {
		// the campaign's PDF reads the attribution ledger (a Sales User reads campaigns, not the ledger)
		if (frm.is_new() || !frappe.model.can_read("Attribution Credit")) return;
		frm.add_custom_button(__("Download PDF report"), () =>
			trackflow.download_attribution_pdf({ campaign: frm.doc.name })
		);
	},
});
