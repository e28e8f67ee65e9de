// TrackFlow in the desk (app_include_js): the "Download PDF report" action that the Link Campaign and
// CRM Deal forms and the Campaign Performance report share.
frappe.provide("trackflow");

// args: {campaign} | {deal} | {from_date, to_date}, and optionally model. The server answers with the
// private file's URL, or {queued: true} for a long range, which is built in the background.
trackflow.download_attribution_pdf = function (args) {
	const filled = Object.fromEntries(Object.entries(args || {}).filter(([, value]) => value));
	frappe.show_alert({ message: __("Building the PDF report…"), indicator: "blue" });
	return frappe
		.xcall("trackflow.api.reports.generate_attribution_pdf", filled)
		.then((answer) => {
			if (answer && answer.file_url) {
				window.open(answer.file_url, "_blank");
			} else if (answer && answer.queued) {
				frappe.msgprint(
					__("The report is being built in the background; you will be notified when it is ready.")
				);
			}
		});
};
