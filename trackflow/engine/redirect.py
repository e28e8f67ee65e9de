"""The whole /r/<code> redirect decision, framework-free: link data and request facts in, answer out."""

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from urllib.parse import quote, urlsplit, urlunsplit

from trackflow.engine import bots, links, privacy, qr
from trackflow.engine.errors import ValidationError
from trackflow.engine.queue import new_id

ACTIVE_STATUS = "Active"
# Not the embed script's "_tf_v": this one is HttpOnly, and a same-domain script that cannot read
# (nor overwrite) an HttpOnly "_tf_v" would mint a new visitor on every page. The click id ties the two.
VISITOR_COOKIE = "_tf_r"
CONSENT_COOKIE = "_tf_c"  # the embed script's consent cookie: "1" granted, "0" denied, absent: not asked
CLICK_ID_PARAM = "tf_click"  # read by the embed script on the landing page
_VISITOR_ID = re.compile(r"[0-9a-f]{32}")
NO_STORE_HEADERS = (("Cache-Control", "no-store"), ("X-Robots-Tag", "noindex, nofollow"))


@dataclass(frozen=True)
class RedirectSettings:
	"""TrackFlow Settings as the redirect needs them (build once per settings change, not per request).

	own_domains: hosts that belong to TrackFlow Sites; a destination on one of them or a subdomain
	gets the click id. consent_mode: "none", "opt-in" (no cookie until the consent cookie says "1") or
	"opt-out" (cookie unless it says "0"); with honour_dnt, DNT: 1 or Sec-GPC: 1 also means no cookie.
	"""

	consent_mode: str = "opt-out"
	honour_dnt: bool = True
	cookie_lifetime_days: int = 395
	cookie_domain: str | None = None
	own_domains: tuple[str, ...] = ()
	ipv4_prefix: int = privacy.DEFAULT_IPV4_PREFIX
	ipv6_prefix: int = privacy.DEFAULT_IPV6_PREFIX

	@classmethod
	def from_settings(cls, values: Mapping, own_domains: Sequence[str] | str = ()) -> "RedirectSettings":
		"""From TrackFlow Settings field values (consent_mode, honour_do_not_track, cookie_lifetime_days,
		truncate_ip, ipv4_prefix_length, ipv6_prefix_length, own_domains as lines or commas); own_domains
		given here (e.g. from TrackFlow Site) are added to the setting's."""
		lines = own_domains.replace(",", "\n").split() if isinstance(own_domains, str) else list(own_domains)
		lines += str(values.get("own_domains") or "").replace(",", "\n").split()
		truncate = values.get("truncate_ip", 1)
		return cls(
			consent_mode=values.get("consent_mode") or "opt-out",
			honour_dnt=bool(values.get("honour_do_not_track", 1)),
			cookie_lifetime_days=int(values.get("cookie_lifetime_days") or 395),
			own_domains=tuple(lines),
			ipv4_prefix=int(values.get("ipv4_prefix_length") or 24) if truncate else 32,
			ipv6_prefix=int(values.get("ipv6_prefix_length") or 48) if truncate else 128,
		)

	def __post_init__(self):
		domains = tuple(
			sorted({d.strip().lower().lstrip("*").strip(".") for d in self.own_domains if d.strip()})
		)
		object.__setattr__(self, "own_domains", domains)


@dataclass(frozen=True)
class RedirectRequest:
	"""The facts of one request. headers: werkzeug Headers or a dict with lower-case names."""

	code: str
	method: str = "GET"
	query: str = ""
	headers: Mapping[str, str] = field(default_factory=dict)
	client_ip: str | None = None
	cookies: Mapping[str, str] = field(default_factory=dict)
	is_https: bool = True
	now: float = 0.0  # POSIX seconds


@dataclass(frozen=True)
class Cookie:
	"""A Set-Cookie to send; header_value() renders it, or pass the fields to response.set_cookie."""

	name: str
	value: str
	max_age: int
	secure: bool
	http_only: bool = True
	same_site: str = "Lax"
	path: str = "/"
	domain: str | None = None

	def header_value(self) -> str:
		parts = [f"{self.name}={self.value}", f"Max-Age={self.max_age}", f"Path={self.path}"]
		if self.domain:
			parts.append(f"Domain={self.domain}")
		parts.append(f"SameSite={self.same_site}")
		if self.secure:
			parts.append("Secure")
		if self.http_only:
			parts.append("HttpOnly")
		return "; ".join(parts)


OUTCOMES = ("destination", "fallback")


