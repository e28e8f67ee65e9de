"""Which conversions go to a destination, in what order and in which requests; which are not sent, and why."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from trackflow.engine.forwarding import ga4, meta
from trackflow.engine.forwarding.types import (
	DISABLED,
	GA4,
	META,
	SKIPPED_CONSENT,
	TOO_OLD,
	DeliveryOutcome,
	Destination,
	ForwardedConversion,
)


@dataclass(frozen=True)
class Batch:
	"""The conversions of one request to one destination, in delivery order."""

	destination: Destination
	conversions: tuple[ForwardedConversion, ...]


@dataclass(frozen=True)
class Plan:
	"""`batches` to send; `outcomes` decided without sending (disabled, consent, too old); `not_sent_here`
	holds ids of conversions whose type this destination does not take (no delivery row at all)."""

	batches: tuple[Batch, ...]
	outcomes: tuple[DeliveryOutcome, ...]
	not_sent_here: tuple[str, ...] = ()


def max_age(platform: str):
	return meta.MAX_AGE if platform == META else ga4.MAX_AGE


def max_events(platform: str) -> int:
	return meta.MAX_EVENTS_PER_REQUEST if platform == META else ga4.MAX_EVENTS_PER_REQUEST


def outcome_without_sending(
	conversion: ForwardedConversion, destination: Destination, now: datetime, attempts: int = 0
) -> DeliveryOutcome | None:
	"""None when the conversion may be sent; otherwise the outcome that stands in for sending it."""

	def outcome(status: str, reason: str) -> DeliveryOutcome:
		return DeliveryOutcome(
			conversion.id,
			status,
			attempts=attempts,
			response_excerpt=reason,
			event_name=destination.event_name(conversion.conversion_type),
		)

	if not destination.enabled:
		return outcome(DISABLED, f"Destination {destination.name} is disabled")
	if conversion.consent == "denied":
		return outcome(SKIPPED_CONSENT, "The visitor denied consent")
	if conversion.consent_mode == "opt-in" and conversion.consent != "granted":
		return outcome(SKIPPED_CONSENT, "The site runs opt-in consent and the visitor did not opt in")
	platform = meta if destination.platform == META else ga4
	if not platform.has_web_identity(conversion):
		if not destination.send_hashed_contact:
			return outcome(
				SKIPPED_CONSENT, "No web identity, and this destination does not send hashed contact data"
			)
		has_contact = (
			meta.has_contact_identity(conversion)
			if destination.platform == META
			else bool(ga4.contact_user_data(conversion) and ga4.client_id(conversion, True))
		)
		if not has_contact:
			return outcome(SKIPPED_CONSENT, "No web identity and no contact data to match on")
	limit = max_age(destination.platform)
	age = now - conversion.occurred_at
	if age > limit:
		return outcome(
			TOO_OLD,
			f"Occurred {_age_text(age)} ago; {destination.platform} accepts events up to {_age_text(limit)} old",
		)
	return None


def _age_text(age) -> str:
	hours = age.total_seconds() / 3600
	return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.1f} hours"


def delivery_order(conversions: Iterable[ForwardedConversion]) -> list[ForwardedConversion]:
	"""Time order, except that a lead's CRM stage events stay together in stage order (lead created,
	qualified, deal created, won) at the time of its first one, as Meta's CRM integration expects even when
	CRM timestamps disagree. Other conversions keep their own time; ties break on id (deterministic)."""
	conversions = list(conversions)
	lead_start: dict[str, datetime] = {}
	for c in conversions:
		if c.lead and c.stage_rank is not None:
			start = lead_start.get(c.lead)
			lead_start[c.lead] = c.occurred_at if start is None else min(start, c.occurred_at)

	def key(c: ForwardedConversion):
		if c.lead and c.stage_rank is not None:
			return (lead_start[c.lead], 0, c.lead, c.stage_rank, c.occurred_at, c.id)
		return (c.occurred_at, 1, "", 0, c.occurred_at, c.id)

	return sorted(conversions, key=key)


def make_batches(destination: Destination, conversions: Iterable[ForwardedConversion]) -> list[Batch]:
	"""Requests of at most the platform's limit (Meta 1,000, GA4 25), in delivery order. GA4 takes one
	client id (and one user id and user data) per request, so its events are grouped by that first, the
	groups in order of their first event."""
	ordered = delivery_order(conversions)
	size = max_events(destination.platform)
	if destination.platform == GA4:
		groups: dict[tuple, list[ForwardedConversion]] = {}
		for c in ordered:
			groups.setdefault(ga4.request_key(c, destination), []).append(c)
		runs = list(groups.values())
	else:
		runs = [ordered]
	return [
		Batch(destination, tuple(run[start : start + size]))
		for run in runs
		for start in range(0, len(run), size)
	]


def plan_deliveries(
	destination: Destination,
	conversions: Iterable[ForwardedConversion],
	now: datetime,
	attempts: dict[str, int] | None = None,
) -> Plan:
	"""Split conversions into those to send (batched) and those settled without sending."""
	attempts = attempts or {}
	to_send, outcomes, not_sent_here = [], [], []
	for c in conversions:
		if not destination.event_name(c.conversion_type):
			not_sent_here.append(c.id)
			continue
		settled = outcome_without_sending(c, destination, now, attempts.get(c.id, 0))
		if settled:
			outcomes.append(settled)
		else:
			to_send.append(c)
	return Plan(tuple(make_batches(destination, to_send)), tuple(outcomes), tuple(not_sent_here))
