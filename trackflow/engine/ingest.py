"""Server-side events: what a backend sends to `trackflow.api.tracking.track_event` and what the offline
touch import reads, checked with the embed script's own field rules (engine.collect: text, URLs,
properties, conversions, emails), so the three ways in accept the same values.

A batch holds up to MAX_EVENTS events. Each has an `event_id` (a resend with the same id counts once), a
`type`, a time, and who it is about (a visitor id, a CRM lead or deal, or an email):

- `pageview` and `event` (`name`, `url`, `properties`): page activity seen by the backend;
- `conversion` (`conversion`: {type, value, currency, id}, as the embed script sends it);
- `touch`: an offline or server-known marketing touch (a call, a webinar, a trade-show scan) with
  `channel` (or `source`/`medium` to classify) and optional `campaign`, `content`, `term`.

A bad event is refused with its index and reason; the others are accepted.
"""

import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from decimal import Decimal

from trackflow.engine.channels import CHANNELS, classify_channel
from trackflow.engine.collect import (
	conversion_value,
	normalize_email,
	properties_value,
	text_value,
	url_value,
)
from trackflow.engine.errors import ValidationError

MAX_EVENTS = 1000
EVENT_TYPES = ("pageview", "event", "conversion", "touch")
MAX_AGE_SECONDS = 730 * 86400.0  # offline touches may be entered late, not from before the retention
MAX_LEAD_SECONDS = 300.0  # a backend's clock may run a little ahead
# Conversion types a backend may report (the CRM's own milestones come from CRM, not from an API).
SERVER_CONVERSION_TYPES = ("purchase", "signup", "form_submit", "custom")
_EVENT_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_VISITOR = re.compile(r"[0-9a-f]{32}")
_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_DOC_NAME = 140
_KEYS = frozenset(
	(
		"event_id",
		"type",
		"time",
		"visitor",
		"lead",
		"deal",
		"email",
		"name",
		"url",
		"properties",
		"conversion",
		"channel",
		"source",
		"medium",
		"campaign",
		"content",
		"term",
	)
)


@dataclass(frozen=True, slots=True)
class ServerEvent:
	"""One checked event; `ts` in epoch seconds, `email` normalised, `value` exact."""

	event_id: str
	type: str
	ts: float
	visitor: str | None = None
	lead: str | None = None
	deal: str | None = None
	email: str | None = None
	name: str | None = None
	url: str | None = None
	properties: dict = field(default_factory=dict)
	channel: str | None = None
	source: str | None = None
	medium: str | None = None
	campaign: str | None = None
	content: str | None = None
	term: str | None = None
	conversion_type: str | None = None
	value: str | None = None  # a decimal string: exact through JSON and the queue
	currency: str | None = None
	order_id: str | None = None

	@property
	def key(self) -> str:
		"""The stored rows' name: the same event id always names the same row (a resend writes nothing)."""
		return "s" + hashlib.blake2b(self.event_id.encode(), digest_size=15).hexdigest()

	def encode(self) -> dict:
		return asdict(self)

	@classmethod
	def decode(cls, record: Mapping) -> "ServerEvent":
		"""A queued record back (the drain); ValidationError when it is not one."""
		try:
			return cls(**{f: record[f] for f in _FIELDS if f in record})
		except TypeError as error:
			raise ValidationError(f"not a server event record: {error}") from None


_FIELDS = tuple(ServerEvent.__dataclass_fields__)


@dataclass(frozen=True)
class Rejected:
	index: int
	event_id: str | None
	error: str


def parse_time(value, what: str = "time") -> float:
	"""An ISO 8601 time (a naive one is UTC) or epoch seconds (or milliseconds) as epoch seconds."""
	if isinstance(value, bool) or value is None:
		raise ValidationError(f"{what} is needed (ISO 8601 or epoch seconds)")
	if isinstance(value, int | float):
		if not math.isfinite(value):
			raise ValidationError(f"{what} must be finite")
		return value / 1000 if value > 1e11 else float(value)
	try:
		when = datetime.fromisoformat(text_value(value, 40, what).strip().replace("Z", "+00:00"))
	except ValueError:
		raise ValidationError(f"{what} {value!r} is not ISO 8601") from None
	return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()


