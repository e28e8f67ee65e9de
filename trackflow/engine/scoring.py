"""Lead engagement scoring: rule points decayed by age, caps, profile fit, grades, temperature and trend."""

import math
import re
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Iterable, Mapping, Sequence, Sized
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from fnmatch import translate
from functools import lru_cache
from urllib.parse import urlsplit

from trackflow.engine.channels import CHANNELS
from trackflow.engine.conversions import CONVERSION_TYPES
from trackflow.engine.errors import ValidationError

# What a Lead Scoring Rule can reward. "campaign" and "channel" rules reward touches (marketing
# interactions, one per Touchpoint); every other kind rewards activities of the same kind.
RULE_KINDS = ("event", "page_view", "conversion", "form_submit", "email_reply", "call", "campaign", "channel")
ACTIVITY_KINDS = ("event", "page_view", "conversion", "form_submit", "email_reply", "call", "touch")
# The match fields a rule of each kind may set (campaign and channel narrow any kind).
MATCH_FIELDS = {
	"event": ("event_name", "path_pattern"),
	"page_view": ("path_pattern",),
	"conversion": ("conversion_type",),
	"form_submit": ("event_name", "path_pattern"),
	"email_reply": (),
	"call": (),
	"campaign": (),
	"channel": (),
}
# Lead Scoring Rule fieldnames rule_from_row reads (a test checks they exist in the DocType).
RULE_FIELDS = (
	"name",
	"rule_name",
	"active",
	"activity_kind",
	"event_name",
	"path_pattern",
	"conversion_type",
	"campaign",
	"channel",
	"points",
	"max_per_period",
	"period_days",
)

DEFAULT_HALF_LIFE_DAYS = 14.0
DEFAULT_PERIOD_DAYS = 30
# (grade, minimum score), best first; a score below the last minimum gets BOTTOM_GRADE.
DEFAULT_GRADES: tuple[tuple[str, float], ...] = (
	("A+", 90.0),
	("A", 80.0),
	("B+", 70.0),
	("B", 60.0),
	("C+", 50.0),
	("C", 40.0),
)
BOTTOM_GRADE = "D"
DEFAULT_HOT = 75.0
DEFAULT_WARM = 50.0
# trend(): "stable" when the two windows' means differ by at most max(TREND_MIN_CHANGE points,
# TREND_TOLERANCE x the earlier mean).
TREND_TOLERANCE = 0.10
TREND_MIN_CHANGE = 1.0
SECONDS_PER_DAY = 86400.0


def _blank(value) -> bool:
	return value is None or (isinstance(value, str) and not value.strip())


def _require_aware(ts: datetime, what: str) -> None:
	if not isinstance(ts, datetime) or ts.tzinfo is None or ts.utcoffset() is None:
		raise ValidationError(f"{what} must be a timezone-aware datetime, not {ts!r}")


def _finite(value, what: str) -> float:
	if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
		raise ValidationError(f"{what} must be a finite number, not {value!r}")
	return float(value)


def _check_half_life(half_life_days) -> float:
	half_life = _finite(half_life_days, "Half-life (days)")
	if half_life <= 0:
		raise ValidationError(f"Half-life (days) must be above 0, not {half_life_days}")
	return half_life


@lru_cache(maxsize=1024)
def _path_regex(pattern: str) -> re.Pattern:
	return re.compile(translate(pattern.casefold()))


def normalize_path(path: str | None) -> str | None:
	"""The path of a URL or path, without query or fragment ("https://x.io/a?b#c" -> "/a")."""
	if _blank(path):
		return None
	text = path.strip()
	parts = urlsplit(text if "://" in text or text.startswith("//") else "//host" + text)
	return parts.path or "/"


