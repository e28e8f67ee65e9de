"""Report statistics: A/B tests, ROI ratios, funnel stages, conversion paths and lead cohorts."""

import math
import random
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from trackflow.engine.errors import ValidationError
from trackflow.engine.money import minor_units

# A/B "not enough data" thresholds (see two_proportion_z_test).
MIN_VISITORS_PER_ARM = 100
MIN_CONVERSIONS_PER_ARM = 5
DEFAULT_DRAWS = 20_000
NO_TOUCH_PATH = "(no touch)"
NO_CHANNEL = "(none)"
PATH_SEPARATOR = " > "


def _count(value: object, what: str) -> int:
	if isinstance(value, bool) or not isinstance(value, int) or value < 0:
		raise ValidationError(f"{what} must be a whole number of at least 0, got {value!r}")
	return value


def _arm(conversions: object, trials: object, what: str) -> tuple[int, int]:
	conversions, trials = _count(conversions, f"{what} conversions"), _count(trials, f"{what} visitors")
	if conversions > trials:
		raise ValidationError(f"{what} has more conversions ({conversions}) than visitors ({trials})")
	return conversions, trials


# --- A/B tests -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ZTest:
	"""Two-proportion z-test of arm B against arm A; rates are fractions (0.1 = 10 %)."""

	z: float | None  # None when an arm has no visitors
	p_value: float | None  # two-sided
	difference: float | None  # rate B - rate A
	relative_lift: float | None  # difference / rate A; None when rate A is 0
	enough_data: bool


def normal_two_sided_p(z: float) -> float:
	"""Two-sided p-value of a standard normal statistic: P(|Z| >= |z|) = erfc(|z| / sqrt 2)."""
	return math.erfc(abs(z) / math.sqrt(2))


def two_proportion_z_test(
	conv_a: int,
	n_a: int,
	conv_b: int,
	n_b: int,
	*,
	min_visitors: int = MIN_VISITORS_PER_ARM,
	min_conversions: int = MIN_CONVERSIONS_PER_ARM,
) -> ZTest:
	"""Pooled two-proportion z-test, two-sided.

	z = (p_b - p_a) / sqrt(p (1 - p) (1/n_a + 1/n_b)), pooled rate p = (conv_a + conv_b) / (n_a + n_b).
	The normal approximation holds only with enough data, so `enough_data` is True only when each arm has
	at least `min_visitors` visitors (default 100) and, at the pooled rate, at least `min_conversions`
	expected conversions and as many expected non-conversions (default 5: the textbook success/failure
	condition). The statistics are still returned below that; a report shows "not enough data" instead.
	Identical arms at 0 % or 100 % (standard error 0) give z = 0 and p = 1.
	"""
	conv_a, n_a = _arm(conv_a, n_a, "arm A")
	conv_b, n_b = _arm(conv_b, n_b, "arm B")
	_count(min_visitors, "min_visitors")
	_count(min_conversions, "min_conversions")
	if not n_a or not n_b:
		return ZTest(None, None, None, None, False)
	rate_a, rate_b = conv_a / n_a, conv_b / n_b
	pooled = (conv_a + conv_b) / (n_a + n_b)
	difference = rate_b - rate_a
	lift = difference / rate_a if rate_a else None
	se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
	z = difference / se if se else 0.0
	enough = all(
		n >= min_visitors and n * pooled >= min_conversions and n * (1 - pooled) >= min_conversions
		for n in (n_a, n_b)
	)
	return ZTest(z, normal_two_sided_p(z), difference, lift, enough)


def _prob_b_beats_a(a: tuple[int, int], b: tuple[int, int]) -> float:
	"""Exact P(p_b > p_a) for Beta(1 + c, 1 + n - c) posteriors (Evan Miller's closed form)."""
	if b[0] > a[0]:  # the sum has alpha_b terms: run it over the arm with fewer conversions
		return 1.0 - _prob_b_beats_a(b, a)
	alpha_a, beta_a = 1 + a[0], 1 + a[1] - a[0]
	alpha_b, beta_b = 1 + b[0], 1 + b[1] - b[0]

	def log_beta(x: float, y: float) -> float:
		return math.lgamma(x) + math.lgamma(y) - math.lgamma(x + y)

	total = math.fsum(
		math.exp(
			log_beta(alpha_a + i, beta_a + beta_b)
			- math.log(beta_b + i)
			- log_beta(1 + i, beta_b)
			- log_beta(alpha_a, beta_a)
		)
		for i in range(alpha_b)
	)
	return min(1.0, max(0.0, total))


