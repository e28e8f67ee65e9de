"""Journey health of a lead: days since its last activity, its engagement trend, and a churn risk from 0 to 1
measured against the lead's own rhythm and its stage's usual length.

Churn risk, with every input returned beside it (ChurnRisk):

- idle = whole days since the last activity (scoring.days_since), or since the lead was created when it
  has no activity; no activity and no creation time: no risk figure (None).
- cadence = the median gap, in days, between the lead's distinct activity days (the last `max_gaps` gaps;
  a lead active every day has cadence 1); unknown with fewer than two activity days.
- stage median = the median number of days leads spend in the lead's current status (median_stage_days
  computes it from CRM's status change log); unknown when not given.
- each known basis b (cadence, stage median) gives overdue(idle, b) = clamp((idle / b - 1) / (F - 1), 0, 1)
  with F = `full_risk_at` (default 4): no risk while the lead has been quiet for at most one usual gap,
  rising linearly to full risk at F usual gaps. A lead is at risk if either basis says so:
  risk = 1 - (1 - overdue(idle, cadence)) x (1 - overdue(idle, stage median)), unknown bases left out.
  With neither basis known, `default_gap_days` (14, the default half-life) stands in as the one basis.

Example: cadence 2 days, stage median 10 days, idle 5 days: overdue(5, 2) = (2.5 - 1) / 3 = 0.5,
overdue(5, 10) = 0, risk 0.5. Idle 20: overdue(20, 2) = 1 (capped), overdue(20, 10) = 1/3, risk 1.
"""

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from itertools import pairwise

from trackflow.engine.errors import ValidationError
from trackflow.engine.scoring import (
	TREND_MIN_CHANGE,
	TREND_TOLERANCE,
	_finite,
	_require_aware,
	days_since,
	trend,
)

DEFAULT_FULL_RISK_AT = 4.0
DEFAULT_GAP_DAYS = 14.0
DEFAULT_MAX_GAPS = 20


def activity_cadence(times: Iterable[datetime], max_gaps: int = DEFAULT_MAX_GAPS) -> float | None:
	"""The median gap in days between distinct activity days (each time's own calendar day), over the last
	`max_gaps` gaps; None with fewer than two activity days."""
	days = sorted({t.date() for t in times})
	gaps = [(b - a).days for a, b in pairwise(days)][-max_gaps:]
	return float(statistics.median(gaps)) if gaps else None


def median_stage_days(durations: Iterable[tuple[str, float]]) -> dict[str, float]:
	"""{stage: median days spent in it} from (stage, days) pairs, one per stay that ended (CRM's status
	change log: the status left and the duration there). Negative or non-finite durations are skipped."""
	by_stage: dict[str, list[float]] = {}
	for stage, days in durations:
		try:
			value = _finite(days, "Stage duration")
		except ValidationError:
			continue
		if value >= 0 and stage:
			by_stage.setdefault(stage, []).append(value)
	return {stage: float(statistics.median(values)) for stage, values in sorted(by_stage.items())}


def overdue(idle_days: float, expected_days: float, full_risk_at: float = DEFAULT_FULL_RISK_AT) -> float:
	"""clamp((idle / expected - 1) / (full_risk_at - 1), 0, 1): 0 within one expected gap, 1 from
	`full_risk_at` gaps. An expected gap below one day counts as one day."""
	expected = max(1.0, expected_days)
	return min(1.0, max(0.0, (idle_days / expected - 1.0) / (full_risk_at - 1.0)))


@dataclass(frozen=True)
class ChurnRisk:
	"""A churn risk (0-1, None without any activity or creation time) and what it was computed from."""

	risk: float | None
	days_inactive: int | None
	cadence_days: float | None
	stage: str | None
	stage_median_days: float | None
	cadence_risk: float | None
	stage_risk: float | None
	basis: tuple[str, ...]  # the bases used: "cadence", "stage" or "default"


