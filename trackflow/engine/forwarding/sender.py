"""Send planned batches over one reused HTTP session; retry what is worth retrying; never leak a secret."""

import json
import logging
import random
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import requests

from trackflow.engine.forwarding import ga4, meta
from trackflow.engine.forwarding.backoff import Backoff, is_retryable, parse_retry_after
from trackflow.engine.forwarding.plan import Batch, plan_deliveries
from trackflow.engine.forwarding.types import (
	FAILED,
	META,
	RETRYING,
	SENT,
	DeliveryOutcome,
	Destination,
	ForwardedConversion,
)

log = logging.getLogger("trackflow.forwarding")

EXCERPT_LIMIT = 1000
DEFAULT_TIMEOUT = (3.05, 15.0)  # connect, read (seconds)
# Meta's "invalid parameter": one bad event fails the whole request, so such a batch is split to find it.
# Other 4xx (a bad token, 190; missing permission, 10/200) would fail every half the same way.
META_INVALID_PARAMETER = 100

_SECRET_IN_QUERY = re.compile(r"((?:api_secret|access_token)=)[^&\s\"'#]+", re.IGNORECASE)
_SECRET_IN_JSON = re.compile(r"(\"(?:api_secret|access_token)\"\s*:\s*\")[^\"]*", re.IGNORECASE)
REDACTED = "[redacted]"


def redact(text: object, secrets: Iterable[str] = ()) -> str:
	"""`text` with every known secret and every api_secret/access_token value replaced."""
	text = str(text)
	for secret in secrets:
		if secret:
			text = text.replace(secret, REDACTED)
	text = _SECRET_IN_QUERY.sub(rf"\1{REDACTED}", text)
	return _SECRET_IN_JSON.sub(rf"\1{REDACTED}", text)


class RedactSecretsFilter(logging.Filter):
	"""Rewrites records of a library logger (urllib3 logs request lines, query string included)."""

	def filter(self, record: logging.LogRecord) -> bool:
		message = record.getMessage()
		clean = redact(message)
		if clean != message:
			record.msg, record.args = clean, None
		return True


def _install_library_filter() -> None:
	target = logging.getLogger("urllib3.connectionpool")
	if not any(isinstance(f, RedactSecretsFilter) for f in target.filters):
		target.addFilter(RedactSecretsFilter())


_install_library_filter()


def utcnow() -> datetime:
	return datetime.now(timezone.utc)


def request_for(destination: Destination, conversions: list[ForwardedConversion]) -> tuple[str, dict]:
	"""URL and body of one request carrying `conversions`, credentials included (never log either)."""
	if destination.platform == META:
		events = [meta.build_event(c, destination) for c in conversions]
		url, body = meta.build_request(
			destination.api_base_url,
			destination.meta_api_version,
			destination.meta_dataset_id or "",
			events,
			destination.meta_test_event_code,
		)
		return url, {**body, "access_token": destination.meta_access_token or ""}
	body = ga4.build_body(conversions, destination)
	return ga4.build_request(
		destination.api_base_url,
		destination.ga4_measurement_id or "",
		destination.ga4_api_secret or "",
		body,
		destination.ga4_validation_mode,
	)


@dataclass(frozen=True)
class Answer:
	"""One request's result, already classified and redacted."""

	http_status: int | None
	accepted: bool
	retryable: bool
	retry_after: float | None
	excerpt: str
	split: bool = False  # a Meta invalid-parameter error: worth finding the bad event by halving


