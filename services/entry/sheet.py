"""Sheet: what a template lists for a unit and a span of periods, and the columns every format shares.

    unit + periods ──template_rows──▶ [Line(unit, indicator, category, period)]   (catalog only, pure)
                   ──describe──────▶ unit of measure, target with its set, glide-path value

One layout (``COLUMNS``) serves the XLSX, the CSV and the import, which finds columns by their
header, so a column moved by hand still imports exactly. Key columns (unit, indicator, category,
period codes) are what the import trusts; names beside them are for people.
Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from dxmon import words
from dxmon.catalog import Catalog, Indicator, Level, Measure, Unit
from dxmon.contracts import end_of_local_day
from dxmon.formatting import format_date, format_number, format_value
from dxmon.periods import HALF_YEARLY, MONTHLY, QUARTERLY, YEARLY, ReportingPeriod, period_numbered, period_of
from dxmon.progress import Point, evaluate_judged, next_milestone
from dxmon.store.entry_repository import InForce

DATA_SHEET = "Số liệu"
HELP_SHEET = "Hướng dẫn"
TEMPLATE_VERSION = "dx-monitor/mau-nhap-lieu/1"


@dataclass(frozen=True)
class Column:
    """Column: one column of the template; ``key`` names it in code, ``header`` is what people read."""

    key: str
    header: str
    width: int
    input: bool = False  # filled in by the unit (unlocked in the workbook)
    hidden: bool = False  # a code the import reads; hidden and locked in the workbook


COLUMNS: tuple[Column, ...] = (
    Column("unit", words.ADMIN_CODE, 14),
    Column("unit_name", words.REPORTING_UNIT, 24),
    Column("indicator", "Mã chỉ tiêu", 11),
    Column("indicator_name", words.INDICATOR, 48),
    Column("category_name", "Phân loại", 14),
    Column("category", "Mã phân loại", 10, hidden=True),
    Column("period_name", words.REPORTING_PERIOD, 16),
    Column("period", "Mã kỳ", 10, hidden=True),
    Column("measure", "Đơn vị tính", 28),
    Column("target", words.TARGET, 30),
    Column("expected", words.EXPECTED, 16),
    Column("current", words.CURRENT_VALUE, 22),
    Column("value", "Giá trị", 12, input=True),
    Column("numerator", "Tử số", 12, input=True),
    Column("denominator", "Mẫu số", 12, input=True),
    Column("explanation", words.EXPLANATION, 48, input=True),
)
COLUMN = {c.key: c for c in COLUMNS}
KEY_COLUMNS = ("unit", "indicator", "category", "period")
INPUT_COLUMNS = tuple(c.key for c in COLUMNS if c.input)
# Which column a report field is read from (for saying where a refusal points).
FIELD_COLUMN = {
    "unit": "unit",
    "indicator": "indicator",
    "category": "category",
    "observed_at": "period",
    "value": "value",
    "numerator": "numerator",
    "denominator": "denominator",
    "explanation": "explanation",
}


# ───────────────────────────── periods ─────────────────────────────

# Years a template or an import may name: the programme's span with room to spare, and far from the
# calendar's ends (the day after 9999-12-31 does not exist).
FIRST_YEAR, LAST_YEAR = 2000, 2100
_PERIOD_CODE = re.compile(r"^(\d{4})(?:-(\d{2})|-Q([1-4])|-H([12]))?$")


def parse_period(code: str, catalog: Catalog) -> ReportingPeriod:
    """parse_period reads ``2026-11``, ``2026-Q4``, ``2026-H1`` or ``2026``; ValueError otherwise."""
    m = _PERIOD_CODE.fullmatch(code.strip())
    if m is None or not FIRST_YEAR <= int(m.group(1)) <= LAST_YEAR:
        raise ValueError(
            f"{code!r} is not a period code (2026-11, 2026-Q4, 2026-H1, 2026; years {FIRST_YEAR}–{LAST_YEAR})"
        )
    year = int(m.group(1))
    if m.group(2):
        return period_numbered(year, int(m.group(2)), MONTHLY, catalog.reporting_window)
    if m.group(3):
        return period_numbered(year, int(m.group(3)), QUARTERLY, catalog.reporting_window)
    if m.group(4):
        return period_numbered(year, int(m.group(4)), HALF_YEARLY, catalog.reporting_window)
    return period_numbered(year, 1, YEARLY, catalog.reporting_window)


def periods_due(catalog: Catalog, cadence: str, first: date, last: date) -> Iterator[ReportingPeriod]:
    """periods_due yields the periods of ``cadence`` that end within ``first``..``last`` (both inclusive)."""
    p = period_of(first, cadence, catalog.reporting_window)
    while p.start <= last:
        if first <= p.end <= last:
            yield p
        p = period_of(p.end + timedelta(days=1), cadence, catalog.reporting_window)


# ───────────────────────────── rows ─────────────────────────────


@dataclass(frozen=True)
class Line:
    """Line is one row to fill: a unit's value of an indicator (and category) for one period."""

    unit: Unit
    indicator: Indicator
    category: str  # "" when the indicator has no categories
    period: ReportingPeriod


