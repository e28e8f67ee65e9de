"""The one boundary for text a stranger sent (/r/ and collect): made inert, then fitted to its column.

Frappe sanitises text only when a document is saved through the ORM, and the desk renders read-only Data and
Small Text through `.html()`; the drain writes in bulk with raw SQL. So every guest string passes `fit` before
it is stored, and every other module may treat it as plain data.

Inert, per kind of column (chosen over escaping: an escaped `&lt;` reads as `&lt;` in inputs, CSV, the /crm
Vue pages and the PDF alike, while a neutralised value reads the same everywhere):
- text: `<` and `>` become U+2039/U+203A (no tag can start, the same test Frappe's own sanitiser uses), an
  `&` that could start a character reference (`&lt`, `&#60;`) becomes U+FF06 (no second decoding can make markup), and control
  and bidirectional-override characters go (no hidden or reversed text);
- url: only http(s); characters a browser would percent-encode anyway (`<>"'` and the backtick, spaces,
  controls, backslash) are percent-encoded, so the URL still works and cannot break out of an attribute;
- key: ids and names chosen by code, staff or validated upstream (document names, visitor ids, channels):
  refused, never changed, when longer than the column or holding markup or control characters;
- email: text rules, then refused (never cut) when longer than its column;
- json: a flat mapping whose keys and string values follow the text rules, refused when longer than its column.

Text and URLs longer than their column are cut (referrers, titles, user agents, UTM values); keys, emails and
JSON are refused with ValidationError, which the drain turns into a dead letter with its reason.
"""

import html
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote

from trackflow.engine.errors import ValidationError

TEXT, URL, KEY, EMAIL, JSON = "text", "url", "key", "email", "json"
# Frappe's defaults: Data and Link are varchar(140) unless a length is set; Small Text, Text and JSON are
# MariaDB TEXT (65,535 bytes: 16,383 characters of up to 4 bytes) or longer.
DATA_LENGTH = 140
TEXT_LENGTH = 16383


@dataclass(frozen=True, slots=True)
class Column:
	kind: str
	length: int


def _columns(**fields: tuple[str, int]) -> Mapping[str, Column]:
	return {name: Column(kind, length) for name, (kind, length) in fields.items()}


_STANDARD = {
	"name": (KEY, DATA_LENGTH),
	"owner": (KEY, DATA_LENGTH),
	"modified_by": (KEY, DATA_LENGTH),
}
_UTM = {f"utm_{k}": (TEXT, 255) for k in ("source", "medium", "campaign", "content", "term")}

