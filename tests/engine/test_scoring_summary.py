"""Activity summaries: daily, weekly and monthly rows of a lead's activity, score change and stage changes."""

import random
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trackflow.engine.errors import ValidationError
from trackflow.engine.scoring import Activity
from trackflow.engine.scoring_summary import period_end, period_start, summarize_activity

UTC = timezone.utc


def at(day: int, hour: int = 12, month: int = 6) -> datetime:
	return datetime(2026, month, day, hour, tzinfo=UTC)


ACTIVITIES = [
	Activity("page_view", at(1), path="/pricing"),  # Monday 1 June 2026
	Activity("page_view", at(1, 15), path="/docs"),
	Activity("email_reply", at(3)),
	Activity("page_view", at(9), path="/pricing"),  # the next week
	Activity("call", at(2, 9, month=7)),
]
HISTORY = [
	(date(2026, 5, 20), 10.0),
	(date(2026, 6, 1), 25.0),
	(date(2026, 6, 3), 40.0),
	(date(2026, 6, 12), 30.0),
]
STAGES = [
	(at(3, 10), "New", "Contacted"),
	(at(9, 8), "Contacted", "Nurture"),
	(at(9, 9), "Nurture", "Qualified"),
]


def test_period_boundaries():
	assert period_start(date(2026, 6, 3), "week") == date(2026, 6, 1)
	assert period_end(date(2026, 6, 1), "week") == date(2026, 6, 7)
	assert period_start(date(2026, 12, 31), "month") == date(2026, 12, 1)
	assert period_end(date(2026, 12, 1), "month") == date(2026, 12, 31)
	assert period_end(date(2028, 2, 1), "month") == date(2028, 2, 29)
	with pytest.raises(ValidationError, match="period must be one of"):
		summarize_activity("L", [], "year")


def test_weekly_rows():
	rows = summarize_activity("L1", ACTIVITIES, "week", score_history=HISTORY, stage_changes=STAGES)
	assert [r.start for r in rows] == [
		date(2026, 5, 18),
		date(2026, 6, 1),
		date(2026, 6, 8),
		date(2026, 6, 29),
	]
	may, first, second, july = rows
	assert (may.activities, may.score_change) == (0, 10.0)
	assert first.counts == (("email_reply", 1), ("page_view", 2)) and first.activities == 3
	assert (first.score_start, first.score_end, first.score_change) == (10.0, 40.0, 30.0)
	assert (first.stage_changes, first.stage_from, first.stage_to) == (1, "New", "Contacted")
	assert (second.stage_changes, second.stage_from, second.stage_to) == (2, "Contacted", "Qualified")
	assert second.score_change == -10.0
	assert (july.counts, july.score_change) == ((("call", 1),), 0.0)
	row = first.as_row()
	assert row["key"] == "L1|week|2026-06-01" and row["count_page_view"] == 2 and row["score_change"] == 30.0


def test_daily_and_monthly_rows_and_the_site_time_zone():
	daily = summarize_activity("L1", ACTIVITIES, "day")
	assert [(r.start, r.activities) for r in daily] == [
		(date(2026, 6, 1), 2),
		(date(2026, 6, 3), 1),
		(date(2026, 6, 9), 1),
		(date(2026, 7, 2), 1),
	]
	monthly = summarize_activity("L1", ACTIVITIES, "month", score_history=HISTORY)
	assert [(r.start, r.activities, r.score_change) for r in monthly] == [
		(date(2026, 5, 1), 0, 10.0),
		(date(2026, 6, 1), 4, 20.0),
		(date(2026, 7, 1), 1, 0.0),
	]
	late = [Activity("call", datetime(2026, 6, 1, 22, tzinfo=UTC))]
	assert summarize_activity("L", late, "day", tz=ZoneInfo("Asia/Kolkata"))[0].start == date(2026, 6, 2)


activity_lists = st.lists(
	st.builds(
		lambda kind, minutes: Activity(kind, at(1) + timedelta(minutes=minutes)),
		st.sampled_from(["page_view", "call", "email_reply", "event"]),
		st.integers(0, 60 * 24 * 120),
	),
	max_size=40,
)


@given(activity_lists, st.sampled_from(["day", "week", "month"]), st.randoms(use_true_random=False))
def test_summaries_are_idempotent_and_account_for_every_activity(acts, period, rnd: random.Random):
	rows = summarize_activity("L", acts, period, score_history=HISTORY, stage_changes=STAGES)
	shuffled = acts[:]
	rnd.shuffle(shuffled)
	stages = STAGES[:]
	rnd.shuffle(stages)
	assert (
		summarize_activity("L", shuffled, period, score_history=HISTORY[::-1], stage_changes=stages) == rows
	)
	assert sum(r.activities for r in rows) == len(acts)
	assert len({r.key for r in rows}) == len(rows)
	assert sum(r.score_change for r in rows) == pytest.approx(30.0)  # from 0 to the last history score
	assert all(r.start <= r.end for r in rows)