def probability_to_be_best(
	arms: Sequence[tuple[int, int]], *, draws: int = DEFAULT_DRAWS, seed: int | None = 0
) -> list[float]:
	"""Bayesian probability that each (conversions, visitors) arm has the highest conversion rate.

	Each arm's rate has a Beta(1 + conversions, 1 + visitors - conversions) posterior (uniform prior).
	Two arms are solved exactly (closed form, cost linear in the smaller conversion count; `draws` and `seed`
	unused); three or more by `draws` seeded Monte Carlo draws with random.betavariate, the same answer
	for the same seed (seed None draws fresh randomness). The result sums to 1 (up to float rounding).
	"""
	checked = [_arm(c, n, f"arm {i + 1}") for i, (c, n) in enumerate(arms)]
	if len(checked) <= 1:
		return [1.0] * len(checked)
	if len(checked) == 2:
		b_wins = _prob_b_beats_a(checked[0], checked[1])
		return [1.0 - b_wins, b_wins]
	if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
		raise ValidationError(f"draws must be a whole number of at least 1, got {draws!r}")
	rng = random.Random(seed)
	wins = [0] * len(checked)
	params = [(1 + c, 1 + n - c) for c, n in checked]
	for _ in range(draws):
		sample = [rng.betavariate(alpha, beta) for alpha, beta in params]
		wins[max(range(len(sample)), key=sample.__getitem__)] += 1
	return [w / draws for w in wins]


# --- money ratios ----------------------------------------------------------------------------------


def _money(value: object, what: str) -> Decimal:
	if isinstance(value, bool) or not isinstance(value, Decimal | int):
		raise ValidationError(f"{what} must be a Decimal (money is exact), got {value!r}")
	value = Decimal(value)
	if not value.is_finite():
		raise ValidationError(f"{what} must be finite, got {value}")
	return value


def _spend(spend: object) -> Decimal:
	spend = _money(spend, "spend")
	if spend < 0:
		raise ValidationError(f"spend cannot be negative, got {spend}")
	return spend


def roi(revenue: Decimal, spend: Decimal) -> Decimal | None:
	"""Return on investment (revenue - spend) / spend as an unrounded Decimal ratio; None when spend is 0."""
	revenue, spend = _money(revenue, "revenue"), _spend(spend)
	return (revenue - spend) / spend if spend else None


def roas(revenue: Decimal, spend: Decimal) -> Decimal | None:
	"""Return on ad spend revenue / spend as an unrounded Decimal ratio; None when spend is 0."""
	revenue, spend = _money(revenue, "revenue"), _spend(spend)
	return revenue / spend if spend else None


def cost_per(spend: Decimal, count: int, currency: str | None = None) -> Decimal | None:
	"""Spend per lead / won deal, rounded half-even to the currency's minor unit; None when count is 0."""
	spend, count = _spend(spend), _count(count, "count")
	if not count:
		return None
	return (spend / count).quantize(Decimal(1).scaleb(-minor_units(currency)))


# --- funnel ----------------------------------------------------------------------------------------


def median(values: Iterable[float]) -> float | None:
	"""Median of the values (mean of the middle two for an even count); None when there are none."""
	values = list(values)
	return statistics.median(values) if values else None


@dataclass(frozen=True)
class FunnelStep:
	"""One funnel stage: its count and the conversion rate from the previous and the first stage."""

	stage: str
	count: int
	rate_from_previous: float | None  # None for the first stage or after a stage of 0
	rate_from_first: float | None  # None when the first stage is 0


