"""CSV readers for the CLI: touchpoints, conversions and ChannelAttribution-style aggregated paths."""

from __future__ import annotations

import codecs
import csv
import gc
import io
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import partial
from itertools import compress, pairwise, repeat
from operator import itemgetter, not_
from pathlib import Path
from typing import TextIO, TypeVar

from trackflow.engine.attribution.journeys import Journey
from trackflow.engine.attribution.types import Conversion, PathStats, PathTable, Touchpoint, kept_rows
from trackflow.engine.errors import ValidationError
from trackflow.engine.money import minor_units
from trackflow.engine.parallel import fork_map

T = TypeVar("T")
TOUCHPOINT_COLUMNS = ("journey_id", "timestamp", "channel")
CONVERSION_COLUMNS = ("journey_id", "timestamp", "value")
PATH_COLUMNS = ("path", "total_conversions", "total_conversion_value", "total_null")
# Money and counts stay well inside Decimal's 28 digits, so sums over millions of rows remain exact.
MAX_VALUE = Decimal(10) ** 15
MAX_VALUE_TEXT = "10^15"
# Timestamps stay where a lookback window of up to a century can be subtracted from them.
FIRST_YEAR, LAST_YEAR = 1900, 2999


def _rows(
	handle: TextIO, name: str, required: tuple[str, ...], delimiter: str = ","
) -> Iterator[tuple[int, dict]]:
	reader = csv.DictReader(handle, delimiter=delimiter)
	header = [h.strip() for h in reader.fieldnames or ()]
	reader.fieldnames = header
	missing = [c for c in required if c not in header]
	if missing:
		raise ValidationError(
			f"{name}: missing column {missing[0]!r} (columns needed: {', '.join(required)})"
		)
	for number, row in enumerate(reader, start=2):
		yield number, {k: (v or "").strip() for k, v in row.items() if k is not None}


def _timestamp(text: str, where: str) -> datetime:
	try:
		value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
	except ValueError:
		raise ValidationError(f"{where}: field timestamp: {text!r} is not an ISO 8601 timestamp")
	if value.tzinfo is None:
		raise ValidationError(f"{where}: field timestamp: {text!r} has no timezone (add Z or +hh:mm)")
	if not FIRST_YEAR <= value.year <= LAST_YEAR:
		raise ValidationError(
			f"{where}: field timestamp: {text!r} is not between the years {FIRST_YEAR} and {LAST_YEAR}"
		)
	return value


def _required(row: dict, field: str, where: str) -> str:
	if not row.get(field):
		raise ValidationError(f"{where}: field {field}: empty")
	return row[field]


def read_journeys(touchpoints: Path, conversions: Path) -> list[Journey]:
	"""Journeys from TP.csv (journey_id,timestamp,channel[,touchpoint_id,source,medium,campaign,milestone])
	and CV.csv (journey_id,timestamp,value[,conversion_id,currency]); journeys without a conversion row are
	non-converting. Errors name the file, row and field; a file that is not comma-separated UTF-8 CSV
	text is refused with what it seems to be instead."""
	touches = _read_touchpoints(touchpoints)
	converted = _read_conversions(conversions)
	ids = sorted(set(touches) | set(converted))
	return [Journey(j, tuple(touches.get(j, ())), tuple(converted.get(j, ()))) for j in ids]


def _read_touchpoints(touchpoints: Path) -> dict[str, list[Touchpoint]]:
	header = check_text_file(touchpoints, TOUCHPOINT_COLUMNS)
	_separator_hint(touchpoints, header, TOUCHPOINT_COLUMNS)
	touches = None
	with reading(touchpoints), gc_paused():
		try:
			touches = _touchpoints_plain(_text(touchpoints))
		except UnicodeDecodeError:
			pass  # the csv reader names the row
	return _touchpoints_csv(touchpoints) if touches is None else touches


ASCII_WHITESPACE = " \t\x0b\x0c\x1c\x1d\x1e\x1f"


