/*! TrackFlow embed script, wire format v1 (documented in trackflow/engine/collect.py). AGPL-3.0 */
// Plain ES2015, no dependencies. Served minified: after a change, run trackflow/public/js/build.py and
// commit trackflow.min.js. Budget: 3 KB gzipped as served (tests/browser/test_embed_script.py). Every entry point is wrapped in try/catch: the script must
// never throw into the host page. No fingerprinting: the only identifiers are random ids in cookies.
((w, d, n) => {
	const s = d.currentScript || d.querySelector("script[data-site]"),
		old = w.trackflow,
		attr = k => s.getAttribute("data-" + k);
	if (!s || old && old.tf || !/^https?:$/.test(location.protocol) || !attr("site")) return;

	const site = attr("site"),
		END = new URL(s.src).origin + "/api/method/trackflow.api.tracking.collect",
		cookieDays = +attr("cookie-days") || 395,
		sessionMs = (+attr("session-minutes") || 30) * 6e4,
		mode = attr("consent"), // none (default) | opt-in | opt-out
		cookieless = attr("cookieless") == "true", // anonymous pings while tracking is not allowed
		domain = attr("cookie-domain"),
		dnt =
			attr("respect-dnt") != "false" &&
			(n.doNotTrack == "1" || n.globalPrivacyControl),
		UTM = ["source", "medium", "campaign", "content", "term"],
		CLICK = ["gclid", "gbraid", "wbraid", "fbclid", "msclkid", "ttclid", "li_fat_id", "twclid", "tf_click"],
		// Never captured from forms (the same rule as SENSITIVE_FIELD in collect.py: a test compares them).
		SECRET = /passw|secret|token|card|ccnum|(^|[\W_])(cc|cvv|cvc|csc|iban|ssn|pin|pass|pwd)\d*([\W_]|$)/i;
	let queue = [], // events ready to send (tracking allowed)
		held = [], // events kept in memory only, until consent is given (opt-in)
		pings = [], // cookieless pings (visitor and session null)
		timer, visitor, session, current;

	const cookie = (k, v, days) => {
		if (v == null) {
			const m = d.cookie.match("(?:^|; )" + k + "=([^;]*)");
			return m && m[1];
		}
		d.cookie =
			k + "=" + v + "; Max-Age=" + (days * 86400 | 0) + "; Path=/; SameSite=Lax" +
			(domain ? "; Domain=" + domain : "") + (location.protocol == "https:" ? "; Secure" : "");
	};
	let consent = cookie("_tf_c"); // "1" granted, "0" denied, null: not asked

	const rid = () => Array.from(crypto.getRandomValues(new Uint8Array(16)), b => (b | 256).toString(16).slice(1)).join(""),
		txt = (v, len) => String(v).slice(0, len),
		key = (k, len) => txt(k, len).replace(/[^\w.:-]/g, "_"),
		http = u => (/^https?:\/\//i.test(u) ? txt(u, 2048) : void 0),
		allowed = () => !dnt && (mode == "opt-in" ? consent == "1" : consent != "0");

	const campaign = u => {
		const q = new URL(u).searchParams, utm = {}, ids = {};
		let sig = "", h = 0;
		UTM.forEach(k => {
			const v = q.get("utm_" + k);
			if (v) sig += k + (utm[k] = txt(v, 200));
		});
		CLICK.forEach(k => {
			const v = q.get(k);
			if (v && /^[!-~]{1,512}$/.test(v)) sig += k + (ids[k] = v);
		});
		for (const c of sig) h = h * 31 + c.charCodeAt(0) | 0;
		return [utm, ids, sig && (h >>> 0).toString(36)];
	};

	// Queues an event, after refreshing the visitor and session cookies; a session_start first when a
	// session begins: none yet, idle for longer than the timeout, or the visitor arrives with campaign
	// parameters the session lacks. The session starts from the event's own page, not the current one:
	// events held until opt-in consent replay from the landing page (its UTMs and click ids), even after
	// the app moved on with history.pushState (the referrer of the document does not change).
	const enqueue = e => {
		const c = campaign(e.url), st = (cookie("_tf_s") || "").split("."), now = Date.now();
		visitor = cookie("_tf_v") || rid();
		cookie("_tf_v", visitor, cookieDays);
		if (!st[1] || now - st[1] > sessionMs || c[2] && c[2] != st[2]) {
			send(); // the previous session's events go in their own batch
			session = rid();
			st[2] = c[2];
			// Sites that opt in (TrackFlow Site: Capture Ad Platform Cookies) also send the GA4 and Meta
			// browser ids, as set; the server keeps the ones of the right shape, for server-side matching.
			if (attr("ad-cookies") == "true")
				["_ga", "_fbp"].forEach(k => {
					const v = cookie(k);
					if (v && /^[!-~]{1,512}$/.test(v)) c[1][k] = v;
				});
			queue.push({
				type: "session_start", id: rid(), ts: e.ts, url: e.url,
				ref: http(d.referrer), utm: c[0], click_ids: c[1]
			});
		} else session = st[0];
		cookie("_tf_s", session + "." + now + "." + (st[2] || ""), sessionMs / 864e5);
		queue.push(e);
	};

	const track = e => {
		e.id = rid();
		e.ts = Date.now();
		e.url = http(location.href);
		if (allowed()) enqueue(e);
		else if (mode == "opt-in" && !consent && !dnt && held.length < 100) held.push(e);
		clearTimeout(timer);
		timer = setTimeout(send, queue.length > 19 ? 0 : 1e3);
	};

	// Batches the endpoint did not take (network error, 5xx, 429) are kept in `box`, the last 20 of
	// them (each at most 32 KB), mirrored to sessionStorage._tf_o while tracking is allowed, and resent
	// unchanged (same event ids: the server drops repeats) after a backoff, 1 s doubling per failure,
	// or the Retry-After if longer, at most 60 s; and at once by the tab's next page. Another 4xx
	// is final: that batch is dropped.
	let box = [], wait = 1e3, busy; // busy: the resend timer
	const save = () => {
		box = box.slice(-20);
		try {
			allowed() ? sessionStorage._tf_o = JSON.stringify(box) : delete sessionStorage._tf_o;
		} catch (x) {}
	};
	// text/plain body: a CORS "simple" request, no preflight. Cookies are never sent to the CRM.
	const post = body => {
		const done = r => {
			if (r && r.status < 500 && r.status != 429) wait = 1e3; // delivered, or refused for good
			else {
				box.push(body);
				clearTimeout(busy);
				busy = setTimeout(() => box.splice(0).forEach(post), Math.min(Math.max(r && r.headers.get("Retry-After") * 1e3 || 0, wait), 6e4));
				wait *= 2;
			}
			save();
		};
		try {
			// A page being left rejects its requests in flight, but keepalive ones do go out: done() in a
			// task of its own never runs there, and runs for a real network error.
			fetch(END, { method: "POST", body, keepalive: 1, credentials: "omit" }).then(done, () => setTimeout(done));
		} catch (x) {
			done(); // a page's own fetch wrapper that throws: kept, tried again later
		}
	};

	// Batches of at most 20 events and 32000 bytes of UTF-8 of events (the server caps a body at
	// 32768 bytes; the envelope takes at most ~210).
	const send = () => {
		[[queue, visitor, session], [pings, null, null]].forEach(([list, visitor, session]) => {
			while (list[0]) {
				const events = [];
				let size = 0; // each event's UTF-8 bytes and a comma; the first one goes in whatever its size
				while (
					list[0] && events.length < 20 &&
					((size += new Blob([JSON.stringify(list[0])]).size + 1) < 32e3 || !events[0])
				)
					events.push(list.shift());
				post(JSON.stringify({
					site, v: 1, visitor, session, sent_at: Date.now(), events
				}));
			}
		});
	};

	const pageview = ref => {
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
				ref: http(ref) && new URL(ref).origin
			});
		}
		track({ type: "pageview", title: txt(d.title, 300), ref: http(ref) });
	};

	const navigated = () => setTimeout(pageview, 0, current); // let the app set its new title first

	const api = {
		event(name, props) {
			const p = {};
			let i = 0;
			for (const k in props) {
				const v = props[k];
				if (k && i < 20 && (v === null || /^(boolean|string)$/.test(typeof v) || Number.isFinite(v)))
					p[key(k, 40)] = typeof v == "string" ? txt(v, 500) : v, i++;
			}
			if ((name = key(name || "", 64))) track({ type: "event", name, props: p });
		},
		conversion(c) {
			const o = { type: key((c = c || {}).type || "purchase", 40) };
			if (c.value !== "" && c.value != null && c.value >= 0 && c.value < 1e15) o.value = +c.value;
			if (/^[a-z]{3}$/i.test(c.currency)) o.currency = c.currency.toUpperCase();
			const id = c.id != null && txt(c.id, 140); // an empty order id is none (collect refuses "")
			if (id) o.id = id;
			track({ type: "conversion", conversion: o });
		},
		identify(p) {
			// An email of at most 140 characters (the server refuses longer ones), with the signature of
			// the website's backend when given (README, "Verified identity"); a phone of 5-20 digits.
			// identify() without an argument throws here, and trackflow() swallows it: nothing to send.
			const t = {}, e = String(p.email || "").trim(), ph = String(p.phone || "").replace(/[\s().\/-]/g, "");
			if (/^(?=.{5,140}$)[^\s@]+@[^\s@]+\.[^\s@]+$/.test(e)) {
				t.email = e;
				if (/^[\da-f]{64}$/.test(p.signature)) t.signature = p.signature;
			}
			if (p.name) t.name = txt(p.name, 140);
			if (/^\+?\d{5,20}$/.test(ph)) t.phone = ph;
			if (Object.keys(t)[0]) track({ type: "identify", traits: t });
		},
		consent(v) {
			if (v == "granted" && consent != "1") {
				cookie("_tf_c", consent = "1", cookieDays);
				// (with Do Not Track, nothing is held and track() keeps nothing)
				held.splice(0).forEach(enqueue);
				track({ type: "consent", consent: v });
			} else if (v == "denied") {
				cookie("_tf_v", "", 0);
				cookie("_tf_s", "", 0);
				cookie("_tf_c", consent = "0", cookieDays);
				queue = [];
				held = [];
				box = [];
				save();
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
	d.addEventListener("submit", ev => {
		try {
			const f = ev.target, names = f.getAttribute("data-trackflow-form"), fields = {};
			if (names == null) return;
			for (const el of f.elements) {
				const nm = el.name || el.id, k = key(nm, 64);
				if (
					nm && (el.hasAttribute("data-trackflow-field") || names.split(/[\s,]+/).includes(nm)) &&
					el.type != "password" && !/^cc-/.test(el.autocomplete) && !SECRET.test(k) &&
					(!/^(checkbox|radio)$/.test(el.type) || el.checked) && Object.keys(fields).length < 30
				)
					fields[k] = txt(el.value, 1000);
			}
			track({ type: "form", form: txt(f.getAttribute("id") || f.getAttribute("name") || "form", 100), fields });
			send();
		} catch (x) {}
	}, true);

	["pushState", "replaceState"].forEach(k => {
		const orig = history[k];
		history[k] = function () {
			navigated();
			return orig.apply(this, arguments);
		};
	});
	w.addEventListener("popstate", navigated);
	w.addEventListener("pagehide", send);
	d.addEventListener("visibilitychange", () => d.hidden && send());

	// Calls made before the script loaded: consent first (it decides what the first page view may
	// carry), then the page view, then the rest in order.
	const stub = old && old.q || [];
	for (const a of stub) if (a[0] == "consent") trackflow(...a);
	pageview(d.referrer);
	try {
		allowed() && JSON.parse(sessionStorage._tf_o).forEach(post);
	} catch (x) {}
	for (const a of stub) if (a[0] != "consent") trackflow(...a);
})(window, document, navigator);
