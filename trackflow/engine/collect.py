"""Strict validation of the embed script's collect payloads (wire format v1), origin checks and CORS.

Wire format v1
==============
The embed script (``trackflow/public/js/trackflow.js``) POSTs one *batch* per request to
``<crm-origin>/api/method/trackflow.api.tracking.collect`` with ``Content-Type: text/plain`` (a CORS
"simple" request: no preflight) and ``credentials: "omit"`` (the CRM's cookies are never sent). The
body is UTF-8 JSON of at most 32 KB::

	{
	  "site": "pk_3fA9...",            public site key, [A-Za-z0-9_-]{8,64}
	  "v": 1,                          wire format version (int)
	  "visitor": "9f0c...", | null     32 lowercase hex (random, from the _tf_v cookie)
	  "session": "1b7e...", | null     32 lowercase hex (from the _tf_s cookie); null iff visitor is null
	  "sent_at": 1767225600000,        client clock when sent, epoch ms (int)
	  "events": [ {...}, ... ]         1..50 events
	}

Every event has ``type``, ``id`` (32 lowercase hex, unique: the drain's idempotency key), ``ts``
(client epoch ms, int, not after ``sent_at`` + 60 s nor more than a day before it) and ``url`` (the
page, http/https, at most 2048 characters). By type, the other keys allowed (``*`` = required):

	session_start  ref, utm {source, medium, campaign, content, term: str <= 200},
	               click_ids {gclid, gbraid, wbraid, fbclid, msclkid, ttclid, li_fat_id, twclid,
	               tf_click, and the ad platforms' cookies _ga and _fbp as the page has them (sent
	               only when the site opts in): printable ASCII, no spaces, <= 512}
	               at most one per batch, and then it is the first event; opens ``session``
	pageview       title (str <= 300), ref (http/https URL <= 2048: document.referrer or the previous
	               SPA URL)
	event          name* ([A-Za-z0-9_.:-]{1,64}), props (flat object: <= 20 keys [A-Za-z0-9_.:-]{1,40};
	               values str <= 500, int |x| <= 2**53, finite float, bool or null)
	conversion     conversion* {type* ([A-Za-z0-9_.:-]{1,40}), value (number, 0 <= value < 1e15; kept as
	               the Decimal of its shortest round-trip digits), currency (ISO 4217 shape: [A-Z]{3}),
	               id (non-empty str <= 140: the site's order id; with the site key and the type it makes
	               the conversion's idempotency key, which fits the Conversion's 255 characters)}
	identify       traits* {email, name, phone, signature}: at least one of the first three; email is
	               trimmed and lowercased (at most 140 characters), phone loses spaces, dots, dashes,
	               slashes and brackets and must then be \\+?\\d{5,20}; signature (64 lowercase hex,
	               with an email) is the website backend's HMAC of the email (engine.identity)
	form           form* (str <= 100: the form's id or name), fields* (<= 30 keys [A-Za-z0-9_.:-]{1,64},
	               str values <= 1000: the fields the site marked, listed in the form's
	               data-trackflow-form or carrying data-trackflow-field; a key that looks like a password,
	               card, CVC, IBAN, SSN, PIN or token field (SENSITIVE_FIELD) rejects the batch: the script
	               never sends one)
	consent        consent* ("granted" | "denied")
	ping           ref (an origin only). Cookieless page count: allowed only, and then exclusively,
	               when visitor and session are null; url has no query or fragment; no title.

Anything else (unknown keys, wrong types, a JSON ``NaN``, lengths over the limits, other URL
schemes) rejects the whole batch with :class:`ValidationError` and a short reason: the endpoint
answers 4xx and stores nothing. Free text has NUL and lone surrogates replaced by U+FFFD.

The parsed :class:`CollectBatch` carries server-aligned times: each event's ``ts`` is shifted by
``received_at - sent_at`` so a wrong client clock does not misplace a journey.
"""

import json
import math
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from types import MappingProxyType
from urllib.parse import urlsplit

from trackflow.engine.errors import ValidationError
from trackflow.engine.guest import COLUMNS
from trackflow.engine.identity import is_signature

