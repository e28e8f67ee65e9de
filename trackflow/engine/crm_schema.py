"""What CRM's statuses and fields mean, across CRM versions (1.34 has no status types; recent CRM does)."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class StatusMapping:
	won_deal_statuses: tuple[str, ...]
	lost_deal_statuses: tuple[str, ...]
	qualified_lead_statuses: tuple[str, ...]


def _by_type_or_name(statuses: list[Mapping], type_: str, name: str) -> tuple[str, ...]:
	# CRM >= 1.4x gives every status a `type` (Open/Ongoing/On Hold/Won/Lost); 1.34 has none, where the
	# status literally named "Won"/"Lost"/"Qualified" is the only signal there is.
	if any(s.get("type") for s in statuses):
		return tuple(s["name"] for s in statuses if s.get("type") == type_)
	return tuple(s["name"] for s in statuses if s["name"] == name)


def default_status_mapping(
	deal_statuses: Iterable[Mapping], lead_statuses: Iterable[Mapping]
) -> StatusMapping:
	"""Won/lost deal statuses and qualified lead statuses, from CRM's status records (name, optional type).

	A lead status of type Won (CRM's "Qualified", set by convert_to_deal) means a qualified lead, never a
	won deal.
	"""
	deals, leads = list(deal_statuses), list(lead_statuses)
	return StatusMapping(
		won_deal_statuses=_by_type_or_name(deals, "Won", "Won"),
		lost_deal_statuses=_by_type_or_name(deals, "Lost", "Lost"),
		qualified_lead_statuses=_by_type_or_name(leads, "Won", "Qualified"),
	)


def funnel_stages(
	lead_statuses: Iterable[Mapping], qualified: Iterable[str] = ()
) -> tuple[tuple[str, ...], tuple[str, ...]]:
	"""(funnel stages, exits) of CRM Lead Statuses, each in CRM's order (`position`, then name).

	Exits end a lead's journey instead of advancing it: statuses of type Lost on CRM with status types;
	on CRM 1.34 (no types) the statuses placed after the last `qualified` status (Unqualified and Junk
	by default), or none when no qualified status is known. On CRM with status types the funnel ends at the
	first status of type Won (CRM's "Qualified", which convert_to_deal sets); later Won statuses (1.81's
	"Converted") are the same stage, see `funnel_aliases`."""
	statuses = sorted(lead_statuses, key=lambda s: (s.get("position") or 0, s["name"]))
	aliases = funnel_aliases(statuses)
	if any(s.get("type") for s in statuses):
		exits = {s["name"] for s in statuses if s.get("type") == "Lost"}
	else:
		qualified = set(qualified)
		last = max((i for i, s in enumerate(statuses) if s["name"] in qualified), default=len(statuses) - 1)
		exits = {s["name"] for s in statuses[last + 1 :]}
	return (
		tuple(s["name"] for s in statuses if s["name"] not in exits and s["name"] not in aliases),
		tuple(s["name"] for s in statuses if s["name"] in exits),
	)


def funnel_aliases(lead_statuses: Iterable[Mapping]) -> dict[str, str]:
	"""{status: the funnel stage it counts as}: every Won-type lead status after the first counts as the
	first (a lead is converted once, whichever Won status a team uses); {} on CRM without status types."""
	statuses = sorted(lead_statuses, key=lambda s: (s.get("position") or 0, s["name"]))
	won = [s["name"] for s in statuses if s.get("type") == "Won"]
	return {name: won[0] for name in won[1:]}
