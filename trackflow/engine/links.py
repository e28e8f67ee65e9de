"""Tracked links: short codes and slugs, destination checks, UTM merging, short URLs and A/B variants."""

import hashlib
import random
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from trackflow.engine.errors import ValidationError

# No 0/O, 1/l/I: a code read off a printed page or a slide is typed back right.
SHORT_CODE_ALPHABET = "23456789abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"
SHORT_CODE_MIN_LENGTH = 5
SHORT_CODE_MAX_LENGTH = 32
DEFAULT_SHORT_CODE_LENGTH = 7

SLUG_MIN_LENGTH = 3
SLUG_MAX_LENGTH = 64
SLUG_CHARS = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?")
# Paths a slug could be confused with: Frappe's own routes, TrackFlow's, and words that look official.
RESERVED_SLUGS = frozenset(
	{
		"about",
		"admin",
		"api",
		"app",
		"apps",
		"assets",
		"contact",
		"crm",
		"desk",
		"files",
		"help",
		"helpdesk",
		"index",
		"login",
		"logout",
		"me",
		"method",
		"null",
		"private",
		"public",
		"q",
		"qr",
		"r",
		"robots",
		"robots.txt",
		"settings",
		"signup",
		"sitemap",
		"socket.io",
		"static",
		"support",
		"trackflow",
		"undefined",
		"update-password",
		"website",
		"www",
	}
)

MAX_URL_LENGTH = 2048
UTM_FIELDS = ("source", "medium", "campaign", "content", "term")
UTM_MERGE_MODES = ("keep", "override")


def new_code(length: int = DEFAULT_SHORT_CODE_LENGTH) -> str:
	"""A random short code of `length` characters from SHORT_CODE_ALPHABET (cryptographic randomness).

	Codes are unique case-insensitively (see normalize_slug): the caller inserts and, on a duplicate
	key error from the unique index, calls new_code again (never check-then-insert). At length 7 the
	case-folded space is 33**7 (about 4e10), so a retry is rare and a second one rarer still.
	"""
	if not isinstance(length, int) or not SHORT_CODE_MIN_LENGTH <= length <= SHORT_CODE_MAX_LENGTH:
		raise ValidationError(
			f"Short Code Length must be between {SHORT_CODE_MIN_LENGTH} and {SHORT_CODE_MAX_LENGTH}, not {length}"
		)
	return "".join(secrets.choice(SHORT_CODE_ALPHABET) for _ in range(length))


def normalize_slug(slug: str) -> str:
	"""The form two codes are compared in: "Spring-Sale" and "spring-sale" are the same link.

	Store it in a unique column (or rely on a case-insensitive collation) and use it as the cache key,
	so /r/SPRING-SALE and /r/spring-sale resolve to the same link.
	"""
	return slug.strip().casefold()


def validate_slug(slug: str) -> str:
	"""A custom slug, stripped, or ValidationError saying what is wrong with it."""
	if not isinstance(slug, str) or not slug.strip():
		raise ValidationError("Custom slug is empty")
	slug = slug.strip()
	if not SLUG_MIN_LENGTH <= len(slug) <= SLUG_MAX_LENGTH:
		raise ValidationError(
			f"Custom slug must be {SLUG_MIN_LENGTH} to {SLUG_MAX_LENGTH} characters long, not {len(slug)}"
		)
	if not SLUG_CHARS.fullmatch(slug):
		raise ValidationError(
			f"Custom slug {slug!r} may contain only letters A-Z, digits, '-' and '_', "
			"and must start and end with a letter or digit"
		)
	if normalize_slug(slug) in RESERVED_SLUGS:
		raise ValidationError(f"Custom slug {slug!r} is a reserved word; choose another")
	return slug


def is_valid_code(code: str) -> bool:
	"""Whether `code` could name a link at all (generated or custom); cheap, for the redirect path.

	Reserved words pass here on purpose: the redirect answers them with the same 404 as any unknown code.
	"""
	return (
		isinstance(code, str) and 1 <= len(code) <= SLUG_MAX_LENGTH and SLUG_CHARS.fullmatch(code) is not None
	)


