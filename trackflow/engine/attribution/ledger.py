"""Every active model's credits of one conversion, as the ledger stores them: the one computation behind
the stored credits, recomputes and the model preview (a preview is exactly what the ledger would write)."""

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from trackflow.engine import ENGINE_VERSION
from trackflow.engine.attribution.apply import attribute
from trackflow.engine.attribution.registry import get_model
from trackflow.engine.attribution.types import AttributionResult, Conversion, ModelSpec, Touchpoint
from trackflow.engine.money import allocate

NOT_FITTED = "not_fitted"


@dataclass(frozen=True)
class LedgerModel:
	"""An active Attribution Model: its name, its validated spec and its stored fit (data-driven models)."""

	name: str
	spec: ModelSpec
	fit: dict | None = None


@dataclass(frozen=True)
class ModelCredits:
	"""One model's credits of one conversion, with each credit's value in the company currency and the
	hash of the spec that produced them (stored on every ledger row, so a changed model is visible)."""

	model: str
	spec: ModelSpec
	params_hash: str
	result: AttributionResult
	company_values: tuple[Decimal, ...]

	@property
	def reason(self) -> str | None:
		return self.result.reason


def params_hash(spec: ModelSpec) -> str:
	return hashlib.sha256(str(spec).encode()).hexdigest()[:16]


def credit_models(
	conversion: Conversion,
	touches: Iterable[Touchpoint],
	models: Sequence[LedgerModel],
	company_value: Decimal | None = None,
	company_currency: str | None = None,
) -> list[ModelCredits]:
	"""Each model's credits of `conversion` over `touches` (every model applies its own lookback). A
	data-driven model without a fit gives no credits (reason "not_fitted"); the company-currency values
	are split from `company_value` by the same weights, exact to that currency's minor unit."""
	touches = list(touches)
	company_value = conversion.value if company_value is None else company_value
	company_currency = company_currency or conversion.currency
	out = []
	for model in models:
		if get_model(model.spec.name).data_driven and model.fit is None:
			result = AttributionResult(
				conversion.id,
				model.spec.name,
				model.spec.param_dict,
				ENGINE_VERSION,
				(),
				conversion.currency,
				NOT_FITTED,
			)
			out.append(ModelCredits(model.name, model.spec, params_hash(model.spec), result, ()))
			continue
		result = attribute(conversion, touches, model.spec, model.fit)
		company = (
			tuple(allocate(company_value, [c.weight for c in result.credits], company_currency))
			if result.credits
			else ()
		)
		out.append(ModelCredits(model.name, model.spec, params_hash(model.spec), result, company))
	return out
