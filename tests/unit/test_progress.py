"""Tests for dxmon.progress: the status matrix (one labelled row per case) and properties of the math."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta
from math import isclose

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dxmon.catalog import Baseline, Cadence, Catalog, Direction, Level, Measure, Milestone, Period, Target, Unit
from dxmon.contracts import LOCAL_TZ, end_of_local_day
from dxmon.progress import (
    REPORTING_LABELS,
    STATUS_LABELS,
    STATUS_RANK,
    Anchor,
    Outcome,
    Part,
    Point,
    Received,
    Reporting,
    Status,
    Tolerance,
    TrendRule,
    due_period,
    evaluate,
    evaluate_judged,
    glide_path,
    official_outcome,
    on_time,
    outcomes,
    overdue_since,
    restart_day,
    rollup,
    satisfies,
    successor_links,
)

MONTHLY = Cadence(Period.MONTHLY, timely_days=5, grace_days=10, inferred=True)
QUARTERLY = Cadence(Period.QUARTERLY, timely_days=15, grace_days=30, inferred=True)
MID_JULY = datetime(2025, 7, 15, 12, 0, tzinfo=LOCAL_TZ)
AFTER_2025 = datetime(2026, 1, 20, 12, 0, tzinfo=LOCAL_TZ)


def milestone(deadline: str, value: float, comparator: str = ">=") -> Milestone:
    return Milestone(date.fromisoformat(deadline), value, comparator, ("TEST",), True)


def target(*milestones: Milestone, baseline: tuple[str, float] | None = ("2024-12-31", 40.0)) -> Target:
    base = Baseline(baseline[1], date.fromisoformat(baseline[0]), ("TEST",), True) if baseline else None
    return Target("T-01", base, tuple(milestones), frozenset(Level))


RATIO_2025_2030 = target(milestone("2025-12-31", 80), milestone("2030-12-31", 100))
RATIO_2025_ONLY = target(milestone("2025-12-31", 80))
RANK_TOP3 = target(milestone("2025-12-31", 3, "<="), baseline=("2024-12-31", 10))
COUNT_500 = target(milestone("2025-12-31", 500), baseline=("2024-12-31", 100))
BOOLEAN_2025 = target(milestone("2025-12-31", 1.0, "=="), baseline=None)
NO_BASELINE = target(milestone("2025-12-31", 80), baseline=None)
BASELINE_ABOVE = target(milestone("2025-12-31", 80), baseline=("2025-06-30", 98.7))

COMMUNE = Unit("QN-X-TEST", "Xã Thử", Level.COMMUNE, "xa", "QN", date(2022, 1, 1), None, (), frozenset(), None)
CEASED = Unit(
    "QN-X-OLD", "Xã Cũ", Level.COMMUNE, "xa", "QN", date(2022, 1, 1), date(2025, 6, 30), (), frozenset(), None
)


def month_end(year: int, month: int) -> date:
    return date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)


def monthly(*values: float, last: str = "2025-06") -> list[Point]:
    """One point per month at the month's end, the last one in month ``last`` (YYYY-MM)."""
    year, month = map(int, last.split("-"))
    index = year * 12 + month - 1  # months since year 0 of the last point
    first = index - len(values) + 1
    return [
        Point(end_of_local_day(month_end((first + k) // 12, (first + k) % 12 + 1)), v) for k, v in enumerate(values)
    ]


def run(
    tgt: Target,
    points: list[Point],
    *,
    as_of: datetime = MID_JULY,
    measure: Measure = Measure.RATIO,
    direction: Direction = Direction.HIGHER_IS_BETTER,
    unit: Unit = COMMUNE,
    cadence: Cadence = MONTHLY,
):
    return evaluate(
        target=tgt,
        measure=measure,
        direction=direction,
        cadence=cadence,
        unit=unit,
        points=points,
        as_of=as_of,
        tolerance=Tolerance(points=5.0, relative=0.05),
        trend=TrendRule(6, 3),
    )


# Expected value in mid-July 2025 on the 40 → 80 path (2024-12-31 → 2025-12-31): 40 + 40 × 196/365.
EXPECTED_MID_JULY = 40 + 40 * 196 / 365


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        # The June value already satisfies the 2025 milestone.
        pytest.param(dict(tgt=RATIO_2025_2030, points=monthly(70, 75, 82)), Status.MET, id="met-current-value"),
        # On the path and rising fast enough to reach 80 by December.
        pytest.param(
            dict(tgt=RATIO_2025_2030, points=monthly(45, 49, 52, 56, 59, 63)),
            Status.ON_TRACK,
            id="on-track-on-path-and-trend",
        ),
        # June's 54 is 5.8 points below where the path stood on 30 June (59.8): beyond the 5-point tolerance.
        pytest.param(
            dict(tgt=RATIO_2025_2030, points=monthly(50, 52, 54)), Status.BEHIND, id="behind-beyond-tolerance"
        ),
        # June's 55 is 6.5 points below today's path (61.5) but only 4.8 below June's: not behind on it.
        pytest.param(
            dict(tgt=RATIO_2025_2030, points=monthly(54, 55, 55)),
            Status.AT_RISK,
            id="judged-against-the-path-on-its-own-day",
        ),
        # 57 is 4.5 points below: within tolerance, and the steep trend reaches the target.
        pytest.param(
            dict(tgt=RATIO_2025_2030, points=monthly(30, 36, 42, 48, 53, 57)),
            Status.ON_TRACK,
            id="within-tolerance-not-behind",
        ),
        # On the path today, but flat: the trend reaches ~62 by December, not 80.
        pytest.param(
            dict(tgt=RATIO_2025_2030, points=monthly(61, 61.5, 62, 61.8, 62, 62)),
            Status.AT_RISK,
            id="at-risk-flat-trend",
        ),
        # Two points are not a trend (min_points = 3).
        pytest.param(
            dict(tgt=RATIO_2025_2030, points=monthly(62, 62)), Status.ON_TRACK, id="no-trend-below-min-points"
        ),
        # No June report by July 11: the result is judged on the value in force (reporting is missing).
        pytest.param(
            dict(tgt=RATIO_2025_2030, points=monthly(70, 75, last="2025-05")),
            Status.ON_TRACK,
            id="stale-value-still-judged",
        ),
        # On July 8 June is still within its grace: May was the period due.
        pytest.param(
            dict(
                tgt=RATIO_2025_2030, points=monthly(58, 60, last="2025-05"), as_of=datetime(2025, 7, 8, tzinfo=LOCAL_TZ)
            ),
            Status.ON_TRACK,
            id="not-overdue-within-grace",
        ),
        pytest.param(dict(tgt=RATIO_2025_2030, points=[]), Status.NO_DATA, id="no-data-never-reported"),
        # Every milestone passed: the outcome of the last one is final.
        pytest.param(
            dict(tgt=RATIO_2025_ONLY, points=monthly(60, 65, 70, last="2025-12"), as_of=AFTER_2025),
            Status.MISSED,
            id="missed-final-milestone",
        ),
        pytest.param(
            dict(tgt=RATIO_2025_ONLY, points=monthly(70, 80, 85, last="2025-12"), as_of=AFTER_2025),
            Status.EXCEEDED,
            id="exceeded-final-milestone",
        ),
        pytest.param(
            dict(tgt=RATIO_2025_ONLY, points=monthly(70, 75, 80, last="2025-12"), as_of=AFTER_2025),
            Status.MET,
            id="met-final-milestone-exactly",
        ),
        # No value in force at the deadline is a miss, even if one came later.
        pytest.param(
            dict(tgt=RATIO_2025_ONLY, points=monthly(90, last="2026-01"), as_of=datetime(2026, 2, 5, tzinfo=LOCAL_TZ)),
            Status.MISSED,
            id="missed-nothing-in-force-at-deadline",
        ),
        # 2025 passed; evaluation continues on the 80 → 100 path towards 2030.
        pytest.param(
            dict(tgt=RATIO_2025_2030, points=monthly(84, 85, last="2025-12"), as_of=AFTER_2025),
            Status.ON_TRACK,
            id="next-milestone-after-2025",
        ),
        pytest.param(
            dict(tgt=RATIO_2025_2030, points=monthly(70, 72, last="2025-12"), as_of=AFTER_2025),
            Status.BEHIND,
            id="behind-next-segment",
        ),
        # Rank 3 or better by 2025 from rank 10: expected 6.2 in July, tolerance 5 % of it.
        pytest.param(
            dict(tgt=RANK_TOP3, points=monthly(8, 7), measure=Measure.RANK, direction=Direction.LOWER_IS_BETTER),
            Status.BEHIND,
            id="lower-is-better-behind",
        ),
        pytest.param(
            dict(
                tgt=RANK_TOP3,
                points=monthly(9, 8, 7, 6, 5, 4),
                measure=Measure.RANK,
                direction=Direction.LOWER_IS_BETTER,
            ),
            Status.ON_TRACK,
            id="lower-is-better-on-track",
        ),
        pytest.param(
            dict(tgt=RANK_TOP3, points=monthly(5, 3), measure=Measure.RANK, direction=Direction.LOWER_IS_BETTER),
            Status.MET,
            id="lower-is-better-met",
        ),
        pytest.param(
            dict(
                tgt=RANK_TOP3,
                points=monthly(6, 6, 6, 6, 6, 6),
                measure=Measure.RANK,
                direction=Direction.LOWER_IS_BETTER,
            ),
            Status.AT_RISK,
            id="lower-is-better-at-risk",
        ),
        pytest.param(
            dict(
                tgt=RANK_TOP3,
                points=monthly(5, 4, last="2025-12"),
                measure=Measure.RANK,
                direction=Direction.LOWER_IS_BETTER,
                as_of=AFTER_2025,
            ),
            Status.MISSED,
            id="lower-is-better-missed",
        ),
        pytest.param(
            dict(
                tgt=RANK_TOP3,
                points=monthly(4, 3, last="2025-12"),
                measure=Measure.RANK,
                direction=Direction.LOWER_IS_BETTER,
                as_of=AFTER_2025,
            ),
            Status.MET,
            id="lower-is-better-met-final",
        ),
        pytest.param(
            dict(
                tgt=RANK_TOP3,
                points=monthly(4, 2, last="2025-12"),
                measure=Measure.RANK,
                direction=Direction.LOWER_IS_BETTER,
                as_of=AFTER_2025,
            ),
            Status.EXCEEDED,
            id="lower-is-better-exceeded-final",
        ),
        # Met but late: the result stays met (reporting says missing, see test_reporting_matrix).
        pytest.param(
            dict(
                tgt=RANK_TOP3,
                points=monthly(2, last="2025-05"),
                measure=Measure.RANK,
                direction=Direction.LOWER_IS_BETTER,
            ),
            Status.MET,
            id="lower-is-better-met-stale",
        ),
        pytest.param(
            dict(tgt=RANK_TOP3, points=[], measure=Measure.RANK, direction=Direction.LOWER_IS_BETTER),
            Status.NO_DATA,
            id="lower-is-better-no-data",
        ),
        # Counts use the relative tolerance: on 30 June the path stands at 298.4, 5 % of it is 14.9.
        pytest.param(
            dict(tgt=COUNT_500, points=monthly(270, 280), measure=Measure.COUNT),
            Status.BEHIND,
            id="count-behind-relative-tolerance",
        ),
        pytest.param(
            dict(tgt=COUNT_500, points=monthly(300, 305), measure=Measure.COUNT),
            Status.ON_TRACK,
            id="count-within-relative-tolerance",
        ),
        pytest.param(
            dict(tgt=BOOLEAN_2025, points=monthly(0, 0), measure=Measure.BOOLEAN), Status.AT_RISK, id="boolean-not-yet"
        ),
        pytest.param(
            dict(tgt=BOOLEAN_2025, points=monthly(0, 1), measure=Measure.BOOLEAN), Status.MET, id="boolean-met"
        ),
        # Without a baseline the unit's own first value (40 in January) starts the path.
        pytest.param(
            dict(tgt=NO_BASELINE, points=monthly(40, 41, 42, 43, 44, 45)),
            Status.BEHIND,
            id="own-first-value-starts-the-path",
        ),
        # A baseline above the target does not raise the bar: expected is capped at 80.
        pytest.param(
            dict(tgt=BASELINE_ABOVE, points=monthly(76, 76, 77, 78, 79, 80, last="2025-06")),
            Status.MET,
            id="baseline-above-target-capped",
        ),
        pytest.param(
            dict(tgt=BASELINE_ABOVE, points=monthly(70, 70, 70, 70, 70, 70)),
            Status.BEHIND,
            id="baseline-above-target-behind-target",
        ),
        # A unit that ceased on 2025-06-30 is judged on that day: expected 59.8, value 50.
        pytest.param(
            dict(tgt=RATIO_2025_2030, points=monthly(48, 49, 50), unit=CEASED, as_of=AFTER_2025),
            Status.BEHIND,
            id="ceased-unit-judged-on-its-last-day",
        ),
        # Quarterly cadence: on 2025-07-15 the due quarter is Q1 (Q2's grace runs to July 30).
        pytest.param(
            dict(tgt=RATIO_2025_2030, points=monthly(62, last="2025-03"), cadence=QUARTERLY),
            Status.ON_TRACK,
            id="quarterly-not-yet-due",
        ),
        pytest.param(
            dict(tgt=RATIO_2025_2030, points=monthly(62, last="2024-12"), cadence=QUARTERLY),
            Status.ON_TRACK,
            id="quarterly-stale-value-still-judged",
        ),
    ],
)
def test_status_matrix(kwargs: dict, status: Status) -> None:
    assert run(**kwargs).status == status


def test_overdue_since_is_the_day_after_the_first_missed_grace() -> None:
    ev = run(RATIO_2025_2030, monthly(70, 75, last="2025-05"))
    assert ev.overdue_since == date(2025, 7, 11)  # June 30 + 10 days of grace + 1


def test_expected_value_follows_the_glide_path() -> None:
    ev = run(RATIO_2025_2030, monthly(62))
    assert isclose(ev.expected, EXPECTED_MID_JULY)
    assert (ev.target, ev.milestone, ev.baseline) == (80, date(2025, 12, 31), Anchor(date(2024, 12, 31), 40))


def test_after_a_milestone_the_path_starts_from_it() -> None:
    ev = run(RATIO_2025_2030, monthly(84, last="2025-12"), as_of=AFTER_2025)
    assert ev.baseline == Anchor(date(2025, 12, 31), 80)
    assert ev.milestone == date(2030, 12, 31)
    assert isclose(ev.expected, 80 + 20 * 20 / (date(2030, 12, 31) - date(2025, 12, 31)).days)


def test_past_nq09_the_path_restarts_from_the_units_own_2025_value(catalog) -> None:
    # DG-14 for communes: NQ 09's 2025 milestone, continued to 2030 by NQ09-2030 (no baseline there).
    ind = catalog.indicators["DG-14"]
    restart = restart_day(ind, Level.COMMUNE)
    assert restart == date(2025, 12, 31)
    path = ind.target_for(Level.COMMUNE)
    reached = monthly(45, 52, last="2025-12")  # NQ 09 asked for 60 by 2025
    ev = evaluate(
        target=path,
        measure=ind.measure,
        direction=ind.direction,
        cadence=ind.cadence,
        unit=COMMUNE,
        points=reached,
        as_of=AFTER_2025,
        restart=restart,
    )
    end = path.milestones[-1]
    assert ev.baseline == Anchor(restart, 52)  # what the commune reached, not the 2025 target
    on_path = glide_path(Anchor(restart, 52), end, ev.day, ind.direction)
    assert ev.expected is not None and on_path is not None
    assert isclose(ev.expected, on_path)
    # Without the restart the path would start from the 2025 target and ask for far more.
    plain = evaluate(
        target=path,
        measure=ind.measure,
        direction=ind.direction,
        cadence=ind.cadence,
        unit=COMMUNE,
        points=reached,
        as_of=AFTER_2025,
    )
    assert plain.baseline is not None and plain.expected is not None
    assert plain.baseline.value == path.milestones[-2].value and plain.expected > ev.expected
    # A unit with no value by the end of 2025 keeps the target's path.
    late = evaluate(
        target=path,
        measure=ind.measure,
        direction=ind.direction,
        cadence=ind.cadence,
        unit=COMMUNE,
        points=monthly(70, last="2026-01"),
        as_of=datetime(2026, 2, 20, tzinfo=LOCAL_TZ),
        restart=restart,
    )
    assert late.baseline == plain.baseline


def test_restart_day_is_none_where_nq09_is_not_continued_or_the_new_set_has_a_baseline(catalog) -> None:
    continued = {(c, lv) for c, i in catalog.indicators.items() for lv in i.applies_to if restart_day(i, lv)}
    assert ("DG-14", Level.COMMUNE) in continued
    for code, level in continued:  # every restart is NQ 09's last deadline, before a later milestone
        path = catalog.indicators[code].target_for(level)
        assert path.milestones[-1].deadline > restart_day(catalog.indicators[code], level)
    assert restart_day(catalog.indicators["DG-03"], Level.PROVINCE) is None  # 2023 only: nothing continues it
    with_base = dataclasses.replace(
        catalog.indicators["DG-14"],
        all_targets=tuple(
            dataclasses.replace(t, baseline=Baseline(90.0, date(2025, 12, 31), ("TEST",), True))
            if t.target_set == "NQ09-2030"
            else t
            for t in catalog.indicators["DG-14"].all_targets
        ),
    )
    assert restart_day(with_base, Level.COMMUNE) is None


def test_points_after_as_of_or_after_the_unit_ceased_are_ignored() -> None:
    later = monthly(99, last="2025-08")
    assert run(RATIO_2025_2030, monthly(50, last="2025-06") + later).value == 50
    assert run(RATIO_2025_2030, monthly(50, last="2025-06") + later, unit=CEASED, as_of=AFTER_2025).value == 50


def test_outcomes_for_passed_milestones_while_the_unit_was_valid() -> None:
    points = monthly(70, 79.5, last="2025-12") + monthly(90, last="2026-01")
    result = outcomes(RATIO_2025_2030, COMMUNE, points, AFTER_2025)
    assert [(o.milestone.deadline, o.status, o.value) for o in result] == [(date(2025, 12, 31), Status.MISSED, 79.5)]
    # A unit that ceased before the deadline gets no outcome for it.
    assert outcomes(RATIO_2025_2030, CEASED, points, AFTER_2025) == []


def test_on_time_is_period_end_plus_timely_days() -> None:
    assert on_time(datetime(2025, 7, 5, 23, 59, tzinfo=LOCAL_TZ), date(2025, 6, 1), MONTHLY)
    assert not on_time(datetime(2025, 7, 6, 0, 0, tzinfo=LOCAL_TZ), date(2025, 6, 1), MONTHLY)


@pytest.mark.parametrize(
    ("day", "cadence", "due"),
    [
        pytest.param("2025-07-11", MONTHLY, ("2025-06-01", "2025-06-30"), id="monthly-june-due-after-grace"),
        pytest.param("2025-07-10", MONTHLY, ("2025-05-01", "2025-05-31"), id="monthly-last-day-of-grace"),
        pytest.param("2025-07-31", QUARTERLY, ("2025-04-01", "2025-06-30"), id="quarterly-q2"),
        pytest.param("2025-07-30", QUARTERLY, ("2025-01-01", "2025-03-31"), id="quarterly-q2-in-grace"),
        pytest.param("2026-04-01", Cadence(Period.YEARLY, 60, 90, True), ("2025-01-01", "2025-12-31"), id="yearly"),
    ],
)
def test_due_period(day: str, cadence: Cadence, due: tuple[str, str]) -> None:
    assert due_period(date.fromisoformat(day), cadence) == tuple(date.fromisoformat(d) for d in due)


def test_every_status_has_a_vietnamese_label() -> None:
    assert set(STATUS_LABELS) == set(Status)
    assert set(REPORTING_LABELS) == set(Reporting)
    assert STATUS_LABELS[Status.BEHIND] == "Chậm tiến độ"
    assert STATUS_LABELS[Status.EXCEEDED] == "Vượt"
    assert REPORTING_LABELS[Reporting.LATE] == "Trễ hạn"


def test_successor_links_follow_chains_and_mark_partial_takeovers() -> None:
    def unit(code: str, successors: tuple[str, ...] = (), partial: frozenset[str] = frozenset()) -> Unit:
        return Unit(code, code, Level.COMMUNE, "xa", "QN", date(2022, 1, 1), None, successors, partial, None)

    units = {
        u.code: u
        for u in [
            unit("A", ("B",)),
            unit("B", ("D",)),
            unit("C", ("D", "E"), frozenset({"D", "E"})),
            unit("D"),
            unit("E"),
            unit("F", ("D", "B"), frozenset({"D"})),
        ]
    }
    links = {(ln.predecessor, ln.successor): ln.partial for ln in successor_links(units)}
    assert links == {
        ("A", "B"): False,
        ("A", "D"): False,
        ("B", "D"): False,
        ("C", "D"): True,
        ("C", "E"): True,
        # F reaches D partially directly, but fully through B: the full way wins.
        ("F", "B"): False,
        ("F", "D"): False,
    }


# ───────────────────────────── properties ─────────────────────────────

values = st.floats(min_value=0, max_value=100, allow_nan=False, allow_infinity=False)
months_back = st.lists(values, min_size=1, max_size=8)


@settings(max_examples=300, deadline=None)
@given(history=months_back, better=st.floats(min_value=0, max_value=50))
def test_a_better_latest_value_never_gives_a_worse_status(history: list[float], better: float) -> None:
    base = run(RATIO_2025_2030, monthly(*history))
    improved = run(RATIO_2025_2030, monthly(*history[:-1], history[-1] + better))
    assume(base.status in STATUS_RANK)
    assert STATUS_RANK[improved.status] >= STATUS_RANK[base.status]


def mirrored(t: Target) -> Target:
    flip = {">=": "<=", ">": "<", "<=": ">=", "<": ">", "==": "=="}
    base = t.baseline
    return Target(
        t.indicator,
        Baseline(-base.value, base.date, base.source, base.inferred) if base else None,
        tuple(Milestone(m.deadline, -m.value, flip[m.comparator], m.source, m.inferred) for m in t.milestones),
        t.applies_to,
    )


@settings(max_examples=300, deadline=None)
@given(
    history=months_back,
    measure=st.sampled_from([Measure.RATIO, Measure.COUNT]),
    as_of=st.sampled_from([MID_JULY, datetime(2025, 7, 5, tzinfo=LOCAL_TZ), AFTER_2025]),
)
def test_mirroring_values_and_direction_gives_the_same_status(
    history: list[float], measure: Measure, as_of: datetime
) -> None:
    up = run(RATIO_2025_2030, monthly(*history), measure=measure, as_of=as_of)
    down = run(
        mirrored(RATIO_2025_2030),
        monthly(*(-v for v in history)),
        measure=measure,
        as_of=as_of,
        direction=Direction.LOWER_IS_BETTER,
    )
    assert up.status == down.status
    assert isclose(up.expected, -down.expected, abs_tol=1e-9)


parts = st.lists(
    st.tuples(st.integers(0, 10_000), st.integers(1, 10_000)).map(lambda nd: Part(None, min(nd), max(nd))),
    min_size=1,
    max_size=20,
)


@given(parts=parts, split=st.integers(min_value=0, max_value=20))
def test_ratio_rollup_is_the_sum_of_parts(parts: list[Part], split: int) -> None:
    whole = rollup(parts, Measure.RATIO)
    assert whole is not None and whole.value is not None
    assert whole.numerator is not None and whole.denominator is not None
    numerators = [p.numerator for p in parts if p.numerator is not None]
    denominators = [p.denominator for p in parts if p.denominator is not None]
    assert len(numerators) == len(denominators) == len(parts)  # the strategy sets both on every part
    assert whole.numerator == sum(numerators)
    assert whole.denominator == sum(denominators)
    assert isclose(whole.value, 100 * whole.numerator / whole.denominator)
    # Rolling up rollups of any split gives the same whole (never an average of percentages).
    halves = [r for r in (rollup(parts[:split], Measure.RATIO), rollup(parts[split:], Measure.RATIO)) if r]
    assert rollup(halves, Measure.RATIO) == whole


@given(counts=st.lists(st.integers(0, 10**6), min_size=1, max_size=20))
def test_count_rollup_is_the_sum_and_percent_has_none(counts: list[int]) -> None:
    whole = rollup([Part(float(c)) for c in counts], Measure.COUNT)
    assert whole is not None and whole.value == sum(counts)
    assert rollup([Part(float(c)) for c in counts], Measure.PERCENT) is None


def test_average_of_percentages_is_not_the_rollup() -> None:
    whole = rollup([Part(None, 1, 1), Part(None, 10, 100)], Measure.RATIO)
    assert whole is not None and whole.value is not None
    assert isclose(whole.value, 100 * 11 / 101)  # not (100 % + 10 %) / 2


days = st.integers(min_value=1, max_value=3000)


@given(start=values, end=values, span=days, direction=st.sampled_from(list(Direction)))
def test_glide_path_endpoints_are_baseline_and_target(
    start: float, end: float, span: int, direction: Direction
) -> None:
    first = date(2024, 12, 31)
    m = Milestone(first + timedelta(days=span), end, ">=", ("TEST",), True)
    anchor = Anchor(first, start)
    # The path is never stricter than the target, so it starts at the baseline unless that is better.
    better = start > end if direction == Direction.HIGHER_IS_BETTER else start < end
    assert glide_path(anchor, m, first, direction) == (end if better else start)
    at_deadline = glide_path(anchor, m, m.deadline, direction)
    assert at_deadline is not None and isclose(at_deadline, end)
    assert glide_path(anchor, m, first - timedelta(days=30), direction) == glide_path(anchor, m, first, direction)


@given(start=values, end=values, span=days, d1=days, d2=days)
def test_glide_path_moves_monotonically_towards_the_target(
    start: float, end: float, span: int, d1: int, d2: int
) -> None:
    first = date(2024, 12, 31)
    m = Milestone(first + timedelta(days=span), end, ">=", ("TEST",), True)
    early, late = sorted((d1, d2))
    a = glide_path(Anchor(first, start), m, first + timedelta(days=min(early, span)), Direction.HIGHER_IS_BETTER)
    b = glide_path(Anchor(first, start), m, first + timedelta(days=min(late, span)), Direction.HIGHER_IS_BETTER)
    assert a is not None and b is not None
    assert (b - a) * (end - start) >= -1e-9


@given(v=values, t=values)
def test_comparators(v: float, t: float) -> None:
    assert satisfies(v, ">=", t) == (not satisfies(v, "<", t))
    assert satisfies(v, "<=", t) == (not satisfies(v, ">", t))
    assert satisfies(v, "==", t) == (satisfies(v, ">=", t) and satisfies(v, "<=", t))


def test_overdue_since_ignores_periods_before_the_unit_existed() -> None:
    new_unit_from = date(2025, 7, 1)
    # On 2025-07-20 June is due, but a unit created on July 1 was not expected to report June.
    assert overdue_since(date(2025, 7, 5), date(2025, 7, 20), MONTHLY, new_unit_from) is None


def received(points: list[Point], days_after: int) -> list[Point]:
    """The same values, each period's first (and only) report received ``days_after`` its period end."""
    return [
        Point(
            p.observed_at,
            p.value,
            p.observed_at + timedelta(days=days_after),
            p.observed_at + timedelta(days=days_after),
        )
        for p in points
    ]


@pytest.mark.parametrize(
    ("kwargs", "reporting"),
    [
        pytest.param(
            dict(tgt=RATIO_2025_2030, points=received(monthly(70, 75, last="2025-05"), 2)),
            Reporting.MISSING,
            id="missing-after-grace",
        ),
        # June (due on July 15) came 8 days after its end: after the 5 timely days.
        pytest.param(
            dict(tgt=RATIO_2025_2030, points=received(monthly(70, 75, last="2025-06"), 8)),
            Reporting.LATE,
            id="late-after-timely-days",
        ),
        pytest.param(
            dict(tgt=RATIO_2025_2030, points=received(monthly(70, 75, last="2025-06"), 3)),
            Reporting.ON_TIME,
            id="on-time",
        ),
        # June is not due yet on July 8; May was due and came on time.
        pytest.param(
            dict(
                tgt=RATIO_2025_2030,
                points=received(monthly(70, last="2025-05"), 1),
                as_of=datetime(2025, 7, 8, tzinfo=LOCAL_TZ),
            ),
            Reporting.ON_TIME,
            id="within-grace",
        ),
        pytest.param(dict(tgt=RATIO_2025_2030, points=[]), None, id="never-reported-is-no-data-not-missing"),
        pytest.param(
            dict(
                tgt=RANK_TOP3,
                points=received(monthly(2, last="2025-05"), 1),
                measure=Measure.RANK,
                direction=Direction.LOWER_IS_BETTER,
            ),
            Reporting.MISSING,
            id="met-but-missing",
        ),
    ],
)
def test_reporting_matrix(kwargs: dict, reporting: Reporting | None) -> None:
    assert run(**kwargs).reporting == reporting


def at(day: str, hour: int = 12) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=LOCAL_TZ)