WIRE_VERSION = 1
MAX_BYTES = 32768
MAX_EVENTS = 50
MAX_SKEW_SECONDS = 86400.0
# Events wait in the browser at most for a page's lifetime (consent banners); a day is plenty.
MAX_EVENT_AGE_MS = 86_400_000
MAX_EVENT_LEAD_MS = 60_000
UTM_KEYS = ("source", "medium", "campaign", "content", "term")
CLICK_ID_PARAMS = (
	"gclid",
	"gbraid",
	"wbraid",
	"fbclid",
	"msclkid",
	"ttclid",
	"li_fat_id",
	"twclid",
	"tf_click",
)
TRACKFLOW_CLICK_PARAM = "tf_click"
# First-party cookies of Google Analytics and Meta that the embed script adds to click_ids when its
# TrackFlow Site opts in (data-ad-cookies); trackflow.engine.sessions keeps them, normalised, only then.
AD_COOKIES = ("_ga", "_fbp")
EVENT_TYPES = ("session_start", "pageview", "event", "conversion", "identify", "form", "consent", "ping")
# The same rule as SECRET in trackflow.js (a test compares the two): form fields that are never captured.
SENSITIVE_FIELD = re.compile(
	r"passw|secret|token|card|ccnum|(^|[\W_])(cc|cvv|cvc|csc|iban|ssn|pin|pass|pwd)\d*([\W_]|$)", re.I
)

_SITE_KEY = re.compile(r"[A-Za-z0-9_-]{8,64}")
_ID = re.compile(r"[0-9a-f]{32}")
_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_PROP_KEY = re.compile(r"[A-Za-z0-9_.:-]{1,40}")
_CONVERSION_TYPE = _PROP_KEY
_FIELD_KEY = _NAME
_CLICK_ID = re.compile(r"[!-~]{1,512}")
# http(s), a non-empty authority of printable ASCII, then anything printable (browsers percent-encode).
_URL = re.compile(r"[hH][tT][tT][pP][sS]?://[!-\"$-.0->@-~]+(?:[/?#][!-~]*)?")
_ORIGIN = re.compile(r"[hH][tT][tT][pP][sS]?://[!-\"$-.0->@-~]+")
_EMAIL = re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]+")
_PHONE_NOISE = re.compile(r"[\s().\-/]")
_PHONE = re.compile(r"\+?[0-9]{5,20}")
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
_MAX_SAFE_INT = 2**53
EMAIL_LENGTH = COLUMNS["TrackFlow Visitor"]["email"].length
ORDER_ID_LENGTH = 140  # site key (<= 64) + ":" + type (<= 40) + ":" + order id: 246 <= the key's 255

_TOP_KEYS = frozenset(("site", "v", "visitor", "session", "sent_at", "events"))
_COMMON = frozenset(("type", "id", "ts", "url"))
_EVENT_KEYS = {
	"session_start": _COMMON | {"ref", "utm", "click_ids"},
	"pageview": _COMMON | {"title", "ref"},
	"event": _COMMON | {"name", "props"},
	"conversion": _COMMON | {"conversion"},
	"identify": _COMMON | {"traits"},
	"form": _COMMON | {"form", "fields"},
	"consent": _COMMON | {"consent"},
	"ping": _COMMON | {"ref"},
}
_REQUIRED = {
	"session_start": _COMMON,
	"pageview": _COMMON,
	"event": _COMMON | {"name"},
	"conversion": _COMMON | {"conversion"},
	"identify": _COMMON | {"traits"},
	"form": _COMMON | {"form", "fields"},
	"consent": _COMMON | {"consent"},
	"ping": _COMMON,
}
_UTM_KEYS = frozenset(UTM_KEYS)
_CLICK_KEYS = frozenset(CLICK_ID_PARAMS + AD_COOKIES)
_CONVERSION_KEYS = frozenset(("type", "value", "currency", "id"))
_TRAIT_KEYS = frozenset(("email", "name", "phone", "signature"))
_CONSENT_VALUES = frozenset(("granted", "denied"))

EMPTY: Mapping = MappingProxyType({})
PropValue = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class Conversion:
	type: str
	value: Decimal | None
	currency: str | None
	id: str | None


@dataclass(frozen=True, slots=True)
class Traits:
	email: str | None
	name: str | None
	phone: str | None
	signature: str | None = None  # the website backend's HMAC of the email (trackflow.engine.identity)


