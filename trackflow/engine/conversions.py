"""Conversions: what makes one valid, which CRM fields carry a deal's value, and the converting journey."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from trackflow.engine.attribution.types import Touchpoint
from trackflow.engine.errors import ValidationError
from trackflow.engine.money import minor_units

CONVERSION_TYPES = (
	"lead_created",
	"lead_qualified",
	"deal_created",
	"deal_won",
	"form_submit",
	"purchase",
	"signup",
	"custom",
)
# Client clocks and queue delays: a conversion may be stamped a little ahead of the server.
FUTURE_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class ConversionCheck:
	"""A valid conversion may still be flagged for a human to look at (e.g. a valued signup)."""

	flagged: bool = False
	reason: str | None = None


def check_conversion(
	conversion_type: str, value: Decimal | None, currency: str | None, occurred_at: datetime, now: datetime
) -> ConversionCheck:
	"""Raise ValidationError with a clear message for an invalid conversion; say whether to flag it."""
	if conversion_type not in CONVERSION_TYPES:
		raise ValidationError(
			f"Conversion type must be one of {', '.join(CONVERSION_TYPES)}, not {conversion_type!r}"
		)
	if value is not None:
		if not isinstance(value, Decimal) or not value.is_finite():
			raise ValidationError(f"Conversion value must be a number, not {value!r}")
		if value < 0:
			raise ValidationError(f"Conversion value cannot be negative ({value})")
		places = minor_units(currency)
		if value != value.quantize(Decimal(1).scaleb(-places)):
			raise ValidationError(
				f"{currency or 'The currency'} has {places} decimal places; {value} has more"
			)
	if conversion_type == "purchase" and not (value and value > 0):
		raise ValidationError("A purchase needs a value above 0")
	if occurred_at > now + FUTURE_SKEW:
		raise ValidationError(f"Conversion time {occurred_at.isoformat()} is in the future")
	if conversion_type == "signup" and value:
		return ConversionCheck(True, "A signup with a value: check that it is not a purchase")
	return ConversionCheck()


@dataclass(frozen=True)
class DealFields:
	"""Which CRM Deal fields hold the value, its exchange rate and the close date on this CRM version."""

	value: str
	exchange_rate: str | None
	close_date: str | None


def deal_fields(fieldnames: Iterable[str]) -> DealFields:
	"""Recent CRM: deal_value, exchange_rate, closed_date. CRM 1.34: annual_revenue, close_date."""
	names = set(fieldnames)
	return DealFields(
		value="deal_value" if "deal_value" in names else "annual_revenue",
		exchange_rate="exchange_rate" if "exchange_rate" in names else None,
		close_date=next((f for f in ("closed_date", "close_date") if f in names), None),
	)


def journey_rows(
	rows: Iterable[Mapping], visitors: Iterable[str], leads: Iterable[str], deals: Iterable[str]
) -> list[Mapping]:
	"""The touchpoint rows of a converting identity: every row of one of its visitors (all devices of the
	lead) or linked directly to one of its leads or deals (offline touches), each row once."""
	visitors, leads, deals = set(visitors), set(leads), set(deals)
	seen, journey = set(), []
	for row in rows:
		if row["name"] in seen:
			continue
		if row.get("visitor") in visitors or row.get("crm_lead") in leads or row.get("crm_deal") in deals:
			seen.add(row["name"])
			journey.append(row)
	return journey


MILESTONE_NAMES = ("lead", "opportunity", "won")


def mark_milestones(
	touches: Iterable[Touchpoint],
	lead_created: datetime | None = None,
	deal_created: datetime | None = None,
	won_at: datetime | None = None,
) -> list[Touchpoint]:
	"""The journey ordered by (time, id), with each milestone on the last touch at or before its time:
	"lead" before the lead was created, "opportunity" before the deal was, "won" before it was won."""
	ordered = sorted(touches, key=lambda t: (t.timestamp, t.id))
	marks: dict[int, set[str]] = {}
	for milestone, when in zip(MILESTONE_NAMES, (lead_created, deal_created, won_at), strict=True):
		if when is None:
			continue
		before = [i for i, t in enumerate(ordered) if t.timestamp <= when]
		if before:
			marks.setdefault(before[-1], set()).add(milestone)
	return [replace(t, milestones=frozenset(marks.get(i, ()))) for i, t in enumerate(ordered)]