def test_year_end_outcome_is_provisional_until_the_cut_off_then_final() -> None:
    """DG-04-like: November at 78 %, December's 82 % arrives on 10 January within the grace."""
    nov = Point(end_of_local_day(date(2025, 11, 30)), 78.0, at("2025-12-03"), at("2025-12-03"))
    dec = Point(end_of_local_day(date(2025, 12, 31)), 82.0, at("2026-01-10"), at("2026-01-10"))
    history = [
        Received(nov.observed_at, 78.0, at("2025-12-03"), 1),
        Received(dec.observed_at, 82.0, at("2026-01-10"), 2),
    ]
    # 3 January: the deadline passed, December has not arrived — provisional, from what is in force.
    early = run(RATIO_2025_ONLY, [nov], as_of=at("2026-01-03"))
    assert (early.status, early.provisional, early.final, early.cutoff) == (
        Status.MISSED,
        True,
        False,
        date(2026, 1, 10),
    )
    # 10 January (the cut-off day): December counts; still provisional.
    on_cutoff = run(RATIO_2025_ONLY, [nov, dec], as_of=at("2026-01-10", 20))
    assert (on_cutoff.status, on_cutoff.provisional) == (Status.EXCEEDED, True)
    # 11 January: final, decided by December's 82 %.
    final = evaluate(
        target=RATIO_2025_ONLY,
        measure=Measure.RATIO,
        direction=Direction.HIGHER_IS_BETTER,
        cadence=MONTHLY,
        unit=COMMUNE,
        points=[nov, dec],
        as_of=at("2026-01-11"),
        received=history,
    )
    assert (final.status, final.final, final.deciding_value) == (Status.EXCEEDED, True, 82.0)


