"""The embed script in real headless Chromium against a page origin and a recording CRM origin."""

import gzip
import importlib.util
import json
import re
import time
from decimal import Decimal

import pytest

from trackflow.engine.collect import parse_collect
from trackflow.engine.sessions import build_rows

from .conftest import COLLECT_PATH, JS, SCRIPT, SCRIPT_PATH, SOURCE

ROOT = JS.parents[2]
HEX32 = re.compile(r"[0-9a-f]{32}")
DAY = 86400
GA = "GA1.1.1234567890.1700000000"
FBP = "fb.1.1596403881668.1116446470"
AD_COOKIES = 'data-ad-cookies="true"'


def load_build():
	"""trackflow/public/js/build.py, the repository's build step for the served file."""
	spec = importlib.util.spec_from_file_location("trackflow_embed_build", SCRIPT.parent / "build.py")
	module = importlib.util.module_from_spec(spec)
	spec.loader.exec_module(module)
	return module


def test_the_served_file_is_a_fresh_build_of_the_source():
	build = load_build()
	assert build.SOURCE == SOURCE and build.SERVED == SCRIPT
	assert SCRIPT.read_bytes() == build.build(SOURCE.read_text()), (
		"trackflow.min.js is stale: run python trackflow/public/js/build.py and commit the result"
	)


def test_gzip_size_budget():
	size = len(gzip.compress(SCRIPT.read_bytes(), compresslevel=9))
	assert size <= 3 * 1024, f"trackflow.min.js is {size} bytes gzipped, over the 3 KB budget"


def test_the_snippet_loads_the_served_file():
	# TrackFlow Site's snippet (a Frappe module: read as text, not imported)
	site = ROOT / "trackflow" / "trackflow" / "doctype" / "trackflow_site" / "trackflow_site.py"
	(src,) = re.findall(r"/assets/trackflow/js/[\w.]+\.js", site.read_text())
	assert src == SCRIPT_PATH and (JS / src.rpartition("/")[2]) == SCRIPT


def test_first_visit_sets_cookies_and_posts_to_its_own_origin(tf):
	tf.context.add_cookies([{"name": "sid", "value": "crm-session", "url": tf.crm_origin}])
	tf.goto(tf.add_page("/home", title="Home"), flush=False)  # the batch timer sends it
	tf.collector.wait_events(2)
	request = tf.collector.requests[0]
	batch = request["json"]
	cookies = tf.cookies()

	assert request["path"] == COLLECT_PATH
	assert request["content_type"].startswith("text/plain")
	assert request["origin"] == tf.site_origin
	assert request["cookie"] is None  # credentials: "omit": the CRM's cookies never travel
	assert batch["site"] == tf.site_key and batch["v"] == 1
	assert HEX32.fullmatch(batch["visitor"]) and HEX32.fullmatch(batch["session"])
	assert batch["visitor"] == cookies["_tf_v"]["value"]
	assert cookies["_tf_s"]["value"].split(".")[0] == batch["session"]
	assert [e["type"] for e in batch["events"]] == ["session_start", "pageview"]
	start, view = batch["events"]
	assert start["url"] == view["url"] == tf.site_origin + "/home"
	assert start["utm"] == {} and start["click_ids"] == {} and "ref" not in start
	assert view["title"] == "Home"
	assert cookies["_tf_v"]["expires"] - time.time() == pytest.approx(395 * DAY, abs=120)
	assert cookies["_tf_s"]["expires"] - time.time() == pytest.approx(30 * 60, abs=120)
	assert cookies["_tf_v"]["sameSite"] == "Lax"


def set_ad_cookies(tf, **cookies):
	tf.context.add_cookies([{"name": k, "value": v, "url": tf.site_origin} for k, v in cookies.items()])


def test_the_readable_source_behaves_the_same(tf):
	# The behaviour tests run the served (minified) file; this smoke test runs the source it is built from.
	tf.collector.script = SOURCE.read_bytes()
	set_ad_cookies(tf, _ga=GA, _fbp=FBP)
	try:
		tf.goto(tf.add_page("/source", attrs=AD_COOKIES))
		tf.page.evaluate("trackflow('event', 'readable', {ok: true})")
		events = tf.collector.wait_events(3)
	finally:
		tf.collector.script = SCRIPT.read_bytes()
	assert [e["type"] for e in events] == ["session_start", "pageview", "event"]
	assert events[0]["click_ids"] == {"_ga": GA, "_fbp": FBP}


