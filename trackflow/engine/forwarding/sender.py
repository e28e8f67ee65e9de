"""Send planned batches over one reused HTTP session, several at a time; retry what is worth retrying;
never leak a secret."""

import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import requests
from requests.adapters import HTTPAdapter

from trackflow.engine.errors import ValidationError
from trackflow.engine.forwarding import ga4, meta
from trackflow.engine.forwarding.backoff import Backoff, is_retryable, parse_retry_after
from trackflow.engine.forwarding.plan import Batch, plan_deliveries
from trackflow.engine.forwarding.types import (
	FAILED,
	GA4,
	META,
	RETRYING,
	SENT,
	DeliveryOutcome,
	Destination,
	ForwardedConversion,
)

log = logging.getLogger("trackflow.forwarding")

EXCERPT_LIMIT = 1000
EXCERPT_TEXT = 300  # characters of a response body kept when the platform's answer has no detail
JSON_HEADERS = {"Content-Type": "application/json"}
DEFAULT_TIMEOUT = (3.05, 15.0)  # connect, read (seconds)
# Meta's "invalid parameter": one bad event fails the whole request, so such a batch is split to find it.
# Other 4xx (a bad token, 190; missing permission, 10/200) would fail every half the same way.
META_INVALID_PARAMETER = 100
# Requests in flight at once per Sender. GA4 takes one client per request, so a backlog of CRM conversions
# is a request each, and each waits a network round trip: with a 20 ms round trip 8 threads send ~8 times
# as many as one (benchmarks/README.md). On localhost the worker's CPU is the limit and 1-16 send about alike.
DEFAULT_CONCURRENCY = 8

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


def new_session(pool_size: int = DEFAULT_CONCURRENCY) -> requests.Session:
	"""A session whose connection pools keep `pool_size` connections per host (requests' default is 10; a
	pool smaller than the concurrency opens and drops a connection per request over it)."""
	session = requests.Session()
	adapter = HTTPAdapter(pool_maxsize=max(pool_size, 10))
	session.mount("https://", adapter)
	session.mount("http://", adapter)
	return session


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
	"""One HTTP session for a whole run (all destinations, all batches), shared by up to `concurrency`
	threads that send a destination's batches at the same time. Failed requests come back as `retrying`
	outcomes with `next_attempt_at`; a wait up to `inline_retry_seconds` (0: never) is slept through and
	retried within the run (by the thread that sent it; the others carry on). Every retry resends the same
	event_id / transaction_id.

	Batches whose order matters go to one thread, one after the other in plan order: those holding CRM stage
	events of the same lead (the plan puts a lead's stages together in stage order, and they may straddle two
	Meta requests) and, for GA4, requests of the same client id. Outcomes come back in plan order, whatever
	order the requests finished in. `concurrency=1` sends everything from the calling thread.

	A session passed in is used as it is: give it a connection pool of at least `concurrency` per host (see
	`new_session`), or each request over its pool size opens a connection of its own and drops it. Requests
	are prepared once per URL (headers, cookies, the environment's proxy settings), so cookies a platform
	sets during the run are not sent back: neither API uses them."""

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
		concurrency: int = DEFAULT_CONCURRENCY,
	):
		if concurrency < 1:
			raise ValidationError("Sender concurrency must be at least 1")
		self._own_session = session is None
		self.session = session or new_session(concurrency)
		self.timeout = timeout
		self.backoff = backoff or Backoff()
		self.rng = rng or random.Random()
		self.inline_retry_seconds = inline_retry_seconds
		self.sleep = sleep
		self.clock = clock
		self.concurrency = concurrency
		self.requests_sent = 0
		self._lock = threading.Lock()  # requests_sent and rng, shared by the sending threads
		self._templates: dict[tuple, tuple[requests.PreparedRequest, dict, str]] = {}

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
		"""Plan and send: one outcome per conversion this destination takes (its type is mapped), those
		settled without sending first, then the sent ones in plan order.
		`attempts` are the deliveries' attempts so far (the Conversion Delivery rows), by conversion id."""
		attempts = dict(attempts or {})
		plan = plan_deliveries(destination, conversions, now or self.clock(), attempts)
		outcomes = list(plan.outcomes)
		for batch_outcomes in self.send_batches(plan.batches, attempts):
			outcomes.extend(batch_outcomes)
		return outcomes

	def send_batches(
		self, batches: Sequence[Batch], attempts: Mapping[str, int] | None = None
	) -> list[list[DeliveryOutcome]]:
		"""Each batch's outcomes, in the order of `batches`; up to `concurrency` requests in flight, the
		batches of one chain (see `in_order_chains`) one after the other. The first error raised while
		sending (a bug, not a failed request) is raised here once the threads have stopped."""
		results: list[list[DeliveryOutcome]] = [[] for _ in batches]
		chains = in_order_chains(batches)

		def send_chain(chain: list[int]) -> None:
			for index in chain:
				results[index] = self.send_batch(batches[index], attempts)

		workers = min(self.concurrency, len(chains))
		if workers <= 1:
			for chain in chains:
				send_chain(chain)
			return results
		queue = iter(chains)
		queue_lock = threading.Lock()
		stop = threading.Event()

		def work() -> None:
			while not stop.is_set():
				with queue_lock:
					chain = next(queue, None)
				if chain is None:
					return
				try:
					send_chain(chain)
				except BaseException:
					stop.set()  # the other threads finish their chain and take no new one
					raise

		with ThreadPoolExecutor(workers, thread_name_prefix="trackflow-forwarding") as pool:
			futures = [pool.submit(work) for _ in range(workers)]
		for future in futures:
			future.result()
		return results

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
			with self._lock:
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
		names: dict[str, str | None] = {}
		return [
			DeliveryOutcome(
				c.id,
				status,
				attempts=tries[c.id],
				http_status=answer.http_status,
				response_excerpt=excerpt,
				next_attempt_at=next_attempt_at,
				sent_at=sent_at,
				event_name=names[c.conversion_type]
				if c.conversion_type in names
				else names.setdefault(c.conversion_type, destination.event_name(c.conversion_type)),
			)
			for c in conversions
		]

	def _template(self, url: str, secrets: tuple[str, ...]) -> tuple[requests.PreparedRequest, dict, str]:
		"""What `session.post(url, ...)` would prepare but the body, the settings it would send with (the
		environment's proxies and CA bundle when the session trusts it) and the URL fit for a log line,
		worked out once per URL: preparing is a third of requests' own time per call."""
		key = (url, secrets)
		found = self._templates.get(key)
		if found is None:
			prepared = self.session.prepare_request(requests.Request("POST", url, headers=JSON_HEADERS))
			settings = self.session.merge_environment_settings(prepared.url, {}, None, None, None)
			found = self._templates[key] = (prepared, settings, redact(url, secrets))
		return found

	def _post(self, destination: Destination, conversions: list[ForwardedConversion]) -> Answer:
		url, body = request_for(destination, conversions)
		secrets = destination.secrets
		template, settings, safe_url = self._template(url, secrets)
		request = template.copy()
		request.prepare_body(
			json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8"), None
		)
		with self._lock:
			self.requests_sent += 1
		started = time.perf_counter()
		try:
			# No redirects: a credential in the URL or body must never follow one to another host.
			response = self.session.send(request, timeout=self.timeout, allow_redirects=False, **settings)
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
		if log.isEnabledFor(level):
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


