"""Attribute one conversion under one model: window the journey, weigh the touches, split the money."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import timedelta
from itertools import pairwise
from typing import Any

from trackflow.engine import ENGINE_VERSION
from trackflow.engine.attribution.markov import MarkovFit
from trackflow.engine.attribution.models import RULE_MODELS, channel_weights_to_touches
from trackflow.engine.attribution.registry import get_model, parse_model_spec
from trackflow.engine.attribution.shapley import ShapleyFit
from trackflow.engine.attribution.types import (
	TOUCH_ORDER,
	AttributionResult,
	Conversion,
	Credit,
	ModelSpec,
	Touchpoint,
)
from trackflow.engine.errors import ValidationError
from trackflow.engine.money import allocate

Fit = MarkovFit | ShapleyFit

NO_TOUCHPOINTS = "no_touchpoints"
INSUFFICIENT_DATA = "insufficient_data"
EQUAL_SPLIT_FALLBACK = "equal_split_fallback"


def window(
	touchpoints: Iterable[Touchpoint], conversion: Conversion, lookback_days: float
) -> list[Touchpoint]:
	"""Touches not after the conversion and at most `lookback_days` before it, ordered by (timestamp, id).
	Raises ValidationError on two touches with the same id (the order would not be deterministic)."""
	ordered = sorted(touchpoints, key=TOUCH_ORDER)
	if len({t.id for t in ordered}) != len(ordered):
		ids = sorted(t.id for t in ordered)
		duplicate = next(a for a, b in pairwise(ids) if a == b)
		raise ValidationError(f"touchpoint id {duplicate!r} appears twice in the journey")
	start = conversion.timestamp - timedelta(days=lookback_days)
	return [t for t in ordered if start <= t.timestamp <= conversion.timestamp]


def _check_fit(spec: ModelSpec, fit: Any) -> Fit:
	if fit is None:
		raise ValidationError(
			f"model {spec.name} is data-driven: fit it first (fit_{spec.name}(paths)) and pass the fit"
		)
	if isinstance(fit, dict):
		fit = (MarkovFit if fit.get("model") == "markov" else ShapleyFit).from_dict(fit)
	if fit.model != spec.name:
		raise ValidationError(f"model {spec.name} was given a {fit.model} fit")
	if spec.name == "markov" and fit.order != spec.get("order"):
		raise ValidationError(f"model {spec} was given a fit of order {fit.order}")
	return fit


def attribute(
	conversion: Conversion,
	touchpoints: Iterable[Touchpoint],
	spec: str | ModelSpec,
	fit: Fit | dict | None = None,
) -> AttributionResult:
	"""Credits of `conversion` over its journey `touchpoints` under model `spec`.

	`spec` is a ModelSpec or a spec string ("linear", "time_decay:half_life_days=3"). Data-driven
	models (markov, shapley) need `fit` (a MarkovFit/ShapleyFit or its `to_dict()`): the value is split
	in proportion to the fitted channel weights, evenly among touches of one channel.

	The result has one Credit per touch in the lookback window, ordered by (timestamp, id): weights are
	>= 0 and sum to 1, values sum exactly to `conversion.value` (largest remainder in the currency's
	minor unit, ties to the earlier touch). With no touch in the window the result has no credits and
	reason "no_touchpoints"; with an insufficient fit, no credits and reason "insufficient_data". When
	every touch weighs 0 (e.g. channels unknown to the fit) the value is split evenly and reason is
	"equal_split_fallback". Deterministic and independent of the input order.
	"""
	spec = parse_model_spec(spec)
	definition = get_model(spec.name)
	params = spec.param_dict
	touches = window(touchpoints, conversion, params["lookback_days"])
	fitted = _check_fit(spec, fit) if definition.data_driven else None

	def result(credits: tuple[Credit, ...], reason: str | None) -> AttributionResult:
		return AttributionResult(
			conversion.id, spec.name, params, ENGINE_VERSION, credits, conversion.currency, reason
		)

	if not touches:
		return result((), NO_TOUCHPOINTS)
	if fitted is not None:
		if not fitted.sufficient:
			return result((), INSUFFICIENT_DATA)
		raw = channel_weights_to_touches(touches, fitted.channel_weights)
	else:
		raw = RULE_MODELS[spec.name](touches, conversion, params)
	reason = None
	total = math.fsum(raw)
	if not total > 0:
		raw, total, reason = [1.0] * len(touches), float(len(touches)), EQUAL_SPLIT_FALLBACK
	weights = [w / total for w in raw]
	values = allocate(conversion.value, weights, conversion.currency)
	credits = tuple(Credit(t.id, t.channel, w, v) for t, w, v in zip(touches, weights, values, strict=True))
	return result(credits, reason)
