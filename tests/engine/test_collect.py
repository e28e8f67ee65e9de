"""The collect payload validator: known answers, origins, CORS, and 10,000+ fuzzed payloads."""

import copy
import json
import re
from dataclasses import FrozenInstanceError
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trackflow.engine.collect import (
	AD_COOKIES,
	CLICK_ID_PARAMS,
	SENSITIVE_FIELD,
	UTM_KEYS,
	cors_headers,
	decode_record,
	encode_record,
	normalize_domain,
	origin_allowed,
	parse_collect,
)
from trackflow.engine.errors import ValidationError

NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z
SENT = int(NOW * 1000) - 250  # the client clock is 250 ms behind
V1, S1 = "a" * 32, "b" * 32


def hexid(n: int) -> str:
	return f"{n:032x}"


def base_event(kind: str, n: int, **extra) -> dict:
	return {
		"type": kind,
		"id": hexid(n),
		"ts": SENT - 1000 + n,
		"url": "https://shop.example.com/p?x=1",
		**extra,
	}


def full_batch() -> dict:
	return {
		"site": "pk_live_ABCdef-123",
		"v": 1,
		"visitor": V1,
		"session": S1,
		"sent_at": SENT,
		"events": [
			base_event(
				"session_start",
				1,
				ref="https://www.google.com/",
				utm={"source": "google", "medium": "cpc", "campaign": "spring"},
				click_ids={"gclid": "Cj0KCQ-abc_123", "tf_click": "clk_8Hq2"},
			),
			base_event("pageview", 2, title="Shoes \u2013 Shop", ref="https://www.google.com/"),
			base_event(
				"event",
				3,
				name="add_to_cart",
				props={"sku": "S-1", "qty": 2, "price": 9.5, "gift": False, "note": None},
			),
			base_event(
				"conversion",
				4,
				conversion={"type": "purchase", "value": 49.9, "currency": "EUR", "id": "o-1"},
			),
			base_event(
				"identify",
				5,
				traits={"email": "  Ada@Example.COM ", "name": " Ada ", "phone": "+44 (20) 7946-0958"},
			),
			base_event("form", 6, form="signup", fields={"email": "ada@example.com", "company": "AE"}),
			base_event("consent", 7, consent="granted"),
		],
	}


def encode(payload) -> bytes:
	return json.dumps(payload).encode()


def parse(payload, **kwargs):
	return parse_collect(encode(payload), now=NOW, **kwargs)


def rejects(payload, reason: str = "") -> str:
	with pytest.raises(ValidationError) as info:
		parse(payload)
	assert reason in str(info.value)
	return str(info.value)


# -- known answers ----------------------------------------------------------------------------------


def test_full_batch_is_parsed_and_normalised():
	batch = parse(full_batch())
	assert (batch.site, batch.visitor, batch.session, batch.sent_at) == ("pk_live_ABCdef-123", V1, S1, SENT)
	assert batch.received_at == int(NOW * 1000)
	assert [e.type for e in batch.events] == [
		"session_start",
		"pageview",
		"event",
		"conversion",
		"identify",
		"form",
		"consent",
	]
	start, view, event, conversion, identify, form, consent = batch.events
	assert start.ts == SENT - 999 + 250  # shifted onto the server clock
	assert dict(start.utm) == {"source": "google", "medium": "cpc", "campaign": "spring"}
	assert dict(start.click_ids) == {"gclid": "Cj0KCQ-abc_123", "tf_click": "clk_8Hq2"}
	assert view.title == "Shoes \u2013 Shop" and view.ref == "https://www.google.com/"
	assert event.name == "add_to_cart" and event.props["qty"] == 2 and event.props["note"] is None
	assert conversion.conversion.value == Decimal("49.9") and conversion.conversion.currency == "EUR"
	assert (identify.traits.email, identify.traits.name, identify.traits.phone) == (
		"ada@example.com",
		"Ada",
		"+442079460958",
	)
	assert form.form == "signup" and dict(form.fields) == {"email": "ada@example.com", "company": "AE"}
	assert consent.consent == "granted"
	assert not batch.cookieless