def in_order_chains(batches: Sequence[Batch]) -> list[list[int]]:
	"""Indexes of `batches` grouped into chains to send one after the other, in plan order: batches that
	hold CRM stage events of one lead, or (GA4) share a client id, end up in one chain, transitively. The
	chains come in order of their first batch; with distinct leads and clients each batch is its own."""
	parent = list(range(len(batches)))

	def root(i: int) -> int:
		while parent[i] != i:
			parent[i] = parent[parent[i]]
			i = parent[i]
		return i

	first_with: dict[tuple, int] = {}
	for index, batch in enumerate(batches):
		for key in _order_keys(batch):
			a, b = root(first_with.setdefault(key, index)), root(index)
			if a != b:
				parent[max(a, b)] = min(a, b)
	chains: dict[int, list[int]] = {}
	for index in range(len(batches)):
		chains.setdefault(root(index), []).append(index)
	return list(chains.values())


def _order_keys(batch: Batch) -> set[tuple]:
	keys = {("lead", c.lead) for c in batch.conversions if c.lead and c.stage_rank is not None}
	if batch.destination.platform == GA4 and batch.conversions:
		# One GA4 request holds one client id (the plan groups by it), so its first event's is everyone's.
		destination = batch.destination
		keys.add(("client", ga4.client_id(batch.conversions[0], destination.send_hashed_contact)))
	return keys


def _text(response: requests.Response) -> str:
	"""The start of the body as text, by its declared charset or else UTF-8: requests' `text` would guess
	the charset of an undeclared body from all of it, on every response."""
	head = (response.content or b"")[: EXCERPT_TEXT * 4]
	try:
		text = head.decode(response.encoding or "utf-8", "replace")
	except LookupError:
		text = head.decode("utf-8", "replace")
	return text[:EXCERPT_TEXT].strip()


def _json(content: bytes) -> object:
	try:
		return json.loads(content) if content else None
	except ValueError:
		return None


def classify(destination: Destination, response: requests.Response, now: datetime) -> Answer:
	"""Accepted, retryable or failed, with the part of the platform's answer worth keeping."""
	status = response.status_code
	header = response.headers.get("Retry-After")
	retry_after = parse_retry_after(header, now) if header else None
	ok = 200 <= status < 300
	if destination.platform == META:
		payload = _json(response.content)
		error = payload.get("error") if isinstance(payload, dict) else None
		error = error if isinstance(error, dict) else None
		excerpt = f"HTTP {status}: {meta.describe_response(payload) or _text(response) or response.reason}"
		retryable = not ok and is_retryable(status, meta_error=error)
		split = bool(error and error.get("code") == META_INVALID_PARAMETER)
		return Answer(status, ok, retryable, retry_after, redact(excerpt, destination.secrets), split)
	if ok and destination.ga4_validation_mode:
		messages = ga4.validation_messages(_json(response.content))
		if messages:
			return Answer(status, False, False, None, "GA4 validation: " + "; ".join(messages))
		return Answer(status, True, False, None, f"HTTP {status}: validated, no messages (not recorded)")
	if ok:  # /mp/collect answers 2xx with no body and no detail, whatever it makes of the events
		return Answer(status, True, False, retry_after, f"HTTP {status}")
	text = _text(response)
	excerpt = f"HTTP {status}" + (f": {text}" if text else "")
	return Answer(status, False, is_retryable(status), retry_after, redact(excerpt, destination.secrets))


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
