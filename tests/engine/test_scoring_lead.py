"""Lead score components: fit, engagement, intent, weights, adjustments, explanations and the daily path."""

import json
import math
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trackflow.engine.errors import ValidationError
from trackflow.engine.scoring import Activity, ScoringRule, decayed, score
from trackflow.engine.scoring_fit import FitRule
from trackflow.engine.scoring_lead import (
	ALL_RULE_FIELDS,
	RULE_TYPES,
	Adjustment,
	IntentRule,
	RuleSet,
	Weights,
	changed_lead_scores,
	describe_rule,
	explain,
	rules_from_rows,
	score_lead,
)
from trackflow.engine.settings import validate_settings

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=timezone.utc)
ROOT = Path(__file__).resolve().parents[2]
RULE_DOCTYPE = ROOT / "trackflow/trackflow/doctype/lead_scoring_rule/lead_scoring_rule.json"
SETTINGS_DOCTYPE = ROOT / "trackflow/trackflow/doctype/trackflow_settings/trackflow_settings.json"


def ago(days: float) -> datetime:
	return NOW - timedelta(days=days)


def view(days: float, path: str = "/pricing") -> Activity:
	return Activity("page_view", ago(days), path=path)


PRICING = ScoringRule("pricing", "page_view", 10, path_pattern="/pricing*")
REPLY = ScoringRule("reply", "email_reply", 15)
PRICING_INTENT = IntentRule(
	ScoringRule(
		"pricing this week", "page_view", 5, path_pattern="/pricing*", max_per_period=3, period_days=7
	),
	7,
)
DEMO = IntentRule(ScoringRule("demo", "form_submit", 30, event_name="demo request"), 30)
STAGE = IntentRule(ScoringRule("qualified", "conversion", 20, conversion_type="lead_qualified"), 30)
COMPANY = FitRule("company email", "email", "not_free_mail", 10)
TECH = FitRule("tech", "industry", "in_list", 15, "Technology\nSoftware")
BIG = FitRule("big", "no_of_employees", "greater_than", 20, "50")
RULES = RuleSet((PRICING, REPLY), (PRICING_INTENT, DEMO, STAGE), (COMPANY, TECH, BIG))
ACME = {"email": "jane@acme.io", "industry": "Software", "no_of_employees": "51-200"}


# --- components ----------------------------------------------------------------------------------


def test_fit_is_the_sum_of_matched_fit_rules():
	result = score_lead(ACME, [], RULES, NOW)
	assert (result.fit.raw, result.fit.value) == (45.0, 45.0)
	assert result.total == pytest.approx(45 * 0.35)
	assert score_lead({"email": "a@gmail.com"}, [], RULES, NOW).fit.value == 0.0


def test_engagement_is_todays_decayed_score_unchanged():
	acts = [view(0), view(14), Activity("email_reply", ago(28)), view(3, "/about")]
	result = score_lead({}, acts, RULES, NOW)
	assert result.engagement.raw == pytest.approx(10 + 5 + 15 / 4)
	assert result.engagement.raw == pytest.approx(score(acts, [PRICING, REPLY], NOW).activity_score)
	assert result.engagement_anchor == pytest.approx(result.engagement.raw)
	assert result.last_activity_at == ago(0)


def test_intent_counts_recent_high_intent_activity_in_full_within_each_window():
	acts = [view(1), view(2), view(3), view(4), view(8)]  # cap 3 a week: days 8, 4, 3, 1 score; 2 is capped
	acts += [
		Activity("form_submit", ago(20), name="Demo Request"),
		Activity("form_submit", ago(40), name="demo request"),
	]
	acts += [Activity("conversion", ago(10), conversion_type="lead_qualified")]
	result = score_lead({}, acts, RULES, NOW)
	# pricing: within the last 7 days the capped hits of days 4, 3 and 1
	assert {r.source: r.points for r in result.intent.reasons} == {
		"rule:pricing this week": 15.0,
		"rule:demo": 30.0,
		"rule:qualified": 20.0,
	}
	assert result.intent.value == 65.0
	texts = [r.text for r in result.intent.reasons]
	assert texts == [
		"+30 submitted demo request once in the last 30 days",
		"+20 converted (lead_qualified) once in the last 30 days",
		"+15 visited /pricing 3 times this week",
	]
	# the day-4 view leaves the 7-day window first: intent must be recomputed then
	assert result.intent_changes_at == ago(4) + timedelta(days=7)