class Sender:
	"""One HTTP session for a whole run (all destinations, all batches). Failed requests come back as
	`retrying` outcomes with `next_attempt_at`; a wait up to `inline_retry_seconds` (0: never) is slept
	through and retried within the run. Every retry resends the same event_id / transaction_id."""

	def __init__(
		self,
		*,
		session: requests.Session | None = None,
		timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
		backoff: Backoff | None = None,
		rng: random.Random | None = None,
		inline_retry_seconds: float = 0.0,
		sleep: Callable[[float], None] = time.sleep,
		clock: Callable[[], datetime] = utcnow,
	):
		self._own_session = session is None
		self.session = session or requests.Session()
		self.timeout = timeout
		self.backoff = backoff or Backoff()
		self.rng = rng or random.Random()
		self.inline_retry_seconds = inline_retry_seconds
		self.sleep = sleep
		self.clock = clock
		self.requests_sent = 0

	def __enter__(self) -> "Sender":
		return self

	def __exit__(self, *exc) -> None:
		self.close()

	def close(self) -> None:
		if self._own_session:
			self.session.close()

	def deliver(
		self,
		destination: Destination,
		conversions: Iterable[ForwardedConversion],
		attempts: Mapping[str, int] | None = None,
		now: datetime | None = None,
	) -> list[DeliveryOutcome]:
		"""Plan and send: one outcome per conversion this destination takes (its type is mapped).
		`attempts` are the deliveries' attempts so far (the Conversion Delivery rows), by conversion id."""
		attempts = dict(attempts or {})
		plan = plan_deliveries(destination, conversions, now or self.clock(), attempts)
		outcomes = list(plan.outcomes)
		for batch in plan.batches:
			outcomes.extend(self.send_batch(batch, attempts))
		return outcomes

	def send_batch(self, batch: Batch, attempts: Mapping[str, int] | None = None) -> list[DeliveryOutcome]:
		tries = {c.id: (attempts or {}).get(c.id, 0) for c in batch.conversions}
		return self._send(batch.destination, list(batch.conversions), tries)

	def _send(
		self, destination: Destination, pending: list[ForwardedConversion], tries: dict[str, int]
	) -> list[DeliveryOutcome]:
		results: list[DeliveryOutcome] = []
		while pending:
			answer = self._post(destination, pending)
			for c in pending:
				tries[c.id] += 1
			if answer.accepted:
				return results + self._outcomes(
					destination, pending, tries, SENT, answer, sent_at=self.clock()
				)
			if not answer.retryable:
				if answer.split and len(pending) > 1:
					half = len(pending) // 2
					return (
						results
						+ self._send(destination, pending[:half], tries)
						+ self._send(destination, pending[half:], tries)
					)
				return results + self._outcomes(destination, pending, tries, FAILED, answer)
			exhausted = [c for c in pending if tries[c.id] >= destination.max_attempts]
			if exhausted:
				gave_up = Answer(
					answer.http_status,
					False,
					False,
					None,
					f"gave up after {destination.max_attempts} attempts; last: {answer.excerpt}",
				)
				results += self._outcomes(destination, exhausted, tries, FAILED, gave_up)
				pending = [c for c in pending if tries[c.id] < destination.max_attempts]
				if not pending:
					return results
			failures = max(tries[c.id] for c in pending)
			wait = self.backoff.delay(failures, self.rng, answer.retry_after)
			if wait <= self.inline_retry_seconds:
				log.info("%s: retrying %d events in %.2fs", destination.name, len(pending), wait)
				self.sleep(wait)
				continue
			retry_at = self.clock() + timedelta(seconds=wait)
			return results + self._outcomes(
				destination, pending, tries, RETRYING, answer, next_attempt_at=retry_at
			)
		return results

	def _outcomes(
		self,
		destination: Destination,
		conversions: list[ForwardedConversion],
		tries: Mapping[str, int],
		status: str,
		answer: Answer,
		sent_at: datetime | None = None,
		next_attempt_at: datetime | None = None,
	) -> list[DeliveryOutcome]:
		excerpt = redact(answer.excerpt, destination.secrets)[:EXCERPT_LIMIT]
		return [
			DeliveryOutcome(
				c.id,
				status,
				attempts=tries[c.id],
				http_status=answer.http_status,
				response_excerpt=excerpt,
				next_attempt_at=next_attempt_at,
				sent_at=sent_at,
				event_name=destination.event_name(c.conversion_type),
			)
			for c in conversions
		]

	def _post(self, destination: Destination, conversions: list[ForwardedConversion]) -> Answer:
		url, body = request_for(destination, conversions)
		secrets = destination.secrets
		safe_url = redact(url, secrets)
		data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
		started = time.perf_counter()
		self.requests_sent += 1
		try:
			response = self.session.post(
				url, data=data, headers={"Content-Type": "application/json"}, timeout=self.timeout
			)
		except requests.Timeout:
			log.warning("%s: POST %s timed out (%d events)", destination.name, safe_url, len(conversions))
			return Answer(None, False, True, None, f"timed out after {self.timeout}s")
		except requests.RequestException as exc:
			reason = redact(f"{type(exc).__name__}: {exc}", secrets)
			log.warning("%s: POST %s failed: %s", destination.name, safe_url, reason)
			return Answer(None, False, True, None, reason)
		elapsed_ms = (time.perf_counter() - started) * 1000
		answer = classify(destination, response, self.clock())
		level = logging.DEBUG if answer.accepted else logging.WARNING
		log.log(
			level,
			"%s: POST %s -> %s in %.0f ms (%d events): %s",
			destination.name,
			safe_url,
			response.status_code,
			elapsed_ms,
			len(conversions),
			redact(answer.excerpt, secrets),
		)
		return answer


def classify(destination: Destination, response: requests.Response, now: datetime) -> Answer:
	"""Accepted, retryable or failed, with the part of the platform's answer worth keeping."""
	status = response.status_code
	try:
		payload = response.json() if response.content else None
	except ValueError:
		payload = None
	retry_after = parse_retry_after(response.headers.get("Retry-After"), now)
	ok = 200 <= status < 300
	text = (response.text or "")[:300].strip()
	if destination.platform == META:
		error = payload.get("error") if isinstance(payload, dict) else None
		error = error if isinstance(error, dict) else None
		excerpt = f"HTTP {status}: {meta.describe_response(payload) or text or response.reason}"
		retryable = not ok and is_retryable(status, meta_error=error)
		split = bool(error and error.get("code") == META_INVALID_PARAMETER)
		return Answer(status, ok, retryable, retry_after, redact(excerpt, destination.secrets), split)
	if ok and destination.ga4_validation_mode:
		messages = ga4.validation_messages(payload)
		if messages:
			return Answer(status, False, False, None, "GA4 validation: " + "; ".join(messages))
		return Answer(status, True, False, None, f"HTTP {status}: validated, no messages (not recorded)")
	excerpt = f"HTTP {status}" + (f": {text}" if text and not ok else "")
	return Answer(
		status, ok, not ok and is_retryable(status), retry_after, redact(excerpt, destination.secrets)
	)


def deliver(
	destination: Destination,
	conversions: Iterable[ForwardedConversion],
	attempts: Mapping[str, int] | None = None,
	now: datetime | None = None,
	**sender_options,
) -> list[DeliveryOutcome]:
	"""One destination, one session: plan, send, and return one outcome per conversion it takes."""
	with Sender(**sender_options) as sender:
		return sender.deliver(destination, conversions, attempts, now)
