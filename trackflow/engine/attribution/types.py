"""Plain values of the attribution engine: touchpoints, conversions, model specs, credits, results."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import Decimal
from functools import cached_property
from itertools import chain, compress, repeat
from operator import attrgetter, itemgetter, not_
from typing import Any, NamedTuple

from trackflow.engine.errors import ValidationError

MILESTONES = ("lead", "opportunity", "won")


def _require_aware(ts: datetime, what: str) -> None:
	if not isinstance(ts, datetime):
		raise ValidationError(f"{what} timestamp must be a datetime, got {type(ts).__name__}")
	if ts.tzinfo is None or ts.utcoffset() is None:
		raise ValidationError(f"{what} timestamp {ts.isoformat()} has no timezone; give an offset or UTC")


@dataclass(frozen=True)
class Touchpoint:
	"""One marketing interaction of a journey. `milestones` holds any of "lead", "opportunity", "won":
	this touch was the last one before the lead was created / the deal was created / the deal was won."""

	id: str
	timestamp: datetime
	channel: str
	source: str | None = None
	medium: str | None = None
	campaign: str | None = None
	content: str | None = None
	term: str | None = None
	click_ids: tuple[str, ...] = ()
	milestones: frozenset[str] = field(default_factory=frozenset)

	def __post_init__(self) -> None:
		if not isinstance(self.id, str) or not self.id:
			raise ValidationError(f"touchpoint id must be a non-empty string, got {self.id!r}")
		_require_aware(self.timestamp, f"touchpoint {self.id}")
		if not isinstance(self.channel, str) or not self.channel:
			raise ValidationError(f"touchpoint {self.id} has no channel")
		if not isinstance(self.milestones, frozenset):
			object.__setattr__(self, "milestones", frozenset(self.milestones))
		unknown = self.milestones - set(MILESTONES)
		if unknown:
			raise ValidationError(
				f"touchpoint {self.id}: unknown milestone {sorted(unknown)[0]!r} (use lead, opportunity, won)"
			)

	@classmethod
	def checked(
		cls,
		ids: Iterable[str],
		timestamps: Iterable[datetime],
		channels: Iterable[str],
		sources: Iterable[str | None],
		mediums: Iterable[str | None],
		campaigns: Iterable[str | None],
		milestones: Iterable[frozenset[str]],
	) -> list[Touchpoint]:
		"""Touchpoints, a column per field, whose values a reader has already checked as __post_init__
		would (non-empty ids and channels, aware timestamps, known milestones): built without checking
		them again and without a Python call per touch, for files of a million touches."""
		none = repeat(None)
		rows = zip(ids, timestamps, channels, sources, mediums, campaigns, none, none, repeat(()), milestones)
		dicts = list(map(dict, map(zip, repeat(TOUCHPOINT_FIELDS), rows)))
		touches = list(map(object.__new__, repeat(cls, len(dicts))))
		deque(map(object.__setattr__, touches, repeat("__dict__"), dicts), maxlen=0)
		return touches

	@property
	def sort_key(self) -> tuple[datetime, str]:
		return (self.timestamp, self.id)


TOUCHPOINT_FIELDS = tuple(f.name for f in fields(Touchpoint))
# Touches in journey order: by time, then id (sorted(..., key=TOUCH_ORDER) compares in C).
TOUCH_ORDER = attrgetter("timestamp", "id")


@dataclass(frozen=True)
class Conversion:
	"""A conversion to attribute: its value (Decimal, >= 0, within the currency's minor unit) and time."""

	id: str
	timestamp: datetime
	value: Decimal
	currency: str = "USD"

	def __post_init__(self) -> None:
		if not isinstance(self.id, str) or not self.id:
			raise ValidationError(f"conversion id must be a non-empty string, got {self.id!r}")
		_require_aware(self.timestamp, f"conversion {self.id}")
		if not isinstance(self.value, Decimal) or not self.value.is_finite():
			raise ValidationError(f"conversion {self.id}: value must be a finite Decimal, got {self.value!r}")
		if self.value < 0:
			raise ValidationError(f"conversion {self.id}: value {self.value} is negative")


@dataclass(frozen=True)
class ModelSpec:
	"""A model name with validated, complete parameters (defaults filled in). `str(spec)` is canonical."""

	name: str
	params: tuple[tuple[str, Any], ...] = ()

	@property
	def param_dict(self) -> dict[str, Any]:
		return dict(self.params)

	def get(self, key: str) -> Any:
		return self.param_dict[key]

	def __str__(self) -> str:
		if not self.params:
			return self.name
		return self.name + ":" + ",".join(f"{k}={_format_param(v)}" for k, v in self.params)


def _format_param(value: Any) -> str:
	if isinstance(value, float):
		return repr(value)
	return str(value)


@dataclass(frozen=True)
class Credit:
	"""One touch's share of one conversion under one model."""

	touchpoint_id: str
	channel: str
	weight: float
	value: Decimal


@dataclass(frozen=True)
class AttributionResult:
	"""Credits of one conversion under one model. `reason` says why there are no credits
	("no_touchpoints", "insufficient_data") or how they were reached ("equal_split_fallback")."""

	conversion_id: str
	model: str
	params: dict[str, Any]
	engine_version: str
	credits: tuple[Credit, ...]
	currency: str
	reason: str | None = None

	@property
	def total(self) -> Decimal:
		return sum((c.value for c in self.credits), Decimal(0))

	def to_dict(self) -> dict[str, Any]:
		return {
			"conversion_id": self.conversion_id,
			"model": self.model,
			"params": dict(self.params),
			"engine_version": self.engine_version,
			"currency": self.currency,
			"reason": self.reason,
			"credits": [
				{
					"touchpoint_id": c.touchpoint_id,
					"channel": c.channel,
					"weight": c.weight,
					"value": str(c.value),
				}
				for c in self.credits
			],
		}


class PathStats(NamedTuple):
	"""An aggregated path: a channel sequence with its conversions, conversion value and null journeys.

	A NamedTuple rather than a dataclass because fits read hundreds of thousands of them; use
	`path_stats()` to build one with validation."""

	path: tuple[str, ...]
	conversions: float
	value: Decimal = Decimal(0)
	nulls: float = 0


@dataclass(frozen=True)
class PathTable:
	"""Aggregated paths column by column, the shape the paths reader gives and the fits read: each
	row's channels as one string of codes (character chr(i) is channels[i - 1]; chr(0) is never a
	channel), its conversions, value and nulls. Order-1 Markov counts and the rule-based splits work on
	the codes with C-level string and Counter operations; `rows()` gives PathStats for everything else."""

	channels: tuple[str, ...]
	codes: list[str]
	conversions: list[float]
	values: list[Decimal]
	nulls: list[float]

	@classmethod
	def from_rows(cls, rows: Iterable[PathStats]) -> PathTable:
		rows = rows if isinstance(rows, list) else list(rows)
		channels = tuple(sorted(set(chain.from_iterable(map(itemgetter(0), rows)))))
		code = {name: chr(i) for i, name in enumerate(channels, start=1)}
		return cls(
			channels,
			["".join(map(code.__getitem__, path)) for path in map(itemgetter(0), rows)],
			list(map(itemgetter(1), rows)),
			list(map(itemgetter(2), rows)),
			list(map(itemgetter(3), rows)),
		)

	@classmethod
	def concat(cls, tables: Sequence[PathTable]) -> PathTable:
		"""The rows of `tables` in order, in one table (each table's codes mapped to the joint ones)."""
		if len(tables) == 1:
			return tables[0]
		channels = list(tables[0].channels) if tables else []
		numbers = {name: i for i, name in enumerate(channels, start=1)}
		codes, conversions, values, nulls = [], [], [], []
		for table in tables:
			recode = {}
			for i, name in enumerate(table.channels, start=1):
				if name not in numbers:
					channels.append(name)
					numbers[name] = len(channels)
				if numbers[name] != i:
					recode[i] = numbers[name]
			if recode and table.codes:
				codes.extend("\0".join(table.codes).translate(recode).split("\0"))
			else:
				codes.extend(table.codes)
			conversions.extend(table.conversions)
			values.extend(table.values)
			nulls.extend(table.nulls)
		return cls(tuple(channels), codes, conversions, values, nulls)

	def parts(self, count: int) -> list[PathTable]:
		"""The rows in `count` runs of about equal length, in order."""
		size = -(-len(self.codes) // max(count, 1)) or 1
		columns = (self.codes, self.conversions, self.values, self.nulls)
		return [
			PathTable(self.channels, *(column[start : start + size] for column in columns))
			for start in range(0, len(self.codes), size)
		]

	def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
		"""Pickled compactly (a forked reader sends its rows back): the codes as one string and each
		value object once, with the rows' positions in that list."""
		ids = list(map(id, self.values))
		first = dict(zip(ids, range(len(ids)), strict=True))
		number = {key: n for n, key in enumerate(first)}
		distinct = list(map(self.values.__getitem__, first.values()))
		joined = "\0".join(self.codes)
		return _path_table, (
			self.channels,
			joined,
			self.conversions,
			distinct,
			list(map(number.__getitem__, ids)),
			self.nulls,
		)

	def __len__(self) -> int:
		return len(self.codes)

	@cached_property
	def converting_rows(self) -> list[PathStats]:
		"""PathStats of the rows with conversions or value (built once: every rule-based model reads them)."""
		return self.take(self.converting()).rows()

	def kept(self) -> list[int]:
		"""Indexes of the rows with conversions or value, and of the first row of each spelling of a zero
		value (summing the values of those keeps their decimal places)."""
		return kept_rows(self.conversions, self.values)

	def converting(self) -> list[int]:
		"""Indexes of the rows with conversions or value (all a rule-based model reads)."""
		return list(
			compress(range(len(self.codes)), map(any, zip(self.conversions, self.values, strict=True)))
		)

	def take(self, indexes: Iterable[int]) -> PathTable:
		"""The rows at `indexes`, in that order."""
		indexes = list(indexes)
		columns = (self.codes, self.conversions, self.values, self.nulls)
		return PathTable(self.channels, *(list(map(column.__getitem__, indexes)) for column in columns))

	def rows(self) -> list[PathStats]:
		"""Every row as a PathStats."""
		names = {chr(i): name for i, name in enumerate(self.channels, start=1)}
		paths = map(tuple, map(map, repeat(names.__getitem__), self.codes))
		rows = zip(paths, self.conversions, self.values, self.nulls, strict=True)
		return list(map(tuple.__new__, repeat(PathStats), rows))


def kept_rows(conversions: list[float], values: list[Decimal]) -> list[int]:
	"""Indexes of the rows with conversions or value, and of the first row of each spelling of a zero
	value. Readers share one Decimal per spelling, so zeros are told apart by object first (C loops),
	then by text among the few left."""
	rows = range(len(values))
	kept = {*compress(rows, conversions), *compress(rows, values)}
	zeros = list(compress(rows, map(not_, values)))
	first = dict(zip(map(id, map(values.__getitem__, reversed(zeros))), reversed(zeros), strict=True))
	spellings: dict[str, int] = {}
	for i in sorted(first.values()):
		spellings.setdefault(str(values[i]), i)
	kept.update(spellings.values())
	return sorted(kept)


def _path_table(channels, joined, conversions, distinct, positions, nulls) -> PathTable:
	"""A PathTable from what its __reduce__ gives."""
	codes = joined.split("\0") if positions else []
	return PathTable(channels, codes, conversions, list(map(distinct.__getitem__, positions)), nulls)


def as_table(paths: PathTable | Iterable[PathStats]) -> PathTable:
	"""`paths` as a PathTable (PathStats or (path, conversions, value, nulls) tuples are encoded)."""
	return paths if isinstance(paths, PathTable) else PathTable.from_rows(paths)


def as_rows(paths: PathTable | Iterable[PathStats]) -> list[PathStats]:
	"""`paths` as a list of rows (a PathTable's rows are built)."""
	if isinstance(paths, PathTable):
		return paths.rows()
	return paths if isinstance(paths, list) else list(paths)


def path_stats(path, conversions=0, value=Decimal(0), nulls=0) -> PathStats:
	"""A validated PathStats: non-empty path of non-empty channels, counts >= 0."""
	path = tuple(path)
	if not path or not all(isinstance(c, str) and c for c in path):
		raise ValidationError(f"a path needs at least one non-empty channel, got {path!r}")
	if not conversions >= 0 or not nulls >= 0:
		raise ValidationError(f"path {' > '.join(path)}: conversions and nulls must be >= 0")
	if not isinstance(value, Decimal):
		value = Decimal(str(value))
	if not value.is_finite() or value < 0:
		raise ValidationError(f"path {' > '.join(path)}: value must be >= 0")
	return PathStats(path, conversions, value, nulls)
