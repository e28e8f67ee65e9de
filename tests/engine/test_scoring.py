"""Lead scoring: decay, caps, matching, profile fit, grades, temperature, exact re-decay, history and trend."""

import json
import math
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trackflow.engine import scoring
from trackflow.engine.channels import CHANNELS
from trackflow.engine.conversions import CONVERSION_TYPES
from trackflow.engine.errors import ValidationError
from trackflow.engine.scoring import (
	Activity,
	ScoreRow,
	ScoringRule,
	changed_scores,
	daily_history,
	days_since,
	decayed,
	grade,
	history_change,
	profile_points,
	score,
	temperature,
	trend,
)

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=timezone.utc)
DOCTYPE = (
	Path(__file__).resolve().parents[2]
	/ "trackflow/trackflow/doctype/lead_scoring_rule/lead_scoring_rule.json"
)


def ago(days: float) -> datetime:
	return NOW - timedelta(days=days)


def view(days: float, path: str = "/pricing", **kw) -> Activity:
	return Activity("page_view", ago(days), path=path, **kw)


PRICING = ScoringRule("pricing", "page_view", 10, path_pattern="/pricing*")


# --- decay ---------------------------------------------------------------------------------------


def test_fresh_activity_scores_full_points():
	assert score([view(0)], [PRICING], NOW).score == 10.0


def test_points_halve_every_half_life():
	assert score([view(14)], [PRICING], NOW).score == 5.0
	assert score([view(28)], [PRICING], NOW).score == 2.5
	assert score([view(7)], [PRICING], NOW, half_life_days=7).score == 5.0
	assert score([view(1)], [PRICING], NOW).activity_score == pytest.approx(10 * 2 ** (-1 / 14))


def test_future_activity_scores_as_if_now():
	assert score([view(-2)], [PRICING], NOW).score == 10.0


def test_sum_over_rules_and_activities_plus_profile():
	signup = ScoringRule("signup", "conversion", 30, conversion_type="signup")
	acts = [view(0), view(14), Activity("conversion", ago(14), conversion_type="signup")]
	result = score(acts, [PRICING, signup], NOW, profile_points=7.5)
	assert result.score == 10 + 5 + 15 + 7.5
	assert result.points_by_rule == {"pricing": 15.0, "signup": 15.0}
	assert result.counted == {"pricing": 2, "signup": 1}
	assert result.activity_score == pytest.approx(30.0)
	assert result.profile_score == 7.5
	assert result.last_activity_at == ago(0)


def test_negative_rules_subtract_and_the_total_floors_at_zero():
	careers = ScoringRule("careers", "page_view", -20, path_pattern="/careers*")
	assert score([view(0), view(0, "/careers")], [PRICING, careers], NOW).score == 0.0
	assert (
		score([view(0), view(0), view(0, "/careers")], [PRICING, careers], NOW, profile_points=15).score
		== 15.0
	)


def test_inactive_rules_and_unmatched_activities_score_nothing():
	off = ScoringRule("off", "page_view", 50, active=False)
	result = score([view(0, "/about")], [PRICING, off], NOW)
	assert result.score == 0.0 and result.points_by_rule == {}
	assert result.last_activity_at == ago(0)  # any activity counts as activity


def test_rule_names_are_unique():
	with pytest.raises(ValidationError, match="share the name pricing"):
		score([], [PRICING, PRICING], NOW)
	score([], [PRICING, ScoringRule("pricing", "call", 1, active=False)], NOW)  # inactive: ignored


def test_no_activities():
	result = score([], [PRICING], NOW, profile_points=3)
	assert (result.score, result.last_activity_at) == (3.0, None)


# --- matching ------------------------------------------------------------------------------------


def test_path_glob_is_case_insensitive_and_ignores_query_and_host():
	rule = ScoringRule("docs", "page_view", 1, path_pattern="/docs/*/install")
	assert rule.matches(view(0, "https://example.com/Docs/v2/INSTALL?utm_source=x#top"))
	assert rule.matches(view(0, "/docs/a/b/install"))  # "*" crosses "/"
	assert not rule.matches(view(0, "/docs/install"))
	assert not rule.matches(Activity("page_view", NOW))  # no path


def test_event_name_form_and_conversion_matching():
	demo = ScoringRule("demo", "event", 5, event_name="Demo Booked")
	assert demo.matches(Activity("event", NOW, name="demo booked"))
	assert not demo.matches(Activity("event", NOW, name="demo"))
	assert not demo.matches(Activity("form_submit", NOW, name="Demo Booked"))
	form = ScoringRule("form", "form_submit", 5)
	assert form.matches(Activity("form_submit", NOW, name="contact", path="/contact"))
	won = ScoringRule("won", "conversion", 5, conversion_type="deal_won")
	assert won.matches(Activity("conversion", NOW, conversion_type="deal_won"))
	assert not won.matches(Activity("conversion", NOW, conversion_type="signup"))


