"""Journeys (one identity's touches and conversions) and their reduction to aggregated paths."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from operator import attrgetter

from trackflow.engine.attribution.apply import window
from trackflow.engine.attribution.registry import DEFAULT_LOOKBACK_DAYS
from trackflow.engine.attribution.types import TOUCH_ORDER, Conversion, PathStats, Touchpoint

CHANNEL = attrgetter("channel")


@dataclass(frozen=True)
class Journey:
	"""The touchpoints of one identity and its conversions (none: a non-converting journey)."""

	id: str
	touchpoints: tuple[Touchpoint, ...]
	conversions: tuple[Conversion, ...] = ()


def paths_from_journeys(
	journeys: Iterable[Journey], lookback_days: float = DEFAULT_LOOKBACK_DAYS
) -> list[PathStats]:
	"""Aggregate journeys into paths for fitting: each conversion contributes its windowed channel
	sequence with 1 conversion and its value; a journey without conversions contributes its touches
	within `lookback_days` of its last touch as 1 null. Paths come out sorted, so fits are deterministic."""
	conversions: dict[tuple[str, ...], float] = defaultdict(float)
	values: dict[tuple[str, ...], Decimal] = defaultdict(Decimal)
	nulls: dict[tuple[str, ...], float] = defaultdict(float)
	lookback = timedelta(days=lookback_days)
	for journey in journeys:
		if journey.conversions:
			for conversion in journey.conversions:
				path = tuple(map(CHANNEL, window(journey.touchpoints, conversion, lookback_days)))
				if path:
					conversions[path] += 1
					values[path] += conversion.value
		elif journey.touchpoints:
			ordered = sorted(journey.touchpoints, key=TOUCH_ORDER)
			start = ordered[-1].timestamp - lookback
			if ordered[0].timestamp >= start:  # the whole journey is inside the window (nearly always)
				path = tuple(map(CHANNEL, ordered))
			else:
				path = tuple(t.channel for t in ordered if t.timestamp >= start)
			nulls[path] += 1
	keys = sorted(set(conversions) | set(nulls))
	return [PathStats(p, conversions.get(p, 0.0), values.get(p, Decimal(0)), nulls.get(p, 0.0)) for p in keys]