def _touchpoints_plain(text: str) -> dict[str, list[Touchpoint]] | None:
	"""The touches of a plain-shaped TP.csv by journey, read column by column with str methods (each
	distinct timestamp and milestone text parsed once), or None when the csv module must read it: quotes,
	a row with more or fewer fields, an empty or unparsable required field, a repeated touchpoint id. The
	csv reader then gives the same touches or names the row and field that is wrong."""
	if "\r" in text:
		text = text.replace("\r\n", "\n")
	if '"' in text or "\r" in text or "\0" in text:
		return None
	header, _, body = text.partition("\n")
	del text
	names = [name.strip() for name in header.split(",")]
	if len(set(names)) != len(names) or not all(c in names for c in TOUCHPOINT_COLUMNS):
		return None
	lines = body.split("\n")
	del body
	if lines and not lines[-1]:
		lines.pop()
	if "" in lines:
		lines = list(filter(None, lines))  # the csv module skips empty lines
	width = len(names)
	if lines and set(map(str.count, lines, repeat(","))) != {width - 1}:
		return None
	count = len(lines)
	fields = ",".join(lines).split(",") if lines else []
	del lines
	columns = {name: fields[i::width] for i, name in enumerate(names)}
	joined = "".join(fields)
	if not joined.isascii() or any(c in joined for c in ASCII_WHITESPACE):  # strip as the csv reader does
		columns = {name: list(map(str.strip, column)) for name, column in columns.items()}
	del fields, joined
	journeys, stamps, channels = (columns[c] for c in TOUCHPOINT_COLUMNS)
	if "" in journeys or "" in stamps or "" in channels:
		return None
	try:
		parsed = {text: _timestamp(text, "") for text in dict.fromkeys(stamps)}
	except ValidationError:
		return None
	timestamps = list(map(parsed.__getitem__, stamps))
	empty = frozenset()
	milestones = repeat(empty, count)
	if "milestone" in columns:
		spellings = {}
		for text in dict.fromkeys(columns["milestone"]):
			found = frozenset(m.strip() for m in text.split("|") if m.strip())
			if found - {"lead", "opportunity", "won"}:
				return None
			spellings[text] = found or empty
		milestones = map(spellings.__getitem__, columns["milestone"])
	ids = columns.get("touchpoint_id")
	generated = list(map("{}#{:09d}".format, journeys, range(2, count + 2)))
	if ids is not None:
		ids = [given or made for given, made in zip(ids, generated, strict=True)]
		if len(set(zip(journeys, ids, strict=True))) != count:
			return None
	else:
		ids = generated
	optional = [
		[value or None for value in columns[name]] if name in columns else repeat(None, count)
		for name in ("source", "medium", "campaign")
	]
	touches: dict[str, list[Touchpoint]] = defaultdict(list)
	made = Touchpoint.checked(ids, timestamps, channels, *optional, milestones)
	for journey, touch in zip(journeys, made, strict=True):
		touches[journey].append(touch)
	return touches


def _touchpoints_csv(touchpoints: Path) -> dict[str, list[Touchpoint]]:
	touches: dict[str, list[Touchpoint]] = defaultdict(list)
	first_row: dict[tuple[str, str], int] = {}
	with reading(touchpoints) as at, open(touchpoints, newline="", encoding="utf-8-sig") as handle:
		for number, row in _rows(handle, str(touchpoints), TOUCHPOINT_COLUMNS):
			at.row = number
			where = f"{touchpoints}: row {number}"
			journey = _required(row, "journey_id", where)
			milestones = frozenset(m.strip() for m in row.get("milestone", "").split("|") if m.strip())
			bad = milestones - {"lead", "opportunity", "won"}
			if bad:
				raise ValidationError(
					f"{where}: field milestone: {sorted(bad)[0]!r} is not lead, opportunity or won"
				)
			touch_id = row.get("touchpoint_id") or f"{journey}#{number:09d}"
			if (journey, touch_id) in first_row:
				raise ValidationError(
					f"{where}: field touchpoint_id: {touch_id!r} is already in row {first_row[journey, touch_id]}"
					f" of journey {journey!r}"
				)
			first_row[journey, touch_id] = number
			touches[journey].append(
				Touchpoint(
					id=touch_id,
					timestamp=_timestamp(_required(row, "timestamp", where), where),
					channel=_required(row, "channel", where),
					source=row.get("source") or None,
					medium=row.get("medium") or None,
					campaign=row.get("campaign") or None,
					milestones=milestones,
				)
			)
	return touches


