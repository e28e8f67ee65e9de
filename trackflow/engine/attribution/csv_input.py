"""CSV readers for the CLI: touchpoints, conversions and ChannelAttribution-style aggregated paths."""

from __future__ import annotations

import csv
import gc
import io
import sys
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal, InvalidOperation
from itertools import compress, repeat
from operator import itemgetter, not_
from pathlib import Path
from typing import TextIO

from trackflow.engine.attribution.journeys import Journey
from trackflow.engine.attribution.types import Conversion, PathStats, Touchpoint
from trackflow.engine.errors import ValidationError

TOUCHPOINT_COLUMNS = ("journey_id", "timestamp", "channel")
CONVERSION_COLUMNS = ("journey_id", "timestamp", "value")
PATH_COLUMNS = ("path", "total_conversions", "total_conversion_value", "total_null")


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
	return value


def _required(row: dict, field: str, where: str) -> str:
	if not row.get(field):
		raise ValidationError(f"{where}: field {field}: empty")
	return row[field]


def read_journeys(touchpoints: Path, conversions: Path) -> list[Journey]:
	"""Journeys from TP.csv (journey_id,timestamp,channel[,touchpoint_id,source,medium,campaign,milestone])
	and CV.csv (journey_id,timestamp,value[,conversion_id,currency]); journeys without a conversion row are
	non-converting. Errors name the file, row and field."""
	touches: dict[str, list[Touchpoint]] = defaultdict(list)
	with open(touchpoints, newline="", encoding="utf-8-sig") as handle:
		for number, row in _rows(handle, str(touchpoints), TOUCHPOINT_COLUMNS):
			where = f"{touchpoints}: row {number}"
			journey = _required(row, "journey_id", where)
			milestones = frozenset(m.strip() for m in row.get("milestone", "").split("|") if m.strip())
			bad = milestones - {"lead", "opportunity", "won"}
			if bad:
				raise ValidationError(
					f"{where}: field milestone: {sorted(bad)[0]!r} is not lead, opportunity or won"
				)
			touches[journey].append(
				Touchpoint(
					id=row.get("touchpoint_id") or f"{journey}#{number:09d}",
					timestamp=_timestamp(_required(row, "timestamp", where), where),
					channel=_required(row, "channel", where),
					source=row.get("source") or None,
					medium=row.get("medium") or None,
					campaign=row.get("campaign") or None,
					milestones=milestones,
				)
			)
	converted: dict[str, list[Conversion]] = defaultdict(list)
	with open(conversions, newline="", encoding="utf-8-sig") as handle:
		for number, row in _rows(handle, str(conversions), CONVERSION_COLUMNS):
			where = f"{conversions}: row {number}"
			journey = _required(row, "journey_id", where)
			text = _required(row, "value", where)
			try:
				value = Decimal(text)
			except InvalidOperation:
				raise ValidationError(f"{where}: field value: {text!r} is not a number")
			if not value.is_finite() or value < 0:
				raise ValidationError(f"{where}: field value: {text} is negative or not finite")
			try:
				conversion = Conversion(
					id=row.get("conversion_id") or f"{journey}#{number:09d}",
					timestamp=_timestamp(_required(row, "timestamp", where), where),
					value=value,
					currency=(row.get("currency") or "USD").upper(),
				)
			except ValidationError as error:
				raise ValidationError(f"{where}: {error}")
			converted[journey].append(conversion)
	ids = sorted(set(touches) | set(converted))
	return [Journey(j, tuple(touches.get(j, ())), tuple(converted.get(j, ()))) for j in ids]


def read_paths(
	path: Path, separator: str = ">", delimiter: str = ";", converting_only: bool = False
) -> list[PathStats]:
	"""Aggregated paths in ChannelAttribution's format: path;total_conversions;total_conversion_value;total_null
	(path "a > b > c"; the value and null columns may be absent).

	With `converting_only`, rows without conversions or value (all a rule-based model reads) are checked
	but left out, except the first row of each spelling of a zero value, so that summing the values
	keeps their decimal places. Files of the plain shape (no quotes, one field per column on every row,
	numbers that parse) are read column by column with str methods; anything else, including every bad
	row, goes through the csv module row by row, which gives the same rows or names the file, row and
	field that is wrong."""
	with gc_paused():
		rows = _paths_plain(_text(path), separator, delimiter, converting_only)
	if rows is None:
		rows = _paths_csv(io.StringIO(_text(path), newline=""), str(path), separator, delimiter)
		if converting_only:
			values = list(map(itemgetter(2), rows))
			rows = [rows[i] for i in _kept(list(map(itemgetter(1), rows)), values, list(map(str, values)))]
	return rows


def _text(path: Path) -> str:
	with open(path, newline="", encoding="utf-8-sig") as handle:
		return handle.read()


