"""Drain rows from collect batches: sessions, touchpoints (no double counting of /r/ clicks), identities."""

import json
from decimal import Decimal
from pathlib import Path

from trackflow.engine.collect import parse_collect
from trackflow.engine.conversions import CONVERSION_TYPES
from trackflow.engine.sessions import (
	BROWSER_CONVERSION_TYPES,
	TOUCH_CLICK,
	TOUCH_DIRECT,
	TOUCH_NEW,
	ConversionRow,
	build_rows,
	session_click_ids,
	touchpoint_decision,
)

NOW = 1_767_225_600.0
SENT = int(NOW * 1000)
LANDING = "https://shop.example.com/"


def batch(events, visitor="a" * 32, session="b" * 32, first_id=1):
	for n, event in enumerate(events, first_id):
		event.setdefault("id", f"{n:032x}")
		event.setdefault("ts", SENT - 100 + n)
		event.setdefault("url", LANDING)
	body = {
		"site": "pk_site_0001",
		"v": 1,
		"visitor": visitor,
		"session": session,
		"sent_at": SENT,
		"events": events,
	}
	return parse_collect(json.dumps(body).encode(), now=NOW)


def start(**extra):
	return {"type": "session_start", **extra}


def test_touchpoint_decisions():
	assert touchpoint_decision({}, {}, None, LANDING).kind == TOUCH_DIRECT
	assert touchpoint_decision({}, {}, "https://shop.example.com/cart", LANDING).kind == TOUCH_DIRECT
	assert (
		touchpoint_decision({}, {}, "https://blog.example.com/", LANDING, ["*.example.com"]).kind
		== TOUCH_DIRECT
	)
	referral = touchpoint_decision({}, {}, "https://www.news.example.org/a", LANDING)
	assert (referral.kind, referral.source, referral.medium) == (TOUCH_NEW, "news.example.org", None)
	paid = touchpoint_decision({"campaign": "spring"}, {"gclid": "x"}, None, LANDING)
	assert (paid.kind, paid.source, paid.medium, paid.campaign) == (TOUCH_NEW, "google", "cpc", "spring")
	utm = touchpoint_decision({"source": "newsletter", "medium": "email"}, {"fbclid": "y"}, None, LANDING)
	assert (utm.source, utm.medium) == ("newsletter", "email")
	fb = touchpoint_decision({}, {"fbclid": "y"}, "https://l.facebook.com/", LANDING)
	assert (fb.kind, fb.source, fb.medium, fb.referrer_host) == (
		TOUCH_NEW,
		"facebook",
		None,
		"l.facebook.com",
	)
	click = touchpoint_decision({"source": "qr"}, {"tf_click": "c1" * 16, "gclid": "x"}, None, LANDING)
	assert (click.kind, click.click_id) == (TOUCH_CLICK, "c1" * 16)


def test_rows_from_a_visit():
	calls = []

	def classify(source, medium, referrer, click_ids):
		calls.append((source, medium, referrer, dict(click_ids)))
		return "Paid Search"

	first = batch(
		[
			start(
				utm={"source": "google", "medium": "cpc", "campaign": "spring"}, ref="https://www.google.com/"
			),
			{"type": "pageview", "title": "Home"},
			{"type": "identify", "traits": {"email": "Ada@Example.com"}},
		]
	)
	second = batch(
		[
			{
				"type": "conversion",
				"conversion": {"type": "purchase", "value": 49.9, "currency": "EUR", "id": "o-1"},
			},
			{
				"type": "form",
				"form": "contact",
				"fields": {"Email": "bob@example.com", "phone": "n/a", "name": " Bob "},
			},
			{"type": "consent", "consent": "denied"},
		],
		first_id=10,
	)
	rows = build_rows([second, first, first], classify=classify)  # any order, replays included
	(visitor,) = rows.visitors
	assert (
		visitor.first_seen == SENT - 99
		and visitor.last_seen == SENT - 100 + 12
		and visitor.consent == "denied"
	)
	(session,) = rows.sessions
	assert (
		session.started_at == SENT - 99
		and session.last_seen == SENT - 88
		and session.channel == "Paid Search"
	)
	assert calls == [("google", "cpc", "https://www.google.com/", {})]
	(touch,) = rows.touchpoints
	assert (touch.source, touch.medium, touch.campaign, touch.channel) == (
		"google",
		"cpc",
		"spring",
		"Paid Search",
	)
	assert [e.type for e in rows.events] == ["conversion", "form", "consent", "pageview", "identify"]
	assert [(i.source, i.email, i.name, i.phone) for i in rows.identities] == [
		("form", "bob@example.com", "Bob", None),
		("identify", "ada@example.com", None, None),
	]
	(conversion,) = rows.conversions
	assert conversion.value == Decimal("49.9") and conversion.idempotency_key == "pk_site_0001:purchase:o-1"
	assert rows.session_updates == ()


