"""What is sent where: consent, identity, age limits, stage order, batch limits; and the backoff schedule."""

import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from trackflow.engine.errors import ValidationError
from trackflow.engine.forwarding.backoff import Backoff, is_retryable, parse_retry_after
from trackflow.engine.forwarding.plan import delivery_order, make_batches, plan_deliveries
from trackflow.engine.forwarding.types import GA4, META, Destination, ForwardedConversion

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
META_DEST = Destination("meta", META, meta_dataset_id="1234567", meta_access_token="token")
GA4_DEST = Destination("ga4", GA4, ga4_measurement_id="G-ABCD1234", ga4_api_secret="secret")


def conv(id="c1", conversion_type="deal_won", at=NOW - timedelta(hours=1), **more) -> ForwardedConversion:
	values = dict(
		id=id,
		event_id=f"key-{id}",
		conversion_type=conversion_type,
		occurred_at=at,
		value=Decimal("10.00"),
		currency="USD",
		lead="L1",
		email="a@example.com",
	)
	values.update(more)
	return ForwardedConversion(**values)


def statuses(plan) -> dict:
	return {o.conversion_id: (o.status, o.response_excerpt) for o in plan.outcomes}


def test_denied_consent_and_opt_in_without_consent_are_skipped():
	plan = plan_deliveries(
		META_DEST,
		[
			conv("denied", consent="denied", fbp="fb.1.1.1"),
			conv("optin", consent_mode="opt-in", consent="unknown", fbp="fb.1.1.1"),
			conv("granted", consent_mode="opt-in", consent="granted", fbp="fb.1.1.1"),
		],
		NOW,
	)
	assert {k: v[0] for k, v in statuses(plan).items()} == {
		"denied": "skipped_consent",
		"optin": "skipped_consent",
	}
	assert [c.id for b in plan.batches for c in b.conversions] == ["granted"]


def test_no_web_identity_needs_hashed_contact_allowed():
	crm_only = conv("crm")
	assert plan_deliveries(META_DEST, [crm_only], NOW).batches  # sent with hashed contact data
	strict = Destination(
		"m", META, meta_dataset_id="1234567", meta_access_token="t", send_hashed_contact=False
	)
	plan = plan_deliveries(strict, [crm_only, conv("web", fbclid="abc", fbclid_at_ms=1)], NOW)
	assert statuses(plan)["crm"][0] == "skipped_consent"
	assert "hashed contact" in statuses(plan)["crm"][1]
	assert [c.id for b in plan.batches for c in b.conversions] == ["web"]
	nothing = plan_deliveries(META_DEST, [conv("anon", email=None, lead=None)], NOW)
	assert statuses(nothing)["anon"][0] == "skipped_consent"


def test_age_limits_seven_days_for_meta_72_hours_for_ga4():
	fresh, old_for_ga4, old_for_all = (
		conv("fresh", at=NOW - timedelta(hours=71), visitor_id="v"),
		conv("d4", at=NOW - timedelta(days=4), visitor_id="v"),
		conv("d8", at=NOW - timedelta(days=8), visitor_id="v"),
	)
	meta_plan = plan_deliveries(META_DEST, [fresh, old_for_ga4, old_for_all], NOW)
	assert {k: v[0] for k, v in statuses(meta_plan).items()} == {"d8": "too_old"}
	assert "8.0 days" in statuses(meta_plan)["d8"][1] and "7.0 days" in statuses(meta_plan)["d8"][1]
	ga4_plan = plan_deliveries(GA4_DEST, [fresh, old_for_ga4, old_for_all], NOW)
	assert {k: v[0] for k, v in statuses(ga4_plan).items()} == {"d4": "too_old", "d8": "too_old"}


def test_disabled_destination_and_unmapped_types():
	off = Destination("off", META, enabled=False, meta_dataset_id="1234567", meta_access_token="t")
	plan = plan_deliveries(off, [conv("a"), conv("b", conversion_type="custom")], NOW)
	assert statuses(plan) == {"a": ("disabled", "Destination off is disabled")}
	assert plan.not_sent_here == ("b",)


