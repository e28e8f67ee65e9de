"""Rule-based models: known answers per model and edge case, plus properties over random journeys."""

import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trackflow.engine import ENGINE_VERSION
from trackflow.engine.attribution import (
	Conversion,
	Touchpoint,
	attribute,
	fit_markov,
	fit_shapley,
	model_names,
	parse_model_spec,
	validate_params,
)
from trackflow.engine.attribution.compare import all_model_specs
from trackflow.engine.errors import ValidationError

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)


def touch(channel, day, id=None, milestones=()):
	return Touchpoint(
		id or f"t{day:06.2f}-{channel}", T0 + timedelta(days=day), channel, milestones=frozenset(milestones)
	)


def conv(value="100.00", day=30, currency="USD"):
	return Conversion("c1", T0 + timedelta(days=day), Decimal(value), currency)


def values(result):
	return [c.value for c in result.credits]


def D(*xs):
	return [Decimal(x) for x in xs]


PATH = [touch("email", 1), touch("direct", 2), touch("paid_search", 3), touch("direct", 4)]


@pytest.mark.parametrize(
	"spec, expected",
	[
		("first_touch", D("100.00", "0.00", "0.00", "0.00")),
		("last_touch", D("0.00", "0.00", "0.00", "100.00")),
		("last_non_direct", D("0.00", "0.00", "100.00", "0.00")),
		("linear", D("25.00", "25.00", "25.00", "25.00")),
		("position_based", D("40.00", "10.00", "10.00", "40.00")),
		("position_based:first=0.3,last=0.5", D("30.00", "10.00", "10.00", "50.00")),
		("j_shaped", D("20.00", "10.00", "10.00", "60.00")),
		("inverse_j", D("60.00", "10.00", "10.00", "20.00")),
		("custom:first=0.5,middle=0.2,last=0.3", D("50.00", "10.00", "10.00", "30.00")),
		# by channel: direct 0.6 over its two touches, email 0.4, paid_search 0
		("custom:channel.direct=0.6,channel.email=0.4", D("40.00", "30.00", "0.00", "30.00")),
	],
)
def test_known_answers_four_touches(spec, expected):
	result = attribute(conv(), PATH, spec)
	assert values(result) == expected
	assert [c.touchpoint_id for c in result.credits] == [t.id for t in PATH]
	assert result.engine_version == ENGINE_VERSION and result.reason is None


def test_time_decay_known_answer():
	# conversion at day 30; touches 14 and 7 days before with H=7 -> weights 1/4 and 1/2 -> 1/3, 2/3
	touches = [touch("email", 16), touch("qr", 23)]
	result = attribute(conv("90.00"), touches, "time_decay")
	assert values(result) == D("30.00", "60.00")
	assert result.credits[0].weight == pytest.approx(1 / 3)
	result = attribute(conv("90.00"), touches, "time_decay:half_life_days=14")  # 2^-1, 2^-0.5
	assert result.credits[1].weight == pytest.approx(2**-0.5 / (2**-1 + 2**-0.5))


@pytest.mark.parametrize(
	"spec", ["position_based", "j_shaped", "inverse_j", "w_shaped", "full_path", "linear"]
)
def test_one_touch_gets_everything_and_two_touches_split_evenly(spec):
	assert values(attribute(conv(), [touch("email", 1)], spec)) == D("100.00")
	if spec not in ("w_shaped", "full_path"):
		assert values(attribute(conv(), [touch("email", 1), touch("qr", 2)], spec)) == D("50.00", "50.00")


def test_all_direct_path_goes_to_last_touch():
	path = [touch("direct", 1), touch("direct", 2)]
	assert values(attribute(conv(), path, "last_non_direct")) == D("0.00", "100.00")


def test_w_shaped_with_all_milestones():
	path = [
		touch("a", 1),
		touch("b", 2, milestones=["lead"]),
		touch("c", 3),
		touch("d", 4, milestones=["opportunity"]),
		touch("e", 5),
	]
	# 30 first, 30 lead, 30 opportunity, 10 over c and e
	assert values(attribute(conv(), path, "w_shaped")) == D("30.00", "30.00", "5.00", "30.00", "5.00")