def test_conversion_and_form_events_keep_what_the_page_sent():
	rows = build_rows(
		[
			batch(
				[
					{
						"type": "conversion",
						"url": LANDING + "thanks",
						"conversion": {
							"type": "purchase",
							"value": 49.5,
							"currency": "EUR",
							"id": "order-1042",
						},
					},
					{"type": "conversion", "conversion": {"type": "deal_won", "value": 1e-7}},
					{"type": "conversion", "conversion": {"type": "signup"}},
					{"type": "form", "form": "signup", "fields": {"email": "ada@example.com", "plan": "pro"}},
				]
			)
		]
	)
	paid, claimed, bare, form = rows.events
	assert (paid.name, dict(paid.props)) == (
		"purchase",
		{"type": "purchase", "value": "49.5", "currency": "EUR", "order_id": "order-1042"},
	)
	assert (claimed.name, dict(claimed.props)) == ("deal_won", {"type": "deal_won", "value": "0.0000001"})
	assert dict(bare.props) == {"type": "signup"}
	assert (form.name, dict(form.props)) == ("signup", {"email": "ada@example.com", "plan": "pro"})
	for row in rows.events:  # TrackFlow Event's properties column takes a flat JSON object
		assert all(type(v) in (str, int, float, bool, type(None)) for v in row.props.values())

	first, second, third = rows.conversions
	assert first == ConversionRow(
		event=paid.event,
		visitor="a" * 32,
		session="b" * 32,
		site="pk_site_0001",
		ts=paid.ts,
		type="purchase",
		value=Decimal("49.5"),
		currency="EUR",
		order_id="order-1042",
		idempotency_key="pk_site_0001:purchase:order-1042",
		url=LANDING + "thanks",
		conversion_type="purchase",
	)
	# a page cannot report a CRM milestone: its own types beyond the browser ones become "custom"
	assert (second.type, second.conversion_type, second.idempotency_key) == (
		"deal_won",
		"custom",
		claimed.event,
	)
	assert (third.conversion_type, third.value, third.currency, third.order_id) == (
		"signup",
		None,
		None,
		None,
	)
	assert BROWSER_CONVERSION_TYPES <= set(CONVERSION_TYPES)


def test_the_longest_idempotency_key_fits_the_conversion():
	site, kind, order = "k" * 64, "t" * 40, "o" * 140
	body = {
		"site": site,
		"v": 1,
		"visitor": "a" * 32,
		"session": "b" * 32,
		"sent_at": SENT,
		"events": [
			{
				"type": "conversion",
				"id": "c" * 32,
				"ts": SENT,
				"url": LANDING,
				"conversion": {"type": kind, "id": order},
			}
		],
	}
	(conversion,) = build_rows([parse_collect(json.dumps(body).encode(), now=NOW)]).conversions
	doctype = Path(__file__).resolve().parents[2] / "trackflow/trackflow/doctype/conversion/conversion.json"
	(column,) = [f for f in json.loads(doctype.read_text())["fields"] if f["fieldname"] == "idempotency_key"]
	assert len(conversion.idempotency_key) == 246 <= column["length"]


