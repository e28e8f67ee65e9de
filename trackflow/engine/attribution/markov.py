"""Markov-chain attribution: order-k chains over aggregated paths, removal effects solved exactly.

Chain construction (as ChannelAttribution builds it): the states of a path are its sliding k-grams,
taken over the path as recorded, with consecutive identical states collapsed (no self-loops); a path
shorter than k is one state (the whole path). Every transition start -> s1 -> ... -> sm is weighted by
the path's conversions + nulls; sm -> conversion by its conversions and sm -> null by its nulls.

P(conversion) from the start state is computed by state elimination (the GTH variant of Gaussian
elimination for absorbing chains: only additions, multiplications and divisions of non-negative
numbers, so no cancellation). Removing channel c redirects every transition into a state containing
c to null; RE(c) = 1 - P_without_c / P. Channel weight = RE(c) / sum of RE.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import chain, repeat
from operator import add, itemgetter, mul
from typing import Any

from trackflow.engine import ENGINE_VERSION
from trackflow.engine.attribution.sufficiency import verdict
from trackflow.engine.attribution.types import PathStats
from trackflow.engine.errors import ValidationError

State = tuple[str, ...]
START: State = ()
CONVERSION = "(conversion)"
NULL = "(null)"


def path_states(path: tuple[str, ...], order: int) -> list[State]:
	"""The chain states a path visits: k-grams, consecutive duplicates collapsed; short path = 1 state."""
	if len(path) <= order:
		return [tuple(path)]
	states: list[State] = []
	previous = None
	for i in range(len(path) - order + 1):
		state = path[i : i + order]
		if state != previous:
			states.append(state)
			previous = state
	return states


def group_paths(paths: Iterable[PathStats]) -> dict[tuple[float, float], list[tuple[str, ...]]]:
	"""Paths grouped by (conversions, nulls), rows with neither dropped: lets C code do the counting."""
	rows = paths if isinstance(paths, list) else list(paths)
	groups: dict[tuple[float, float], list[tuple[str, ...]]] = defaultdict(list)
	keys = zip(map(itemgetter(1), rows), map(itemgetter(3), rows), strict=True)
	for key, path in zip(keys, map(itemgetter(0), rows), strict=True):
		groups[key].append(path)
	groups.pop((0, 0), None)
	return groups


def journeys_by_channel(groups: dict[tuple[float, float], list[tuple[str, ...]]]) -> dict[str, float]:
	"""Per channel, the journeys (conversions + nulls) whose path contains it, from `group_paths`."""
	counts: dict[str, float] = defaultdict(float)
	for (conversions, nulls), group in groups.items():
		for channels, count in Counter(map(frozenset, group)).items():
			for channel in channels:
				counts[channel] += (conversions + nulls) * count
	return dict(sorted(counts.items()))


NIBBLE_CODES = 16


def _pair_codes_nibbles(
	tokens: Iterable[str | None], names: list[str | None]
) -> list[tuple[tuple[Any, Any], int]]:
	"""Counts of adjacent pairs in `tokens` (channels and None separators) for at most 15 channels.

	Each token becomes one byte (its index in `names`, < 16); with the bytes read as one little-endian
	integer X, (X << 4) + (X >> 8) holds in byte i the pair code 16*b[i] + b[i+1] (no carries, since
	every code is < 16), so a single Counter over bytes (small cached ints) counts every pair."""
	index = {name: i for i, name in enumerate(names)}
	raw = bytes(map(index.__getitem__, tokens)) + b"\0"
	number = int.from_bytes(raw, "little")
	pairs = ((number << 4) + (number >> 8)).to_bytes(len(raw) + 1, "little")
	return [((names[code >> 4], names[code & 15]), count) for code, count in Counter(pairs).items() if code]


def _pair_codes(tokens: Iterable[str | None], names: list[str | None]) -> list[tuple[tuple[Any, Any], int]]:
	"""Counts of adjacent pairs in `tokens`, any number of channels (pairs coded as small ints)."""
	listed = [*tokens, None]
	base = len(names)
	high = {name: i * base for i, name in enumerate(names)}
	low = {name: i for i, name in enumerate(names)}
	codes = Counter(map(add, map(high.__getitem__, listed), map(low.__getitem__, listed[1:])))
	return [((names[code // base], names[code % base]), count) for code, count in codes.items() if code]


def count_transitions(
	paths: Iterable[PathStats],
	order: int,
	groups: dict[tuple[float, float], list[tuple[str, ...]]] | None = None,
) -> tuple[dict[tuple[State, State], float], dict[State, float], dict[State, float]]:
	"""Aggregate transition counts: edges between states (START = ()), into conversion and into null."""
	edges: dict[tuple[State, State], float] = defaultdict(float)
	to_conversion: dict[State, float] = defaultdict(float)
	to_null: dict[State, float] = defaultdict(float)
	if order == 1:
		# Fast path. For order 1, collapsing consecutive identical states is the same as dropping the
		# self-pairs (a, a) of the raw path. Paths are grouped by (conversions, nulls); each group's paths
		# are flattened into one token list with None between paths, and its pairs are counted by C code
		# (Counter): (None, a) are starts, (a, None) ends, the rest transitions.
		if groups is None:
			groups = group_paths(paths)
		names = [None, *sorted(set(chain.from_iterable(chain.from_iterable(groups.values()))))]
		for (conversions, nulls), group in groups.items():
			flat = chain.from_iterable(chain.from_iterable(zip(repeat((None,)), group)))
			if len(names) <= NIBBLE_CODES:
				codes = _pair_codes_nibbles(flat, names)
			else:
				codes = _pair_codes(flat, names)
			weight = conversions + nulls
			for (a, b), count in codes:
				if a is None:
					if b is not None:
						edges[START, (b,)] += weight * count
				elif b is None:
					if conversions:
						to_conversion[(a,)] += conversions * count
					if nulls:
						to_null[(a,)] += nulls * count
				elif a != b:
					edges[(a,), (b,)] += weight * count
	else:
		for path, conversions, _value, nulls in paths:
			weight = conversions + nulls
			if not weight:
				continue
			previous = START
			for state in path_states(tuple(path), order):
				edges[previous, state] += weight
				previous = state
			if conversions:
				to_conversion[previous] += conversions
			if nulls:
				to_null[previous] += nulls
	return dict(edges), dict(to_conversion), dict(to_null)


# Chains up to this many transient states are solved by direct elimination; larger ones (order 3)
# iteratively to machine precision, where elimination's fill-in would cost O(n^3) in pure Python.
DIRECT_SOLVE_LIMIT = 400
ITERATION_TOLERANCE = 1e-16
MAX_ITERATIONS = 100_000


def _chain(
	edges: dict[tuple[State, State], float],
	to_conversion: dict[State, float],
	to_null: dict[State, float],
	removed: str | None,
) -> dict[State, dict[Any, float]]:
	"""Outgoing weights per state (targets: states, CONVERSION, NULL), with `removed` redirected to null."""
	succ: dict[State, dict[Any, float]] = defaultdict(dict)
	for (a, b), w in edges.items():
		if removed is not None and removed in a:
			continue
		target = NULL if removed is not None and removed in b else b
		out = succ[a]
		out[target] = out.get(target, 0.0) + w
	for absorbing, counts in ((CONVERSION, to_conversion), (NULL, to_null)):
		for state, w in counts.items():
			if removed is None or removed not in state:
				out = succ[state]
				out[absorbing] = out.get(absorbing, 0.0) + w
	return succ


def _solve_direct(succ: dict[State, dict[Any, float]]) -> float:
	"""P(conversion | START) by state elimination (GTH: no subtractions, hence no cancellation)."""
	pred: dict[State, set[State]] = defaultdict(set)
	for a, out in succ.items():
		for b in out:
			if b != CONVERSION and b != NULL:
				pred[b].add(a)
	transient = sorted((s for s in succ if s != START), key=lambda s: (len(pred[s]) * len(succ[s]), s))
	for k in transient:
		out_k = succ.pop(k)
		out_k.pop(k, None)
		total = sum(out_k.values())
		for i in pred.pop(k, ()):
			if i == k or i not in succ:
				continue
			out_i = succ[i]
			w_ik = out_i.pop(k, 0.0)
			if not w_ik or not total:
				continue
			factor = w_ik / total
			for j, w_kj in out_k.items():
				out_i[j] = out_i.get(j, 0.0) + factor * w_kj
				if j != CONVERSION and j != NULL:
					pred[j].add(i)
		for j in out_k:
			if j in pred:
				pred[j].discard(k)
	out_start = succ[START]
	converted = out_start.get(CONVERSION, 0.0)
	lost = out_start.get(NULL, 0.0)
	return converted / (converted + lost) if converted + lost else 0.0


def _solve_iterative(succ: dict[State, dict[Any, float]]) -> float:
	"""P(conversion | START) by Gauss-Seidel sweeps until no probability moves by more than 1e-16.

	The chain is absorbing (every state reaches conversion or null), so the iteration contracts; the
	sweeps visit states farthest from START first, so values flow backwards along paths quickly."""
	states = [s for s in succ if s != START]
	order = {START: 0}
	frontier = [START]
	while frontier:
		following = []
		for s in frontier:
			for t in succ[s]:
				if t not in order and t in succ:
					order[t] = order[s] + 1
					following.append(t)
		frontier = following
	states = sorted((s for s in succ if s in order), key=lambda s: (-order[s], s))
	index = {s: i for i, s in enumerate(states)}
	p = [0.0] * len(states)
	rows = []
	for s in states:
		out = succ[s]
		total = sum(w for t, w in out.items() if t != s)
		targets = [index[t] for t in out if t in index and t != s]
		probs = [out[t] / total for t in out if t in index and t != s]
		rows.append((index[s], targets, probs, out.get(CONVERSION, 0.0) / total if total else 0.0))
	for _ in range(MAX_ITERATIONS):
		delta = 0.0
		for i, targets, probs, base in rows:
			value = base + sum(map(mul, probs, map(p.__getitem__, targets)))
			change = abs(value - p[i])
			if change > delta:
				delta = change
			p[i] = value
		if delta <= ITERATION_TOLERANCE:
			return p[index[START]]
	raise ValidationError("markov: the chain did not converge; check the paths for zero-weight loops")


def conversion_probability(
	edges: dict[tuple[State, State], float],
	to_conversion: dict[State, float],
	to_null: dict[State, float],
	removed: str | None = None,
) -> float:
	"""Probability of absorption in conversion from START; with `removed`, every transition into a state
	containing that channel goes to null instead. Direct elimination for chains up to
	DIRECT_SOLVE_LIMIT states, Gauss-Seidel to machine precision above."""
	succ = _chain(edges, to_conversion, to_null, removed)
	if START not in succ:
		return 0.0
	if len(succ) <= DIRECT_SOLVE_LIMIT:
		return _solve_direct(succ)
	return _solve_iterative(succ)


@dataclass(frozen=True)
class MarkovFit:
	"""A fitted Markov model: what `attribute` needs (channel_weights) plus everything to audit it."""

	order: int
	channel_weights: dict[str, float]
	removal_effects: dict[str, float]
	conversion_probability: float
	total_conversions: float
	total_value: Decimal
	total_nulls: float
	sufficiency: dict[str, Any]
	transitions: list[tuple[list[str], list[str] | str, float]] = field(default_factory=list)
	engine_version: str = ENGINE_VERSION
	model: str = "markov"

	@property
	def sufficient(self) -> bool:
		return self.sufficiency["verdict"] != "insufficient"

	@property
	def global_share(self) -> dict[str, float]:
		"""Total conversions spread by channel weight (ChannelAttribution's total_conversions)."""
		return {c: w * self.total_conversions for c, w in self.channel_weights.items()}

	def to_dict(self, transitions: bool = True) -> dict[str, Any]:
		data = {
			"model": self.model,
			"order": self.order,
			"engine_version": self.engine_version,
			"channel_weights": dict(self.channel_weights),
			"removal_effects": dict(self.removal_effects),
			"conversion_probability": self.conversion_probability,
			"total_conversions": self.total_conversions,
			"total_value": str(self.total_value),
			"total_nulls": self.total_nulls,
			"global_share": self.global_share,
			"sufficiency": self.sufficiency,
		}
		if transitions:
			data["transitions"] = [
				[list(a), b if isinstance(b, str) else list(b), w] for a, b, w in self.transitions
			]
		return data

	@classmethod
	def from_dict(cls, data: dict[str, Any]) -> MarkovFit:
		if data.get("model") != "markov":
			raise ValidationError(f"not a Markov fit (model {data.get('model')!r})")
		return cls(
			order=int(data["order"]),
			channel_weights={str(k): float(v) for k, v in data["channel_weights"].items()},
			removal_effects={str(k): float(v) for k, v in data["removal_effects"].items()},
			conversion_probability=float(data["conversion_probability"]),
			total_conversions=float(data["total_conversions"]),
			total_value=Decimal(str(data["total_value"])),
			total_nulls=float(data["total_nulls"]),
			sufficiency=dict(data["sufficiency"]),
			transitions=[
				(list(a), b if isinstance(b, str) else list(b), float(w))
				for a, b, w in data.get("transitions", [])
			],
			engine_version=str(data.get("engine_version", ENGINE_VERSION)),
		)


def fit_markov(paths: Iterable[PathStats], order: int = 1, min_journeys: int = 50) -> MarkovFit:
	"""Fit an order-`order` Markov model on aggregated paths (converting and not).

	`paths` yields PathStats (or any (path, conversions, value, nulls) 4-tuples). Returns removal
	effects, channel weights RE(c)/sum RE, the transition counts and a sufficiency verdict: channels in
	fewer than `min_journeys` journeys are flagged; with no conversions, no non-converting journeys or
	every channel flagged the verdict is "insufficient" and no weights are given."""
	if order not in (1, 2, 3):
		raise ValidationError(f"markov: order must be 1, 2 or 3, got {order!r}")
	rows = paths if isinstance(paths, list) else list(paths)
	groups = group_paths(rows)
	edges, to_conversion, to_null = count_transitions(rows, order, groups)
	total_conversions = math.fsum(map(itemgetter(1), rows))
	total_nulls = math.fsum(map(itemgetter(3), rows))
	total_value = sum(filter(None, map(itemgetter(2), rows)), Decimal(0))
	journeys = journeys_by_channel(groups)
	sufficiency = verdict(journeys, total_conversions, total_nulls, min_journeys, needs_nulls=True)
	transitions: list[tuple[list[str], list[str] | str, float]] = sorted(
		[(list(a), list(b), w) for (a, b), w in edges.items()]
		+ [(list(a), CONVERSION, w) for a, w in to_conversion.items()]
		+ [(list(a), NULL, w) for a, w in to_null.items()],
		key=lambda t: (t[0], t[1] if isinstance(t[1], list) else [t[1]]),
	)
	if sufficiency["verdict"] == "insufficient":
		return MarkovFit(
			order, {}, {}, 0.0, total_conversions, total_value, total_nulls, sufficiency, transitions
		)
	base = conversion_probability(edges, to_conversion, to_null)
	effects = {}
	for channel in sorted(journeys):
		without = conversion_probability(edges, to_conversion, to_null, removed=channel)
		effects[channel] = max(0.0, 1.0 - without / base) if base else 0.0
	total_effect = sum(effects.values())
	weights = {c: (e / total_effect if total_effect else 0.0) for c, e in effects.items()}
	return MarkovFit(
		order, weights, effects, base, total_conversions, total_value, total_nulls, sufficiency, transitions
	)