def test_ad_platform_cookies_are_accepted_as_the_page_has_them():
	payload = full_batch()
	cookies = {"_ga": "GA1.1.1234567890.1700000000", "_fbp": "fb.1.1596403881668.1116446470"}
	payload["events"][0]["click_ids"].update(cookies)
	(start, *_) = parse(payload).events
	assert dict(start.click_ids) == {"gclid": "Cj0KCQ-abc_123", "tf_click": "clk_8Hq2", **cookies}
	assert set(AD_COOKIES) == set(cookies)


def test_parsed_values_are_immutable():
	batch = parse(full_batch())
	with pytest.raises(FrozenInstanceError):
		batch.site = "x"
	with pytest.raises(TypeError):
		batch.events[2].props["qty"] = 3


def test_cookieless_ping_batch():
	payload = {
		"site": "pk_live_ABCdef-123",
		"v": 1,
		"visitor": None,
		"session": None,
		"sent_at": SENT,
		"events": [
			{
				"type": "ping",
				"id": hexid(1),
				"ts": SENT,
				"url": "https://a.example/p",
				"ref": "https://b.example",
			}
		],
	}
	batch = parse(payload)
	assert batch.cookieless and batch.events[0].ref == "https://b.example"
	payload["events"][0]["url"] += "?email=a@b.co"
	rejects(payload, "query")
	payload["events"][0]["url"] = "https://a.example/p"
	payload["events"][0]["ref"] = "https://b.example/path"
	rejects(payload, "origin")


def test_integer_conversion_value_and_missing_optionals():
	payload = full_batch()
	payload["events"][3]["conversion"] = {"type": "lead", "value": 120}
	conversion = parse(payload).events[3].conversion
	assert (conversion.type, conversion.value, conversion.currency, conversion.id) == (
		"lead",
		Decimal(120),
		None,
		None,
	)


def test_text_is_repaired_not_rejected():
	payload = full_batch()
	payload["events"][1]["title"] = "a\x00b\ud800c"
	assert parse(payload).events[1].title == "a\ufffdb\ufffdc"


def test_size_cap_is_checked_before_parsing():
	with pytest.raises(ValidationError, match="larger than 32768"):
		parse_collect(b"\xff" * 32769, now=NOW)
	body = encode(full_batch())
	with pytest.raises(ValidationError, match="larger than"):
		parse_collect(body, now=NOW, max_bytes=len(body) - 1)
	assert parse_collect(body, now=NOW, max_bytes=len(body)).site


@pytest.mark.parametrize(
	"body",
	[
		b"",
		b"{",
		b"\xff\xfe{}",
		'{"site": 1}'.encode("utf-16"),
		b"\xef\xbb\xbf{}",
		b"[" * 5000 + b"]" * 5000,
		b'{"a": ' + b"1" * 5000 + b"}",
		b"null",
		b"[]",
		b'"x"',
		b'{"site": NaN}',
	],
)
def test_bodies_that_are_not_a_json_object(body):
	with pytest.raises(ValidationError):
		parse_collect(body, now=NOW)


def _set(path, value):
	def mutate(payload):
		target = payload
		for key in path[:-1]:
			target = target[key]
		target[path[-1]] = value

	return mutate


def _delete(path):
	def mutate(payload):
		target = payload
		for key in path[:-1]:
			target = target[key]
		del target[path[-1]]

	return mutate


