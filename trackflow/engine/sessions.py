"""Turns validated collect batches into the visitor, session, event, touchpoint and identity rows the drain writes."""

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from types import MappingProxyType
from urllib.parse import urlsplit

from trackflow.engine.collect import (
	AD_COOKIES,
	EMPTY,
	TRACKFLOW_CLICK_PARAM,
	CollectBatch,
	CollectEvent,
	normalize_email,
	normalize_phone,
	origin_allowed,
)
from trackflow.engine.errors import ValidationError

# classify(source, medium, referrer, click_ids) -> channel name; the drain passes
# functools.partial(trackflow.engine.channels.classify_channel, rules=site_rules).
Classify = Callable[[str | None, str | None, str | None, Mapping[str, str]], str | None]

# Ad platforms' click ids: the source they imply, and the medium where the id only exists on paid clicks
# (fbclid is also added to organic Facebook links, so it implies no medium).
AD_CLICK_SOURCES: dict[str, tuple[str, str | None]] = {
	"gclid": ("google", "cpc"),
	"gbraid": ("google", "cpc"),
	"wbraid": ("google", "cpc"),
	"msclkid": ("bing", "cpc"),
	"fbclid": ("facebook", None),
	"ttclid": ("tiktok", "cpc"),
	"li_fat_id": ("linkedin", "cpc"),
	"twclid": ("twitter", "cpc"),
}
# The ad platforms' cookies as the embed script sends them (see AD_COOKIES) -> the form their conversion
# APIs want: GA4's client id is the `_ga` cookie's last two parts (GA1.1.<random>.<seconds>), Meta's
# browser id is the `_fbp` cookie itself (fb.<subdomain index>.<ms>.<random>[.<appendix>]).
_GA_COOKIE = re.compile(r"GA[0-9]+\.[0-9]+\.([0-9]{1,20}\.[0-9]{1,20})")
_FBP_COOKIE = re.compile(r"fb\.[0-9]\.[0-9]{1,20}\.[!-~]+")
# Conversion types a page may report as themselves (the rest become "custom"); CRM milestones
# (lead_created, deal_won...) come from CRM only.
BROWSER_CONVERSION_TYPES = frozenset(("purchase", "signup", "form_submit"))
FORM_EMAIL_FIELDS = frozenset(("email", "e-mail", "email_address", "emailaddress", "your-email", "mail"))
FORM_NAME_FIELDS = frozenset(("name", "full_name", "fullname", "your-name"))
FORM_PHONE_FIELDS = frozenset(("phone", "telephone", "tel", "mobile", "phone_number", "your-phone"))

TOUCH_DIRECT = "direct"  # no marketing source (no referrer, or the site's own): a direct touch
TOUCH_NEW = "new"  # write a Touchpoint for this session
TOUCH_CLICK = "click"  # arrived through /r/ (tf_click): reuse the click's touchpoint, write none
_CLICK_ID = re.compile(r"[0-9a-f]{32}")  # trackflow.engine.queue.new_id()


@dataclass(frozen=True, slots=True)
class TouchDecision:
	kind: str  # TOUCH_DIRECT | TOUCH_NEW | TOUCH_CLICK
	source: str | None = None
	medium: str | None = None
	campaign: str | None = None
	content: str | None = None
	term: str | None = None
	referrer_host: str | None = None
	click_id: str | None = None  # the TrackFlow click id when kind is TOUCH_CLICK


@dataclass(frozen=True, slots=True)
class VisitorRow:
	visitor: str
	site: str
	first_seen: int  # epoch ms, server-aligned
	last_seen: int
	consent: str | None  # the latest consent event in these batches, if any


@dataclass(frozen=True, slots=True)
class SessionRow:
	session: str
	visitor: str
	site: str
	started_at: int
	last_seen: int
	landing_url: str
	referrer: str | None
	utm: Mapping[str, str]
	click_ids: Mapping[str, str]
	channel: str | None
	touch: TouchDecision


@dataclass(frozen=True, slots=True)
class SessionSeen:
	"""A session that started in an earlier drain run: only its last_seen moves."""

	session: str
	visitor: str
	site: str
	last_seen: int