def test_stage_events_of_a_lead_go_in_stage_order_even_when_clocks_disagree():
	t = NOW - timedelta(hours=5)
	events = [
		conv("won", "deal_won", t + timedelta(minutes=1)),
		conv("other-lead", "lead_created", t + timedelta(seconds=30), lead="L2"),
		conv("qualified", "lead_qualified", t - timedelta(minutes=1)),  # CRM stamped it before the lead
		conv("created", "lead_created", t),
		conv("deal", "deal_created", t + timedelta(seconds=10)),
		conv("purchase", "purchase", t - timedelta(hours=1), lead=None),
	]
	assert [c.id for c in delivery_order(events)] == [
		"purchase",
		"created",
		"qualified",
		"deal",
		"won",
		"other-lead",
	]
	assert [c.id for c in delivery_order(reversed(events))] == [c.id for c in delivery_order(events)]


def test_meta_batches_hold_at_most_1000_events():
	batches = make_batches(META_DEST, [conv(f"c{i:05}", lead=f"L{i}") for i in range(2501)])
	assert [len(b.conversions) for b in batches] == [1000, 1000, 501]


def test_ga4_batches_hold_at_most_25_events_of_one_client():
	same_client = [conv(f"a{i:03}", visitor_id="client-a", lead=f"L{i}") for i in range(60)]
	others = [conv(f"b{i}", visitor_id=f"client-{i}", lead=f"M{i}") for i in range(3)]
	batches = make_batches(GA4_DEST, same_client + others)
	assert [len(b.conversions) for b in batches] == [25, 25, 10, 1, 1, 1]
	for batch in batches:
		assert len({c.visitor_id for c in batch.conversions}) == 1


def test_ga4_requests_also_split_on_user_id():
	batches = make_batches(
		GA4_DEST, [conv("a", visitor_id="v", user_id="u1"), conv("b", visitor_id="v", user_id="u2")]
	)
	assert len(batches) == 2


def test_backoff_schedule_is_exponential_capped_and_deterministic():
	backoff = Backoff(base_seconds=10, factor=2, cap_seconds=100)
	delays = [backoff.delay(n, random.Random(7)) for n in range(1, 7)]
	assert delays == [backoff.delay(n, random.Random(7)) for n in range(1, 7)]
	for n, delay in enumerate(delays, start=1):
		ceiling = min(100, 10 * 2 ** (n - 1))
		assert ceiling / 2 <= delay <= ceiling
	assert delays[-1] >= 50  # capped at 100, half of it fixed
	with pytest.raises(ValidationError):
		backoff.delay(0)


def test_retry_after_wins_when_longer_and_is_bounded():
	backoff = Backoff(base_seconds=1, cap_seconds=4, max_retry_after_seconds=3600)
	assert backoff.delay(1, random.Random(1), retry_after=120) == 120
	assert backoff.delay(1, random.Random(1), retry_after=0) <= 1
	assert backoff.delay(1, random.Random(1), retry_after=10**9) == 3600


def test_parse_retry_after_seconds_and_http_date():
	assert parse_retry_after("120", NOW) == 120
	assert parse_retry_after("Wed, 25 Nov 2026 12:01:30 GMT", NOW) == 90
	assert parse_retry_after("Wed, 25 Nov 2026 11:00:00 GMT", NOW) == 0
	assert parse_retry_after("soon", NOW) is None
	assert parse_retry_after(None, NOW) is None


@pytest.mark.parametrize(
	"status, timed_out, error, expected",
	[
		(None, True, None, True),
		(None, False, None, True),
		(429, False, None, True),
		(500, False, None, True),
		(503, False, None, True),
		(408, False, None, True),
		(400, False, None, False),
		(401, False, None, False),
		(404, False, None, False),
		(400, False, {"code": 100}, False),
		(400, False, {"code": 17}, True),
		(400, False, {"code": 190, "is_transient": True}, True),
	],
)
def test_what_is_retried(status, timed_out, error, expected):
	assert is_retryable(status, timed_out, error) is expected


def test_conversion_needs_an_aware_time_and_a_decimal_value():
	with pytest.raises(ValidationError):
		conv(at=datetime(2026, 1, 1))
	with pytest.raises(ValidationError):
		conv(value=10.0)
	with pytest.raises(ValidationError):
		conv(consent="maybe")