def test_campaign_and_channel_rules_score_touches():
	any_campaign = ScoringRule("c", "campaign", 3)
	spring = ScoringRule("spring", "campaign", 3, campaign="Spring Sale")
	paid = ScoringRule("paid", "channel", 2, channel="paid_search")
	touch = Activity("touch", NOW, campaign="Spring Sale", channel="paid_search")
	bare = Activity("touch", NOW, channel="organic_search")
	assert any_campaign.matches(touch) and spring.matches(touch) and paid.matches(touch)
	assert not any_campaign.matches(bare) and not paid.matches(bare)
	assert not spring.matches(Activity("page_view", NOW, path="/", campaign="Spring Sale"))


def test_campaign_and_channel_narrow_other_kinds():
	rule = ScoringRule("paid pricing", "page_view", 5, path_pattern="/pricing", channel="paid_search")
	assert rule.matches(view(0, channel="paid_search"))
	assert not rule.matches(view(0))


def test_email_reply_and_call():
	reply, call = ScoringRule("reply", "email_reply", 15), ScoringRule("call", "call", 20)
	result = score([Activity("email_reply", ago(0)), Activity("call", ago(14))], [reply, call], NOW)
	assert result.score == 25.0


@pytest.mark.parametrize(
	"kwargs, message",
	[
		({"kind": "tweet"}, "activity kind"),
		({"points": math.nan}, "finite"),
		({"points": "5"}, "finite"),
		({"kind": "call", "path_pattern": "/x"}, "cannot match on path pattern"),
		({"kind": "page_view", "conversion_type": "signup"}, "cannot match on conversion type"),
		({"kind": "conversion", "conversion_type": "sale"}, "conversion type must be one of"),
		({"kind": "channel"}, "needs a channel"),
		({"kind": "channel", "channel": "tv"}, "channel must be one of"),
		({"path_pattern": "pricing"}, "must start with"),
		({"max_per_period": -1}, "0 or more"),
		({"max_per_period": 2, "period_days": 0}, "at least 1 day"),
		({"id": " "}, "needs a name"),
	],
)
def test_invalid_rules_are_rejected(kwargs, message):
	args = {"id": "r", "kind": "page_view", "points": 1} | kwargs
	with pytest.raises(ValidationError, match=message):
		ScoringRule(**args)


def test_blank_match_fields_and_zero_cap_mean_none():
	rule = ScoringRule("r", "page_view", 1, path_pattern="  ", campaign="", max_per_period=0)
	assert (rule.path_pattern, rule.campaign, rule.max_per_period) == (None, None, None)


def test_activity_needs_an_aware_time_and_a_known_kind():
	with pytest.raises(ValidationError, match="timezone"):
		Activity("page_view", datetime(2026, 1, 1))
	with pytest.raises(ValidationError, match="kind"):
		Activity("campaign", NOW)
	with pytest.raises(ValidationError, match="timezone"):
		score([], [], datetime(2026, 1, 1))


def test_rule_from_row_reads_doctype_fields():
	row = {
		"name": "Pricing",
		"rule_name": "Pricing",
		"active": 1,
		"activity_kind": "page_view",
		"event_name": None,
		"path_pattern": " /pricing* ",
		"conversion_type": "",
		"campaign": None,
		"channel": "",
		"points": 10.0,
		"max_per_period": 0,
		"period_days": 30,
	}
	rule = scoring.rule_from_row(row)
	assert rule == ScoringRule("Pricing", "page_view", 10.0, path_pattern="/pricing*")
	assert scoring.rule_from_row(row | {"active": 0, "max_per_period": 3}).max_per_period == 3
	assert not scoring.rule_from_row(row | {"active": 0}).active


def test_doctype_matches_the_engine():
	doctype = json.loads(DOCTYPE.read_text())
	fields = {f["fieldname"]: f for f in doctype["fields"]}
	assert set(scoring.RULE_FIELDS) - {"name"} <= set(fields)
	assert tuple(fields["activity_kind"]["options"].split("\n")) == scoring.RULE_KINDS
	assert set(fields["channel"]["options"].split("\n")) == {"", *CHANNELS}
	assert tuple(fields["conversion_type"]["options"].split("\n")) == ("", *CONVERSION_TYPES)


