"""The sender against a real local HTTP server: success, validation errors, throttling, 5xx, timeouts, and
several requests in flight at once (nothing sent twice, retries, order kept where it matters)."""

import logging
import random
import socket
from collections import Counter
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
import requests
from forwarding_stub import Reply, StubPlatform

from trackflow.engine.errors import ValidationError
from trackflow.engine.forwarding.backoff import Backoff
from trackflow.engine.forwarding.plan import plan_deliveries
from trackflow.engine.forwarding.sender import Sender, deliver, in_order_chains
from trackflow.engine.forwarding.types import GA4, META, Destination, ForwardedConversion

META_TOKEN = "EAAG-meta-access-token-s3cr3t"
GA4_SECRET = "ga4-api-secret-Zx9"
NOW = datetime.now(timezone.utc)


def conv(id: str, conversion_type: str = "deal_won", **more) -> ForwardedConversion:
	values = dict(
		id=id,
		event_id=f"idem-{id}",
		conversion_type=conversion_type,
		occurred_at=NOW - timedelta(hours=1),
		value=Decimal("99.00"),
		currency="USD",
		lead=f"LEAD-{id}",
		email=f"{id}@example.com",
		visitor_id=f"visitor-{id}",
	)
	values.update(more)
	return ForwardedConversion(**values)


def meta_dest(url: str, **more) -> Destination:
	return Destination(
		"meta-test", META, base_url=url, meta_dataset_id="1234567", meta_access_token=META_TOKEN, **more
	)


def ga4_dest(url: str, **more) -> Destination:
	return Destination(
		"ga4-test", GA4, base_url=url, ga4_measurement_id="G-TEST1234", ga4_api_secret=GA4_SECRET, **more
	)


@pytest.fixture
def stub():
	with StubPlatform() as server:
		yield server


@pytest.fixture(autouse=True)
def debug_logs(caplog):
	caplog.set_level(logging.DEBUG)
	return caplog


def sender(**more) -> Sender:
	session = requests.Session()
	session.trust_env = False  # no proxy from the environment between the test and 127.0.0.1
	options = dict(
		session=session,
		# generous: a timeout is the subject of its own tests (which set a short one); elsewhere a loaded
		# machine must not turn a slow answer into a failure
		timeout=30,
		backoff=Backoff(base_seconds=0.01, cap_seconds=0.05),
		rng=random.Random(1),
	)
	options.update(more)
	return Sender(**options)


def assert_no_secret(caplog, outcomes):
	for text in [r.getMessage() for r in caplog.records] + [o.response_excerpt for o in outcomes]:
		assert META_TOKEN not in text and GA4_SECRET not in text, text


def meta_event_ids(stub) -> list[list[str]]:
	return [[e["event_id"] for e in r.body["data"]] for r in stub.received]


def test_meta_200_sends_once_with_token_in_body_only(stub, caplog):
	with sender() as s:
		outcomes = s.deliver(meta_dest(stub.url), [conv("a"), conv("b")])
	assert len(stub.received) == 1
	request = stub.received[0]
	assert request.path == "/v21.0/1234567/events" and request.query == {}
	assert request.body["access_token"] == META_TOKEN
	assert [o.status for o in outcomes] == ["sent", "sent"]
	assert all(o.attempts == 1 and o.http_status == 200 and o.sent_at for o in outcomes)
	assert "events_received 2" in outcomes[0].response_excerpt
	assert "fbtrace_id AbCdEf123" in outcomes[0].response_excerpt
	assert_no_secret(caplog, outcomes)


def test_meta_400_validation_error_fails_without_retry(stub, caplog):
	error = {
		"error": {
			"message": "Invalid OAuth access token",
			"type": "OAuthException",
			"code": 190,
			"fbtrace_id": "T1",
		}
	}
	stub.then(Reply(400, error))
	with sender(inline_retry_seconds=10) as s:
		outcomes = s.deliver(meta_dest(stub.url), [conv("a"), conv("b")])
	assert len(stub.received) == 1
	assert {o.status for o in outcomes} == {"failed"}
	assert outcomes[0].http_status == 400 and outcomes[0].next_attempt_at is None
	assert "Invalid OAuth access token (code 190, fbtrace_id T1)" in outcomes[0].response_excerpt
	assert_no_secret(caplog, outcomes)