# Every column the drain writes guest data into, with the limit the doctype JSON gives it (a test checks
# they agree). Small Text columns get a limit of their own, well inside TEXT, so a row stays small.
COLUMNS: Mapping[str, Mapping[str, Column]] = {
	"Click Event": _columns(
		**_STANDARD,
		tracked_link=(KEY, DATA_LENGTH),
		campaign=(KEY, DATA_LENGTH),
		variant=(TEXT, DATA_LENGTH),
		visitor_id=(KEY, 64),
		bot_reason=(TEXT, DATA_LENGTH),
		outcome=(KEY, DATA_LENGTH),
		redirected_to=(URL, 4096),
		ip_prefix=(KEY, 64),
		referrer=(URL, 1024),
		user_agent=(TEXT, 512),
		browser=(TEXT, DATA_LENGTH),
		os=(TEXT, DATA_LENGTH),
		device=(TEXT, DATA_LENGTH),
	),
	"TrackFlow Visitor": _columns(
		**_STANDARD,
		site=(KEY, DATA_LENGTH),
		consent=(KEY, DATA_LENGTH),
		crm_lead=(KEY, DATA_LENGTH),
		email=(EMAIL, DATA_LENGTH),
	),
	"TrackFlow Session": _columns(
		**_STANDARD,
		**_UTM,
		visitor=(KEY, DATA_LENGTH),
		site=(KEY, DATA_LENGTH),
		channel=(KEY, DATA_LENGTH),
		campaign=(KEY, DATA_LENGTH),
		landing_url=(URL, 2048),
		referrer=(URL, 2048),
		click_event=(KEY, DATA_LENGTH),
		click_ids=(JSON, 8192),
	),
	"TrackFlow Event": _columns(
		**_STANDARD,
		event_type=(KEY, DATA_LENGTH),
		event_name=(TEXT, DATA_LENGTH),
		visitor=(KEY, DATA_LENGTH),
		session=(KEY, DATA_LENGTH),
		site=(KEY, DATA_LENGTH),
		url=(URL, 2048),
		title=(TEXT, 512),
		properties=(JSON, 65535),
	),
	"Touchpoint": _columns(
		**_STANDARD,
		touch_type=(KEY, DATA_LENGTH),
		channel=(KEY, DATA_LENGTH),
		visitor=(KEY, DATA_LENGTH),
		crm_lead=(KEY, DATA_LENGTH),
		crm_deal=(KEY, DATA_LENGTH),
		session=(KEY, DATA_LENGTH),
		click_event=(KEY, DATA_LENGTH),
		tracked_link=(KEY, DATA_LENGTH),
		link_campaign=(KEY, DATA_LENGTH),
		source=(TEXT, 255),
		medium=(TEXT, 255),
		campaign_name=(TEXT, 255),
		content=(TEXT, 255),
		term=(TEXT, 255),
		referrer=(URL, 2048),
	),
	# A page's conversions, stored in bulk by the drain (trackflow.ledger.save_browser_conversions).
	"Conversion": _columns(
		**_STANDARD,
		conversion_type=(KEY, DATA_LENGTH),
		status=(KEY, DATA_LENGTH),
		currency=(KEY, DATA_LENGTH),
		company_currency=(KEY, DATA_LENGTH),
		crm_lead=(KEY, DATA_LENGTH),
		visitor=(KEY, DATA_LENGTH),
		source_doctype=(KEY, DATA_LENGTH),
		source_name=(KEY, DATA_LENGTH),
		idempotency_key=(KEY, 255),
		reported_by=(KEY, DATA_LENGTH),
		order_id=(TEXT, 140),
		flag_reason=(TEXT, TEXT_LENGTH),
		error=(TEXT, TEXT_LENGTH),
	),
	# The ledger copies each touch's source and medium (guest text) beside its keys.
	"Attribution Credit": _columns(
		**_STANDARD,
		conversion=(KEY, DATA_LENGTH),
		attribution_model=(KEY, DATA_LENGTH),
		conversion_type=(KEY, DATA_LENGTH),
		reported_by=(KEY, DATA_LENGTH),
		crm_lead=(KEY, DATA_LENGTH),
		crm_deal=(KEY, DATA_LENGTH),
		touchpoint=(KEY, DATA_LENGTH),
		channel=(KEY, DATA_LENGTH),
		campaign=(KEY, DATA_LENGTH),
		source=(TEXT, DATA_LENGTH),
		medium=(TEXT, DATA_LENGTH),
		currency=(KEY, DATA_LENGTH),
		company_currency=(KEY, DATA_LENGTH),
		engine_version=(KEY, DATA_LENGTH),
		model_spec=(TEXT, 4096),
		params_hash=(KEY, 64),
	),
	# The lead's and deal's marketing summary (trackflow/integrations/crm_custom_fields.json): touch values
	# come from guests through the journey.
	"CRM Summary": _columns(
		tf_first_touch_channel=(KEY, DATA_LENGTH),
		tf_first_touch_source=(TEXT, DATA_LENGTH),
		tf_first_touch_medium=(TEXT, DATA_LENGTH),
		tf_first_touch_campaign=(KEY, DATA_LENGTH),
		tf_last_touch_channel=(KEY, DATA_LENGTH),
		tf_last_touch_source=(TEXT, DATA_LENGTH),
		tf_last_touch_medium=(TEXT, DATA_LENGTH),
		tf_last_touch_campaign=(KEY, DATA_LENGTH),
		tf_visitor=(KEY, DATA_LENGTH),
		tf_attributed_campaign=(KEY, DATA_LENGTH),
	),
}

