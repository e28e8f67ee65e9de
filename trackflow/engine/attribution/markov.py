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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from itertools import compress, repeat
from operator import add, itemgetter, mul, not_
from typing import Any

from trackflow.engine import ENGINE_VERSION
from trackflow.engine.attribution.sufficiency import verdict
from trackflow.engine.attribution.types import PathStats, PathTable, as_table
from trackflow.engine.errors import ValidationError
from trackflow.engine.parallel import fork_map

State = tuple[str, ...]
START: State = ()
CONVERSION = "(conversion)"
NULL = "(null)"


def path_states(path: Sequence[str], order: int) -> list[Sequence[str]]:
	"""The chain states a path visits: k-grams, consecutive duplicates collapsed; short path = 1 state.
	(A path of channels gives tuples; a PathTable row's code string gives substrings.)"""
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


def group_codes(table: PathTable) -> dict[tuple[float, float], str]:
	"""The rows of `table` grouped by (conversions, nulls), rows with neither dropped, each group's code
	strings joined into one with NUL before, between and after them: the rows of a group weigh the same,
	so C code can count them together. The most common key (most paths were walked once, without a
	conversion) is picked out with C loops; the few others are grouped row by row."""
	keys = list(zip(table.conversions, table.nulls, strict=True))
	if not keys:
		return {}
	common = max(Counter(keys[:: max(1, len(keys) // 4096)]).items(), key=itemgetter(1))[0]
	is_common = list(map(common.__eq__, keys))
	groups: dict[tuple[float, float], list[str]] = defaultdict(list)
	groups[common] = list(compress(table.codes, is_common))
	for key, codes in compress(zip(keys, table.codes, strict=True), map(not_, is_common)):
		groups[key].append(codes)
	groups.pop((0, 0), None)
	return {key: "\0" + "\0".join(rows) + "\0" for key, rows in groups.items() if rows}


# Above this many rows a group's channel presence is counted by bytes.translate per channel.
TRANSLATE_ROWS = 2000


def journeys_by_channel(table: PathTable, groups: dict[tuple[float, float], str]) -> dict[str, float]:
	"""Per channel, the journeys (conversions + nulls) whose path contains it, from `group_codes`."""
	counts: dict[str, float] = defaultdict(float)
	channels = table.channels
	for (conversions, nulls), joined in groups.items():
		weight = conversions + nulls
		if len(channels) < 256 and joined.count("\0") > TRANSLATE_ROWS:
			# Keep only NUL and one channel's code: the rows containing it are the NULs followed by it.
			raw = joined.encode("latin-1")
			for code, channel in enumerate(channels, start=1):
				others = bytes(range(1, code)) + bytes(range(code + 1, 256))
				found = raw.translate(None, others).count(bytes((0, code)))
				if found:
					counts[channel] += weight * found
		else:
			for codes, found in Counter(map(frozenset, joined[1:-1].split("\0"))).items():
				for code in codes:
					counts[channels[ord(code) - 1]] += weight * found
	return dict(sorted(counts.items()))


NIBBLE_CODES = 16


def _pair_counts(joined: str, base: int) -> list[tuple[int, int, int]]:
	"""(a, b, count) for each pair of adjacent codes in `joined` (rows between NULs), with 0 for the
	start and the end of a row (a = 0: b starts a row; b = 0: a ends one).

	With fewer than 16 codes, the text is one byte per code; read as one little-endian integer X,
	(X << 4) + (X >> 8) holds in byte i the pair code 16*b[i] + b[i+1] (no carries, since every code
	is < 16), so a single Counter over bytes (small cached ints) counts every pair."""
	if base <= NIBBLE_CODES:
		raw = joined.encode("latin-1")
		number = int.from_bytes(raw, "little")
		pairs = ((number << 4) + (number >> 8)).to_bytes(len(raw) + 1, "little")
		return [(code >> 4, code & 15, count) for code, count in Counter(pairs).items() if code]
	codes = list(map(ord, joined))
	counted = Counter(map(add, map(mul, codes, repeat(base)), codes[1:]))
	return [(code // base, code % base, count) for code, count in counted.items() if code]


def count_transitions(
	paths: PathTable | Iterable[PathStats],
	order: int,
	groups: dict[tuple[float, float], str] | None = None,
) -> tuple[dict[tuple[State, State], float], dict[State, float], dict[State, float]]:
	"""Aggregate transition counts: edges between states (START = ()), into conversion and into null."""
	edges: dict[tuple[State, State], float] = defaultdict(float)
	to_conversion: dict[State, float] = defaultdict(float)
	to_null: dict[State, float] = defaultdict(float)
	if order == 1:
		# Fast path. For order 1, collapsing consecutive identical states is the same as dropping the
		# self-pairs (a, a) of the raw path. Rows weighing the same are counted together by C code.
		table = as_table(paths)
		states = [None, *((name,) for name in table.channels)]
		for (conversions, nulls), joined in (groups if groups is not None else group_codes(table)).items():
			weight = conversions + nulls
			for a, b, count in _pair_counts(joined, len(states)):
				if not a:
					edges[START, states[b]] += weight * count
				elif not b:
					if conversions:
						to_conversion[states[a]] += conversions * count
					if nulls:
						to_null[states[a]] += nulls * count
				elif a != b:
					edges[states[a], states[b]] += weight * count
	else:
		# States as substrings of the rows' code strings (START is ""), named once at the end.
		table = as_table(paths)
		for codes, conversions, nulls in zip(table.codes, table.conversions, table.nulls, strict=True):
			weight = conversions + nulls
			if not weight:
				continue
			previous = ""
			for state in path_states(codes, order) if len(codes) > order else (codes,):
				edges[previous, state] += weight
				previous = state
			if conversions:
				to_conversion[previous] += conversions
			if nulls:
				to_null[previous] += nulls
		names = dict(zip(map(chr, range(1, len(table.channels) + 1)), table.channels, strict=True))

		def named(state: str) -> State:
			return tuple(map(names.__getitem__, state))

		edges = {(named(a), named(b)): w for (a, b), w in edges.items()}
		to_conversion = {named(state): w for state, w in to_conversion.items()}
		to_null = {named(state): w for state, w in to_null.items()}
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


PARALLEL_ROWS = 50_000  # below this many paths, forking costs more than it saves


@dataclass(frozen=True)
class MarkovCounts:
	"""What an order-k fit needs from the paths, summed over them: transition counts (count_transitions),
	journeys per channel and the totals. Counts of parts of the paths add up (`+`, `MarkovCounts.sum`),
	so a large file's runs can be counted where they are read."""

	order: int
	edges: dict[tuple[State, State], float]
	to_conversion: dict[State, float]
	to_null: dict[State, float]
	journeys: dict[str, float]
	conversions: float
	nulls: float
	value: Decimal

	@classmethod
	def of(cls, paths: PathTable | Iterable[PathStats], order: int) -> MarkovCounts:
		table = as_table(paths)
		groups = group_codes(table)
		edges, to_conversion, to_null = count_transitions(table, order, groups)
		return cls(
			order,
			edges,
			to_conversion,
			to_null,
			journeys_by_channel(table, groups),
			math.fsum(table.conversions),
			math.fsum(table.nulls),
			sum(filter(None, table.values), Decimal(0)),
		)

	@classmethod
	def sum(cls, parts: Sequence[MarkovCounts]) -> MarkovCounts:
		"""The counts of all `parts` (of one order), every dict in key order, so the chain is built the
		same way whatever the order or split of the rows."""
		return cls(
			parts[0].order,
			*(
				_summed(getattr(part, name) for part in parts)
				for name in ("edges", "to_conversion", "to_null", "journeys")
			),
			math.fsum(part.conversions for part in parts),
			math.fsum(part.nulls for part in parts),
			sum((part.value for part in parts), Decimal(0)),
		)


def _summed(parts: Iterable[dict]) -> dict:
	total: dict = defaultdict(float)
	for part in parts:
		for key, count in part.items():
			total[key] += count
	return dict(sorted(total.items()))


def fit_markov(
	paths: PathTable | Iterable[PathStats] | MarkovCounts,
	order: int = 1,
	min_journeys: int = 50,
	processes: int = 1,
) -> MarkovFit:
	"""Fit an order-`order` Markov model on aggregated paths (converting and not).

	`paths` is a PathTable, yields PathStats (or any (path, conversions, value, nulls) 4-tuples) or is
	their MarkovCounts of that order. Returns removal effects, channel weights RE(c)/sum RE, the
	transition counts and a sufficiency verdict: channels in fewer than `min_journeys` journeys are
	flagged; with no conversions, no non-converting journeys or every channel flagged the verdict is
	"insufficient" and no weights are given. With `processes` > 1, a table of PARALLEL_ROWS or more is
	counted in that many forked parts."""
	if order not in (1, 2, 3):
		raise ValidationError(f"markov: order must be 1, 2 or 3, got {order!r}")
	if isinstance(paths, MarkovCounts):
		if paths.order != order:
			raise ValidationError(f"markov: counts of order {paths.order} cannot fit order {order}")
		counts = paths
	else:
		table = as_table(paths)
		parts = None
		if processes > 1 and len(table) >= PARALLEL_ROWS:
			parts = fork_map(partial(MarkovCounts.of, order=order), table.parts(processes))
		if parts is None or None in parts:
			parts = [MarkovCounts.of(table, order)]
		counts = MarkovCounts.sum(parts)
	edges, to_conversion, to_null, journeys = (
		counts.edges,
		counts.to_conversion,
		counts.to_null,
		counts.journeys,
	)
	total_conversions, total_nulls, total_value = counts.conversions, counts.nulls, counts.value
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