def test_w_shaped_missing_milestones_go_to_last_touch_and_shared_roles_add_up():
	path = [touch("a", 1, milestones=["lead"]), touch("b", 2), touch("c", 3)]
	# first+lead on a (60); opportunity missing -> last touch c (+30); rest 10 over b and c (5 each)
	assert values(attribute(conv(), path, "w_shaped")) == D("60.00", "5.00", "35.00")
	# no milestones at all: first 30, last gets lead+opportunity 60, rest 10 over b, c
	plain = [touch("a", 1), touch("b", 2), touch("c", 3)]
	assert values(attribute(conv(), plain, "w_shaped")) == D("30.00", "5.00", "65.00")
	# two touches, both roles filled: the 10 % rest has no touch of its own -> last touch
	both = [touch("a", 1, milestones=["lead"]), touch("b", 2, milestones=["opportunity"])]
	assert values(attribute(conv(), both, "w_shaped")) == D("60.00", "40.00")


def test_full_path_known_answer():
	path = [
		touch("a", 1),
		touch("b", 2, milestones=["lead"]),
		touch("c", 3),
		touch("d", 4, milestones=["opportunity", "won"]),
	]
	# a 22.5, b 22.5, d 45, c gets the 10 % rest
	assert values(attribute(conv("200.00"), path, "full_path")) == D("45.00", "45.00", "20.00", "90.00")


def test_window_excludes_old_and_future_touches_and_says_when_empty():
	path = [touch("old", 0), touch("in", 25), touch("after", 31)]
	result = attribute(conv(day=30), path, "linear:lookback_days=10")
	assert [c.touchpoint_id for c in result.credits] == [path[1].id] and values(result) == D("100.00")
	empty = attribute(conv(day=30), [touch("old", 0)], "linear:lookback_days=10")
	assert empty.credits == () and empty.reason == "no_touchpoints"
	assert attribute(conv(), [], "first_touch").reason == "no_touchpoints"


def test_ties_in_time_are_ordered_by_id():
	same = T0 + timedelta(days=1)
	a = Touchpoint("b-second", same, "email")
	b = Touchpoint("a-first", same, "qr")
	result = attribute(conv(), [a, b], "first_touch")
	assert [c.touchpoint_id for c in result.credits] == ["a-first", "b-second"]
	assert values(result) == D("100.00", "0.00")


def test_zero_value_and_rounding_in_other_currencies():
	assert values(attribute(conv("0.00"), PATH[:3], "linear")) == D("0.00", "0.00", "0.00")
	assert values(attribute(conv("100", currency="JPY"), PATH[:3], "linear")) == D("34", "33", "33")


def test_duplicate_ids_and_naive_timestamps_are_rejected():
	with pytest.raises(ValidationError, match="twice"):
		attribute(conv(), [touch("a", 1, id="x"), touch("b", 2, id="x")], "linear")
	with pytest.raises(ValidationError, match="timezone"):
		Touchpoint("x", datetime(2026, 1, 1), "email")


@pytest.mark.parametrize(
	"text, message",
	[
		("nope", "unknown model"),
		("linear:foo=1", "unknown parameter"),
		("time_decay:half_life_days=0", "half_life_days"),
		("time_decay:half_life_days=abc", "half_life_days"),
		("position_based:first=0.7,last=0.5", "at most 1"),
		("markov:order=4", "order"),
		("custom:first=0.5,last=0.4", "sum to 1"),
		("custom:first=0.5,channel.email=0.5", "either"),
		("custom", "give weights"),
		("linear:lookback_days", "key=value"),
		("linear:lookback_days=1,lookback_days=2", "twice"),
	],
)
def test_bad_specs_have_clear_errors(text, message):
	with pytest.raises(ValidationError, match=message):
		parse_model_spec(text)


def test_spec_defaults_and_canonical_form():
	spec = parse_model_spec("position_based:last=0.3")
	assert spec.param_dict == {"first": 0.4, "last": 0.3, "lookback_days": 90.0}
	assert parse_model_spec(str(spec)) == spec
	assert validate_params("markov", {"order": "2"}).get("order") == 2
	assert set(model_names()) >= {"w_shaped", "full_path", "markov", "shapley", "custom"}


def test_data_driven_needs_a_matching_fit():
	with pytest.raises(ValidationError, match="fit it first"):
		attribute(conv(), PATH, "markov")
	fit = fit_shapley([(("email",), 1, Decimal(1), 1)], min_journeys=0)
	with pytest.raises(ValidationError, match="shapley fit"):
		attribute(conv(), PATH, "markov", fit)
	two = fit_markov(
		[(("email", "qr"), 1, Decimal(1), 3), (("qr",), 0, Decimal(0), 2)], order=2, min_journeys=0
	)
	with pytest.raises(ValidationError, match="order 2"):
		attribute(conv(), PATH, "markov", two)