@dataclass(frozen=True)
class ScoringRule:
	"""What earns points: a kind of activity, optional match fields, points and an optional rate cap.

	Match fields left empty match anything. `path_pattern` is a shell glob on the URL path, matched
	case-insensitively ("*" also crosses "/": "/blog/*" matches "/blog/a/b"); `event_name` is
	compared case-insensitively; `conversion_type`, `campaign` and `channel` exactly.
	`max_per_period` (None or 0: no cap) limits how often the rule scores within `period_days`.
	"""

	id: str
	kind: str
	points: float
	event_name: str | None = None
	path_pattern: str | None = None
	conversion_type: str | None = None
	campaign: str | None = None
	channel: str | None = None
	max_per_period: int | None = None
	period_days: int = DEFAULT_PERIOD_DAYS
	active: bool = True

	def __post_init__(self):
		for name in ("event_name", "path_pattern", "conversion_type", "campaign", "channel"):
			value = getattr(self, name)
			object.__setattr__(self, name, None if _blank(value) else str(value).strip())
		if _blank(self.id):
			raise ValidationError("A scoring rule needs a name")
		label = f"Scoring rule {self.id}"
		if self.kind not in RULE_KINDS:
			raise ValidationError(f"{label}: activity kind must be one of {', '.join(RULE_KINDS)}")
		object.__setattr__(self, "points", _finite(self.points, f"{label}: points"))
		allowed = {*MATCH_FIELDS[self.kind], "campaign", "channel"}
		for name in ("event_name", "path_pattern", "conversion_type"):
			if getattr(self, name) is not None and name not in allowed:
				nice = name.replace("_", " ")
				raise ValidationError(f"{label}: a {self.kind} rule cannot match on {nice}")
		if self.kind == "channel" and self.channel is None:
			raise ValidationError(f"{label}: a channel rule needs a channel")
		if self.channel is not None and self.channel not in CHANNELS:
			raise ValidationError(f"{label}: channel must be one of {', '.join(CHANNELS)}")
		if self.conversion_type is not None and self.conversion_type not in CONVERSION_TYPES:
			raise ValidationError(f"{label}: conversion type must be one of {', '.join(CONVERSION_TYPES)}")
		if self.path_pattern is not None and not self.path_pattern.startswith(("/", "*")):
			raise ValidationError(f"{label}: path pattern must start with / or * (e.g. /pricing*)")
		for name in ("max_per_period", "period_days"):
			value = getattr(self, name)
			if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
				raise ValidationError(
					f"{label}: {name.replace('_', ' ')} must be a whole number of 0 or more"
				)
		if self.max_per_period == 0:
			object.__setattr__(self, "max_per_period", None)
		if self.max_per_period is not None and not self.period_days:
			raise ValidationError(f"{label}: a maximum per period needs a period of at least 1 day")
		object.__setattr__(self, "active", bool(self.active))

	def target_kind(self) -> str:
		"""The activity kind this rule looks at."""
		return "touch" if self.kind in ("campaign", "channel") else self.kind

	def matches(self, activity: "Activity") -> bool:
		"""True when `activity` is of this rule's kind and every match field set on the rule agrees."""
		return activity.kind == self.target_kind() and self._fields_match(activity)

	def _fields_match(self, activity: "Activity") -> bool:
		# matches() without the kind check, for callers that grouped activities by kind already.
		if self.kind == "campaign" and activity.campaign is None:
			return False
		if self.campaign is not None and activity.campaign != self.campaign:
			return False
		if self.channel is not None and activity.channel != self.channel:
			return False
		if self.conversion_type is not None and activity.conversion_type != self.conversion_type:
			return False
		if self.event_name is not None and (
			activity.name is None or activity.name.casefold() != self.event_name.casefold()
		):
			return False
		if self.path_pattern is not None:
			if activity.path is None or not _path_regex(self.path_pattern).match(activity.path.casefold()):
				return False
		return True


def rule_from_row(row: Mapping) -> ScoringRule:
	"""A ScoringRule from a Lead Scoring Rule row (its fieldnames, see RULE_FIELDS); blanks are None."""
	points = row.get("points")
	return ScoringRule(
		id=row.get("name") or row.get("rule_name"),
		kind=row.get("activity_kind"),
		points=0.0 if points is None else points,
		event_name=row.get("event_name"),
		path_pattern=row.get("path_pattern"),
		conversion_type=row.get("conversion_type"),
		campaign=row.get("campaign"),
		channel=row.get("channel"),
		max_per_period=row.get("max_per_period") or None,
		period_days=DEFAULT_PERIOD_DAYS if row.get("period_days") is None else row.get("period_days"),
		active=bool(row.get("active", 1)),
	)