def _read_conversions(conversions: Path) -> dict[str, list[Conversion]]:
	converted: dict[str, list[Conversion]] = defaultdict(list)
	first_currency: tuple[str, int] | None = None
	header = check_text_file(conversions, CONVERSION_COLUMNS)
	_separator_hint(conversions, header, CONVERSION_COLUMNS)
	with reading(conversions) as at, open(conversions, newline="", encoding="utf-8-sig") as handle:
		for number, row in _rows(handle, str(conversions), CONVERSION_COLUMNS):
			at.row = number
			where = f"{conversions}: row {number}"
			journey = _required(row, "journey_id", where)
			currency = (row.get("currency") or "USD").upper()
			if first_currency is None:
				first_currency = (currency, number)
			elif currency != first_currency[0]:
				raise ValidationError(
					f"{where}: field currency: {currency} differs from {first_currency[0]} in row"
					f" {first_currency[1]} (values in several currencies cannot be added up)"
				)
			value = money_field(
				_required(row, "value", where), f"{where}: field value", minor_units(currency)
			)
			try:
				conversion = Conversion(
					id=row.get("conversion_id") or f"{journey}#{number:09d}",
					timestamp=_timestamp(_required(row, "timestamp", where), where),
					value=value,
					currency=currency,
				)
			except ValidationError as error:
				raise ValidationError(f"{where}: {error}")
			converted[journey].append(conversion)
	return converted


def money_field(text: str, where: str, places: int) -> Decimal:
	"""A money value read from text: a finite number >= 0, below MAX_VALUE, with at most `places`
	decimals (the currency's minor unit)."""
	try:
		value = Decimal(text)
	except InvalidOperation:
		raise ValidationError(f"{where}: {text!r} is not a number") from None
	if not value.is_finite() or value < 0:
		raise ValidationError(f"{where}: {text} is negative or not finite")
	if value >= MAX_VALUE:
		raise ValidationError(f"{where}: {text} is too large (values must be below {MAX_VALUE_TEXT})")
	if value != value.quantize(Decimal(1).scaleb(-places)):
		raise ValidationError(f"{where}: {text} has more than {places} decimal places for its currency")
	return value


class _Position:
	row: int | None = None


@contextmanager
def reading(path: Path) -> Iterator[_Position]:
	"""Turn what a reader of `path` may raise on a broken file (bytes that are not UTF-8, an endless
	line, a number no arithmetic can hold) into a ValidationError naming the file and the last row read
	(set `.row` on the yielded object)."""
	at = _Position()
	try:
		yield at
	except ValidationError:
		raise
	except (UnicodeError, csv.Error, ArithmeticError, MemoryError, RecursionError) as error:
		where = f"{path}: after row {at.row}" if at.row else str(path)
		raise ValidationError(f"{where}: {_describe(error)}") from None


def _describe(error: BaseException) -> str:
	if isinstance(error, UnicodeDecodeError):
		return f"byte 0x{error.object[error.start]:02x} is not UTF-8: {SAVE_AS_UTF8}"
	if isinstance(error, csv.Error):
		if "field limit" in str(error):
			return f"{error} (a field or line of more than {csv.field_size_limit():,} characters: is it CSV?)"
		return str(error)
	if isinstance(error, MemoryError):
		return "too large to read into memory"
	if isinstance(error, RecursionError):
		return "nested too deeply to read"
	return f"a number is too large or malformed ({type(error).__name__})"


