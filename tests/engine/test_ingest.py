"""Server-side events: one validator with collect's field rules, per-event rejections, resends once."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trackflow.engine.errors import ValidationError
from trackflow.engine.ingest import (
	MAX_EVENTS,
	ServerEvent,
	decimal_value,
	parse_event,
	parse_events,
	parse_time,
)

NOW = 1_800_000_000.0
WHO = {"visitor": "0123456789abcdef0123456789abcdef"}


def ev(**fields):
	return {"event_id": "e1", "type": "pageview", "time": NOW - 60, **WHO, **fields}


def test_each_type_is_checked_and_kept():
	page = parse_event(ev(url="https://shop.example.com/p", properties={"plan": "pro"}), NOW)
	assert (page.type, page.url, page.properties) == (
		"pageview",
		"https://shop.example.com/p",
		{"plan": "pro"},
	)
	custom = parse_event(ev(type="event", name="demo_requested"), NOW)
	assert custom.name == "demo_requested"
	sale = parse_event(
		ev(type="conversion", conversion={"type": "purchase", "value": 49.5, "currency": "EUR", "id": "o-1"}),
		NOW,
	)
	assert (sale.conversion_type, decimal_value(sale), sale.currency, sale.order_id) == (
		"purchase", Decimal("49.5"), "EUR", "o-1",
	)  # fmt: skip
	call = parse_event(
		{"event_id": "c1", "type": "touch", "time": "2026-11-30T10:00:00Z", "email": " Ada@Example.com ",
		 "channel": "offline", "campaign": "Trade show"},
		NOW,
	)  # fmt: skip
	assert (call.email, call.channel, call.campaign) == ("ada@example.com", "offline", "Trade show")
	classified = parse_event(ev(type="touch", source="google", medium="cpc"), NOW)
	assert classified.channel == "paid_search"
	assert parse_event(ev(type="touch"), NOW).channel == "offline"  # nothing known: an offline touch


@pytest.mark.parametrize(
	"fields, error",
	[
		({"event_id": "bad id!"}, "event_id"),
		({"type": "click"}, "type must be one of"),
		({"time": None}, "time is needed"),
		({"time": NOW + 3600}, "not in the future"),
		({"time": "yesterday"}, "not ISO 8601"),
		({"visitor": "x'; DROP"}, "32 hex"),
		({"visitor": None}, "say who"),
		({"email": "not-an-email", "visitor": None}, "email is not valid"),
		({"url": "javascript:alert(1)"}, r"http\(s\) URL"),
		({"type": "event"}, "needs a name"),
		({"type": "conversion", "conversion": {"type": "deal_won"}}, "conversion type must be one of"),
		({"type": "conversion", "conversion": {"type": "purchase", "value": -1}}, "out of range"),
		({"type": "touch", "channel": "<script>"}, "channel must be one of"),
		({"extra": 1}, "unknown keys"),
	],
)
def test_bad_events_say_why(fields, error):
	with pytest.raises(ValidationError, match=error):
		parse_event(ev(**fields), NOW)


def test_a_batch_accepts_the_good_refuses_the_bad_and_counts_a_resend_once():
	accepted, rejected = parse_events([ev(), ev(), ev(event_id="e2", type="nope"), "x"], NOW)
	assert [e.event_id for e in accepted] == ["e1"]
	assert [(r.index, r.event_id) for r in rejected] == [(2, "e2"), (3, None)]
	with pytest.raises(ValidationError, match="1 to 1000"):
		parse_events([ev()] * (MAX_EVENTS + 1), NOW)
	with pytest.raises(ValidationError, match="must be a list"):
		parse_events("[]", NOW)


def test_times_in_any_common_form():
	assert parse_time("2026-01-01T00:00:00Z") == parse_time("2026-01-01T00:00:00") == 1767225600.0
	assert parse_time(1767225600000) == parse_time(1767225600) == 1767225600.0


def test_an_event_survives_the_queue_and_keeps_its_row_name():
	event = parse_event(ev(type="conversion", conversion={"type": "signup"}), NOW)
	again = ServerEvent.decode(event.encode())
	assert again == event and again.key == event.key and len(event.key) == 31


@given(st.dictionaries(st.text(max_size=12), st.one_of(st.none(), st.text(), st.integers(), st.floats())))
def test_no_input_raises_anything_but_validation_error(raw):
	try:
		parse_event({**ev(), **raw}, NOW)
	except ValidationError:
		pass
