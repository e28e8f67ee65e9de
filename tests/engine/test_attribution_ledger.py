"""credit_models: every active model's credits of one conversion, as the ledger writes them."""

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from trackflow.engine.attribution import Conversion, Touchpoint, fit_markov, path_stats, validate_params
from trackflow.engine.attribution.ledger import NOT_FITTED, LedgerModel, credit_models, params_hash

NOW = datetime(2026, 12, 1, 12, tzinfo=timezone.utc)
CHANNELS = ("email", "paid_search", "organic_social", "direct")


def touches(channels):
	return [
		Touchpoint(id=f"t{i}", timestamp=NOW - timedelta(days=len(channels) - i), channel=c)
		for i, c in enumerate(channels)
	]


def model(name: str, **params) -> LedgerModel:
	return LedgerModel(name.title(), validate_params(name, {"lookback_days": 90, **params}))


def test_each_model_splits_the_value_and_the_company_value_exactly():
	conversion = Conversion("C1", NOW, Decimal("100.00"), "EUR")
	models = [model("linear"), model("first_touch"), model("position_based")]
	out = credit_models(
		conversion, touches(["email", "paid_search", "direct"]), models, Decimal("117.35"), "USD"
	)
	assert [m.model for m in out] == ["Linear", "First_Touch", "Position_Based"]
	for credited in out:
		assert sum(c.value for c in credited.result.credits) == Decimal("100.00")
		assert sum(credited.company_values) == Decimal("117.35")
		assert credited.params_hash == params_hash(credited.spec) and len(credited.params_hash) == 16
	assert [str(v) for v in out[0].company_values] == ["39.12", "39.12", "39.11"]


def test_a_data_driven_model_without_a_fit_gives_no_credits_and_says_why():
	conversion = Conversion("C1", NOW, Decimal("10"), "EUR")
	(credited,) = credit_models(conversion, touches(["email"]), [model("markov")])
	assert credited.result.credits == () and credited.reason == NOT_FITTED and credited.company_values == ()


def test_a_fitted_model_uses_its_fit():
	paths = [path_stats(("email", "paid_search"), 30, Decimal(3000), 10), path_stats(("direct",), 0, 0, 60)]
	fit = fit_markov(paths, min_journeys=1).to_dict()
	conversion = Conversion("C1", NOW, Decimal("50"), "EUR")
	(credited,) = credit_models(
		conversion, touches(["email", "paid_search"]), [LedgerModel("M", model("markov").spec, fit)]
	)
	assert sum(c.value for c in credited.result.credits) == Decimal("50")


@given(
	st.lists(st.sampled_from(CHANNELS), min_size=1, max_size=12),
	st.decimals(min_value=0, max_value=10**9, places=2),
	st.decimals(min_value=0, max_value=10**9, places=2),
)
def test_credits_always_sum_to_both_values(channels, value, company):
	conversion = Conversion("C", NOW, value, "EUR")
	for credited in credit_models(
		conversion, touches(channels), [model("linear"), model("time_decay")], company, "USD"
	):
		assert sum(c.value for c in credited.result.credits) == value
		assert sum(credited.company_values) == company