def normalize_destination(url: str, label: str = "Destination URL") -> str:
	"""`url` stripped, with its scheme and host lower-cased, or ValidationError naming `label`.

	Accepted: absolute http/https URLs with a host, no user name or password, at most MAX_URL_LENGTH
	characters, no whitespace or control characters. Rejected with a message: javascript:, data:,
	mailto: and every other scheme, relative URLs ("/path", "example.com/x"), malformed ports or hosts.
	"""
	if not isinstance(url, str) or not url.strip():
		raise ValidationError(f"{label} is empty")
	url = url.strip()
	if len(url) > MAX_URL_LENGTH:
		raise ValidationError(f"{label} is too long: {len(url)} characters, at most {MAX_URL_LENGTH}")
	if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
		raise ValidationError(f"{label} must not contain spaces or control characters")
	if "\\" in url:  # browsers read a backslash as "/", Python does not: no parser may disagree on the host
		raise ValidationError(f"{label} must not contain a backslash (use / or %5C)")
	try:
		parts = urlsplit(url)
		port = parts.port
	except ValueError as e:
		raise ValidationError(f"{label} is not a valid URL: {e}")
	scheme = parts.scheme.lower()
	if not scheme:
		raise ValidationError(f"{label} must be an absolute URL starting with https:// or http://")
	if scheme not in ("http", "https"):
		raise ValidationError(f"{label} must start with https:// or http://, not {scheme}:")
	if not parts.netloc or not parts.hostname:
		raise ValidationError(f"{label} has no host name")
	if parts.username is not None or parts.password is not None:
		raise ValidationError(f"{label} must not contain a user name or password")
	host = parts.hostname
	if not _valid_host(host):
		raise ValidationError(f"{label} has an invalid host name: {host!r}")
	netloc = f"[{host}]" if ":" in host else host
	if port is not None:
		netloc += f":{port}"
	return urlunsplit((scheme, netloc, parts.path, parts.query, parts.fragment))


_HOST_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)", re.IGNORECASE)


def _valid_host(host: str) -> bool:
	if ":" in host:  # an IPv6 literal; urlsplit has already checked the brackets
		return True
	try:
		host.encode("idna")
	except UnicodeError:
		return False
	labels = host.encode("idna").decode("ascii").rstrip(".").split(".")
	return all(_HOST_LABEL.fullmatch(label) for label in labels)


def is_http_url(url: str) -> bool:
	"""Whether `url` is an absolute http(s) URL with a host: the redirect's last check before a 302."""
	try:
		parts = urlsplit(url)
	except (ValueError, TypeError, AttributeError):
		return False
	return parts.scheme.lower() in ("http", "https") and bool(parts.hostname) and not url.startswith("//")


def merge_query(url: str, params: Mapping[str, str | None], override: bool = False) -> str:
	"""`url` with `params` added to its query string; order and fragment preserved, None values skipped.

	A parameter the URL already has is kept (override=False: the destination wins) or replaced in place
	(override=True). Parameters already in the URL keep their position and their encoding; new ones
	are appended in the order given.
	"""
	new = [(k, str(v)) for k, v in params.items() if v is not None and str(v) != ""]
	if not new:
		return url
	parts = urlsplit(url)
	pairs = parse_qsl(parts.query, keep_blank_values=True)
	existing = {k for k, _ in pairs}
	if override:
		replace = {k: v for k, v in new if k in existing}
		if replace:
			# Re-encode only when something is replaced, so an untouched query keeps its exact bytes.
			kept = []
			for k, v in pairs:
				if k in replace:
					if replace[k] is not None:
						kept.append((k, replace[k]))
						replace[k] = None  # a repeated key collapses to the one replaced value
					continue
				kept.append((k, v))
			query = urlencode(kept, quote_via=quote)
		else:
			query = parts.query
	else:
		query = parts.query
	added = urlencode([(k, v) for k, v in new if k not in existing], quote_via=quote)
	if added:
		query = f"{query}&{added}" if query else added
	return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def merge_utm(url: str, utm: Mapping[str, str | None], mode: str = "keep") -> str:
	"""`url` with utm_source/medium/campaign/content/term from `utm` merged in (see merge_query).

	`utm` is keyed by the short name ("source") or the full one ("utm_source"); mode "keep" leaves a
	UTM parameter the destination already has, "override" replaces it.
	"""
	if mode not in UTM_MERGE_MODES:
		raise ValidationError(f"UTM merge mode must be one of {', '.join(UTM_MERGE_MODES)}, not {mode!r}")
	params = {}
	for key, value in utm.items():
		name = key if key.startswith("utm_") else f"utm_{key}"
		if name[4:] not in UTM_FIELDS:
			raise ValidationError(f"Unknown UTM parameter {key!r}; expected one of {', '.join(UTM_FIELDS)}")
		params[name] = value.strip() if isinstance(value, str) else value
	return merge_query(url, params, override=mode == "override")


