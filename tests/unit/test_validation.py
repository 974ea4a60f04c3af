"""Tests for dxmon.validation.check_report against the shipped catalog: pure, no I/O, injected clock."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dxmon.catalog import Catalog, Level
from dxmon.contracts import LOCAL_TZ, ReportIn
from dxmon.validation import check_report

NOW = datetime(2026, 1, 15, 9, 30, tzinfo=LOCAL_TZ)
SKEW = timedelta(minutes=5)
EVENT_ID = "0b4c2b1e-5a3a-4f57-9a51-0d6f1f8c7e21"


def report(**fields: Any) -> ReportIn:
    """report is a valid DG-04 (ratio, all levels) report for a post-2025 commune, with ``fields`` changed."""
    base: dict[str, Any] = {
        "event_id": EVENT_ID,
        "unit": "QN-P-HONGGAI",
        "indicator": "DG-04",
        "observed_at": "2025-09-30",
        "numerator": 628,
        "denominator": 1000,
    }
    base.update(fields)
    return ReportIn.model_validate({k: v for k, v in base.items() if v is not None})


def reasons(catalog: Catalog, r: ReportIn, now: datetime = NOW) -> list[tuple[str, str | None]]:
    return [(i.reason, i.field) for i in check_report(r, catalog, now, SKEW)]


VALUE_ONLY = {"numerator": None, "denominator": None}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        # Well-formed reports of every measure pass.
        pytest.param({}, [], id="ratio-ok"),
        pytest.param({"numerator": 1000, "denominator": 1000}, [], id="ratio-100-percent"),
        pytest.param({"numerator": 0, "denominator": 1}, [], id="ratio-zero-part"),
        pytest.param({"unit": "QN", "indicator": "DE-01", **VALUE_ONLY, "value": 100}, [], id="percent-100"),
        pytest.param({"unit": "QN", "indicator": "DE-01", **VALUE_ONLY, "value": 0}, [], id="percent-0"),
        pytest.param({"unit": "QN", "indicator": "DG-18", **VALUE_ONLY, "value": 1}, [], id="boolean-1"),
        pytest.param({"unit": "QN", "indicator": "DG-18", **VALUE_ONLY, "value": 0.0}, [], id="boolean-0"),
        pytest.param({"indicator": "DS-10", **VALUE_ONLY, "value": 12}, [], id="count"),
        pytest.param({"indicator": "DS-10", **VALUE_ONLY, "value": 0}, [], id="count-zero"),
        pytest.param({"unit": "QN", "indicator": "DG-15", **VALUE_ONLY, "value": 1}, [], id="rank-first"),
        # Catalog membership.
        pytest.param({"unit": "QN-P-NOWHERE"}, [("unknown-unit", "unit")], id="unknown-unit"),
        pytest.param({"indicator": "DG-99"}, [("unknown-indicator", "indicator")], id="unknown-indicator"),
        pytest.param(
            {"unit": "QN-X", "indicator": "XX-1"},
            [("unknown-unit", "unit"), ("unknown-indicator", "indicator")],
            id="unknown-unit-and-indicator",
        ),
        # Level applicability (DE-06 is province-only; DE-12 is communes and districts only).
        pytest.param(
            {"indicator": "DE-06", **VALUE_ONLY, "value": 3},
            [("indicator-not-applicable", "indicator")],
            id="province-indicator-from-commune",
        ),
        pytest.param(
            {"unit": "QN", "indicator": "DE-12", **VALUE_ONLY, "value": 1},
            [("indicator-not-applicable", "indicator")],
            id="commune-indicator-from-province",
        ),
        pytest.param(
            {"unit": "QN-SO-TUPHAP", "indicator": "DE-09", **VALUE_ONLY, "value": 50},
            [("indicator-not-applicable", "indicator")],
            id="district-indicator-from-department",
        ),
        # Ratio rules.
        pytest.param(
            {"numerator": 1001, "denominator": 1000},
            [("numerator-exceeds-denominator", "numerator")],
            id="numerator-exceeds-denominator",
        ),
        pytest.param({"numerator": 0, "denominator": 0}, [("zero-denominator", "denominator")], id="zero-denominator"),
        pytest.param(
            {"numerator": 5, "denominator": 0},
            [("zero-denominator", "denominator"), ("numerator-exceeds-denominator", "numerator")],
            id="zero-denominator-with-part",
        ),
        pytest.param({"numerator": -1, "denominator": 10}, [("negative-value", "numerator")], id="negative-numerator"),
        pytest.param(
            {"numerator": 0, "denominator": -10},
            [("negative-value", "numerator"), ("numerator-exceeds-denominator", "numerator")],
            id="negative-denominator",
        ),
        pytest.param({"denominator": None}, [("ratio-needs-parts", "numerator")], id="ratio-missing-denominator"),
        pytest.param(
            {"numerator": 2e306, "denominator": 1e307},
            [("value-out-of-range", "numerator"), ("value-out-of-range", "denominator")],
            id="absurd-magnitude-would-overflow-the-percentage",
        ),
        # A published percentage without counts is accepted (percent-only); one part alone is not.
        pytest.param({**VALUE_ONLY, "value": 62.8}, [], id="ratio-published-percentage"),
        pytest.param({**VALUE_ONLY, "value": 100}, [], id="ratio-published-percentage-100"),
        pytest.param({**VALUE_ONLY, "value": 100.5}, [("value-out-of-range", "value")], id="ratio-percentage-over-100"),
        pytest.param({**VALUE_ONLY, "value": -0.5}, [("value-out-of-range", "value")], id="ratio-percentage-negative"),
        pytest.param({"numerator": None}, [("ratio-needs-parts", "numerator")], id="ratio-denominator-alone"),
        pytest.param({"value": 62.8}, [("value-with-parts", "value")], id="ratio-with-value-too"),
        pytest.param(
            {"value": 62.8, "denominator": None}, [("value-with-parts", "value")], id="ratio-value-and-one-part"
        ),
        # Categories (DG-01 and DG-02 are reported by competence level; DG-04 has no categories).
        # DG-01/DG-02 are the province's (its catalogue of procedures), by competence level.
        pytest.param({"unit": "QN", "indicator": "DG-01", "category": "commune"}, [], id="category-ok"),
        pytest.param(
            {"unit": "QN", "indicator": "DG-02", "category": "province", **VALUE_ONLY, "value": 98.7},
            [],
            id="category-percent-only",
        ),
        pytest.param({"unit": "QN", "indicator": "DG-01"}, [("category-required", "category")], id="category-missing"),
        pytest.param(
            {"unit": "QN", "indicator": "DG-01", "category": "ward"},
            [("unknown-category", "category")],
            id="category-unknown",
        ),
        pytest.param({"category": "province"}, [("unknown-category", "category")], id="category-on-plain-indicator"),
        # Value rules.
        pytest.param(
            {"unit": "QN", "indicator": "DE-01", **VALUE_ONLY, "value": 100.5},
            [("value-out-of-range", "value")],
            id="percent-above-100",
        ),
        pytest.param(
            {"unit": "QN", "indicator": "DE-01", **VALUE_ONLY, "value": -0.5},
            [("negative-value", "value")],
            id="percent-negative",
        ),
        pytest.param(
            {"unit": "QN", "indicator": "DE-01"}, [("parts-not-allowed", "numerator")], id="percent-sent-as-parts"
        ),
        pytest.param(
            {"unit": "QN", "indicator": "DE-01", **VALUE_ONLY}, [("value-required", "value")], id="value-missing"
        ),
        pytest.param(
            {"unit": "QN", "indicator": "DG-18", **VALUE_ONLY, "value": 0.5},
            [("value-out-of-range", "value")],
            id="boolean-half",
        ),
        pytest.param(
            {"unit": "QN", "indicator": "DG-18", **VALUE_ONLY, "value": 2},
            [("value-out-of-range", "value")],
            id="boolean-two",
        ),
        pytest.param(
            {"indicator": "DS-10", **VALUE_ONLY, "value": -3}, [("negative-value", "value")], id="negative-count"
        ),
        pytest.param(
            {"indicator": "DS-10", **VALUE_ONLY, "value": 2.5}, [("value-not-integer", "value")], id="fractional-count"
        ),
        pytest.param(
            {"indicator": "DS-10", **VALUE_ONLY, "value": 1e16},
            [("value-out-of-range", "value")],
            id="count-beyond-any-real-figure",
        ),
        pytest.param(
            {"unit": "QN", "indicator": "DG-15", **VALUE_ONLY, "value": 0},
            [("value-out-of-range", "value")],
            id="rank-zero",
        ),
        pytest.param(
            {"unit": "QN", "indicator": "DG-15", **VALUE_ONLY, "value": 3.5},
            [("value-not-integer", "value")],
            id="fractional-rank",
        ),
        # Time.
        pytest.param({"observed_at": "2026-01-16"}, [("future-observation", "observed_at")], id="future-period"),
        pytest.param({"observed_at": "2026-01-15T09:34:59+07:00"}, [], id="within-clock-skew"),
        pytest.param(
            {"observed_at": "2026-01-15T09:35:01+07:00"},
            [("future-observation", "observed_at")],
            id="beyond-clock-skew",
        ),
        pytest.param({"observed_at": "2026-01-15"}, [], id="bare-today-is-a-period-ending-today"),
        pytest.param(
            {"observed_at": "2026-01-15T23:59:59+07:00"},
            [("future-observation", "observed_at")],
            id="explicit-tonight-is-future",
        ),
        pytest.param(
            {"observed_at": "2025-06-30"},
            [("unit-not-valid-on-date", "observed_at")],
            id="new-commune-before-it-existed",
        ),
        pytest.param(
            {"unit": "QN-HALONG", "observed_at": "2025-07-31"},
            [("unit-not-valid-on-date", "observed_at")],
            id="district-after-abolition",
        ),
        pytest.param(
            {"unit": "QN-HALONG", "observed_at": "2025-06-30T23:59:59+07:00"}, [], id="district-last-local-second"
        ),
        pytest.param(
            {"unit": "QN-HALONG", "observed_at": "2025-06-30T17:00:00Z"},
            [("unit-not-valid-on-date", "observed_at")],
            id="utc-evening-is-next-local-day",
        ),
        # Several rules at once: all are listed.
        pytest.param(
            {"unit": "QN-HALONG", "indicator": "DE-06", "observed_at": "2027-01-01", **VALUE_ONLY, "value": -1},
            [
                ("future-observation", "observed_at"),
                ("unit-not-valid-on-date", "observed_at"),
                ("indicator-not-applicable", "indicator"),
                ("negative-value", "value"),
            ],
            id="everything-wrong",
        ),
    ],
)
def test_check_report(catalog: Catalog, fields: dict[str, Any], expected: list[tuple[str, str | None]]) -> None:
    assert reasons(catalog, report(**fields)) == expected


@pytest.mark.parametrize(
    ("unit", "day", "message"),
    [
        pytest.param(
            "QN-HALONG-P-YETKIEU",
            "2024-12-31",
            "unit QN-HALONG-P-YETKIEU ceased on 2024-10-31; report for QN-HALONG-P-TRANHUNGDAO instead",
            id="merged-2024-points-to-2024-successor",
        ),
        pytest.param(
            "QN-HALONG-P-YETKIEU",
            "2025-07-31",
            "unit QN-HALONG-P-YETKIEU ceased on 2024-10-31; report for QN-P-HONGGAI instead",
            id="merged-2024-points-to-2025-commune-later",
        ),
        pytest.param(
            "QN-SO-TTTT",
            "2025-03-31",
            "unit QN-SO-TTTT ceased on 2025-02-28; report for QN-SO-KHCN, QN-SO-VHTTDL instead",
            id="split-department",
        ),
        pytest.param("QN-HALONG", "2025-07-31", "unit QN-HALONG ceased on 2025-06-30", id="abolished-no-successor"),
        pytest.param(
            "QN-CAMPHA-X-HAIHOA",
            "2024-06-30",
            "unit QN-CAMPHA-X-HAIHOA exists only from 2024-11-01; "
            "before that report for QN-CAMPHA-X-CAMHAI, QN-CAMPHA-X-CONGHOA",
            id="not-yet-created",
        ),
        pytest.param(
            "QN-X-HAIHOA",
            "2024-06-30",
            "unit QN-X-HAIHOA exists only from 2025-07-01; "
            "before that report for QN-TIENYEN-X-HAILANG, QN-CAMPHA-X-CAMHAI, QN-CAMPHA-X-CONGHOA",
            id="predecessors-valid-on-that-date",
        ),
    ],
)
def test_unit_not_valid_names_the_units_valid_on_that_date(catalog: Catalog, unit: str, day: str, message: str) -> None:
    (issue,) = check_report(report(unit=unit, observed_at=day), catalog, NOW, SKEW)
    assert (issue.reason, issue.field, issue.message.en) == ("unit-not-valid-on-date", "observed_at", message)
    # The Vietnamese message names the same units, and the date as dd/mm/yyyy.
    assert all(
        code in issue.message.vi
        for code in message.replace(",", " ").replace(";", " ").split()
        if code in catalog.units
    )
    assert re.search(r"\d{2}/\d{2}/\d{4}", issue.message.vi)
    hint = message.partition(";")[2]
    named = [word.strip(",") for word in hint.split() if word.strip(",") in catalog.units]
    assert all(catalog.units[code].active_on(date.fromisoformat(day)) for code in named)


def test_messages_say_what_is_wrong(catalog: Catalog) -> None:
    messages = [
        i.message.en
        for i in check_report(
            report(unit="QN-SO-TUPHAP", indicator="DE-09", numerator=None, denominator=None, value=50),
            catalog,
            NOW,
            SKEW,
        )
    ]
    assert messages == ["indicator DE-09 is reported by commune, district, province, not by a department"]
    (exceeds,) = check_report(report(numerator=1001, denominator=1000), catalog, NOW, SKEW)
    assert exceeds.message.en == "numerator 1001 exceeds denominator 1000"
    assert exceeds.message.vi == "tử số 1001 lớn hơn mẫu số 1000"
    (department,) = check_report(
        report(unit="QN-SO-TUPHAP", indicator="DE-09", numerator=None, denominator=None, value=50), catalog, NOW, SKEW
    )
    assert (
        department.message.vi
        == "chỉ tiêu DE-09 do cấp xã, cấp huyện, cấp tỉnh báo cáo, không áp dụng cho sở, ban, ngành"
    )


def test_applicability_matches_the_catalog_for_every_indicator_and_level(catalog: Catalog) -> None:
    unit_of = {  # one unit per level, valid on the day used below
        Level.PROVINCE: "QN",
        Level.DEPARTMENT: "QN-SO-TUPHAP",
        Level.DISTRICT: "QN-HALONG",
        Level.COMMUNE: "QN-HALONG-P-HONGGAI",
    }
    for indicator in catalog.indicators.values():
        for level, unit in unit_of.items():
            found = reasons(catalog, report(unit=unit, indicator=indicator.code, observed_at="2025-03-31"))
            applicable = ("indicator-not-applicable", "indicator") not in found
            assert applicable == (level in indicator.applies_to), (indicator.code, level)


@pytest.mark.parametrize("indicator", ["DG-01", "DG-02", "DG-17"])
def test_procedure_catalogue_indicators_are_the_provinces_to_report(catalog: Catalog, indicator: str) -> None:
    # Measured on the province's catalogue of procedures, which a commune or district cannot change.
    category = {"category": "commune"} if catalog.indicators[indicator].categories else {}
    assert not reasons(catalog, report(unit="QN", indicator=indicator, observed_at="2025-03-31", **category))
    for unit in ("QN-P-HONGGAI", "QN-HALONG", "QN-SO-TUPHAP"):
        found = reasons(catalog, report(unit=unit, indicator=indicator, observed_at="2025-09-30", **category))
        assert ("indicator-not-applicable", "indicator") in found, unit


@settings(max_examples=300, deadline=None)
@given(
    numerator=st.floats(-1e6, 1e6, allow_nan=False) | st.integers(-10, 10_000),
    denominator=st.floats(-1e6, 1e6, allow_nan=False) | st.integers(-10, 10_000),
)
def test_ratio_is_accepted_exactly_when_0_le_numerator_le_denominator_gt_0(
    catalog: Catalog, numerator: float, denominator: float
) -> None:
    found = {r for r, _ in reasons(catalog, report(numerator=numerator, denominator=denominator))}
    assert found <= {"negative-value", "zero-denominator", "numerator-exceeds-denominator"}
    assert (not found) == (0 <= numerator <= denominator and denominator > 0)


@settings(max_examples=200, deadline=None)
@given(st.floats(-1e9, 1e9, allow_nan=False))
def test_count_is_accepted_exactly_when_a_non_negative_whole_number(catalog: Catalog, value: float) -> None:
    found = reasons(catalog, report(indicator="DS-10", numerator=None, denominator=None, value=value))
    assert (found == []) == (value >= 0 and value == int(value))


@settings(max_examples=200, deadline=None)
@given(st.datetimes(datetime(2025, 7, 1), datetime(2027, 1, 1), timezones=st.just(UTC)))
def test_future_observations_are_refused_only_beyond_the_skew(catalog: Catalog, observed: datetime) -> None:
    found = reasons(catalog, report(observed_at=observed.isoformat()))
    assert (("future-observation", "observed_at") in found) == (observed > NOW + SKEW)
