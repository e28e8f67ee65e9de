"""When to try a delivery again: exponential backoff with jitter, Retry-After, and what is worth retrying."""

import random
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from trackflow.engine.errors import ValidationError

# Meta answers throttling and transient trouble with HTTP 400 and one of these error codes
# (Graph API error handling: 1 unknown, 2 service, 4/17/32/613 rate limits).
META_RETRYABLE_CODES = frozenset({1, 2, 4, 17, 32, 613})


@dataclass(frozen=True)
class Backoff:
	"""Delay before attempt n+1 after n failures: base * factor**(n-1), capped, with "equal jitter"
	(half fixed, half random) so that a burst of failures does not come back as a burst."""

	base_seconds: float = 30.0
	factor: float = 2.0
	cap_seconds: float = 6 * 3600.0
	# A Retry-After beyond this is not believed (a misconfigured proxy must not park deliveries for weeks).
	max_retry_after_seconds: float = 24 * 3600.0

	def __post_init__(self):
		if self.base_seconds < 0 or self.factor < 1 or self.cap_seconds < self.base_seconds:
			raise ValidationError("Backoff needs base >= 0, factor >= 1 and cap >= base")

	def delay(
		self, failures: int, rng: random.Random | None = None, retry_after: float | None = None
	) -> float:
		"""Seconds to wait after `failures` failed attempts (>= 1). A Retry-After from the platform wins
		when it asks for longer than the backoff would wait."""
		if failures < 1:
			raise ValidationError("delay() is for after a failure: failures must be >= 1")
		ceiling = min(self.cap_seconds, self.base_seconds * self.factor ** (failures - 1))
		jittered = ceiling / 2 + (rng or random).uniform(0, ceiling / 2)
		if retry_after is not None:
			return max(jittered, min(retry_after, self.max_retry_after_seconds))
		return jittered


def parse_retry_after(value: str | None, now: datetime) -> float | None:
	"""Retry-After as seconds from `now`: delta-seconds ("120") or an HTTP-date; None when absent or bad."""
	text = (value or "").strip()
	if not text:
		return None
	if text.isdigit():
		return float(text)
	try:
		when = parsedate_to_datetime(text)
	except (TypeError, ValueError, IndexError):
		return None
	if when is None:
		return None
	if when.tzinfo is None:
		when = when.replace(tzinfo=timezone.utc)
	return max(0.0, (when - now).total_seconds())


def is_retryable(http_status: int | None, timed_out: bool = False, meta_error: dict | None = None) -> bool:
	"""Timeouts, connection errors (no status), 408, 429 and 5xx are retried; other 4xx are the request's
	fault and fail at once, except Meta's transient or throttling errors, which it sends as HTTP 400."""
	if timed_out or http_status is None:
		return True
	if http_status in (408, 429) or 500 <= http_status <= 599:
		return True
	if meta_error and (meta_error.get("is_transient") or meta_error.get("code") in META_RETRYABLE_CODES):
		return True
	return False