INVALID = {
	"unknown top key": (_set(["extra"], 1), "unknown keys"),
	"missing site": (_delete(["site"]), "misses site"),
	"short site key": (_set(["site"], "short"), "site"),
	"version 2": (_set(["v"], 2), "version"),
	"version true": (_set(["v"], True), "version"),
	"version float": (_set(["v"], 1.0), "version"),
	"visitor not hex": (_set(["visitor"], "Z" * 32), "visitor"),
	"session without visitor": (_set(["visitor"], None), "session without visitor"),
	"visitor without session": (_set(["session"], None), "session"),
	"sent_at float": (_set(["sent_at"], SENT + 0.5), "sent_at"),
	"sent_at far future": (_set(["sent_at"], SENT + 2 * 86_400_000), "server time"),
	"no events": (_set(["events"], []), "non-empty"),
	"events not list": (_set(["events"], {}), "non-empty"),
	"51 events": (_set(["events"], [base_event("pageview", n) for n in range(51)]), "more than 50"),
	"event not object": (_set(["events", 1], "pageview"), "object"),
	"unknown type": (_set(["events", 1, "type"], "click"), "type"),
	"unknown event key": (_set(["events", 1, "name"], "x"), "unknown keys"),
	"missing id": (_delete(["events", 1, "id"]), "misses id"),
	"uppercase id": (_set(["events", 1, "id"], "A" * 32), "id"),
	"duplicate id": (_set(["events", 2, "id"], hexid(1)), "duplicate"),
	"ts string": (_set(["events", 1, "ts"], "1"), "ts"),
	"ts bool": (_set(["events", 1, "ts"], True), "ts"),
	"ts after sent_at": (_set(["events", 1, "ts"], SENT + 61_000), "ts"),
	"ts two days old": (_set(["events", 1, "ts"], SENT - 2 * 86_400_000), "ts"),
	"javascript url": (_set(["events", 1, "url"], "javascript:alert(1)"), "URL"),
	"ftp url": (_set(["events", 1, "url"], "ftp://x.example/"), "URL"),
	"url without host": (_set(["events", 1, "url"], "https:///path"), "URL"),
	"url with space": (_set(["events", 1, "url"], "https://x.example/a b"), "URL"),
	"url too long": (_set(["events", 1, "url"], "https://x.example/" + "a" * 2048), "URL"),
	"data: referrer": (_set(["events", 1, "ref"], "data:text/html,hi"), "URL"),
	"title too long": (_set(["events", 1, "title"], "t" * 301), "title"),
	"title number": (_set(["events", 1, "title"], 5), "title"),
	"session_start not first": (_set(["events", 0, "type"], "pageview"), ""),
	"second session_start": (_set(["events", 1], base_event("session_start", 2)), "first event"),
	"ping with visitor": (_set(["events", 1], base_event("ping", 2)), "ping"),
	"utm unknown key": (_set(["events", 0, "utm", "id"], "x"), "utm"),
	"utm empty": (_set(["events", 0, "utm", "source"], ""), "utm"),
	"utm too long": (_set(["events", 0, "utm", "term"], "t" * 201), "utm"),
	"click id with space": (_set(["events", 0, "click_ids", "gclid"], "a b"), "click id"),
	"unknown click id": (_set(["events", 0, "click_ids", "yclid"], "x"), "click_ids"),
	"other ga cookie": (_set(["events", 0, "click_ids", "_ga_ABC123"], "GS1.1.1700000000.1.0"), "click_ids"),
	"_ga with space": (_set(["events", 0, "click_ids", "_ga"], "GA1.1.1 2"), "click id"),
	"_fbp too long": (_set(["events", 0, "click_ids", "_fbp"], "fb.1." + "1" * 510), "click id"),
	"_ga number": (_set(["events", 0, "click_ids", "_ga"], 1.2), "click id"),
	"event name with space": (_set(["events", 2, "name"], "add to cart"), "name"),
	"event name too long": (_set(["events", 2, "name"], "n" * 65), "name"),
	"nested props": (_set(["events", 2, "props", "obj"], {"a": 1}), "props"),
	"list prop": (_set(["events", 2, "props", "list"], [1]), "props"),
	"21 props": (_set(["events", 2, "props"], {f"k{i}": i for i in range(21)}), "20 keys"),
	"prop key with space": (_set(["events", 2, "props", "a b"], 1), "props key"),
	"prop int beyond 2**53": (_set(["events", 2, "props", "big"], 2**53 + 1), "range"),
	"prop string too long": (_set(["events", 2, "props", "s"], "s" * 501), "props value"),
	"conversion without type": (_delete(["events", 3, "conversion", "type"]), "conversion type"),
	"negative value": (_set(["events", 3, "conversion", "value"], -1), "range"),
	"huge value": (_set(["events", 3, "conversion", "value"], 1e15), "range"),
	"string value": (_set(["events", 3, "conversion", "value"], "49.9"), "number"),
	"lowercase currency": (_set(["events", 3, "conversion", "currency"], "eur"), "currency"),
	"conversion extra key": (_set(["events", 3, "conversion", "qty"], 1), "unknown keys"),
	"empty order id": (_set(["events", 3, "conversion", "id"], ""), "id"),
	"order id too long": (_set(["events", 3, "conversion", "id"], "o" * 141), "conversion id"),
	"order id number": (_set(["events", 3, "conversion", "id"], 1042), "conversion id"),
	"bad email": (_set(["events", 4, "traits", "email"], "not-an-email"), "email"),
	"bad phone": (_set(["events", 4, "traits", "phone"], "call me"), "phone"),
	"empty traits": (_set(["events", 4, "traits"], {}), "identify needs"),
	"blank name only": (_set(["events", 4, "traits"], {"name": "   "}), "identify needs"),
	"trait extra key": (_set(["events", 4, "traits", "ssn"], "1"), "unknown keys"),
	"password field": (_set(["events", 5, "fields", "password"], "hunter2"), "password"),
	"card field": (_set(["events", 5, "fields", "card_number"], "4111"), "password or payment"),
	"cvc field": (_set(["events", 5, "fields", "cc-cvc"], "123"), "password or payment"),
	"empty form name": (_set(["events", 5, "form"], ""), "form"),
	"field value number": (_set(["events", 5, "fields", "age"], 3), "field value"),
	"consent maybe": (_set(["events", 6, "consent"], "maybe"), "consent"),
	"consent list": (_set(["events", 6, "consent"], ["granted"]), "consent"),
}


