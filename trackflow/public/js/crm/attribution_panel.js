// TrackFlow: renders the marketing journey and the per-model credits of a CRM Lead or Deal as HTML.
//
// Shared by the /crm UI (trackflow.integrations.crm_ui stores this file in front of each CRM Form
// Script) and the desk forms (doctype_js). Hence: plain function declarations only (the desk evaluates
// doctype JS in the global scope, once per doctype), no framework and no desk globals, inline styles
// (the /crm UI has no stylesheet for our markup), every value escaped, and never the word "class"
// followed by a name (CRM 1.81 would take it for a form controller class).
//
// Input: the answer of trackflow.api.attribution.get_lead_journey / get_deal_attribution:
// {doc, currency, journey: [...], conversions: [...], models: [{model, is_default, reason, total,
// credits: [{touchpoint, channel, campaign, weight, value}], by_channel: [{channel, weight, value}]}]}
// and, for leads, trackflow.api.scoring.explain_lead: {total, grade, temperature, components: [{name,
// value, weight, contribution, reasons: [{text}]}], health: {churn_risk, days_inactive, ...}}

function trackflowText(text) {
	return typeof __ === "function" ? __(text) : text;
}

function trackflowEscape(value) {
	if (value === null || value === undefined) return "";
	const entities = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
	return String(value).replace(/[&<>"']/g, (character) => entities[character]);
}

function trackflowLabel(value) {
	if (!value) return "";
	return String(value)
		.replace(/_/g, " ")
		.replace(/\b\w/g, (letter) => letter.toUpperCase());
}

function trackflowMoney(value, currency) {
	const amount = Number(value || 0);
	try {
		return new Intl.NumberFormat(undefined, { style: "currency", currency: currency || "USD" }).format(
			amount
		);
	} catch (error) {
		return amount.toFixed(2) + (currency ? " " + currency : "");
	}
}

function trackflowPercent(weight) {
	return (Number(weight || 0) * 100).toFixed(1).replace(/\.0$/, "") + "%";
}

function trackflowTime(value) {
	return value ? String(value).slice(0, 16) : "";
}

function trackflowMilestone(milestone) {
	const labels = { lead: "Lead created", opportunity: "Deal created", won: "Deal won" };
	return trackflowText(labels[milestone] || trackflowLabel(milestone));
}

function trackflowModelNote(reason) {
	const notes = {
		no_touchpoints: "No marketing touches in this model's lookback window",
		insufficient_data: "Not enough journeys yet to fit this model",
	};
	return trackflowText(notes[reason] || trackflowLabel(reason));
}

function trackflowTable(headers, rows) {
	const cell = "padding:4px 8px;border-bottom:1px solid rgba(127,127,127,0.2);text-align:left;vertical-align:top";
	const head = headers
		.map((header) => `<th style="${cell};font-weight:600;white-space:nowrap">${trackflowEscape(header)}</th>`)
		.join("");
	const body = rows
		.map((row) => "<tr>" + row.map((html) => `<td style="${cell}">${html}</td>`).join("") + "</tr>")
		.join("");
	return `<table style="width:100%;border-collapse:collapse;margin:4px 0 12px"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

function trackflowBadge(text) {
	return `<span style="display:inline-block;padding:0 6px;margin:0 4px 2px 0;border-radius:8px;background:rgba(127,127,127,0.15);font-size:11px;white-space:nowrap">${trackflowEscape(text)}</span>`;
}

function trackflowHeading(text) {
	return `<div style="font-weight:600;margin:8px 0 4px">${trackflowEscape(text)}</div>`;
}

function trackflowCampaign(touch) {
	return trackflowEscape(touch.campaign || touch.campaign_name || "");
}

// The HTML for a whole attribution answer (escaped; safe for v-html and jQuery).
function trackflowAttributionHtml(data) {
	const journey = (data && data.journey) || [];
	if (!journey.length) {
		return `<div style="padding:8px 0;opacity:0.75">${trackflowEscape(
			trackflowText("No marketing touches recorded yet")
		)}</div>`;
	}
	const currency = data.currency;
	const touches = {};
	journey.forEach((touch, index) => {
		touches[touch.touchpoint] = { position: index + 1, touch: touch };
	});

	let html = `<div style="font-size:13px;line-height:1.5">`;
	html += trackflowHeading(trackflowText("Journey") + ` (${journey.length})`);
	html += trackflowTable(
		["#", trackflowText("Time"), trackflowText("Channel"), trackflowText("Source / Medium"), trackflowText("Campaign"), trackflowText("Milestones")],
		journey.map((touch, index) => [
			String(index + 1),
			trackflowEscape(trackflowTime(touch.occurred_at)),
			trackflowEscape(trackflowLabel(touch.channel)),
			trackflowEscape([touch.source, touch.medium].filter(Boolean).join(" / ")),
			trackflowCampaign(touch),
			(touch.milestones || []).map((milestone) => trackflowBadge(trackflowMilestone(milestone))).join("") +
				// a touch of a browser that only claimed the lead's email (an unsigned identify)
				(touch.unverified_identity ? trackflowBadge(trackflowText("Unverified identity")) : ""),
		])
	);

	const conversions = (data && data.conversions) || [];
	if (conversions.length) {
		html += trackflowHeading(trackflowText("Conversions"));
		html += trackflowTable(
			[trackflowText("Type"), trackflowText("Time"), trackflowText("Value"), trackflowText("Status")],
			conversions.map((conversion) => [
				trackflowEscape(trackflowLabel(conversion.conversion_type)),
				trackflowEscape(trackflowTime(conversion.occurred_at)),
				trackflowEscape(trackflowMoney(conversion.value, currency)),
				trackflowEscape(trackflowLabel(conversion.status)),
			])
		);
	}

	const models = (data && data.models) || [];
	if (models.length) {
		html += trackflowHeading(trackflowText("Credit by model"));
		html += trackflowTable(
			[trackflowText("Model"), trackflowText("Credited"), trackflowText("By channel")],
			models.map((model) => [
				trackflowEscape(model.model) + (model.is_default ? " " + trackflowBadge(trackflowText("default")) : ""),
				model.reason ? "" : trackflowEscape(trackflowMoney(model.total, currency)),
				model.reason
					? `<span style="opacity:0.75">${trackflowEscape(trackflowModelNote(model.reason))}</span>`
					: (model.by_channel || [])
							.map((share) =>
								trackflowEscape(
									`${trackflowLabel(share.channel)} ${trackflowPercent(share.weight)} (${trackflowMoney(share.value, currency)})`
								)
							)
							.join("<br>"),
			])
		);
		models
			.filter((model) => !model.reason && (model.credits || []).length)
			.forEach((model) => {
				html += `<details style="margin:0 0 6px"><summary style="cursor:pointer">${trackflowEscape(
					model.model + " — " + trackflowText("credit per touch")
				)}</summary>`;
				html += trackflowTable(
					["#", trackflowText("Time"), trackflowText("Channel"), trackflowText("Campaign"), trackflowText("Share"), trackflowText("Value")],
					model.credits.map((credit) => {
						const known = touches[credit.touchpoint];
						return [
							known ? String(known.position) : "",
							known ? trackflowEscape(trackflowTime(known.touch.occurred_at)) : "",
							trackflowEscape(trackflowLabel(credit.channel)),
							trackflowEscape(credit.campaign || ""),
							trackflowEscape(trackflowPercent(credit.weight)),
							trackflowEscape(trackflowMoney(credit.value, currency)),
						];
					})
				);
				html += "</details>";
			});
	}
	return html + "</div>";
}

// /crm UI: a toast through whichever API this CRM has: toast (CRM 1.81) or createToast (CRM 1.34).
function trackflowToast(ui, message, failed) {
	if (ui.toast && typeof ui.toast[failed ? "error" : "success"] === "function") {
		ui.toast[failed ? "error" : "success"](message);
	} else if (ui.createToast) {
		ui.createToast(
			failed
				? { title: trackflowText("Error"), text: message, icon: "x", iconClasses: "text-ink-red-4" }
				: { title: message, icon: "check", iconClasses: "text-ink-green-3" }
		);
	}
}

function trackflowErrorMessage(error, fallback) {
	return (error && error.messages && error.messages[0]) || (error && error.message) || trackflowText(fallback);
}

function trackflowNumber(value, places) {
	return value === null || value === undefined ? "–" : Number(value).toFixed(places).replace(/\.0+$/, "");
}

// The "Lead score" section: the answer of trackflow.api.scoring.explain_lead (escaped; safe for v-html).
function trackflowScoreHtml(score) {
	if (!score || !score.components) return "";
	let html = `<div style="font-size:13px;line-height:1.5;margin-bottom:8px">`;
	html += trackflowHeading(
		`${trackflowText("Lead score")} ${trackflowNumber(score.total, 2)} · ${score.grade} · ${trackflowLabel(score.temperature)}`
	);
	html += trackflowTable(
		[trackflowText("Component"), trackflowText("Value"), trackflowText("Weight"), trackflowText("Adds"), trackflowText("Why")],
		score.components.map((component) => [
			trackflowEscape(trackflowText(trackflowLabel(component.name))),
			trackflowEscape(trackflowNumber(component.value, 1)),
			trackflowEscape(trackflowNumber(component.weight, 0) + "%"),
			trackflowEscape(trackflowNumber(component.contribution, 1)),
			(component.reasons || []).map((reason) => trackflowEscape(reason.text)).join("<br>") ||
				`<span style="opacity:0.75">${trackflowEscape(trackflowText("Nothing yet"))}</span>`,
		])
	);
	const health = score.health || {};
	const bases = (health.basis || []).map((basis) => trackflowText(trackflowLabel(basis))).join(", ");
	html += trackflowHeading(trackflowText("Journey health"));
	html += trackflowTable(
		[trackflowText("Churn risk"), trackflowText("Days inactive"), trackflowText("Usual gap (days)"), trackflowText("Status median (days)"), trackflowText("Trend")],
		[
			[
				trackflowEscape(trackflowNumber(health.churn_risk, 2) + (bases ? ` (${bases})` : "")),
				trackflowEscape(trackflowNumber(health.days_inactive, 0)),
				trackflowEscape(trackflowNumber(health.cadence_days, 1)),
				trackflowEscape(trackflowNumber(health.stage_median_days, 1) + (health.stage ? ` · ${health.stage}` : "")),
				trackflowEscape(trackflowText(trackflowLabel(health.trend))),
			],
		]
	);
	return html + "</div>";
}

// /crm UI: fetch, then open a CRM dialog with the attribution, or toast the error.
// `ui` holds what CRM passes setupForm: $dialog, and toast (CRM 1.81) or createToast (CRM 1.34); and
// optionally pdf, a function that asks trackflow.api.reports.generate_attribution_pdf for this record
// (the dialog then has a "Download PDF report" action). With `fetchScore` (leads), the dialog opens with
// the lead score; a score that fails to load is left out.
async function trackflowOpenAttributionDialog(ui, fetchData, fetchScore) {
	let data;
	let score = null;
	try {
		const pending = fetchScore ? fetchScore().catch(() => null) : Promise.resolve(null);
		data = await fetchData();
		score = await pending;
	} catch (error) {
		trackflowToast(ui, trackflowErrorMessage(error, "Could not load the marketing attribution"), true);
		return;
	}
	const actions = [];
	if (ui.pdf) {
		actions.push({
			label: trackflowText("Download PDF report"),
			variant: "solid",
			onClick: async () => {
				try {
					const answer = await ui.pdf();
					if (answer && answer.file_url) {
						window.open(answer.file_url, "_blank");
					} else if (answer && answer.queued) {
						trackflowToast(ui, trackflowText("The PDF is being built; you will be notified when it is ready."));
					}
				} catch (error) {
					trackflowToast(ui, trackflowErrorMessage(error, "Could not build the PDF report"), true);
				}
			},
		});
	}
	if (ui.adjust && score && score.can_adjust) {
		actions.push({
			label: trackflowText("Adjust score"),
			onClick: async () => {
				const points = window.prompt(trackflowText("Points to add (-100 to 100; negative to lower the score)"));
				if (points === null || points.trim() === "" || Number.isNaN(Number(points))) return;
				const reason = window.prompt(trackflowText("Why? (kept with the adjustment)"));
				if (!reason || !reason.trim()) return;
				const decays = window.confirm(trackflowText("Let it fade like activity does? (Cancel: it stays until removed)"));
				try {
					const answer = await ui.adjust(Number(points), reason.trim(), decays ? 1 : 0);
					trackflowToast(ui, trackflowText("Score adjusted: now") + " " + trackflowNumber(answer.total, 2));
				} catch (error) {
					trackflowToast(ui, trackflowErrorMessage(error, "Could not adjust the score"), true);
				}
			},
		});
	}
	ui.$dialog({
		title: trackflowText("Marketing attribution"),
		size: "4xl",
		html: trackflowScoreHtml(score) + trackflowAttributionHtml(data),
		actions: actions,
	});
}
