"""The /r/<code> decision: status, location, cookies, click, consent, bots, own domains, no open redirect."""

import json
import time
from collections import Counter

import pytest

from trackflow.engine import redirect
from trackflow.engine.errors import ValidationError
from trackflow.engine.redirect import Click, RedirectRequest, RedirectSettings, decide, prepare_link

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
NOW = 1_800_000_000.0
SETTINGS = RedirectSettings(own_domains=("example.com",))
VISITOR = "0123456789abcdef0123456789abcdef"


def request(code="Ab3xK9p", **kw) -> RedirectRequest:
	kw.setdefault("headers", {"user-agent": CHROME, "referer": "https://news.example.org/post"})
	kw.setdefault("client_ip", "203.0.113.77")
	kw.setdefault("now", NOW)
	return RedirectRequest(code, **kw)


def link(**kw) -> dict:
	kw.setdefault("campaign", "Spring")
	kw.setdefault("utm", {"source": "newsletter", "medium": "email"})
	return prepare_link("Ab3xK9p", kw.pop("destination", "https://shop.example.com/p?ref=1"), **kw)


def test_a_click_is_a_302_with_no_store_a_cookie_and_a_click_record():
	decision = decide(link(), request(), SETTINGS)
	assert decision.status == 302
	assert decision.reason == "destination"
	assert ("Cache-Control", "no-store") in decision.headers
	location, click_id = decision.location.split("&tf_click=")
	assert location == "https://shop.example.com/p?ref=1&utm_source=newsletter&utm_medium=email"
	click = decision.click
	assert click_id == click.id and len(click_id) == 32
	assert (cookie := decision.cookies[0]).name == "_tf_r"
	assert cookie.value == click.visitor and len(cookie.value) == 32
	assert (
		cookie.header_value()
		== f"_tf_r={cookie.value}; Max-Age={395 * 86400}; Path=/; SameSite=Lax; Secure; HttpOnly"
	)
	assert click.encode() == {
		"id": click_id,
		"link": "Ab3xK9p",
		"campaign": "Spring",
		"variant": None,
		"outcome": "destination",
		"ts": NOW,
		"visitor": cookie.value,
		"ip": "203.0.113.0",
		"user_agent": CHROME,
		"referrer": "https://news.example.org/post",
		"is_bot": 0,
		"bot_reason": None,
		"is_scan": 0,
		"redirected_to": decision.location,
	}
	assert Click.decode(json.loads(json.dumps(click.encode()))) == click  # through the queue and back


def test_a_returning_visitor_keeps_its_id_and_http_gets_no_secure_flag():
	decision = decide(link(), request(cookies={"_tf_r": VISITOR}, is_https=False), SETTINGS)
	assert decision.click.visitor == VISITOR
	assert decision.cookies[0].value == VISITOR and not decision.cookies[0].secure
	assert "Secure" not in decision.cookies[0].header_value()


def test_a_forged_visitor_cookie_is_replaced():
	decision = decide(link(), request(cookies={"_tf_r": "x'; DROP TABLE"}), SETTINGS)
	assert decision.click.visitor != "x'; DROP TABLE" and len(decision.click.visitor) == 32


@pytest.mark.parametrize(
	"mode, cookies, headers, allowed",
	[
		("opt-out", {}, {}, True),
		("opt-out", {"_tf_c": "0"}, {}, False),
		("opt-in", {}, {}, False),
		("opt-in", {"_tf_c": "1"}, {}, True),
		("none", {}, {}, True),
		("opt-out", {}, {"dnt": "1"}, False),
		("opt-out", {}, {"Sec-GPC": "1"}, False),
	],
)
def test_consent_decides_the_cookie_but_the_click_is_counted(mode, cookies, headers, allowed):
	settings = RedirectSettings(consent_mode=mode)
	decision = decide(
		link(),
		request(cookies={**cookies, "_tf_r": VISITOR}, headers={"user-agent": CHROME, **headers}),
		settings,
	)
	assert decision.status == 302 and decision.click is not None
	assert bool(decision.cookies) is allowed
	assert decision.click.visitor == (VISITOR if allowed else None)


def test_dnt_is_ignored_when_not_honoured():
	decision = decide(
		link(), request(headers={"user-agent": CHROME, "dnt": "1"}), RedirectSettings(honour_dnt=False)
	)
	assert decision.cookies