SAVE_AS_UTF8 = "save it as UTF-8 CSV (Excel: 'CSV UTF-8'; UTF-8 with a BOM is fine)"
_BOMS = (
	(codecs.BOM_UTF32_LE, "UTF-32"),
	(codecs.BOM_UTF32_BE, "UTF-32"),
	(codecs.BOM_UTF16_LE, "UTF-16 (Excel's 'Unicode Text')"),
	(codecs.BOM_UTF16_BE, "UTF-16 (Excel's 'Unicode Text')"),
)
SNIFF_BYTES = 65536


def check_text_file(path: Path, columns: tuple[str, ...]) -> str:
	"""The header line of `path` after checking that the file looks like UTF-8 text: not empty, no
	UTF-16/32 byte order mark, no NUL bytes, its first 64 KiB valid UTF-8 (the rest is checked as it
	is read). Raises ValidationError saying what the file seems to be instead; OSError as open() does."""
	with open(path, "rb") as handle:
		head = handle.read(SNIFF_BYTES)
	if not head.strip():
		raise ValidationError(
			f"{path}: the file is empty (the first line must name the columns: {', '.join(columns)}...)"
		)
	for bom, name in _BOMS:
		if head.startswith(bom):
			raise ValidationError(f"{path}: the encoding is {name}, not UTF-8: {SAVE_AS_UTF8}")
	if b"\0" in head:
		raise ValidationError(
			f"{path}: the file contains NUL bytes (UTF-16 text or a binary file?), not UTF-8 text: {SAVE_AS_UTF8}"
		)
	decoder = codecs.getincrementaldecoder("utf-8-sig")()
	try:
		text = decoder.decode(head, final=False)
	except UnicodeDecodeError as error:
		line = head.count(b"\n", 0, error.start) + 1
		raise ValidationError(
			f"{path}: line {line}: byte 0x{head[error.start]:02x} is not UTF-8"
			f" (Latin-1 or Windows-1252?): the encoding is not UTF-8: {SAVE_AS_UTF8}"
		) from None
	return text.splitlines()[0] if text else ""


def _separator_hint(path: Path, header: str, columns: tuple[str, ...]) -> None:
	names = [c.strip() for c in header.split(",")]
	if columns[0] not in names and ";" in header and columns[0] in [c.strip() for c in header.split(";")]:
		raise ValidationError(
			f"{path}: the header is semicolon-separated; this file must be comma-separated"
			f" (columns {', '.join(columns)}...)"
		)


def read_path_table(
	path: Path,
	separator: str = ">",
	delimiter: str = ";",
	converting_only: bool = False,
	places: int | None = None,
	processes: int = 1,
) -> PathTable:
	"""Aggregated paths in ChannelAttribution's format: path;total_conversions;total_conversion_value;total_null
	(path "a > b > c"; the value and null columns may be absent), as a PathTable.

	With `converting_only`, rows without conversions or value (all a rule-based model reads) are checked
	but left out, except the first row of each spelling of a zero value, so that summing the values
	keeps their decimal places. With `places`, a value with more decimals, or any number of MAX_VALUE or
	more, is refused. Files of the plain shape (no quotes, one field per column on every row, numbers
	that parse and fit) are read column by column with str methods; anything else, including every bad
	row, goes through the csv module row by row, which gives the same rows or names the file, row and
	field that is wrong. A plain file of PARALLEL_BYTES or more is read by up to `processes` forked
	processes (see read_path_runs)."""
	runs = read_path_runs(path, separator, delimiter, converting_only, places, processes)
	return PathTable.concat(runs)


