"""Journey health: days since the last activity, trend, and churn risk against the lead's cadence and stage."""

from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trackflow.engine.errors import ValidationError
from trackflow.engine.scoring import days_since
from trackflow.engine.scoring_health import (
	activity_cadence,
	churn_from_idle,
	churn_risk,
	journey_health,
	median_stage_days,
	overdue,
)

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=timezone.utc)


def days_ago(*days: float) -> list[datetime]:
	return [NOW - timedelta(days=d) for d in days]


def test_cadence_is_the_median_gap_between_activity_days():
	assert activity_cadence(days_ago(10, 8, 6, 0)) == 2.0  # gaps 2, 2, 6
	assert activity_cadence(days_ago(10, 10.1, 8, 8.2)) == 2.0  # several activities a day are one day
	assert activity_cadence(days_ago(3, 2, 1, 0)) == 1.0
	assert activity_cadence(days_ago(5)) is None and activity_cadence([]) is None
	assert activity_cadence(days_ago(100, 50, 10, 9, 8), max_gaps=2) == 1.0  # the recent rhythm


def test_overdue_is_zero_within_one_gap_and_full_at_four():
	assert [overdue(idle, 2) for idle in (0, 2, 5, 8, 20)] == [0.0, 0.0, 0.5, 1.0, 1.0]
	assert overdue(3, 0.2) == pytest.approx(2 / 3)  # a gap under a day counts as a day


def test_known_answer_from_the_docstring():
	times = days_ago(15, 13, 11, 9, 5)  # gaps 2, 2, 2, 4: cadence 2; idle 5
	risk = churn_risk(times, NOW, stage="Contacted", stage_median_days=10)
	assert (risk.days_inactive, risk.cadence_days, risk.stage_median_days) == (5, 2.0, 10)
	assert (risk.cadence_risk, risk.stage_risk, risk.risk) == (0.5, 0.0, 0.5)
	assert risk.basis == ("cadence", "stage") and risk.stage == "Contacted"
	later = churn_risk(times, NOW + timedelta(days=15), stage_median_days=10)  # idle 20
	assert (later.cadence_risk, later.stage_risk, later.risk) == (1.0, pytest.approx(1 / 3), 1.0)


def test_both_bases_combine_as_either_signal():
	times = days_ago(40, 30, 20, 16)  # cadence 10, idle 16: cadence (1.6 - 1) / 3 = 0.2
	risk = churn_risk(times, NOW, stage_median_days=8)  # stage: (2 - 1) / 3 = 1/3
	assert risk.risk == pytest.approx(1 - 0.8 * (2 / 3), abs=1e-4)


def test_missing_bases_fall_back():
	one = churn_risk(days_ago(28), NOW)  # no cadence, no stage: the default gap of 14 days
	assert (one.basis, one.risk, one.cadence_days) == (("default",), pytest.approx(1 / 3, abs=1e-4), None)
	stage_only = churn_risk(days_ago(20), NOW, stage_median_days=5)
	assert (stage_only.basis, stage_only.risk) == (("stage",), 1.0)
	fresh = churn_risk([], NOW, created_at=NOW - timedelta(days=3))
	assert (fresh.days_inactive, fresh.risk) == (3, 0.0)
	assert churn_risk([], NOW).risk is None
	assert churn_risk(days_ago(20), NOW, stage_median_days=0).basis == ("default",)


def test_invalid_parameters():
	with pytest.raises(ValidationError, match="more than one usual gap"):
		churn_risk([], NOW, full_risk_at=1)
	with pytest.raises(ValidationError, match="timezone"):
		churn_risk([datetime(2026, 1, 1)], NOW)


def test_median_stage_days_from_the_status_log():
	log = [
		("New", 2),
		("New", 4),
		("New", 30),
		("Contacted", 7),
		("Contacted", -1),
		("", 3),
		("Nurture", None),
	]
	assert median_stage_days(log) == {"Contacted": 7.0, "New": 4.0}


def test_journey_health():
	history = [(date(2026, 6, 1), 40.0), (date(2026, 6, 20), 20.0)]
	health = journey_health(days_ago(12, 10), history, NOW, stage="New", stage_median_days=4)
	assert health.days_since_last_activity == 10 and health.trend == "declining"
	assert health.churn.cadence_days == 2.0 and health.churn.risk == 1.0
	empty = journey_health([], [], NOW)
	assert (empty.days_since_last_activity, empty.trend, empty.churn.risk) == (None, "stable", None)


@given(
	st.lists(st.floats(0, 400, allow_nan=False), max_size=30),
	st.none() | st.floats(0.01, 200, allow_nan=False),
	st.floats(0, 400, allow_nan=False),
)
def test_risk_is_between_0_and_1_and_grows_with_silence(ages, stage_median, extra):
	times = days_ago(*ages)
	now_risk = churn_risk(times, NOW, stage_median_days=stage_median, created_at=NOW - timedelta(days=500))
	later = churn_risk(times, NOW + timedelta(days=extra), stage_median_days=stage_median)
	assert 0.0 <= now_risk.risk <= 1.0
	if times:
		assert later.risk >= now_risk.risk


@given(
	st.lists(st.floats(0, 400, allow_nan=False), max_size=30),
	st.none() | st.floats(0.01, 200, allow_nan=False),
)
def test_risk_from_stored_inputs_equals_risk_from_activity(ages, stage_median):
	"""The daily job's path (idle days and the cadence kept on the lead) gives the rescore's figure."""
	times = days_ago(*ages)
	created = NOW - timedelta(days=500)
	full = churn_risk(times, NOW, stage="New", stage_median_days=stage_median, created_at=created)
	last = max(times) if times else created
	stored = churn_from_idle(
		days_since(last, NOW),
		activity_cadence(times),
		stage="New",
		stage_median_days=stage_median,
	)
	assert stored == full