@pytest.mark.parametrize(
	"destination, own, appended",
	[
		("https://example.com/x", ("example.com",), True),
		("https://www.example.com/x", ("example.com",), True),
		("https://shop.example.com/x", ("*.example.com",), True),
		("https://example.com.evil.net/x", ("example.com",), False),
		("https://notexample.com/x", ("example.com",), False),
		("https://partner.org/x", ("example.com",), False),
		("https://example.com/x", (), False),
		("http://127.0.0.1:8765/shop", ("127.0.0.1:8765",), True),  # a TrackFlow Site with a port
		("http://127.0.0.1:9999/shop", ("127.0.0.1:8765",), False),
		("http://127.0.0.1/shop", ("127.0.0.1:8765",), False),
		("https://shop.example.com:8443/x", ("example.com:8443",), True),
		("https://example.com:8443/x", ("example.com",), True),  # a domain without a port: any port
	],
)
def test_click_id_only_for_own_domains(destination, own, appended):
	decision = decide(link(destination=destination), request(), RedirectSettings(own_domains=own))
	assert ("tf_click=" in decision.location) is appended
	assert decision.click.id  # recorded either way


def test_scans_are_marked():
	assert decide(link(), request(query="q=1"), SETTINGS).click.is_scan == 1
	assert decide(link(), request(query="q=2"), SETTINGS).click.is_scan == 0


