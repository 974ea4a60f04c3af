"""Sheet, pure: period codes, the rows a template lists, the texts beside the cells."""

from __future__ import annotations

from datetime import date

import pytest

from dxmon.catalog import Catalog
from services.entry.sheet import parse_period, periods_due, target_text, template_rows


@pytest.mark.parametrize(
    "code, cadence, start, end",
    [
        ("2026-11", "monthly", date(2026, 11, 1), date(2026, 11, 30)),
        ("2026-Q4", "quarterly", date(2026, 10, 1), date(2026, 12, 31)),
        ("2026-H1", "half_yearly", date(2026, 1, 1), date(2026, 6, 30)),
        ("2026", "yearly", date(2026, 1, 1), date(2026, 12, 31)),
        (" 2026-02 ", "monthly", date(2026, 2, 1), date(2026, 2, 28)),
    ],
)
def test_period_codes(catalog: Catalog, code: str, cadence: str, start: date, end: date) -> None:
    p = parse_period(code, catalog)
    assert (p.cadence, p.start, p.end) == (cadence, start, end)


@pytest.mark.parametrize("code", ["2026-13", "2026-00", "2026-Q5", "tháng 11", "11/2026", "9999-12", "0001", ""])
def test_what_is_not_a_period_code(catalog: Catalog, code: str) -> None:
    with pytest.raises(ValueError):
        parse_period(code, catalog)


def test_a_december_template_lists_the_month_the_quarter_and_the_year(catalog: Catalog) -> None:
    december = parse_period("2026-12", catalog)
    lines = template_rows(catalog, catalog.units["QN"], december, december)
    assert {line.period.code for line in lines} == {"2026-12", "2026-Q4", "2026"}
    assert {line.category for line in lines if line.indicator.code == "DG-01"} == {"province", "district", "commune"}
    commune = template_rows(catalog, catalog.units["QN-P-ANSINH"], december, december)
    assert all(catalog.units["QN-P-ANSINH"].level in line.indicator.applies_to for line in commune)
    assert not any(line.indicator.code == "DG-01" for line in commune)  # the province's catalogue


def test_a_ceased_unit_has_no_rows_after_it_ceased(catalog: Catalog) -> None:
    span = parse_period("2026-09", catalog)
    assert template_rows(catalog, catalog.units["QN-HALONG-P-DAIYEN"], span, span) == []


def test_periods_due_in_a_span(catalog: Catalog) -> None:
    codes = [p.code for p in periods_due(catalog, "quarterly", date(2026, 1, 1), date(2026, 8, 31))]
    assert codes == ["2026-Q1", "2026-Q2"]  # the third quarter ends after the span


def test_targets_name_their_sets(catalog: Catalog) -> None:
    september = parse_period("2025-09", catalog)
    text = target_text(catalog, catalog.indicators["DG-01"], catalog.units["QN"].level, september)
    assert "đến 31/12/2025" in text and "(" in text and text.count("≥") >= 1