def test_a_correction_received_after_the_cut_off_never_decides() -> None:
    dec_obs = end_of_local_day(date(2025, 12, 31))
    history = [Received(dec_obs, 82.0, at("2026-01-05"), 1), Received(dec_obs, 70.0, at("2026-02-01"), 2)]
    in_force_now = [Point(dec_obs, 70.0, at("2026-01-05"), at("2026-02-01"))]
    ev = evaluate(
        target=RATIO_2025_ONLY,
        measure=Measure.RATIO,
        direction=Direction.HIGHER_IS_BETTER,
        cadence=MONTHLY,
        unit=COMMUNE,
        points=in_force_now,
        as_of=at("2026-03-01"),
        received=history,
    )
    assert (ev.status, ev.final, ev.deciding_value, ev.value) == (Status.EXCEEDED, True, 82.0, 70.0)


def test_official_outcome_takes_each_periods_latest_receipt_by_the_cut_off() -> None:
    m = milestone("2025-12-31", 80)
    obs = end_of_local_day(date(2025, 12, 31))
    mid = datetime(2025, 12, 15, tzinfo=LOCAL_TZ)  # another instant in the same month: the same period
    rows = [
        Received(obs, 85.0, at("2026-01-02"), 1),
        Received(mid, 75.0, at("2026-01-04"), 2),
        Received(obs, 99.0, at("2026-01-12"), 3),
    ]
    o = official_outcome(rows, m, date(2026, 1, 10), MONTHLY)
    assert (o.status, o.value) == (Status.MISSED, 75.0)  # the later receipt of December wins, whatever its instant
    # A set's own cut-off date can be later than deadline + grace.
    assert official_outcome(rows, m, date(2026, 1, 20), MONTHLY).value == 99.0
    # Nothing received by the cut-off: missed, with no deciding value.
    assert official_outcome(rows, m, date(2026, 1, 1), MONTHLY) == Outcome(m, Status.MISSED, None, None)


