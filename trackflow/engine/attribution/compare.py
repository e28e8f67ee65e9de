"""Run several models on the same conversions and tabulate credited conversions and value per channel."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from trackflow.engine.attribution.apply import Fit, attribute
from trackflow.engine.attribution.journeys import Journey, paths_from_journeys
from trackflow.engine.attribution.markov import MarkovCounts, fit_markov
from trackflow.engine.attribution.registry import get_model, model_names, parse_model_spec
from trackflow.engine.attribution.shapley import fit_shapley
from trackflow.engine.attribution.types import AttributionResult, ModelSpec, PathStats, PathTable
from trackflow.engine.errors import ValidationError


def fit_model(
	spec: str | ModelSpec, paths: PathTable | Sequence[PathStats] | MarkovCounts, processes: int = 1
) -> Fit:
	"""Fit the data-driven model `spec` (markov or shapley, with its params) on aggregated paths; a
	Markov fit of a large table may count its parts in up to `processes` forked processes."""
	spec = parse_model_spec(spec)
	if spec.name == "markov":
		return fit_markov(
			paths, order=spec.get("order"), min_journeys=spec.get("min_journeys"), processes=processes
		)
	if spec.name == "shapley":
		return fit_shapley(paths, min_journeys=spec.get("min_journeys"))
	raise ValidationError(f"model {spec.name} is not data-driven; it needs no fit")


def all_model_specs() -> list[str]:
	"""Every built-in model with its defaults (custom needs weights: a linear-equivalent position split)."""
	return [name if name != "custom" else "custom:first=0.3,middle=0.4,last=0.3" for name in model_names()]


@dataclass(frozen=True)
class Comparison:
	"""Channel x model table: cells[model label][channel] = (conversions, value); the per-conversion
	results and the fits used, keyed by model label (the spec string as given)."""

	models: list[str]
	channels: list[str]
	cells: dict[str, dict[str, tuple[float, Decimal]]]
	conversions: int
	value: Decimal
	currency: str
	results: dict[str, list[AttributionResult]]
	fits: dict[str, Fit]


def compare_models(
	journeys: Sequence[Journey],
	specs: Sequence[str | ModelSpec],
	fits: Mapping[str, Fit] | None = None,
) -> Comparison:
	"""Attribute every conversion of `journeys` under each spec and tabulate per channel.

	Data-driven specs use `fits[label]` when given, else are fitted on `journeys` themselves (converting
	and non-converting, with the spec's lookback window). All conversions must share one currency."""
	currencies = sorted({c.currency for j in journeys for c in j.conversions})
	if len(currencies) > 1:
		raise ValidationError(f"cannot add up values in several currencies: {', '.join(currencies)}")
	currency = currencies[0] if currencies else "USD"
	fits = dict(fits or {})
	labels: list[str] = []
	cells: dict[str, dict[str, tuple[float, Decimal]]] = {}
	results: dict[str, list[AttributionResult]] = {}
	used_fits: dict[str, Fit] = {}
	channels: set[str] = set()
	conversions = [(j, c) for j in journeys for c in j.conversions]
	for given in specs:
		label = str(given)
		spec = parse_model_spec(given)
		fit = fits.get(label)
		if get_model(spec.name).data_driven and fit is None:
			fit = fit_model(spec, paths_from_journeys(journeys, spec.get("lookback_days")))
		if fit is not None:
			used_fits[label] = fit
		credited: dict[str, list[Any]] = defaultdict(lambda: [0.0, Decimal(0)])
		model_results = []
		for journey, conversion in conversions:
			outcome = attribute(conversion, journey.touchpoints, spec, fit)
			model_results.append(outcome)
			for credit in outcome.credits:
				cell = credited[credit.channel]
				cell[0] += credit.weight
				cell[1] += credit.value
		labels.append(label)
		cells[label] = {c: (v[0], v[1]) for c, v in sorted(credited.items())}
		results[label] = model_results
		channels.update(credited)
	total = sum((c.value for _, c in conversions), Decimal(0))
	return Comparison(labels, sorted(channels), cells, len(conversions), total, currency, results, used_fits)