@dataclass(frozen=True, slots=True)
class EventRow:
	"""One TrackFlow Event. `name` and `props` by type (props is a flat mapping: TrackFlow Event's
	properties JSON): event: its name and props as sent; form: the form's id or name, and the fields the
	site marked (never a password or card field: collect refuses those); conversion: the conversion's
	type, and {"type", "value" (a decimal string), "currency", "order_id"}, each only when sent."""

	event: str  # the event id: the idempotency key
	session: str
	visitor: str
	site: str
	type: str
	ts: int
	url: str
	title: str | None = None
	ref: str | None = None
	name: str | None = None
	props: Mapping = field(default_factory=lambda: EMPTY)


@dataclass(frozen=True, slots=True)
class TouchpointRow:
	session: str
	visitor: str
	site: str
	ts: int
	channel: str | None
	source: str | None
	medium: str | None
	campaign: str | None
	content: str | None
	term: str | None
	referrer_host: str | None
	landing_url: str
	click_ids: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class IdentityRow:
	visitor: str
	site: str
	ts: int
	email: str | None
	name: str | None
	phone: str | None
	source: str  # "identify" | "form"
	event: str
	signature: str | None = None  # identify's signature, checked by the drain against the site's secret


@dataclass(frozen=True, slots=True)
class ConversionRow:
	"""A conversion the page reported (trackflow('conversion', {...})), one per idempotency key across
	batches and replays, for a Conversion record:

	- event, visitor, session, site: the conversion event's id (its TrackFlow Event is named after it),
	  the browser's visitor and session ids (TrackFlow Visitor / Session names) and the site key;
	- ts: server-aligned epoch ms of the conversion (Conversion.occurred_at);
	- type: the page's own type as sent ([A-Za-z0-9_.:-]{1,40}); conversion_type: what the Conversion's
	  Select takes, the type itself when it is one a page may report (BROWSER_CONVERSION_TYPES), else
	  "custom" (a page can never claim a CRM milestone such as deal_won);
	- value: Decimal as sent (0 <= value < 1e15) or None; it may carry more decimals than the currency's
	  minor units (a page's 0.1 + 0.2), which engine.conversions.check_conversion refuses;
	- currency: three upper-case letters (ISO 4217 shape, not checked against a list) or None;
	- order_id: the site's order id (<= 140 characters) or None;
	- idempotency_key: "site:type:order_id" when the page gave an order id (at most 246 characters),
	  else the event id; kept unique where it is stored, a reload of an order's thank-you page (in this
	  run or a later one) converts once;
	- url: the page the conversion happened on.
	"""

	event: str
	visitor: str
	session: str
	site: str
	ts: int
	type: str
	value: Decimal | None
	currency: str | None
	order_id: str | None
	idempotency_key: str  # site:type:order id when the site gave one, else the event id
	url: str  # the page the conversion happened on
	conversion_type: str  # the Conversion doctype's conversion_type


@dataclass(frozen=True, slots=True)
class PingCount:
	site: str
	day: str  # UTC date, YYYY-MM-DD
	url: str
	count: int


@dataclass(frozen=True, slots=True)
class DrainRows:
	visitors: tuple[VisitorRow, ...]
	sessions: tuple[SessionRow, ...]
	session_updates: tuple[SessionSeen, ...]
	events: tuple[EventRow, ...]
	touchpoints: tuple[TouchpointRow, ...]
	identities: tuple[IdentityRow, ...]
	conversions: tuple[ConversionRow, ...]
	pings: tuple[PingCount, ...]


def _host(url: str | None) -> str | None:
	if not url:
		return None
	try:
		host = urlsplit(url).hostname
	except ValueError:
		return None
	return host.rstrip(".") if host else None


def is_internal_referrer(
	referrer: str | None, landing_url: str, internal_domains: Iterable[str] = ()
) -> bool:
	"""True when the referrer is the landing page's own host or one of the site's own domains."""
	host = _host(referrer)
	if host is None:
		return True  # no referrer: direct
	return host == _host(landing_url) or origin_allowed(referrer, internal_domains)


