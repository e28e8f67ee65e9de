// The TrackFlow API page: reads the OpenAPI description the server generates from the code and shows each
// method with its HTTP verbs, arguments, who may call it and a curl example. Nothing is loaded from elsewhere.
// One closure: Frappe evaluates page scripts in the global scope.
(() => {
	const SPEC_URL = "/api/method/trackflow.api.docs";

	frappe.pages["trackflow-api"].on_page_load = function (wrapper) {
		const page = frappe.ui.make_app_page({
			parent: wrapper,
			title: __("TrackFlow API"),
			single_column: true,
		});
		page.set_secondary_action(__("Download OpenAPI JSON"), () => window.open(SPEC_URL));
		const filter = page.add_field({
			fieldname: "filter",
			label: __("Filter"),
			fieldtype: "Data",
			change: () => render(page, wrapper.trackflow_spec, filter.get_value()),
		});
		$(page.body).html(`<p class="text-muted">${__("Loading...")}</p>`);
		fetch(SPEC_URL, { credentials: "same-origin", headers: { Accept: "application/json" } })
			.then((response) => {
				if (!response.ok) throw new Error(`HTTP ${response.status}`);
				return response.json();
			})
			.then((spec) => {
				wrapper.trackflow_spec = spec;
				render(page, spec, "");
			})
			.catch((error) => {
				$(page.body).html(
					`<p class="text-danger">${__("Could not load the API description: {0}", [
						esc(error.message),
					])}</p>`
				);
			});
	};

	function esc(text) {
		return frappe.utils.escape_html(text == null ? "" : String(text));
	}

	// The descriptions use a little Markdown: **bold**, `code` and blank lines between paragraphs.
	function inline(text) {
		return esc(text)
			.replace(/\*\*(.+?)\*\*/g, "<b>$1</b>")
			.replace(/`([^`]+)`/g, "<code>$1</code>");
	}

	function prose(text) {
		return (text || "")
			.split(/\n\s*\n/)
			.map((paragraph) => `<p>${inline(paragraph)}</p>`)
			.join("");
	}

	function type_of(schema) {
		if (!schema) return "";
		if (schema.anyOf) return schema.anyOf.map(type_of).join(" | ");
		if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
		const types = [].concat(schema.type || schema["x-python-type"] || "any");
		return types
			.map((t) => (t === "array" && schema.items ? `array of ${type_of(schema.items)}` : t))
			.map((t) => (schema.format ? `${t} (${schema.format})` : t))
			.join(" | ");
	}

	function arguments_of(operation) {
		const rows = (operation.parameters || []).map((p) => ({
			name: p.name,
			where: p.in,
			schema: p.schema,
			required: p.required,
		}));
		const content = (operation.requestBody || {}).content || {};
		const json = content["application/json"];
		if (json) {
			const required = json.schema.required || [];
			for (const [name, schema] of Object.entries(json.schema.properties || {})) {
				rows.push({ name, where: "body", schema, required: required.includes(name) });
			}
		} else if (content["text/plain"]) {
			rows.push({ name: "(body)", where: "text/plain", schema: { type: "string" }, required: true });
		}
		return rows;
	}

	function curl(path, verb, operation) {
		const args = arguments_of(operation).filter((a) => a.required && a.where !== "path");
		const url = `${window.location.origin}${path.replace("{name}", "NAME")}`;
		const guest = operation.security && !operation.security.length;
		const auth = guest ? "" : ` \\\n  -H "Authorization: token API_KEY:API_SECRET"`;
		if (verb === "get") {
			const query = args.map((a) => `${encodeURIComponent(a.name)}=...`).join("&");
			return `curl${auth} \\\n  "${url}${query ? "?" + query : ""}"`;
		}
		if (((operation.requestBody || {}).content || {})["text/plain"]) {
			return `curl -X ${verb.toUpperCase()}${auth} \\\n  -H "Content-Type: text/plain" \\\n  "${url}" \\\n  --data-binary @body.txt`;
		}
		const body = {};
		args.forEach((a) => (body[a.name] = "..."));
		return `curl -X ${verb.toUpperCase()}${auth} \\\n  -H "Content-Type: application/json" \\\n  "${url}" \\\n  -d '${JSON.stringify(body)}'`;
	}

	function render_operation(path, verb, operation) {
		const rows = arguments_of(operation)
			.map(
				(a) => `<tr>
					<td><code>${esc(a.name)}</code>${a.required ? ' <span class="text-danger">*</span>' : ""}</td>
					<td>${esc(a.where)}</td>
					<td>${esc(type_of(a.schema))}</td>
					<td>${a.schema && a.schema.default !== undefined ? esc(JSON.stringify(a.schema.default)) : ""}</td>
				</tr>`
			)
			.join("");
		const code = (operation["x-permission-code"] || []).join("\n");
		return `<div class="frappe-card mb-3 p-3 trackflow-api-operation">
			<div class="mb-2">
				<span class="indicator-pill ${verb === "get" ? "blue" : "green"}">${esc(verb.toUpperCase())}</span>
				<code class="ml-2">${esc(path)}</code>
			</div>
			<div class="mb-2"><b>${inline(operation.summary)}</b></div>
			<div class="text-muted">${prose(operation.description)}</div>
			${code ? `<details class="small mb-2"><summary>${__("Permission checks")}</summary><pre>${esc(code)}</pre></details>` : ""}
			${
				rows
					? `<table class="table table-bordered table-sm small"><thead><tr>
						<th>${__("Argument")}</th><th>${__("In")}</th><th>${__("Type")}</th><th>${__("Default")}</th>
					</tr></thead><tbody>${rows}</tbody></table>`
					: `<p class="small text-muted">${__("No arguments.")}</p>`
			}
			<details class="small"><summary>curl</summary><pre>${esc(curl(path, verb, operation))}</pre></details>
		</div>`;
	}

	function render(page, spec, filter) {
		if (!spec) return;
		const needle = (filter || "").toLowerCase();
		const by_tag = {};
		for (const [path, item] of Object.entries(spec.paths)) {
			for (const [verb, operation] of Object.entries(item)) {
				const text = `${path} ${operation.summary} ${operation["x-permission"] || ""}`.toLowerCase();
				if (needle && !text.includes(needle)) continue;
				const tag = (operation.tags || ["other"])[0];
				(by_tag[tag] = by_tag[tag] || []).push(render_operation(path, verb, operation));
			}
		}
		const tags = Object.fromEntries((spec.tags || []).map((t) => [t.name, t.description || ""]));
		const sections = Object.entries(by_tag).map(
			([tag, cards]) => `<h4 class="mt-4">${esc(tag)}</h4>
				<p class="text-muted">${esc(tags[tag] || "")}</p>${cards.join("")}`
		);
		$(page.body).html(`<div class="trackflow-api p-3">
			${prose(spec.info.description)}
			<p class="text-muted small">${__("OpenAPI {0}, TrackFlow {1}", [
				esc(spec.openapi),
				esc(spec.info.version),
			])}</p>
			${sections.join("") || `<p class="text-muted">${__("No method matches.")}</p>`}
		</div>`);
	}
})();