def read_path_runs(
	path: Path,
	separator: str = ">",
	delimiter: str = ";",
	converting_only: bool = False,
	places: int | None = None,
	processes: int = 1,
	each: Callable[[PathTable], T] | None = None,
) -> list[T]:
	"""The table of `path` (see read_path_table) in runs of lines, each passed through `each` where it
	was read: a plain file of PARALLEL_BYTES or more is read by up to `processes` forked processes, a
	run each (so `each` should return something small or compact to pickle); otherwise one run here."""
	each = each or _itself
	path = Path(path)
	with gc_paused():
		if processes > 1 and path.stat().st_size >= PARALLEL_BYTES:
			results = _paths_parallel(path, separator, delimiter, converting_only, places, processes, each)
			if results is not None:
				return results
			table = None  # a run that is not plain: the csv module reads the file and names what is wrong
		else:
			table = _paths_plain(_text(path), separator, delimiter, converting_only, places)
		if table is None:
			rows = _paths_csv(io.StringIO(_text(path), newline=""), str(path), separator, delimiter, places)
			table = PathTable.from_rows(rows)
			if converting_only:
				table = table.take(table.kept())
		return [each(table)]


def _itself(table: PathTable) -> PathTable:
	return table


def read_paths(
	path: Path, separator: str = ">", delimiter: str = ";", converting_only: bool = False
) -> list[PathStats]:
	"""The rows of `read_path_table` as PathStats."""
	return read_path_table(path, separator, delimiter, converting_only).rows()


PARALLEL_BYTES = 4 << 20  # below this, forking costs more than it saves


