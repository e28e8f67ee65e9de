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

// The "Lead Score" section on the desk form of CRM Lead (explain_lead), and an "Adjust score" button for
// users who may edit the lead.
function trackflowDeskScore(frm) {
	if (frm.is_new()) return;
	const docname = frm.doc.name;
	frappe
		.xcall("trackflow.api.scoring.explain_lead", { lead: docname })
		.then((score) => {
			if (frm.doc.name !== docname) return;
			frm.dashboard.parent.find(".trackflow-score").remove();
			frm.dashboard.add_section(trackflowScoreHtml(score), __("Lead Score"), "custom trackflow-score");
			frm.dashboard.show();
			if (!score.can_adjust) return;
			frm.add_custom_button(__("Adjust score"), () =>
				frappe.prompt(
					[
						{ fieldname: "points", fieldtype: "Float", label: __("Points"), reqd: 1 },
						{ fieldname: "reason", fieldtype: "Small Text", label: __("Reason"), reqd: 1 },
						{ fieldname: "decays", fieldtype: "Check", label: __("Fades like activity"), default: 1 },
					],
					(values) =>
						frappe
							.xcall("trackflow.api.scoring.add_score_adjustment", { lead: docname, ...values })
							.then(() => frm.reload_doc()),
					__("Adjust lead score"),
					__("Add")
				)
			);
		})
		.catch((error) => console.warn("TrackFlow: could not load the lead score", error));
}