@dataclass(frozen=True)
class Activity:
	"""One thing a lead did: a page view, an event, a form, a conversion, an email reply, a call or a touch.

	`path` may be a full URL (the path is kept). Only the fields that apply to the kind need be given.
	"""

	kind: str
	timestamp: datetime
	name: str | None = None
	path: str | None = None
	conversion_type: str | None = None
	campaign: str | None = None
	channel: str | None = None

	def __post_init__(self):
		if self.kind not in ACTIVITY_KINDS:
			raise ValidationError(
				f"Activity kind must be one of {', '.join(ACTIVITY_KINDS)}, not {self.kind!r}"
			)
		_require_aware(self.timestamp, f"{self.kind} activity time")
		object.__setattr__(self, "path", normalize_path(self.path))
		for name in ("name", "conversion_type", "campaign", "channel"):
			if _blank(getattr(self, name)):
				object.__setattr__(self, name, None)


@dataclass(frozen=True)
class ScoreResult:
	"""A lead's score at `scored_at`.

	`score` = max(0, activity_score + profile_score) rounded to 2 places: what the lead shows.
	`activity_score` is the unrounded decaying part; store it with `scored_at` so that `decayed()` can
	bring it forward exactly. `points_by_rule` and `counted` say which rules contributed (after caps).
	"""

	score: float
	activity_score: float
	profile_score: float
	scored_at: datetime
	points_by_rule: Mapping[str, float] = field(default_factory=dict)
	counted: Mapping[str, int] = field(default_factory=dict)
	last_activity_at: datetime | None = None


def _factor(age_seconds: float, half_life_days: float) -> float:
	# Activities stamped after `now` (client clocks, queue delay) score as if they were at `now`.
	return 2.0 ** (-max(age_seconds, 0.0) / (half_life_days * SECONDS_PER_DAY))


def score(
	activities: Iterable[Activity],
	rules: Iterable[ScoringRule],
	now: datetime,
	half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
	profile_points: float = 0.0,
) -> ScoreResult:
	"""Score a lead at `now`: every active rule's points for each matching activity, decayed by age.

	Each matching activity contributes points x 2^(-age_days / half_life_days). An activity matched by
	several rules scores for each of them. Caps: a rule's matching activities are taken in time order
	(ties in input order) and one scores only if fewer than `max_per_period` earlier ones already
	scored within the `period_days` before it (the half-open window (t - period, t]); so no window of
	`period_days` ever holds more than `max_per_period` scoring activities, the earliest winning. Caps
	do not depend on `now`, which keeps `decayed()` exact. The total is floored at 0.
	"""
	_require_aware(now, "Scoring time")
	half_life = _check_half_life(half_life_days)
	profile = _finite(profile_points, "Profile points")
	rules = [r for r in rules if r.active]
	hits_by_rule, last_activity_at = scoring_hits(activities, rules)
	points_by_rule: dict[str, float] = {}
	counted: dict[str, int] = {}
	total = 0.0
	for rule in rules:
		hits = hits_by_rule.get(rule.id)
		if not hits:
			continue
		subtotal = sum(rule.points * _factor((now - a.timestamp).total_seconds(), half_life) for a in hits)
		points_by_rule[rule.id] = round(subtotal, 2)
		counted[rule.id] = len(hits)
		total += subtotal
	return ScoreResult(
		score=_total(total, profile),
		activity_score=total,
		profile_score=profile,
		scored_at=now,
		points_by_rule=points_by_rule,
		counted=counted,
		last_activity_at=last_activity_at,
	)


def scoring_hits(
	activities: Iterable[Activity], rules: Iterable[ScoringRule]
) -> tuple[dict[str, list[Activity]], datetime | None]:
	"""({rule id: the activities that score for it, in time order, after its cap}, the latest activity time).

	Inactive rules are skipped; two active rules sharing a name are refused. The one matching pass that
	score() and the component scores (engine.scoring_lead) share.
	"""
	rules = active_rules_by_kind(rules)
	return hits_by_kind(activities, rules)


