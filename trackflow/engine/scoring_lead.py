"""A lead's score as a sales team reads it: fit, engagement and intent, each 0-100, weighted into one total,
with the reasons behind every point.

Why three components and not the five-way demographic / behavioural / firmographic / engagement / intent
split: CRM Lead keeps person and company on one record (first_name and job_title beside organization,
industry and no_of_employees), so "demographic" and "firmographic" are both rules on the same lead fields and
a team would keep asking which of the two a rule belongs to; "behavioural" and "engagement" are both
activity that fades with time. Three components follow three different clocks, which is what a salesperson
needs to tell apart: **fit** does not change until the lead's fields do, **engagement** fades by half every
half-life, **intent** counts only what happened within each intent rule's window (a pricing page this week,
a demo request this month) and then drops out whole. The default weights (fit 35, engagement 40, intent 25)
keep the five-way split's 35 for who the lead is (demographic 20 + firmographic 15) and divide its 65 for
what the lead does between fading engagement and recent intent.

- **fit**: the points of every fit rule (engine.scoring_fit) the lead's fields match.
- **engagement**: the activity rules' decayed points (engine.scoring.score, unchanged: decay, caps), plus
  manual adjustments. Adjustments count here because they record engagement the tracking could not see (a
  chat at a fair, a call from a personal phone); a decaying one fades with the same half-life as activity,
  from its own time, so the stored anchor stays exact; a fixed one stays until removed.
- **intent**: each intent rule's points, in full (no decay), for every matching activity (after the rule's
  cap) within the rule's `window_days` before now. Intent rules are activity rules like the others (same
  kinds and match fields); the deal stage reached is a conversion (lead_qualified, deal_created, deal_won).

Each component's raw points are the sum of its reasons; its value is the raw points clamped to 0-100; the
total is sum(value x weight) / 100, rounded to 2 places, and grade and temperature come from the total as
before. How clamping shows: `Component.reasons` sum to `Component.raw`; `LeadScore.explanation()` adds one
reason with source "clamp" for a component whose raw points fall outside 0-100 (text "-20 above the
engagement maximum of 100"), so the explanation's points of a component sum to its value.

Engagement reasons are worth what they were at the lead's last engagement (its latest activity or decaying
adjustment), and what faded since is one reason of its own, "-8 no activity for 30 days", when a day or more
has passed; decay multiplies every term by the same factor, so the reasons still sum to the decayed total.
"""

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from trackflow.engine.errors import ValidationError
from trackflow.engine.scoring import (
	BOTTOM_GRADE,
	DEFAULT_GRADES,
	DEFAULT_HALF_LIFE_DAYS,
	DEFAULT_HOT,
	DEFAULT_WARM,
	RULE_FIELDS,
	SECONDS_PER_DAY,
	Activity,
	ScoringRule,
	_blank,
	_check_half_life,
	_factor,
	_finite,
	_require_aware,
	active_rules_by_kind,
	hits_by_kind,
	rule_from_row,
	validate_grades,
	validate_temperature,
)
from trackflow.engine.scoring_fit import FIT_RULE_FIELDS, FitRule, fit_matches, fit_rule_from_row
from trackflow.engine.settings import DEFAULT_SCORE_WEIGHTS, check_score_weights

COMPONENTS = ("fit", "engagement", "intent")
COMPONENT_MAX = 100.0
RULE_TYPES = ("activity", "intent", "fit")
DEFAULT_INTENT_WINDOW_DAYS = 14
# Every Lead Scoring Rule fieldname rules_from_rows reads (a test checks they exist in the DocType).
ALL_RULE_FIELDS = tuple(dict.fromkeys((*RULE_FIELDS, "rule_type", "window_days", *FIT_RULE_FIELDS)))
MINUS = "\u2212"


