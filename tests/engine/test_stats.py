"""Report statistics against hand-computed answers: z-test, Bayesian A/B, ROI, funnel, paths, cohorts."""

import math
import random
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trackflow.engine.errors import ValidationError
from trackflow.engine.stats import (
	CohortRow,
	FunnelStep,
	PathRow,
	ZTest,
	cohorts,
	cost_per,
	funnel,
	median,
	normal_two_sided_p,
	probability_to_be_best,
	reached,
	roas,
	roi,
	stage_durations,
	top_paths,
	two_proportion_z_test,
)

# --- z-test ----------------------------------------------------------------------------------------


def test_normal_two_sided_p_at_textbook_critical_values():
	assert normal_two_sided_p(0) == 1.0
	assert normal_two_sided_p(1.959963984540054) == pytest.approx(0.05, abs=1e-12)
	assert normal_two_sided_p(-1.959963984540054) == pytest.approx(0.05, abs=1e-12)
	assert normal_two_sided_p(1.6448536269514722) == pytest.approx(0.10, abs=1e-12)
	assert normal_two_sided_p(2.5758293035489004) == pytest.approx(0.01, abs=1e-12)


def test_z_test_hand_computed():
	# A 100/1000 = 10 %, B 130/1000 = 13 %. Pooled p = 230/2000 = 0.115;
	# SE = sqrt(0.115 * 0.885 * (1/1000 + 1/1000)) = sqrt(0.00020355) = 0.0142671650...;
	# z = 0.03 / SE = 2.1027406...; two-sided p = 2 * (1 - Phi(2.10274)) = 0.035488...
	result = two_proportion_z_test(100, 1000, 130, 1000)
	assert result.z == pytest.approx(0.03 / math.sqrt(0.115 * 0.885 * 0.002), rel=1e-12)
	assert result.z == pytest.approx(2.1027406, abs=1e-6)
	assert result.p_value == pytest.approx(0.035488, abs=1e-6)
	assert result.difference == pytest.approx(0.03)
	assert result.relative_lift == pytest.approx(0.3)
	assert result.enough_data


def test_z_test_is_antisymmetric_and_unequal_arms():
	# A 45/500 = 9 %, B 60/400 = 15 %: pooled 105/900; z = 0.06 / sqrt(p (1-p) (1/500 + 1/400))
	forward, backward = two_proportion_z_test(45, 500, 60, 400), two_proportion_z_test(60, 400, 45, 500)
	pooled = 105 / 900
	assert forward.z == pytest.approx(0.06 / math.sqrt(pooled * (1 - pooled) * (1 / 500 + 1 / 400)))
	assert backward.z == pytest.approx(-forward.z) and backward.p_value == pytest.approx(forward.p_value)


def test_z_test_not_enough_data():
	assert not two_proportion_z_test(5, 99, 9, 99).enough_data  # under 100 visitors per arm
	# 1000 visitors each but pooled rate 0.2 %: 2 expected conversions per arm, under 5
	assert not two_proportion_z_test(1, 1000, 3, 1000).enough_data
	assert two_proportion_z_test(1, 1000, 3, 1000, min_conversions=2).enough_data
	assert not two_proportion_z_test(99, 100, 100, 100).enough_data  # too few expected non-conversions
	assert two_proportion_z_test(5, 100, 5, 100).enough_data


def test_z_test_degenerate_arms():
	assert two_proportion_z_test(0, 0, 5, 100) == ZTest(None, None, None, None, False)
	same = two_proportion_z_test(0, 500, 0, 500)
	assert (same.z, same.p_value, same.difference, same.relative_lift) == (0.0, 1.0, 0.0, None)
	all_converted = two_proportion_z_test(200, 200, 300, 300)
	assert (all_converted.z, all_converted.p_value, all_converted.relative_lift) == (0.0, 1.0, 0.0)


@pytest.mark.parametrize("args", [(5, 4, 1, 10), (-1, 10, 1, 10), (1.0, 10, 1, 10), (True, 10, 1, 10)])
def test_z_test_refuses_impossible_counts(args):
	with pytest.raises(ValidationError):
		two_proportion_z_test(*args)


# --- probability to be best ------------------------------------------------------------------------