def template_rows(catalog: Catalog, unit: Unit, first: ReportingPeriod, last: ReportingPeriod) -> list[Line]:
    """template_rows lists what ``unit`` reports for the periods due from ``first`` through ``last``.

    An indicator is listed when it applies to the unit's level; each of its periods whose end falls in
    the span is a row (a monthly template of December also lists the fourth quarter and the year), one
    row per category for an indicator reported by category. Periods when the unit did not exist are left out.
    """
    lines = []
    for indicator in sorted(catalog.indicators.values(), key=lambda i: i.code):
        if unit.level not in indicator.applies_to:
            continue
        for period in periods_due(catalog, indicator.cadence.period.value, first.start, last.end):
            if not unit.active_on(period.end):
                continue
            for category in [c.code for c in indicator.categories] or [""]:
                lines.append(Line(unit, indicator, category, period))
    return lines


# ───────────────────────────── what people read beside the cells ─────────────────────────────

_MEASURE_UNIT = {
    Measure.PERCENT: "%",
    Measure.COUNT: "số lượng (số nguyên)",
    Measure.BOOLEAN: "có/không: 1 = có, 0 = không",
    Measure.RANK: "thứ hạng (1 = cao nhất)",
}


def measure_text(indicator: Indicator) -> str:
    """measure_text says what to write: the unit of measure, and for a ratio what its parts count."""
    if indicator.measure is Measure.RATIO:
        parts = f"tử số: {indicator.numerator or '—'}; mẫu số: {indicator.denominator or '—'}"
        return f"% (nhập tử số và mẫu số; {parts})"
    return _MEASURE_UNIT[indicator.measure]


def target_text(catalog: Catalog, indicator: Indicator, level: Level, period: ReportingPeriod) -> str:
    """target_text: the next target of each set in force after the period, with the sets' codes
    ("≥ 30% đến 31/12/2030 (NQ09-2030, DH16)"; the instructions sheet names their documents); "" when none."""
    by_goal: dict[tuple[str, float, date], list[str]] = {}
    for target in indicator.targets_for(level):
        target_set = catalog.target_sets.get(target.target_set)
        milestone = next_milestone(target.milestones, period.end)
        if milestone is None or (target_set is not None and not target_set.active_on(period.end)):
            continue
        by_goal.setdefault((milestone.comparator, milestone.value, milestone.deadline), []).append(target.target_set)
    return "; ".join(
        f"{_COMPARATOR.get(comparator, comparator)} {format_value(value, indicator.measure.value)} "
        f"đến {format_date(deadline)} ({', '.join(sets)})"
        for (comparator, value, deadline), sets in sorted(by_goal.items(), key=lambda kv: kv[0][2])
    )


_COMPARATOR = {">=": "≥", "<=": "≤"}


def expected_value(
    catalog: Catalog, unit: Unit, indicator: Indicator, period: ReportingPeriod, values: Sequence[InForce]
) -> float | None:
    """expected_value is the glide path on the period's last day as the evaluation draws it for this unit
    (``dxmon.progress.evaluate_judged`` over the unit's totals in force, ``values``): toward the target it
    is judged against, from the target's own start, else from the unit's first value, and past NQ 09 from
    what the unit reached in 2025. None without a milestone ahead or a start."""
    points = [Point(v.observed_at, v.value) for v in values if v.category == "" and v.observed_at is not None]
    judged = evaluate_judged(catalog, indicator, unit, points, end_of_local_day(period.end))
    if judged is None or next_milestone(judged[0].milestones, period.end) is None:
        return None
    return judged[1].expected


def expected_text(
    catalog: Catalog, unit: Unit, indicator: Indicator, period: ReportingPeriod, values: Sequence[InForce]
) -> str:
    expected = expected_value(catalog, unit, indicator, period, values)
    return "" if expected is None else format_value(expected, indicator.measure.value)


def current_text(
    measure: Measure, value: float, numerator: float | None, denominator: float | None, period: ReportingPeriod
) -> str:
    """current_text is the value in force as people read it, with its period: "62,8% (628/1.000), tháng 10/2026"."""
    text = format_value(value, measure.value)
    if numerator is not None and denominator is not None:
        text += f" ({format_number(numerator)}/{format_number(denominator)})"
    return f"{text}, {period.label_vi}"