def short_url(base_url: str, prefix: str, code: str) -> str:
	"""The public short URL: short_url("https://crm.example.com/", "/r/", "Ab3xK9p") -> ".../r/Ab3xK9p"."""
	base = base_url.strip().rstrip("/")
	if not is_http_url(base):
		raise ValidationError(f"Site URL {base_url!r} must be an absolute https:// or http:// URL")
	prefix = prefix.strip().strip("/")
	if not prefix or not SLUG_CHARS.fullmatch(prefix):
		raise ValidationError(
			f"Redirect Path Prefix {prefix!r} may contain only letters, digits, '-' and '_'"
		)
	return f"{base}/{prefix}/{quote(code, safe='')}"


@dataclass(frozen=True)
class Variant:
	"""One A/B destination of a link; weight is relative (weights 1 and 3 split 25/75)."""

	label: str
	destination: str
	weight: float = 1.0


def variants_from_rows(rows: Sequence[Mapping]) -> tuple[Variant, ...]:
	"""Variants from child-table rows (dicts with label, destination or destination_url, weight)."""
	variants = []
	labels = set()
	for i, row in enumerate(rows, start=1):
		label = (row.get("label") or f"V{i}").strip()
		if label in labels:
			raise ValidationError(f"Variant label {label!r} is used twice")
		labels.add(label)
		weight = row.get("weight", 1)
		if weight is None or isinstance(weight, bool) or not isinstance(weight, int | float) or weight < 0:
			raise ValidationError(f"Variant {label!r}: weight must be a number >= 0")
		url = row.get("destination") or row.get("destination_url") or ""
		destination = normalize_destination(url, f"Variant {label!r} destination")
		variants.append(Variant(label, destination, float(weight)))
	if variants and not any(v.weight > 0 for v in variants):
		raise ValidationError("At least one variant needs a weight above 0")
	return tuple(variants)


def choose_variant(
	variants: Sequence[Variant],
	link_code: str,
	visitor_id: str | None = None,
	rng: random.Random | None = None,
) -> Variant | None:
	"""The variant a visitor sees: weighted, and the same one every time for the same visitor and link.

	With a visitor id the choice is a hash (BLAKE2b of link code and visitor id) mapped onto the
	cumulative weights, so it is sticky across requests and processes without storing anything, and
	changing one link's weights only moves the visitors whose point crosses a boundary. Without a
	visitor id (cookieless) it is a random weighted choice. None when there are no variants.
	"""
	live = [v for v in variants if v.weight > 0]
	if not live:
		return None
	if len(live) == 1:
		return live[0]
	total = sum(v.weight for v in live)
	if visitor_id:
		digest = hashlib.blake2b(f"{link_code}\x00{visitor_id}".encode(), digest_size=8).digest()
		point = int.from_bytes(digest, "big") / 2**64 * total
	else:
		point = (rng or _random).random() * total
	running = 0.0
	for variant in live:
		running += variant.weight
		if point < running:
			return variant
	return live[-1]


_random = random.SystemRandom()