def _kept(conversions: list, values: list, value_texts: list[str]) -> list[int]:
	"""Indexes of the rows with conversions or value, and of the first row of each spelling of a zero value."""
	rows = range(len(values))
	kept = {*compress(rows, conversions), *compress(rows, values)}
	kept.update(map(value_texts.index, set(compress(value_texts, map(not_, values)))))
	return sorted(kept)


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


class _ChannelNames(dict):
	"""Raw channel text -> its stripped, interned name, filled on first sight (a file has few spellings)."""

	def __missing__(self, raw: str) -> str:
		name = self[raw] = sys.intern(raw.strip())
		return name


def _paths_plain(text: str, separator: str, delimiter: str, converting_only: bool) -> list[PathStats] | None:
	"""The rows of a plain-shaped paths file, or None when the csv module must read it (see read_paths)."""
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
	if lines and ("\n\n" in body or not lines[0] or not lines[-1]):
		lines = list(filter(None, lines))  # the csv module skips empty lines
	del body
	if not lines:
		return []
	width = len(names)
	if set(map(str.count, lines, repeat(delimiter))) != {width - 1}:
		return None
	count = len(lines)
	fields = delimiter.join(lines).split(delimiter)
	del lines
	columns = {name: fields[i::width] for i, name in enumerate(names)}
	del fields
	texts = columns["path"]
	conversions = _counts(columns["total_conversions"])
	value_texts = columns.get("total_conversion_value")
	values = [ZERO] * count if value_texts is None else _decimals(value_texts)
	null_texts = columns.get("total_null")
	if conversions is None or values is None:
		return None
	if filtered := converting_only and _no_empty_channel(texts, separator) and _whole_numbers(null_texts):
		# Every row is valid: build only the rows kept.
		kept = _kept(conversions, values, value_texts or ["0"] * count)
		texts, conversions, values = ([column[i] for i in kept] for column in (texts, conversions, values))
		nulls = [0] * len(kept) if null_texts is None else [int(null_texts[i]) for i in kept]
	else:
		nulls = [0] * count if null_texts is None else _counts(null_texts)
		if nulls is None:
			return None
	if separator != separator.strip():
		texts = list(map(str.strip, texts))
	channel = _ChannelNames()
	paths = list(map(tuple, map(map, repeat(channel.__getitem__), map(str.split, texts, repeat(separator)))))
	if "" in channel.values():
		return None
	rows = list(map(tuple.__new__, repeat(PathStats), zip(paths, conversions, values, nulls, strict=True)))
	if converting_only and not filtered:
		rows = [rows[i] for i in _kept(conversions, values, value_texts or ["0"] * count)]
	return rows


def _no_empty_channel(texts: list[str], separator: str) -> bool:
	"""True when no path in `texts` has an empty or blank channel, told from counts on the joined text
	for the shapes "a > b" and "a>b" (single-character separator); False when it cannot tell."""
	if len(separator) != 1 or separator.isspace() or "" in texts or " " in texts:
		return False
	joined = "\n".join(texts)
	if not joined.isascii() or any(c in joined for c in "\t\x0b\x0c\x1c\x1d\x1e\x1f"):
		return False  # whitespace other than spaces (or non-ASCII whitespace) could make a blank channel
	separators = joined.count(separator)
	spaced = f" {separator} "
	if joined.count(spaced) == separators and "  " not in joined:
		# Every separator has one space each side and no run of spaces: a blank channel would start
		# or end a path.
		bare = (f" {separator}", separator)
		return not any(map(str.startswith, texts, repeat(bare))) and not any(
			map(str.endswith, texts, repeat((f"{separator} ", separator)))
		)
	if " " not in joined:
		return not any(empty in joined for empty in (separator * 2, "\n" + separator, separator + "\n")) and (
			joined[0] != separator and joined[-1] != separator
		)
	return False


def _whole_numbers(texts: list[str] | None) -> bool:
	"""True when every text is a whole number int() reads (so a count that needs no checking)."""
	return texts is None or ("" not in texts and "".join(texts).isdecimal())


def _decimals(texts: list[str]) -> list[Decimal] | None:
	"""Finite, non-negative Decimals of `texts` (empty is 0), or None if any is not. Each distinct text
	is parsed once (most rows of a paths file have the same zero value)."""
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
	return list(map(dict(zip(distinct, parsed, strict=True)).__getitem__, texts))


def _counts(texts: list[str]) -> list[float] | None:
	"""Conversion or null counts of `texts` as _plain gives them (int when whole), or None if any is bad."""
	try:
		numbers = list(map(int, texts))
	except ValueError:
		decimals = _decimals(texts)
		return None if decimals is None else list(map(_plain, decimals))
	return numbers if min(numbers) >= 0 else None


def _paths_csv(handle: TextIO, name: str, separator: str, delimiter: str) -> list[PathStats]:
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
			numbers.append(number_value)
		conversions, value, nulls = numbers
		rows.append(PathStats(channels, _plain(conversions), value, _plain(nulls)))
	return rows


def _plain(number: Decimal) -> float:
	return int(number) if number == number.to_integral_value() else float(number)