def test_cookie_lifetime_is_configurable_and_visitor_persists(tf):
	url = tf.add_page("/a", attrs='data-cookie-days="7"')
	tf.goto(url)
	first = tf.collector.wait_events(2)
	assert tf.cookies()["_tf_v"]["expires"] - time.time() == pytest.approx(7 * DAY, abs=120)
	tf.goto(url + "?second")
	tf.collector.wait_events(3)
	batches = tf.collector.batches()
	assert batches[1]["visitor"] == batches[0]["visitor"] and batches[1]["session"] == batches[0]["session"]
	assert [e["type"] for e in batches[1]["events"]] == ["pageview"]
	assert first[0]["id"] != batches[1]["events"][0]["id"]


def test_utm_click_ids_referrer_and_landing_url_are_captured(tf):
	landing = tf.add_page("/landing")
	query = (
		"?utm_source=newsletter&utm_medium=email&utm_campaign=spring%20sale&utm_content=hero&utm_term=crm"
		"&gclid=Cj0KCQ-abc_123&fbclid=IwAR0xyz&li_fat_id=7f1c-22&tf_click=clk_8Hq2&msclkid=m1&ttclid=t1"
		"&gbraid=g1&wbraid=w1&twclid=x1&other=ignored"
	)
	tf.add_plain_page("/from", f'<!doctype html><a id=go href="{landing}{query}">go</a>')
	tf.page.goto(tf.site_origin + "/from")
	tf.page.click("#go")
	tf.page.wait_for_function("window.trackflow && window.trackflow.tf === 1")
	tf.flush()
	start = tf.collector.wait_events(1, "session_start")[0]
	assert start["url"] == landing + query
	assert start["ref"] == tf.site_origin + "/from"
	assert start["utm"] == {
		"source": "newsletter",
		"medium": "email",
		"campaign": "spring sale",
		"content": "hero",
		"term": "crm",
	}
	assert start["click_ids"] == {
		"gclid": "Cj0KCQ-abc_123",
		"gbraid": "g1",
		"wbraid": "w1",
		"fbclid": "IwAR0xyz",
		"msclkid": "m1",
		"ttclid": "t1",
		"li_fat_id": "7f1c-22",
		"twclid": "x1",
		"tf_click": "clk_8Hq2",
	}


def test_new_campaign_parameters_start_a_new_session(tf):
	url = tf.add_page("/p")
	tf.goto(url + "?utm_campaign=a")
	tf.collector.wait_events(1, "session_start")
	tf.goto(url)  # same session: no campaign parameters
	tf.collector.wait_events(2, "pageview")
	tf.goto(url + "?utm_campaign=a&page=2")  # the same campaign again: still the same session
	tf.collector.wait_events(3, "pageview")
	tf.goto(url + "?utm_campaign=b")
	starts = tf.collector.wait_events(2, "session_start")
	batches = tf.collector.batches()
	assert len({b["session"] for b in batches[:3]}) == 1
	assert batches[-1]["session"] != batches[0]["session"]
	assert batches[-1]["visitor"] == batches[0]["visitor"]
	assert starts[1]["utm"] == {"campaign": "b"}


def test_session_rolls_over_after_the_idle_timeout(tf):
	url = tf.add_page("/idle")
	tf.goto(url)
	tf.collector.wait_events(1, "session_start")
	tf.shift_clock(29 * 60 * 1000)
	tf.goto(url + "?x=1")
	tf.collector.wait_events(2, "pageview")
	assert len(tf.collector.events("session_start")) == 1  # 29 minutes idle: same session
	tf.shift_clock(29 * 60 * 1000 + 31 * 60 * 1000)
	tf.goto(url + "?x=2")
	tf.collector.wait_events(2, "session_start")
	sessions = [b["session"] for b in tf.collector.batches()]
	assert sessions[0] == sessions[1] != sessions[2]


def test_session_timeout_is_configurable(tf):
	url = tf.add_page("/idle45", attrs='data-session-minutes="45"')
	tf.goto(url)
	tf.collector.wait_events(1, "session_start")
	assert tf.cookies()["_tf_s"]["expires"] - time.time() == pytest.approx(45 * 60, abs=120)
	tf.shift_clock(40 * 60 * 1000)
	tf.goto(url + "?x=1")
	tf.collector.wait_events(2, "pageview")
	assert len(tf.collector.events("session_start")) == 1
	tf.shift_clock(40 * 60 * 1000 + 46 * 60 * 1000)
	tf.goto(url + "?x=2")
	tf.collector.wait_events(2, "session_start")