def test_meta_invalid_parameter_is_narrowed_to_the_bad_event(stub, caplog):
	bad = {"error": {"message": "Invalid parameter", "code": 100, "error_user_msg": "event_time too old"}}
	# 4 events rejected; halves [a, b] ok and [c, d] rejected; then c ok and d rejected.
	stub.then(Reply(400, bad), Reply(200), Reply(400, bad), Reply(200), Reply(400, bad))
	with sender() as s:
		outcomes = s.deliver(meta_dest(stub.url), [conv(x) for x in "abcd"])
	assert meta_event_ids(stub) == [
		["idem-a", "idem-b", "idem-c", "idem-d"],
		["idem-a", "idem-b"],
		["idem-c", "idem-d"],
		["idem-c"],
		["idem-d"],
	]
	assert {o.conversion_id: o.status for o in outcomes} == {
		"a": "sent",
		"b": "sent",
		"c": "sent",
		"d": "failed",
	}
	assert "event_time too old" in next(o for o in outcomes if o.conversion_id == "d").response_excerpt


def test_429_with_retry_after_is_retried_later_with_the_same_event_id(stub, caplog):
	stub.then(Reply(429, {"error": {"message": "throttled"}}, {"Retry-After": "120"}))
	destination = meta_dest(stub.url)
	with sender() as s:
		first = s.deliver(destination, [conv("a")])
	assert [(o.status, o.attempts, o.http_status) for o in first] == [("retrying", 1, 429)]
	wait = (first[0].next_attempt_at - datetime.now(timezone.utc)).total_seconds()
	assert 110 < wait <= 120  # Retry-After honoured over the much shorter backoff
	with sender() as s:  # the next job run, for deliveries now due
		second = s.deliver(destination, [conv("a")], attempts={"a": first[0].attempts})
	assert [(o.status, o.attempts) for o in second] == [("sent", 2)]
	assert meta_event_ids(stub) == [["idem-a"], ["idem-a"]]
	assert_no_secret(caplog, first + second)


def test_500_twice_then_accepted_within_one_run(stub, caplog):
	stub.then(Reply(500, {"error": {"message": "boom"}}), Reply(503, {"error": {"message": "busy"}}))
	waits = []
	with sender(inline_retry_seconds=1, sleep=waits.append) as s:
		outcomes = s.deliver(meta_dest(stub.url), [conv("a"), conv("b")])
	assert len(stub.received) == 3 and len(waits) == 2
	assert waits[0] <= waits[1] * 2  # backoff grows
	assert [(o.status, o.attempts) for o in outcomes] == [("sent", 3), ("sent", 3)]
	assert meta_event_ids(stub) == [["idem-a", "idem-b"]] * 3
	assert_no_secret(caplog, outcomes)


def test_gives_up_after_max_attempts(stub):
	stub.then(*[Reply(500, {"error": {"message": "down"}})] * 5)
	with sender(inline_retry_seconds=1, sleep=lambda s: None) as s:
		outcomes = s.deliver(meta_dest(stub.url, max_attempts=3), [conv("a")])
	assert len(stub.received) == 3
	assert [(o.status, o.attempts) for o in outcomes] == [("failed", 3)]
	assert outcomes[0].response_excerpt.startswith("gave up after 3 attempts")


def test_attempts_carried_from_earlier_runs_count_towards_the_maximum(stub):
	stub.then(Reply(502, {}))
	with sender() as s:
		outcomes = s.deliver(meta_dest(stub.url, max_attempts=4), [conv("a")], attempts={"a": 3})
	assert [(o.status, o.attempts) for o in outcomes] == [("failed", 4)]


def test_a_hanging_platform_times_out_and_is_retried(stub, caplog):
	stub.then(Reply(200, hang_seconds=1.5))
	destination = ga4_dest(stub.url)
	with sender(timeout=0.3) as s:
		first = s.deliver(destination, [conv("a")])
	assert [(o.status, o.http_status) for o in first] == [("retrying", None)]
	assert "timed out" in first[0].response_excerpt
	with sender(timeout=0.3) as s:
		second = s.deliver(destination, [conv("a")], attempts={"a": 1})
	assert [(o.status, o.attempts) for o in second] == [("sent", 2)]
	ids = [[e["params"]["transaction_id"] for e in r.body["events"]] for r in stub.received]
	assert ids == [["idem-a"], ["idem-a"]]
	assert_no_secret(caplog, first + second)


def of_client(client_id: str):
	return lambda request: request.body.get("client_id") == client_id


def holding(event_id: str):
	return lambda request: event_id in request.event_ids


