"""Simplified Shapley attribution (Zhao et al. 2018): exact channel values from coalition rates.

r(T) = conversions / journeys over the journeys whose set of distinct channels is exactly T, and
v(S) = sum of r(T) over T ⊆ S. This v is a sum of unanimity games r(T)·u_T, and the Shapley value of
u_T gives 1/|T| to each member of T, so by linearity

    φ_c = Σ_{T ∋ c} r(T) / |T|

exactly, for any number of channels, in time linear in the number of distinct channel sets (at most
the number of distinct paths). `shapley_by_enumeration` computes the textbook formula
Σ_S |S|!(n-|S|-1)!/n! (v(S + c) - v(S)) over all coalitions; the tests check both agree, so no Monte
Carlo sampling (and no error bound other than 0) is ever needed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from itertools import combinations
from math import factorial
from typing import Any

from trackflow.engine import ENGINE_VERSION
from trackflow.engine.attribution.sufficiency import verdict
from trackflow.engine.attribution.types import PathStats, PathTable, as_table
from trackflow.engine.errors import ValidationError

MAX_ENUMERATION_CHANNELS = 15


def coalition_counts(paths: PathTable | Iterable[PathStats]) -> dict[frozenset[str], tuple[float, float]]:
	"""Per exact set of distinct channels T: (conversions, journeys)."""
	table = as_table(paths)
	conversions: dict[frozenset[str], float] = defaultdict(float)
	journeys: dict[frozenset[str], float] = defaultdict(float)
	for codes, converted, nulls in zip(table.codes, table.conversions, table.nulls, strict=True):
		weight = converted + nulls
		if weight:
			key = frozenset(codes)
			journeys[key] += weight
			conversions[key] += converted
	names = dict(zip(map(chr, range(1, len(table.channels) + 1)), table.channels, strict=True))
	return {frozenset(map(names.__getitem__, key)): (conversions[key], journeys[key]) for key in journeys}


def coalition_rates(counts: Mapping[frozenset[str], tuple[float, float]]) -> dict[frozenset[str], float]:
	return {key: converted / total for key, (converted, total) in counts.items() if total}


def shapley_values(rates: Mapping[frozenset[str], float]) -> dict[str, float]:
	"""φ_c = Σ_{T ∋ c} r(T)/|T| (exact; see the module docstring)."""
	values: dict[str, float] = defaultdict(float)
	for coalition in sorted(rates, key=lambda t: (len(t), sorted(t))):
		share = rates[coalition] / len(coalition)
		for channel in coalition:
			values[channel] += share
	return dict(sorted(values.items()))


def shapley_by_enumeration(rates: Mapping[frozenset[str], float]) -> dict[str, float]:
	"""The textbook Shapley formula over every coalition of the channels (at most 15 channels)."""
	channels = sorted({c for coalition in rates for c in coalition})
	n = len(channels)
	if n > MAX_ENUMERATION_CHANNELS:
		raise ValidationError(f"enumeration is limited to {MAX_ENUMERATION_CHANNELS} channels, got {n}")
	index = {c: i for i, c in enumerate(channels)}
	r_by_mask = [0.0] * (1 << n)
	for coalition, rate in rates.items():
		r_by_mask[sum(1 << index[c] for c in coalition)] += rate
	# v(S) = Σ_{T ⊆ S} r(T): the zeta transform over subsets.
	v = r_by_mask[:]
	for bit in range(n):
		for mask in range(1 << n):
			if mask & (1 << bit):
				v[mask] += v[mask ^ (1 << bit)]
	weight = [factorial(s) * factorial(n - s - 1) / factorial(n) for s in range(n)]
	values = {}
	for c in channels:
		bit = 1 << index[c]
		values[c] = sum(
			weight[mask.bit_count()] * (v[mask | bit] - v[mask]) for mask in range(1 << n) if not mask & bit
		)
	return values


@dataclass(frozen=True)
class ShapleyFit:
	"""A fitted simplified-Shapley model: channel weights for `attribute` plus the audit trail."""

	channel_weights: dict[str, float]
	shapley_values: dict[str, float]
	total_conversions: float
	total_value: Decimal
	total_nulls: float
	sufficiency: dict[str, Any]
	coalitions: list[tuple[list[str], float, float]]
	method: str = "exact"
	error_bound: float = 0.0
	engine_version: str = ENGINE_VERSION
	model: str = "shapley"

	@property
	def sufficient(self) -> bool:
		return self.sufficiency["verdict"] != "insufficient"

	@property
	def global_share(self) -> dict[str, float]:
		return {c: w * self.total_conversions for c, w in self.channel_weights.items()}

	def to_dict(self, coalitions: bool = True) -> dict[str, Any]:
		data = {
			"model": self.model,
			"method": self.method,
			"error_bound": self.error_bound,
			"engine_version": self.engine_version,
			"channel_weights": dict(self.channel_weights),
			"shapley_values": dict(self.shapley_values),
			"total_conversions": self.total_conversions,
			"total_value": str(self.total_value),
			"total_nulls": self.total_nulls,
			"global_share": self.global_share,
			"sufficiency": self.sufficiency,
		}
		if coalitions:
			data["coalitions"] = [[list(t), c, j] for t, c, j in self.coalitions]
		return data

	@classmethod
	def from_dict(cls, data: dict[str, Any]) -> ShapleyFit:
		if data.get("model") != "shapley":
			raise ValidationError(f"not a Shapley fit (model {data.get('model')!r})")
		return cls(
			channel_weights={str(k): float(v) for k, v in data["channel_weights"].items()},
			shapley_values={str(k): float(v) for k, v in data["shapley_values"].items()},
			total_conversions=float(data["total_conversions"]),
			total_value=Decimal(str(data["total_value"])),
			total_nulls=float(data["total_nulls"]),
			sufficiency=dict(data["sufficiency"]),
			coalitions=[(list(t), float(c), float(j)) for t, c, j in data.get("coalitions", [])],
			method=str(data.get("method", "exact")),
			error_bound=float(data.get("error_bound", 0.0)),
			engine_version=str(data.get("engine_version", ENGINE_VERSION)),
		)


def fit_shapley(paths: PathTable | Iterable[PathStats], min_journeys: int = 50) -> ShapleyFit:
	"""Fit simplified Shapley values on aggregated paths (converting and not; PathStats or 4-tuples).

	Channel weight = φ_c / Σ φ. Channels in fewer than `min_journeys` journeys are flagged; with no
	conversions or every channel flagged the verdict is "insufficient" and no weights are given."""
	table = as_table(paths)
	counts = coalition_counts(table)
	total_conversions = sum(c for c, _ in counts.values())
	total_journeys = sum(j for _, j in counts.values())
	total_value = sum(filter(None, table.values), Decimal(0))
	journeys: dict[str, float] = defaultdict(float)
	for coalition, (_c, j) in counts.items():
		for channel in coalition:
			journeys[channel] += j
	journeys = dict(sorted(journeys.items()))
	sufficiency = verdict(
		journeys, total_conversions, total_journeys - total_conversions, min_journeys, needs_nulls=False
	)
	coalitions = sorted(((sorted(t), c, j) for t, (c, j) in counts.items()), key=lambda x: (len(x[0]), x[0]))
	if sufficiency["verdict"] == "insufficient":
		return ShapleyFit(
			{},
			{},
			total_conversions,
			total_value,
			total_journeys - total_conversions,
			sufficiency,
			coalitions,
		)
	values = shapley_values(coalition_rates(counts))
	total = sum(values.values())
	weights = {c: (v / total if total else 0.0) for c, v in values.items()}
	return ShapleyFit(
		weights,
		values,
		total_conversions,
		total_value,
		total_journeys - total_conversions,
		sufficiency,
		coalitions,
	)