def churn_risk(
	activity_times: Iterable[datetime],
	now: datetime,
	*,
	stage: str | None = None,
	stage_median_days: float | None = None,
	created_at: datetime | None = None,
	full_risk_at: float = DEFAULT_FULL_RISK_AT,
	default_gap_days: float = DEFAULT_GAP_DAYS,
	max_gaps: int = DEFAULT_MAX_GAPS,
) -> ChurnRisk:
	"""The churn risk of a lead at `now` (formula in the module docstring)."""
	_require_aware(now, "Churn risk time")
	times = list(activity_times)
	for t in times:
		_require_aware(t, "Activity time")
	last = max(times) if times else created_at
	return churn_from_idle(
		days_since(last, now),
		activity_cadence(times, max_gaps),
		stage=stage,
		stage_median_days=stage_median_days,
		full_risk_at=full_risk_at,
		default_gap_days=default_gap_days,
	)


def churn_from_idle(
	idle_days: int | None,
	cadence_days: float | None,
	*,
	stage: str | None = None,
	stage_median_days: float | None = None,
	full_risk_at: float = DEFAULT_FULL_RISK_AT,
	default_gap_days: float = DEFAULT_GAP_DAYS,
) -> ChurnRisk:
	"""The churn risk from its inputs already known (idle days, cadence): what the daily job uses, with the
	cadence kept on the lead at its last rescore, so it needs no activity. churn_risk computes them."""
	if _finite(full_risk_at, "Full risk at") <= 1:
		raise ValidationError(f"Full risk must come after more than one usual gap, not {full_risk_at}")
	if _finite(default_gap_days, "Default gap (days)") <= 0:
		raise ValidationError(f"Default gap must be above 0 days, not {default_gap_days}")
	if stage_median_days is not None and _finite(stage_median_days, "Stage median (days)") <= 0:
		stage_median_days = None  # a stage left at once has no usual length to be late against
	idle, cadence = idle_days, cadence_days
	if idle is None:
		return ChurnRisk(None, None, cadence, stage, stage_median_days, None, None, ())
	cadence_risk = None if cadence is None else overdue(idle, cadence, full_risk_at)
	stage_risk = None if stage_median_days is None else overdue(idle, stage_median_days, full_risk_at)
	known = [r for r in (cadence_risk, stage_risk) if r is not None]
	basis = tuple(name for name, r in (("cadence", cadence_risk), ("stage", stage_risk)) if r is not None)
	if not known:
		known, basis = [overdue(idle, default_gap_days, full_risk_at)], ("default",)
	staying = 1.0
	for r in known:
		staying *= 1.0 - r
	return ChurnRisk(
		round(1.0 - staying, 4) + 0.0,
		idle,
		cadence,
		stage,
		stage_median_days,
		cadence_risk,
		stage_risk,
		basis,
	)


@dataclass(frozen=True)
class JourneyHealth:
	"""Days since the last activity (None: none), engagement trend and churn risk of one lead."""

	days_since_last_activity: int | None
	trend: str
	churn: ChurnRisk


def journey_health(
	activity_times: Iterable[datetime],
	score_history: Iterable[tuple[date, float]],
	now: datetime,
	*,
	stage: str | None = None,
	stage_median_days: float | None = None,
	created_at: datetime | None = None,
	trend_window_days: int = 14,
	trend_tolerance: float = TREND_TOLERANCE,
	trend_min_change: float = TREND_MIN_CHANGE,
	full_risk_at: float = DEFAULT_FULL_RISK_AT,
	default_gap_days: float = DEFAULT_GAP_DAYS,
) -> JourneyHealth:
	"""A lead's health at `now`: `score_history` is its compact daily history (scoring.daily_history);
	the trend compares the last `trend_window_days` with the ones before (scoring.trend)."""
	times = list(activity_times)
	churn = churn_risk(
		times,
		now,
		stage=stage,
		stage_median_days=stage_median_days,
		created_at=created_at,
		full_risk_at=full_risk_at,
		default_gap_days=default_gap_days,
	)
	last = max(times) if times else None
	return JourneyHealth(
		days_since(last, now),
		trend(score_history, now.date(), trend_window_days, trend_tolerance, trend_min_change),
		churn,
	)
