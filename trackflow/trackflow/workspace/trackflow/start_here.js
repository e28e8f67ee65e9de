// The "Start here" block of the TrackFlow workspace (a Custom HTML Block that install.py keeps in sync;
// Frappe shows it only to the roles it names). `root_element` is the block's shadow root.
root_element.querySelectorAll("li[data-doctype]").forEach((step) => {
	const doctype = step.dataset.doctype;
	const button = step.querySelector("button[data-new]");
	if (!frappe.model.can_create(doctype)) {
		// a Campaign Manager reads sites but does not add them: say who does instead of a dead button
		button.replaceWith(Object.assign(document.createElement("b"), { textContent: __(button.textContent) }));
		step.querySelector("span").textContent = __("A TrackFlow Manager adds these.");
		return;
	}
	button.textContent = __(button.textContent);
	button.addEventListener("click", () => frappe.new_doc(doctype));
});