def _paths_parallel(
	path: Path,
	separator: str,
	delimiter: str,
	converting_only: bool,
	places: int | None,
	processes: int,
	each: Callable[[PathTable], T],
) -> list[T] | None:
	"""each(_paths_plain(run)) for `processes` runs of whole lines, each process reading and decoding
	its own bytes of the file (fork_map). None if any run is not plain UTF-8 text."""
	size = path.stat().st_size
	with open(path, "rb") as handle:
		first = handle.readline()
		cuts = [handle.tell()]
		for k in range(1, processes):
			handle.seek(max(cuts[-1], cuts[0] + (size - cuts[0]) * k // processes))
			handle.readline()  # to the end of the line cut through
			if handle.tell() < size:
				cuts.append(handle.tell())
	cuts.append(size)
	try:
		header = first.decode("utf-8-sig").rstrip("\r\n")
	except UnicodeDecodeError:
		return None
	read = partial(_paths_run, path, header, separator, delimiter, converting_only, places, each)
	results = fork_map(read, list(pairwise(cuts)))
	return None if any(result is None for result in results) else results


def _paths_run(
	path: Path,
	header: str,
	separator: str,
	delimiter: str,
	converting_only: bool,
	places: int | None,
	each: Callable[[PathTable], T],
	run: tuple[int, int],
) -> T | None:
	"""each(_paths_plain(...)) of the lines from byte run[0] to run[1] of `path` under `header`, or None
	if they are not plain UTF-8 text."""
	with open(path, "rb") as handle:
		handle.seek(run[0])
		data = handle.read(run[1] - run[0])
	try:
		text = data.decode("utf-8")
	except UnicodeDecodeError:
		return None
	del data
	table = _paths_plain(f"{header}\n{text}", separator, delimiter, converting_only, places)
	return None if table is None else each(table)


def _text(path: Path) -> str:
	with open(path, newline="", encoding="utf-8-sig") as handle:
		return handle.read()


@contextmanager
def gc_paused() -> Iterator[None]:
	"""No cyclic garbage collection inside: building a million tuples and strings (none in a cycle)
	would otherwise trigger collections that rescan every object made so far, doubling the time."""
	enabled = gc.isenabled()
	gc.disable()
	try:
		yield
	finally:
		if enabled:
			gc.enable()


ZERO = Decimal(0)


def _paths_plain(
	text: str, separator: str, delimiter: str, converting_only: bool = False, places: int | None = None
) -> PathTable | None:
	"""The table of a plain-shaped paths file, or None when the csv module must read it (see read_path_table)."""
	if len(delimiter) != 1 or delimiter in '\r\n"\0' or not separator:
		return None
	if "\r" in text:
		text = text.replace("\r\n", "\n")
	if '"' in text or "\r" in text or "\0" in text:
		return None
	header, _, body = text.partition("\n")
	del text  # the parts below are freed as soon as the next is built: peak memory, and time to map it
	names = [name.strip() for name in header.split(delimiter)]
	if not header or len(set(names)) != len(names) or not all(c in names for c in PATH_COLUMNS[:2]):
		return None
	lines = body.split("\n")
	if not lines[-1]:
		lines.pop()  # the final newline
	if "" in lines:
		lines = list(filter(None, lines))  # the csv module skips empty lines
	del body
	if not lines:
		return PathTable((), [], [], [], [])
	width = len(names)
	if set(map(str.count, lines, repeat(delimiter))) != {width - 1}:
		return None
	count = len(lines)
	fields = delimiter.join(lines).split(delimiter)
	del lines
	columns = {name: fields[i::width] for i, name in enumerate(names)}
	del fields
	limit = None if places is None else MAX_VALUE
	texts = columns["path"]
	conversions = _counts(columns["total_conversions"], limit)
	value_texts = columns.get("total_conversion_value")
	values = [ZERO] * count if value_texts is None else _decimals(value_texts, places)
	null_texts = columns.get("total_null")
	if conversions is None or values is None:
		return None
	nulls = [0] * count if null_texts is None else _counts(null_texts, limit)
	if nulls is None:
		return None
	if separator != separator.strip():
		texts = list(map(str.strip, texts))
	if converting_only and _no_blank_channel(texts, separator):
		# Every path is valid: encode only the rows kept.
		kept = kept_rows(conversions, values)
		texts, conversions, values, nulls = (
			[column[i] for i in kept] for column in (texts, conversions, values, nulls)
		)
		converting_only = False
	encoded = _encode(texts, separator)  # also the check that no path has a blank channel
	if encoded is None:
		return None
	table = PathTable(*encoded, conversions, values, nulls)
	if converting_only:
		table = table.take(table.kept())
	return table


OTHER_WHITESPACE = "\t\x0b\x0c\r\x1c\x1d\x1e\x1f"


def _no_blank_channel(texts: list[str], separator: str) -> bool:
	"""True when no path in `texts` has an empty or blank channel, False when one has or it cannot tell
	(non-ASCII text, whitespace other than spaces). Without building the channels: the ASCII text of the
	paths, one per line, with its spaces deleted and every separator turned into a line break has two
	line breaks in a row exactly where a channel is blank."""
	if len(separator) != 1 or not separator.isascii() or separator.isspace() or not texts:
		return False
	joined = "\n".join(texts)
	if not joined.isascii() or any(c in joined for c in OTHER_WHITESPACE):
		return False
	layout = joined.encode("ascii").translate(bytes.maketrans(separator.encode(), b"\n"), b" ")
	return b"\n\n" not in b"\n" + layout + b"\n"


ENCODE_ROWS = 16384  # rows split at a time: the tokens of one chunk, not of the file, are alive at once


def _encode(texts: list[str], separator: str) -> tuple[tuple[str, ...], list[str]] | None:
	"""The channels and each path text as a string of their codes (see PathTable; codes numbered in
	order of first appearance), or None when a path has an empty or blank channel.

	The paths are split a chunk at a time: one str.split of the joined texts (a NUL token between
	paths), at " > " when that splits every path (spellings then need no stripping and are few), else
	at the bare separator; each new spelling is stripped once, the tokens mapped to codes by one dict
	lookup each (bytes while the codes fit in one) and the code string split back into rows at NUL."""
	spaced = f" {separator} "
	for split_at in (spaced, separator) if separator == separator.strip() else (separator,):
		codes: dict[str, int] = {}  # channel -> code
		index: dict[str, int] = {"\0": 0}  # spelling -> code
		pieces: list[bytes | str] = []
		for start in range(0, len(texts), ENCODE_ROWS):
			tokens = f"{split_at}\0{split_at}".join(texts[start : start + ENCODE_ROWS]).split(split_at)
			if len(codes) < 256:
				try:
					pieces.append(bytes(map(index.__getitem__, tokens)))
					continue
				except (KeyError, ValueError):
					pass
			for raw in dict.fromkeys(tokens):
				if raw not in index:
					name = raw.strip()
					if not name or (split_at == spaced and separator in raw):
						break  # a blank channel, or "a >b": try the bare separator
					index[raw] = codes.setdefault(name, len(codes) + 1)
			else:
				if len(codes) < 256:
					pieces.append(bytes(map(index.__getitem__, tokens)))
				else:  # more than 255 channels: one character per code
					pieces.append("".join(map(chr, map(index.__getitem__, tokens))))
				continue
			break
		else:
			text = "\0".join(p if isinstance(p, str) else p.decode("latin-1") for p in pieces)
			return tuple(codes), text.split("\0")
		if split_at != spaced or not name:
			return None
	return None


def _decimals(texts: list[str], places: int | None = None) -> list[Decimal] | None:
	"""Finite, non-negative Decimals of `texts` (empty is 0), or None if any is not (or, with `places`,
	has more decimals or is MAX_VALUE or more). Each distinct text is parsed once (most rows of a paths
	file have the same zero value)."""
	distinct = dict.fromkeys(texts)
	try:
		parsed = list(map(Decimal, distinct))
	except InvalidOperation:
		try:
			parsed = [Decimal(t.strip() or "0") for t in distinct]
		except InvalidOperation:
			return None
	if not all(map(Decimal.is_finite, parsed)) or min(parsed) < 0:
		return None
	if places is not None:
		if max(parsed) >= MAX_VALUE:
			return None
		unit = Decimal(1).scaleb(-places)
		if not all(map(Decimal.__eq__, parsed, map(Decimal.quantize, parsed, repeat(unit)))):
			return None
	return list(map(dict(zip(distinct, parsed, strict=True)).__getitem__, texts))


def _counts(texts: list[str], limit: Decimal | None = None) -> list[float] | None:
	"""Conversion or null counts of `texts` as _plain gives them (int when whole), or None if any is bad
	(or `limit` or more)."""
	try:
		numbers = list(map(int, texts))
	except ValueError:
		decimals = _decimals(texts)
		numbers = None if decimals is None else list(map(_plain, decimals))
	if numbers is None or min(numbers) < 0 or (limit is not None and max(numbers) >= limit):
		return None
	return numbers


def _paths_csv(
	handle: TextIO, name: str, separator: str, delimiter: str, places: int | None = None
) -> list[PathStats]:
	rows = []
	for number, row in _rows(handle, name, PATH_COLUMNS[:2], delimiter=delimiter):
		where = f"{name}: row {number}"
		channels = tuple(c.strip() for c in _required(row, "path", where).split(separator))
		if not all(channels):
			raise ValidationError(f"{where}: field path: empty channel in {row['path']!r}")
		numbers = []
		for field in ("total_conversions", "total_conversion_value", "total_null"):
			text = row.get(field) or "0"
			try:
				number_value = Decimal(text)
			except InvalidOperation:
				raise ValidationError(f"{where}: field {field}: {text!r} is not a number")
			if not number_value.is_finite() or number_value < 0:
				raise ValidationError(f"{where}: field {field}: {text} is negative or not finite")
			if places is not None and number_value >= MAX_VALUE:
				what = "values" if field == "total_conversion_value" else "counts"
				raise ValidationError(
					f"{where}: field {field}: too large ({what} must be below {MAX_VALUE_TEXT})"
				)
			numbers.append(number_value)
		conversions, value, nulls = numbers
		if places is not None and value != value.quantize(Decimal(1).scaleb(-places)):
			raise ValidationError(
				f"{where}: field total_conversion_value: {row['total_conversion_value']} has more than"
				f" {places} decimal places"
			)
		rows.append(PathStats(channels, _plain(conversions), value, _plain(nulls)))
	return rows


def _plain(number: Decimal) -> float:
	if number.adjusted() > 18:  # int() of 1e999999 takes half a minute; the CLI refuses such counts
		return float(number)
	return int(number) if number == number.to_integral_value() else float(number)
