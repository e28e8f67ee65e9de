"""Models applied to aggregated paths (ChannelAttribution's input): per-channel conversions and value.

With aggregated input the single conversions are unknown, so values are exact rational shares of each
path's total value (integer minor units over a common denominator), summed per channel and rounded once:
largest remainder over the channels (ties to the channel first in name order), so the channel values sum
exactly to the total value.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal
from fractions import Fraction
from itertools import compress, repeat
from operator import eq, itemgetter, truediv
from typing import Any

from trackflow.engine.attribution.registry import CHANNEL_PREFIX, get_model, parse_model_spec
from trackflow.engine.attribution.types import ModelSpec, PathStats, PathTable
from trackflow.engine.errors import ValidationError
from trackflow.engine.money import from_minor, to_minor

NEEDS_TIMESTAMPS = ("time_decay", "w_shaped", "full_path")
ChannelTotals = dict[str, tuple[float, Decimal]]


def _round_channels(
	numerators: dict[str, int], denominator: int, total_units: int, places: int
) -> dict[str, Decimal]:
	"""Channel values numerators[c] / denominator minor units, rounded by largest remainder (ties to the
	channel first in name order) so they sum to total_units."""
	floors = {c: n // denominator for c, n in numerators.items()}
	leftover = total_units - sum(floors.values())
	order = sorted(numerators, key=lambda c: (floors[c] * denominator - numerators[c], c))
	for c in order[: max(leftover, 0)]:
		floors[c] += 1
	return {c: from_minor(u, places) for c, u in floors.items()}


def _minor_units(values: list[Any], places: int) -> list[int]:
	"""Each value (Decimal, or a false 0) in integer minor units; the first value that is not a finite
	Decimal within `places` decimals raises as `to_minor` does."""
	try:
		if all(map(Decimal.is_finite, values)):
			scaled = list(map(Decimal.scaleb, values, repeat(places)))
			if all(map(eq, scaled, map(Decimal.to_integral_value, scaled))):
				return list(map(int, scaled))
	except TypeError:
		pass
	return [to_minor(value, places) if value else 0 for value in values]


def _shares(
	path: tuple[str, ...], name: str, params: dict[str, Any], weights_by_channel: dict[str, float] | None
) -> Iterable[tuple[str, float, int]]:
	"""(channel, weight of one of its touches, touches) for the touches of `path`: per channel when the
	weights come by channel (a channel's touches share its weight evenly), else per touch. Each weight
	is the touch's raw weight over the path's raw total, summed in path order."""
	n = len(path)
	if weights_by_channel is not None:
		get = weights_by_channel.get
		distinct = set(path)
		if len(distinct) == n:
			raw = list(map(get, path, repeat(0.0)))
			total = sum(raw)
			if total > 0:
				return zip(path, map(truediv, raw, repeat(total)), repeat(1))
			return zip(path, repeat(1.0 / n), repeat(1))
		counts = dict(zip(distinct, map(path.count, distinct), strict=True))
		total = sum(map(truediv, map(get, path, repeat(0.0)), map(counts.__getitem__, path)))
		if total > 0:
			return [(c, get(c, 0.0) / k / total, k) for c, k in counts.items()]
		return [(c, 1.0 / n, k) for c, k in counts.items()]
	if name == "last_non_direct":
		raw = [0.0] * n
		index = next((i for i in range(n - 1, -1, -1) if path[i].lower() != "direct"), n - 1)
		raw[index] = 1.0
	elif name in ("position_based", "j_shaped", "inverse_j"):
		if n <= 2:
			raw = [1.0] * n
		else:
			middle = max((1.0 - params["first"] - params["last"]) / (n - 2), 0.0)
			raw = [params["first"]] + [middle] * (n - 2) + [params["last"]]
	elif name == "custom":
		raw = [0.0] * n
		raw[0] += params.get("first", 0.0)
		raw[-1] += params.get("last", 0.0)
		if n > 2:
			for i in range(1, n - 1):
				raw[i] += params.get("middle", 0.0) / (n - 2)
		else:
			raw[-1] += params.get("middle", 0.0)
	else:
		raise ValidationError(f"model {name} cannot run on aggregated paths")
	total = sum(raw)
	weights = map(truediv, raw, repeat(total)) if total > 0 else repeat(1.0 / n)
	return zip(path, weights, repeat(1))


def attribute_paths(
	paths: PathTable | Sequence[PathStats], spec: str | ModelSpec, fit: Any = None, places: int = 2
) -> ChannelTotals:
	"""Per channel (conversions, value) of `spec` over aggregated `paths` (only converting rows count).

	time_decay, w_shaped and full_path need timestamps or milestones and are refused. Data-driven
	models need `fit`; each path's conversions and value are split by the fitted channel weights,
	evenly among a channel's touches, as `attribute` does per conversion."""
	spec = parse_model_spec(spec)
	if spec.name in NEEDS_TIMESTAMPS:
		raise ValidationError(
			f"model {spec.name} needs timestamps or milestones; give touchpoints, not paths"
		)
	channel_weights = None
	if get_model(spec.name).data_driven:
		if fit is None:
			raise ValidationError(f"model {spec.name} is data-driven: fit it first")
		if not fit.sufficient:
			return {}
		channel_weights = fit.channel_weights
	# Only rows with conversions or value count; their values in integer minor units.
	if isinstance(paths, PathTable):
		rows = paths.converting_rows
	else:
		paths = paths if isinstance(paths, list) else list(paths)
		rows = list(compress(paths, map(any, map(itemgetter(1, 2), paths))))
	minor = _minor_units(list(map(itemgetter(2), rows)), places)
	total_units = sum(minor)
	conversions: dict[str, float] = defaultdict(float)
	# Each channel's exact value is numerators[c] / denominator minor units (integers, no Fraction).
	numerators: dict[str, int] = defaultdict(int)
	if spec.name in ("first_touch", "last_touch", "linear"):
		by_length: dict[tuple[str, int], int] = defaultdict(int)
		pick = 0 if spec.name == "first_touch" else -1
		for (path, converted, _value, _nulls), cents in zip(rows, minor, strict=True):
			if spec.name == "linear":
				n = len(path)
				share = converted / n
				for channel in path:
					conversions[channel] += share
					by_length[channel, n] += cents
			else:
				channel = path[pick]
				conversions[channel] += converted
				numerators[channel] += cents
		denominator = math.lcm(*{n for _c, n in by_length}) if by_length else 1
		for (channel, n), units in by_length.items():
			numerators[channel] += units * (denominator // n)
	else:
		# A float weight is exactly p / 2**k: sum the conversions and cents per (channel, weight), then
		# times p per (channel, 2**k), then bring every sum to the largest power of two: exact, so
		# neither the order of the rows nor that of the touches changes a digit.
		by_weight: dict[str, dict[float, list]] = defaultdict(dict)
		params = spec.param_dict
		weights_by_channel = channel_weights
		if weights_by_channel is None and spec.name == "custom":
			weights_by_channel = {
				k[len(CHANNEL_PREFIX) :]: v for k, v in params.items() if k.startswith(CHANNEL_PREFIX)
			} or None
		for (path, converted, _value, _nulls), cents in zip(rows, minor, strict=True):
			if type(converted) is float:
				converted = Fraction(converted)  # a count read with decimals: exact, like the rest
			for channel, w, times in _shares(path, spec.name, params, weights_by_channel):
				sums = by_weight[channel].get(w)
				if sums is None:
					by_weight[channel][w] = [converted * times, cents * times]
				else:
					sums[0] += converted * times
					sums[1] += cents * times
		by_scale: dict[tuple[str, int], list] = defaultdict(lambda: [0, 0])
		for channel, sums_by_weight in by_weight.items():
			for w, (converted, units) in sums_by_weight.items():
				p, scale = w.as_integer_ratio()
				sums = by_scale[channel, scale]
				sums[0] += converted * p
				sums[1] += units * p
		denominator = max((scale for _c, scale in by_scale), default=1)
		converted_numerators: dict[str, Any] = dict.fromkeys(by_weight, 0)
		for (channel, scale), (converted, units) in by_scale.items():
			converted_numerators[channel] += converted * (denominator // scale)
			numerators[channel] += units * (denominator // scale)
		for channel, numerator in converted_numerators.items():
			conversions[channel] = float(numerator / denominator)  # correctly rounded, Fraction or int
	values = _round_channels({c: numerators[c] for c in conversions}, denominator, total_units, places)
	return {c: (conversions[c], values[c]) for c in sorted(conversions)}
