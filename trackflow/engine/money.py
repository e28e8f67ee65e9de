"""Exact money splitting: a value in a currency's minor unit divided by weights, largest remainder."""

from collections.abc import Sequence
from decimal import Decimal

from trackflow.engine.errors import ValidationError

# ISO 4217 minor units that differ from the default of 2 (zero-decimal and three-decimal currencies).
MINOR_UNITS: dict[str, int] = {
	**dict.fromkeys(
		(
			"BIF",
			"CLP",
			"DJF",
			"GNF",
			"ISK",
			"JPY",
			"KMF",
			"KRW",
			"PYG",
			"RWF",
			"UGX",
			"UYI",
			"VND",
			"VUV",
			"XAF",
			"XOF",
			"XPF",
		),
		0,
	),
	**dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
	"CLF": 4,
	"UYW": 4,
}
DEFAULT_MINOR_UNITS = 2


def minor_units(currency: str | None) -> int:
	"""Number of decimal places of `currency` (ISO 4217 code; unknown or empty codes use 2)."""
	return MINOR_UNITS.get((currency or "").strip().upper(), DEFAULT_MINOR_UNITS)


def in_currency(value: Decimal, currency: str | None) -> str:
	"""A sum as the exact text an API gives: rounded half-even to the currency's minor unit ("400.00")."""
	return str(Decimal(value).quantize(Decimal(1).scaleb(-minor_units(currency))))


def to_minor(value: Decimal, places: int) -> int:
	"""`value` as an integer count of minor units; refuses values finer than the currency allows."""
	if not isinstance(value, Decimal) or not value.is_finite():
		raise ValidationError(f"money value must be a finite Decimal, got {value!r}")
	scaled = value.scaleb(places)
	if scaled != scaled.to_integral_value():
		raise ValidationError(f"value {value} has more than {places} decimal places for its currency")
	return int(scaled)


def from_minor(units: int, places: int) -> Decimal:
	"""Decimal for an integer count of minor units, with exactly `places` decimals."""
	return Decimal(units).scaleb(-places)


def allocate(
	value: Decimal,
	weights: Sequence[float],
	currency: str | None = None,
	places: int | None = None,
) -> list[Decimal]:
	"""Split `value` over `weights` so the parts sum exactly to `value`.

	Each part gets the floor of its exact share in minor units (shares computed with exact integer
	arithmetic from the binary value of each float weight); the leftover units go one each to the
	largest fractional remainders, ties to the earlier position. Weights must be finite, >= 0 and not
	all zero; `value` must be >= 0 and representable in the currency's minor unit (`places` overrides
	the currency table).
	"""
	if places is None:
		places = minor_units(currency)
	units = to_minor(value, places)
	if units < 0:
		raise ValidationError(f"cannot allocate a negative value ({value})")
	if not weights:
		raise ValidationError("cannot allocate a value over no weights")
	ratios = []
	for weight in weights:
		if not (weight >= 0 and weight != float("inf")):
			raise ValidationError(f"weights must be finite and >= 0, got {weight!r}")
		ratios.append(float(weight).as_integer_ratio())
	# Common power-of-two denominator: every float's ratio has a power-of-two denominator.
	denominator = max(d for _, d in ratios)
	numerators = [n * (denominator // d) for n, d in ratios]
	total = sum(numerators)
	if total == 0:
		raise ValidationError("cannot allocate a value over weights that are all zero")
	floors = []
	remainders = []
	for numerator in numerators:
		quotient, remainder = divmod(units * numerator, total)
		floors.append(quotient)
		remainders.append(remainder)
	leftover = units - sum(floors)
	if leftover:
		order = sorted(range(len(floors)), key=lambda i: (-remainders[i], i))
		for i in order[:leftover]:
			floors[i] += 1
	return [from_minor(part, places) for part in floors]