def test_weights_make_the_total_and_grade_and_temperature_follow_it():
	acts = [view(0)] * 12 + [Activity("form_submit", ago(1), name="demo request")] * 3
	result = score_lead(ACME, acts, RULES, NOW, weights=Weights(50, 30, 20))
	assert (result.fit.value, result.engagement.value, result.intent.value) == (45.0, 100.0, 100.0)
	assert result.total == pytest.approx(45 * 0.5 + 30 + 20)
	assert (result.grade, result.temperature) == ("B+", "warm")
	hot = score_lead(ACME, acts, RULES, NOW, weights=Weights(0, 50, 50))
	assert (hot.total, hot.grade, hot.temperature) == (100.0, "A+", "hot")


def test_components_clamp_to_0_100_and_the_explanation_says_so():
	acts = [view(0)] * 15  # engagement 150
	careers = ScoringRule("careers", "page_view", -30, path_pattern="/careers")
	rules = RuleSet((PRICING, careers), (), (FitRule("junk", "status", "equals", -40, "Junk"),))
	result = score_lead({"status": "Junk"}, [*acts, view(0, "/careers")], rules, NOW)
	assert (result.engagement.raw, result.engagement.value) == (120.0, 100.0)
	assert (result.fit.raw, result.fit.value) == (-40.0, 0.0)
	clamps = {r.component: r for r in result.explanation() if r.source == "clamp"}
	assert clamps["engagement"].points == -20.0 and clamps["engagement"].text.startswith("\u221220 above")
	assert clamps["fit"].points == 40.0 and "never goes below 0" in clamps["fit"].text


def test_adjustments_count_in_engagement_decaying_or_fixed():
	adjustments = [
		Adjustment(20, "met at the fair", ago(14), by="sales@acme.io"),
		Adjustment(-10, "asked for no calls", ago(100), decays=False, id="ADJ-2"),
	]
	result = score_lead({}, [view(0)], RULES, NOW, adjustments=adjustments)
	assert result.engagement.raw == pytest.approx(10 + 10 - 10)
	assert result.engagement_fixed == -10.0
	assert result.engagement_anchor == pytest.approx(20.0)
	texts = {r.source: r.text for r in result.engagement.reasons}
	assert texts["adjustment:0"] == "+10 met at the fair (manual, by sales@acme.io)"
	assert texts["adjustment:ADJ-2"] == "\u221210 asked for no calls (manual, fixed)"
	with pytest.raises(ValidationError, match="needs a reason"):
		Adjustment(5, " ", NOW)
	with pytest.raises(ValidationError, match="timezone"):
		Adjustment(5, "x", datetime(2026, 1, 1))


def test_quiet_lead_explains_its_fading_as_inactivity():
	acts = [view(30), view(31), Activity("email_reply", ago(30))]
	result = score_lead({}, acts, RULES, NOW)
	reasons = {r.source: r for r in result.engagement.reasons}
	# at its last activity (30 days ago) the lead had 10 + 10 x 2^(-1/14) + 15; 30 quiet days took the rest
	at_last = 10 + 10 * 2 ** (-1 / 14) + 15
	assert reasons["rule:pricing"].points == pytest.approx(10 + 10 * 2 ** (-1 / 14))
	assert reasons["inactivity"].points == pytest.approx(at_last * (2 ** (-30 / 14) - 1))
	assert reasons["inactivity"].text == "\u221227 no activity for 30 days"
	assert result.engagement.raw == pytest.approx(score(acts, [PRICING, REPLY], NOW).activity_score)


def test_explanation_is_ordered_by_size_and_top_folds_the_rest():
	acts = [
		view(0),
		view(1),
		Activity("email_reply", ago(0)),
		Activity("form_submit", ago(2), name="demo request"),
	]
	result = score_lead(ACME, acts, RULES, NOW)
	sizes = [abs(r.points) for r in result.explanation()]
	assert sizes == sorted(sizes, reverse=True)
	assert [r.text for r in result.explanation()][:3] == [
		"+30 submitted demo request once in the last 30 days",
		"+20 employees above 50 (51-200)",
		"+20 visited /pricing twice",
	]
	top = result.fit.top(2)
	assert [r.source for r in top] == ["rule:big", "other"]
	assert top[1].text == "+25 from 2 other reasons" and top[1].points == 25.0
	rows = explain(result, top_per_component=1)
	assert {r["component"] for r in rows} == {"fit", "engagement", "intent"} and len(rows) == 3
	assert all(set(r) == {"component", "points", "text", "source"} for r in rows)