@dataclass(frozen=True, slots=True)
class CollectEvent:
	type: str
	id: str
	ts: int  # server-aligned epoch ms
	url: str
	title: str | None = None
	ref: str | None = None
	name: str | None = None
	props: Mapping[str, PropValue] = field(default_factory=lambda: EMPTY)
	utm: Mapping[str, str] = field(default_factory=lambda: EMPTY)
	click_ids: Mapping[str, str] = field(default_factory=lambda: EMPTY)
	conversion: Conversion | None = None
	traits: Traits | None = None
	form: str | None = None
	fields: Mapping[str, str] = field(default_factory=lambda: EMPTY)
	consent: str | None = None


@dataclass(frozen=True, slots=True)
class CollectBatch:
	site: str
	visitor: str | None
	session: str | None
	sent_at: int  # client epoch ms
	received_at: int  # server epoch ms (the `now` it was parsed with)
	events: tuple[CollectEvent, ...]

	@property
	def cookieless(self) -> bool:
		return self.visitor is None


def _reject_constant(name: str):
	raise ValidationError(f"invalid JSON constant {name}")


def text_value(value, limit: int, what: str) -> str:
	if type(value) is not str:
		raise ValidationError(f"{what} must be a string")
	if len(value) > limit:
		raise ValidationError(f"{what} longer than {limit} characters")
	if "\x00" in value or (not value.isascii() and _BAD_TEXT.search(value)):
		value = _BAD_TEXT.sub("\ufffd", value)
	return value


def url_value(value, what: str) -> str:
	if type(value) is not str or len(value) > 2048 or not _URL.fullmatch(value):
		raise ValidationError(f"{what} must be an http(s) URL of at most 2048 characters")
	return value


def _int(value, what: str) -> int:
	if type(value) is not int:
		raise ValidationError(f"{what} must be an integer")
	return value


def _object(value, allowed: frozenset, what: str) -> dict:
	if type(value) is not dict:
		raise ValidationError(f"{what} must be an object")
	if not value.keys() <= allowed:
		raise ValidationError(
			f"{what} has unknown keys: {', '.join(sorted(map(str, value.keys() - allowed)))[:80]}"
		)
	return value


def properties_value(value) -> Mapping[str, PropValue]:
	if type(value) is not dict:
		raise ValidationError("props must be an object")
	if len(value) > 20:
		raise ValidationError("props has more than 20 keys")
	out = {}
	for key, item in value.items():
		if not _PROP_KEY.fullmatch(key):
			raise ValidationError("props key must match [A-Za-z0-9_.:-]{1,40}")
		kind = type(item)
		if kind is str:
			item = text_value(item, 500, "props value")
		elif kind is int:
			if not -_MAX_SAFE_INT <= item <= _MAX_SAFE_INT:
				raise ValidationError("props integer out of range")
		elif kind is float:
			if not math.isfinite(item):
				raise ValidationError("props number must be finite")
		elif item is not None and kind is not bool:
			raise ValidationError("props values must be strings, numbers, booleans or null")
		out[key] = item
	return MappingProxyType(out)


def _utm(value) -> Mapping[str, str]:
	_object(value, _UTM_KEYS, "utm")
	out = {}
	for key, item in value.items():
		if not item:
			raise ValidationError("utm values must be non-empty strings")
		out[key] = text_value(item, 200, "utm value")
	return MappingProxyType(out)


def _click_ids(value) -> Mapping[str, str]:
	_object(value, _CLICK_KEYS, "click_ids")
	for item in value.values():
		if type(item) is not str or not _CLICK_ID.fullmatch(item):
			raise ValidationError("click id must be 1-512 printable ASCII characters")
	return MappingProxyType(dict(value))


def _fields(value) -> Mapping[str, str]:
	if type(value) is not dict:
		raise ValidationError("fields must be an object")
	if len(value) > 30:
		raise ValidationError("fields has more than 30 keys")
	out = {}
	for key, item in value.items():
		if not _FIELD_KEY.fullmatch(key):
			raise ValidationError("field name must match [A-Za-z0-9_.:-]{1,64}")
		if SENSITIVE_FIELD.search(key):
			raise ValidationError(f"field {key} looks like a password or payment field")
		out[key] = text_value(item, 1000, "field value")
	return MappingProxyType(out)


