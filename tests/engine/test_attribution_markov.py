"""Markov removal effects: a hand-solved chain, brute-force walk enumeration, k-gram states, orders 1-3."""

import random
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trackflow.engine.attribution import MarkovFit, fit_markov, markov
from trackflow.engine.attribution.markov import (
	CONVERSION,
	NULL,
	START,
	_chain,
	conversion_probability,
	count_transitions,
	path_states,
)

HAND = [(("a", "b"), 1, Decimal("10"), 0), (("a",), 0, Decimal(0), 1), (("b",), 1, Decimal("5"), 1)]


def test_hand_solved_chain():
	# START->a 2, START->b 2, a->b 1, a->null 1, b->conv 2, b->null 1:
	# P(b)=2/3, P(a)=1/3, P=1/2; without a: 1/3 (RE 1/3); without b: 0 (RE 1)
	fit = fit_markov(HAND, min_journeys=0)
	assert fit.conversion_probability == pytest.approx(0.5, abs=1e-15)
	assert fit.removal_effects == pytest.approx({"a": 1 / 3, "b": 1.0}, abs=1e-15)
	assert fit.channel_weights == pytest.approx({"a": 0.25, "b": 0.75}, abs=1e-15)
	assert fit.global_share == pytest.approx({"a": 0.5, "b": 1.5})
	assert fit.total_value == Decimal(15)
	assert (["a"], ["b"], 1) in fit.transitions and (["b"], CONVERSION, 2) in fit.transitions


def test_states_are_collapsed_k_grams_and_short_paths_are_one_state():
	assert path_states(("a", "a", "b"), 1) == [("a",), ("b",)]
	assert path_states(("a", "a", "b"), 2) == [("a", "a"), ("a", "b")]
	assert path_states(("a", "a", "a", "b"), 2) == [("a", "a"), ("a", "b")]
	assert path_states(("a", "b", "a", "b"), 2) == [("a", "b"), ("b", "a"), ("a", "b")]
	assert path_states(("a",), 3) == [("a",)] and path_states(("a", "b"), 3) == [("a", "b")]
	edges, conv, null = count_transitions([(("a", "b", "c"), 2, Decimal(0), 1)], 2)
	assert edges == {(START, ("a", "b")): 3, (("a", "b"), ("b", "c")): 3} and conv == {("b", "c"): 2}
	assert null == {("b", "c"): 1}


@pytest.mark.parametrize("alphabet", ["abcd", [f"ch{i:02d}" for i in range(20)]])
def test_order_one_fast_counting_matches_generic_k_grams(alphabet):
	# 4 channels take the byte-packed pair counting, 20 channels the generic one
	rng = random.Random(3)
	paths = [
		(
			tuple(rng.choice(alphabet) for _ in range(rng.randint(1, 7))),
			rng.randint(0, 2),
			Decimal(0),
			rng.randint(0, 3),
		)
		for _ in range(400)
	]
	fast = count_transitions(paths, 1)
	slow_edges: dict = {}
	slow_conv: dict = {}
	slow_null: dict = {}
	for path, c, _v, n in paths:
		if c + n:
			prev = START
			for s in path_states(path, 1):
				slow_edges[prev, s] = slow_edges.get((prev, s), 0) + c + n
				prev = s
			if c:
				slow_conv[prev] = slow_conv.get(prev, 0) + c
			if n:
				slow_null[prev] = slow_null.get(prev, 0) + n
	assert fast == (slow_edges, slow_conv, slow_null)


def brute_force_probability(succ, start=START, floor=1e-13):
	"""Sum the probability of every walk from START into conversion, pruning walks below `floor`.
	Returns (probability, pruned mass)."""
	probabilities = {s: {t: w / sum(out.values()) for t, w in out.items()} for s, out in succ.items()}
	total = 0.0
	pruned = 0.0
	stack = [(start, 1.0)]
	while stack:
		state, p = stack.pop()
		for target, q in probabilities[state].items():
			mass = p * q
			if target == CONVERSION:
				total += mass
			elif target == NULL:
				continue
			elif mass < floor:
				pruned += mass
			else:
				stack.append((target, mass))
	return total, pruned