@pytest.mark.parametrize("case", INVALID)
def test_invalid_payloads_are_rejected_with_a_reason(case):
	mutate, reason = INVALID[case]
	payload = full_batch()
	mutate(payload)
	message = rejects(payload, reason)
	assert len(message) < 120


def test_nan_and_infinity_literals_are_rejected():
	for literal in (b"NaN", b"Infinity", b"-Infinity", b"1e400"):
		body = encode(full_batch()).replace(b'"qty": 2', b'"qty": ' + literal)
		with pytest.raises(ValidationError):
			parse_collect(body, now=NOW)


def test_skew_is_configurable():
	payload = full_batch()
	with pytest.raises(ValidationError, match="server time"):
		parse_collect(encode(payload), now=NOW + 120, max_skew=60)
	assert parse_collect(encode(payload), now=NOW + 120, max_skew=180).events


def test_queue_record_round_trip_keeps_server_times():
	body = encode(full_batch())
	batch = parse_collect(body, now=NOW + 0.123)
	record = encode_record(body, batch, ip="203.0.113.0", user_agent="UA")
	again, meta = decode_record(json.loads(json.dumps(record)))  # as stored in Redis
	assert again == batch and meta == {"ip": "203.0.113.0", "user_agent": "UA"}
	with pytest.raises(ValidationError, match="corrupt"):
		decode_record({})


@pytest.mark.parametrize(
	"field",
	[
		"password",
		"user_pass",
		"card",
		"cardNumber",
		"cc",
		"cc-exp",
		"cc_num",
		"ccnum",
		"cvv",
		"cvc2",
		"iban",
		"pwd",
		"old_pass",
		"ssn",
		"pin",
		"api_token",
		"client-secret",
	],
)
def test_sensitive_field_names(field):
	assert SENSITIVE_FIELD.search(field)


@pytest.mark.parametrize(
	"field", ["email", "company", "shipping", "business_name", "accent", "spinner", "discount", "phone"]
)
def test_ordinary_field_names(field):
	assert not SENSITIVE_FIELD.search(field)