def conversion_value(value) -> Conversion:
	_object(value, _CONVERSION_KEYS, "conversion")
	kind = value.get("type")
	if type(kind) is not str or not _CONVERSION_TYPE.fullmatch(kind):
		raise ValidationError("conversion type must match [A-Za-z0-9_.:-]{1,40}")
	amount = value.get("value")
	if amount is not None:
		number_type = type(amount)
		if number_type is int:
			if not 0 <= amount < 10**15:
				raise ValidationError("conversion value out of range")
			amount = Decimal(amount)
		elif number_type is float:
			if not (math.isfinite(amount) and 0 <= amount < 1e15):
				raise ValidationError("conversion value out of range")
			# repr is the shortest round-trip form, the same digits JavaScript sent (-0.0 is 0.0)
			amount = Decimal(repr(amount)).copy_abs()
		else:
			raise ValidationError("conversion value must be a number")
	currency = value.get("currency")
	if currency is not None and (
		type(currency) is not str
		or len(currency) != 3
		or not currency.isupper()
		or not currency.isalpha()
		or not currency.isascii()
	):
		raise ValidationError("currency must be a 3-letter ISO code")
	order_id = value.get("id")
	if order_id is not None:
		order_id = text_value(order_id, ORDER_ID_LENGTH, "conversion id")
		if not order_id:
			raise ValidationError("conversion id must not be empty")
	return Conversion(kind, amount, currency, order_id)


def normalize_email(value: str) -> str:
	"""Trimmed, lowercased email; ValidationError if it does not look like one or is longer than the
	column it is stored in (refused, never stored cut)."""
	email = text_value(value, 254, "email").strip().lower()
	if not _EMAIL.fullmatch(email):
		raise ValidationError("email is not valid")
	if len(email) > EMAIL_LENGTH:
		raise ValidationError(f"email longer than {EMAIL_LENGTH} characters")
	return email


def normalize_phone(value: str) -> str:
	"""Digits with an optional leading +; ValidationError unless 5-20 digits remain."""
	phone = _PHONE_NOISE.sub("", text_value(value, 40, "phone"))
	if not _PHONE.fullmatch(phone):
		raise ValidationError("phone is not valid")
	return phone


def _traits(value) -> Traits:
	_object(value, _TRAIT_KEYS, "traits")
	email = value.get("email")
	name = value.get("name")
	phone = value.get("phone")
	if email is not None:
		email = normalize_email(email)
	if name is not None:
		name = text_value(name, 140, "name").strip() or None
	if phone is not None:
		phone = normalize_phone(phone)
	if email is None and name is None and phone is None:
		raise ValidationError("identify needs an email, a name or a phone")
	signature = value.get("signature")
	if signature is not None and (email is None or not is_signature(signature)):
		raise ValidationError("signature must be 64 lowercase hex characters and come with an email")
	return Traits(email, name, phone, signature)


def _event(raw, offset: int, low: int, high: int) -> CollectEvent:
	if type(raw) is not dict:
		raise ValidationError("event must be an object")
	kind = raw.get("type")
	allowed = _EVENT_KEYS.get(kind) if type(kind) is str else None
	if allowed is None:
		raise ValidationError("unknown event type")
	keys = raw.keys()
	if not keys <= allowed:
		raise ValidationError(f"{kind} event has unknown keys")
	if not _REQUIRED[kind] <= keys:
		raise ValidationError(f"{kind} event misses {', '.join(sorted(_REQUIRED[kind] - keys))}")
	event_id = raw["id"]
	if type(event_id) is not str or not _ID.fullmatch(event_id):
		raise ValidationError("event id must be 32 lowercase hex characters")
	ts = _int(raw["ts"], "ts")
	if not low <= ts <= high:
		raise ValidationError("event ts too far from sent_at")
	url = url_value(raw["url"], "url")
	values = {}
	ref = raw.get("ref")
	if ref is not None:
		if kind == "ping":
			if type(ref) is not str or len(ref) > 2048 or not _ORIGIN.fullmatch(ref):
				raise ValidationError("ping ref must be an origin")
		else:
			url_value(ref, "ref")
		values["ref"] = ref
	if kind == "pageview":
		title = raw.get("title")
		if title is not None:
			values["title"] = text_value(title, 300, "title")
	elif kind == "session_start":
		if "utm" in raw:
			values["utm"] = _utm(raw["utm"])
		if "click_ids" in raw:
			values["click_ids"] = _click_ids(raw["click_ids"])
	elif kind == "event":
		name = raw["name"]
		if type(name) is not str or not _NAME.fullmatch(name):
			raise ValidationError("event name must match [A-Za-z0-9_.:-]{1,64}")
		values["name"] = name
		if "props" in raw:
			values["props"] = properties_value(raw["props"])
	elif kind == "conversion":
		values["conversion"] = conversion_value(raw["conversion"])
	elif kind == "identify":
		values["traits"] = _traits(raw["traits"])
	elif kind == "form":
		form = text_value(raw["form"], 100, "form")
		if not form:
			raise ValidationError("form must not be empty")
		values["form"] = form
		values["fields"] = _fields(raw["fields"])
	elif kind == "consent":
		consent = raw["consent"]
		if type(consent) is not str or consent not in _CONSENT_VALUES:
			raise ValidationError('consent must be "granted" or "denied"')
		values["consent"] = consent
	elif kind == "ping" and ("?" in url or "#" in url):
		raise ValidationError("ping url must not carry a query or fragment")
	return CollectEvent(kind, event_id, ts + offset, url, **values)