@pytest.mark.parametrize("order", [1, 2, 3])
def test_exact_solution_matches_brute_force_walk_enumeration(order):
	rng = random.Random(order)
	paths = [
		(
			tuple(rng.choice("abc") for _ in range(rng.randint(1, 5))),
			rng.randint(0, 1),
			Decimal(0),
			rng.randint(1, 3),
		)
		for _ in range(25)
	]
	edges, conv, null = count_transitions(paths, order)
	for removed in (None, "a", "b", "c"):
		exact = conversion_probability(edges, conv, null, removed)
		brute, pruned = brute_force_probability(_chain(edges, conv, null, removed), floor=1e-9)
		assert brute <= exact + 1e-12
		assert exact - brute <= pruned + 1e-12


def test_exact_probability_equals_fractions_solution():
	# A chain with a cycle a <-> b solved by hand with fractions:
	# a: ->b 2, ->conv 1, ->null 1;  b: ->a 1, ->conv 1, ->null 2;  START->a 1, START->b 1
	# p_a = 1/2 p_b + 1/4 ; p_b = 1/4 p_a + 1/4  ->  p_a = 3/7, p_b = 5/14 ; P = (3/7 + 5/14)/2 = 11/28
	edges = {(START, ("a",)): 1.0, (START, ("b",)): 1.0, (("a",), ("b",)): 2.0, (("b",), ("a",)): 1.0}
	conv = {("a",): 1.0, ("b",): 1.0}
	null = {("a",): 1.0, ("b",): 2.0}
	assert conversion_probability(edges, conv, null) == pytest.approx(float(Fraction(11, 28)), abs=1e-15)
	# remove b: p_a = 1/4 (a->b goes to null) -> P = 1/8
	assert conversion_probability(edges, conv, null, "b") == pytest.approx(0.125, abs=1e-15)


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=0, max_value=10**6), st.sampled_from([1, 2]))
def test_iterative_solver_agrees_with_direct_elimination(seed, order):
	rng = random.Random(seed)
	paths = [
		(
			tuple(rng.choice("abcde") for _ in range(rng.randint(1, 6))),
			rng.randint(0, 2),
			Decimal(0),
			rng.randint(0, 3),
		)
		for _ in range(60)
	]
	edges, conv, null = count_transitions(paths, order)
	for removed in (None, "a", "c"):
		succ = _chain(edges, conv, null, removed)
		if START not in succ:
			continue
		direct = markov._solve_direct(_chain(edges, conv, null, removed))
		iterative = markov._solve_iterative(succ)
		assert iterative == pytest.approx(direct, abs=1e-13)


@pytest.mark.parametrize("order", [1, 2, 3])
def test_fit_properties_and_json_round_trip(order):
	rng = random.Random(10 + order)
	paths = [
		(
			tuple(rng.choice("abcd") for _ in range(rng.randint(1, 6))),
			rng.randint(0, 1),
			Decimal("2.50"),
			rng.randint(0, 4),
		)
		for _ in range(200)
	]
	fit = fit_markov(paths, order=order, min_journeys=0)
	assert fit.order == order and fit.sufficiency["verdict"] == "ok"
	assert sum(fit.channel_weights.values()) == pytest.approx(1.0)
	assert all(0 <= e <= 1 for e in fit.removal_effects.values())
	assert MarkovFit.from_dict(fit.to_dict()) == fit
	# input order does not matter
	assert fit_markov(list(reversed(paths)), order=order, min_journeys=0).removal_effects == pytest.approx(
		fit.removal_effects, abs=1e-14
	)


def test_sufficiency_flags_thin_channels_and_refuses_without_nulls():
	paths = [(("a",), 30, Decimal(0), 40), (("b",), 1, Decimal(0), 2)]
	fit = fit_markov(paths, min_journeys=50)
	assert fit.sufficiency["verdict"] == "partial" and fit.sufficiency["flagged_channels"] == ["b"]
	assert fit.sufficient and fit.channel_weights
	no_nulls = fit_markov([(("a",), 100, Decimal(0), 0)], min_journeys=0)
	assert (
		no_nulls.sufficiency["verdict"] == "insufficient"
		and "non-converting" in no_nulls.sufficiency["message"]
	)
	assert no_nulls.channel_weights == {}