def test_the_embed_script_refuses_the_same_form_fields():
	# the script never sends a field collect would refuse the batch for: one rule, written twice
	script = (
		Path(__file__).resolve().parents[2] / "trackflow" / "public" / "js" / "trackflow.js"
	).read_text()
	(rule,) = re.findall(r"SECRET = /(.+)/i;", script)
	assert rule == SENSITIVE_FIELD.pattern and SENSITIVE_FIELD.flags & re.I


def test_a_conversion_keeps_its_value_currency_and_order_id():
	payload = full_batch()
	payload["events"][3]["conversion"] = {
		"type": "purchase",
		"value": 49.5,
		"currency": "EUR",
		"id": "o" * 140,
	}
	conversion = parse(payload).events[3].conversion
	assert (conversion.type, conversion.value, conversion.currency, conversion.id) == (
		"purchase",
		Decimal("49.5"),
		"EUR",
		"o" * 140,
	)
	payload["events"][3]["conversion"] = {"type": "refund", "value": -0.0}
	assert str(parse(payload).events[3].conversion.value) == "0.0"


# -- origins and CORS ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
	("origin", "allowed"),
	[
		("https://example.com", True),
		("http://example.com", True),
		("https://EXAMPLE.com.", True),
		("https://example.com:8443", True),  # no port in the entry: any port
		("https://example.com/some/page?q=1", True),  # a Referer
		("https://www.example.com", False),
		("https://shop.example.org", True),
		("https://a.b.example.org", True),
		("https://example.org", False),  # the wildcard does not cover the apex
		("https://badexample.org", False),
		("https://example.org.evil.com", False),
		("https://localhost:8000", True),
		("https://localhost:9000", False),
		("https://bücher.de", True),
		("ftp://example.com", False),
		("javascript:alert(1)", False),
		("null", False),
		("", False),
		(None, False),
		("https://", False),
		("https://example.com:99999", False),
		("https://[::1", False),
		("https://user@example.com", True),
	],
)
def test_origin_allowed(origin, allowed):
	domains = ["example.com", "*.example.org", "localhost:8000", "https://Bücher.de/", "not a domain!"]
	assert origin_allowed(origin, domains) is allowed


def test_entry_ports_count_default_ports():
	assert origin_allowed("https://example.com", ["example.com:443"])
	assert not origin_allowed("http://example.com", ["example.com:443"])
	assert origin_allowed("http://example.com", ["example.com:80"])


@pytest.mark.parametrize(
	("entry", "canonical"),
	[
		("Example.COM", "example.com"),
		("https://shop.example.com/path", "shop.example.com"),
		("*.Example.com", "*.example.com"),
		("localhost:8000", "localhost:8000"),
		("bücher.de", "xn--bcher-kva.de"),
	],
)
def test_normalize_domain(entry, canonical):
	assert normalize_domain(entry) == canonical


@pytest.mark.parametrize(
	"entry",
	["", "*", "*.", "exa mple.com", "example.com:0", "example.com:70000", "-a.com", "a..com", "*.*.a.com"],
)
def test_normalize_domain_rejects(entry):
	with pytest.raises(ValidationError):
		normalize_domain(entry)


def test_cors_headers():
	headers = cors_headers("https://shop.example.com")
	assert headers["Access-Control-Allow-Origin"] == "https://shop.example.com"
	assert headers["Vary"] == "Origin"
	assert "Access-Control-Allow-Credentials" not in headers
	assert cors_headers("https://x.example\r\nSet-Cookie: a=b") == {}
	assert cors_headers("https://x.example/path") == {}
	assert cors_headers("null") == {}


# -- fuzzing: 10,300 payloads in total, 0 crashes, 0 invalid ones accepted -----------------------------