def test_spa_navigation_tracks_push_replace_and_popstate(tf):
	tf.goto(tf.add_page("/app"))
	steps = [
		"history.pushState({}, '', '/app/settings'); document.title = 'Settings'",
		"history.replaceState({}, '', '/app/settings')",  # same URL: no page view
		"location.hash = 'section'",  # fragments are not pages
		"history.replaceState({}, '', '/app/settings?tab=2')",
		"history.back()",  # popstate: the hash entry was replaced, so back is /app/settings
		"history.back()",
	]
	for step in steps:
		tf.page.evaluate(step)
		time.sleep(0.1)
	tf.flush()
	tf.collector.wait_events(5, "pageview")
	time.sleep(0.3)
	views = tf.collector.events("pageview")
	assert [v["url"].removeprefix(tf.site_origin) for v in views] == [
		"/app",
		"/app/settings",
		"/app/settings?tab=2",
		"/app/settings",
		"/app",
	]
	assert views[1]["title"] == "Settings"
	assert [v.get("ref") for v in views[1:]] == [
		tf.site_origin + "/app",
		tf.site_origin + "/app/settings",
		tf.site_origin + "/app/settings?tab=2",
		tf.site_origin + "/app/settings",
	]
	assert len(tf.collector.events("session_start")) == 1


def test_reload_within_a_second_is_not_a_second_page_view(tf):
	url = tf.add_page("/reload")
	tf.goto(url)
	tf.page.reload()
	tf.goto(url, flush=False)  # a reload would flush on pagehide anyway
	tf.collector.wait_events(1, "pageview")
	time.sleep(1.2)
	assert len(tf.collector.events("pageview")) == 1
	tf.page.reload()
	tf.page.wait_for_function("window.trackflow && window.trackflow.tf === 1")
	tf.flush()
	tf.collector.wait_events(2, "pageview")


def test_event_conversion_and_identify_calls(tf):
	tf.goto(tf.add_page("/api"))
	tf.page.evaluate(
		"""() => {
		trackflow('event', 'signup started', {plan: 'pro', seats: 3, trial: true, none: null,
			nested: {no: 1}, list: [1], nan: NaN, fn() {}});
		trackflow('conversion', {type: 'purchase', value: '49.90', currency: 'eur', id: 1234});
		trackflow('conversion', {value: -5, currency: 'euro'});
		trackflow('identify', {email: '  Ada@Example.COM ', name: 'Ada', phone: '+44 (20) 7946-0958'});
		trackflow('identify', {email: 'not-an-email'});
		trackflow('identify', {});
		trackflow('no-such-command', 1);
		trackflow();
	}"""
	)
	tf.flush()
	tf.collector.wait_events(1, "identify")
	(event,) = tf.collector.events("event")
	assert event["name"] == "signup_started"
	assert event["props"] == {"plan": "pro", "seats": 3, "trial": True, "none": None}
	paid, bare = tf.collector.events("conversion")
	assert paid["conversion"] == {"type": "purchase", "value": 49.9, "currency": "EUR", "id": "1234"}
	assert bare["conversion"] == {"type": "purchase"}
	(identify,) = tf.collector.events("identify")
	assert identify["traits"] == {"email": "Ada@Example.COM", "name": "Ada", "phone": "+442079460958"}


def test_a_conversion_batch_carries_its_properties_to_the_drain_rows(tf):
	tf.goto(tf.add_page("/checkout"))
	tf.page.evaluate(
		"""() => {
		trackflow('conversion', {type: 'purchase', value: 49.5, currency: 'EUR', id: 'order-1042'});
		trackflow('conversion', {type: 'signup', id: ''});  // an empty order id is none
		trackflow('conversion', {type: 'purchase', value: 1, id: 'x'.repeat(150)});
	}"""
	)
	tf.flush()
	paid, signup, long_id = (e["conversion"] for e in tf.collector.wait_events(3, "conversion"))
	assert paid == {"type": "purchase", "value": 49.5, "currency": "EUR", "id": "order-1042"}
	assert signup == {"type": "signup"}
	assert long_id == {"type": "purchase", "value": 1, "id": "x" * 140}
	batches = [parse_collect(r["body"], max_skew=2 * DAY) for r in tf.collector.requests]
	rows = build_rows(batches)
	(row,) = [e for e in rows.events if e.type == "conversion" and e.props.get("order_id") == "order-1042"]
	assert dict(row.props) == {
		"type": "purchase",
		"value": "49.5",
		"currency": "EUR",
		"order_id": "order-1042",
	}
	conversion = next(c for c in rows.conversions if c.order_id == "order-1042")
	assert (conversion.value, conversion.currency, conversion.conversion_type) == (
		Decimal("49.5"),
		"EUR",
		"purchase",
	)
	assert conversion.idempotency_key == f"{tf.site_key}:purchase:order-1042"
	assert conversion.url == tf.site_origin + "/checkout"