def parse_collect(
	body: bytes,
	*,
	max_bytes: int = MAX_BYTES,
	now: float | None = None,
	max_skew: float = MAX_SKEW_SECONDS,
) -> CollectBatch:
	"""Validate one collect request body; `now` is server epoch seconds (default: the current time),
	`max_skew` the seconds of clock skew allowed between the client's `sent_at` and `now`. Raises only
	ValidationError, whatever the bytes."""
	if type(body) is not bytes:
		body = bytes(body)
	if len(body) > max_bytes:
		raise ValidationError(f"payload larger than {max_bytes} bytes")
	if not body:
		raise ValidationError("empty payload")
	try:
		data = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
	except (ValueError, RecursionError):
		raise ValidationError("payload is not valid UTF-8 JSON")
	if type(data) is not dict:
		raise ValidationError("payload must be a JSON object")
	keys = data.keys()
	if keys != _TOP_KEYS:
		if keys - _TOP_KEYS:
			raise ValidationError("payload has unknown keys")
		raise ValidationError(f"payload misses {', '.join(sorted(_TOP_KEYS - keys))}")
	site = data["site"]
	if type(site) is not str or not _SITE_KEY.fullmatch(site):
		raise ValidationError("site must be a site key")
	if data["v"] != WIRE_VERSION or type(data["v"]) is not int:
		raise ValidationError("unsupported wire version")
	visitor = data["visitor"]
	session = data["session"]
	if visitor is None:
		if session is not None:
			raise ValidationError("session without visitor")
	elif type(visitor) is not str or not _ID.fullmatch(visitor):
		raise ValidationError("visitor must be 32 lowercase hex characters")
	elif type(session) is not str or not _ID.fullmatch(session):
		raise ValidationError("session must be 32 lowercase hex characters")
	sent_at = _int(data["sent_at"], "sent_at")
	received_at = round((time.time() if now is None else now) * 1000)
	if abs(received_at - sent_at) > max_skew * 1000:
		raise ValidationError("sent_at too far from server time")
	raw_events = data["events"]
	if type(raw_events) is not list or not raw_events:
		raise ValidationError("events must be a non-empty list")
	if len(raw_events) > MAX_EVENTS:
		raise ValidationError(f"more than {MAX_EVENTS} events")
	offset = received_at - sent_at
	low = sent_at - MAX_EVENT_AGE_MS
	high = sent_at + MAX_EVENT_LEAD_MS
	events = tuple(_event(raw, offset, low, high) for raw in raw_events)
	if len({event.id for event in events}) != len(events):
		raise ValidationError("duplicate event id")
	cookieless = visitor is None
	for index, event in enumerate(events):
		if (event.type == "ping") != cookieless:
			raise ValidationError("ping events only, and only without visitor")
		if event.type == "session_start" and index:
			raise ValidationError("session_start must be the first event")
	return CollectBatch(site, visitor, session, sent_at, received_at, events)


# -- origins and CORS ---------------------------------------------------------------------------------