def test_two_arms_exact_known_answers():
	assert probability_to_be_best([(0, 0), (0, 0)]) == pytest.approx([0.5, 0.5], abs=1e-12)
	# Beta(2, 1) (density 2x) against the uniform Beta(1, 1): P(X > Y) = integral of 2x * x = 2/3
	assert probability_to_be_best([(1, 1), (0, 0)]) == pytest.approx([2 / 3, 1 / 3], abs=1e-12)
	# Beta(1, 2) against Beta(2, 1): P = 1/6 by the same integral (2(1-x) * (1 - x^2)... = 1/6)
	assert probability_to_be_best([(0, 1), (1, 1)]) == pytest.approx([1 / 6, 5 / 6], abs=1e-12)


def test_two_arms_exact_agrees_with_monte_carlo():
	arms = [(200, 1000), (230, 1000)]
	rng, draws = random.Random(7), 100_000
	b_wins = sum(rng.betavariate(231, 771) > rng.betavariate(201, 801) for _ in range(draws)) / draws
	exact = probability_to_be_best(arms)
	assert exact[1] == pytest.approx(b_wins, abs=0.005)
	assert exact[1] == pytest.approx(0.9486, abs=1e-3)


def test_two_arms_exact_is_symmetric_and_fast_on_large_counts():
	small_first = probability_to_be_best([(40_000, 100_000), (40_500, 100_000)])
	large_first = probability_to_be_best([(40_500, 100_000), (40_000, 100_000)])
	assert small_first == pytest.approx(large_first[::-1], abs=1e-9)
	assert 0.98 < small_first[1] < 0.995


def test_many_arms_seeded_monte_carlo():
	arms = [(10, 100), (15, 100), (12, 100)]
	first = probability_to_be_best(arms, draws=5000, seed=42)
	assert first == probability_to_be_best(arms, draws=5000, seed=42)
	assert first != probability_to_be_best(arms, draws=5000, seed=43)
	assert sum(first) == pytest.approx(1.0)
	assert first[1] > first[2] > first[0]
	assert probability_to_be_best(arms, draws=5000, seed=None) != []


@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50)), min_size=0, max_size=4))
def test_probabilities_sum_to_one(pairs):
	arms = [(min(c, n), max(c, n)) for c, n in pairs]
	result = probability_to_be_best(arms, draws=300, seed=1)
	assert len(result) == len(arms) and all(0 <= p <= 1 for p in result)
	if arms:
		assert sum(result) == pytest.approx(1.0)


def test_probability_refuses_bad_input():
	with pytest.raises(ValidationError, match="more conversions"):
		probability_to_be_best([(5, 3), (1, 2)])
	with pytest.raises(ValidationError, match="draws"):
		probability_to_be_best([(1, 2), (1, 2), (1, 2)], draws=0)


# --- money ratios ----------------------------------------------------------------------------------


def test_roi_roas_cost_per():
	assert roi(Decimal("2500.00"), Decimal("1000.00")) == Decimal("1.5")
	assert roi(Decimal("400.00"), Decimal("1000.00")) == Decimal("-0.6")
	assert roi(Decimal("0"), Decimal("300")) == Decimal(-1)
	assert roas(Decimal("2500.00"), Decimal("1000.00")) == Decimal("2.5")
	assert roas(Decimal("100"), Decimal("3")) == Decimal(100) / Decimal(3)
	assert cost_per(Decimal("100.00"), 3) == Decimal("33.33")
	assert cost_per(Decimal("100.00"), 6) == Decimal("16.67")
	assert cost_per(Decimal("1000"), 3, "JPY") == Decimal("333")
	assert cost_per(Decimal("1.000"), 8, "KWD") == Decimal("0.125")
	assert cost_per(Decimal("0.00"), 4) == Decimal("0.00")


def test_undefined_ratios_are_none():
	assert roi(Decimal("500.00"), Decimal("0.00")) is None
	assert roas(Decimal("500.00"), Decimal(0)) is None
	assert cost_per(Decimal("500.00"), 0) is None


@pytest.mark.parametrize(
	"call",
	[
		lambda: roi(100.0, Decimal(1)),
		lambda: roas(Decimal(1), 2.5),
		lambda: roi(Decimal(1), Decimal(-1)),
		lambda: cost_per(Decimal(10), -1),
		lambda: roi(Decimal("NaN"), Decimal(1)),
	],
)
def test_money_ratios_refuse_floats_and_negatives(call):
	with pytest.raises(ValidationError):
		call()