def active_rules_by_kind(rules: Iterable[ScoringRule]) -> dict[str, list[ScoringRule]]:
	"""{activity kind: the active rules that look at it}, or ValidationError when two share a name."""
	rules = [r for r in rules if r.active]
	if len({r.id for r in rules}) < len(rules):
		seen = [r.id for r in rules]
		twice = sorted({i for i in seen if seen.count(i) > 1})
		raise ValidationError(f"Two active scoring rules share the name {', '.join(twice)}")
	by_kind: dict[str, list[ScoringRule]] = {}
	for rule in rules:
		by_kind.setdefault(rule.target_kind(), []).append(rule)
	return by_kind


def hits_by_kind(
	activities: Iterable[Activity], by_kind: Mapping[str, list[ScoringRule]]
) -> tuple[dict[str, list[Activity]], datetime | None]:
	"""scoring_hits() for rules already grouped by active_rules_by_kind (a rescore groups them once)."""
	matched: dict[str, list[Activity]] = {}
	last_activity_at = None
	rules_by_id: dict[str, ScoringRule] = {}
	for activity in activities:
		if last_activity_at is None or activity.timestamp > last_activity_at:
			last_activity_at = activity.timestamp
		for rule in by_kind.get(activity.kind, ()):
			if rule._fields_match(activity):
				hits = matched.get(rule.id)
				if hits is None:
					hits = matched[rule.id] = []
					rules_by_id[rule.id] = rule
				hits.append(activity)
	for rule_id, hits in matched.items():
		rule = rules_by_id[rule_id]
		hits.sort(key=_timestamp)
		if rule.max_per_period is not None:
			matched[rule_id] = _capped(hits, rule.max_per_period, timedelta(days=rule.period_days))
	return matched, last_activity_at


def _timestamp(activity: Activity) -> datetime:
	return activity.timestamp


def _capped(hits: list[Activity], limit: int, period: timedelta) -> list[Activity]:
	kept: list[Activity] = []
	window: deque[datetime] = deque()
	for activity in hits:
		while window and activity.timestamp - window[0] >= period:
			window.popleft()
		if len(window) < limit:
			window.append(activity.timestamp)
			kept.append(activity)
	return kept


def _total(activity_score: float, profile_score: float) -> float:
	return round(max(0.0, activity_score + profile_score), 2) + 0.0  # + 0.0 turns -0.0 into 0.0


def _filled(value) -> bool:
	if value is None or value is False:
		return False
	if isinstance(value, str):
		return bool(value.strip())
	if isinstance(value, int | float):
		return value != 0  # Frappe stores an unset Int/Float/Currency as 0
	if isinstance(value, Sized):
		return len(value) > 0
	return True


def profile_points(fields: Mapping, weights: Mapping[str, float]) -> float:
	"""Profile-fit points: the weight of every weighted field that is filled on the lead.

	Filled means not None/False, not blank text, not an empty list, and not numeric 0 (Frappe's
	unset Int/Float/Currency). Weights may be negative; they must be finite.
	"""
	total = 0.0
	for fieldname, weight in weights.items():
		points = _finite(weight, f"Profile weight for {fieldname}")
		if _filled(fields.get(fieldname)):
			total += points
	return total


def validate_grades(thresholds: Sequence[tuple[str, float]]) -> tuple[tuple[str, float], ...]:
	"""The thresholds as a tuple, or ValidationError: named grades, minima finite, >= 0, strictly descending."""
	checked: list[tuple[str, float]] = []
	if not thresholds:
		raise ValidationError("Grade thresholds cannot be empty")
	for entry in thresholds:
		try:
			label, minimum = entry
		except (TypeError, ValueError):
			raise ValidationError(f"A grade threshold is a (grade, minimum score) pair, not {entry!r}")
		if _blank(label):
			raise ValidationError("Every grade needs a name")
		minimum = _finite(minimum, f"Minimum score of grade {label}")
		if minimum < 0:
			raise ValidationError(f"Minimum score of grade {label} cannot be negative ({minimum})")
		if checked and minimum >= checked[-1][1]:
			raise ValidationError(
				f"Grade thresholds must descend: {label} ({minimum}) is not below {checked[-1][0]} "
				f"({checked[-1][1]})"
			)
		if label in {g for g, _ in checked}:
			raise ValidationError(f"Grade {label} appears twice")
		checked.append((str(label), minimum))
	return tuple(checked)


