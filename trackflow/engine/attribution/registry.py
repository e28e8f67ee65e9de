"""The named models, their parameters and defaults, and the parsing/validation of model specs."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from trackflow.engine.attribution.types import ModelSpec
from trackflow.engine.errors import ValidationError

DEFAULT_LOOKBACK_DAYS = 90
DEFAULT_MIN_JOURNEYS = 50
WEIGHT_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Param:
	"""One model parameter: its type, default and the check its value must pass."""

	name: str
	kind: type
	default: Any
	check: Callable[[Any], bool]
	expect: str


def _share(name: str, default: float) -> Param:
	return Param(name, float, default, lambda v: 0 <= v <= 1, "a number between 0 and 1")


# A century: a longer window reaches past the dates datetime can hold (and no journey is that long).
MAX_LOOKBACK_DAYS = 36_525
LOOKBACK = Param(
	"lookback_days",
	float,
	float(DEFAULT_LOOKBACK_DAYS),
	lambda v: 0 < v <= MAX_LOOKBACK_DAYS,
	f"a number of days > 0 and at most {MAX_LOOKBACK_DAYS:,} (100 years)",
)
MIN_JOURNEYS = Param("min_journeys", int, DEFAULT_MIN_JOURNEYS, lambda v: v >= 0, "an integer >= 0")


@dataclass(frozen=True)
class ModelDef:
	"""A model's name, whether it must be fitted on journeys first, and its parameters."""

	name: str
	data_driven: bool
	params: tuple[Param, ...]
	summary: str
	# Shares (parameter names) that must add up to at most 1; the rest goes to other touches.
	shares: tuple[str, ...] = ()


MODELS: dict[str, ModelDef] = {
	m.name: m
	for m in (
		ModelDef("first_touch", False, (LOOKBACK,), "100 % to the first touch"),
		ModelDef("last_touch", False, (LOOKBACK,), "100 % to the last touch"),
		ModelDef(
			"last_non_direct",
			False,
			(LOOKBACK,),
			"100 % to the last non-direct touch (all direct: last touch)",
		),
		ModelDef("linear", False, (LOOKBACK,), "equal share to every touch"),
		ModelDef(
			"time_decay",
			False,
			(Param("half_life_days", float, 7.0, lambda v: v > 0, "a number of days > 0"), LOOKBACK),
			"weight halves every half_life_days before the conversion",
		),
		ModelDef(
			"position_based",
			False,
			(_share("first", 0.4), _share("last", 0.4), LOOKBACK),
			"first and last get fixed shares, the middle splits the rest",
			("first", "last"),
		),
		ModelDef(
			"j_shaped",
			False,
			(_share("first", 0.2), _share("last", 0.6), LOOKBACK),
			"position based, 20 % first / 60 % last",
			("first", "last"),
		),
		ModelDef(
			"inverse_j",
			False,
			(_share("first", 0.6), _share("last", 0.2), LOOKBACK),
			"position based, 60 % first / 20 % last",
			("first", "last"),
		),
		ModelDef(
			"w_shaped",
			False,
			(_share("first", 0.3), _share("lead", 0.3), _share("opportunity", 0.3), LOOKBACK),
			"first, lead-creation and opportunity-creation touches 30 % each, 10 % over the rest",
			("first", "lead", "opportunity"),
		),
		ModelDef(
			"full_path",
			False,
			(
				_share("first", 0.225),
				_share("lead", 0.225),
				_share("opportunity", 0.225),
				_share("won", 0.225),
				LOOKBACK,
			),
			"first, lead, opportunity and won touches 22.5 % each, 10 % over the rest",
			("first", "lead", "opportunity", "won"),
		),
		ModelDef(
			"custom",
			False,
			(LOOKBACK,),
			"user weights by position (first, middle, last) or by channel (channel.<name>), summing to 1",
		),
		ModelDef(
			"markov",
			True,
			(Param("order", int, 1, lambda v: v in (1, 2, 3), "1, 2 or 3"), MIN_JOURNEYS, LOOKBACK),
			"removal effects of an order-k Markov chain, solved exactly",
		),
		ModelDef(
			"shapley",
			True,
			(MIN_JOURNEYS, LOOKBACK),
			"simplified Shapley values (Zhao et al. 2018), exact",
		),
	)
}

POSITION_KEYS = ("first", "middle", "last")
CHANNEL_PREFIX = "channel."


def model_names() -> list[str]:
	return list(MODELS)


def get_model(name: str) -> ModelDef:
	try:
		return MODELS[name]
	except KeyError:
		raise ValidationError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}") from None