_NONE = type(None)
_JSON_SCALARS = frozenset((str, int, float, bool, _NONE))
_MARKUP = str.maketrans({"<": "\u2039", ">": "\u203a"})
_AMPERSANDS = re.compile(r"&[^&]*")
# C0/C1 controls (tab and newlines kept), zero-width and bidirectional controls, lone surrogates.
_INVISIBLE = re.compile(
	"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff\ud800-\udfff]"
)
_URL_SCHEME = re.compile(r"[hH][tT][tT][pP][sS]?://")
# What stays as is in a URL: printable ASCII except the characters that could end an attribute or start a
# tag (and `%`, which is kept so existing escapes stay escapes); everything else is percent-encoded.
_URL_SAFE = "!#$%&()*+,-./:;=?@[]^_{|}~"
# What a key may not hold: markup, controls, zero-width and bidirectional characters, lone surrogates.
_KEY_FORBIDDEN = re.compile(
	"[<>\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff\ud800-\udfff]"
)
# The printable ASCII characters inert_url percent-encodes (everything else printable is URL-safe).
_URL_UNSAFE = re.compile(r"[ \"'<>\\`]")


def inert_text(value: str) -> str:
	"""Free text that no browser can read as markup, whatever page inserts it as HTML."""
	if value.isascii() and value.isprintable() and "<" not in value and ">" not in value and "&" not in value:
		return value
	value = _INVISIBLE.sub("", value).translate(_MARKUP)
	if "&" in value and html.unescape(value) != value:
		value = _AMPERSANDS.sub(_neutral_reference, value)
	return value


def _neutral_reference(match: re.Match) -> str:
	"""`&...` up to the next `&`: its `&` becomes U+FF06 when a browser would decode a character reference
	there (HTML5 rules, which html.unescape follows: `&lt`, `&#60;`, `&ltx`), else it stays (`R&D`)."""
	segment = match.group()
	return "\uff06" + segment[1:] if html.unescape(segment) != segment else segment


def inert_url(value: str) -> str | None:
	"""An http(s) URL with every character outside the URL-safe set percent-encoded; None for any other
	scheme (`javascript:`, `data:`, app links): such a value is never stored as a URL."""
	value = value.strip()
	if not _URL_SCHEME.match(value):
		return None
	return quote(_INVISIBLE.sub("", value), safe=_URL_SAFE)


def _cut_url(value: str, length: int) -> str:
	"""Cut an encoded URL without splitting a %XX escape."""
	value = value[:length]
	tail = value.rfind("%", max(0, len(value) - 2))
	return value[:tail] if tail != -1 else value


