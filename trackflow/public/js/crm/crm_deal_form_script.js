// TrackFlow: a "Marketing attribution" action on CRM Deal pages in the /crm UI.
//
// Stored as the standard CRM Form Script "TrackFlow CRM Deal" by trackflow.integrations.crm_ui
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
							pdf: () => call("trackflow.api.reports.generate_attribution_pdf", { deal: doc.name }),
						},
						() => call("trackflow.api.attribution.get_deal_attribution", { deal: doc.name })
					),
			},
		],
	};
}
