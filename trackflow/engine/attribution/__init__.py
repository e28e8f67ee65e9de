"""Multi-touch attribution: rule-based and data-driven models, exact to the minor unit.

Stable entry points for the Frappe layer and the CLI:
  attribute(conversion, touchpoints, spec, fit=None) -> AttributionResult
  parse_model_spec(text) -> ModelSpec;  validate_params(model, params) -> ModelSpec
  fit_markov(paths, order=1, min_journeys=50) -> MarkovFit;  fit_shapley(paths, min_journeys=50) -> ShapleyFit
  fit_model(spec, paths);  paths_from_journeys(journeys, lookback_days);  attribute_paths(paths, spec, fit)
  compare_models(journeys, specs, fits=None) -> Comparison
"""

from trackflow.engine.attribution.aggregate import attribute_paths
from trackflow.engine.attribution.apply import (
	EQUAL_SPLIT_FALLBACK,
	INSUFFICIENT_DATA,
	NO_TOUCHPOINTS,
	attribute,
)
from trackflow.engine.attribution.compare import Comparison, all_model_specs, compare_models, fit_model
from trackflow.engine.attribution.journeys import Journey, paths_from_journeys
from trackflow.engine.attribution.markov import MarkovFit, fit_markov
from trackflow.engine.attribution.registry import MODELS, model_names, parse_model_spec, validate_params
from trackflow.engine.attribution.registry import get_model as get_model_def
from trackflow.engine.attribution.shapley import ShapleyFit, fit_shapley
from trackflow.engine.attribution.types import (
	AttributionResult,
	Conversion,
	Credit,
	ModelSpec,
	PathStats,
	Touchpoint,
	path_stats,
)


def fit_from_dict(data: dict) -> MarkovFit | ShapleyFit:
	"""Rebuild a stored fit (the JSON of `fit.to_dict()`)."""
	return MarkovFit.from_dict(data) if data.get("model") == "markov" else ShapleyFit.from_dict(data)


__all__ = [
	"EQUAL_SPLIT_FALLBACK",
	"INSUFFICIENT_DATA",
	"MODELS",
	"NO_TOUCHPOINTS",
	"AttributionResult",
	"Comparison",
	"Conversion",
	"Credit",
	"Journey",
	"MarkovFit",
	"ModelSpec",
	"PathStats",
	"ShapleyFit",
	"Touchpoint",
	"all_model_specs",
	"attribute",
	"attribute_paths",
	"compare_models",
	"fit_from_dict",
	"fit_markov",
	"fit_model",
	"fit_shapley",
	"get_model_def",
	"model_names",
	"parse_model_spec",
	"path_stats",
	"paths_from_journeys",
	"validate_params",
]