def _optional(raw: Mapping, key: str, limit: int = 140) -> str | None:
	value = raw.get(key)
	if value is None or value == "":
		return None
	return text_value(value, limit, key).strip() or None


def parse_event(raw, now: float) -> ServerEvent:
	"""One event, checked; ValidationError with the field at fault."""
	if not isinstance(raw, Mapping):
		raise ValidationError("an event must be an object")
	unknown = set(raw) - _KEYS
	if unknown:
		raise ValidationError(f"unknown keys: {', '.join(sorted(map(str, unknown)))[:80]}")
	event_id = raw.get("event_id")
	if not isinstance(event_id, str) or not _EVENT_ID.fullmatch(event_id):
		raise ValidationError("event_id must match [A-Za-z0-9_.:-]{1,64}")
	kind = raw.get("type")
	if kind not in EVENT_TYPES:
		raise ValidationError(f"type must be one of {', '.join(EVENT_TYPES)}")
	ts = parse_time(raw.get("time"))
	if not now - MAX_AGE_SECONDS <= ts <= now + MAX_LEAD_SECONDS:
		raise ValidationError("time must be within the last two years and not in the future")
	visitor = raw.get("visitor")
	if visitor is not None and (not isinstance(visitor, str) or not _VISITOR.fullmatch(visitor)):
		raise ValidationError("visitor must be a TrackFlow visitor id (32 hex digits)")
	lead, deal = _optional(raw, "lead", _DOC_NAME), _optional(raw, "deal", _DOC_NAME)
	email = normalize_email(raw["email"]) if raw.get("email") else None
	if not (visitor or lead or deal or email):
		raise ValidationError("say who: a visitor, a lead, a deal or an email")
	values: dict = {"event_id": event_id, "type": kind, "ts": ts, "visitor": visitor, "lead": lead}
	values.update(deal=deal, email=email)
	if raw.get("url") is not None:
		values["url"] = url_value(raw["url"], "url")
	if raw.get("properties") is not None:
		values["properties"] = dict(properties_value(raw["properties"]))
	if kind == "event":
		name = raw.get("name")
		if not isinstance(name, str) or not _NAME.fullmatch(name):
			raise ValidationError("an event needs a name matching [A-Za-z0-9_.:-]{1,64}")
		values["name"] = name
	elif kind == "conversion":
		conversion = conversion_value(raw.get("conversion"))
		if conversion.type not in SERVER_CONVERSION_TYPES:
			raise ValidationError(f"conversion type must be one of {', '.join(SERVER_CONVERSION_TYPES)}")
		values.update(
			conversion_type=conversion.type,
			value=None if conversion.value is None else str(conversion.value),
			currency=conversion.currency,
			order_id=conversion.id,
		)
	elif kind == "touch":
		for key in ("source", "medium", "campaign", "content", "term"):
			values[key] = _optional(raw, key, 255 if key in ("content", "term") else 140)
		channel = raw.get("channel")
		if channel is None:
			channel = classify_channel(values["source"], values["medium"], None)
			channel = "offline" if channel == "direct" else channel
		if channel not in CHANNELS:
			raise ValidationError(f"channel must be one of {', '.join(CHANNELS)}")
		values["channel"] = channel
	return ServerEvent(**values)


def parse_events(payload, now: float) -> tuple[list[ServerEvent], list[Rejected]]:
	"""A batch: (accepted events, rejected ones with their index and reason). A repeated event id within
	the batch is accepted once. ValidationError when the batch itself is not a list of 1..MAX_EVENTS."""
	if not isinstance(payload, Sequence) or isinstance(payload, str | bytes):
		raise ValidationError("events must be a list")
	if not 1 <= len(payload) <= MAX_EVENTS:
		raise ValidationError(f"send 1 to {MAX_EVENTS} events per call")
	accepted, rejected, seen = [], [], set()
	for index, raw in enumerate(payload):
		try:
			event = parse_event(raw, now)
		except ValidationError as error:
			event_id = raw.get("event_id") if isinstance(raw, Mapping) else None
			rejected.append(Rejected(index, event_id if isinstance(event_id, str) else None, str(error)))
			continue
		if event.event_id not in seen:
			seen.add(event.event_id)
			accepted.append(event)
	return accepted, rejected


def decimal_value(event: ServerEvent) -> Decimal | None:
	return None if event.value is None else Decimal(event.value)