def test_identify_sends_the_backends_signature_and_no_email_the_server_would_refuse(tf):
	signature = "ab" * 32
	tf.goto(tf.add_page("/signed"))
	tf.page.evaluate(
		f"""() => {{
		trackflow('identify', {{email: 'ada@example.com', signature: '{signature}'}});
		trackflow('identify', {{email: 'bob@example.com', signature: 'not-hex'}});
		trackflow('identify', {{name: 'No Email', signature: '{signature}'}});
		trackflow('identify', {{email: 'a'.repeat(150) + '@example.com', name: 'Long'}});
		trackflow('identify');
	}}"""
	)
	tf.flush()
	tf.collector.wait_events(4, "identify")
	traits = [e["traits"] for e in tf.collector.events("identify")]
	assert traits == [
		{"email": "ada@example.com", "signature": signature},
		{"email": "bob@example.com"},
		{"name": "No Email"},
		{"name": "Long"},
	]
	for request in tf.collector.requests:  # and the server takes every batch
		parse_collect(request["body"], now=time.time())


def test_events_are_batched_and_large_bursts_split(tf):
	tf.goto(tf.add_page("/burst"))
	tf.collector.wait_events(2)
	tf.page.evaluate("for (let i = 0; i < 5; i++) trackflow('event', 'e' + i)")
	tf.collector.wait_events(5, "event")
	assert [len(b["events"]) for b in tf.collector.batches()] == [2, 5]
	tf.page.evaluate("for (let i = 0; i < 45; i++) trackflow('event', 'big' + i, {pad: 'x'.repeat(400)})")
	tf.collector.wait_events(50, "event")
	sizes = [len(b["events"]) for b in tf.collector.batches()[2:]]
	assert sum(sizes) == 45 and max(sizes) <= 20
	assert all(len(r["body"]) <= 32768 for r in tf.collector.requests)


def test_pagehide_flushes_before_the_batch_timer(tf):
	tf.add_plain_page("/next", "<!doctype html><title>next</title>")
	tf.goto(tf.add_page("/leave"))
	tf.collector.wait_events(2)
	tf.page.evaluate(f"trackflow('event', 'leaving'); location.href = '{tf.site_origin}/next'")
	tf.collector.wait_events(1, "event", timeout=3)
	assert tf.collector.events("event")[0]["name"] == "leaving"


def test_visibilitychange_hidden_flushes_at_once(tf):
	tf.goto(tf.add_page("/hide"))
	tf.collector.wait_events(2)
	calls = tf.page.evaluate(
		"""() => {
		const calls = [], real = window.fetch;
		window.fetch = (...args) => { calls.push(args[1].body); return real(...args); };
		trackflow('event', 'hidden-soon');
		const before = calls.length;
		// what a browser does when the tab is hidden: both properties change (the script reads `hidden`)
		Object.defineProperty(document, 'visibilityState', {value: 'hidden', configurable: true});
		Object.defineProperty(document, 'hidden', {value: true, configurable: true});
		document.dispatchEvent(new Event('visibilitychange'));
		return [before, calls.length, calls[0]];
	}"""
	)
	assert calls[0] == 0 and calls[1] == 1
	assert '"hidden-soon"' in calls[2]


STORED = "JSON.parse(sessionStorage._tf_o || '[]')"  # the batches the script keeps for a resend


def delivered_ids(tf) -> list[str]:
	return [e["id"] for e in tf.collector.events()]


def test_failed_delivery_is_retried_until_delivered(tf):
	tf.allowed_console = ("503",)
	tf.collector.fail_next = 1
	tf.goto(tf.add_page("/retry"))
	tf.collector.wait_events(2, timeout=20)
	assert tf.collector.statuses() == [503, 204]
	assert tf.collector.requests[0]["body"] == tf.collector.requests[1]["body"]

	tf.collector.fail_next = 2  # the send and the first resend fail: kept, backed off, resent again
	tf.page.evaluate("trackflow('event', 'twice-failed')")
	tf.flush()
	tf.collector.wait_events(1, "event", timeout=20)
	assert tf.collector.statuses() == [503, 204, 503, 503, 204]
	assert len({r["body"] for r in tf.collector.requests[2:]}) == 1
	first, second, third = (r["at"] for r in tf.collector.requests[2:])
	assert third - second > second - first > 0.9  # backoff: 1 s, then 2 s
	assert len(delivered_ids(tf)) == len(set(delivered_ids(tf))) == 3
	tf.page.wait_for_function(f"{STORED}.length == 0")