def test_ga4_groups_by_client_and_keeps_the_secret_out_of_logs_and_excerpts(stub, caplog):
	conversions = [conv(f"a{i}", visitor_id="client-1", email="one@example.com") for i in range(30)] + [
		conv("b", visitor_id="client-2")
	]
	# client-2's request may go out between client-1's two: the script says which request gets which reply.
	stub.then(
		Reply(200, when=of_client("client-1")), Reply(500, {"error": "internal"}, when=of_client("client-1"))
	)
	with sender() as s:
		outcomes = s.deliver(ga4_dest(stub.url), conversions)
	by_client = sorted(stub.received, key=lambda r: r.body["client_id"])  # stable: client-1's in sent order
	assert [(r.path, len(r.body["events"]), r.body["client_id"]) for r in by_client] == [
		("/mp/collect", 25, "client-1"),
		("/mp/collect", 5, "client-1"),
		("/mp/collect", 1, "client-2"),
	]
	assert stub.received[0].query["api_secret"] == [GA4_SECRET]
	statuses = {o.conversion_id: o.status for o in outcomes}
	first, second = ({e["params"]["transaction_id"] for e in r.body["events"]} for r in by_client[:2])
	assert {statuses[id.removeprefix("idem-")] for id in first} == {"sent"}
	assert {statuses[id.removeprefix("idem-")] for id in second} == {"retrying"}
	assert statuses["b"] == "sent"
	assert [o.conversion_id for o in outcomes] == [*sorted(f"a{i}" for i in range(30)), "b"]  # plan order
	assert any("api_secret=[redacted]" in r.getMessage() for r in caplog.records)
	assert_no_secret(caplog, outcomes)


def test_ga4_validation_mode_reports_validation_messages(stub):
	messages = {
		"validationMessages": [
			{
				"fieldPath": "events[0].name",
				"description": "Event name is reserved",
				"validationCode": "NAME_RESERVED",
			}
		]
	}
	stub.then(Reply(200, messages))
	with sender() as s:
		outcomes = s.deliver(ga4_dest(stub.url, ga4_validation_mode=True), [conv("a")])
	assert stub.received[0].path == "/debug/mp/collect"
	assert [o.status for o in outcomes] == ["failed"]
	assert outcomes[0].response_excerpt == (
		"GA4 validation: events[0].name: Event name is reserved (NAME_RESERVED)"
	)
	with sender() as s:
		clean = s.deliver(ga4_dest(stub.url, ga4_validation_mode=True), [conv("a")])
	assert [o.status for o in clean] == ["sent"]


def test_connection_refused_is_retried_and_redacted(caplog):
	with socket.socket() as probe:  # a port with nothing listening
		probe.bind(("127.0.0.1", 0))
		port = probe.getsockname()[1]
	outcomes = deliver(
		ga4_dest(f"http://127.0.0.1:{port}"), [conv("a")], timeout=0.5, backoff=Backoff(base_seconds=60)
	)
	assert [(o.status, o.http_status) for o in outcomes] == [("retrying", None)]
	assert "ConnectionError" in outcomes[0].response_excerpt
	assert_no_secret(caplog, outcomes)


def test_skipped_and_too_old_conversions_never_reach_the_platform(stub):
	with sender() as s:
		outcomes = s.deliver(
			meta_dest(stub.url),
			[conv("denied", consent="denied"), conv("old", occurred_at=NOW - timedelta(days=9)), conv("ok")],
		)
	assert {o.conversion_id: o.status for o in outcomes} == {
		"denied": "skipped_consent",
		"old": "too_old",
		"ok": "sent",
	}
	assert meta_event_ids(stub) == [["idem-ok"]]


def test_one_session_is_reused_across_batches_and_destinations(stub):
	session = requests.Session()
	session.trust_env = False
	opened = []
	original = session.send

	def counting_send(request, **kwargs):
		opened.append(id(session))
		return original(request, **kwargs)

	session.send = counting_send
	with Sender(session=session, timeout=1) as s:
		s.deliver(meta_dest(stub.url), [conv(f"m{i}", lead=f"L{i}") for i in range(1500)])
		s.deliver(ga4_dest(stub.url), [conv("g", visitor_id="v")])
		assert s.requests_sent == 3
	assert len(opened) == 3 and len(set(opened)) == 1


# Concurrency: several requests in flight, one session, nothing sent twice, order kept where it matters.


def plan_order(destination: Destination, conversions) -> list[str]:
	plan = plan_deliveries(destination, conversions, datetime.now(timezone.utc))
	return [c.id for batch in plan.batches for c in batch.conversions]


