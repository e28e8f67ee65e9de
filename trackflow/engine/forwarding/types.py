"""Plain values of forwarding: the conversion as sent, the destination, and one delivery's outcome."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from urllib.parse import urlsplit

from trackflow.engine.conversions import CONVERSION_TYPES
from trackflow.engine.errors import ValidationError

META = "Meta Conversions API"
GA4 = "GA4 Measurement Protocol"
PLATFORMS = (META, GA4)

DEFAULT_BASE_URLS = {META: "https://graph.facebook.com", GA4: "https://www.google-analytics.com"}
# The hosts a destination may send to: the platform's own (GA4 also has its EU endpoint). Any other base URL
# (a test stand-in) must be allowed explicitly by the caller: a credential never goes to a host a user chose.
PLATFORM_HOSTS = {
	META: frozenset({"graph.facebook.com"}),
	GA4: frozenset({"www.google-analytics.com", "region1.google-analytics.com"}),
}
DEFAULT_META_API_VERSION = "v21.0"

# Delivery statuses, as in the Conversion Delivery doctype ("queued" is the Frappe layer's own).
SENT = "sent"
FAILED = "failed"
RETRYING = "retrying"
SKIPPED_CONSENT = "skipped_consent"
TOO_OLD = "too_old"
DISABLED = "disabled"
STATUSES = ("queued", SENT, FAILED, RETRYING, SKIPPED_CONSENT, TOO_OLD, DISABLED)

CONSENT_STATES = ("granted", "denied", "unknown")
CONSENT_MODES = ("none", "opt-in", "opt-out")

# CRM stage events, in the order Meta's CRM integration expects them for one lead.
STAGE_ORDER = {"lead_created": 0, "lead_qualified": 1, "deal_created": 2, "deal_won": 3}

# Meta: standard `Lead` and `Purchase`; the CRM stages in between go by their stage names, as Meta's
# conversion-leads integration reads them. GA4: its recommended lead-generation events and `purchase`.
DEFAULT_EVENT_NAMES: Mapping[str, Mapping[str, str]] = MappingProxyType(
	{
		META: MappingProxyType(
			{
				"lead_created": "Lead",
				"lead_qualified": "Qualified Lead",
				"deal_created": "Opportunity",
				"deal_won": "Purchase",
				"form_submit": "Lead",
				"purchase": "Purchase",
				"signup": "CompleteRegistration",
			}
		),
		GA4: MappingProxyType(
			{
				"lead_created": "generate_lead",
				"lead_qualified": "qualify_lead",
				"deal_created": "close_convert_lead",
				"deal_won": "purchase",
				"form_submit": "generate_lead",
				"purchase": "purchase",
				"signup": "sign_up",
			}
		),
	}
)


@dataclass(frozen=True)
class ForwardedConversion:
	"""One conversion with everything a platform may receive about it (contact data in clear; the
	builders hash it). `id` is the Conversion's name; `event_id` its idempotency key, sent as Meta's
	`event_id` and GA4's `transaction_id` so that a resend or the browser's own event is deduplicated."""

	id: str
	event_id: str
	conversion_type: str
	occurred_at: datetime
	value: Decimal | None = None
	currency: str | None = None
	lead: str | None = None
	email: str | None = None
	phone: str | None = None
	# Calling code (e.g. "49") for phone numbers stored without one; numbers with + or 00 carry their own.
	phone_country_code: str | None = None
	first_name: str | None = None
	last_name: str | None = None
	client_ip: str | None = None  # as stored: already truncated
	user_agent: str | None = None
	page_url: str | None = None
	fbclid: str | None = None
	fbclid_at_ms: int | None = None  # when the embed script saw the fbclid (unix ms)
	fbp: str | None = None
	ga_client_id: str | None = None
	visitor_id: str | None = None
	user_id: str | None = None
	web_seen: bool = False  # the embed script saw this conversion happen
	consent: str = "unknown"
	consent_mode: str = "none"  # the site's: none / opt-in / opt-out
	campaign: str | None = None  # of the credited touch
	source: str | None = None
	medium: str | None = None

	def __post_init__(self):
		if self.occurred_at.tzinfo is None or self.occurred_at.utcoffset() is None:
			raise ValidationError(f"Conversion {self.id}: occurred_at has no timezone")
		if self.value is not None and not isinstance(self.value, Decimal):
			raise ValidationError(f"Conversion {self.id}: value must be a Decimal, not {self.value!r}")
		if self.consent not in CONSENT_STATES:
			raise ValidationError(f"Conversion {self.id}: consent must be one of {', '.join(CONSENT_STATES)}")
		if self.consent_mode not in CONSENT_MODES:
			raise ValidationError(
				f"Conversion {self.id}: consent mode must be one of {', '.join(CONSENT_MODES)}"
			)
		if not self.event_id:
			raise ValidationError(f"Conversion {self.id}: an event id (idempotency key) is required")

	@property
	def stage_rank(self) -> int | None:
		return STAGE_ORDER.get(self.conversion_type)


@dataclass(frozen=True)
class Destination:
	"""An ad platform endpoint with its credentials (in clear: build it only where the request is sent).
	`event_names` maps conversion type -> event name; empty means every type with a default, a blank
	name means the default for that type; types missing from a non-empty mapping are not sent."""

	name: str
	platform: str
	enabled: bool = True
	base_url: str | None = None  # None/empty: the platform's own
	meta_dataset_id: str | None = None
	meta_access_token: str | None = field(default=None, repr=False)  # never in a repr, log or traceback
	meta_api_version: str = DEFAULT_META_API_VERSION
	meta_test_event_code: str | None = None
	ga4_measurement_id: str | None = None
	ga4_api_secret: str | None = field(default=None, repr=False)
	ga4_validation_mode: bool = False
	event_names: Mapping[str, str] = field(default_factory=dict)
	send_hashed_contact: bool = True
	max_attempts: int = 8

	def __post_init__(self):
		if self.platform not in PLATFORMS:
			raise ValidationError(f"Platform must be one of {', '.join(PLATFORMS)}, not {self.platform!r}")
		if self.max_attempts < 1:
			raise ValidationError("Maximum attempts must be at least 1")

	@property
	def api_base_url(self) -> str:
		return (self.base_url or DEFAULT_BASE_URLS[self.platform]).rstrip("/")

	@property
	def on_platform_host(self) -> bool:
		"""Whether requests go to the platform's own host (not a stand-in allowed for tests)."""
		return is_platform_url(self.platform, self.api_base_url)

	@property
	def secrets(self) -> tuple[str, ...]:
		"""Values that must never leave the request: redacted from every excerpt and log line."""
		return tuple(s for s in (self.meta_access_token, self.ga4_api_secret) if s)

	def event_name(self, conversion_type: str) -> str | None:
		"""The platform event name for a conversion type, or None when this destination does not send it."""
		defaults = DEFAULT_EVENT_NAMES[self.platform]
		if not self.event_names:
			return defaults.get(conversion_type)
		if conversion_type not in self.event_names:
			return None
		return (self.event_names[conversion_type] or "").strip() or defaults.get(conversion_type)