def funnel(leads_by_stage: Sequence[tuple[str, int]]) -> list[FunnelStep]:
	"""Funnel over (stage, count) in stage order; counts are leads that reached the stage (see `reached`)."""
	counts = [(stage, _count(count, f"count of stage {stage!r}")) for stage, count in leads_by_stage]
	first = counts[0][1] if counts else 0
	return [
		FunnelStep(
			stage,
			count,
			count / counts[i - 1][1] if i and counts[i - 1][1] else None,
			count / first if first else None,
		)
		for i, (stage, count) in enumerate(counts)
	]


def reached(
	statuses_by_doc: Mapping[str, Iterable[str]], stage_order: Sequence[str]
) -> list[tuple[str, int]]:
	"""(stage, number of docs that reached it): a doc reached every stage up to the furthest it visited.

	Statuses outside `stage_order` (Lost, Junk, ...) are ignored, so a lead that went New -> Contacted ->
	Lost counts for New and Contacted. The result feeds `funnel`.
	"""
	position = {stage: i for i, stage in enumerate(stage_order)}
	counts = [0] * len(stage_order)
	for statuses in statuses_by_doc.values():
		furthest = max((position[s] for s in statuses if s in position), default=None)
		if furthest is not None:
			for i in range(furthest + 1):
				counts[i] += 1
	return list(zip(stage_order, counts, strict=True))


def stage_durations(
	status_changes: Iterable[tuple[str, str, str | None, datetime, datetime | None]],
) -> dict[str, float]:
	"""Median seconds per stage from CRM Status Change Log rows (doc, from, to, from_date, to_date).

	A CRM row says the doc was in status `from` between from_date and to_date. A doc's time in a stage
	is the sum of all its rows for that stage (a lead that returns to a stage counts once, with the
	total); the median is taken over docs. Open rows (no to_date or no to: the current status) and rows
	whose to_date is before from_date are left out.
	"""
	seconds: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
	for doc, from_status, to_status, from_date, to_date in status_changes:
		if not from_status or not to_status or not to_date or not from_date:
			continue
		for value, what in ((from_date, "from_date"), (to_date, "to_date")):
			if not isinstance(value, datetime):
				raise ValidationError(f"{what} of {doc!r} must be a datetime, got {value!r}")
		if to_date < from_date:
			continue
		seconds[from_status][doc] += (to_date - from_date).total_seconds()
	return {stage: statistics.median(per_doc.values()) for stage, per_doc in seconds.items()}


# --- conversion paths ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PathRow:
	"""One channel path with its journeys; averages are over its converting journeys only."""

	path: str
	conversions: int
	non_conversions: int
	conversion_rate: float
	avg_days_to_convert: float | None
	avg_touches: float | None  # touches per conversion


def top_paths(
	journeys: Iterable[tuple[Sequence[str], bool, int, float | None]], limit: int = 20
) -> list[PathRow]:
	"""The `limit` channel paths with most conversions from (channels, converted, touches, days) journeys.

	The path is the channels joined by " > " in touch order, as given (collapse repeats before, if
	wanted); a journey without touches is "(no touch)". Order: conversions, then journeys, descending,
	then the path. Days and touches are averaged over converting journeys (days None are skipped).
	"""
	_count(limit, "limit")
	totals: dict[str, list] = {}
	for channels, converted, touches, days in journeys:
		path = PATH_SEPARATOR.join(channels) if channels else NO_TOUCH_PATH
		row = totals.setdefault(path, [0, 0, [], []])  # conversions, non-conversions, days, touches
		if converted:
			row[0] += 1
			row[3].append(_count(touches, f"touches of path {path!r}"))
			if days is not None:
				row[2].append(days)
		else:
			row[1] += 1
	ranked = sorted(totals.items(), key=lambda item: (-item[1][0], -(item[1][0] + item[1][1]), item[0]))
	return [
		PathRow(
			path,
			conversions,
			non_conversions,
			conversions / (conversions + non_conversions),
			statistics.fmean(days) if days else None,
			statistics.fmean(touches) if touches else None,
		)
		for path, (conversions, non_conversions, days, touches) in ranked[:limit]
	]