_DOMAIN_ENTRY = re.compile(
	r"(\*\.)?([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*)(?::([0-9]{1,5}))?"
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_domain(entry: str) -> str:
	"""One allowed-domain entry in canonical form: `host`, `*.host`, optionally `:port`; lowercase
	punycode, no scheme, path or trailing dot. Raises ValidationError for anything else."""
	if type(entry) is not str:
		raise ValidationError("domain must be a string")
	value = entry.strip().lower()
	if "://" in value:
		value = value.split("://", 1)[1]
	value = value.split("/", 1)[0].rstrip(".")
	host, _, port = value.partition(":")
	wildcard = host.startswith("*.")
	if wildcard:
		host = host[2:]
	try:
		host = host.encode("idna").decode("ascii") if not host.isascii() else host
	except UnicodeError:
		raise ValidationError(f"not a domain: {entry[:80]}")
	value = ("*." if wildcard else "") + host + (":" + port if port else "")
	match = _DOMAIN_ENTRY.fullmatch(value)
	if not match or (match.group(3) and not 0 < int(match.group(3)) < 65536):
		raise ValidationError(f"not a domain: {entry[:80]}")
	return value


@lru_cache(maxsize=4096)
def _parsed_entry(entry: str) -> tuple[bool, str, int | None] | None:
	try:
		value = normalize_domain(entry)
	except ValidationError:
		return None
	match = _DOMAIN_ENTRY.fullmatch(value)
	port = match.group(3)
	return bool(match.group(1)), match.group(2), int(port) if port else None


def origin_allowed(origin_or_referrer: str | None, allowed_domains: Iterable[str]) -> bool:
	"""True when the Origin (or, lacking one, the Referer) header names an http(s) host that one of
	`allowed_domains` admits: `example.com` matches that host exactly, `*.example.com` any subdomain at
	any depth (not example.com itself: list both). An entry without a port admits any port; with a
	port, only that port (default ports count: `example.com:443` admits `https://example.com`).
	Never raises; malformed input is simply not allowed."""
	if not origin_or_referrer or type(origin_or_referrer) is not str or len(origin_or_referrer) > 4096:
		return False
	try:
		parts = urlsplit(origin_or_referrer.strip())
		scheme = parts.scheme.lower()
		host = parts.hostname
		port = parts.port
	except ValueError:
		return False
	if scheme not in _DEFAULT_PORTS or not host:
		return False
	host = host.rstrip(".")
	if not host.isascii():
		try:
			host = host.encode("idna").decode("ascii")
		except UnicodeError:
			return False
	port = port or _DEFAULT_PORTS[scheme]
	for entry in allowed_domains:
		parsed = _parsed_entry(entry) if type(entry) is str else None
		if parsed is None:
			continue
		wildcard, base, entry_port = parsed
		if entry_port is not None and entry_port != port:
			continue
		if host.endswith("." + base) if wildcard else host == base:
			return True
	return False


def cors_headers(origin: str) -> dict[str, str]:
	"""CORS response headers for an origin that `origin_allowed` admitted; {} for anything that is not a
	bare http(s) origin (so a header can never be injected). No credentials: the script omits them."""
	if type(origin) is not str or len(origin) > 2048 or not _ORIGIN.fullmatch(origin):
		return {}
	return {
		"Access-Control-Allow-Origin": origin,
		"Access-Control-Allow-Methods": "POST, OPTIONS",
		"Access-Control-Allow-Headers": "Content-Type",
		"Access-Control-Max-Age": "86400",
		# the embed script reads Retry-After on 503/429 to time its resend (a CORS response hides it else)
		"Access-Control-Expose-Headers": "Retry-After",
		"Vary": "Origin",
	}


# -- queue records --------------------------------------------------------------------------------------


def encode_record(body: bytes, batch: CollectBatch, **meta) -> dict:
	"""The queue record (a dict for RedisQueue.enqueue) for a validated request: the original body, the
	time it was received and the caller's metadata (truncated IP, user agent...). `decode_record`
	re-validates it."""
	return {"received_at": batch.received_at, "site": batch.site, "body": body.decode("utf-8"), "meta": meta}


def decode_record(record: Mapping) -> tuple[CollectBatch, dict]:
	"""Parse a queue record from `encode_record` back into (batch, meta) with the same server times."""
	try:
		body = record["body"].encode("utf-8")
		received_at = record["received_at"]
		meta = record.get("meta") or {}
	except (KeyError, TypeError, AttributeError):
		raise ValidationError("corrupt queue record")
	return parse_collect(body, now=received_at / 1000, max_bytes=max(MAX_BYTES, len(body))), meta