@dataclass(frozen=True, slots=True)
class Click:
	"""One /r/ click as it is queued and stored: every field is a Click Event column (the touchpoint of a
	human click is built from the same fields), so nothing is sent that is not kept."""

	id: str
	link: str
	ts: float  # epoch seconds, the redirect's clock
	campaign: str | None = None
	variant: str | None = None
	outcome: str = "destination"  # or "fallback": the link was inactive, expired or at max_clicks
	visitor: str | None = None
	ip: str | None = None  # truncated per the settings
	user_agent: str | None = None
	referrer: str | None = None
	is_bot: int = 0
	bot_reason: str | None = None
	is_scan: int = 0
	redirected_to: str | None = None

	def encode(self) -> dict:
		"""The queue record (JSON-ready)."""
		return asdict(self)

	@classmethod
	def decode(cls, record: Mapping) -> "Click":
		"""A queued record back as a Click; ValidationError when it is not one (the drain sets it aside).
		Keys this release does not store (records queued by an earlier one) are dropped."""
		if not isinstance(record, Mapping):
			raise ValidationError("A click record must be an object")
		for key in ("id", "link"):
			if not isinstance(record.get(key), str) or not record[key]:
				raise ValidationError(f"A click record needs a text {key}")
		ts = record.get("ts")
		if isinstance(ts, bool) or not isinstance(ts, int | float) or not 0 < ts < 1e11:
			raise ValidationError("A click record needs its time as epoch seconds")
		if record.get("outcome", "destination") not in OUTCOMES:
			raise ValidationError(f"Unknown click outcome {record.get('outcome')!r}")
		values = {f: record[f] for f in _CLICK_FIELDS if record.get(f) is not None}
		for flag in ("is_bot", "is_scan"):
			values[flag] = 1 if values.get(flag) else 0
		for key, value in values.items():
			if key not in ("ts", "is_bot", "is_scan") and not isinstance(value, str):
				raise ValidationError(f"A click record's {key} must be text")
		return cls(**values)


_CLICK_FIELDS = tuple(f.name for f in fields(Click))


@dataclass(frozen=True)
class RedirectDecision:
	"""The answer: status 302 with location, or 404 (the caller renders its own uncached page).

	headers go on the response either way; click is queued when not None.
	"""

	status: int
	location: str | None
	reason: str  # destination, variant, fallback, unknown, inactive
	headers: tuple[tuple[str, str], ...] = NO_STORE_HEADERS
	cookies: tuple[Cookie, ...] = ()
	click: Click | None = None


NOT_FOUND = RedirectDecision(404, None, "unknown")


def prepare_link(
	code: str,
	destination: str,
	*,
	name: str | None = None,
	status: str = ACTIVE_STATUS,
	campaign: str | None = None,
	fallback: str | None = None,
	expires: float | None = None,
	max_clicks: int | None = None,
	clicks: int = 0,
	variants: Sequence[Mapping] = (),
	utm: Mapping[str, str | None] | None = None,
	utm_mode: str = "keep",
) -> dict:
	"""The cached form of a Tracked Link: a plain dict that decide() reads; build it when the link changes.

	UTM parameters are merged into the destination and every variant's destination here, once, not per
	request. expires is a POSIX timestamp (from Frappe: the expiry datetime in the system time zone,
	.timestamp()); max_clicks 0 or None means no limit; clicks is the count when the entry was built.
	"""
	utm = utm or {}
	dest = links.merge_utm(links.normalize_destination(destination), utm, utm_mode)
	rows = [
		{"label": v.label, "destination": links.merge_utm(v.destination, utm, utm_mode), "weight": v.weight}
		for v in links.variants_from_rows(variants)
	]
	return {
		"code": code,
		"name": name or code,
		"status": status,
		"campaign": campaign,
		"destination": dest,
		"fallback": links.normalize_destination(fallback, "Fallback URL") if fallback else None,
		"expires": float(expires) if expires else None,
		"max_clicks": int(max_clicks or 0),
		"clicks": int(clicks or 0),
		"variants": rows,
	}


def redirect_code(path: str, prefix: str = "r") -> str | None:
	"""The code in a request path "/<prefix>/<code>" (trailing slash allowed), else None: the cheap
	first test of the before_request hook, before any cache lookup."""
	head = f"/{prefix.strip('/')}/"
	if not path.startswith(head):
		return None
	code = path[len(head) :].rstrip("/")
	return code if links.is_valid_code(code) else None


