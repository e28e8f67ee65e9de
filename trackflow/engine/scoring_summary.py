"""Activity summaries for a report: one lead's activities, score history and stage changes rolled up into one
row per day, ISO week (Monday first) or calendar month.

Idempotent: the rows depend only on what happened, not on the order it is given in or on how often the
summary runs, and each row has a stable `key` (lead, period, start) for an upsert. A period gets a row when
it holds an activity, a stage change or a score history row.
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from trackflow.engine.errors import ValidationError
from trackflow.engine.scoring import Activity, _require_aware

PERIODS = ("day", "week", "month")


def period_start(day: date, period: str) -> date:
	"""The first day of the day / ISO week (Monday) / calendar month holding `day`."""
	if period == "day":
		return day
	if period == "week":
		return day - timedelta(days=day.weekday())
	if period == "month":
		return day.replace(day=1)
	raise ValidationError(f"Summary period must be one of {', '.join(PERIODS)}, not {period!r}")


def period_end(start: date, period: str) -> date:
	"""The last day of the period starting on `start`."""
	if period == "day":
		return start
	if period == "week":
		return start + timedelta(days=6)
	following = date(start.year + start.month // 12, start.month % 12 + 1, 1)
	return following - timedelta(days=1)


@dataclass(frozen=True)
class ActivitySummary:
	"""One period of a lead: activities by kind, the score change over the period (score at its end minus
	score at the end of the period before, from the daily history, 0 before its first row), and the stage
	changes within it (how many, the stage before the first and after the last)."""

	lead: str
	period: str
	start: date
	end: date
	activities: int
	counts: tuple[tuple[str, int], ...]  # (activity kind, count), by kind
	score_start: float
	score_end: float
	stage_changes: int = 0
	stage_from: str | None = None
	stage_to: str | None = None

	@property
	def key(self) -> str:
		return f"{self.lead}|{self.period}|{self.start.isoformat()}"

	@property
	def score_change(self) -> float:
		return round(self.score_end - self.score_start, 2) + 0.0

	def as_row(self) -> dict:
		"""A flat dict for a report or a bulk upsert: the fields, score_change, key and one count per kind."""
		row = {
			"key": self.key,
			"lead": self.lead,
			"period": self.period,
			"start": self.start,
			"end": self.end,
			"activities": self.activities,
			"score_start": self.score_start,
			"score_end": self.score_end,
			"score_change": self.score_change,
			"stage_changes": self.stage_changes,
			"stage_from": self.stage_from,
			"stage_to": self.stage_to,
		}
		return row | {f"count_{kind}": count for kind, count in self.counts}


def _local_day(moment: datetime, tz: tzinfo | None) -> date:
	_require_aware(moment, "Summary time")
	return (moment.astimezone(tz) if tz is not None else moment).date()


def summarize_activity(
	lead: str,
	activities: Iterable[Activity],
	period: str,
	*,
	score_history: Iterable[tuple[date, float]] = (),
	stage_changes: Iterable[tuple[datetime, str | None, str]] = (),
	tz: tzinfo | None = None,
) -> list[ActivitySummary]:
	"""The lead's summary rows for `period` ("day", "week", "month"), oldest first.

	`score_history`: (day, score) rows (scoring.daily_history: a day's score holds until the next row).
	`stage_changes`: (when, from status, to status), as CRM's status change log has them. Days are taken
	in `tz` (the site's time zone) when given, else in each time's own zone.
	"""
	period_start(date.today(), period)  # refuses an unknown period before any work
	counts: dict[date, Counter] = {}
	for activity in activities:
		start = period_start(_local_day(activity.timestamp, tz), period)
		counts.setdefault(start, Counter())[activity.kind] += 1
	changes: dict[date, list[tuple[datetime, str, str | None, str]]] = {}
	for when, before, after in stage_changes:
		start = period_start(_local_day(when, tz), period)
		changes.setdefault(start, []).append((when, before or "", before, after))
	history = sorted(dict(sorted(score_history)).items())  # one row a day, the last given wins
	starts = set(counts) | set(changes) | {period_start(day, period) for day, _ in history}

	def score_on(day: date) -> float:
		value = 0.0
		for when, score in history:
			if when > day:
				break
			value = score
		return value

	rows = []
	for start in sorted(starts):
		end = period_end(start, period)
		by_kind = counts.get(start, Counter())
		moves = sorted(changes.get(start, ()), key=lambda c: (c[0], c[1], c[3] or ""))
		rows.append(
			ActivitySummary(
				lead,
				period,
				start,
				end,
				sum(by_kind.values()),
				tuple(sorted(by_kind.items())),
				score_on(start - timedelta(days=1)),
				score_on(end),
				len(moves),
				moves[0][2] if moves else None,
				moves[-1][3] if moves else None,
			)
		)
	return rows