def test_batches_kept_through_a_503_are_delivered_once_the_endpoint_is_back(tf):
	tf.allowed_console = ("503",)
	tf.collector.fail_next = 10**6  # the Redis queue is down
	tf.collector.retry_after = "3"
	tf.goto(tf.add_page("/down"))
	tf.page.evaluate("trackflow('event', 'while-down', {n: 1})")
	tf.flush()
	tf.collector.wait(lambda c: len(c.requests) >= 2, timeout=20, what="two refused batches")
	refused = [r["body"] for r in tf.collector.requests[:2]]
	tf.page.wait_for_function(f"{STORED}.length == 2", timeout=20_000)
	assert sorted(tf.page.evaluate(STORED)) == sorted(b.decode() for b in refused)

	tf.collector.fail_next = 0  # back up
	events = tf.collector.wait_events(3, timeout=20)
	assert [e["type"] for e in events if e["type"] != "event"] == ["session_start", "pageview"]
	delivered = [r for r in tf.collector.requests if r["status"] == 204]
	assert sorted(r["body"] for r in delivered) == sorted(refused)  # resent as they were
	# Retry-After: 3 wins over the 1 s backoff of the first failure
	assert min(r["at"] for r in tf.collector.requests[2:]) - tf.collector.requests[0]["at"] > 2.8
	tf.page.wait_for_function(f"{STORED}.length == 0", timeout=20_000)
	tf.page.evaluate("trackflow('event', 'after')")
	tf.flush()
	tf.collector.wait_events(2, "event", timeout=20)
	ids = delivered_ids(tf)
	assert len(ids) == len(set(ids)) == 4  # each event exactly once


def test_a_network_error_is_retried_too(tf):
	tf.allowed_console = ("ERR_",)
	tf.collector.fail_status = 0  # the connection is closed without an answer
	tf.collector.fail_next = 1
	tf.goto(tf.add_page("/network"))
	tf.collector.wait_events(2, timeout=20)
	assert tf.collector.statuses() == [0, 204]
	assert tf.collector.requests[0]["body"] == tf.collector.requests[1]["body"]


def test_a_batch_refused_with_another_4xx_is_dropped(tf):
	tf.allowed_console = ("400",)
	tf.collector.fail_status = 400
	tf.collector.fail_next = 1
	tf.goto(tf.add_page("/invalid"))
	tf.collector.wait(lambda c: len(c.requests) == 1, timeout=20, what="the refused batch")
	tf.page.evaluate("trackflow('event', 'next')")
	tf.flush()
	tf.collector.wait_events(1, "event", timeout=20)
	time.sleep(1.5)  # no resend comes (one would come after 1 s)
	assert tf.collector.statuses() == [400, 204]
	assert tf.page.evaluate(f"{STORED}.length") == 0


def test_batches_unsent_when_the_page_navigates_are_sent_by_the_next_page(tf):
	tf.allowed_console = ("503",)
	tf.collector.fail_next = 10**6
	tf.collector.retry_after = "60"  # this page would wait a minute before its own resend
	tf.goto(tf.add_page("/before"))
	tf.page.evaluate("trackflow('event', 'unsent')")
	tf.flush()
	tf.page.wait_for_function(f"{STORED}.length == 2", timeout=20_000)
	stored = tf.page.evaluate(STORED)
	unsent = {e["id"] for body in stored for e in json.loads(body)["events"]}
	assert len(unsent) == 3

	tf.collector.fail_next = 0
	left = time.monotonic()
	tf.goto(tf.add_page("/after"))  # the same tab: its sessionStorage carries the batches over
	tf.collector.wait(
		lambda c: unsent <= set(delivered_ids(tf)) and len(c.events("pageview")) == 2,
		timeout=20,
		what="the unsent events and the second page view",
	)
	resent = [r for r in tf.collector.requests if r["status"] == 204 and r["body"].decode() in stored]
	assert len(resent) == 2 and all(r["at"] > left for r in resent)
	assert [e["url"] for e in tf.collector.events("pageview")] == [
		tf.site_origin + "/before",
		tf.site_origin + "/after",
	]
	tf.page.wait_for_function(f"{STORED}.length == 0", timeout=20_000)
	ids = delivered_ids(tf)
	assert len(ids) == len(set(ids)) == 4