# --- caps ----------------------------------------------------------------------------------------


def test_cap_keeps_the_earliest_within_the_period():
	rule = ScoringRule("r", "page_view", 10, max_per_period=2, period_days=30, path_pattern="/pricing")
	# five views on days 50, 49, 48 (ago) and 10, 9: the first two of each burst score
	acts = [view(d) for d in (9, 50, 48, 10, 49)]
	result = score(acts, [rule], NOW)
	assert result.counted == {"r": 4}
	expected = sum(10 * 2 ** (-d / 14) for d in (50, 49, 10, 9))
	assert result.activity_score == pytest.approx(expected)


def test_cap_window_is_half_open():
	rule = ScoringRule("r", "page_view", 1, max_per_period=1, period_days=7)
	assert score([view(14), view(7)], [rule], NOW).counted == {"r": 2}  # exactly 7 days apart: new window
	assert score([view(14), view(7.01)], [rule], NOW).counted == {"r": 1}


def test_cap_is_per_rule():
	capped = ScoringRule("capped", "page_view", 1, max_per_period=1)
	free = ScoringRule("free", "page_view", 1)
	assert score([view(0), view(1), view(2)], [capped, free], NOW).counted == {"capped": 1, "free": 3}


def windows_hold_at_most(times: list[datetime], limit: int, period: timedelta) -> bool:
	times = sorted(times)
	return all(sum(1 for u in times if t - period < u <= t) <= limit for t in times)


@given(
	st.lists(st.integers(0, 24 * 120), max_size=40),
	st.integers(1, 5),
	st.integers(1, 30),
)
def test_no_period_window_holds_more_than_the_cap(hours, limit, period_days):
	rule = ScoringRule("r", "page_view", 1, max_per_period=limit, period_days=period_days)
	acts = [Activity("page_view", NOW - timedelta(hours=h), path="/") for h in hours]
	kept = scoring._capped(sorted(acts, key=lambda a: a.timestamp), limit, timedelta(days=period_days))
	assert windows_hold_at_most([a.timestamp for a in kept], limit, timedelta(days=period_days))
	assert score(acts, [rule], NOW).counted.get("r", 0) == len(kept)
	# greedy: every dropped activity had a full window behind it
	for a in acts:
		if a not in kept:
			behind = [
				k for k in kept if a.timestamp - timedelta(days=period_days) < k.timestamp <= a.timestamp
			]
			assert len(behind) >= limit


# --- properties of decay -------------------------------------------------------------------------

rules_strategy = st.lists(
	st.builds(
		ScoringRule,
		id=st.sampled_from(["a", "b", "c"]),
		kind=st.just("page_view"),
		points=st.floats(0, 100),
		path_pattern=st.sampled_from([None, "/pricing*", "/docs/*"]),
		max_per_period=st.sampled_from([None, 1, 3]),
		period_days=st.integers(1, 30),
	),
	max_size=4,
	unique_by=lambda r: r.id,
)
activities_strategy = st.lists(
	st.builds(
		Activity,
		kind=st.just("page_view"),
		timestamp=st.integers(0, 200 * 24).map(lambda h: NOW - timedelta(hours=h)),
		path=st.sampled_from(["/pricing", "/docs/a", "/about"]),
	),
	max_size=30,
)


@given(rules_strategy, activities_strategy, st.floats(0, 60), st.floats(1, 60))
def test_score_never_negative_and_non_increasing_with_time(rules, acts, later_days, half_life):
	now = NOW
	first = score(acts, rules, now, half_life_days=half_life)
	second = score(acts, rules, now + timedelta(days=later_days), half_life_days=half_life)
	assert first.activity_score >= 0 and second.activity_score >= 0
	assert second.activity_score <= first.activity_score + 1e-9
	assert second.score <= first.score


@given(rules_strategy, activities_strategy, st.floats(0, 400), st.floats(1, 60))
def test_decayed_equals_full_recompute(rules, acts, later_days, half_life):
	then = score(acts, rules, NOW, half_life_days=half_life)
	later = NOW + timedelta(days=later_days)
	full = score(acts, rules, later, half_life_days=half_life)
	brought = decayed(then.activity_score, then.scored_at, later, half_life)
	assert brought == pytest.approx(full.activity_score, rel=1e-9, abs=1e-12)


def test_decayed_known_answers():
	assert decayed(80, NOW, NOW + timedelta(days=14)) == pytest.approx(40)
	assert decayed(80, NOW, NOW + timedelta(days=28), 28) == pytest.approx(40)
	assert decayed(80, NOW, NOW - timedelta(days=3)) == 80  # never grows backwards
	with pytest.raises(ValidationError, match="Half-life"):
		decayed(80, NOW, NOW, 0)