def test_trackflow_click_reuses_the_click_touchpoint():
	rows = build_rows([batch([start(click_ids={"tf_click": "c2" * 16}, utm={"source": "qr"})])])
	(session,) = rows.sessions
	assert session.touch.kind == TOUCH_CLICK and session.touch.click_id == "c2" * 16
	assert rows.touchpoints == ()


GA = "GA1.1.1234567890.1700000000"
FBP = "fb.1.1596403881668.1116446470"


def test_ad_cookies_are_kept_normalised_only_when_the_site_opted_in():
	ids = {"gclid": "x", "_ga": GA, "_fbp": FBP}
	assert dict(session_click_ids(ids)) == {"gclid": "x"}  # off by default
	assert dict(session_click_ids(ids, ad_cookies=True)) == {
		"gclid": "x",
		"_ga": "1234567890.1700000000",  # the GA4 client id: the cookie's last two parts
		"_fbp": FBP,
	}
	assert dict(session_click_ids({"_ga": "GA1.2.42.1700000000", "_fbp": FBP + ".AQ"}, True)) == {
		"_ga": "42.1700000000",
		"_fbp": FBP + ".AQ",  # Meta's parameter builder may append an appendix
	}
	# cookies of another shape are dropped, not errors
	assert dict(session_click_ids({"_ga": "1234.5678", "_fbp": "fb.x.1.2", "gclid": "y"}, True)) == {
		"gclid": "y"
	}
	assert dict(session_click_ids({"_ga": "GA1.1.abc.123", "_fbp": "fbp.1.2.3"}, True)) == {}
	plain = {"gclid": "x"}
	assert session_click_ids(plain, True) is plain


def test_ad_cookies_reach_the_session_row_only_and_never_the_touchpoint():
	calls = []

	def classify(source, medium, referrer, click_ids):
		calls.append(dict(click_ids))
		return "Paid Search"

	visit = batch([start(click_ids={"gclid": "x", "_ga": GA, "_fbp": FBP})])
	for ad_cookies, expected in (
		(False, {"gclid": "x"}),
		(True, {"gclid": "x", "_ga": "1234567890.1700000000", "_fbp": FBP}),
	):
		rows = build_rows([visit], classify=classify, ad_cookies=ad_cookies)
		(session,) = rows.sessions
		(touch,) = rows.touchpoints
		assert dict(session.click_ids) == expected
		assert dict(touch.click_ids) == {"gclid": "x"} and touch.source == "google"
	assert calls == [{"gclid": "x"}, {"gclid": "x"}]
	# cookies alone (a direct visit) make a direct touch, without the cookies
	alone = build_rows([batch([start(click_ids={"_ga": GA, "_fbp": FBP})])], ad_cookies=True)
	(direct,) = alone.touchpoints
	assert alone.sessions[0].touch.kind == TOUCH_DIRECT and dict(direct.click_ids) == {}


def test_a_direct_session_is_a_direct_touch_and_later_batches_only_update():
	rows = build_rows([batch([start(), {"type": "pageview"}])], classify=lambda *a: "referral")
	(touch,) = rows.touchpoints
	assert rows.sessions[0].touch.kind == TOUCH_DIRECT and (touch.channel, touch.source) == ("direct", None)
	assert rows.sessions[0].channel == "direct"
	later = build_rows([batch([{"type": "pageview"}], first_id=5)])
	assert later.sessions == () and later.session_updates[0].last_seen == SENT - 95


def test_cookieless_pings_are_counted_per_day_and_url():
	body = {
		"site": "pk_site_0001",
		"v": 1,
		"visitor": None,
		"session": None,
		"sent_at": SENT,
		"events": [{"type": "ping", "id": f"{n:032x}", "ts": SENT, "url": LANDING} for n in range(3)],
	}
	pings = parse_collect(json.dumps(body).encode(), now=NOW)
	rows = build_rows([pings, pings])
	assert [(p.day, p.url, p.count) for p in rows.pings] == [("2026-01-01", LANDING, 3)]
	assert rows.visitors == () and rows.events == ()
