"""A model preview's input: touchpoints and a value as someone types them (a form, an API call), checked
and turned into the engine's Conversion and Touchpoints, so a preview is computed exactly as the ledger
computes a stored conversion (engine.attribution.ledger.credit_models)."""

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation

from trackflow.engine.attribution.types import MILESTONES, Conversion, Touchpoint
from trackflow.engine.errors import ValidationError
from trackflow.engine.ingest import parse_time

MAX_TOUCHES = 200
TEXT_LIMIT = 140
_TOUCH_KEYS = frozenset(("id", "channel", "time", "source", "medium", "campaign", "milestones"))


def _time(value, what: str) -> datetime:
	"""engine.ingest's reading of a time (ISO 8601, UTC if naive, or epoch seconds) as an aware datetime."""
	return datetime.fromtimestamp(parse_time(value, what), timezone.utc)


def parse_value(value, what: str = "value") -> Decimal:
	"""A money value as an exact, finite, non-negative Decimal (a string keeps every digit)."""
	if isinstance(value, bool):
		raise ValidationError(f"{what} must be a number")
	try:
		amount = Decimal(str(value).strip())
	except (InvalidOperation, ValueError):
		raise ValidationError(f"{what} must be a number, got {value!r}") from None
	if not amount.is_finite() or amount < 0 or amount.adjusted() > 15:
		raise ValidationError(f"{what} must be a finite number from 0 to 10^15, got {value!r}")
	return amount


def _text(value, what: str) -> str | None:
	if value is None or value == "":
		return None
	if not isinstance(value, str) or len(value) > TEXT_LIMIT:
		raise ValidationError(f"{what} must be text of at most {TEXT_LIMIT} characters")
	return value.strip() or None


def preview_input(
	touchpoints: Sequence[Mapping],
	value,
	currency: str = "USD",
	occurred_at=None,
	now: datetime | None = None,
) -> tuple[Conversion, list[Touchpoint]]:
	"""(conversion, touches) from a preview request: touches are objects with `channel` and `time`
	(required), `id`, `source`, `medium`, `campaign` and `milestones` (any of lead, opportunity, won);
	the conversion happens at `occurred_at` (default: the last touch)."""
	if not isinstance(touchpoints, Sequence) or isinstance(touchpoints, str | bytes):
		raise ValidationError("touchpoints must be a list of objects")
	if not 1 <= len(touchpoints) <= MAX_TOUCHES:
		raise ValidationError(f"give 1 to {MAX_TOUCHES} touchpoints")
	touches = []
	for number, raw in enumerate(touchpoints, start=1):
		what = f"touchpoint {number}"
		if not isinstance(raw, Mapping):
			raise ValidationError(f"{what} must be an object")
		unknown = set(raw) - _TOUCH_KEYS
		if unknown:
			raise ValidationError(f"{what}: unknown keys {sorted(unknown)}")
		channel = _text(raw.get("channel"), f"{what} channel")
		if not channel:
			raise ValidationError(f"{what} needs a channel")
		milestones = raw.get("milestones") or ()
		if isinstance(milestones, str) or not all(m in MILESTONES for m in milestones):
			raise ValidationError(f"{what}: milestones are a list of {', '.join(MILESTONES)}")
		touches.append(
			Touchpoint(
				id=_text(raw.get("id"), f"{what} id") or f"t{number}",
				timestamp=_time(raw.get("time"), f"{what} time"),
				channel=channel,
				source=_text(raw.get("source"), f"{what} source"),
				medium=_text(raw.get("medium"), f"{what} medium"),
				campaign=_text(raw.get("campaign"), f"{what} campaign"),
				milestones=frozenset(milestones),
			)
		)
	if len({t.id for t in touches}) != len(touches):
		raise ValidationError("touchpoint ids must be distinct")
	when = _time(occurred_at, "occurred_at") if occurred_at else max(t.timestamp for t in touches)
	if now is not None and when > now:
		raise ValidationError("occurred_at is in the future")
	return Conversion("preview", when, parse_value(value), (currency or "USD").upper()), touches