def grade(
	score: float, thresholds: Sequence[tuple[str, float]] = DEFAULT_GRADES, below: str = BOTTOM_GRADE
) -> str:
	"""The first grade whose minimum the score reaches (score >= minimum), else `below`."""
	for label, minimum in validate_grades(thresholds):
		if score >= minimum:
			return label
	return below


def validate_temperature(hot: float = DEFAULT_HOT, warm: float = DEFAULT_WARM) -> tuple[float, float]:
	"""(hot, warm) or ValidationError: finite, >= 0, hot above warm."""
	hot, warm = _finite(hot, "Hot threshold"), _finite(warm, "Warm threshold")
	if warm < 0:
		raise ValidationError(f"Warm threshold cannot be negative ({warm})")
	if hot <= warm:
		raise ValidationError(f"Hot threshold ({hot}) must be above the warm threshold ({warm})")
	return hot, warm


def temperature(score: float, hot: float = DEFAULT_HOT, warm: float = DEFAULT_WARM) -> str:
	""" "hot" when score >= hot, "warm" when score >= warm, else "cold"."""
	hot, warm = validate_temperature(hot, warm)
	return "hot" if score >= hot else "warm" if score >= warm else "cold"


def decayed(
	score: float, scored_at: datetime, now: datetime, half_life_days: float = DEFAULT_HALF_LIFE_DAYS
) -> float:
	"""A decaying score brought forward from `scored_at` to `now`: score x 2^(-(now - scored_at) / half_life).

	Exact, not an approximation: a sum of terms each decaying by the same exponential is multiplied
	by the same factor, so decayed(score(A, t1).activity_score, t1, t2) == score(A, t2).activity_score
	(to float rounding) whenever no activity in A is later than t1 and caps do not depend on time (they
	do not). Pass the unrounded activity_score, not the rounded total: profile points do not decay.
	`now` before `scored_at` returns the score unchanged.
	"""
	_require_aware(scored_at, "Scored at")
	_require_aware(now, "Decay time")
	return score * _factor((now - scored_at).total_seconds(), _check_half_life(half_life_days))


@dataclass(frozen=True)
class ScoreRow:
	"""What the daily decay job reads for a lead: the stored anchor and what the lead currently shows."""

	lead: str
	activity_score: float
	scored_at: datetime
	profile_score: float = 0.0
	score: float | None = None
	grade: str | None = None
	temperature: str | None = None


@dataclass(frozen=True)
class ScoreUpdate:
	"""What to write on a lead: new anchor (activity_score, scored_at) and the shown score, grade, temperature."""

	lead: str
	activity_score: float
	scored_at: datetime
	score: float
	grade: str
	temperature: str


def changed_scores(
	rows: Iterable[ScoreRow],
	now: datetime,
	half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
	min_delta: float = 0.01,
	grades: Sequence[tuple[str, float]] = DEFAULT_GRADES,
	hot: float = DEFAULT_HOT,
	warm: float = DEFAULT_WARM,
	below: str = BOTTOM_GRADE,
) -> list[ScoreUpdate]:
	"""Decay every row to `now` and return only the leads whose shown values change.

	A row changes when its rounded score moves by at least `min_delta` from the stored score (or none
	is stored), or its grade or temperature differs from the stored one (so a change of thresholds is
	applied too). Unchanged rows keep their old anchor, which stays exact: decaying from an older
	anchor gives the same value. The daily job writes the returned rows in bulk.
	"""
	_require_aware(now, "Decay time")
	half_life = _check_half_life(half_life_days)
	bands = validate_grades(grades)
	hot, warm = validate_temperature(hot, warm)
	minimums = [-m for _, m in bands]  # ascending, for bisect
	threshold = _finite(min_delta, "Minimum change") - 1e-9
	factors: dict[datetime, float] = {}  # most leads share the anchor of the last run
	updates = []
	for row in rows:
		factor = factors.get(row.scored_at)
		if factor is None:
			_require_aware(row.scored_at, f"Scored at of lead {row.lead}")
			factor = factors[row.scored_at] = _factor((now - row.scored_at).total_seconds(), half_life)
		activity = row.activity_score * factor
		shown = _total(activity, row.profile_score)
		index = bisect_left(minimums, -shown)
		new_grade = bands[index][0] if index < len(bands) else below
		new_temperature = "hot" if shown >= hot else "warm" if shown >= warm else "cold"
		if (
			row.score is None
			or abs(shown - row.score) >= threshold
			or new_grade != row.grade
			or new_temperature != row.temperature
		):
			updates.append(ScoreUpdate(row.lead, activity, now, shown, new_grade, new_temperature))
	return updates


