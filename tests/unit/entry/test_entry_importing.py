"""Importing, pure: numbers as people write them, statuses against the value in force, derived event ids."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from dxmon.catalog import Catalog
from dxmon.store.entry_repository import InForce
from services.entry.importing import (
    CORRECTED,
    NEW,
    UNCHANGED,
    CellError,
    check_rows,
    decide,
    read_number,
)
from services.entry.reading import NO_CACHED_VALUE, Percent, SheetRow, Upload

NOW = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "cell, number",
    [
        (628, 628.0),
        (62.8, 62.8),
        ("628", 628.0),
        (" 62,8 ", 62.8),
        ("62.8", 62.8),
        ("1 000", 1000.0),
        ("1\u00a0000", 1000.0),
        ("62,8%", 62.8),
        (Percent(0.628), 62.8),
        ("0,125", 0.125),
        ("-3", -3.0),
        (None, None),
        ("", None),
        ("  ", None),
    ],
)
def test_numbers_as_people_write_them(cell, number) -> None:
    assert read_number(cell) == number


@pytest.mark.parametrize(
    "cell, reason",
    [
        ("1.000", "invalid-field"),
        ("1,000", "invalid-field"),
        ("1.000,5", "invalid-field"),
        ("abc", "invalid-field"),
        ("#DIV/0!", "invalid-field"),
        (True, "invalid-field"),
        (datetime(2026, 9, 1), "invalid-field"),
        (date(2026, 9, 1), "invalid-field"),
        (NO_CACHED_VALUE, "formula-without-value"),
        (float("inf"), "invalid-number"),
    ],
)
def test_what_is_not_a_number_says_why(cell, reason) -> None:
    with pytest.raises(CellError) as caught:
        read_number(cell)
    assert caught.value.reason == reason


def upload(*rows: dict) -> Upload:
    return Upload(
        "xlsx",
        "Số liệu",
        {"unit": "A", "numerator": "N"},
        [SheetRow(i, cells) for i, cells in enumerate(rows, start=2)],
    )


ROW = {"unit": "QN-P-ANSINH", "indicator": "DG-04", "period": "2026-09", "numerator": 628, "denominator": 1000}


def checked(catalog: Catalog, *rows: dict):
    return check_rows(upload(*rows), catalog, frozenset(catalog.units), NOW, timedelta(minutes=5))


def in_force(numerator: float, denominator: float, event: uuid.UUID, explanation: str | None = None) -> InForce:
    return InForce(
        "QN-P-ANSINH",
        "DG-04",
        "",
        date(2026, 9, 1),
        100 * numerator / denominator,
        numerator,
        denominator,
        False,
        event,
        explanation,
    )


def test_empty_rows_are_ignored_and_a_row_is_a_report_of_its_period(catalog: Catalog) -> None:
    result = checked(catalog, ROW, {**ROW, "period": "2026-08", "numerator": None, "denominator": ""})
    assert result.ignored == 1 and result.refusals == []
    (c,) = result.candidates
    assert c.key == ("QN-P-ANSINH", "DG-04", "", date(2026, 9, 1))
    assert c.report.observed_at.date() == date(2026, 9, 30) and c.period == "2026-09"


def test_statuses_and_ids_against_the_value_in_force(catalog: Catalog) -> None:
    candidates = checked(catalog, ROW).candidates
    (first,) = decide(candidates, {})
    assert first.status == NEW
    assert decide(candidates, {})[0].report.event_id == first.report.event_id  # same file, same id

    stored = {candidates[0].key: in_force(628, 1000, first.report.event_id)}
    assert decide(candidates, stored)[0].status == UNCHANGED

    b = checked(catalog, {**ROW, "numerator": 630}).candidates
    (second,) = decide(b, stored)
    assert second.status == CORRECTED and second.report.event_id != first.report.event_id

    # Back to 628 after 630: a new report (it replaces 630), never taken for a replay of the first 628.
    (back,) = decide(candidates, {candidates[0].key: in_force(630, 1000, second.report.event_id)})
    assert back.status == CORRECTED and back.report.event_id not in (first.report.event_id, second.report.event_id)


def test_an_explanation_is_compared_only_when_the_row_gives_one(catalog: Catalog) -> None:
    event = uuid.uuid4()
    stored = in_force(628, 1000, event, "Cũ")
    assert (
        decide(checked(catalog, ROW).candidates, {("QN-P-ANSINH", "DG-04", "", date(2026, 9, 1)): stored})[0].status
        == UNCHANGED
    )
    with_new = checked(catalog, {**ROW, "explanation": "Mới"}).candidates
    assert decide(with_new, {with_new[0].key: stored})[0].status == CORRECTED
    same = checked(catalog, {**ROW, "explanation": "Cũ"}).candidates
    assert decide(same, {same[0].key: stored})[0].status == UNCHANGED


def test_a_published_percentage_is_not_the_same_as_counts(catalog: Catalog) -> None:
    percent = checked(catalog, {**ROW, "numerator": None, "denominator": None, "value": 62.8}).candidates
    stored = in_force(628, 1000, uuid.uuid4())
    assert decide(percent, {percent[0].key: stored})[0].status == CORRECTED


@pytest.mark.parametrize(
    "cell, code",
    [
        ("2026-11", "2026-11"),
        ("2026-Q4", "2026-Q4"),
        (2026, "2026"),
        (2026.0, "2026"),
        # A CSV saved by Excel turns the month code into the month's first day, in the machine's format.
        ("01/11/2026", "2026-11"),
        ("11/1/2026", "2026-11"),
        ("1/11/2026", "2026-11"),
        ("2026-11-01", "2026-11"),
        (datetime(2026, 11, 1), "2026-11"),
        (date(2026, 11, 1), "2026-11"),
        ("01/01/2026", "2026-01"),
        ("15/11/2026", "15/11/2026"),
        (datetime(2026, 11, 15), "2026-11-15"),  # not a first day: left to be refused
    ],
)
def test_period_cells_as_excel_leaves_them(cell, code) -> None:
    from services.entry.importing import period_code

    assert period_code(cell) == code


def test_a_month_excel_made_a_date_still_imports(catalog: Catalog) -> None:
    result = checked(catalog, {**ROW, "period": "01/09/2026"}, {**ROW, "indicator": "DG-05", "period": "15/09/2026"})
    assert [c.period for c in result.candidates] == ["2026-09"]
    assert [(r.row, r.reason) for r in result.refusals] == [(3, "invalid-period")]
