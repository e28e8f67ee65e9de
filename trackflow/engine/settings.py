"""Bounds and checks for TrackFlow Settings, shared by the Settings form and the engine's callers."""

import math
from collections.abc import Mapping
from dataclasses import dataclass

from trackflow.engine.errors import ValidationError


@dataclass(frozen=True)
class IntBound:
	label: str
	low: int
	high: int
	zero_means_forever: bool = False


# fieldname -> bound. Retention fields accept 0 ("keep forever").
INT_BOUNDS: dict[str, IntBound] = {
	"attribution_lookback_days": IntBound("Lookback Window (days)", 1, 730),
	"data_sufficiency_min_journeys": IntBound("Minimum Journeys per Channel", 1, 1_000_000),
	"session_timeout_minutes": IntBound("Session Timeout (minutes)", 1, 1440),
	# Chrome and Safari cap cookie lifetimes at 400 days; a longer setting would silently lie.
	"cookie_lifetime_days": IntBound("Visitor Cookie Lifetime (days)", 1, 400),
	"ipv4_prefix_length": IntBound("IPv4 Prefix Length", 8, 32),
	"ipv6_prefix_length": IntBound("IPv6 Prefix Length", 16, 128),
	"short_code_length": IntBound("Short Code Length", 5, 32),
	"click_retention_days": IntBound("Clicks (days)", 1, 36500, zero_means_forever=True),
	"event_retention_days": IntBound("Page Events (days)", 1, 36500, zero_means_forever=True),
	"session_retention_days": IntBound("Sessions (days)", 1, 36500, zero_means_forever=True),
	"touchpoint_retention_days": IntBound("Touchpoints (days)", 1, 36500, zero_means_forever=True),
	"score_half_life_days": IntBound("Score Half-Life (days)", 1, 3650),
	"hot_threshold": IntBound("Hot from Score", 1, 100_000),
	"warm_threshold": IntBound("Warm from Score", 0, 100_000),
	"forwarding_max_attempts": IntBound("Maximum Delivery Attempts", 1, 20),
}

# Lead score weights (%, Float fields): fieldname -> (label, default). Each >= 0; the three sum to 100.
SCORE_WEIGHT_FIELDS: dict[str, tuple[str, float]] = {
	"fit_weight": ("Fit Weight (%)", 35.0),
	"engagement_weight": ("Engagement Weight (%)", 40.0),
	"intent_weight": ("Intent Weight (%)", 25.0),
}
DEFAULT_SCORE_WEIGHTS = {fieldname: default for fieldname, (_, default) in SCORE_WEIGHT_FIELDS.items()}
# Float fields store what a user typed to 9 places; a sum within this of 100 is 100.
WEIGHT_SUM_TOLERANCE = 1e-6

CONSENT_MODES = ("none", "opt-in", "opt-out")
UTM_MERGE_MODES = ("keep", "override")


def validate_settings(values: Mapping) -> None:
	"""Raise ValidationError naming the first field out of bounds; None values are left to defaults."""
	for fieldname, bound in INT_BOUNDS.items():
		value = values.get(fieldname)
		if value is None:
			continue
		if not isinstance(value, int) or isinstance(value, bool):
			raise ValidationError(f"{bound.label} must be a whole number")
		if bound.zero_means_forever and value == 0:
			continue
		if not bound.low <= value <= bound.high:
			forever = " (or 0 to keep forever)" if bound.zero_means_forever else ""
			raise ValidationError(
				f"{bound.label} must be between {bound.low} and {bound.high}{forever}, not {value}"
			)
	if values.get("consent_mode") not in (None, *CONSENT_MODES):
		raise ValidationError(f"Consent Mode must be one of {', '.join(CONSENT_MODES)}")
	if values.get("utm_merge_mode") not in (None, *UTM_MERGE_MODES):
		raise ValidationError(f"UTM Parameters on Destinations must be one of {', '.join(UTM_MERGE_MODES)}")
	hot, warm = values.get("hot_threshold"), values.get("warm_threshold")
	if hot is not None and warm is not None and not hot > warm:
		raise ValidationError(f"Hot from Score ({hot}) must be above Warm from Score ({warm})")
	if any(values.get(fieldname) is not None for fieldname in SCORE_WEIGHT_FIELDS):
		check_score_weights({f: values.get(f, DEFAULT_SCORE_WEIGHTS[f]) for f in SCORE_WEIGHT_FIELDS})
	won = set(values.get("won_deal_statuses") or ())
	lost = set(values.get("lost_deal_statuses") or ())
	if both := sorted(won & lost):
		raise ValidationError(f"Deal statuses cannot be both won and lost: {', '.join(both)}")


def check_score_weights(weights: Mapping) -> dict[str, float]:
	"""{fieldname: weight} for fit_weight, engagement_weight, intent_weight as floats, or ValidationError:
	each a finite number >= 0, together 100 (a missing or None weight is its default)."""
	checked = {}
	for fieldname, (label, default) in SCORE_WEIGHT_FIELDS.items():
		value = weights.get(fieldname)
		value = default if value is None else value
		if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
			raise ValidationError(f"{label} must be a number, not {value!r}")
		if value < 0:
			raise ValidationError(f"{label} cannot be negative ({value})")
		checked[fieldname] = float(value)
	total = math.fsum(checked.values())
	if abs(total - 100.0) > WEIGHT_SUM_TOLERANCE:
		named = ", ".join(f"{SCORE_WEIGHT_FIELDS[f][0]} {v:g}" for f, v in checked.items())
		raise ValidationError(f"Lead score weights must add up to 100, not {total:g} ({named})")
	return checked