def touchpoint_decision(
	utm: Mapping[str, str],
	click_ids: Mapping[str, str],
	referrer: str | None,
	landing_url: str,
	internal_domains: Iterable[str] = (),
) -> TouchDecision:
	"""Whether a session is a marketing touchpoint, and its source/medium/campaign. A TrackFlow click id
	wins (the click already has its touchpoint); then UTM, filled in from an ad click id; then an ad click
	id alone; then a referrer from another site. Direct and internal traffic is a direct touch (a journey
	shows every session, so "last non-direct" has a direct touch to skip)."""
	internal = is_internal_referrer(referrer, landing_url, internal_domains)
	referrer_host = None if internal else _host(referrer)
	if referrer_host and referrer_host.startswith("www."):
		referrer_host = referrer_host[4:]
	tf_click = click_ids.get(TRACKFLOW_CLICK_PARAM)
	if tf_click is not None and not _CLICK_ID.fullmatch(tf_click):
		tf_click = None  # not an id /r/ made: no click to claim
	ad_source, ad_medium = next(
		(AD_CLICK_SOURCES[key] for key in AD_CLICK_SOURCES if click_ids.get(key)), (None, None)
	)
	# A /r/ landing keeps its own source too (the link's UTM are in the landing URL): the drain uses it
	# when the click was already claimed by another visitor.
	kind = TOUCH_CLICK if tf_click else TOUCH_NEW
	if utm or ad_source:
		return TouchDecision(
			kind,
			source=utm.get("source") or ad_source or referrer_host,
			medium=utm.get("medium") or ad_medium,
			campaign=utm.get("campaign"),
			content=utm.get("content"),
			term=utm.get("term"),
			referrer_host=referrer_host,
			click_id=tf_click,
		)
	if referrer_host:
		return TouchDecision(kind, source=referrer_host, referrer_host=referrer_host, click_id=tf_click)
	if tf_click:
		return TouchDecision(TOUCH_CLICK, click_id=tf_click)
	return TouchDecision(TOUCH_DIRECT)


def session_click_ids(click_ids: Mapping[str, str], ad_cookies: bool = False) -> Mapping[str, str]:
	"""The click ids a session keeps from its session_start: the ad platforms' cookies only when the site
	opted in (TrackFlow Site's Capture Ad Platform Cookies), and then normalised for the conversion APIs
	(`_ga` becomes the GA4 client id); a cookie of another shape is dropped, it is no error."""
	if not any(key in click_ids for key in AD_COOKIES):
		return click_ids
	kept = {key: value for key, value in click_ids.items() if key not in AD_COOKIES}
	if ad_cookies:
		if ga := _GA_COOKIE.fullmatch(click_ids.get("_ga", "")):
			kept["_ga"] = ga[1]
		if _FBP_COOKIE.fullmatch(click_ids.get("_fbp", "")):
			kept["_fbp"] = click_ids["_fbp"]
	return MappingProxyType(kept)


def _form_identity(event: CollectEvent) -> tuple[str | None, str | None, str | None]:
	email = name = phone = None
	for key, value in event.fields.items():
		lowered = key.lower()
		try:
			if email is None and lowered in FORM_EMAIL_FIELDS:
				email = normalize_email(value)
			elif phone is None and lowered in FORM_PHONE_FIELDS:
				phone = normalize_phone(value)
		except ValidationError:
			continue  # free text in a form is not an error; it is just not an identity
		if name is None and lowered in FORM_NAME_FIELDS:
			name = value.strip()[:140] or None
	return email, name, phone


def _event_row(event: CollectEvent, session: str, visitor: str, site: str) -> EventRow:
	name, props = event.name, event.props
	if event.type == "form":
		name, props = event.form, event.fields
	elif event.type == "conversion":
		conversion = event.conversion
		name = conversion.type
		props = {"type": conversion.type}
		if conversion.value is not None:
			props["value"] = format(conversion.value, "f")
		if conversion.currency:
			props["currency"] = conversion.currency
		if conversion.id:
			props["order_id"] = conversion.id
	return EventRow(
		event.id, session, visitor, site, event.type, event.ts, event.url, event.title, event.ref, name, props
	)