def _convert(model: str, param: Param, raw: Any) -> Any:
	what = f"{model}: parameter {param.name}"
	if isinstance(raw, bool):
		raise ValidationError(f"{what} must be {param.expect}, got {raw!r}")
	try:
		if param.kind is int:
			if isinstance(raw, float) and raw.is_integer():
				raw = int(raw)
			if isinstance(raw, str):
				raw = raw.strip()
			value = int(raw)
			if isinstance(raw, float):
				raise ValueError
		else:
			value = float(raw.strip() if isinstance(raw, str) else raw)
			if not math.isfinite(value):
				raise ValueError
	except (TypeError, ValueError):
		raise ValidationError(f"{what} must be {param.expect}, got {raw!r}") from None
	if not param.check(value):
		raise ValidationError(f"{what} must be {param.expect}, got {raw!r}")
	return value


def _custom_params(params: Mapping[str, Any]) -> list[tuple[str, Any]]:
	lookback = {k: v for k, v in params.items() if k == LOOKBACK.name}
	weights = {k: v for k, v in params.items() if k != LOOKBACK.name}
	if not weights:
		raise ValidationError(
			"custom: give weights by position (first=,middle=,last=) or by channel (channel.<name>=), summing to 1"
		)
	by_position = [k for k in weights if k in POSITION_KEYS]
	by_channel = [k for k in weights if k.startswith(CHANNEL_PREFIX) and len(k) > len(CHANNEL_PREFIX)]
	unknown = sorted(set(weights) - set(by_position) - set(by_channel))
	if unknown:
		raise ValidationError(
			f"custom: unknown parameter {unknown[0]!r}; use first, middle, last or channel.<name>"
		)
	if by_position and by_channel:
		raise ValidationError("custom: weigh either by position or by channel, not both")
	converted = []
	for key in sorted(weights, key=lambda k: (POSITION_KEYS.index(k) if k in POSITION_KEYS else 3, k)):
		converted.append((key, _convert("custom", _share(key, 0.0), weights[key])))
	total = math.fsum(v for _, v in converted)
	if abs(total - 1) > WEIGHT_TOLERANCE:
		raise ValidationError(f"custom: weights must sum to 1, they sum to {total:g}")
	converted.append(
		(LOOKBACK.name, _convert("custom", LOOKBACK, lookback.get(LOOKBACK.name, LOOKBACK.default)))
	)
	return converted


def validate_params(model: str, params: Mapping[str, Any] | None = None) -> ModelSpec:
	"""Check `params` for `model` and return the complete spec (defaults filled, values typed).

	Raises ValidationError naming the model and parameter for an unknown model, an unknown parameter,
	a value of the wrong type or range, or shares that add up to more than 1."""
	definition = get_model(model)
	params = dict(params or {})
	if model == "custom":
		return ModelSpec(model, tuple(_custom_params(params)))
	known = {p.name: p for p in definition.params}
	for key in params:
		if key not in known:
			raise ValidationError(
				f"{model}: unknown parameter {key!r}; parameters are: {', '.join(known) or 'none'}"
			)
	values = [
		(p.name, _convert(model, p, params[p.name]) if p.name in params else p.default)
		for p in known.values()
	]
	if definition.shares:
		total = math.fsum(v for k, v in values if k in definition.shares)
		if total > 1 + WEIGHT_TOLERANCE:
			raise ValidationError(
				f"{model}: {' + '.join(definition.shares)} must be at most 1, got {total:g}"
			)
	return ModelSpec(model, tuple(values))


def parse_model_spec(text: str | ModelSpec) -> ModelSpec:
	"""Parse "name" or "name:key=value,key=value" (e.g. "position_based:first=0.3,last=0.3") into a
	validated ModelSpec; a ModelSpec passes through (re-validated)."""
	if isinstance(text, ModelSpec):
		return validate_params(text.name, text.param_dict)
	if not isinstance(text, str) or not text.strip():
		raise ValidationError("empty model spec; give a model name such as last_touch")
	name, _, rest = text.strip().partition(":")
	name = name.strip()
	params: dict[str, str] = {}
	if rest.strip():
		for item in rest.split(","):
			key, eq, value = item.partition("=")
			key = key.strip()
			if not eq or not key or not value.strip():
				raise ValidationError(f"model spec {text!r}: expected key=value, got {item.strip()!r}")
			if key in params:
				raise ValidationError(f"model spec {text!r}: parameter {key!r} given twice")
			params[key] = value.strip()
	return validate_params(name, params)