# --- funnel ----------------------------------------------------------------------------------------


def test_median():
	assert median([]) is None
	assert median([3, 1, 2]) == 2
	assert median([4, 1, 3, 2]) == 2.5
	assert median(x for x in (Decimal("1.00"), Decimal("2.00"))) == Decimal("1.50")


def test_funnel_rates_between_consecutive_stages():
	steps = funnel([("New", 200), ("Contacted", 120), ("Qualified", 30), ("Won", 0), ("Paid", 0)])
	assert steps == [
		FunnelStep("New", 200, None, 1.0),
		FunnelStep("Contacted", 120, 0.6, 0.6),
		FunnelStep("Qualified", 30, 0.25, 0.15),
		FunnelStep("Won", 0, 0.0, 0.0),
		FunnelStep("Paid", 0, None, 0.0),
	]
	assert funnel([("New", 0), ("Contacted", 0)]) == [
		FunnelStep("New", 0, None, None),
		FunnelStep("Contacted", 0, None, None),
	]
	assert funnel([]) == []
	with pytest.raises(ValidationError, match="Contacted"):
		funnel([("New", 5), ("Contacted", -1)])


def test_reached_counts_every_stage_up_to_the_furthest():
	order = ["New", "Contacted", "Nurture", "Qualified"]
	statuses = {
		"L1": ["New"],
		"L2": ["New", "Contacted", "Unqualified"],
		"L3": ["New", "Contacted", "Nurture", "Qualified"],
		"L4": ["Qualified"],  # created straight into Qualified: it passed the earlier stages
		"L5": ["Junk"],
	}
	assert reached(statuses, order) == [("New", 4), ("Contacted", 3), ("Nurture", 2), ("Qualified", 2)]


T0 = datetime(2026, 3, 1, 9, 0, 0)


def at(hours: float) -> datetime:
	return T0 + timedelta(hours=hours)


def test_stage_durations_median_per_stage_over_docs():
	log = [
		("L1", "New", "Contacted", at(0), at(1)),
		("L1", "Contacted", "Qualified", at(1), at(25)),
		("L1", "Qualified", "", at(25), None),  # open: the current status
		("L2", "New", "Contacted", at(0), at(3)),
		("L2", "Contacted", "New", at(3), at(4)),
		("L2", "New", "Contacted", at(4), at(6)),  # back to New: L2 spent 3 + 2 = 5 h in New
		("L3", "New", "Contacted", at(0), at(2)),
		("L3", "Contacted", "Lost", at(2), at(8)),
	]
	durations = stage_durations(log)
	assert durations == {"New": 2 * 3600, "Contacted": median([24, 1, 6]) * 3600}
	assert durations["Contacted"] == 6 * 3600


def test_stage_durations_skip_open_and_backwards_rows():
	log = [
		("L1", "New", None, at(0), None),
		("L1", "New", "Contacted", at(5), at(4)),
		("L2", "New", "Contacted", at(0), at(0.5)),
	]
	assert stage_durations(log) == {"New": 1800.0}
	assert stage_durations([]) == {}
	with pytest.raises(ValidationError, match="datetime"):
		stage_durations([("L1", "New", "Contacted", "2026-03-01 09:00:00", at(1))])


# --- conversion paths ------------------------------------------------------------------------------


def test_top_paths_order_rates_and_averages():
	journeys = [
		(("email", "paid_search"), True, 2, 4.0),
		(("email", "paid_search"), True, 2, 6.0),
		(("email", "paid_search"), False, 2, None),
		(("email", "paid_search"), False, 3, None),
		(("social",), True, 1, 1.0),
		(("social",), False, 1, None),
		(("direct",), True, 1, None),
		(("direct",), True, 3, 2.0),
		(("qr", "email", "qr"), False, 3, None),
		((), False, 0, None),
	]
	rows = top_paths(journeys)
	assert rows == [
		# most conversions first; a tie (2 each) goes to the path with more journeys
		PathRow("email > paid_search", 2, 2, 0.5, 5.0, 2.0),
		PathRow("direct", 2, 0, 1.0, 2.0, 2.0),  # days None is skipped; touches averaged over conversions
		PathRow("social", 1, 1, 0.5, 1.0, 1.0),
		PathRow("(no touch)", 0, 1, 0.0, None, None),  # then by path name
		PathRow("qr > email > qr", 0, 1, 0.0, None, None),
	]
	assert top_paths(journeys, limit=2) == rows[:2]
	assert top_paths(journeys, limit=0) == []
	assert top_paths([]) == []