@pytest.mark.parametrize(
	("platform", "n", "per_client", "expected_requests"),
	[(GA4, 600, 1, 600), (GA4, 600, 25, 24), (META, 2500, 1, 3)],
)
def test_many_conversions_are_sent_concurrently_each_exactly_once(
	caplog, platform, n, per_client, expected_requests
):
	conversions = [
		conv(
			f"c{i:04}",
			conversion_type="purchase",
			visitor_id=f"v{i // per_client}",
			email=f"v{i // per_client}@example.com",
		)
		for i in range(n)
	]
	with StubPlatform(latency=0.005) as stub, sender(concurrency=8) as s:
		destination = (ga4_dest if platform == GA4 else meta_dest)(stub.url)
		outcomes = s.deliver(destination, conversions)
		assert s.requests_sent == expected_requests
	assert len(stub.received) == expected_requests  # ⌈N/1000⌉ for Meta, one per 25 of a client for GA4
	assert stub.accepted_ids() == Counter(c.event_id for c in conversions)  # every event exactly once
	assert [o.conversion_id for o in outcomes] == plan_order(destination, conversions)
	assert {(o.status, o.attempts) for o in outcomes} == {("sent", 1)}
	if expected_requests > 8:
		assert 1 < stub.max_in_flight <= 8  # concurrent, and never more than the pool
	assert_no_secret(caplog, outcomes)


def test_concurrency_one_sends_one_request_at_a_time():
	conversions = [conv(f"c{i}", visitor_id=f"v{i}") for i in range(40)]
	with StubPlatform(latency=0.002) as stub, sender(concurrency=1) as s:
		outcomes = s.deliver(ga4_dest(stub.url), conversions)
	assert stub.max_in_flight == 1 and len(stub.received) == 40
	assert {o.status for o in outcomes} == {"sent"}


def test_retries_under_concurrency_resend_each_request_until_it_is_accepted_once(caplog):
	conversions = [conv(f"c{i:03}", visitor_id=f"v{i}") for i in range(200)]
	waits = []
	with StubPlatform(latency=0.002, fail_first=2) as stub:
		with sender(inline_retry_seconds=1, sleep=waits.append, concurrency=8) as s:
			outcomes = s.deliver(ga4_dest(stub.url), conversions)
			assert s.requests_sent == 600
	assert len(stub.received) == 600 and len(waits) == 400  # two failed attempts per request, retried inline
	assert set(stub.attempts.values()) == {3}
	assert stub.accepted_ids() == Counter(c.event_id for c in conversions)
	assert {(o.status, o.attempts, o.http_status) for o in outcomes} == {("sent", 3, 200)}
	assert stub.max_in_flight > 1
	assert_no_secret(caplog, outcomes)


def test_failures_under_concurrency_settle_each_request_as_the_sequential_sender_would(caplog):
	conversions = [conv(f"c{i:03}", visitor_id=f"v{i}") for i in range(100)]
	stub = StubPlatform(latency=0.002).then(
		Reply(400, {"error": "bad request"}, when=of_client("v7")),
		Reply(429, {"error": "slow down"}, {"Retry-After": "120"}, when=of_client("v21")),
		*[Reply(503, {"error": "down"}, when=of_client("v42"))] * 3,
		Reply(500, {"error": "once"}, when=of_client("v63")),
	)
	with stub, sender(inline_retry_seconds=1, sleep=lambda s: None, concurrency=8) as s:
		outcomes = s.deliver(ga4_dest(stub.url, max_attempts=3), conversions)
	got = {o.conversion_id: (o.status, o.attempts, o.http_status) for o in outcomes}
	assert got.pop("c007") == ("failed", 1, 400)  # not retryable
	assert got.pop("c021") == ("retrying", 1, 429)  # Retry-After 120 s is past the inline limit
	assert got.pop("c042") == ("failed", 3, 503)  # gave up at max_attempts
	assert got.pop("c063") == ("sent", 2, 200)  # retried inline once
	assert set(got.values()) == {("sent", 1, 200)}
	assert not stub.script  # every scripted failure was used, by the request it was meant for
	accepted = stub.accepted_ids()
	assert accepted == Counter(c.event_id for c in conversions if c.id not in ("c007", "c021", "c042"))
	assert_no_secret(caplog, outcomes)


