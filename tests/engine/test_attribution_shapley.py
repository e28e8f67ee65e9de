"""Simplified Shapley: closed form equals the enumerated definition; efficiency, symmetry, null player."""

import random
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trackflow.engine.attribution import ShapleyFit, fit_shapley
from trackflow.engine.attribution.shapley import (
	coalition_counts,
	coalition_rates,
	shapley_by_enumeration,
	shapley_values,
)

F = frozenset


def test_hand_computed_three_channel_example():
	# r({a})=0.1, r({b})=0.2, r({c})=0, r({a,b})=0.4, r({a,b,c})=0.3
	# φ_a = 0.1 + 0.4/2 + 0.3/3 = 0.4 ; φ_b = 0.2 + 0.2 + 0.1 = 0.5 ; φ_c = 0.1
	paths = [
		(("a",), 1, Decimal(0), 9),
		(("b",), 2, Decimal(0), 8),
		(("c",), 0, Decimal(0), 10),
		(("a", "b", "a"), 4, Decimal(0), 6),
		(("c", "b", "a"), 3, Decimal(0), 7),
	]
	fit = fit_shapley(paths, min_journeys=0)
	assert fit.shapley_values == pytest.approx({"a": 0.4, "b": 0.5, "c": 0.1}, abs=1e-15)
	assert fit.channel_weights == pytest.approx({"a": 0.4, "b": 0.5, "c": 0.1}, abs=1e-15)
	assert fit.global_share == pytest.approx({"a": 4.0, "b": 5.0, "c": 1.0})
	# the textbook formula over all coalitions gives the same
	rates = coalition_rates(coalition_counts(paths))
	assert shapley_by_enumeration(rates) == pytest.approx(fit.shapley_values, abs=1e-15)
	assert ShapleyFit.from_dict(fit.to_dict()) == fit


@settings(max_examples=40, deadline=None)
@given(
	st.dictionaries(
		st.frozensets(st.sampled_from("abcdefg"), min_size=1, max_size=7),
		st.floats(min_value=0, max_value=1, allow_nan=False),
		min_size=1,
		max_size=30,
	)
)
def test_closed_form_equals_enumeration_and_is_efficient(rates):
	closed = shapley_values(rates)
	enumerated = shapley_by_enumeration(rates)
	assert closed == pytest.approx(enumerated, abs=1e-12)
	# efficiency: Σ φ = v(N) = Σ r(T)
	assert sum(closed.values()) == pytest.approx(sum(rates.values()), abs=1e-12)


def test_symmetry_and_null_player():
	rates = {F("a"): 0.2, F("b"): 0.2, F("ab"): 0.6, F("abc"): 0.0, F("c"): 0.0}
	values = shapley_values(rates)
	assert values["a"] == values["b"]
	assert values["c"] == 0.0  # c adds nothing to any coalition
	assert shapley_by_enumeration(rates)["c"] == pytest.approx(0.0, abs=1e-15)


def test_twelve_channels_closed_form_matches_enumeration():
	rng = random.Random(12)
	channels = "abcdefghijkl"
	rates = {F(rng.sample(channels, rng.randint(1, 6))): rng.random() for _ in range(200)}
	assert shapley_values(rates) == pytest.approx(shapley_by_enumeration(rates), abs=1e-12)


def test_sufficiency_verdicts():
	fit = fit_shapley([(("a",), 0, Decimal(0), 100)])
	assert fit.sufficiency["verdict"] == "insufficient" and fit.channel_weights == {}
	fit = fit_shapley([(("a",), 10, Decimal(0), 100), (("b",), 1, Decimal(0), 3)], min_journeys=50)
	assert fit.sufficiency["verdict"] == "partial" and fit.sufficiency["flagged_channels"] == ["b"]