def test_batches_are_sized_in_utf8_bytes(tf):
	tf.goto(tf.add_page("/utf8"))
	tf.collector.wait_events(2)
	# 40 events of about 1.7 KB of UTF-8 each, but only 0.7 K JavaScript characters
	tf.page.evaluate("for (let i = 0; i < 40; i++) trackflow('event', 'euro' + i, {text: '€'.repeat(500)})")
	tf.flush()
	events = tf.collector.wait_events(40, "event", timeout=20)
	assert sorted(e["name"] for e in events) == sorted(f"euro{i}" for i in range(40))
	assert all(e["props"]["text"] == "€" * 500 for e in events)
	ids = delivered_ids(tf)
	assert len(ids) == len(set(ids)) == 42
	bodies = [r["body"] for r in tf.collector.requests[1:] if r["status"] == 204]
	assert all(len(b) <= 32768 for b in bodies)
	assert len(bodies) >= 3 and max(len(b) for b in bodies) > 30000  # full batches, not 20 events each
	assert max(len(b.decode()) for b in bodies) < 32768 / 2  # what a length in characters would have measured


def test_opt_in_consent_holds_everything_until_granted(tf):
	url = tf.add_page("/optin", attrs='data-consent="opt-in"')
	tf.goto(url + "?utm_source=ads")
	tf.page.evaluate("trackflow('event', 'before-consent'); trackflow('identify', {email: 'a@b.co'})")
	tf.assert_nothing_sent()
	assert not tf.cookies()
	assert tf.page.evaluate("sessionStorage.length") == 0

	tf.page.evaluate("trackflow('consent', 'granted')")
	events = tf.collector.wait_events(5)
	assert [e["type"] for e in events] == ["session_start", "pageview", "event", "identify", "consent"]
	assert events[0]["utm"] == {"source": "ads"}
	assert {"_tf_v", "_tf_s", "_tf_c"} <= set(tf.cookies())
	tf.goto(url + "?next")  # consent is remembered
	tf.collector.wait_events(2, "pageview")


def test_opt_in_consent_after_spa_navigation_starts_the_session_from_the_landing_page(tf):
	landing = tf.add_page("/land", attrs='data-consent="opt-in"')
	query = "?utm_source=news&utm_medium=email&utm_campaign=may&gclid=Cj0-abc"
	tf.add_plain_page("/from", f'<!doctype html><a id=go href="{landing}{query}">go</a>')
	tf.page.goto(tf.site_origin + "/from")
	tf.page.click("#go")
	tf.page.wait_for_function("window.trackflow && window.trackflow.tf === 1")
	tf.page.evaluate("history.pushState({}, '', '/land/pricing'); document.title = 'Pricing'")
	tf.page.wait_for_function("location.pathname == '/land/pricing'")
	time.sleep(0.1)  # the script records the page view after the app's own update
	tf.assert_nothing_sent()

	tf.page.evaluate("trackflow('consent', 'granted')")
	events = tf.collector.wait_events(4)
	assert [e["type"] for e in events] == ["session_start", "pageview", "pageview", "consent"]
	start = events[0]
	assert start["url"] == landing + query  # not the current /land/pricing
	assert start["utm"] == {"source": "news", "medium": "email", "campaign": "may"}
	assert start["click_ids"] == {"gclid": "Cj0-abc"}
	assert start["ref"] == tf.site_origin + "/from"
	assert [e["url"] for e in events[1:]] == [
		landing + query,
		tf.site_origin + "/land/pricing",
		tf.site_origin + "/land/pricing",
	]
	assert len({b["session"] for b in tf.collector.batches()}) == 1
	(session,) = build_rows(
		[parse_collect(r["body"], max_skew=2 * DAY) for r in tf.collector.requests]
	).sessions
	assert (session.landing_url, session.touch.source, session.touch.campaign) == (
		landing + query,
		"news",
		"may",
	)


def test_opt_in_cookieless_pings_carry_nothing_identifying(tf):
	url = tf.add_page("/ping", attrs='data-consent="opt-in" data-cookieless="true"')
	tf.add_plain_page("/src", f'<!doctype html><a id=go href="{url}?email=a%40b.co&gclid=x">go</a>')
	tf.page.goto(tf.site_origin + "/src")
	tf.page.click("#go")
	tf.page.wait_for_function("window.trackflow && window.trackflow.tf === 1")
	tf.flush()
	tf.collector.wait_events(1)
	time.sleep(0.2)
	(batch,) = tf.collector.batches()
	assert batch["visitor"] is None and batch["session"] is None
	(ping,) = batch["events"]
	assert ping["type"] == "ping"
	assert ping["url"] == url  # no query string
	assert ping["ref"] == tf.site_origin
	assert "title" not in ping
	assert not tf.cookies()


