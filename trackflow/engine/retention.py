"""Retention and erasure planning over plain rows: what to purge, in which batches, and what to keep."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from trackflow.engine.errors import ValidationError
from trackflow.engine.settings import INT_BOUNDS


@dataclass(frozen=True)
class RetentionTable:
	"""A raw-data table under a retention limit: its key, DocType and TrackFlow Settings field."""

	key: str
	doctype: str
	settings_field: str
	default_days: int


# In purge order: rows that point at others go before what they point at (events before sessions,
# touchpoints last among the raw tables because they outlive the rest by default).
RETENTION_TABLES: tuple[RetentionTable, ...] = (
	RetentionTable("events", "TrackFlow Event", "event_retention_days", 395),
	RetentionTable("sessions", "TrackFlow Session", "session_retention_days", 395),
	RetentionTable("clicks", "Click Event", "click_retention_days", 395),
	RetentionTable("touchpoints", "Touchpoint", "touchpoint_retention_days", 730),
)
TABLE_DOCTYPES = {t.key: t.doctype for t in RETENTION_TABLES} | {
	"visitors": "TrackFlow Visitor",
	"conversions": "Conversion",
}
# Rows are selected by Frappe's indexed `creation` column, never by a scan of a business date.
TIME_FIELD = "creation"
DEFAULT_BATCH_SIZE = 1000
MAX_BATCH_SIZE = 50_000

# Erasure: columns that identify a visitor, cleared on rows that are kept for the ledger or for counts.
ANONYMISE_FIELDS: Mapping[str, tuple[str, ...]] = {
	"touchpoints": ("visitor", "session", "referrer", "click_ids", "notes"),
	"clicks": ("visitor_id", "ip_prefix", "referrer", "user_agent"),
	"conversions": ("visitor",),
}


@dataclass(frozen=True)
class PurgeStep:
	"""Delete rows of `table` (a RETENTION_TABLES key or "visitors") created before `cutoff`, in batches."""

	table: str
	doctype: str
	cutoff: datetime
	batch_size: int
	time_field: str = TIME_FIELD


@dataclass(frozen=True)
class PurgePlan:
	"""The steps of one purge run, in order, and the tables kept forever (retention 0)."""

	steps: tuple[PurgeStep, ...]
	kept_forever: tuple[str, ...] = ()

	def step(self, table: str) -> PurgeStep | None:
		return next((s for s in self.steps if s.table == table), None)


def retention_days(settings: Mapping) -> dict[str, int]:
	"""{table key: days} from TrackFlow Settings values; a missing or empty field takes its default."""
	days = {}
	for table in RETENTION_TABLES:
		value = settings.get(table.settings_field)
		days[table.key] = table.default_days if value is None or value == "" else value
	return days


def plan_purge(
	retention: Mapping[str, int | None], now: datetime, batch_size: int = DEFAULT_BATCH_SIZE
) -> PurgePlan:
	"""The purge steps for per-table retention days ({"clicks": 395, ...}; 0 keeps a table forever).

	A table's cutoff is `now - days`; rows with creation < cutoff go. Missing or None days take the
	default. A final "visitors" step (see stale_visitors) has the cutoff of the longest of the events,
	sessions and clicks windows, and is left out when any of them is kept forever. Conversions and the
	attribution ledger are never in the plan. The cutoffs are as naive or aware as `now`.
	"""
	if (
		isinstance(batch_size, bool)
		or not isinstance(batch_size, int)
		or not 1 <= batch_size <= MAX_BATCH_SIZE
	):
		raise ValidationError(f"Purge batch size must be between 1 and {MAX_BATCH_SIZE}, not {batch_size!r}")
	unknown = sorted(set(retention) - {t.key for t in RETENTION_TABLES})
	if unknown:
		raise ValidationError(f"No retention rule for {', '.join(unknown)}")
	steps, forever, windows = [], [], []
	for table in RETENTION_TABLES:
		days = retention.get(table.key)
		days = table.default_days if days is None else days
		bound = INT_BOUNDS[table.settings_field]
		if (
			isinstance(days, bool)
			or not isinstance(days, int)
			or not (days == 0 or bound.low <= days <= bound.high)
		):
			raise ValidationError(
				f"Retention for {bound.label} must be 0 (keep forever) or between {bound.low} and "
				f"{bound.high} days, not {days!r}"
			)
		if table.key != "touchpoints":
			windows.append(days)
		if days == 0:
			forever.append(table.key)
			continue
		steps.append(PurgeStep(table.key, table.doctype, now - timedelta(days=days), batch_size))
	if 0 not in windows:
		cutoff = now - timedelta(days=max(windows))
		steps.append(PurgeStep("visitors", TABLE_DOCTYPES["visitors"], cutoff, batch_size, "last_seen"))
	return PurgePlan(tuple(steps), tuple(forever))


def purge_batches(
	ids_with_creation: Iterable[tuple[str, datetime]], cutoff: datetime, batch_size: int = DEFAULT_BATCH_SIZE
) -> list[tuple[str, ...]]:
	"""The ids created before `cutoff`, oldest first (ties by id), in batches of at most `batch_size`.

	This is the order the Frappe layer reads them in: keyset pages on the (creation, name) index,
	`WHERE creation < cutoff AND (creation, name) > last_seen ORDER BY creation, name LIMIT batch`,
	each page deleted in its own short transaction. Keyset, not OFFSET, so rows that are kept
	(keep_referenced) do not stall the loop.
	"""
	if batch_size < 1:
		raise ValidationError(f"Purge batch size must be at least 1, not {batch_size}")
	due = sorted((created, name) for name, created in ids_with_creation if created < cutoff)
	names = [name for _, name in due]
	return [tuple(names[i : i + batch_size]) for i in range(0, len(names), batch_size)]


@dataclass(frozen=True)
class Partition:
	"""Ids split into those to act on and those to keep, each in input order."""

	delete: tuple[str, ...] = ()
	keep: tuple[str, ...] = ()


def keep_referenced(touchpoint_ids: Iterable[str], referenced_ids: Iterable[str]) -> Partition:
	"""Split touchpoints due for purge: those referenced by an attribution credit are kept.

	The ledger must never lose money, and its rows point at their touchpoints; so a referenced
	touchpoint outlives its retention, like the ledger itself.
	"""
	referenced = set(referenced_ids)
	delete, keep = [], []
	for tp in dict.fromkeys(touchpoint_ids):
		(keep if tp in referenced else delete).append(tp)
	return Partition(tuple(delete), tuple(keep))


def stale_visitors(
	visitors: Iterable[Mapping], cutoff: datetime, referenced_ids: Iterable[str] = ()
) -> tuple[str, ...]:
	"""Visitors to delete: no CRM lead, no activity since `cutoff`, and no row left pointing at them.

	Each visitor is a TrackFlow Visitor row with `name`, `crm_lead`, `last_seen` (falling back to
	`first_seen`, then `creation`). `referenced_ids` are the visitors still named by a session, event,
	click, touchpoint or conversion after this run's purge steps: they are kept (no link dangles) and
	come due on a later run once those rows are gone. A visitor with a lead is never stale.
	"""
	referenced = set(referenced_ids)
	stale = []
	for row in visitors:
		if row.get("crm_lead") or row["name"] in referenced:
			continue
		seen = row.get("last_seen") or row.get("first_seen") or row.get("creation")
		if seen is not None and seen < cutoff:
			stale.append(row["name"])
	return tuple(stale)


@dataclass(frozen=True)
class Anonymise:
	"""Clear `fields` (set to NULL) on rows `ids` of `table`."""

	table: str
	doctype: str
	ids: tuple[str, ...]
	fields: tuple[str, ...]


@dataclass(frozen=True)
class ErasePlan:
	"""Everything identifying about one visitor: rows to delete and rows to anonymise, by table.

	Run the anonymise steps and the deletions in one transaction; counters (Tracked Link / Link
	Campaign clicks and unique visitors) and the ledger are not touched.
	"""

	visitor: str
	delete: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
	anonymise: tuple[Anonymise, ...] = ()

	def deleted_count(self) -> int:
		return sum(len(ids) for ids in self.delete.values())


def erase_plan(
	visitor: str,
	sessions: Iterable[str] = (),
	events: Iterable[str] = (),
	touchpoints: Iterable[str] = (),
	clicks: Iterable[str] = (),
	conversions: Iterable[str] = (),
	referenced_touchpoints: Iterable[str] = (),
) -> ErasePlan:
	"""The erasure of `visitor`, given the ids of the rows that name them.

	- events, sessions, unreferenced touchpoints and the visitor: deleted;
	- touchpoints referenced by attribution credits: kept for the ledger, with visitor, session,
	  referrer, click ids and notes cleared (channel, campaign, time and CRM lead/deal stay: the lead
	  is the CRM's record, erased by Frappe's own personal-data deletion);
	- clicks: kept so that counts stay true, with visitor id, IP prefix, referrer and user agent cleared;
	- conversions: kept, visitor cleared.
	"""
	if not visitor:
		raise ValidationError("Which visitor? The visitor id is empty")
	split = keep_referenced(touchpoints, referenced_touchpoints)
	delete = {
		"events": tuple(dict.fromkeys(events)),
		"sessions": tuple(dict.fromkeys(sessions)),
		"touchpoints": split.delete,
		"visitors": (visitor,),
	}
	kept = {"touchpoints": split.keep, "clicks": tuple(dict.fromkeys(clicks))}
	kept["conversions"] = tuple(dict.fromkeys(conversions))
	anonymise = tuple(
		Anonymise(table, TABLE_DOCTYPES[table], ids, ANONYMISE_FIELDS[table])
		for table, ids in kept.items()
		if ids
	)
	return ErasePlan(visitor, {t: ids for t, ids in delete.items() if ids}, anonymise)