def decide(link: Mapping | None, request: RedirectRequest, settings: RedirectSettings) -> RedirectDecision:
	"""Where /r/<code> sends this request, which cookies it sets and which click it records.

	- unknown code (link None, or a code that cannot exist): 404, no click, the same for every code;
	- not Active, expired, or at max_clicks: 302 to the fallback URL (click recorded with reason
	  "fallback"), else 404 ("inactive", no click);
	- otherwise 302 to the destination, or to a variant chosen by visitor (sticky) or at random when
	  there is no visitor id. The click id is appended only when the destination's host is one of
	  own_domains (or a subdomain of one);
	- the visitor cookie (random, HttpOnly, SameSite=Lax, Secure on https) is set when consent allows
	  and the request is not a bot; bots and previews are redirected too, with is_bot 1 on the click;
	- every answer carries Cache-Control: no-store. A destination that is not http(s) is never
	  redirected to (404): no open redirect even if bad data reached the cache.
	"""
	if link is None or not links.is_valid_code(request.code):
		return NOT_FOUND
	available = (
		link.get("status") == ACTIVE_STATUS
		and not (link.get("expires") and request.now >= link["expires"])
		and not (link.get("max_clicks") and (link.get("clicks") or 0) >= link["max_clicks"])
	)
	headers = request.headers
	if isinstance(headers, dict):  # werkzeug Headers are case-insensitive already; a dict may not be
		headers = {k.lower(): v for k, v in headers.items()}
	user_agent = bots.header_value(headers, "user-agent")
	bot, bot_reason = bots.is_bot(request.method, user_agent, headers)
	allowed = _tracking_allowed(request, headers, settings)
	visitor = _visitor(request, allowed)
	new_visitor = allowed and visitor is None and not bot
	if new_visitor:
		visitor = secrets.token_hex(16)

	variant = None
	if available:
		reason = "destination"
		location = link.get("destination")
		if link.get("variants"):
			chosen = links.choose_variant(
				[links.Variant(v["label"], v["destination"], v.get("weight", 1)) for v in link["variants"]],
				request.code,
				visitor,
			)
			if chosen:
				variant, location, reason = chosen.label, chosen.destination, "variant"
	elif link.get("fallback"):
		reason, location = "fallback", link["fallback"]
	else:
		return RedirectDecision(404, None, "inactive")
	if not location or not links.is_http_url(location):
		return RedirectDecision(404, None, "inactive")

	click_id = new_id()
	if _own_domain(location, settings.own_domains):
		location = _add_click_id(location, click_id)

	cookies = ()
	if allowed and not bot and visitor:
		cookies = (
			Cookie(
				VISITOR_COOKIE,
				visitor,
				max_age=settings.cookie_lifetime_days * 86400,
				secure=request.is_https,
				domain=settings.cookie_domain,
			),
		)
	location = _ascii_url(location)
	click = Click(
		id=click_id,
		link=link.get("name") or link.get("code"),
		ts=request.now,
		campaign=link.get("campaign"),
		variant=variant,
		outcome="fallback" if reason == "fallback" else "destination",
		visitor=visitor,
		ip=privacy.truncate_ip(request.client_ip, settings.ipv4_prefix, settings.ipv6_prefix),
		user_agent=user_agent[:512] or None,
		referrer=bots.header_value(headers, "referer")[:1024] or None,
		is_bot=1 if bot else 0,
		bot_reason=bot_reason,
		is_scan=1 if qr.is_scan(request.query) else 0,
		redirected_to=location,
	)
	return RedirectDecision(302, location, reason, NO_STORE_HEADERS, cookies, click)


def _tracking_allowed(request: RedirectRequest, headers: Mapping, settings: RedirectSettings) -> bool:
	"""The embed script's rule: no DNT/GPC (when honoured), and consent given (opt-in) or not refused."""
	if settings.honour_dnt and (
		bots.header_value(headers, "dnt") == "1" or bots.header_value(headers, "sec-gpc") == "1"
	):
		return False
	consent = request.cookies.get(CONSENT_COOKIE)
	if settings.consent_mode == "opt-in":
		return consent == "1"
	return consent != "0"


def _visitor(request: RedirectRequest, allowed: bool) -> str | None:
	if not allowed:
		return None
	value = request.cookies.get(VISITOR_COOKIE) or ""
	return value if _VISITOR_ID.fullmatch(value) else None


def _add_click_id(url: str, click_id: str) -> str:
	"""`url` with tf_click=<id>: appended before the fragment, or replacing one the URL already has."""
	base, hash_, fragment = url.partition("#")
	path, _, query = base.partition("?")
	if f"{CLICK_ID_PARAM}=" in query:
		return links.merge_query(url, {CLICK_ID_PARAM: click_id}, override=True)
	query = f"{query}&{CLICK_ID_PARAM}={click_id}" if query else f"{CLICK_ID_PARAM}={click_id}"
	return f"{path}?{query}{hash_}{fragment}"


def _own_domain(url: str, own_domains: tuple[str, ...]) -> bool:
	"""The URL's host is an own domain or a subdomain of one; a domain given with a port (a TrackFlow Site
	such as 127.0.0.1:8765) matches only that port."""
	parts = urlsplit(url)
	host = (parts.hostname or "").rstrip(".")
	try:
		port = parts.port
	except ValueError:
		return False
	for domain in own_domains:
		name, _, wanted = domain.rpartition(":") if _has_port(domain) else (domain, "", "")
		if (host == name or host.endswith("." + name)) and (not wanted or port == int(wanted)):
			return True
	return False


def _has_port(domain: str) -> bool:
	name, colon, port = domain.rpartition(":")
	return bool(colon and name and port.isdigit() and not name.endswith(":"))  # not a bare IPv6 address


def _ascii_url(url: str) -> str:
	"""A Location header value: IDNA host, percent-encoded path and query (HTTP headers are ASCII)."""
	if url.isascii():
		return url
	parts = urlsplit(url)
	host = parts.hostname.encode("idna").decode("ascii")
	netloc = f"{host}:{parts.port}" if parts.port else host
	safe = "/:?#[]@!$&'()*+,;=%~"
	return urlunsplit(
		(
			parts.scheme,
			netloc,
			quote(parts.path, safe=safe),
			quote(parts.query, safe=safe),
			quote(parts.fragment, safe=safe),
		)
	)
