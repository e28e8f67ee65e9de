// Copyright (c) 2026, TrackFlow developers
// License: AGPL-3.0. See license.txt

frappe.ui.form.on("Tracked Link", {
	refresh(frm) {
		render_qr_preview(frm);
	},
});

// The QR code as an image with its PNG and SVG downloads (the files are private unless "Public QR
// Files" is on; Frappe serves a private file to whoever may read this link).
function render_qr_preview(frm) {
	const field = frm.get_field("qr_preview");
	if (!field) return;
	const png = frm.doc.qr_code_png;
	const svg = frm.doc.qr_code_svg;
	if (frm.is_new() || !png) {
		field.$wrapper.html(
			`<p class="text-muted small">${__("The QR code appears here once the link is saved.")}</p>`
		);
		return;
	}
	const esc = frappe.utils.escape_html;
	// the file URL stays the same when the code is redrawn: the version makes the browser fetch it again
	const version = encodeURIComponent(frm.doc.modified || "");
	const download = (url, label, ext) =>
		url
			? `<a class="btn btn-default btn-xs" href="${esc(url)}" download="qr-${esc(
					frm.doc.short_code
			  )}.${ext}">${frappe.utils.icon("download", "xs")} ${label}</a>`
			: "";
	field.$wrapper.html(`
		<div class="trackflow-qr" style="display:flex;gap:16px;align-items:flex-end;flex-wrap:wrap">
			<img src="${esc(png)}?v=${version}" alt="${esc(__("QR code for {0}", [frm.doc.short_url || ""]))}"
				style="width:160px;height:160px;image-rendering:pixelated;border:1px solid var(--border-color);border-radius:var(--border-radius);background:#fff">
			<div style="display:flex;flex-direction:column;gap:6px">
				<div class="text-muted small">${esc(frm.doc.short_url || "")}</div>
				<div style="display:flex;gap:6px">${download(png, __("Download PNG"), "png")}${download(
		svg,
		__("Download SVG"),
		"svg"
	)}</div>
			</div>
		</div>`);
}
