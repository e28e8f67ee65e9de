/*! TrackFlow embed script, wire format v1 (documented in trackflow/engine/collect.py). AGPL-3.0 */
// Plain ES2015, no dependencies, no build step. Budget: 3 KB minified + gzipped (measured by
// tests/browser/test_embed_script.py). Every entry point is wrapped in try/catch: the script must
// never throw into the host page. No fingerprinting: the only identifiers are random ids in cookies.
((w, d, n) => {
	"use strict";
	const s = d.currentScript || d.querySelector("script[data-site]");
	const old = w.trackflow;
	const attr = (k) => s.getAttribute("data-" + k);
	if (!s || (old && old.tf) || !/^https?:$/.test(location.protocol) || !w.crypto || !attr("site")) return;

	const site = attr("site"),
		END = new URL(s.src).origin + "/api/method/trackflow.api.tracking.collect",
		cookieDays = +attr("cookie-days") || 395,
		sessionMs = (+attr("session-minutes") || 30) * 6e4,
		mode = attr("consent"), // none (default) | opt-in | opt-out
		cookieless = attr("cookieless") == "true", // anonymous pings while tracking is not allowed
		domain = attr("cookie-domain"),
		dnt =
			attr("respect-dnt") != "false" &&
			(n.doNotTrack == "1" || w.doNotTrack == "1" || n.globalPrivacyControl === true),
		UTM = ["source", "medium", "campaign", "content", "term"],
		CLICK = ["gclid", "gbraid", "wbraid", "fbclid", "msclkid", "ttclid", "li_fat_id", "twclid", "tf_click"],
		// Never captured from forms (the same rule as SENSITIVE_FIELD in collect.py).
		SENSITIVE = /passw|secret|token|card|ccnum|(^|[\W_])(cc|cvv|cvc|csc|iban|ssn|pin|pass|pwd)\d*([\W_]|$)/i;
	let queue = []; // events ready to send (tracking allowed)
	let held = []; // events kept in memory only, until consent is given (opt-in)
	const pings = []; // cookieless pings (visitor and session null)
	let timer, visitor, session, current;

	const cookie = (k, v, days) => {
		if (v == null) {
			const m = d.cookie.match("(?:^|; )" + k + "=([^;]*)");
			return m && m[1];
		}
		d.cookie =
			k + "=" + v + "; Max-Age=" + Math.round(days * 86400) + "; Path=/; SameSite=Lax" +
			(domain ? "; Domain=" + domain : "") + (location.protocol == "https:" ? "; Secure" : "");
	};
	let consent = cookie("_tf_c"); // "1" granted, "0" denied, null: not asked

	const rid = () => Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => (b | 256).toString(16).slice(1)).join("");
	const txt = (v, len) => String(v).slice(0, len);
	const key = (k, len) => txt(k, len).replace(/[^\w.:-]/g, "_");
	const httpUrl = (u) => (/^https?:\/\//i.test(u) ? txt(u, 2048) : undefined);
	const allowed = () => !dnt && (mode == "opt-in" ? consent == "1" : consent != "0");

	const campaign = () => {
		const q = new URLSearchParams(location.search), utm = {}, ids = {};
		let sig = "", h = 0;
		UTM.forEach((k) => {
			const v = q.get("utm_" + k);
			if (v) sig += k + (utm[k] = txt(v, 200));
		});
		CLICK.forEach((k) => {
			const v = q.get(k);
			if (v && /^[!-~]{1,512}$/.test(v)) sig += k + (ids[k] = v);
		});
		for (const c of sig) h = (h * 31 + c.charCodeAt(0)) | 0;
		return [utm, ids, sig && (h >>> 0).toString(36)];
	};

	// Visitor and session cookies; queues session_start when a session begins: none yet, idle for
	// longer than the timeout, or the visitor arrives with campaign parameters the session lacks.
	const ensure = (ts) => {
		const c = campaign(), st = (cookie("_tf_s") || "").split("."), now = Date.now();
		visitor = cookie("_tf_v") || rid();
		cookie("_tf_v", visitor, cookieDays);
		if (!st[1] || now - st[1] > sessionMs || (c[2] && c[2] != st[2])) {
			send(); // the previous session's events go in their own batch
			session = rid();
			st[2] = c[2];
			// Sites that opt in (TrackFlow Site: Capture Ad Platform Cookies) also send the GA4 and Meta
			// browser ids, as set; the server keeps the ones of the right shape, for server-side matching.
			if (attr("ad-cookies") == "true")
				["_ga", "_fbp"].forEach((k) => {
					const v = cookie(k);
					if (v && /^[!-~]{1,512}$/.test(v)) c[1][k] = v;
				});
			queue.push({
				type: "session_start", id: rid(), ts, url: httpUrl(location.href),
				ref: httpUrl(d.referrer), utm: c[0], click_ids: c[1]
			});
		} else session = st[0];
		cookie("_tf_s", session + "." + now + "." + (st[2] || ""), sessionMs / 864e5);
	};

	const track = (e) => {
		e.id = rid();
		e.ts = e.ts || Date.now();
		e.url = e.url || httpUrl(location.href);
		if (allowed()) {
			ensure(e.ts);
			queue.push(e);
		} else if (mode == "opt-in" && !consent && !dnt && held.length < 100) held.push(e);
		schedule(queue.length > 19 ? 0 : 1000);
	};

	const schedule = (ms) => {
		clearTimeout(timer);
		timer = setTimeout(send, ms);
	};

	// text/plain body: a CORS "simple" request, no preflight. Cookies are never sent to the CRM.
	const post = (body, retried) => {
		const again = () => retried || setTimeout(() => post(body, 1), 1500);
		try {
			fetch(END, { method: "POST", body, keepalive: true, credentials: "omit" }).then(
				(r) => (r.status > 499 || r.status == 429) && again(),
				again
			);
		} catch (x) {
			n.sendBeacon(END, body) || again();
		}
	};

	// Batches of at most 20 events and ~28 KB (the server caps a body at 32 KB).
	const send = () => {
		clearTimeout(timer);
		[[queue, 1], [pings]].forEach(([list, ident]) => {
			while (list.length) {
				const events = [];
				let size = 0, len;
				while (list.length && events.length < 20) {
					len = JSON.stringify(list[0]).length;
					if (events.length && size + len > 28000) break;
					size += len;
					events.push(list.shift());
				}
				post(JSON.stringify({
					site, v: 1, visitor: ident ? visitor : null, session: ident ? session : null,
					sent_at: Date.now(), events
				}));
			}
		});
	};

	const pageview = (ref) => {
		const u = location.href.split("#")[0], now = Date.now();
		if (u == current) return;
		current = u;
		if (allowed()) {
			try {
				// a reload within a second is not a new page view
				const last = (sessionStorage._tf_p || "").split(" ");
				sessionStorage._tf_p = now + " " + u;
				if (last[1] == u && now - last[0] < 1000) return;
			} catch (x) {}
		} else if (cookieless) {
			pings.push({
				type: "ping", id: rid(), ts: now, url: location.origin + location.pathname,
				ref: httpUrl(ref) && new URL(ref).origin
			});
			schedule(1000);
		}
		track({ type: "pageview", title: txt(d.title, 300), ref: httpUrl(ref) });
	};

	const navigated = () => {
		const prev = current;
		setTimeout(() => pageview(prev), 0); // let the app set its new title first
	};

	const api = {
		event(name, props) {
			const p = {};
			let i = 0;
			for (const k in props) {
				const v = props[k];
				if (k && i < 20 && (v === null || /^(boolean|string)$/.test(typeof v) || (typeof v == "number" && isFinite(v))))
					p[key(k, 40)] = typeof v == "string" ? txt(v, 500) : v, i++;
			}
			if ((name = key(name || "", 64))) track({ type: "event", name, props: p });
		},
		conversion(c) {
			const o = { type: key((c = c || {}).type || "purchase", 40) };
			if (c.value !== "" && c.value != null && c.value >= 0 && c.value < 1e15) o.value = +c.value;
			if (/^[a-z]{3}$/i.test(c.currency)) o.currency = c.currency.toUpperCase();
			if (c.id != null) o.id = txt(c.id, 128);
			track({ type: "conversion", conversion: o });
		},
		identify(p) {
			const t = {}, phone = txt((p = p || {}).phone || "", 40).replace(/[\s().\/-]/g, "");
			const email = txt(p.email || "", 254).trim();
			if (/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) t.email = email;
			if (p.name) t.name = txt(p.name, 140);
			if (/^\+?\d{5,20}$/.test(phone)) t.phone = phone;
			if (t.email || t.name || t.phone) track({ type: "identify", traits: t });
		},
		consent(v) {
			if (v == "granted" && consent != "1") {
				cookie("_tf_c", (consent = "1"), cookieDays);
				if (allowed()) {
					held.splice(0).forEach((e) => {
						ensure(e.ts);
						queue.push(e);
					});
					track({ type: "consent", consent: v });
				}
			} else if (v == "denied") {
				cookie("_tf_v", "", 0);
				cookie("_tf_s", "", 0);
				cookie("_tf_c", (consent = "0"), cookieDays);
				queue = [];
				held = [];
			}
		},
		pageview() {
			current = 0;
			pageview(d.referrer);
		}
	};

	function trackflow(cmd, ...args) {
		try {
			if (api.hasOwnProperty(cmd)) api[cmd](...args);
		} catch (x) {}
	}
	trackflow.tf = 1;
	w.trackflow = trackflow;

	// Opt-in form capture: only fields the owner lists in data-trackflow-form="a b" or marks with
	// data-trackflow-field; never passwords or card data, whatever the owner marked.
	d.addEventListener("submit", (ev) => {
		try {
			const f = ev.target, names = f.getAttribute("data-trackflow-form"), fields = {};
			if (names == null) return;
			for (const el of f.elements) {
				const nm = el.getAttribute("name") || el.id, k = key(nm, 64);
				if (
					nm && (el.hasAttribute("data-trackflow-field") || names.split(/[\s,]+/).includes(nm)) &&
					el.type != "password" && !/^cc-/.test(el.getAttribute("autocomplete")) && !SENSITIVE.test(k) &&
					(!/^(checkbox|radio)$/.test(el.type) || el.checked) && Object.keys(fields).length < 30
				)
					fields[k] = txt(el.value, 1000);
			}
			track({ type: "form", form: txt(f.getAttribute("id") || f.getAttribute("name") || "form", 100), fields });
			send();
		} catch (x) {}
	}, true);

	["pushState", "replaceState"].forEach((k) => {
		const orig = history[k];
		history[k] = function () {
			const r = orig.apply(this, arguments);
			navigated();
			return r;
		};
	});
	w.addEventListener("popstate", navigated);
	w.addEventListener("pagehide", send);
	d.addEventListener("visibilitychange", () => d.visibilityState == "hidden" && send());

	// Calls made before the script loaded: consent first (it decides what the first page view may
	// carry), then the page view, then the rest in order.
	const stub = (old && old.q) || [];
	for (const a of stub) if (a[0] == "consent") trackflow(...a);
	pageview(d.referrer);
	for (const a of stub) if (a[0] != "consent") trackflow(...a);
})(window, document, navigator);