@dataclass(frozen=True)
class Weights:
	"""Percentages of the total for fit, engagement and intent: each >= 0, together 100."""

	fit: float = DEFAULT_SCORE_WEIGHTS["fit_weight"]
	engagement: float = DEFAULT_SCORE_WEIGHTS["engagement_weight"]
	intent: float = DEFAULT_SCORE_WEIGHTS["intent_weight"]

	def __post_init__(self):
		checked = check_score_weights(
			{"fit_weight": self.fit, "engagement_weight": self.engagement, "intent_weight": self.intent}
		)
		object.__setattr__(self, "fit", checked["fit_weight"])
		object.__setattr__(self, "engagement", checked["engagement_weight"])
		object.__setattr__(self, "intent", checked["intent_weight"])

	@classmethod
	def from_settings(cls, values: Mapping) -> "Weights":
		"""Weights from TrackFlow Settings' fit_weight, engagement_weight, intent_weight (None: the default)."""
		return cls(
			*(
				DEFAULT_SCORE_WEIGHTS[name] if values.get(name) is None else values[name]
				for name in ("fit_weight", "engagement_weight", "intent_weight")
			)
		)

	def of(self, component: str) -> float:
		"""The weight of "fit", "engagement" or "intent"."""
		return getattr(self, component)


DEFAULT_WEIGHTS = Weights()


@dataclass(frozen=True)
class IntentRule:
	"""An activity rule whose matches count in intent, in full, while younger than `window_days`."""

	rule: ScoringRule
	window_days: int = DEFAULT_INTENT_WINDOW_DAYS

	def __post_init__(self):
		days = self.window_days
		if isinstance(days, bool) or not isinstance(days, int) or days < 1:
			raise ValidationError(
				f"Intent rule {self.rule.id}: window must be a whole number of days, 1 or more"
			)

	@property
	def id(self) -> str:
		return self.rule.id


@dataclass(frozen=True)
class RuleSet:
	"""The active rules of a site, by the component they feed; active rules' names are unique across
	the three (they are Lead Scoring Rule names)."""

	engagement: tuple[ScoringRule, ...] = ()
	intent: tuple[IntentRule, ...] = ()
	fit: tuple[FitRule, ...] = ()

	def __post_init__(self):
		for name in ("engagement", "intent", "fit"):
			object.__setattr__(self, name, tuple(getattr(self, name)))
		names = [r.id for r in self.engagement if r.active] + [r.id for r in self.intent if r.rule.active]
		names += [r.id for r in self.fit if r.active]
		if len(set(names)) < len(names):
			twice = sorted({n for n in names if names.count(n) > 1})
			raise ValidationError(f"Two active scoring rules share the name {', '.join(twice)}")
		# Engagement and intent rules are matched in one pass over a lead's activities.
		activity_rules = (*self.engagement, *(r.rule for r in self.intent))
		object.__setattr__(self, "_by_kind", active_rules_by_kind(activity_rules))


def rule_from_any_row(row: Mapping) -> ScoringRule | IntentRule | FitRule:
	"""The rule a Lead Scoring Rule row describes, by its rule_type (blank: "activity", as before fit and
	intent existed); ValidationError with a message naming the rule when the row is not a valid rule."""
	rule_type = row.get("rule_type") or "activity"
	if rule_type not in RULE_TYPES:
		raise ValidationError(f"Rule type must be one of {', '.join(RULE_TYPES)}, not {rule_type!r}")
	if rule_type == "fit":
		return fit_rule_from_row(row)
	rule = rule_from_row(row)
	if rule_type == "intent":
		window = row.get("window_days")
		return IntentRule(rule, DEFAULT_INTENT_WINDOW_DAYS if window in (None, "", 0) else window)
	return rule


def rules_from_rows(rows: Iterable[Mapping]) -> RuleSet:
	"""A RuleSet from Lead Scoring Rule rows (fields ALL_RULE_FIELDS); inactive rows are left out."""
	engagement, intent, fit = [], [], []
	for row in rows:
		rule = rule_from_any_row(row)
		if isinstance(rule, FitRule):
			bucket = fit
		elif isinstance(rule, IntentRule):
			bucket = intent
		else:
			bucket = engagement
		if (rule.rule if isinstance(rule, IntentRule) else rule).active:
			bucket.append(rule)
	return RuleSet(tuple(engagement), tuple(intent), tuple(fit))