def inert_json(value, length: int, what: str) -> str | None:
	"""A flat mapping (or its JSON text) as compact JSON whose strings are inert text."""
	if isinstance(value, str):
		try:
			value = json.loads(value)
		except ValueError:
			raise ValidationError(f"{what} is not JSON")
	if value is None:
		return None
	if not isinstance(value, Mapping):
		raise ValidationError(f"{what} must be an object")
	if all(type(item) in _JSON_SCALARS for item in value.values()) and all(type(k) is str for k in value):
		text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
		# json escapes control characters as \\u00XX: such text takes the slow path too
		if (
			"<" not in text
			and ">" not in text
			and "&" not in text
			and "\\u" not in text
			and not _INVISIBLE.search(text)
		):
			if len(text) > length:
				raise ValidationError(f"{what} longer than {length} characters")
			return text  # nothing to neutralise: what the slow path below would give
	clean = {
		inert_text(str(k)): inert_text(v) if isinstance(v, str) else v
		for k, v in value.items()
		if v is None or isinstance(v, str | int | float | bool)
	}
	text = json.dumps(clean, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
	if len(text) > length:
		raise ValidationError(f"{what} longer than {length} characters")
	return text


def fit_value(column: Column, value, what: str = "value"):
	"""One value made inert and fitted to `column`; values that are not text pass unchanged."""
	return _fitter(column, what)(value)


@lru_cache(maxsize=512)
def _fitter(column: Column, what: str) -> Callable:
	"""The function that fits values to `column` (built once per column: the drain calls it per cell).
	Plain printable ASCII that needs no change takes a fast path; anything else goes through inert_*."""
	kind, length = column.kind, column.length
	if kind == JSON:
		return lambda value: inert_json(value, length, what) if value not in (None, "") else None

	if kind == KEY:

		def fit_key(value):
			if value.__class__ is str and (len(value) > length or _KEY_FORBIDDEN.search(value)):
				raise ValidationError(f"{what} is not a valid key")
			return value

		return fit_key

	if kind == URL:

		def fit_url(value):
			if value.__class__ is not str:
				return value
			if (
				value.isascii()
				and value.isprintable()
				and _URL_SCHEME.match(value)
				and not _URL_UNSAFE.search(value)
			):
				url = value  # what inert_url would return unchanged
			else:
				url = inert_url(value)
				if url is None:
					return None
			return url if len(url) <= length else _cut_url(url, length)

		return fit_url

	def fit_text(value):
		if value.__class__ is not str:
			return value
		if not (value.isascii() and value.isprintable()) or "<" in value or ">" in value or "&" in value:
			value = inert_text(value)
		if len(value) <= length:
			return value
		if kind == EMAIL:
			raise ValidationError(f"{what} longer than {length} characters")
		return value[:length]

	return fit_text


def _undeclared(what: str) -> Callable:
	def passthrough(value):
		if isinstance(value, str | Mapping):
			raise ValidationError(f"{what} is not a declared guest column")
		return value

	return passthrough


def fit(doctype: str, row: Mapping[str, object]) -> dict:
	"""`row` (column -> value) ready to store in `doctype`; ValidationError names what cannot be stored. A
	text column the boundary does not know is refused: every guest column is declared in COLUMNS."""
	fitters = _row_fitters(doctype, tuple(row))
	return {field: fit_one(value) for (field, value), fit_one in zip(row.items(), fitters, strict=True)}


def fit_rows(doctype: str, fields: Sequence[str], rows: Iterable[Sequence]) -> list[list]:
	"""`fit` for the drain's positional rows (one list of values per row, in `fields` order).

	Column by column: a column whose text all passes as is (the common case) is checked in one go at C
	speed, on its values joined; only a column with something to change is fitted value by value."""
	rows = list(rows)
	if not rows:
		return []
	if any(len(row) != len(fields) for row in rows):
		raise ValueError(f"{doctype}: every row needs {len(fields)} values")
	columns = COLUMNS[doctype]
	by_column = list(zip(*rows, strict=True))
	for index, field in enumerate(fields):
		column = columns.get(field)
		if column is None:
			if not any(issubclass(kind, str | Mapping) for kind in set(map(type, by_column[index]))):
				continue  # dates, numbers, None: not guest text
		elif _passes_as_is(column, by_column[index]):
			continue
		fit_one = _row_fitters(doctype, (field,))[0]
		by_column[index] = list(map(fit_one, by_column[index]))
	return [list(row) for row in zip(*by_column, strict=True)]


def _passes_as_is(column: Column, values: Sequence) -> bool:
	"""True when fitting would leave every value of the column unchanged and raise nothing."""
	kinds = set(map(type, values))
	if column.kind == JSON or not kinds <= {str, _NONE}:
		return kinds <= {_NONE}
	texts = list(filter(None, values)) if _NONE in kinds else values
	if not texts:
		return True
	if max(map(len, texts)) > column.length:
		return False
	joined = "".join(texts)
	if column.kind == KEY:
		return not _KEY_FORBIDDEN.search(joined)
	if not (joined.isascii() and joined.isprintable()):
		return False
	if column.kind == URL:
		return not _URL_UNSAFE.search(joined) and all(
			text.startswith(("https://", "http://")) for text in texts
		)
	return "<" not in joined and ">" not in joined and "&" not in joined


@lru_cache(maxsize=256)
def _row_fitters(doctype: str, fields: tuple[str, ...]) -> tuple[Callable, ...]:
	columns = COLUMNS[doctype]
	return tuple(
		_fitter(columns[field], f"{doctype}.{field}")
		if field in columns
		else _undeclared(f"{doctype}.{field}")
		for field in fields
	)