# --- cohorts ---------------------------------------------------------------------------------------


def test_cohort_offsets_counts_and_revenue():
	leads = [
		# lead, first-touch month, channel, created, deal created, won, won value
		("L1", "2026-01", "email", date(2026, 1, 5), date(2026, 1, 20), date(2026, 3, 2), Decimal("1000.00")),
		("L2", "2026-01", "email", date(2026, 1, 9), date(2026, 2, 1), None, None),
		("L3", "2026-01", "email", date(2026, 1, 30), None, None, None),
		(
			"L4",
			"2026-01",
			"ads",
			datetime(2026, 1, 2, 8),
			datetime(2026, 1, 3, 9),
			datetime(2026, 1, 31, 23),
			None,
		),
		("L5", None, "email", date(2026, 2, 14), date(2026, 2, 15), date(2026, 2, 20), Decimal("250.50")),
		("L6", "2025-12", None, date(2026, 1, 1), date(2026, 1, 1), date(2027, 2, 1), Decimal("80.00")),
		(
			"L7",
			"2026-02",
			"email",
			date(2026, 2, 1),
			date(2026, 1, 28),
			None,
			None,
		),  # deal before first touch
	]
	rows = cohorts(leads, months=3)
	assert [(r.cohort, r.channel) for r in rows] == [
		("2025-12", "(none)"),
		("2026-01", "ads"),
		("2026-01", "email"),
		("2026-02", "email"),
	]
	none, ads, email_jan, email_feb = rows
	assert email_jan == CohortRow(
		"2026-01",
		"email",
		leads=3,
		deals=(1, 1, 0, 0),
		won=(0, 0, 1, 0),
		won_revenue=(Decimal(0), Decimal(0), Decimal("1000.00"), Decimal(0)),
		deals_total=2,
		won_total=1,
		won_revenue_total=Decimal("1000.00"),
	)
	assert (ads.deals, ads.won, ads.won_revenue_total) == ((1, 0, 0, 0), (1, 0, 0, 0), Decimal(0))
	# L6 won 14 months after its December cohort: past months=3, so only in the totals
	assert (none.deals, none.won, none.won_total, none.won_revenue_total) == (
		(0, 1, 0, 0),
		(0, 0, 0, 0),
		1,
		Decimal("80.00"),
	)
	# L5 had no first touch: its cohort is the month it was created; L7's early deal counts at offset 0
	assert (email_feb.leads, email_feb.deals, email_feb.won) == (2, (2, 0, 0, 0), (1, 0, 0, 0))
	assert email_feb.won_revenue[0] == Decimal("250.50")


def test_cohorts_cumulative_and_all_channels():
	leads = [
		("L1", "2026-01", "email", date(2026, 1, 5), date(2026, 1, 20), date(2026, 3, 2), Decimal("1000.00")),
		("L2", "2026-01", "ads", date(2026, 1, 9), date(2026, 2, 1), date(2026, 2, 3), Decimal("5.25")),
	]
	(row,) = cohorts(leads, months=2, by_channel=False, cumulative=True)
	assert (row.channel, row.leads, row.deals, row.won) == ("", 2, (1, 2, 2), (0, 1, 2))
	assert row.won_revenue == (Decimal(0), Decimal("5.25"), Decimal("1005.25"))
	assert cohorts([]) == []


@pytest.mark.parametrize("month", ["2026-1", "26-01", "2026-13", "January", 202601])
def test_cohorts_refuse_bad_months(month):
	with pytest.raises(ValidationError, match="YYYY-MM"):
		cohorts([("L1", month, "email", 5, None, None, None)])


def test_cohorts_refuse_float_revenue():
	with pytest.raises(ValidationError, match="Decimal"):
		cohorts([("L1", "2026-01", "email", date(2026, 1, 1), None, date(2026, 1, 2), 10.5)])