@pytest.mark.parametrize(
	"rule, count, words",
	[
		(ScoringRule("r", "page_view", 1, path_pattern="/docs/*/install"), 1, "visited /docs/*/install once"),
		(ScoringRule("r", "page_view", 1), 3, "visited a page 3 times"),
		(ScoringRule("r", "event", 1, event_name="demo_booked"), 2, "did demo_booked twice"),
		(
			ScoringRule("r", "form_submit", 1, path_pattern="/contact*"),
			1,
			"submitted a form on /contact once",
		),
		(ScoringRule("r", "conversion", 1, conversion_type="signup"), 1, "converted (signup) once"),
		(ScoringRule("r", "call", 1), 4, "took a call 4 times"),
		(ScoringRule("r", "campaign", 1, campaign="Spring"), 2, "came from campaign Spring twice"),
		(ScoringRule("r", "channel", 1, channel="paid_search"), 1, "came from paid_search once"),
		(ScoringRule("r", "email_reply", 1, channel="email"), 1, "replied by email once via email"),
	],
)
def test_rules_in_words(rule, count, words):
	assert describe_rule(rule, count) == words


def test_explaining_one_lead_is_fast():
	acts = [view(d / 4) for d in range(400)] + [Activity("email_reply", ago(d)) for d in range(50)]
	result = score_lead(ACME, acts, RULES, NOW)  # warm the caches
	started = time.perf_counter()
	for _ in range(10):
		explain(score_lead(ACME, acts, RULES, NOW))
	assert (time.perf_counter() - started) / 10 < 0.050
	assert result.total > 0


# --- properties ----------------------------------------------------------------------------------

kinds = st.sampled_from(["page_view", "email_reply", "form_submit", "conversion"])


@st.composite
def activities(draw):
	kind = draw(kinds)
	when = ago(draw(st.floats(-2, 200, allow_nan=False)))
	if kind == "page_view":
		return Activity(kind, when, path=draw(st.sampled_from(["/pricing", "/about", "/pricing/team"])))
	if kind == "form_submit":
		return Activity(kind, when, name="demo request")
	if kind == "conversion":
		return Activity(kind, when, conversion_type="lead_qualified")
	return Activity(kind, when)


adjustment_list = st.lists(
	st.builds(
		Adjustment,
		st.floats(-60, 60, allow_nan=False),
		st.just("manual"),
		st.floats(0, 90).map(ago),
		st.booleans(),
	),
	max_size=3,
)
points = st.floats(-40, 40, allow_nan=False)


@settings(max_examples=150, deadline=None)
@given(st.lists(activities(), max_size=40), adjustment_list, points, points, points)
def test_components_stay_in_bounds_and_reasons_sum_to_their_points(acts, adjustments, p1, p2, p3):
	rules = RuleSet(
		(ScoringRule("a", "page_view", p1, path_pattern="/pricing*", max_per_period=2, period_days=5), REPLY),
		(IntentRule(ScoringRule("i", "form_submit", p2), 10), STAGE),
		(FitRule("f", "email", "not_free_mail", p3), BIG),
	)
	result = score_lead(ACME, acts, rules, NOW, adjustments=adjustments)
	assert 0.0 <= result.total <= 100.0
	for component in result.components:
		assert 0.0 <= component.value <= 100.0
		assert math.fsum(r.points for r in component.reasons) == pytest.approx(component.raw, abs=1e-9)
		explained = [r for r in result.explanation() if r.component == component.name]
		assert math.fsum(r.points for r in explained) == pytest.approx(component.value, abs=0.006)
		assert math.fsum(r.points for r in component.top(2)) == pytest.approx(component.raw, abs=1e-9)
	sizes = [abs(r.points) for r in result.explanation()]
	assert sizes == sorted(sizes, reverse=True)
	engagement = score(acts, rules.engagement, NOW).activity_score
	adjusted = sum(
		a.points * (2 ** (-(NOW - a.at).total_seconds() / 86400 / 14) if a.decays else 1) for a in adjustments
	)
	assert result.engagement.raw == pytest.approx(engagement + adjusted, abs=1e-6)


@settings(max_examples=100, deadline=None)
@given(st.lists(activities(), max_size=30), adjustment_list, st.floats(0, 60, allow_nan=False))
def test_the_daily_path_matches_a_full_rescore(acts, adjustments, days_later):
	acts = [a for a in acts if a.timestamp <= NOW]
	adjustments = [a for a in adjustments if a.at <= NOW]
	first = score_lead(ACME, acts, RULES, NOW, adjustments=adjustments)
	later = NOW + timedelta(days=days_later)
	updates, rescore = changed_lead_scores([first.stored("L1")], later, min_delta=0)
	full = score_lead(ACME, acts, RULES, later, adjustments=adjustments)
	if first.intent_changes_at is not None and first.intent_changes_at <= later:
		assert rescore == ["L1"] and updates == []
		return
	assert rescore == [] and full.intent.raw == first.intent.raw
	(update,) = updates
	assert update.engagement_anchor == pytest.approx(full.engagement_anchor, abs=1e-9)
	assert update.total == pytest.approx(full.total, abs=0.011)
	assert update.engagement == pytest.approx(full.engagement.value, abs=0.011)