def test_denied_consent_clears_cookies_and_stops_tracking(tf):
	url = tf.add_page("/optout", attrs='data-consent="opt-out"')
	tf.goto(url)
	tf.collector.wait_events(2)
	assert {"_tf_v", "_tf_s"} <= set(tf.cookies())
	tf.page.evaluate(
		"trackflow('event', 'queued'); trackflow('consent', 'denied'); trackflow('event', 'after')"
	)
	cookies = tf.cookies()
	assert "_tf_v" not in cookies and "_tf_s" not in cookies
	assert cookies["_tf_c"]["value"] == "0"
	tf.flush()
	tf.goto(url + "?again=1")
	time.sleep(0.4)
	assert len(tf.collector.requests) == 1
	assert tf.collector.events("event") == []


@pytest.mark.parametrize(
	("signal", "attrs", "tracked"),
	[
		("Object.defineProperty(Navigator.prototype, 'doNotTrack', {get: () => '1'})", "", False),
		("Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})", "", False),
		(
			"Object.defineProperty(Navigator.prototype, 'doNotTrack', {get: () => '1'})",
			'data-respect-dnt="false"',
			True,
		),
	],
	ids=["dnt", "gpc", "dnt-ignored-by-site"],
)
def test_do_not_track_and_global_privacy_control(tf, signal, attrs, tracked):
	tf.context.add_init_script(signal)
	tf.goto(tf.add_page("/dnt", attrs=attrs))
	tf.page.evaluate("trackflow('event', 'x'); trackflow('consent', 'granted')")
	if tracked:
		tf.collector.wait_events(3)
		assert "_tf_v" in tf.cookies()
	else:
		tf.assert_nothing_sent()
		assert "_tf_v" not in tf.cookies() and "_tf_s" not in tf.cookies()


def test_command_queue_stub_keeps_calls_made_before_load(tf):
	stub = (
		"<script>window.trackflow = window.trackflow || function(){(trackflow.q = trackflow.q || []).push(arguments)};"
		"trackflow('event', 'early', {n: 1});"
		"trackflow('identify', {email: 'early@example.com'});"
		"trackflow('consent', 'granted');</script>"
	)
	tf.goto(tf.add_page("/stub", attrs='data-consent="opt-in"', head=stub))
	events = tf.collector.wait_events(5)
	# consent applied first, so the page view itself is tracked; then the queued calls in order
	assert [e["type"] for e in events] == ["session_start", "consent", "pageview", "event", "identify"]
	assert events[3]["props"] == {"n": 1}
	assert tf.page.evaluate("typeof trackflow.q") == "undefined"


def submit(tf, button: str) -> None:
	"""Click a form's submit button and wait for the page it posts to. Playwright's own wait after a
	click that starts a POST navigation could hang the run for good (seen only in whole-suite runs);
	an explicit wait for the navigation has a timeout."""
	with tf.page.expect_navigation(wait_until="commit"):
		tf.page.click(button, no_wait_after=True)


def test_form_capture_sends_marked_fields_and_refuses_secrets(tf):
	form = """
	<form id="signup" data-trackflow-form="email, company password card_number" method="post" action="/thanks">
		<input name="email" value="ada@example.com">
		<input name="company" value="Analytical Engines">
		<input name="notes" value="not marked">
		<select name="plan" data-trackflow-field><option value="pro" selected>Pro</option></select>
		<input type="checkbox" name="newsletter" value="yes" data-trackflow-field>
		<input type="password" name="password" value="hunter2" data-trackflow-field>
		<input name="card_number" value="4111111111111111">
		<input name="x1" autocomplete="cc-number" value="4111111111111111" data-trackflow-field>
		<input name="cvv" value="123" data-trackflow-field>
		<input name="iban" value="DE89370400440532013000" data-trackflow-field>
		<input name="api_token" value="secret" data-trackflow-field>
		<button id="send">Send</button>
	</form>
	<form id="untracked"><input name="email" value="x@example.com"><button id="send2">Send</button></form>
	"""
	tf.add_plain_page("/thanks", "<!doctype html><title>thanks</title>")
	tf.goto(tf.add_page("/form", body=form))
	tf.collector.wait_events(2)
	submit(tf, "#send")
	(submitted,) = tf.collector.wait_events(1, "form")
	assert submitted["form"] == "signup"
	assert submitted["fields"] == {"email": "ada@example.com", "company": "Analytical Engines", "plan": "pro"}
	sent = b"".join(r["body"] for r in tf.collector.requests)
	assert b"4111111111111111" not in sent and b"hunter2" not in sent and b"DE8937" not in sent
	# the drain's event row keeps the form's id (what form scoring rules match) and its marked fields
	rows = build_rows([parse_collect(r["body"], max_skew=2 * DAY) for r in tf.collector.requests])
	(row,) = [e for e in rows.events if e.type == "form"]
	assert row.name == "signup"
	assert dict(row.props) == {"email": "ada@example.com", "company": "Analytical Engines", "plan": "pro"}
	(identity,) = rows.identities
	assert (identity.source, identity.email) == ("form", "ada@example.com")