def test_apply_fit_splits_by_channel_weight_and_evenly_within_a_channel():
	fit = fit_shapley(
		[
			(("email",), 1, Decimal(0), 1),
			(("direct",), 1, Decimal(0), 3),
			(("email", "direct"), 1, Decimal(0), 1),
		],
		min_journeys=0,
	)
	# r(e)=1/2, r(d)=1/4, r(ed)=1/2 -> φ_e = 1/2 + 1/4 = 3/4, φ_d = 1/4 + 1/4 = 1/2 -> 0.6 / 0.4
	result = attribute(conv(), [touch("email", 1), touch("direct", 2), touch("direct", 3)], "shapley", fit)
	assert values(result) == D("60.00", "20.00", "20.00")
	# a fit as stored JSON applies the same way; unknown channels fall back to an even split
	assert values(attribute(conv(), [touch("email", 1)], "shapley", fit.to_dict())) == D("100.00")
	fallback = attribute(conv(), [touch("sms", 1), touch("qr", 2)], "shapley", fit)
	assert fallback.reason == "equal_split_fallback" and values(fallback) == D("50.00", "50.00")


def test_insufficient_fit_gives_no_credits():
	fit = fit_markov([(("email",), 1, Decimal(0), 1)])  # 2 journeys < 50
	assert fit.sufficiency["verdict"] == "insufficient" and fit.channel_weights == {}
	result = attribute(conv(), PATH, "markov", fit)
	assert result.credits == () and result.reason == "insufficient_data"


# --- properties over random journeys -------------------------------------------------------------

CHANNELS = ["direct", "email", "paid_search", "qr", "referral"]


@st.composite
def journeys(draw):
	n = draw(st.integers(min_value=1, max_value=12))
	touches = []
	for i in range(n):
		touches.append(
			Touchpoint(
				f"t{i:02d}",
				T0 + timedelta(hours=draw(st.integers(min_value=0, max_value=24 * 40))),
				draw(st.sampled_from(CHANNELS)),
				milestones=frozenset(
					draw(st.sets(st.sampled_from(["lead", "opportunity", "won"]), max_size=2))
				),
			)
		)
	cents = draw(st.integers(min_value=0, max_value=10**9))
	currency = draw(st.sampled_from(["USD", "JPY", "KWD"]))
	places = {"USD": 2, "JPY": 0, "KWD": 3}[currency]
	conversion = Conversion("c", T0 + timedelta(days=41), Decimal(cents).scaleb(-places), currency)
	return conversion, touches


def _fits():
	rng = random.Random(5)
	paths = []
	for _ in range(300):
		path = tuple(rng.choice(CHANNELS) for _ in range(rng.randint(1, 5)))
		converted = rng.random() < 0.3
		paths.append((path, int(converted), Decimal(0), int(not converted)))
	return {"markov": fit_markov(paths, min_journeys=0), "shapley": fit_shapley(paths, min_journeys=0)}


FITS = _fits()
SPECS = all_model_specs()


@settings(max_examples=60, deadline=None)
@given(journeys(), st.randoms(use_true_random=False))
def test_every_model_weights_sum_to_one_values_exact_and_order_independent(journey, rnd):
	conversion, touches = journey
	shuffled = touches[:]
	rnd.shuffle(shuffled)
	for spec in SPECS:
		fit = FITS.get(spec.partition(":")[0])
		result = attribute(conversion, touches, spec, fit)
		assert result.reason is None
		assert all(c.weight >= 0 for c in result.credits)
		assert sum(c.weight for c in result.credits) == pytest.approx(1.0, abs=1e-12)
		assert sum(c.value for c in result.credits) == conversion.value
		assert all(c.value >= 0 for c in result.credits)
		assert attribute(conversion, shuffled, spec, fit) == result
		assert attribute(conversion, touches, spec, fit) == result


@settings(max_examples=80, deadline=None)
@given(journeys())
def test_first_last_linear_match_their_definitions(journey):
	conversion, touches = journey
	ordered = sorted(touches, key=lambda t: (t.timestamp, t.id))
	first = attribute(conversion, touches, "first_touch")
	assert [c.weight for c in first.credits] == [1.0] + [0.0] * (len(ordered) - 1)
	assert first.credits[0].value == conversion.value
	last = attribute(conversion, touches, "last_touch")
	assert last.credits[-1].touchpoint_id == ordered[-1].id and last.credits[-1].value == conversion.value
	linear = attribute(conversion, touches, "linear")
	n = len(ordered)
	assert all(c.weight == pytest.approx(1 / n) for c in linear.credits)
	values = [c.value for c in linear.credits]
	assert max(values) - min(values) <= Decimal(1).scaleb(
		-{"USD": 2, "JPY": 0, "KWD": 3}[conversion.currency]
	)
	# the leftover units go to the earliest touches (all remainders tie)
	assert values == sorted(values, reverse=True)