def test_outcomes_are_final_after_the_cut_off() -> None:
    points = monthly(70, 79.5, last="2025-12")
    [provisional] = outcomes(RATIO_2025_2030, COMMUNE, points, at("2026-01-05"), MONTHLY)
    [final] = outcomes(RATIO_2025_2030, COMMUNE, points, at("2026-01-20"), MONTHLY)
    assert provisional.status == final.status == Status.MISSED


def test_a_unit_is_shown_against_the_target_it_stands_worst_against() -> None:
    catalog = Catalog.load()
    dg14 = catalog.indicators["DG-14"]
    commune = next(u for u in catalog.units.values() if u.level is Level.COMMUNE and u.valid_to is None)
    as_of = datetime(2026, 11, 20, 9, 0, tzinfo=LOCAL_TZ)
    # 80 % by the end of 2025, 85 % in October 2026: on the programme's path to 100 % by 2030, far
    # from CT2026-BCDTW's 100 % by the end of 2026.
    points = [
        Point(datetime(2025, 12, 31, 12, 0, tzinfo=LOCAL_TZ), 80.0),
        Point(datetime(2026, 10, 31, 12, 0, tzinfo=LOCAL_TZ), 85.0),
    ]
    judged = evaluate_judged(catalog, dg14, commune, points, as_of)
    assert judged is not None
    target, shown = judged
    assert target.target_set == "CT2026-BCDTW" and shown.status is Status.BEHIND
    assert (shown.target, shown.milestone) == (100.0, date(2026, 12, 31))
    path = dg14.target_for(Level.COMMUNE)
    assert path is not None
    alone = evaluate(
        target=path,
        measure=dg14.measure,
        direction=dg14.direction,
        cadence=dg14.cadence,
        unit=commune,
        points=points,
        as_of=as_of,
        restart=restart_day(dg14, Level.COMMUNE),
    )
    assert alone.status is Status.ON_TRACK  # what the programme's path alone would have shown
    # At 100 % every target is met: on a tie the nearest milestone is shown.
    met = evaluate_judged(
        catalog, dg14, commune, [*points, Point(datetime(2026, 11, 15, tzinfo=LOCAL_TZ), 100.0)], as_of
    )
    assert met is not None and met[0].target_set == "CT2026-BCDTW" and met[1].status is Status.MET