# --- profile fit ---------------------------------------------------------------------------------


def test_profile_points_for_filled_fields():
	fields = {
		"email": "a@b.co",
		"mobile_no": " ",
		"annual_revenue": 0,
		"no_of_employees": "11-50",
		"tags": [],
	}
	weights = {
		"email": 5,
		"mobile_no": 5,
		"annual_revenue": 10,
		"no_of_employees": 8,
		"tags": 1,
		"website": 3,
	}
	assert profile_points(fields, weights) == 13.0
	assert profile_points({"annual_revenue": 1e6}, {"annual_revenue": 10}) == 10.0
	with pytest.raises(ValidationError, match="finite"):
		profile_points({}, {"email": math.inf})


# --- grades and temperature ----------------------------------------------------------------------


@pytest.mark.parametrize(
	"value, expected",
	[
		(100, "A+"),
		(90, "A+"),
		(89.99, "A"),
		(80, "A"),
		(79.99, "B+"),
		(70, "B+"),
		(60, "B"),
		(59.99, "C+"),
		(50, "C+"),
		(40, "C"),
		(39.99, "D"),
		(0, "D"),
	],
)
def test_default_grades(value, expected):
	assert grade(value) == expected


@pytest.mark.parametrize(
	"value, expected",
	[(100, "hot"), (75, "hot"), (74.99, "warm"), (50, "warm"), (49.99, "cold"), (0, "cold")],
)
def test_default_temperature(value, expected):
	assert temperature(value) == expected


def test_custom_thresholds():
	assert grade(55, (("Top", 50), ("Mid", 20)), below="Low") == "Top"
	assert grade(10, (("Top", 50), ("Mid", 20)), below="Low") == "Low"
	assert temperature(30, hot=40, warm=20) == "warm"


@pytest.mark.parametrize(
	"thresholds, message",
	[
		((), "empty"),
		((("A", 50), ("B", 60)), "descend"),
		((("A", 50), ("B", 50)), "descend"),
		((("A", 50), ("B", -1)), "negative"),
		((("A", math.inf),), "finite"),
		((("", 50),), "name"),
		((("A", 50), ("A", 40)), "twice"),
		((("A",),), "pair"),
	],
)
def test_invalid_grades(thresholds, message):
	with pytest.raises(ValidationError, match=message):
		grade(10, thresholds)


@pytest.mark.parametrize("hot, warm, message", [(50, 50, "above"), (40, 60, "above"), (10, -1, "negative")])
def test_invalid_temperature(hot, warm, message):
	with pytest.raises(ValidationError, match=message):
		temperature(10, hot, warm)


# --- the daily decay job's changed set -----------------------------------------------------------


def shown_row(lead: str, activity: float, at: datetime, profile: float = 0.0) -> ScoreRow:
	total = scoring._total(activity, profile)
	return ScoreRow(lead, activity, at, profile, total, grade(total), temperature(total))


def test_changed_scores_returns_only_changed_rows():
	yesterday = NOW - timedelta(days=1)
	rows = [
		shown_row("moving", 80.0, yesterday),  # 80 -> 76.1: changes
		shown_row("faded", 0.001, yesterday),  # rounds to 0.0 both days: unchanged
		shown_row("profile only", 0.0, yesterday, profile=12.0),  # nothing decays
		ScoreRow("never shown", 0.0, yesterday),  # no stored score yet
		ScoreRow("stale grade", 0.001, yesterday, 0.0, 0.0, "C", "cold"),  # thresholds changed
	]
	updates = {u.lead: u for u in changed_scores(rows, NOW)}
	assert set(updates) == {"moving", "never shown", "stale grade"}
	moving = updates["moving"]
	assert moving.score == round(80 * 2 ** (-1 / 14), 2) == 76.14
	assert (moving.grade, moving.temperature, moving.scored_at) == ("B+", "hot", NOW)
	assert moving.activity_score == pytest.approx(80 * 2 ** (-1 / 14))
	assert (updates["stale grade"].grade, updates["stale grade"].score) == ("D", 0.0)


def test_changed_scores_min_delta():
	rows = [shown_row("a", 10.0, NOW - timedelta(days=1))]  # 10 -> 9.52
	assert changed_scores(rows, NOW, min_delta=0.49) == []
	assert len(changed_scores(rows, NOW, min_delta=0.48)) == 1