@dataclass(frozen=True)
class Adjustment:
	"""A salesperson's manual change to a lead's engagement: points (may be negative), why, and when.

	`decays`: fades like activity (half every half-life from `at`); otherwise counts in full until
	removed. `id` (the stored row's name) and `by` (the user) are shown in the explanation when given.
	"""

	points: float
	reason: str
	at: datetime
	decays: bool = True
	id: str | None = None
	by: str | None = None

	def __post_init__(self):
		object.__setattr__(self, "points", _finite(self.points, "Adjustment points"))
		if _blank(self.reason):
			raise ValidationError("A score adjustment needs a reason")
		object.__setattr__(self, "reason", str(self.reason).strip())
		_require_aware(self.at, "Adjustment time")
		object.__setattr__(self, "decays", bool(self.decays))


@dataclass(frozen=True)
class Reason:
	"""One reason behind a component's points.

	`points`: unrounded, what this reason adds to the component's raw points. `text`: the points rounded and
	the reason in words ("+15 visited /pricing 3 times this week"). `source`: "rule:<id>",
	"adjustment:<id or index>", "inactivity", "clamp" or "other" (reasons folded by `top`).
	"""

	component: str
	points: float
	text: str
	source: str


@dataclass(frozen=True)
class Component:
	"""One component of a lead's score: raw points (the sum of `reasons`), value (raw clamped to 0-100,
	rounded to 2 places), its weight (%) and contribution to the total (value x weight / 100)."""

	name: str
	raw: float
	value: float
	weight: float
	contribution: float
	reasons: tuple[Reason, ...] = ()

	def top(self, count: int | None = None) -> list[Reason]:
		"""The reasons ordered by |points|, largest first; with `count`, at most `count` of them: the first
		count - 1 and one "other" reason holding the sum of the rest (so the points still sum to raw)."""
		return _top(self.name, self.reasons, count)

	def clamp_reason(self) -> Reason | None:
		"""The reason that brings raw points to the clamped value, or None when raw is within 0-100."""
		gap = self.value - self.raw
		if abs(gap) < 0.005:
			return None
		if gap < 0:
			text = f"{_points(gap)} above the {self.name} maximum of {COMPONENT_MAX:.0f}"
		else:
			text = f"{_points(gap)} below 0: {self.name} never goes below 0"
		return Reason(self.name, gap, text, "clamp")


def _order(reasons: Iterable[Reason]) -> list[Reason]:
	return sorted(reasons, key=lambda r: (-abs(r.points), COMPONENTS.index(r.component), r.text))


def _top(component: str, reasons: Iterable[Reason], count: int | None) -> list[Reason]:
	ordered = _order(reasons)
	if count is None or len(ordered) <= count:
		return ordered
	if count < 1:
		raise ValidationError("Show at least 1 reason")
	kept, rest = ordered[: count - 1], ordered[count - 1 :]
	folded = math.fsum(r.points for r in rest)
	return [*kept, Reason(component, folded, f"{_points(folded)} from {len(rest)} other reasons", "other")]


@dataclass(frozen=True)
class LeadScore:
	"""A lead's score at `scored_at`: total (0-100), grade, temperature and the three components.

	What the daily job stores to bring the score forward without the lead's activity (see
	changed_lead_scores): `engagement_anchor` (the decaying part of engagement at scored_at, unrounded),
	`engagement_fixed` (fixed adjustments), fit.raw, intent.raw and `intent_changes_at` (the moment the
	oldest counted intent activity leaves its window: intent must be recomputed then; None: never).
	"""

	total: float
	grade: str
	temperature: str
	fit: Component
	engagement: Component
	intent: Component
	scored_at: datetime
	engagement_anchor: float
	engagement_fixed: float
	intent_changes_at: datetime | None = None
	last_activity_at: datetime | None = None

	@property
	def components(self) -> tuple[Component, Component, Component]:
		return (self.fit, self.engagement, self.intent)

	def explanation(self, top_per_component: int | None = None) -> list[Reason]:
		"""Every component's reasons and its clamp reason, if any, ordered by |points|, largest first.

		The points of one component's reasons here sum to its value (0-100; to the 2 places the value is
		rounded to: a clamp under 0.005 points is not shown). With `top_per_component`,
		each component keeps that many reasons (the last one "other", holding the rest), the clamp apart.
		"""
		reasons = []
		for component in self.components:
			reasons += _top(component.name, component.reasons, top_per_component)
			if (clamp := component.clamp_reason()) is not None:
				reasons.append(clamp)
		return _order(reasons)

	def stored(self, lead: str) -> "StoredScore":
		"""What to keep on the lead for the daily job (and to compare the next run with)."""
		return StoredScore(
			lead,
			fit=self.fit.raw,
			engagement_anchor=self.engagement_anchor,
			engagement_fixed=self.engagement_fixed,
			intent=self.intent.raw,
			scored_at=self.scored_at,
			intent_changes_at=self.intent_changes_at,
			total=self.total,
			grade=self.grade,
			temperature=self.temperature,
		)


