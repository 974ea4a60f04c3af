"""progress: how far a unit is along a target, as of a given time (pure functions, no I/O, no clock).

Everything takes the evaluation time ``as_of`` as a parameter; days are local days in
Asia/Ho_Chi_Minh, the calendar the programme's deadlines are written in. The SQL evaluation in
``dxmon.store.progress_repository`` implements the same rules set-based, and a test checks that both
give the same statuses on the same data. One module (over 400 lines) on purpose: the rules below and
the functions that implement them are read and reviewed together.

The rules, in the words a reviewer should check them against:

Which pairs
    A target applies to a unit when the unit's level is one the target covers and the unit existed by
    ``as_of`` and by the target's last deadline (a commune created after a target's only milestone has
    nothing to be judged on). Values are the unit's values in force per period, corrections applied.

Glide path
    The expected value on day ``d`` moves in a straight line from a start anchor to the next milestone
    (the first whose deadline is on or after ``d``). The start anchor is the latest of the target's
    baseline and the milestones already passed (a milestone wins a tie); when the baseline is dated
    after ``d`` and no milestone has passed, the baseline; when the target gives neither, the unit's
    own first value in force. Before the start anchor the path is flat at the anchor's value; an
    anchor dated after the next milestone makes the expected value the target.
    The expected value is never stricter than the milestone itself (a baseline already better than
    the target does not raise the bar). Booleans have no partial progress: their expected value is the
    target itself.

Two judgements, never mixed
    A *result* (``Status``) says how the figures stand against the target; *reporting*
    (``Reporting``) says whether the unit reported in time. A unit that met its target but filed late
    is ``met`` and ``late``, never one in place of the other.

Results, in order of precedence (the first that applies is the result)
    1. ``no_data``   nothing reported, ever (no value in force on the evaluation day).
    2. ``exceeded``/``met``/``missed`` every milestone has passed: the outcome of the last one
                     (see "Milestones that have passed"), provisional until its cut-off, then final.
    3. ``met``       the latest value already satisfies the next milestone.
    4. ``behind``    the latest value is worse than the glide path *on the day it describes* by more
                     than the tolerance: ``points`` percentage points for ratio/percent, ``relative`` ×
                     |expected| for counts and ranks. Never for booleans. (A yearly figure is compared
                     with where the path stood at its year's end, not with today's path: the path
                     moves every day, the figure only once a year.)
    5. ``at_risk``   the least-squares line (x = time in days) through the values observed since
                     the start of the period ``trend.periods`` periods before the current one (at
                     least ``trend.min_points`` of them) projects a value at the end of the next
                     milestone's deadline that fails it. A boolean that is not met is at risk.
    6. ``on_track``  otherwise.

Reporting (DHIS2-style timeliness), judged on the *due period*: the latest period whose grace has
run out (period end + grace days < day)
    ``missing``  neither the due period nor any later one has a report, and the unit existed during
                 the due period (``overdue_since`` is the first day it counted as missing);
    ``late``     the due period's first report arrived after its period end + timely days;
    ``on_time``  otherwise; None when no period is due yet (the unit is too new) or nothing was ever
                 reported (``no_data`` says it already).
    For one unit and milestone, a better latest value never gives a worse status
    (``met`` > ``on_track`` > ``at_risk`` > ``behind``); mirroring values, comparators and direction
    gives the same status.

Milestones that have passed
    A milestone has passed the day after its deadline. Its outcome, ``exceeded``, ``met`` or
    ``missed``, is decided by the value in force at the end of the deadline day (the latest period
    observed on or before it); no value in force counts as ``missed``: nothing shows it was met.
    ``exceeded`` is a met outcome strictly better than an inclusive target (>= or <=). Outcomes exist
    for units valid on the deadline. Evaluation then continues against the next milestone (e.g. 2030).

Cut-off (chốt số liệu): provisional, then final
    Each milestone has a cut-off day: its deadline plus the indicator's ``grace_days``, unless the
    target set names a cut-off date. Until the end of the cut-off day the outcome is *provisional*,
    computed from everything in force. After it the outcome is *final*: decided by the value in force
    among the reports *received* by the end of the cut-off day (``official_outcome``), and frozen with
    that value and its period. A report received later is a *revision*: shown beside the outcome,
    never deciding. Only an operator may reopen a final outcome (it is provisional again until the
    operator locks it) — the store keeps that audit.

Units that ceased
    A unit is evaluated up to its ``valid_to``: as if the evaluation day were ``valid_to``, with only
    the values observed up to then. Its history is also re-aggregated onto every unit that succeeded
    it, directly or through a chain (see ``successor_links`` and ``rollup``). A unit taken over only
    in part (split between successors) is counted in full by each of them, with a ``partial`` flag:
    its numbers cannot be divided without knowing the shares, and leaving it out would drop them.

Rollups
    Ratios are rolled up by summing numerators and denominators, counts by summing values; percents,
    ranks and booleans are not rolled up, because a share cannot be recombined without its parts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from dxmon import words
from dxmon.catalog import (
    PROGRAMME_SET,
    Cadence,
    Catalog,
    Direction,
    Indicator,
    Level,
    Measure,
    Milestone,
    Period,
    Target,
    Unit,
)
from dxmon.contracts import LOCAL_TZ

PERIOD_MONTHS: Mapping[Period, int] = {Period.MONTHLY: 1, Period.QUARTERLY: 3, Period.YEARLY: 12}


class Status(StrEnum):
    """Status: the *result* of one (unit, indicator) against its target; stored and shown as-is."""

    EXCEEDED = "exceeded"
    MET = "met"
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    BEHIND = "behind"
    MISSED = "missed"
    NO_DATA = "no_data"


class Reporting(StrEnum):
    """Reporting: whether the unit reported the due period in time (a judgement of its own)."""

    ON_TIME = "on_time"
    LATE = "late"
    MISSING = "missing"


# What staff and leaders read (the dashboards use the same words): the glossary's terms.
STATUS_LABELS: Mapping[Status, str] = {s: words.RESULT[s.value] for s in Status}
REPORTING_LABELS: Mapping[Reporting, str] = {r: words.REPORTING[r.value] for r in Reporting}

# How good a value-driven status is (higher is better); monotonicity is stated in these terms.
STATUS_RANK: Mapping[Status, int] = {Status.BEHIND: 0, Status.AT_RISK: 1, Status.ON_TRACK: 2, Status.MET: 3}


@dataclass(frozen=True)
class Tolerance:
    """Tolerance: how far below the glide path a value may be before it is ``behind``.

    ``points`` applies to ratio and percent indicators (percentage points), ``relative`` to counts
    and ranks (a fraction of the expected value).
    """

    points: float = 5.0
    relative: float = 0.05


@dataclass(frozen=True)
class TrendRule:
    """TrendRule: the trend uses the values of the last ``periods`` periods, if there are ``min_points``."""

    periods: int = 6
    min_points: int = 3


@dataclass(frozen=True)
class Point:
    """Point: the value in force for one period, observed at ``observed_at``.

    ``first_received_at`` is when the period's first report arrived (timeliness), ``received_at``
    when the report now in force did (None where unknown).
    """

    observed_at: datetime
    value: float
    first_received_at: datetime | None = None
    received_at: datetime | None = None

    @property
    def day(self) -> date:
        return local_day(self.observed_at)


@dataclass(frozen=True)
class Anchor:
    """Anchor: a (day, value) the glide path passes through."""

    day: date
    value: float


@dataclass(frozen=True)
class Evaluation:
    """Evaluation: the two judgements of one (unit, indicator) and the figures they were decided from.

    ``target``/``milestone`` are the next milestone's, or the last one's once every milestone has
    passed. ``baseline`` is the start anchor of the current glide segment. ``day`` is the day the
    evaluation describes (the unit's ``valid_to`` when it ceased before ``as_of``). Once every
    milestone has passed, ``status`` is the last milestone's outcome: ``provisional`` until its
    ``cutoff`` day has ended, then ``final``; ``deciding_value``/``deciding_observed_at`` are the value
    that decided it (``value`` stays the latest value in force, which may differ).
    """

    status: Status
    day: date
    value: float | None
    expected: float | None
    target: float
    comparator: str
    milestone: date
    baseline: Anchor | None
    last_observed_at: datetime | None
    overdue_since: date | None
    projection: float | None
    reporting: Reporting | None = None
    provisional: bool = False
    final: bool = False
    cutoff: date | None = None
    deciding_value: float | None = None
    deciding_observed_at: datetime | None = None


@dataclass(frozen=True)
class Outcome:
    """Outcome: whether a passed milestone was met, from the value in force at its deadline.

    ``observed_at`` is the instant of the deciding value (None when nothing was in force).
    """

    milestone: Milestone
    status: Status
    value: float | None
    observed_at: datetime | None = None


@dataclass(frozen=True)
class Received:
    """Received: one stored report as history (``seq`` orders receipts: the stream sequence). A report of
    an indicator with categories names its ``category``; a ratio carries its parts when it was sent them."""

    observed_at: datetime
    value: float
    received_at: datetime
    seq: int = 0
    category: str = ""
    numerator: float | None = None
    denominator: float | None = None


def category_total(members: Sequence[Received], measure: Measure) -> float | None:
    """category_total: a period's value from its categories' values in force, the store's rule
    (reports_repository): ratios by summed parts (a member with only a published percentage is left out of
    the sums; with no parts at all, the percentages' mean), other measures by sum."""
    if len(members) == 1:
        return members[0].value
    if measure is Measure.RATIO:
        parts = [m for m in members if m.numerator is not None and m.denominator is not None]
        total = sum(m.denominator or 0.0 for m in parts)
        if parts:
            return 100 * sum(m.numerator or 0.0 for m in parts) / total if total else None
        return sum(m.value for m in members) / len(members)
    return sum(m.value for m in members)


@dataclass(frozen=True)
class Part:
    """Part: one unit's contribution to a rollup (``numerator``/``denominator`` for ratios)."""

    value: float | None
    numerator: float | None = None
    denominator: float | None = None


@dataclass(frozen=True)
class SuccessorLink:
    """SuccessorLink: ``successor`` took over (all of, or with ``partial`` part of) ``predecessor``."""

    predecessor: str
    successor: str
    partial: bool


# ───────────────────────────── calendar ─────────────────────────────


def local_day(ts: datetime) -> date:
    """local_day is the calendar day of ``ts`` in Asia/Ho_Chi_Minh (``ts`` must carry an offset)."""
    if ts.tzinfo is None:
        raise ValueError("timestamp without a UTC offset")
    return ts.astimezone(LOCAL_TZ).date()


def end_of_day(d: date) -> datetime:
    """end_of_day is the first instant after local day ``d`` (an exclusive bound)."""
    return datetime.combine(d + timedelta(days=1), time(0), LOCAL_TZ)


def start_of_day(d: date) -> datetime:
    """start_of_day is local midnight at the start of day ``d``."""
    return datetime.combine(d, time(0), LOCAL_TZ)


def epoch_days(ts: datetime) -> float:
    """epoch_days is the trend's x: days since 1970-01-01 UTC (SQL: date_part('epoch', ts) / 86400)."""
    return ts.timestamp() / 86400


def period_start(d: date, period: Period) -> date:
    """period_start is the first day of the month, quarter or year containing ``d``."""
    months = PERIOD_MONTHS[period]
    month = (d.month - 1) // months * months + 1 if months < 12 else 1
    return date(d.year, month, 1)


def shift_periods(start: date, period: Period, n: int) -> date:
    """shift_periods moves a period start ``n`` periods forward (negative: back)."""
    index = start.year * 12 + start.month - 1 + n * PERIOD_MONTHS[period]
    return date(index // 12, index % 12 + 1, 1)


def period_end(start: date, period: Period) -> date:
    return shift_periods(start, period, 1) - timedelta(days=1)


def due_period(d: date, cadence: Cadence) -> tuple[date, date]:
    """due_period is the latest period whose grace has run out by day ``d`` (end + grace_days < d)."""
    start = shift_periods(period_start(d - timedelta(days=cadence.grace_days), cadence.period), cadence.period, -1)
    return start, period_end(start, cadence.period)


def overdue_since(latest: date, d: date, cadence: Cadence, valid_from: date) -> date | None:
    """overdue_since: the first day the unit counts as overdue, or None when it is not overdue on ``d``.

    Overdue means the due period (``due_period``) and every later one are unreported although the
    unit existed during the due period; ``latest`` is the day of its latest value in force.
    """
    due_start, due_end = due_period(d, cadence)
    if latest >= due_start or due_end < valid_from:
        return None
    missing = shift_periods(period_start(latest, cadence.period), cadence.period, 1)
    return period_end(missing, cadence.period) + timedelta(days=cadence.grace_days + 1)


def on_time(first_received_at: datetime, period_start_day: date, cadence: Cadence) -> bool:
    """on_time: the period's first report arrived by the end of its last day + timely_days (DHIS2)."""
    deadline = period_end(period_start_day, cadence.period) + timedelta(days=cadence.timely_days)
    return first_received_at < end_of_day(deadline)


def reporting_status(
    series: Sequence[Point], d: date, cadence: Cadence, valid_from: date
) -> tuple[Reporting | None, date | None]:
    """reporting_status judges the due period on day ``d``: (reporting, first day it counted as missing).

    ``series`` are the values in force per period, sorted by time.
    """
    if not series:
        return None, None
    due_start, due_end = due_period(d, cadence)
    if due_end < valid_from:
        return None, None
    latest = series[-1]
    since = overdue_since(latest.day, d, cadence, valid_from)
    if since is not None:
        return Reporting.MISSING, since
    # The due period's value in force (its latest instant where a period holds several).
    due = next((p for p in reversed(series) if due_start <= p.day <= due_end), None)
    if due is not None and due.first_received_at is not None and not on_time(due.first_received_at, due_start, cadence):
        return Reporting.LATE, None
    return Reporting.ON_TIME, None


def cutoff_day(milestone: Milestone, cadence: Cadence, set_cutoff: date | None = None) -> date:
    """cutoff_day is the last day whose receipts decide a milestone: the set's date, or deadline + grace."""
    return set_cutoff if set_cutoff is not None else milestone.deadline + timedelta(days=cadence.grace_days)


# ───────────────────────────── comparisons ─────────────────────────────


def satisfies(value: float, comparator: str, target: float) -> bool:
    """satisfies applies a milestone comparator (booleans are 1.0/0.0, so ``==`` is exact)."""
    if comparator == ">=":
        return value >= target
    if comparator == ">":
        return value > target
    if comparator == "<=":
        return value <= target
    if comparator == "<":
        return value < target
    if comparator == "==":
        return value == target
    raise ValueError(f"unknown comparator {comparator!r}")


def shortfall(value: float, expected: float, direction: Direction) -> float:
    """shortfall is how much worse than ``expected`` the value is (negative when it is better)."""
    return expected - value if direction == Direction.HIGHER_IS_BETTER else value - expected


def allowed_shortfall(expected: float, measure: Measure, tolerance: Tolerance) -> float:
    if measure in (Measure.RATIO, Measure.PERCENT):
        return tolerance.points
    return tolerance.relative * abs(expected)


# ───────────────────────────── glide path and trend ─────────────────────────────


def next_milestone(milestones: Sequence[Milestone], d: date) -> Milestone | None:
    """next_milestone is the first milestone whose deadline is on or after ``d`` (None: all passed)."""
    return next((m for m in milestones if m.deadline >= d), None)


def official_anchor(target: Target, d: date) -> Anchor | None:
    """official_anchor: where the target itself starts the glide segment containing ``d`` (None: nowhere)."""
    base = Anchor(target.baseline.date, target.baseline.value) if target.baseline else None
    passed = [m for m in target.milestones if m.deadline < d]
    previous = Anchor(passed[-1].deadline, passed[-1].value) if passed else None
    if base is not None and base.day <= d and (previous is None or base.day > previous.day):
        return base
    return previous or base


def restart_day(indicator: Indicator, level: Level) -> date | None:
    """restart_day: where the programme's path for ``level`` passes from NQ 09 to the set continuing it.

    From that day on the glide path starts from the value of the unit's outcome of NQ 09's last
    milestone (what it actually reached: the official value after the cut-off, a later revision
    aside), not from NQ 09's target — unless the continuing set gives a baseline.
    None when the path is not continued (or the continuing target has its own baseline).
    """
    path = indicator.target_for(level)
    own = next((t for t in indicator.all_targets if t.target_set == PROGRAMME_SET and level in t.applies_to), None)
    if path is None or own is None or path.milestones[-1].deadline <= own.milestones[-1].deadline:
        return None
    later = set(path.milestones) - set(own.milestones)
    if any(
        t.baseline is not None
        for t in indicator.all_targets
        if level in t.applies_to and t.target_set != PROGRAMME_SET and later & set(t.milestones)
    ):
        return None
    return own.milestones[-1].deadline


def glide_path(start: Anchor | None, end: Milestone, d: date, direction: Direction) -> float | None:
    """glide_path is the expected value on day ``d`` on the line from ``start`` to ``end``.

    The line is cut at the milestone's value: the path never asks for more than the target.
    """
    if start is None:
        return None
    total = (end.deadline - start.day).days
    if total <= 0:
        return end.value
    fraction = min(max((d - start.day).days / total, 0.0), 1.0)
    value = start.value * (1 - fraction) + end.value * fraction  # exact at both ends
    return min(value, end.value) if direction == Direction.HIGHER_IS_BETTER else max(value, end.value)


def path_at(
    start: Anchor | None, end: Milestone, d: date, direction: Direction, fallback: float | None
) -> float | None:
    """path_at is the glide path on day ``d`` (``fallback``, the expected value, where there is no start)."""
    return glide_path(start, end, d, direction) if start is not None else fallback


def trend_start(d: date, period: Period, rule: TrendRule) -> date:
    """trend_start is the first day of the period ``rule.periods`` periods before the one containing ``d``."""
    return shift_periods(period_start(d, period), period, -rule.periods)


def least_squares(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float] | None:
    """least_squares returns (slope, intercept) of the fitted line, or None when x does not vary."""
    n = len(xs)
    if n < 2:
        return None
    mean_x = sum(xs) / n
    mean_y = sum(ys) / n
    sxx = sum((x - mean_x) ** 2 for x in xs)
    if sxx == 0:
        return None
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sxx
    return slope, mean_y - slope * mean_x


def projection(points: Sequence[Point], deadline: date, rule: TrendRule) -> float | None:
    """projection is the trend line's value at the end of day ``deadline`` (None: fewer than min_points)."""
    if len(points) < rule.min_points:
        return None
    fit = least_squares([epoch_days(p.observed_at) for p in points], [p.value for p in points])
    if fit is None:
        return None
    slope, intercept = fit
    return intercept + slope * epoch_days(end_of_day(deadline))


# ───────────────────────────── evaluation ─────────────────────────────


def target_applies(target: Target, unit: Unit, as_of: datetime) -> bool:
    """target_applies: the unit's level is targeted and it existed by as_of and by the last deadline."""
    return (
        unit.level in target.applies_to
        and unit.valid_from <= local_day(as_of)
        and unit.valid_from <= target.milestones[-1].deadline
    )


def evaluation_day(unit: Unit, as_of: datetime) -> date:
    """evaluation_day is the as_of day, or the unit's last day when it ceased before then."""
    d = local_day(as_of)
    return min(d, unit.valid_to) if unit.valid_to is not None else d


def cutoff(unit: Unit, as_of: datetime) -> datetime:
    """cutoff is the last instant whose observations count: as_of, or the end of the unit's last day."""
    return min(as_of, end_of_day(unit.valid_to) - timedelta(microseconds=1)) if unit.valid_to else as_of


def in_force(points: Iterable[Point], unit: Unit, as_of: datetime) -> list[Point]:
    """in_force keeps the points observed by ``cutoff(unit, as_of)``, sorted by time."""
    last = cutoff(unit, as_of)
    return sorted((p for p in points if p.observed_at <= last), key=lambda p: p.observed_at)


def value_at(points: Sequence[Point], d: date) -> Point | None:
    """value_at is the value in force at the end of day ``d`` (points sorted by time)."""
    found = None
    for p in points:
        if p.day <= d:
            found = p
    return found


@dataclass(frozen=True)
class Calendar:
    """Calendar: what a target says on day ``day``, before looking at any unit's values.

    ``anchor``/``expected`` are None when the target gives no starting point (the unit's own first
    value is used then). ``expected`` is the target once every milestone has passed.
    """

    day: date
    upcoming: Milestone | None
    shown: Milestone
    anchor: Anchor | None
    expected: float | None
    due_start: date
    due_end: date
    trend_from: date


def calendar(
    target: Target, measure: Measure, direction: Direction, cadence: Cadence, day: date, trend: TrendRule
) -> Calendar:
    """calendar computes the unit-independent part of an evaluation on ``day``."""
    upcoming = next_milestone(target.milestones, day)
    anchor = official_anchor(target, day) if upcoming else None
    if upcoming is None:
        expected: float | None = target.milestones[-1].value
    elif measure == Measure.BOOLEAN:
        expected = upcoming.value
    else:
        expected = glide_path(anchor, upcoming, day, direction)
    due_start, due_end = due_period(day, cadence)
    return Calendar(
        day=day,
        upcoming=upcoming,
        shown=upcoming or target.milestones[-1],
        anchor=anchor,
        expected=expected,
        due_start=due_start,
        due_end=due_end,
        trend_from=trend_start(day, cadence.period, trend),
    )


def evaluate(
    *,
    target: Target,
    measure: Measure,
    direction: Direction,
    cadence: Cadence,
    unit: Unit,
    points: Iterable[Point],
    as_of: datetime,
    tolerance: Tolerance = Tolerance(),
    trend: TrendRule = TrendRule(),
    received: Sequence[Received] | None = None,
    set_cutoff: date | None = None,
    restart: date | None = None,
    own_from: date | None = None,
) -> Evaluation:
    """evaluate decides the result and the reporting of one unit's indicator as of ``as_of``.

    ``points`` are the unit's values in force per period (corrections applied); points observed
    after ``as_of`` or after the unit ceased are ignored. ``received`` is the report history the
    final outcome of the last milestone is decided from after its cut-off (without it, the values in
    force are used, which is the same unless a period was corrected after the cut-off). ``restart``
    (``restart_day``) is where the path restarts from the unit's own outcome of that day's milestone.
    ``own_from`` (the start of a target's set): a target without a start of its own glides from the unit's
    last value before that day (what it had reached when the set began), else from its first value.
    """
    series = in_force(points, unit, as_of)
    cal = calendar(target, measure, direction, cadence, evaluation_day(unit, as_of), trend)
    d, upcoming = cal.day, cal.upcoming
    latest = series[-1] if series else None
    start, expected = cal.anchor, cal.expected
    if upcoming is not None and start is None and series and measure != Measure.BOOLEAN:
        before = [p for p in series if own_from is not None and p.day < own_from]
        own = before[-1] if before else series[0]
        start = Anchor(own.day, own.value)
        expected = glide_path(start, upcoming, d, direction)
    if (
        upcoming is not None
        and start is not None
        and restart is not None
        and start.day == restart
        and measure != Measure.BOOLEAN
    ):
        # The restart milestone's outcome value: official after its cut-off (a later revision does
        # not move it), the value in force until then — and only a value of the deadline's own period
        # (a figure two years old is not what the unit reached by then).
        ended = next(m for m in target.milestones if m.deadline == restart)
        ended_cut = cutoff_day(ended, cadence)
        if local_day(as_of) > ended_cut:
            history = (
                received
                if received is not None
                else [Received(p.observed_at, p.value, p.received_at or p.observed_at) for p in series]
            )
            official = official_outcome(history, ended, ended_cut, cadence, measure)
            reached, reached_at = official.value, official.observed_at
        else:
            found = value_at(series, restart)
            reached, reached_at = (found.value, found.observed_at) if found is not None else (None, None)
        own_period = period_start(restart, cadence.period)
        if (
            reached is not None
            and reached_at is not None
            and period_start(local_day(reached_at), cadence.period) == own_period
        ):
            start = Anchor(restart, reached)
            expected = glide_path(start, upcoming, d, direction)
    reporting, late = reporting_status(series, d, cadence, unit.valid_from)
    trend_line = None
    if upcoming is not None and measure != Measure.BOOLEAN:
        since = start_of_day(cal.trend_from)
        trend_line = projection([p for p in series if p.observed_at >= since], upcoming.deadline, trend)

    decided: Outcome | None = None
    cut: date | None = None
    if latest is None:
        status = Status.NO_DATA
    elif upcoming is None:
        cut = cutoff_day(cal.shown, cadence, set_cutoff)
        if local_day(as_of) > cut:
            history = (
                received
                if received is not None
                else [Received(p.observed_at, p.value, p.received_at or p.observed_at) for p in series]
            )
            decided = official_outcome(history, cal.shown, cut, cadence, measure)
        else:
            decided = outcome(series, cal.shown)
        status = decided.status
    elif satisfies(latest.value, upcoming.comparator, upcoming.value):
        status = Status.MET
    elif measure == Measure.BOOLEAN:
        status = Status.AT_RISK
    elif (due := path_at(start, upcoming, min(latest.day, d), direction, expected)) is not None and shortfall(
        latest.value, due, direction
    ) > allowed_shortfall(due, measure, tolerance):
        status = Status.BEHIND
    elif trend_line is not None and not satisfies(trend_line, upcoming.comparator, upcoming.value):
        status = Status.AT_RISK
    else:
        status = Status.ON_TRACK

    return Evaluation(
        status=status,
        day=d,
        value=latest.value if latest else None,
        expected=expected,
        target=cal.shown.value,
        comparator=cal.shown.comparator,
        milestone=cal.shown.deadline,
        baseline=start,
        last_observed_at=latest.observed_at if latest else None,
        overdue_since=late,
        projection=trend_line,
        reporting=reporting,
        provisional=decided is not None and cut is not None and local_day(as_of) <= cut,
        final=decided is not None and cut is not None and local_day(as_of) > cut,
        cutoff=cut,
        deciding_value=decided.value if decided else None,
        deciding_observed_at=decided.observed_at if decided else None,
    )


# Which of several targets ahead a unit is shown against: the one it stands worst against (on a tie, one
# with an expected value, then the first candidate: the nearest milestone). The SQL evaluation uses the
# same order (evaluation_sql.KEEP_WORST).
WORST_FIRST: tuple[Status, ...] = (
    Status.BEHIND,
    Status.AT_RISK,
    Status.ON_TRACK,
    Status.MET,
    Status.EXCEEDED,
    Status.MISSED,
    Status.NO_DATA,
)


def evaluate_target(
    catalog: Catalog,
    indicator: Indicator,
    unit: Unit,
    target: Target,
    points: Iterable[Point],
    as_of: datetime,
    tolerance: Tolerance = Tolerance(),
    trend: TrendRule = TrendRule(),
    received: Sequence[Received] | None = None,
) -> Evaluation:
    """evaluate_target evaluates the unit against one of the indicator's targets at its level: the
    programme's path restarts from the unit's 2025 outcome (``restart_day``); a target of another set
    glides from where the unit stood when that set began and locks by the set's cut-off, if it names one."""
    on_path = target is indicator.target_for(unit.level)
    own_set = None if on_path else catalog.target_sets.get(target.target_set)
    return evaluate(
        target=target,
        measure=indicator.measure,
        direction=indicator.direction,
        cadence=indicator.cadence,
        unit=unit,
        points=points,
        as_of=as_of,
        tolerance=tolerance,
        trend=trend,
        received=received,
        set_cutoff=None if own_set is None else own_set.cutoff,
        restart=restart_day(indicator, unit.level) if on_path else None,
        own_from=None if own_set is None else own_set.applies_from,
    )


def evaluate_judged(
    catalog: Catalog,
    indicator: Indicator,
    unit: Unit,
    points: Iterable[Point],
    as_of: datetime,
    tolerance: Tolerance = Tolerance(),
    trend: TrendRule = TrendRule(),
    received: Sequence[Received] | None = None,
) -> tuple[Target, Evaluation] | None:
    """evaluate_judged evaluates the unit against each of ``Catalog.candidate_targets`` (``evaluate_target``)
    and returns the target it stands worst against with that evaluation (what progress_current, dashboards
    and alerts show); None when no target applies."""
    series = list(points)
    judged = [
        (target, evaluate_target(catalog, indicator, unit, target, series, as_of, tolerance, trend, received))
        for target in catalog.candidate_targets(indicator, unit.level, evaluation_day(unit, as_of))
    ]
    if not judged:
        return None
    return min(enumerate(judged), key=lambda n: (WORST_FIRST.index(n[1][1].status), n[1][1].expected is None, n[0]))[1]


def judge(value: float | None, milestone: Milestone) -> Status:
    """judge is a passed milestone's outcome for the value in force at its deadline (None: missed).

    ``exceeded`` is strictly better than an inclusive target; a strict comparator's target is a
    threshold already, so meeting it is ``met``.
    """
    if value is None or not satisfies(value, milestone.comparator, milestone.value):
        return Status.MISSED
    if milestone.comparator in (">=", "<=") and value != milestone.value:
        return Status.EXCEEDED
    return Status.MET


def outcome(points: Sequence[Point], milestone: Milestone) -> Outcome:
    """outcome decides a passed milestone from the value in force at its deadline (none: missed)."""
    found = value_at(points, milestone.deadline)
    return Outcome(
        milestone,
        judge(found.value if found else None, milestone),
        found.value if found else None,
        found.observed_at if found else None,
    )


def official_outcome(
    received: Iterable[Received],
    milestone: Milestone,
    cutoff: date,
    cadence: Cadence,
    measure: Measure = Measure.PERCENT,
) -> Outcome:
    """official_outcome decides a milestone from the reports received by the end of its cut-off day.

    Among those, each period's (and category's) latest received report is in force (by ``seq``, then
    receipt time); a period with categories sums them (``category_total``, ``measure``); the value in
    force at the deadline decides, as in ``outcome``.
    """
    limit = end_of_day(cutoff)
    winners: dict[date, dict[str, Received]] = {}
    for r in received:
        if r.received_at >= limit:
            continue
        members = winners.setdefault(period_start(local_day(r.observed_at), cadence.period), {})
        best = members.get(r.category)
        if best is None or (r.seq, r.received_at) > (best.seq, best.received_at):
            members[r.category] = r
    series = []
    for members in winners.values():
        value = category_total(list(members.values()), measure)
        if value is not None:
            series.append(Point(max(m.observed_at for m in members.values()), value))
    return outcome(sorted(series, key=lambda p: p.observed_at), milestone)


def outcomes(
    target: Target,
    unit: Unit,
    points: Iterable[Point],
    as_of: datetime,
    cadence: Cadence | None = None,
    received: Sequence[Received] | None = None,
    set_cutoff: date | None = None,
    measure: Measure = Measure.PERCENT,
) -> list[Outcome]:
    """outcomes lists the milestones passed by ``as_of`` on which the unit was valid.

    With ``cadence``, a milestone whose cut-off has ended is decided officially (``official_outcome``
    over ``received``, or over the values in force when no history is given); otherwise from
    everything in force.
    """
    today = local_day(as_of)
    series = in_force(points, unit, as_of)
    found = []
    for m in target.milestones:
        if m.deadline >= today or not unit.active_on(m.deadline):
            continue
        if cadence is not None and today > cutoff_day(m, cadence, set_cutoff):
            history = (
                received
                if received is not None
                else [Received(p.observed_at, p.value, p.received_at or p.observed_at) for p in series]
            )
            found.append(official_outcome(history, m, cutoff_day(m, cadence, set_cutoff), cadence, measure))
        else:
            found.append(outcome(series, m))
    return found


# ───────────────────────────── rollups and successors ─────────────────────────────


def rollup(parts: Iterable[Part], measure: Measure) -> Part | None:
    """rollup combines units' values: ratios by summed parts, counts by sum; None for other measures.

    A ratio whose summed denominator is zero has no value (None), like a single report would.
    """
    parts = list(parts)
    if not parts:
        return None
    if measure == Measure.RATIO:
        numerator = math.fsum(p.numerator or 0.0 for p in parts)
        denominator = math.fsum(p.denominator or 0.0 for p in parts)
        value = 100 * numerator / denominator if denominator else None
        return Part(value, numerator, denominator)
    if measure == Measure.COUNT:
        return Part(math.fsum(p.value or 0.0 for p in parts))
    return None


def successor_links(units: Mapping[str, Unit]) -> list[SuccessorLink]:
    """successor_links maps every unit to each unit that succeeded it, directly or through a chain.

    ``partial`` is set when every way from the predecessor to the successor has a partial link. Partial
    predecessors are included in full
    (their whole history is re-aggregated onto each partial successor): for ratios this gives the
    combined area's ratio, for counts an upper bound; the ``partial`` flag lets dashboards say so.
    """

    def reachable(code: str, *, full_only: bool) -> set[str]:
        found: set[str] = set()
        stack = [code]
        while stack:
            unit = units[stack.pop()]
            for s in unit.successors:
                if s in units and s not in found and not (full_only and s in unit.partial_successors):
                    found.add(s)
                    stack.append(s)
        return found

    links = []
    for code in sorted(units):
        full = reachable(code, full_only=True)
        links += [SuccessorLink(code, s, s not in full) for s in sorted(reachable(code, full_only=False))]
    return links
