"""CSV readers for the CLI: touchpoints, conversions and ChannelAttribution-style aggregated paths."""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal, InvalidOperation
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


def read_paths(path: Path, separator: str = ">", delimiter: str = ";") -> list[PathStats]:
	"""Aggregated paths in ChannelAttribution's format: path;total_conversions;total_conversion_value;total_null
	(path "a > b > c"; the value and null columns may be absent)."""
	rows = []
	with open(path, newline="", encoding="utf-8-sig") as handle:
		for number, row in _rows(handle, str(path), PATH_COLUMNS[:2], delimiter=delimiter):
			where = f"{path}: row {number}"
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
	if number.adjusted() > 18:  # int() of 1e999999 takes half a minute; the CLI refuses such counts
		return float(number)
	return int(number) if number == number.to_integral_value() else float(number)
