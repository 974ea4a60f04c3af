"""Evaluation plan: the catalog and the calendar as rows, for the set-based evaluation in SQL.

What depends only on the catalog and the calendar (next milestone, glide path from the target's own
anchors, due periods, trend windows, the restart of a continued path) is computed here in Python by
the same functions the pure evaluation (``dxmon.progress``) uses, once per (indicator, level, day):
``plan`` returns the rows of the temp tables (``TEMP_TABLES``) and the array parameters of the two
passes over the report tables (``dxmon.store.evaluation_sql``). ``dxmon.store.progress_repository``
runs them.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from dxmon.catalog import Catalog, Indicator, Level, Measure, Period, Target
from dxmon.progress import (
    PERIOD_MONTHS,
    TrendRule,
    calendar,
    cutoff,
    cutoff_day,
    due_period,
    end_of_day,
    epoch_days,
    evaluation_day,
    local_day,
    period_end,
    period_start,
    restart_day,
    shift_periods,
    start_of_day,
    successor_links,
    trend_start,
)

RATES_HORIZON = timedelta(days=400)
"""Reporting rates are recomputed for the periods that ended within this long before as_of (older
periods keep their last figures; ``evaluate(..., rates_since=D)`` recomputes every period since D)."""

# Sorting and hashing hundreds of thousands of pairs; keep it in memory. Plans are simple and run

_TRUNC = {Period.MONTHLY: "month", Period.QUARTERLY: "quarter", Period.YEARLY: "year"}
_WORD_BITS = 63

TEMP_TABLES = {
    "_units": (
        "code text, level text, valid_from date, valid_to date, day date, cutoff timestamptz, active boolean, grp int"
    ),
    "_keys": (
        "grp int, indicator text, level text, day date, rank int, pillar text, measure text, direction text, "
        "months int, grace_days int, timely_days int, last_deadline date, last_value double precision, "
        "last_comparator text, last_j int, "
        "next_deadline date, next_value double precision, next_comparator text, x_deadline double precision, "
        "anchor_day date, anchor_value double precision, expected double precision, "
        "due_start date, due_end date, restart_day date, restart_from timestamptz, target_set text, "
        "own_from timestamptz, outcome_set text"
    ),
    "_milestones": (
        "indicator text, level text, deadline date, value double precision, comparator text, j int, cut_day date, "
        "target_set text"
    ),
    "_periods": "period text, months int, p int, period_start date, period_end date",
    "_level_cadences": "level text, months int, expected int, mask int8[]",
    "_indicators": "indicator text, measure text, trunc text, categorized boolean",
}


@dataclass
class Plan:
    """The catalog and the calendar as rows for the temp tables and arrays for the two passes."""

    rows: dict[str, list[tuple]]
    facts_args: list
    passed: int  # most passed deadlines of any indicator: columns at_1 … at_<passed> of the facts pass
    ceased_args: list
    rates_args: list
    words: int  # int8 words of an indicator mask
    successors: list[str] | None  # the successors re-aggregated (None: all)
    successors_args: list  # the successors pass's arrays (evaluation_sql.SUCCESSORS)
    alternatives: bool  # some pair has several candidate targets (_keys rank > 0)


def plan(
    catalog: Catalog, as_of: datetime, scope: list[str] | None, trend: TrendRule, rates_since: date | None = None
) -> Plan:
    today = local_day(as_of)
    chosen = [
        u
        for u in (catalog.units.values() if scope is None else (catalog.units[c] for c in scope if c in catalog.units))
        if u.valid_from <= today
    ]
    indicators = list(catalog.indicators.values())

    # Per indicator: the deadlines passed by today (over every target judged at any level), numbered from 1.
    levels = {u.level for u in chosen}
    judged = {
        (ind.code, level): catalog.judged_targets(ind, level, today) for ind in indicators for level in sorted(levels)
    }
    passed: dict[str, list[date]] = {}
    for ind in indicators:
        targets = [t for level in levels for t in judged[(ind.code, level)]]
        passed[ind.code] = sorted({m.deadline for t in targets for m in t.milestones if m.deadline < today})

    # Units sharing a level and an evaluation day share the calendar: one group number joins them
    # (a single-column join the planner estimates well, unlike the pair of columns).
    groups = {g: n for n, g in enumerate(sorted({(u.level, evaluation_day(u, as_of)) for u in chosen}))}
    units, keys, milestones = [], {}, []
    for u in chosen:
        day = evaluation_day(u, as_of)
        units.append(
            (
                u.code,
                u.level.value,
                u.valid_from,
                u.valid_to,
                day,
                cutoff(u, as_of),
                u.valid_to is None or u.valid_to >= today,
                groups[(u.level, day)],
            )
        )
    for (level, day), grp in groups.items():
        for ind in indicators:
            # One key per candidate target (rank 0 first); _progress keeps the one the unit stands worst against.
            for rank, target in enumerate(catalog.candidate_targets(ind, level, day)):
                if target.milestones:
                    own_set = catalog.target_sets.get(target.target_set)
                    starts = own_set.applies_from if own_set is not None else None
                    key = _key(grp, ind, level, day, rank, target, starts, passed, trend)
                    keys[(ind.code, level.value, day, rank)] = key
    # Outcomes: one per passed deadline of each target judged at the level and its set (milestone_outcomes
    # holds one outcome per unit, indicator, deadline and set).
    for ind in indicators:
        for level in sorted(levels):
            decided: set[tuple[date, str]] = set()
            for t in judged[(ind.code, level)]:
                for m in t.milestones:
                    code = ind.set_of(level, t, m)
                    if m.deadline < today and (m.deadline, code) not in decided:
                        decided.add((m.deadline, code))
                        milestones.append(
                            (
                                ind.code,
                                level.value,
                                m.deadline,
                                m.value,
                                m.comparator,
                                passed[ind.code].index(m.deadline) + 1,
                                cutoff_day(m, ind.cadence),
                                code,
                            )
                        )

    # Facts pass (every unit): per indicator the trend window start for as_of's day and, for each
    # passed deadline j, the window [start of the deadline's period, end of the deadline day) in which
    # the value in force at the deadline is normally found.
    most = max((len(v) for v in passed.values()), default=0)
    codes = [u[0] for u in units]
    trend_from = [start_of_day(trend_start(today, i.cadence.period, trend)) for i in indicators]
    # Reporting of active units is judged on each indicator's due period as of today.
    dues = [due_period(today, i.cadence) for i in indicators]
    due_from, due_to = [start_of_day(a) for a, _ in dues], [end_of_day(b) for _, b in dues]
    per_deadline: list[list[datetime | None]] = []
    for j in range(most):
        ends = [end_of_day(passed[i.code][j]) if j < len(passed[i.code]) else None for i in indicators]
        wins = [
            start_of_day(period_start(passed[i.code][j], i.cadence.period)) if j < len(passed[i.code]) else None
            for i in indicators
        ]
        per_deadline += [ends, wins]
    # Rows older than every window feed no aggregate of the pass: the cheapest filter skips them.
    earliest = min([*trend_from, *due_from, *(t for wins in per_deadline[1::2] for t in wins if t is not None)])
    facts_args: list = [[i.code for i in indicators], trend_from, as_of, earliest, due_from, due_to, *per_deadline]
    if scope is not None:
        facts_args.append(codes)
    # Units that ceased are evaluated on their last day: their trend windows end there.
    ceased = [u for u in units if not u[6]]
    ceased_args = (
        [[u[0] for u in ceased], [u[5] for u in ceased]]
        + [
            [start_of_day(trend_start(u[4], p, trend)) for u in ceased]
            for p in (Period.MONTHLY, Period.QUARTERLY, Period.YEARLY)
        ]
        + [[i.code for i in indicators], [PERIOD_MONTHS[i.cadence.period] for i in indicators]]
    )

    # Rates pass: month starts from the first of January of the horizon's year to the current month.
    # Quarters and years begin on month starts, so month number k (0-based) falls in period
    # k // months of its cadence; period p ends where month (p + 1) × months begins.
    horizon = rates_since if rates_since is not None else today - RATES_HORIZON
    first = date(horizon.year, 1, 1)
    month_starts = [first]
    while month_starts[-1] < period_start(today, Period.MONTHLY):
        month_starts.append(shift_periods(month_starts[-1], Period.MONTHLY, 1))
    periods = []
    for p in Period:
        n = PERIOD_MONTHS[p]
        for number in range(len(month_starts) // n + 1):
            start = shift_periods(first, Period.MONTHLY, number * n)
            end = period_end(start, p)
            if horizon <= end < today:
                periods.append((p.value, n, number, start, end))

    # Each indicator is one bit of a mask made of int8 words (63 bits each, so every word stays positive).
    words = max(1, -(-len(indicators) // _WORD_BITS))
    position = {ind.code: divmod(n, _WORD_BITS) for n, ind in enumerate(indicators)}

    def mask(members: Collection[str]) -> list[int]:
        out = [0] * words
        for code in members:
            word, bit = position[code]
            out[word] |= 1 << bit
        return out

    level_cadences = []
    for level in sorted(levels):
        for p in Period:
            members = {i.code for i in indicators if i.cadence.period is p and level in i.applies_to}
            if members:
                level_cadences.append((level.value, PERIOD_MONTHS[p], len(members), mask(members)))
    rates_args = (
        [
            [i.code for i in indicators],
            [PERIOD_MONTHS[i.cadence.period] for i in indicators],
            [timedelta(days=i.cadence.timely_days) for i in indicators],
            [start_of_day(s) for s in month_starts],
        ]
        + [[mask({i.code})[w] for i in indicators] for w in range(words)]
        + ([codes] if scope is not None else [])
    )

    links = successor_links(catalog.units)
    if scope is None:
        successors = None
    else:
        named = set(scope)
        successors = sorted({ln.successor for ln in links if ln.predecessor in named})
        links = [ln for ln in links if ln.successor in successors]
    rows: dict[str, list[tuple]] = {
        "_units": units,
        "_keys": list(keys.values()),
        "_milestones": milestones,
        "_periods": periods,
        "_level_cadences": level_cadences,
        "_indicators": [(i.code, i.measure.value, _TRUNC[i.cadence.period], bool(i.categories)) for i in indicators],
    }
    return Plan(
        rows=rows,
        facts_args=facts_args,
        ceased_args=ceased_args,
        passed=most,
        rates_args=rates_args,
        words=words,
        successors=successors,
        successors_args=[
            [ln.predecessor for ln in links],
            [ln.successor for ln in links],
            [ln.partial for ln in links],
            [i.code for i in indicators],
            [i.measure.value for i in indicators],
            [_TRUNC[i.cadence.period] for i in indicators],
        ],
        alternatives=any(rank > 0 for (_, _, _, rank) in keys),
    )


def _key(
    grp: int,
    ind: Indicator,
    level: Level,
    day: date,
    rank: int,
    target: Target,
    set_starts: date | None,
    passed: dict[str, list[date]],
    trend: TrendRule,
) -> tuple:
    """A row of ``_keys``: the calendar of ``target`` for the indicator at ``level`` on ``day``; a target off
    the programme's path without a start of its own glides from the unit's value when its set began
    (``dxmon.progress.evaluate``, ``own_from``)."""
    path = target is ind.target_for(level)
    cal = calendar(target, ind.measure, ind.direction, ind.cadence, day, trend)
    last = target.milestones[-1]
    up = cal.upcoming
    # Past NQ 09's end the path restarts from the unit's outcome then (dxmon.progress.restart_day).
    restart = restart_day(ind, level) if path else None
    if up is None or cal.anchor is None or cal.anchor.day != restart or ind.measure is Measure.BOOLEAN:
        restart = None
    shown = up or last
    read = next((m for m in target.milestones if m.deadline == restart), last)
    return (
        grp,
        ind.code,
        level.value,
        day,
        rank,
        ind.pillar.value,
        ind.measure.value,
        ind.direction.value,
        PERIOD_MONTHS[ind.cadence.period],
        ind.cadence.grace_days,
        ind.cadence.timely_days,
        last.deadline,
        last.value,
        last.comparator,
        passed[ind.code].index(last.deadline) + 1 if last.deadline in passed[ind.code] else None,
        up.deadline if up else None,
        up.value if up else None,
        up.comparator if up else None,
        epoch_days(end_of_day(up.deadline)) if up else None,
        cal.anchor.day if cal.anchor else None,
        cal.anchor.value if cal.anchor else None,
        cal.expected,
        cal.due_start,
        cal.due_end,
        restart,
        start_of_day(period_start(restart, ind.cadence.period)) if restart is not None else None,
        ind.set_of(level, target, shown),
        None if path or set_starts is None else start_of_day(set_starts),
        # The set of the outcome _progress reads: the restart milestone's, else the last milestone's.
        ind.set_of(level, target, read),
    )