def test_changed_scores_validates_once():
	with pytest.raises(ValidationError, match="Half-life"):
		changed_scores([], NOW, half_life_days=-1)
	with pytest.raises(ValidationError, match="above"):
		changed_scores([], NOW, hot=10, warm=20)


@given(
	st.lists(
		st.tuples(st.floats(0, 200), st.floats(0, 50), st.integers(0, 60)),
		max_size=30,
	),
	st.floats(0.5, 30),
)
def test_changed_scores_agrees_with_grade_temperature_and_decayed(entries, half_life):
	rows = [
		shown_row(str(i), activity, NOW - timedelta(days=age), profile)
		for i, (activity, profile, age) in enumerate(entries)
	]
	updates = {u.lead: u for u in changed_scores(rows, NOW, half_life)}
	for row in rows:
		activity = decayed(row.activity_score, row.scored_at, NOW, half_life)
		total = scoring._total(activity, row.profile_score)
		changed = abs(total - row.score) >= 0.01 - 1e-9 or grade(total) != row.grade
		changed = changed or temperature(total) != row.temperature
		assert (row.lead in updates) == changed
		if changed:
			update = updates[row.lead]
			assert (update.score, update.grade, update.temperature) == (
				total,
				grade(total),
				temperature(total),
			)


# --- history, trend, days since ------------------------------------------------------------------


def test_daily_history_keeps_the_last_score_of_a_day_when_it_changes():
	points = [
		(datetime(2026, 6, 1, 18), 12.0),
		(datetime(2026, 6, 1, 9), 10.0),
		(date(2026, 6, 2), 12.0),  # same as the previous day: dropped
		(date(2026, 6, 3), 11.0),
		(date(2026, 6, 3), 9.0),  # the day's last point wins
		(date(2026, 6, 5), 9.0),
		(datetime(2026, 6, 6, 8), 4.0),
		(date(2026, 6, 6), 5.0),  # a bare date sorts before the day's times
	]
	assert daily_history(points) == [
		(date(2026, 6, 1), 12.0),
		(date(2026, 6, 3), 9.0),
		(date(2026, 6, 6), 4.0),
	]
	assert daily_history([]) == []


@pytest.mark.parametrize(
	"previous, today_row, value, action",
	[
		(None, None, 5.0, "insert"),
		((date(2026, 6, 1), 5.0), None, 5.0, "none"),
		((date(2026, 6, 1), 5.0), None, 6.0, "insert"),
		((date(2026, 6, 1), 5.0), (date(2026, 6, 2), 6.0), 7.0, "update"),
		((date(2026, 6, 1), 5.0), (date(2026, 6, 2), 6.0), 6.0, "none"),
		((date(2026, 6, 1), 5.0), (date(2026, 6, 2), 6.0), 5.0, "delete"),
		(None, (date(2026, 6, 2), 6.0), 7.0, "update"),
	],
)
def test_history_change(previous, today_row, value, action):
	assert history_change(previous, today_row, date(2026, 6, 2), value) == action


TODAY = date(2026, 6, 30)


def test_trend_cases():
	d = lambda n: TODAY - timedelta(days=n)  # noqa: E731
	assert trend([(d(40), 50.0)], TODAY) == "stable"
	assert trend([(d(40), 50.0), (d(5), 70.0)], TODAY) == "increasing"
	assert trend([(d(40), 50.0), (d(5), 30.0)], TODAY) == "declining"
	assert trend([(d(3), 20.0)], TODAY) == "increasing"  # a new lead: nothing before
	assert trend([], TODAY) == "stable"
	# within tolerance: 10 % of the earlier mean (50 -> 54 over 13 of 14 days is +3.7)
	assert trend([(d(40), 50.0), (d(12), 54.0)], TODAY) == "stable"
	# small scores: the 1-point floor
	assert trend([(d(40), 2.0), (d(13), 2.9)], TODAY) == "stable"
	assert trend([(d(40), 50.0), (d(12), 54.0)], TODAY, tolerance=0.01) == "increasing"


def test_a_quiet_lead_declines():
	history, value = [], 60.0
	for n in range(40, -1, -1):
		history.append((TODAY - timedelta(days=n), round(value, 2)))
		value *= 2 ** (-1 / 14)
	assert trend(daily_history(history), TODAY) == "declining"


def test_trend_window_validated():
	with pytest.raises(ValidationError, match="window"):
		trend([], TODAY, window_days=0)


def test_days_since():
	assert days_since(None, NOW) is None
	assert days_since(NOW - timedelta(hours=23), NOW) == 0
	assert days_since(NOW - timedelta(days=3, hours=1), NOW) == 3
	assert days_since(NOW + timedelta(hours=2), NOW) == 0