def _points(value: float) -> str:
	shown = f"{abs(value):.0f}" if abs(value) >= 9.95 or float(value).is_integer() else f"{abs(value):.1f}"
	return ("+" if value >= 0 or shown.strip("0.") == "" else MINUS) + shown


def _times(count: int) -> str:
	return "once" if count == 1 else "twice" if count == 2 else f"{count} times"


def _shown_path(pattern: str | None) -> str | None:
	# "/pricing*" reads as "/pricing"; a pattern with a "*" inside stays as it is.
	if pattern and pattern.endswith("*") and "*" not in pattern[:-1] and len(pattern) > 1:
		return pattern[:-1]
	return pattern


def describe_rule(rule: ScoringRule, count: int) -> str:
	"""What a lead did to earn an activity rule's points, in words ("visited /pricing 3 times")."""
	times = _times(count)
	path = _shown_path(rule.path_pattern)
	if rule.kind == "page_view":
		what = f"visited {path or 'a page'} {times}"
	elif rule.kind == "event":
		what = f"did {rule.event_name or 'an event'} {times}" + (f" on {path}" if path else "")
	elif rule.kind == "form_submit":
		what = f"submitted {rule.event_name or 'a form'}" + (f" on {path}" if path else "") + f" {times}"
	elif rule.kind == "conversion":
		what = f"converted ({rule.conversion_type or 'any'}) {times}"
	elif rule.kind == "email_reply":
		what = f"replied by email {times}"
	elif rule.kind == "call":
		what = f"took a call {times}"
	elif rule.kind == "campaign":
		what = f"came from campaign {rule.campaign or '(any)'} {times}"
	else:
		what = f"came from {rule.channel} {times}"
	if rule.campaign and rule.kind != "campaign":
		what += f" from campaign {rule.campaign}"
	if rule.channel and rule.kind != "channel":
		what += f" via {rule.channel}"
	return what


def _window(days: int) -> str:
	return "this week" if days == 7 else "in the last day" if days == 1 else f"in the last {days} days"


def _component(name: str, reasons: list[Reason], weight: float) -> Component:
	raw = math.fsum(r.points for r in reasons)
	value = _clamp(raw)
	return Component(name, raw, value, weight, value * weight / 100.0, tuple(_order(reasons)))