def test_a_form_named_but_without_an_id_and_fields_marked_one_by_one(tf):
	form = """
	<form name="newsletter" data-trackflow-form action="/done" method="post">
		<input name="email" value="bob@example.com" data-trackflow-field>
		<input name="secret_answer" value="blue" data-trackflow-field>
		<input type="hidden" name="pin" value="1234" data-trackflow-field>
		<input name="comment" value="not marked">
		<button id="go">Go</button>
	</form>
	"""
	tf.add_plain_page("/done", "<!doctype html><title>done</title>")
	tf.goto(tf.add_page("/news", body=form))
	tf.collector.wait_events(2)
	submit(tf, "#go")
	(submitted,) = tf.collector.wait_events(1, "form")
	assert (submitted["form"], submitted["fields"]) == ("newsletter", {"email": "bob@example.com"})


def test_pages_without_a_site_key_or_loading_twice_stay_quiet(tf):
	src = f"{tf.crm_origin}{SCRIPT_PATH}"
	tf.page.goto(tf.add_plain_page("/nokey", f'<!doctype html><script src="{src}"></script><p>hi</p>'))
	tf.page.wait_for_load_state("load")
	tf.goto(tf.add_page("/twice", head=f'<script defer src="{src}" data-site="{tf.site_key}"></script>'))
	tf.page.evaluate("trackflow('event', 'once')")
	tf.flush()
	tf.collector.wait_events(1, "event")
	time.sleep(0.3)
	assert len(tf.collector.events("pageview")) == 1
	assert len(tf.collector.events("event")) == 1


def test_ad_platform_cookies_are_sent_at_session_start_when_the_site_opts_in(tf):
	set_ad_cookies(tf, _ga=GA, _fbp=FBP, _ga_ABC123="GS1.1.1700000000.1.0")
	url = tf.add_page("/ads", attrs=AD_COOKIES)
	tf.goto(url + "?gclid=abc")
	tf.collector.wait_events(2)
	tf.goto(url + "?next")
	tf.collector.wait_events(2, "pageview")
	starts = tf.collector.events("session_start")
	assert len(starts) == 1  # read at session start only
	assert starts[0]["click_ids"] == {"gclid": "abc", "_ga": GA, "_fbp": FBP}  # as the page has them
	# The drain keeps them for a site that opted in, _ga as the GA4 client id (what forwarding sends).
	batch = parse_collect(tf.collector.requests[0]["body"], max_skew=2 * DAY)
	(session,) = build_rows([batch], ad_cookies=True).sessions
	assert dict(session.click_ids) == {"gclid": "abc", "_ga": "1234567890.1700000000", "_fbp": FBP}
	(session,) = build_rows([batch]).sessions
	assert dict(session.click_ids) == {"gclid": "abc"}


def test_ad_platform_cookies_are_not_read_without_the_attribute(tf):
	set_ad_cookies(tf, _ga=GA, _fbp=FBP)
	tf.goto(tf.add_page("/no-ads"))
	(start,) = tf.collector.wait_events(1, "session_start")
	assert start["click_ids"] == {}
	assert (
		b"_fbp" not in tf.collector.requests[0]["body"]
		and b"1234567890" not in tf.collector.requests[0]["body"]
	)


def test_absent_or_malformed_ad_platform_cookies_add_no_keys(tf):
	tf.goto(tf.add_page("/ads-none", attrs=AD_COOKIES))
	(start,) = tf.collector.wait_events(1, "session_start")
	assert start["click_ids"] == {}
	tf.context.clear_cookies()
	set_ad_cookies(tf, _ga="GA1." + "1" * 520, _fbp="")
	tf.goto(tf.add_page("/ads-bad", attrs=AD_COOKIES))
	starts = tf.collector.wait_events(2, "session_start")
	assert starts[1]["click_ids"] == {}


def test_ad_platform_cookies_wait_for_opt_in_consent(tf):
	set_ad_cookies(tf, _ga=GA, _fbp=FBP)
	tf.goto(tf.add_page("/ads-optin", attrs=f'data-consent="opt-in" {AD_COOKIES}'))
	tf.assert_nothing_sent()
	tf.page.evaluate("trackflow('consent', 'granted')")
	(start,) = tf.collector.wait_events(1, "session_start")
	assert start["click_ids"] == {"_ga": GA, "_fbp": FBP}