LOWER = "abcdefghijklmnopqrstuvwxyz0123456789"
KEY_CHARS = LOWER + "ABCDEFGHIJKLMNOPQRSTUVWXYZ_.:-"
PRINTABLE = "".join(map(chr, range(0x21, 0x7F)))
hex32 = st.binary(min_size=16, max_size=16).map(bytes.hex)
hosts = st.text(LOWER + ".-", min_size=1, max_size=20).map(lambda h: "h" + h)
origins = st.builds(
	"{}://{}{}".format, st.sampled_from(["http", "https"]), hosts, st.sampled_from(["", ":8080"])
)
urls = st.builds("{}{}".format, origins, st.text(PRINTABLE, max_size=40).map(lambda p: "/" + p if p else ""))
keys40 = st.text(KEY_CHARS, min_size=1, max_size=40)
names = st.text(KEY_CHARS, min_size=1, max_size=64)
prop_values = st.one_of(
	st.text(max_size=80),
	st.integers(-(2**53), 2**53),
	st.floats(allow_nan=False, allow_infinity=False),
	st.booleans(),
	st.none(),
)
emails = st.builds(
	"{}{}@{}.{}{}".format,
	st.sampled_from(["", " ", "\t"]),
	st.text(LOWER + "._%+-ABC", min_size=1, max_size=20),
	st.text(LOWER + "-", min_size=1, max_size=20),
	st.text("abcdefXYZ", min_size=2, max_size=6),
	st.sampled_from(["", " "]),
)
phones = st.builds(
	"{}{}{}{}".format,
	st.sampled_from(["", "+"]),
	st.text("0123456789", min_size=3, max_size=3),
	st.sampled_from(["", " ", "-", ") "]),
	st.text("0123456789", min_size=2, max_size=17),
)


@st.composite
def events(draw, kind: str, ts_range: tuple[int, int]) -> dict:
	event = {"type": kind, "id": draw(hex32), "ts": draw(st.integers(*ts_range)), "url": draw(urls)}
	if kind in ("pageview", "session_start") and draw(st.booleans()):
		event["ref"] = draw(urls)
	if kind == "pageview" and draw(st.booleans()):
		event["title"] = draw(st.text(max_size=300))
	if kind == "session_start":
		if draw(st.booleans()):
			event["utm"] = draw(st.dictionaries(st.sampled_from(UTM_KEYS), st.text(min_size=1, max_size=60)))
		if draw(st.booleans()):
			event["click_ids"] = draw(
				st.dictionaries(
					st.sampled_from(CLICK_ID_PARAMS + AD_COOKIES), st.text(PRINTABLE, min_size=1, max_size=80)
				)
			)
	elif kind == "event":
		event["name"] = draw(names)
		if draw(st.booleans()):
			event["props"] = draw(st.dictionaries(keys40, prop_values, max_size=20))
	elif kind == "conversion":
		conversion = {"type": draw(keys40)}
		conversion["value"] = draw(
			st.one_of(st.none(), st.integers(0, 10**15 - 1), st.floats(0, 1e15, exclude_max=True))
		)
		conversion["currency"] = draw(
			st.one_of(st.none(), st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=3, max_size=3))
		)
		conversion["id"] = draw(st.one_of(st.none(), st.text(min_size=1, max_size=140)))
		event["conversion"] = {k: v for k, v in conversion.items() if v is not None or draw(st.booleans())}
	elif kind == "identify":
		traits = draw(
			st.fixed_dictionaries(
				{},
				optional={
					"email": emails,
					"phone": phones,
					"name": st.text(min_size=1, max_size=140).filter(str.strip),
				},
			).filter(bool)
		)
		event["traits"] = traits
	elif kind == "form":
		event["form"] = draw(st.text(min_size=1, max_size=100))
		field_keys = names.filter(lambda k: not SENSITIVE_FIELD.search(k))
		event["fields"] = draw(st.dictionaries(field_keys, st.text(max_size=1000), max_size=30))
	elif kind == "consent":
		event["consent"] = draw(st.sampled_from(["granted", "denied"]))
	elif kind == "ping":
		event["url"] = draw(urls).split("?")[0].split("#")[0]
		if draw(st.booleans()):
			event["ref"] = draw(origins)
	return event


TRACKED_TYPES = ("pageview", "event", "conversion", "identify", "form", "consent")