def score_lead(
	fields: Mapping,
	activities: Iterable[Activity],
	rules: RuleSet,
	now: datetime,
	*,
	adjustments: Iterable[Adjustment] = (),
	weights: Weights | None = None,
	half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
	grades: Sequence[tuple[str, float]] = DEFAULT_GRADES,
	hot: float = DEFAULT_HOT,
	warm: float = DEFAULT_WARM,
	below: str = BOTTOM_GRADE,
) -> LeadScore:
	"""Score one lead at `now` from its fields (CRM Lead fieldname -> value), activities and adjustments.

	Engagement equals scoring.score(activities, rules.engagement, now, half_life_days).activity_score plus
	the adjustments (decayed or fixed); fit the matched fit rules' points; intent the windowed intent
	points. See the module docstring for the components, the clamping and the reasons.
	"""
	_require_aware(now, "Scoring time")
	half_life = _check_half_life(half_life_days)
	weights = weights or DEFAULT_WEIGHTS
	activities = activities if isinstance(activities, list | tuple) else list(activities)
	adjustments = list(adjustments)

	# Fit.
	fit = [
		Reason("fit", m.points, f"{_points(m.points)} {m.text}", f"rule:{m.rule}")
		for m in fit_matches(fields, rules.fit)
	]

	# Engagement: rule subtotals and decaying adjustments valued at the last engagement `ref`, then decay
	# from ref to now as one reason (when at least a day passed and nothing is stamped after now).
	hits_by_rule, last_activity_at = hits_by_kind(activities, rules._by_kind)
	decaying = [a for a in adjustments if a.decays]
	times = [a.at for a in decaying] + ([last_activity_at] if last_activity_at is not None else [])
	ref = max(times) if times else now
	idle_seconds = (now - ref).total_seconds()
	by_inactivity = idle_seconds >= SECONDS_PER_DAY
	at = ref if by_inactivity else now
	engagement: list[Reason] = []
	at_ref = 0.0
	for rule in rules.engagement:
		hits = hits_by_rule.get(rule.id) if rule.active else None
		if not hits:
			continue
		subtotal = math.fsum(
			rule.points * _factor((at - a.timestamp).total_seconds(), half_life) for a in hits
		)
		at_ref += subtotal
		engagement.append(
			Reason(
				"engagement",
				subtotal,
				f"{_points(subtotal)} {describe_rule(rule, len(hits))}",
				f"rule:{rule.id}",
			)
		)
	fixed = 0.0
	for index, adjustment in enumerate(adjustments):
		if adjustment.decays:
			points = adjustment.points * _factor((at - adjustment.at).total_seconds(), half_life)
			at_ref += points
		else:
			points = adjustment.points
			fixed += points
		by = f", by {adjustment.by}" if adjustment.by else ""
		kind = "manual" if adjustment.decays else "manual, fixed"
		engagement.append(
			Reason(
				"engagement",
				points,
				f"{_points(points)} {adjustment.reason} ({kind}{by})",
				f"adjustment:{adjustment.id or index}",
			)
		)
	anchor = at_ref
	if by_inactivity:
		anchor = at_ref * _factor(idle_seconds, half_life)
		faded = anchor - at_ref
		if faded != 0.0:
			days = int(idle_seconds // SECONDS_PER_DAY)
			words = "no activity for" if at_ref > 0 else "penalties faded over"
			engagement.append(
				Reason(
					"engagement",
					faded,
					f"{_points(faded)} {words} {days} days" + ("" if at_ref > 0 else " without activity"),
					"inactivity",
				)
			)

	# Intent: full points per capped match within each rule's window.
	intent: list[Reason] = []
	changes_at = None
	for intent_rule in rules.intent:
		window = timedelta(days=intent_rule.window_days)
		recent = [a for a in hits_by_rule.get(intent_rule.id, ()) if a.timestamp > now - window]
		if not recent:
			continue
		points = intent_rule.rule.points * len(recent)
		leaves = min(a.timestamp for a in recent) + window
		changes_at = leaves if changes_at is None else min(changes_at, leaves)
		text = f"{_points(points)} {describe_rule(intent_rule.rule, len(recent))} {_window(intent_rule.window_days)}"
		intent.append(Reason("intent", points, text, f"rule:{intent_rule.id}"))

	components = (
		_component("fit", fit, weights.fit),
		_component("engagement", engagement, weights.engagement),
		_component("intent", intent, weights.intent),
	)
	total, grade_, temperature_ = _shown(components, grades, hot, warm, below)
	return LeadScore(
		total,
		grade_,
		temperature_,
		*components,
		scored_at=now,
		engagement_anchor=anchor,
		engagement_fixed=fixed,
		intent_changes_at=changes_at,
		last_activity_at=last_activity_at,
	)


@lru_cache(maxsize=16)
def _checked_bands(grades: tuple, hot: float, warm: float):
	return validate_grades(grades), validate_temperature(hot, warm)


def _shown(components, grades, hot, warm, below) -> tuple[float, str, str]:
	total = round(math.fsum(c.contribution for c in components), 2) + 0.0
	try:
		bands, (hot, warm) = _checked_bands(tuple(grades), hot, warm)
	except TypeError:  # unhashable thresholds (lists inside): checked each time
		bands, (hot, warm) = validate_grades(grades), validate_temperature(hot, warm)
	grade_ = next((label for label, minimum in bands if total >= minimum), below)
	return total, grade_, "hot" if total >= hot else "warm" if total >= warm else "cold"


def _clamp(raw: float) -> float:
	return round(min(COMPONENT_MAX, max(0.0, raw)), 2) + 0.0


@dataclass(frozen=True)
class StoredScore:
	"""What the daily job reads for a lead: the components' raw points, the engagement anchor at
	`scored_at`, when intent next changes, and the total, grade and temperature the lead shows."""

	lead: str
	fit: float
	engagement_anchor: float
	engagement_fixed: float
	intent: float
	scored_at: datetime
	intent_changes_at: datetime | None = None
	total: float | None = None
	grade: str | None = None
	temperature: str | None = None


@dataclass(frozen=True)
class LeadScoreUpdate:
	"""What to write on a lead after the daily decay: component values (0-100), the new engagement anchor
	with `scored_at`, and the total, grade and temperature."""

	lead: str
	total: float
	grade: str
	temperature: str
	fit: float
	engagement: float
	intent: float
	engagement_anchor: float
	scored_at: datetime


def changed_lead_scores(
	rows: Iterable[StoredScore],
	now: datetime,
	*,
	weights: Weights | None = None,
	half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
	min_delta: float = 0.01,
	grades: Sequence[tuple[str, float]] = DEFAULT_GRADES,
	hot: float = DEFAULT_HOT,
	warm: float = DEFAULT_WARM,
	below: str = BOTTOM_GRADE,
) -> tuple[list[LeadScoreUpdate], list[str]]:
	"""The daily job without reading any activity: (updates, leads to rescore).

	A lead whose `intent_changes_at` is due (<= now) goes to the second list: its intent needs its
	activities, so the job rescores it with score_lead. Every other lead's engagement anchor decays to
	`now` (exact, as scoring.decayed) and its total is recomputed with fit and intent unchanged; it is
	returned when the total moves by at least `min_delta` or the grade or temperature changes (as
	scoring.changed_scores, whose rules it follows).
	"""
	_require_aware(now, "Decay time")
	half_life = _check_half_life(half_life_days)
	weights = weights or DEFAULT_WEIGHTS
	bands = validate_grades(grades)
	hot, warm = validate_temperature(hot, warm)
	threshold = _finite(min_delta, "Minimum change") - 1e-9
	factors: dict[datetime, float] = {}
	updates, rescore = [], []
	w_fit, w_eng, w_int = weights.fit / 100.0, weights.engagement / 100.0, weights.intent / 100.0
	for row in rows:
		if row.intent_changes_at is not None and row.intent_changes_at <= now:
			rescore.append(row.lead)
			continue
		factor = factors.get(row.scored_at)
		if factor is None:
			_require_aware(row.scored_at, f"Scored at of lead {row.lead}")
			factor = factors[row.scored_at] = _factor((now - row.scored_at).total_seconds(), half_life)
		anchor = row.engagement_anchor * factor
		fit, engagement, intent = _clamp(row.fit), _clamp(anchor + row.engagement_fixed), _clamp(row.intent)
		total = round(fit * w_fit + engagement * w_eng + intent * w_int, 2) + 0.0
		grade_ = next((label for label, minimum in bands if total >= minimum), below)
		temperature_ = "hot" if total >= hot else "warm" if total >= warm else "cold"
		if (
			row.total is None
			or abs(total - row.total) >= threshold
			or grade_ != row.grade
			or temperature_ != row.temperature
		):
			updates.append(
				LeadScoreUpdate(row.lead, total, grade_, temperature_, fit, engagement, intent, anchor, now)
			)
	return updates, rescore


def explain(score: LeadScore, top_per_component: int | None = 5) -> list[dict]:
	"""The explanation as plain dicts for the API and the CRM panel: component, points (rounded to 2
	places), text, source; ordered by |points|. See LeadScore.explanation."""
	return [
		{"component": r.component, "points": round(r.points, 2) + 0.0, "text": r.text, "source": r.source}
		for r in score.explanation(top_per_component)
	]