@pytest.mark.parametrize(
	"method, headers, reason",
	[
		("HEAD", {"user-agent": CHROME}, "head"),
		(
			"GET",
			{"user-agent": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"},
			"preview:Slackbot-LinkExpanding",
		),
		("GET", {"user-agent": CHROME, "sec-purpose": "prefetch"}, "prefetch:sec-purpose"),
		("GET", {}, "empty-user-agent"),
	],
)
def test_bots_are_redirected_flagged_and_get_no_cookie(method, headers, reason):
	decision = decide(link(), request(method=method, headers=headers), SETTINGS)
	assert decision.status == 302 and decision.location.startswith("https://shop.example.com/p")
	assert (decision.click.is_bot, decision.click.bot_reason) == (1, reason)
	assert decision.cookies == () and decision.click.visitor is None


@pytest.mark.parametrize(
	"changes",
	[{"status": "Disabled"}, {"expires": NOW - 1}, {"expires": NOW}, {"max_clicks": 10, "clicks": 10}],
)
def test_unavailable_links_go_to_the_fallback_or_404(changes):
	with_fallback = decide(link(fallback="https://shop.example.com/expired", **changes), request(), SETTINGS)
	assert with_fallback.status == 302 and with_fallback.reason == "fallback"
	assert with_fallback.location.startswith("https://shop.example.com/expired?tf_click=")
	assert with_fallback.click.outcome == "fallback"
	without = decide(link(**changes), request(), SETTINGS)
	assert (without.status, without.location, without.click, without.reason) == (404, None, None, "inactive")
	assert ("Cache-Control", "no-store") in without.headers


def test_links_within_limits_redirect():
	assert decide(link(expires=NOW + 1, max_clicks=10, clicks=9), request(), SETTINGS).reason == "destination"


@pytest.mark.parametrize("code", ["Ab3xK9p", "nosuch", "api", "../etc", "a" * 200, ""])
def test_unknown_codes_all_get_the_same_404(code):
	decision = decide(None, request(code=code), SETTINGS)
	assert decision == redirect.NOT_FOUND
	assert (decision.status, decision.location, decision.click, decision.cookies) == (404, None, None, ())


def test_no_open_redirect_even_from_bad_cached_data():
	bad = {**link(), "destination": "javascript:alert(1)"}
	assert decide(bad, request(), SETTINGS).status == 404
	bad = {**link(), "destination": "//evil.example/x"}
	assert decide(bad, request(), SETTINGS).status == 404
	with pytest.raises(ValidationError):
		link(destination="javascript:alert(1)")
	with pytest.raises(ValidationError):
		link(fallback="data:text/html,x")


def test_variants_are_sticky_weighted_and_recorded():
	variants = [
		{"label": "A", "destination": "https://shop.example.com/a", "weight": 1},
		{"label": "B", "destination": "https://shop.example.com/b", "weight": 1},
	]
	data = link(variants=variants)
	assert (
		data["variants"][0]["destination"]
		== "https://shop.example.com/a?utm_source=newsletter&utm_medium=email"
	)
	first = decide(data, request(cookies={"_tf_r": VISITOR}), SETTINGS)
	for _ in range(10):
		again = decide(data, request(cookies={"_tf_r": VISITOR}), SETTINGS)
		assert again.click.variant == first.click.variant
		assert again.location.split("?")[0] == first.location.split("?")[0]
	new_visitors = Counter(decide(data, request(), SETTINGS).click.variant for _ in range(2000))
	assert set(new_visitors) == {"A", "B"} and min(new_visitors.values()) > 850
	cookieless = Counter(
		decide(data, request(), RedirectSettings(consent_mode="opt-in")).click.variant for _ in range(2000)
	)
	assert set(cookieless) == {"A", "B"} and min(cookieless.values()) > 850


def test_non_ascii_destinations_become_ascii_locations():
	decision = decide(link(destination="https://bücher.example/straße?q=ä", utm={}), request(), SETTINGS)
	assert decision.location == "https://xn--bcher-kva.example/stra%C3%9Fe?q=%C3%A4"


def test_ipv6_and_missing_ip():
	assert decide(link(), request(client_ip="2001:db8:1:2::5"), SETTINGS).click.ip == "2001:db8:1::"
	assert decide(link(), request(client_ip=None), SETTINGS).click.ip is None
	narrow = RedirectSettings(ipv4_prefix=16)
	assert decide(link(), request(), narrow).click.ip == "203.0.0.0"


def test_redirect_code_from_path():
	assert redirect.redirect_code("/r/Ab3xK9p") == "Ab3xK9p"
	assert redirect.redirect_code("/r/Ab3xK9p/") == "Ab3xK9p"
	assert redirect.redirect_code("/go/spring-sale", prefix="/go/") == "spring-sale"
	for path in ("/r/", "/r", "/app/r/x", "/r/a/b", "/r/%2e%2e", "/rx/abc"):
		assert redirect.redirect_code(path) is None, path


def test_own_domains_are_normalised():
	assert RedirectSettings(own_domains=(" Example.COM ", "*.shop.example", "")).own_domains == (
		"example.com",
		"shop.example",
	)


def test_decision_is_fast():
	data, req = link(), request(cookies={"_tf_r": VISITOR})
	decide(data, req, SETTINGS)
	start = time.perf_counter()
	for _ in range(2000):
		decide(data, req, SETTINGS)
	assert (time.perf_counter() - start) / 2000 < 500e-6  # ~15 us measured; bound for slow CI


@pytest.mark.parametrize(
	"destination, expected",
	[
		("https://example.com/x#frag", "https://example.com/x?tf_click={id}#frag"),
		("https://example.com/x?a=1#frag", "https://example.com/x?a=1&tf_click={id}#frag"),
		("https://example.com/x?tf_click=old&a=1", "https://example.com/x?tf_click={id}&a=1"),
	],
)
def test_click_id_placement(destination, expected):
	decision = decide(link(destination=destination, utm={}), request(), SETTINGS)
	assert decision.location == expected.format(id=decision.click.id)


def test_settings_from_trackflow_settings_fields():
	values = {
		"consent_mode": "opt-in",
		"honour_do_not_track": 0,
		"cookie_lifetime_days": 30,
		"truncate_ip": 1,
		"ipv4_prefix_length": 16,
		"ipv6_prefix_length": 32,
		"own_domains": "example.com\nshop.example.org, Blog.Example.net",
	}
	settings = RedirectSettings.from_settings(values, own_domains=["site.example"])
	assert settings == RedirectSettings(
		consent_mode="opt-in",
		honour_dnt=False,
		cookie_lifetime_days=30,
		own_domains=("blog.example.net", "example.com", "shop.example.org", "site.example"),
		ipv4_prefix=16,
		ipv6_prefix=32,
	)
	untruncated = RedirectSettings.from_settings({"truncate_ip": 0})
	assert (untruncated.ipv4_prefix, untruncated.ipv6_prefix, untruncated.consent_mode) == (
		32,
		128,
		"opt-out",
	)


def test_variant_rows_as_the_child_table_stores_them():
	data = link(
		variants=[{"label": "A", "destination_url": "https://shop.example.com/a", "weight": 1}], utm={}
	)
	assert data["variants"] == [{"label": "A", "destination": "https://shop.example.com/a", "weight": 1.0}]


@pytest.mark.parametrize(
	"record, error",
	[
		([], "must be an object"),
		({"link": "L", "ts": NOW}, "needs a text id"),
		({"id": "x", "ts": NOW}, "needs a text link"),
		({"id": "x", "link": "L"}, "epoch seconds"),
		({"id": "x", "link": "L", "ts": True}, "epoch seconds"),
		({"id": "x", "link": "L", "ts": NOW, "outcome": "elsewhere"}, "Unknown click outcome"),
		({"id": "x", "link": "L", "ts": NOW, "visitor": {"$ne": 1}}, "visitor must be text"),
	],
)
def test_a_click_record_that_is_not_one_is_refused(record, error):
	with pytest.raises(ValidationError, match=error):
		Click.decode(record)


def test_a_click_queued_by_an_earlier_release_loses_the_keys_it_no_longer_stores():
	old = {"id": "x", "link": "L", "ts": NOW, "code": "L", "new_visitor": 1, "method": "GET", "is_bot": None}
	assert Click.decode(old) == Click(id="x", link="L", ts=NOW)