def build_rows(
	batches: Iterable[CollectBatch],
	*,
	internal_domains: Iterable[str] = (),
	classify: Classify | None = None,
	ad_cookies: bool = False,
) -> DrainRows:
	"""Rows for one drain run over validated batches (any order, possibly replayed): events are
	de-duplicated by id, sessions by id, visitors merged. `internal_domains` are the site's own domains
	(TrackFlow Site's allowed domains); `classify` gives each session's channel (None: left empty);
	`ad_cookies`: the site captures the ad platforms' cookies (else a session drops any it was sent)."""
	internal_domains = tuple(internal_domains)
	visitors: dict[str, list] = {}
	starts: dict[str, tuple[CollectBatch, CollectEvent]] = {}
	last_seen: dict[str, tuple[str, str, int]] = {}
	events: dict[str, EventRow] = {}
	identities: list[IdentityRow] = []
	conversions: dict[str, ConversionRow] = {}
	pings: dict[tuple[str, str, str], int] = {}
	seen_ids: set[str] = set()

	for batch in batches:
		site = batch.site
		if batch.visitor is None:
			for event in batch.events:
				if event.id in seen_ids:
					continue
				seen_ids.add(event.id)
				day = datetime.fromtimestamp(event.ts / 1000, tz=timezone.utc).date().isoformat()
				pings[(site, day, event.url)] = pings.get((site, day, event.url), 0) + 1
			continue
		visitor, session = batch.visitor, batch.session
		for event in batch.events:
			if event.id in seen_ids:
				continue
			seen_ids.add(event.id)
			ts = event.ts
			entry = visitors.get(visitor)
			if entry is None:
				visitors[visitor] = entry = [site, ts, ts, None, -1]
			entry[1] = min(entry[1], ts)
			entry[2] = max(entry[2], ts)
			known = last_seen.get(session)
			last_seen[session] = (visitor, site, max(ts, known[2]) if known else ts)
			kind = event.type
			if kind == "session_start":
				starts.setdefault(session, (batch, event))
				continue
			if kind == "consent" and ts >= entry[4]:
				entry[3], entry[4] = event.consent, ts
			events[event.id] = _event_row(event, session, visitor, site)
			if kind == "identify":
				traits = event.traits
				identities.append(
					IdentityRow(
						visitor,
						site,
						ts,
						traits.email,
						traits.name,
						traits.phone,
						"identify",
						event.id,
						traits.signature,
					)
				)
			elif kind == "form":
				email, name, phone = _form_identity(event)
				if email or phone:
					identities.append(IdentityRow(visitor, site, ts, email, name, phone, "form", event.id))
			elif kind == "conversion":
				conversion = event.conversion
				key = f"{site}:{conversion.type}:{conversion.id}" if conversion.id else event.id
				conversions.setdefault(
					key,
					ConversionRow(
						event.id,
						visitor,
						session,
						site,
						ts,
						conversion.type,
						conversion.value,
						conversion.currency,
						conversion.id,
						key,
						event.url,
						conversion.type if conversion.type in BROWSER_CONVERSION_TYPES else "custom",
					),
				)

	sessions, touchpoints = [], []
	for session, (batch, start) in starts.items():
		# The ad platforms' cookies are no marketing touch: only the session keeps them.
		click_ids = session_click_ids(start.click_ids)
		touch = touchpoint_decision(start.utm, click_ids, start.ref, start.url, internal_domains)
		if touch.kind == TOUCH_DIRECT:
			channel = "direct"  # an internal referrer is not a referral
		else:
			channel = classify(touch.source, touch.medium, start.ref, click_ids) if classify else None
		sessions.append(
			SessionRow(
				session,
				batch.visitor,
				batch.site,
				start.ts,
				last_seen[session][2],
				start.url,
				start.ref,
				start.utm,
				session_click_ids(start.click_ids, ad_cookies),
				channel,
				touch,
			)
		)
		if touch.kind in (TOUCH_NEW, TOUCH_DIRECT):
			touchpoints.append(
				TouchpointRow(
					session,
					batch.visitor,
					batch.site,
					start.ts,
					channel,
					touch.source,
					touch.medium,
					touch.campaign,
					touch.content,
					touch.term,
					touch.referrer_host,
					start.url,
					click_ids,
				)
			)
	updates = tuple(
		SessionSeen(session, visitor, site, ts)
		for session, (visitor, site, ts) in last_seen.items()
		if session not in starts
	)
	return DrainRows(
		visitors=tuple(VisitorRow(v, e[0], e[1], e[2], e[3]) for v, e in visitors.items()),
		sessions=tuple(sessions),
		session_updates=updates,
		events=tuple(events.values()),
		touchpoints=tuple(touchpoints),
		identities=tuple(identities),
		conversions=tuple(conversions.values()),
		pings=tuple(PingCount(site, day, url, count) for (site, day, url), count in pings.items()),
	)


__all__ = [
	"AD_CLICK_SOURCES",
	"BROWSER_CONVERSION_TYPES",
	"TOUCH_CLICK",
	"TOUCH_DIRECT",
	"TOUCH_NEW",
	"ConversionRow",
	"DrainRows",
	"EventRow",
	"IdentityRow",
	"PingCount",
	"SessionRow",
	"SessionSeen",
	"TouchDecision",
	"TouchpointRow",
	"VisitorRow",
	"build_rows",
	"is_internal_referrer",
	"session_click_ids",
	"touchpoint_decision",
]