def test_a_later_sets_target_glides_from_what_the_unit_had_reached_when_the_set_began() -> None:
    # QĐ 749's 100 % by 2030 for a department's DG-14 gives no baseline: the path starts from the department's
    # value when the set began (its 2025 figure, the final value of NQ 09), not from its first figure ever.
    catalog = Catalog.load()
    dg14 = catalog.indicators["DG-14"]
    department = next(u for u in catalog.units.values() if u.level is Level.DEPARTMENT and u.valid_to is None)
    points = [
        Point(datetime(2024, 3, 31, 12, 0, tzinfo=LOCAL_TZ), 50.0),
        Point(datetime(2025, 12, 31, 12, 0, tzinfo=LOCAL_TZ), 91.0),
        Point(datetime(2026, 9, 30, 12, 0, tzinfo=LOCAL_TZ), 85.0),
    ]
    judged = evaluate_judged(catalog, dg14, department, points, datetime(2026, 11, 20, 9, 0, tzinfo=LOCAL_TZ))
    assert judged is not None
    target, ev = judged
    assert target.target_set == "QD749" and ev.baseline == Anchor(date(2025, 12, 31), 91.0)
    # 85 % in September 2026 is well below where it stood: behind (from 50 % in 2024 it would have been on track).
    assert ev.status is Status.BEHIND
    # With nothing before the set began, the first figure starts the path.
    later = evaluate_judged(catalog, dg14, department, points[2:], datetime(2026, 11, 20, 9, 0, tzinfo=LOCAL_TZ))
    assert later is not None and later[1].baseline == Anchor(date(2026, 9, 30), 85.0)