def _day(value) -> date:
	return value.date() if isinstance(value, datetime) else value


def _moment(value) -> tuple[date, time]:
	# A bare date sorts before any time of that day; datetimes by their wall-clock time.
	return (value.date(), value.time()) if isinstance(value, datetime) else (value, time.min)


def daily_history(points: Iterable[tuple[date | datetime, float]]) -> list[tuple[date, float]]:
	"""Compact score history: one (day, score) per day, the day's last score, only when it changes.

	Points are ordered by time (stable, so equal times keep their input order); a day's last point
	wins; a day whose score equals the previous kept row's is dropped.
	"""
	last_of_day: dict[date, float] = {}
	for when, value in sorted(points, key=lambda p: _moment(p[0])):
		last_of_day[_day(when)] = value
	rows: list[tuple[date, float]] = []
	for day in sorted(last_of_day):
		if not rows or rows[-1][1] != last_of_day[day]:
			rows.append((day, last_of_day[day]))
	return rows


def history_change(
	previous: tuple[date, float] | None, today_row: tuple[date, float] | None, day: date, value: float
) -> str:
	"""How to record `value` for `day` in a compact history, as one of insert / update / delete / none.

	`previous` is the last row before `day`, `today_row` the row for `day` if there is one. "delete"
	removes today's row because the score went back to the previous row's value.
	"""
	if today_row is not None:
		if previous is not None and previous[1] == value:
			return "delete"
		return "none" if today_row[1] == value else "update"
	if previous is not None and previous[1] == value:
		return "none"
	return "insert"


def _value_on(history: list[tuple[date, float]], days: list[date], day: date) -> float:
	index = bisect_right(days, day) - 1
	return history[index][1] if index >= 0 else 0.0


def trend(
	history: Iterable[tuple[date, float]],
	today: date,
	window_days: int = 14,
	tolerance: float = TREND_TOLERANCE,
	min_change: float = TREND_MIN_CHANGE,
) -> str:
	"""increasing / stable / declining: the mean daily score of the last `window_days` (today included)
	against the mean of the `window_days` before them.

	The history is a step function (a day's score is the last row on or before it; 0 before the first
	row). "stable" when |recent - earlier| <= max(min_change, tolerance x earlier): by default within
	1 point or 10 %. A quiet lead decays (half-life 14 days) and so reads "declining".
	"""
	if not isinstance(window_days, int) or window_days < 1:
		raise ValidationError(f"Trend window must be at least 1 day, not {window_days!r}")
	rows = sorted(history)
	days = [d for d, _ in rows]
	recent = [_value_on(rows, days, today - timedelta(days=i)) for i in range(window_days)]
	earlier = [_value_on(rows, days, today - timedelta(days=window_days + i)) for i in range(window_days)]
	recent_mean, earlier_mean = sum(recent) / window_days, sum(earlier) / window_days
	if abs(recent_mean - earlier_mean) <= max(min_change, tolerance * abs(earlier_mean)):
		return "stable"
	return "increasing" if recent_mean > earlier_mean else "declining"


def days_since(last_activity_at: datetime | None, now: datetime) -> int | None:
	"""Whole days since the last activity (0 on the same 24 hours, never negative); None without activity."""
	if last_activity_at is None:
		return None
	return max(0, (now - last_activity_at) // timedelta(days=1))