@st.composite
def valid_payloads(draw) -> dict:
	sent_at = SENT + draw(st.integers(-3_600_000, 3_600_000))
	ts_range = (sent_at - 86_400_000, sent_at + 60_000)
	cookieless = draw(st.integers(0, 5)) == 0
	if cookieless:
		kinds = draw(st.lists(st.just("ping"), min_size=1, max_size=6))
	else:
		kinds = draw(st.lists(st.sampled_from(TRACKED_TYPES), min_size=0, max_size=6))
		if not kinds or draw(st.booleans()):
			kinds = ["session_start", *kinds]
	batch_events = [draw(events(kind, ts_range)) for kind in kinds]
	for n, event in enumerate(batch_events):  # unique ids
		event["id"] = event["id"][:-4] + f"{n:04x}"
	return {
		"site": draw(st.text(LOWER + "ABC_-", min_size=8, max_size=64)),
		"v": 1,
		"visitor": None if cookieless else draw(hex32),
		"session": None if cookieless else draw(hex32),
		"sent_at": sent_at,
		"events": batch_events,
	}


json_values = st.recursive(
	st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
	lambda children: (
		st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
	),
	max_leaves=12,
)

# Mutations that make any valid payload invalid: (name, function(payload, draw) -> None).
BAD_URLS = ["javascript:x", "mailto:a@b.c", "//x.example/", "https://", "http://a b/", "x" * 10]


def _pick_event(payload, draw):
	return draw(st.sampled_from(payload["events"]))


def _event_mutation(payload, draw):
	event = _pick_event(payload, draw)
	options = ["drop_id", "bad_type", "extra_key", "bad_url", "ts_str", "ts_far", "dup_id", "id_upper"]
	kind = event["type"]
	if kind == "event":
		options += ["bad_name", "nested_prop"]
	elif kind == "conversion":
		options += ["bad_currency", "neg_value", "no_conv_type"]
	elif kind == "identify":
		options += ["bad_email", "bad_phone"]
	elif kind == "form":
		options += ["secret_field"]
	elif kind == "consent":
		options += ["bad_consent"]
	elif kind == "ping":
		options += ["ping_query"]
	choice = draw(st.sampled_from(options))
	if choice == "drop_id":
		del event["id"]
	elif choice == "bad_type":
		event["type"] = draw(
			st.text(max_size=10).filter(lambda t: t not in (*TRACKED_TYPES, "ping", "session_start"))
		)
	elif choice == "extra_key":
		event[draw(st.sampled_from(["extra", "visitor", "props2", "Type"]))] = draw(json_values)
	elif choice == "bad_url":
		event["url"] = draw(st.sampled_from(BAD_URLS))
	elif choice == "ts_str":
		event["ts"] = str(event["ts"])
	elif choice == "ts_far":
		event["ts"] = payload["sent_at"] + draw(st.sampled_from([61_000, -86_400_001, 10**12]))
	elif choice == "dup_id":
		if len(payload["events"]) == 1:
			payload["events"].append(copy.deepcopy(event))
		else:
			event["id"] = next(e["id"] for e in payload["events"] if e is not event)
	elif choice == "id_upper":
		event["id"] = event["id"].upper().replace("0", "G")
	elif choice == "bad_name":
		event["name"] = draw(st.sampled_from(["", "has space", "x" * 65, "ünï", 5]))
	elif choice == "nested_prop":
		event.setdefault("props", {})["nested"] = draw(st.sampled_from([{}, [], {"a": 1}]))
	elif choice == "bad_currency":
		event["conversion"]["currency"] = draw(st.sampled_from(["eur", "EURO", "E1R", "", 978]))
	elif choice == "neg_value":
		event["conversion"]["value"] = draw(st.sampled_from([-0.01, -1, 1e15, "10", True]))
	elif choice == "no_conv_type":
		del event["conversion"]["type"]
	elif choice == "bad_email":
		event["traits"]["email"] = draw(st.sampled_from(["", "a@b", "@b.co", "a b@c.de", "x" * 255]))
	elif choice == "bad_phone":
		event["traits"]["phone"] = draw(st.sampled_from(["", "1234", "abc12345", "+" + "1" * 21]))
	elif choice == "secret_field":
		event["fields"][draw(st.sampled_from(["password", "card_no", "cvc", "iban", "ssn"]))] = "x"
	elif choice == "bad_consent":
		event["consent"] = draw(st.sampled_from(["yes", "", None, True]))
	elif choice == "ping_query":
		event["url"] += "?q=1"


