"""Largest-remainder allocation: exact sums, floors plus leftover units, ties to the earlier part."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trackflow.engine.errors import ValidationError
from trackflow.engine.money import allocate, minor_units


def test_thirds_leftover_cent_goes_to_earliest_tie():
	assert allocate(Decimal("100.00"), [1, 1, 1]) == [Decimal("33.34"), Decimal("33.33"), Decimal("33.33")]


def test_leftover_goes_to_largest_remainder_not_first():
	# exact shares of 10 cents: 1.2, 1.8, 7 -> floors 1, 1, 7; the leftover cent goes to the 0.8 remainder
	assert allocate(Decimal("0.10"), [0.12, 0.18, 0.7]) == [Decimal("0.01"), Decimal("0.02"), Decimal("0.07")]


def test_currency_minor_units():
	assert (
		minor_units("JPY") == 0
		and minor_units("KWD") == 3
		and minor_units("usd") == 2
		and minor_units(None) == 2
	)
	assert allocate(Decimal("100"), [1, 1, 1], "JPY") == [Decimal(34), Decimal(33), Decimal(33)]
	assert allocate(Decimal("1.000"), [1, 1, 1], "KWD") == [
		Decimal("0.334"),
		Decimal("0.333"),
		Decimal("0.333"),
	]


def test_zero_value_and_zero_weights():
	assert allocate(Decimal("0.00"), [0.5, 0.5]) == [Decimal("0.00"), Decimal("0.00")]
	assert allocate(Decimal("5.00"), [0.0, 1.0]) == [Decimal("0.00"), Decimal("5.00")]


@pytest.mark.parametrize(
	"value, weights, currency",
	[
		(Decimal("-1.00"), [1], None),
		(Decimal("1.001"), [1], "USD"),
		(Decimal("1.5"), [1], "JPY"),
		(Decimal("1.00"), [], None),
		(Decimal("1.00"), [0, 0], None),
		(Decimal("1.00"), [-0.5, 1.5], None),
		(Decimal("1.00"), [float("nan")], None),
	],
)
def test_rejects_bad_input(value, weights, currency):
	with pytest.raises(ValidationError):
		allocate(value, weights, currency)


@settings(max_examples=200, deadline=None)
@given(
	st.integers(min_value=0, max_value=10**12),
	st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1, max_size=40).filter(
		lambda ws: sum(ws) > 0
	),
)
def test_sum_exact_and_each_part_is_floor_or_floor_plus_one(cents, weights):
	value = Decimal(cents).scaleb(-2)
	parts = allocate(value, weights)
	assert sum(parts) == value
	total = sum(weights)
	for part, w in zip(parts, weights, strict=True):
		exact = cents * w / total
		units = int(part.scaleb(2))
		assert exact - 1 - 1e-6 * max(exact, 1) <= units <= exact + 1 + 1e-6 * max(exact, 1)
		assert part >= 0