# --- cohorts ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CohortRow:
	"""Leads of one first-touch month and channel; tuples are indexed by month offset 0..months."""

	cohort: str  # 'YYYY-MM'
	channel: str
	leads: int
	deals: tuple[int, ...]  # deals created in the cohort month + offset
	won: tuple[int, ...]  # deals won in the cohort month + offset
	won_revenue: tuple[Decimal, ...]
	deals_total: int  # every offset, also past the last
	won_total: int
	won_revenue_total: Decimal


def _month_index(value: str | date, what: str) -> int:
	if isinstance(value, date):
		return value.year * 12 + value.month - 1
	try:
		year, month = value.split("-")
		year_number, month_number = int(year), int(month)
	except (AttributeError, ValueError):
		raise ValidationError(f"{what} must be a month 'YYYY-MM' or a date, got {value!r}")
	if len(year) != 4 or len(month) != 2 or not 1 <= month_number <= 12:
		raise ValidationError(f"{what} must be a month 'YYYY-MM' or a date, got {value!r}")
	return year_number * 12 + month_number - 1


def _month_name(index: int) -> str:
	return f"{index // 12:04d}-{index % 12 + 1:02d}"


@dataclass
class _CohortTally:
	"""Mutable running totals of one cohort while `cohorts` reads the leads (private)."""

	width: int
	leads: int = 0
	deals_total: int = 0
	won_total: int = 0
	won_revenue_total: Decimal = Decimal(0)

	def __post_init__(self):
		self.deals = [0] * self.width
		self.won = [0] * self.width
		self.won_revenue = [Decimal(0)] * self.width


def _running(values: list, cumulative: bool) -> tuple:
	if not cumulative:
		return tuple(values)
	out, total = [], values[0] * 0
	for value in values:
		total += value
		out.append(total)
	return tuple(out)


def cohorts(
	leads: Iterable[tuple[str, str | None, str | None, date, date | None, date | None, Decimal | None]],
	months: int = 12,
	*,
	by_channel: bool = True,
	cumulative: bool = False,
) -> list[CohortRow]:
	"""Lead cohorts per (first-touch month, channel) with deals, wins and won revenue per month offset.

	Each lead is (lead, first_touch_month 'YYYY-MM', channel, created, deal_created_at, won_at,
	won_value); dates may be dates or datetimes. A lead without a first touch falls in the month it
	was created; an event is placed at offset = its month - the cohort month (an event dated before
	the cohort month counts at 0; one after `months` only in the totals). A won lead without a value
	counts as won with 0 revenue. Without `by_channel` all channels share one row per month (channel
	""); a lead without a channel is "(none)". With `cumulative` each offset holds the running total
	up to it. Rows are ordered by cohort, then channel.
	"""
	_count(months, "months")
	tallies: dict[tuple[int, str], _CohortTally] = {}
	for lead, first_touch_month, channel, created, deal_created_at, won_at, won_value in leads:
		cohort = _month_index(first_touch_month or created, f"cohort month of lead {lead!r}")
		key = (cohort, (channel or NO_CHANNEL) if by_channel else "")
		if key not in tallies:
			tallies[key] = _CohortTally(months + 1)
		tally = tallies[key]
		tally.leads += 1
		if deal_created_at:
			offset = max(0, _month_index(deal_created_at, f"deal date of lead {lead!r}") - cohort)
			tally.deals_total += 1
			if offset <= months:
				tally.deals[offset] += 1
		if won_at:
			value = Decimal(0) if won_value is None else _money(won_value, f"won value of lead {lead!r}")
			offset = max(0, _month_index(won_at, f"won date of lead {lead!r}") - cohort)
			tally.won_total += 1
			tally.won_revenue_total += value
			if offset <= months:
				tally.won[offset] += 1
				tally.won_revenue[offset] += value
	return [
		CohortRow(
			_month_name(cohort),
			channel,
			tally.leads,
			_running(tally.deals, cumulative),
			_running(tally.won, cumulative),
			_running(tally.won_revenue, cumulative),
			tally.deals_total,
			tally.won_total,
			tally.won_revenue_total,
		)
		for (cohort, channel), tally in sorted(tallies.items(), key=lambda item: item[0])
	]
