"""Journeys: a person's touchpoints (every visitor of their leads, their leads' and deals' own touches) up
to a moment and within a lookback, with the lead / opportunity / won milestones marked, as the engine's
attribution reads them. The one journey for the ledger, the model fits, the reports and the API; many
journeys are read with a fixed number of queries per chunk of people."""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import frappe
from frappe.utils import get_datetime

from trackflow.engine.attribution.types import Touchpoint as EngineTouchpoint
from trackflow.engine.conversions import journey_rows, mark_milestones
from trackflow.settings import get_settings
from trackflow.times import aware, site_tz

TOUCH_FIELDS = [
	"name",
	"occurred_at",
	"channel",
	"source",
	"medium",
	"campaign_name",
	"content",
	"term",
	"link_campaign",
	"touch_type",
	"visitor",
	"crm_lead",
	"crm_deal",
]
CHUNK = 500  # people per round of queries


@dataclass(frozen=True)
class Person:
	"""Whose journey, and up to when: a conversion's lead, deal and visitor, or a lost deal's.
	`until` None reads every touch (no end, no lookback); `won` marks the won milestone at `until`."""

	lead: str | None = None
	deal: str | None = None
	visitor: str | None = None
	until: datetime | None = None
	won: bool = False


@dataclass
class Journey:
	"""The journey as engine touchpoints (ordered, milestones marked) and the stored rows by name."""

	touches: list[EngineTouchpoint] = field(default_factory=list)
	rows: dict[str, frappe._dict] = field(default_factory=dict)
	visitors: set[str] = field(default_factory=set)
	leads: set[str] = field(default_factory=set)
	deals: set[str] = field(default_factory=set)

	@property
	def channels(self) -> tuple[str, ...]:
		return tuple(t.channel for t in self.touches)


def of_conversion(doc) -> Person:
	return Person(
		lead=doc.crm_lead,
		deal=doc.crm_deal,
		visitor=doc.visitor,
		until=get_datetime(doc.occurred_at),
		won=doc.conversion_type == "deal_won",
	)


def journey(doc, lookback_days: float | None) -> Journey:
	"""The journey of one conversion (or of anything with crm_lead, crm_deal, visitor, occurred_at and
	conversion_type)."""
	return journeys([of_conversion(doc)], lookback_days)[0]


def journeys(people: Sequence[Person], lookback_days: float | None) -> list[Journey]:
	"""The journey of each person, in order. A touch counts when it is at or before `until` and no more
	than `lookback_days` before it."""
	out: list[Journey] = []
	for start in range(0, len(people), CHUNK):
		out.extend(_chunk(people[start : start + CHUNK], lookback_days))
	return out


def _identities(people: Sequence[Person]) -> list[Journey]:
	"""Each person's visitors, leads and deals (a deal brings its lead; a lead brings all its visitors),
	as journeys without touches yet."""
	deal_leads = _pluck_map("CRM Deal", "lead", {p.deal for p in people if p.deal})
	found = []
	for person in people:
		leads = {lead for lead in (person.lead, deal_leads.get(person.deal)) if lead}
		found.append(Journey(leads=leads, deals={person.deal} if person.deal else set()))
	all_leads = set().union(*(j.leads for j in found))
	visitors_by_lead: dict[str, set[str]] = defaultdict(set)
	if all_leads:
		for name, lead in frappe.get_all(
			"TrackFlow Visitor", {"crm_lead": ("in", sorted(all_leads))}, ["name", "crm_lead"], as_list=True
		):
			visitors_by_lead[lead].add(name)
	for person, result in zip(people, found, strict=True):
		result.visitors = set().union(*(visitors_by_lead[lead] for lead in result.leads))
		if person.visitor:
			result.visitors.add(person.visitor)
	return found