@dataclass(frozen=True)
class DeliveryOutcome:
	"""What happened to one conversion at one destination. `response_excerpt` never holds a secret."""

	conversion_id: str
	status: str
	attempts: int = 0
	http_status: int | None = None
	response_excerpt: str = ""
	next_attempt_at: datetime | None = None
	sent_at: datetime | None = None
	event_name: str | None = None


_DATASET_ID = re.compile(r"^\d{5,20}$")
_API_VERSION = re.compile(r"^v\d{1,3}\.\d{1,2}$")
_MEASUREMENT_ID = re.compile(r"^G-[A-Z0-9]{4,20}$")
# GA4 event names: letters, digits, underscores, starting with a letter, at most 40 characters;
# the prefixes below are reserved by Google.
_GA4_EVENT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,39}$")
_GA4_RESERVED_PREFIXES = ("_", "firebase_", "ga_", "google_", "gtag.")


def is_platform_url(platform: str, url: str) -> bool:
	"""True for an https URL on one of the platform's own hosts."""
	parts = urlsplit(url)
	return parts.scheme == "https" and (parts.hostname or "") in PLATFORM_HOSTS.get(platform, ())


def validate_destination(values: Mapping, allow_any_base_url: bool = False) -> None:
	"""Raise ValidationError naming the field of a Conversion Destination that cannot work. `values` are the
	doc's fields; Password fields may hold Frappe's mask, which counts as set. `event_names` is a mapping
	or (conversion_type, event_name) pairs from the child table. The API base URL must be on the platform's
	own hosts unless `allow_any_base_url` (developer mode or a site config key: test stand-ins)."""
	platform = values.get("platform")
	if platform not in PLATFORMS:
		raise ValidationError(f"Platform must be one of {', '.join(PLATFORMS)}")
	base_url = (values.get("api_base_url") or "").strip()
	if base_url and (not re.match(r"^https?://[^\s/?#]+", base_url) or "?" in base_url or "#" in base_url):
		raise ValidationError(
			"API Base URL must be an http(s) URL without query, e.g. https://graph.facebook.com"
		)
	if base_url and not allow_any_base_url and not is_platform_url(platform, base_url):
		raise ValidationError(
			f"API Base URL must be on {' or '.join(sorted(PLATFORM_HOSTS[platform]))} (https); another host"
			" is allowed only in developer mode or with trackflow_allow_custom_api_base_url in site config"
		)
	if platform == META:
		if not _DATASET_ID.match(str(values.get("meta_dataset_id") or "").strip()):
			raise ValidationError("Meta Dataset (Pixel) ID must be the number shown in Events Manager")
		if not values.get("meta_access_token"):
			raise ValidationError("Meta Access Token is required")
		version = (values.get("meta_api_version") or DEFAULT_META_API_VERSION).strip()
		if not _API_VERSION.match(version):
			raise ValidationError(
				f"Meta API Version must look like {DEFAULT_META_API_VERSION}, not {version!r}"
			)
	else:
		if not _MEASUREMENT_ID.match(str(values.get("ga4_measurement_id") or "").strip()):
			raise ValidationError("GA4 Measurement ID must look like G-XXXXXXXXXX")
		if not values.get("ga4_api_secret"):
			raise ValidationError("GA4 API Secret is required")
	pairs = values.get("event_names") or ()
	pairs = list(pairs.items()) if isinstance(pairs, Mapping) else list(pairs)
	seen = set()
	for conversion_type, event_name in pairs:
		if conversion_type not in CONVERSION_TYPES:
			raise ValidationError(f"Unknown conversion type {conversion_type!r} in Conversion Types")
		if conversion_type in seen:
			raise ValidationError(f"Conversion type {conversion_type} is listed twice")
		seen.add(conversion_type)
		name = (event_name or "").strip() or DEFAULT_EVENT_NAMES[platform].get(conversion_type)
		if not name:
			raise ValidationError(f"Give an event name for {conversion_type}: it has no default")
		if platform == GA4 and (not _GA4_EVENT_NAME.match(name) or name.startswith(_GA4_RESERVED_PREFIXES)):
			raise ValidationError(
				f"GA4 event name {name!r}: letters, digits and _ only, starting with a letter, at most 40"
				" characters, not starting with a reserved prefix (firebase_, ga_, google_)"
			)
		if platform == META and len(name) > 100:
			raise ValidationError(f"Meta event name {name[:20]!r}... is longer than 100 characters")
