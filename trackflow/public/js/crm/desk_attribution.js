// TrackFlow: the "Marketing Attribution" dashboard section on the desk forms of CRM Lead and CRM Deal.
// Loaded through doctype_js after attribution_panel.js, which renders the HTML.
function trackflowDeskAttribution(frm, fetchData) {
	if (frm.is_new()) return;
	// A form can refresh again before the answer arrives: only the latest request renders.
	const token = (frm.__trackflow_attribution_token || 0) + 1;
	frm.__trackflow_attribution_token = token;
	const docname = frm.doc.name;
	fetchData()
		.then((data) => {
			if (frm.__trackflow_attribution_token !== token || frm.doc.name !== docname) return;
			frm.dashboard.parent.find(".trackflow-attribution").remove();
			frm.dashboard.add_section(
				trackflowAttributionHtml(data),
				__("Marketing Attribution"),
				"custom trackflow-attribution"
			);
			frm.dashboard.show();
		})
		.catch((error) => console.warn("TrackFlow: could not load the marketing attribution", error));
}
