"""Tests for dxmon.simulate: period ends and the generated reports, checked against the real contract and catalog."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter

from dxmon.catalog import Catalog, Level, Period
from dxmon.contracts import LOCAL_TZ, ReportIn, end_of_local_day
from dxmon.progress import Point, Reporting, Status, evaluate_judged, target_applies
from dxmon.simulate import SimulatedReport, generate, period_ends, profile_of
from dxmon.validation import check_report

START, END = date(2024, 7, 1), date(2025, 12, 31)  # spans the 2024-11 commune mergers and the 2025-07 reform


@pytest.fixture(scope="module")
def simulated(catalog: Catalog) -> list[SimulatedReport]:
    return generate(catalog, START, END, seed=7)


# ───────────────────────────── period_ends ─────────────────────────────


@pytest.mark.parametrize(
    ("start", "end", "period", "expected"),
    [
        pytest.param(
            "2025-01-01", "2025-03-31", Period.MONTHLY, ["2025-01-31", "2025-02-28", "2025-03-31"], id="monthly"
        ),
        pytest.param("2024-02-01", "2024-02-29", Period.MONTHLY, ["2024-02-29"], id="leap-february"),
        pytest.param("2025-01-31", "2025-02-27", Period.MONTHLY, ["2025-01-31"], id="start-on-month-end"),
        pytest.param("2025-02-01", "2025-02-27", Period.MONTHLY, [], id="end-before-month-end"),
        pytest.param(
            "2024-11-15", "2025-01-31", Period.MONTHLY, ["2024-11-30", "2024-12-31", "2025-01-31"], id="across-new-year"
        ),
        pytest.param(
            "2024-01-01",
            "2024-12-31",
            Period.QUARTERLY,
            ["2024-03-31", "2024-06-30", "2024-09-30", "2024-12-31"],
            id="quarterly",
        ),
        pytest.param("2024-04-01", "2024-06-29", Period.QUARTERLY, [], id="quarter-not-ended"),
        pytest.param(
            "2022-01-01",
            "2025-12-31",
            Period.YEARLY,
            ["2022-12-31", "2023-12-31", "2024-12-31", "2025-12-31"],
            id="yearly",
        ),
        pytest.param("2025-12-31", "2025-12-31", Period.YEARLY, ["2025-12-31"], id="single-day"),
        pytest.param("2025-12-31", "2025-01-01", Period.MONTHLY, [], id="empty-range"),
    ],
)
def test_period_ends(start: str, end: str, period: Period, expected: list[str]) -> None:
    got = period_ends(date.fromisoformat(start), date.fromisoformat(end), period)
    assert [d.isoformat() for d in got] == expected


@given(
    start=st.dates(date(2020, 1, 1), date(2030, 12, 31)),
    days=st.integers(0, 900),
    period=st.sampled_from(list(Period)),
)
def test_period_ends_are_exactly_the_period_ends_in_range(start: date, days: int, period: Period) -> None:
    end = start + timedelta(days=days)
    step = {Period.MONTHLY: 1, Period.QUARTERLY: 3, Period.YEARLY: 12}[period]
    brute_force = [
        d
        for d in (start + timedelta(days=i) for i in range(days + 1))
        if (d + timedelta(days=1)).day == 1 and d.month % step == 0
    ]
    assert list(period_ends(start, end, period)) == brute_force


# ───────────────────────────── generate ─────────────────────────────


def test_every_generated_report_passes_the_contract_and_the_catalog_rules(
    catalog: Catalog, simulated: list[SimulatedReport]
) -> None:
    reports = TypeAdapter(list[ReportIn]).validate_json(json.dumps([s.body for s in simulated]))
    after_the_end = datetime.combine(END + timedelta(days=1), datetime.min.time(), UTC)
    problems = Counter(i.reason for r in reports for i in check_report(r, catalog, after_the_end, timedelta(0)))
    assert problems == Counter()
    assert len(reports) > 10_000


def test_reports_only_for_units_valid_on_the_period_end_and_applicable_indicators(
    catalog: Catalog, simulated: list[SimulatedReport]
) -> None:
    ends = {period: set(period_ends(START, END, period)) for period in Period}
    for s in simulated:
        unit, indicator = catalog.units[s.unit], catalog.indicators[s.indicator]
        assert unit.active_on(s.period_end), (s.unit, s.period_end)
        assert unit.level in indicator.applies_to, (s.unit, s.indicator)
        assert s.period_end in ends[indicator.cadence.period]
        assert (s.body["unit"], s.body["indicator"], s.body["observed_at"]) == (
            s.unit,
            s.indicator,
            s.period_end.isoformat(),
        )
        assert s.body["source"] == "dxmon-simulate"


def test_the_2025_reform_switches_communes(simulated: list[SimulatedReport], catalog: Catalog) -> None:
    communes_by_month = {
        day: {
            s.unit
            for s in simulated
            if s.period_end == date.fromisoformat(day) and catalog.units[s.unit].level is Level.COMMUNE
        }
        for day in ("2025-06-30", "2025-07-31")
    }
    assert "QN-HALONG-P-HONGGAI" in communes_by_month["2025-06-30"]
    assert "QN-P-HONGGAI" not in communes_by_month["2025-06-30"]
    assert "QN-P-HONGGAI" in communes_by_month["2025-07-31"]
    assert not communes_by_month["2025-06-30"] & communes_by_month["2025-07-31"]
    assert not any(s.unit == "QN-HALONG" and s.period_end > date(2025, 6, 30) for s in simulated)


def test_reporting_units_send_every_due_report_and_silent_units_stop(
    catalog: Catalog, simulated: list[SimulatedReport]
) -> None:
    silent_from = END - timedelta(days=120)
    sent = Counter((s.unit, s.indicator) for s in simulated)
    late = {s.unit for s in simulated if s.period_end >= silent_from}
    profiles: Counter[str] = Counter()
    for unit in catalog.units.values():
        profile = profile_of(unit.code, 7)
        profiles[profile] += 1
        for indicator in catalog.indicators.values():
            if unit.level not in indicator.applies_to:
                continue
            due = [d for d in period_ends(START, END, indicator.cadence.period) if unit.active_on(d)]
            if profile == "silent":
                due = [d for d in due if d < silent_from]
            per_period = max(1, len(indicator.categories))  # one report per category
            assert sent[(unit.code, indicator.code)] == len(due) * per_period, (unit.code, indicator.code, profile)
        if profile == "silent":
            assert unit.code not in late
    # The mix is roughly 75/20/5 across the 270 units.
    assert 0.65 < profiles["on_track"] / len(catalog.units) < 0.85
    assert 0.01 < profiles["silent"] / len(catalog.units) < 0.10


def test_generation_is_deterministic_for_a_seed(catalog: Catalog, simulated: list[SimulatedReport]) -> None:
    again = generate(catalog, START, END, seed=7)
    assert again == simulated
    other = generate(catalog, date(2025, 7, 1), date(2025, 9, 30), seed=8)
    same_window = [s for s in simulated if s.period_end >= date(2025, 7, 1) and s.period_end <= date(2025, 9, 30)]
    assert {s.body["event_id"] for s in other}.isdisjoint({s.body["event_id"] for s in same_window})


def test_event_ids_are_unique_uuid4(simulated: list[SimulatedReport]) -> None:
    ids = [s.body["event_id"] for s in simulated]
    assert len(set(ids)) == len(ids)
    assert {i[14] for i in ids} == {"4"}  # version nibble


def test_values_fit_their_measure(catalog: Catalog, simulated: list[SimulatedReport]) -> None:
    for s in simulated:
        measure = catalog.indicators[s.indicator].measure.value
        body = s.body
        if measure == "ratio":
            assert "value" not in body and 0 <= body["numerator"] <= body["denominator"]
            assert isinstance(body["numerator"], int) and body["denominator"] >= 80
        else:
            assert "numerator" not in body and "denominator" not in body
        if measure in ("count", "rank", "boolean"):
            assert isinstance(body["value"], int)


def test_the_default_scenario_is_a_believable_province(catalog: Catalog) -> None:
    """The demo the README describes: most units on track or met, 15-25 % behind or at risk on some
    indicator, a few not reporting — evaluated with the real rules on the units that exist today."""
    as_of = datetime(2026, 12, 6, 12, tzinfo=LOCAL_TZ)
    reports = generate(catalog, date(2024, 1, 1), date(2026, 11, 30), seed=1)
    # One value per period: categories summed by parts, as the store's totals are.
    parts: dict[tuple[str, str, date], list[dict]] = defaultdict(list)
    for r in reports:
        parts[(r.unit, r.indicator, r.period_end)].append(r.body)
    points: dict[tuple[str, str], list[Point]] = defaultdict(list)
    for (code, indicator, period_end), bodies in sorted(parts.items()):
        if "numerator" in bodies[0]:
            value = 100 * sum(b["numerator"] for b in bodies) / sum(b["denominator"] for b in bodies)
        else:
            value = sum(b["value"] for b in bodies)
        observed = end_of_local_day(period_end)
        points[(code, indicator)].append(Point(observed, float(value), observed + timedelta(days=2)))
    behind, missing, tracked = set(), set(), set()
    for unit in catalog.units_active_on(as_of.date()):
        for ind in catalog.indicators.values():
            judged = evaluate_judged(catalog, ind, unit, points[(unit.code, ind.code)], as_of)
            if judged is None or not target_applies(judged[0], unit, as_of):
                continue
            ev = judged[1]
            tracked.add(unit.code)
            if ev.status in (Status.BEHIND, Status.AT_RISK):
                behind.add(unit.code)
            if ev.reporting is Reporting.MISSING:
                missing.add(unit.code)
    share = len(behind) / len(tracked)
    assert 0.15 <= share <= 0.25, (len(behind), len(tracked))
    assert 0 < len(missing) <= 0.12 * len(tracked), (len(missing), len(tracked))


def test_indicators_with_categories_are_reported_per_category(simulated: list[SimulatedReport]) -> None:
    dg01 = [
        s.body for s in simulated if s.unit == "QN" and s.indicator == "DG-01" and s.period_end == date(2025, 6, 30)
    ]
    assert sorted(b["category"] for b in dg01) == ["commune", "district", "province"]
    assert not any("category" in s.body for s in simulated if s.indicator == "DG-04")
