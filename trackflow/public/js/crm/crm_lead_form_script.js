// TrackFlow: a "Marketing attribution" action on CRM Lead pages in the /crm UI (the lead score, explained,
// then the journey and credits).
//
// Stored as the standard CRM Form Script "TrackFlow CRM Lead" by trackflow.integrations.crm_ui
// (after attribution_panel.js, which defines the trackflow* helpers). setupForm is the form-script
// API that CRM 1.34 runs (utils.setupCustomizations) and that CRM 1.81 still runs beside its
// controller classes; each script is evaluated on its own, so this one coexists with CRM's own scripts.
function setupForm({ doc, $dialog, call, toast, createToast }) {
	return {
		actions: [
			{
				label: trackflowText("Marketing attribution"),
				icon: "bar-chart-2",
				onClick: () =>
					trackflowOpenAttributionDialog(
						{
							$dialog,
							toast,
							createToast,
							adjust: (points, reason, decays) =>
								call("trackflow.api.scoring.add_score_adjustment", {
									lead: doc.name,
									points,
									reason,
									decays,
								}),
						},
						() => call("trackflow.api.attribution.get_lead_journey", { lead: doc.name }),
						() => call("trackflow.api.scoring.explain_lead", { lead: doc.name })
					),
			},
		],
	};
}