def test_daily_path_writes_only_changes_and_sends_due_intent_to_rescore():
	quiet = score_lead(ACME, [], RULES, NOW).stored("quiet")
	active = score_lead(ACME, [view(0)] * 5, RULES, NOW).stored("active")
	demo = Activity("form_submit", ago(25), name="demo request")
	intent = score_lead(ACME, [demo], RULES, NOW).stored("intent")
	assert intent.intent_changes_at == NOW + timedelta(days=5)
	updates, rescore = changed_lead_scores([quiet, active, intent], NOW + timedelta(days=1))
	assert [u.lead for u in updates] == ["active"] and rescore == []
	assert updates[0].engagement == pytest.approx(decayed(50, NOW, NOW + timedelta(days=1)), abs=0.005)
	updates, rescore = changed_lead_scores([quiet, active, intent], NOW + timedelta(days=6))
	assert rescore == ["intent"]


# --- rules, weights, doctypes --------------------------------------------------------------------


def test_rules_from_rows_sorts_rules_by_type_and_drops_inactive_ones():
	base = {"active": 1, "points": 5, "max_per_period": 0, "period_days": 30}
	rows = [
		base
		| {"name": "p", "activity_kind": "page_view", "path_pattern": "/pricing*"},  # no rule_type: activity
		base | {"name": "i", "rule_type": "intent", "activity_kind": "email_reply", "window_days": 7},
		base | {"name": "i2", "rule_type": "intent", "activity_kind": "call", "window_days": 0},
		base | {"name": "f", "rule_type": "fit", "lead_field": "industry", "operator": "is_set"},
		base
		| {"name": "off", "rule_type": "fit", "lead_field": "industry", "operator": "is_set", "active": 0},
	]
	rules = rules_from_rows(rows)
	assert [r.id for r in rules.engagement] == ["p"]
	assert [(r.id, r.window_days) for r in rules.intent] == [("i", 7), ("i2", 14)]
	assert [r.id for r in rules.fit] == ["f"]
	with pytest.raises(ValidationError, match="Rule type must be one of"):
		rules_from_rows([base | {"name": "x", "rule_type": "magic"}])
	with pytest.raises(ValidationError, match="window"):
		IntentRule(PRICING, 0)
	with pytest.raises(ValidationError, match="share the name pricing"):
		RuleSet((PRICING,), (IntentRule(PRICING),), ())
	RuleSet((PRICING,), (), (FitRule("pricing", "email", "is_set", 1, active=False),))  # inactive: ignored


def test_weights_are_checked_by_the_settings_bounds():
	assert Weights() == Weights(35, 40, 25)
	assert Weights.from_settings({"fit_weight": 50, "engagement_weight": 50, "intent_weight": 0}) == Weights(
		50, 50, 0
	)
	assert Weights.from_settings({}) == Weights()
	with pytest.raises(ValidationError, match="add up to 100, not 90"):
		Weights(30, 40, 20)
	with pytest.raises(ValidationError, match="cannot be negative"):
		Weights(-10, 80, 30)
	with pytest.raises(ValidationError, match="must be a number"):
		Weights(math.nan, 50, 50)
	validate_settings({"fit_weight": 20.5, "engagement_weight": 59.5, "intent_weight": 20})
	with pytest.raises(ValidationError, match="Intent Weight"):
		validate_settings({"fit_weight": 20, "engagement_weight": 90, "intent_weight": -10})
	with pytest.raises(ValidationError, match="add up to 100"):
		validate_settings({"fit_weight": 50})  # the others at their defaults: 115


def test_doctypes_have_the_fields_the_engine_reads():
	rule_fields = {f["fieldname"]: f for f in json.loads(RULE_DOCTYPE.read_text())["fields"]}
	assert set(ALL_RULE_FIELDS) - {"name"} <= set(rule_fields)
	assert tuple(rule_fields["rule_type"]["options"].split("\n")) == RULE_TYPES
	assert rule_fields["rule_type"]["default"] == "activity"
	settings_fields = {f["fieldname"]: f for f in json.loads(SETTINGS_DOCTYPE.read_text())["fields"]}
	defaults = {
		name: float(settings_fields[name]["default"])
		for name in ("fit_weight", "engagement_weight", "intent_weight")
	}
	assert Weights(*defaults.values()) == Weights()