def _chunk(people: Sequence[Person], lookback_days: float | None) -> list[Journey]:
	tz = site_tz()
	found = _identities(people)
	all_leads = set().union(*(j.leads for j in found))
	rows = _touch_rows(people, found, lookback_days)
	lead_created = _pluck_map("CRM Lead", "creation", all_leads)
	deal_created = _pluck_map("CRM Deal", "creation", {d for j in found for d in j.deals})
	for person, result in zip(people, found, strict=True):
		if not (result.visitors or result.leads or result.deals):
			continue
		until = get_datetime(person.until) if person.until else None
		since = until - timedelta(days=lookback_days) if until and lookback_days is not None else None
		mine = journey_rows(
			(
				row
				for row in rows
				if (until is None or row.occurred_at <= until) and (since is None or row.occurred_at >= since)
			),
			result.visitors,
			result.leads,
			result.deals,
		)
		result.rows = {row.name: row for row in mine}
		touches = [
			EngineTouchpoint(
				id=row.name,
				timestamp=aware(row.occurred_at, tz),
				channel=row.channel or "other",
				source=row.source,
				medium=row.medium,
				campaign=row.link_campaign or row.campaign_name,
				content=row.content,
				term=row.term,
			)
			for row in mine
		]
		result.touches = mark_milestones(
			touches,
			_earliest(lead_created, result.leads, tz),
			_earliest(deal_created, result.deals, tz),
			aware(until, tz) if person.won and until else None,
		)
	return found


def _touch_rows(people: Sequence[Person], found: list[Journey], lookback_days: float | None) -> list:
	"""Every touch of the chunk's identities between the earliest start and the latest end."""
	touchpoint = frappe.qb.DocType("Touchpoint")
	condition = None
	for column, values in (
		(touchpoint.visitor, set().union(*(j.visitors for j in found))),
		(touchpoint.crm_lead, set().union(*(j.leads for j in found))),
		(touchpoint.crm_deal, set().union(*(j.deals for j in found))),
	):
		if values:
			part = column.isin(sorted(values))
			condition = part if condition is None else condition | part
	if condition is None:
		return []
	query = frappe.qb.from_(touchpoint).select(*(touchpoint[f] for f in TOUCH_FIELDS)).where(condition)
	ends = [get_datetime(p.until) for p in people]
	if all(ends):
		query = query.where(touchpoint.occurred_at <= max(ends))
		if lookback_days is not None:
			query = query.where(touchpoint.occurred_at >= min(ends) - timedelta(days=lookback_days))
	rows = query.orderby(touchpoint.occurred_at).orderby(touchpoint.name).run(as_dict=True)
	for row in rows:
		row.occurred_at = get_datetime(row.occurred_at)
	return rows


def _pluck_map(doctype: str, fieldname: str, names: Iterable[str]) -> dict:
	names = sorted(filter(None, names))
	if not names:
		return {}
	return dict(frappe.get_all(doctype, {"name": ("in", names)}, ["name", fieldname], as_list=True))


def _earliest(created: dict, names: set[str], tz) -> datetime | None:
	times = [created[name] for name in names if created.get(name)]
	return aware(min(times), tz) if times else None


def identity(doc) -> tuple[set[str], set[str], set[str]]:
	"""(visitors, leads, deals) of a conversion or a lead / deal: its lead (and its deal's lead), every
	visitor linked to them, its own visitor, and its deal."""
	found = _identities([Person(lead=doc.crm_lead, deal=doc.crm_deal, visitor=doc.visitor)])[0]
	return found.visitors, found.leads, found.deals


def lost_deal_journeys(
	start: datetime | None,
	end: datetime | None = None,
	limit: int | None = None,
	as_user: bool = False,
) -> list[Journey]:
	"""The journeys of deals in a lost status last modified in [start, end) (the newest first, at most
	`limit`), each up to its last change and within the attribution lookback, as the model fits count
	them. `as_user` reads the deals with the session user's CRM permissions (reports)."""
	settings = get_settings()
	statuses = [row.deal_status for row in settings.lost_deal_statuses]
	if not statuses:
		return []
	filters: list = [["status", "in", statuses]]
	if start:
		filters.append(["modified", ">=", start])
	if end:
		filters.append(["modified", "<", end])
	read = frappe.get_list if as_user else frappe.get_all
	deals = read(
		"CRM Deal",
		filters=filters,
		fields=["name", "lead", "modified"],
		order_by="modified desc",
		limit_page_length=limit or 0,
	)
	people = [Person(lead=d.lead, deal=d.name, until=get_datetime(d.modified)) for d in deals]
	return journeys(people, settings.attribution_lookback_days)