def test_meta_invalid_parameter_is_narrowed_under_concurrency(caplog):
	conversions = [conv(f"m{i:04}") for i in range(2500)]  # 3 requests, sent at the same time
	bad = {"error": {"message": "Invalid parameter", "code": 100, "error_user_msg": "bad value"}}
	stub = StubPlatform().then(
		Reply(
			200, hang_seconds=1.0, when=holding("idem-m0000")
		),  # the first one is still out when the others go
		*[Reply(400, bad, when=holding("idem-m1234"))] * 20,
	)
	with stub, sender(concurrency=8) as s:
		outcomes = s.deliver(meta_dest(stub.url), conversions)
	statuses = Counter(o.status for o in outcomes)
	assert statuses == {"sent": 2499, "failed": 1}
	assert next(o for o in outcomes if o.status == "failed").conversion_id == "m1234"
	assert stub.accepted_ids() == Counter(c.event_id for c in conversions if c.id != "m1234")
	assert stub.max_in_flight > 1
	assert [o.conversion_id for o in outcomes] == [c.id for c in conversions]  # plan order, split or not
	assert_no_secret(caplog, outcomes)


def test_a_leads_stage_events_straddling_two_meta_requests_go_in_stage_order(caplog):
	early = [
		conv(f"a{i:04}", "purchase", occurred_at=NOW - timedelta(hours=3, seconds=-i)) for i in range(998)
	]
	stages = [
		conv(f"x-{name}", name, lead="LEAD-X", occurred_at=NOW - timedelta(hours=2, minutes=-10 * rank))
		for rank, name in enumerate(["lead_created", "lead_qualified", "deal_created", "deal_won"])
	]
	late = [
		conv(f"z{i:04}", "purchase", occurred_at=NOW - timedelta(hours=1, seconds=-i)) for i in range(1500)
	]
	destination = meta_dest("http://unused.invalid")
	plan = plan_deliveries(destination, early + stages + late, NOW)
	assert [[c.id for c in b.conversions if c.lead == "LEAD-X"] for b in plan.batches] == [
		["x-lead_created", "x-lead_qualified"],
		["x-deal_created", "x-deal_won"],
		[],
	]
	assert in_order_chains(plan.batches) == [[0, 1], [2]]
	# The first request hangs: without the chain, the second would go out at once, beside the third.
	stub = StubPlatform().then(Reply(200, hang_seconds=1.0, when=holding("idem-x-lead_qualified")))
	with stub, sender(concurrency=8) as s:
		outcomes = s.deliver(meta_dest(stub.url), late + stages + early)
	first, second = (
		next(r for r in stub.received if f"idem-x-{name}" in r.event_ids)
		for name in ("lead_created", "deal_won")
	)
	third = next(r for r in stub.received if "idem-z1499" in r.event_ids)
	assert second.arrived >= first.answered  # the lead's later stages only after its earlier ones
	assert third.arrived < first.answered  # while the independent batch went out at once
	assert meta_event_ids(stub)[stub.received.index(second)][:2] == ["idem-x-deal_created", "idem-x-deal_won"]
	assert {o.status for o in outcomes} == {"sent"} and len(outcomes) == 2502
	assert_no_secret(caplog, outcomes)


def test_one_ga4_clients_requests_go_one_after_the_other(caplog):
	mine = [conv(f"a{i:02}", "purchase", visitor_id="client-1", email="one@example.com") for i in range(30)]
	others = [conv(f"b{i:02}", "purchase", visitor_id=f"other-{i}") for i in range(20)]
	stub = StubPlatform().then(Reply(200, hang_seconds=0.5, when=of_client("client-1")))
	with stub, sender(concurrency=4) as s:
		outcomes = s.deliver(ga4_dest(stub.url), mine + others)
	first, second = (r for r in stub.received if r.body["client_id"] == "client-1")
	assert (len(first.event_ids), len(second.event_ids)) == (25, 5)
	assert second.arrived >= first.answered
	assert sum(r.arrived < first.answered for r in stub.received if r.body["client_id"] != "client-1") > 0
	assert {o.status for o in outcomes} == {"sent"}
	assert_no_secret(caplog, outcomes)


def test_an_owned_session_pools_as_many_connections_as_it_sends_at_once():
	with Sender(concurrency=32) as s:
		for prefix in ("https://", "http://"):
			assert (
				s.session.get_adapter(prefix + "example.com").poolmanager.connection_pool_kw["maxsize"] >= 32
			)
	with pytest.raises(ValidationError):
		Sender(concurrency=0)