def _top_mutation(payload, draw):
	choice = draw(st.sampled_from(["drop", "extra", "site", "v", "visitor", "sent_at", "events", "too_many"]))
	if choice == "drop":
		del payload[draw(st.sampled_from(sorted(payload)))]
	elif choice == "extra":
		payload[draw(st.text(max_size=10).filter(lambda k: k not in payload))] = draw(json_values)
	elif choice == "site":
		payload["site"] = draw(st.sampled_from(["", "short", "has space in it", "x" * 65, None, 12345678]))
	elif choice == "v":
		payload["v"] = draw(st.sampled_from([0, 2, "1", True, 1.5, None]))
	elif choice == "visitor":
		if payload["visitor"] is None:
			payload["session"] = "c" * 32
		else:
			payload["visitor"] = draw(st.sampled_from(["", "a" * 31, "A" * 32, 7]))
	elif choice == "sent_at":
		payload["sent_at"] = draw(st.sampled_from([str(SENT), SENT + 0.5, SENT + 10**11, -SENT, None]))
	elif choice == "events":
		payload["events"] = draw(st.sampled_from([[], {}, None, "events"]))
	elif choice == "too_many":
		payload["events"] = [copy.deepcopy(payload["events"][0]) for _ in range(51)]
		for n, event in enumerate(payload["events"]):
			event["id"] = f"{n:032x}"


FUZZ = settings(max_examples=2500, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
MUTANTS_PER_EXAMPLE = 5


@FUZZ
@given(st.binary(max_size=600))
def test_random_bytes_never_crash(body):  # 2,500 payloads
	with pytest.raises(ValidationError):
		parse_collect(body, now=NOW)


@settings(FUZZ, max_examples=1000)
@given(json_values)
def test_random_json_is_rejected(value):  # 1,000 payloads
	with pytest.raises(ValidationError):
		parse_collect(json.dumps(value).encode(), now=NOW)


@settings(FUZZ, max_examples=800)
@given(valid_payloads())
def test_valid_payloads_are_accepted_exactly(payload):  # 800 payloads
	batch = parse(payload)
	assert len(batch.events) == len(payload["events"])
	assert [e.id for e in batch.events] == [e["id"] for e in payload["events"]]
	offset = int(NOW * 1000) - payload["sent_at"]
	assert [e.ts for e in batch.events] == [e["ts"] + offset for e in payload["events"]]
	assert batch.visitor == payload["visitor"]


@settings(FUZZ, max_examples=800)
@given(valid_payloads(), st.data())
def test_invalid_mutations_are_always_rejected(payload, data):  # 4,000 payloads
	for _ in range(MUTANTS_PER_EXAMPLE):
		mutant = copy.deepcopy(payload)
		(_event_mutation if data.draw(st.booleans()) else _top_mutation)(mutant, data.draw)
		with pytest.raises(ValidationError):
			parse(mutant)


@settings(FUZZ, max_examples=400)
@given(valid_payloads(), st.data())
def test_arbitrary_edits_only_ever_raise_validation_error(payload, data):  # 2,000 payloads
	original = encode(payload)
	for _ in range(MUTANTS_PER_EXAMPLE):
		body = bytearray(original)
		for _ in range(data.draw(st.integers(1, 4))):
			body[data.draw(st.integers(0, len(body) - 1))] = data.draw(st.integers(0, 255))
		try:
			parse_collect(bytes(body), now=NOW)
		except ValidationError:
			pass


@settings(FUZZ, max_examples=500)
@given(st.one_of(st.text(max_size=60), urls), st.lists(st.text(max_size=30), max_size=4))
def test_origin_checks_never_raise(origin, domains):
	assert origin_allowed(origin, domains) in (True, False)
	assert isinstance(cors_headers(origin), dict)
