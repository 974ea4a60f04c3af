"""Templates: what ``GET /v1/templates/{unit}.xlsx|.csv?period=2026-11[&to=2026-12]`` answers (routes.py).

Key-authenticated and scoped like reports (401 without a valid key, 403 for a unit outside it). The
catalog decides the rows (``sheet.template_rows``); the database, read-only, gives each row the
value in force it would replace.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from itertools import islice

from dxmon.catalog import Catalog
from dxmon.intake import outside_key_scope
from dxmon.keys import Authenticated
from dxmon.periods import ReportingPeriod, period_starting
from dxmon.problems import Issue, Problem, say
from dxmon.store.entry_repository import InForce, values_of_unit
from services.entry.sheet import (
    Line,
    current_text,
    expected_text,
    parse_period,
    periods_due,
    target_text,
    template_rows,
)
from services.entry.state import EntryState, database_unavailable
from services.entry.workbook import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE, Filled, Template, to_csv, to_xlsx

FORMATS = {"xlsx": (XLSX_MEDIA_TYPE, to_xlsx), "csv": (CSV_MEDIA_TYPE, to_csv)}


def invalid_parameter(name: str, detail: str) -> Problem:
    return Problem(
        422,
        "invalid-parameter",
        "Invalid request parameter",
        issues=[Issue("invalid-parameter", say("invalid-parameter", detail=detail), name)],
    )


def period_span(
    catalog: Catalog, period: str, to: str | None, max_periods: int
) -> tuple[ReportingPeriod, ReportingPeriod]:
    """period_span reads ``period`` (and ``to``) into the first and last period (422 when unreadable)."""
    try:
        first = parse_period(period, catalog)
        last = parse_period(to, catalog) if to else first
    except ValueError as exc:
        raise invalid_parameter("period", str(exc)) from None
    if last.end < first.start:
        raise invalid_parameter("to", f"{to} is before {period}")
    if len(list(islice(periods_due(catalog, first.cadence, first.start, last.end), max_periods + 1))) > max_periods:
        raise invalid_parameter("to", f"at most {max_periods} periods of {first.cadence} per template")
    return first, last


async def build_template(
    state: EntryState, caller: Authenticated, unit_code: str, first: ReportingPeriod, last: ReportingPeriod
) -> Template:
    """build_template: the lines of ``unit_code`` for the span with target, glide path and value in force."""
    catalog = state.catalog
    unit = catalog.units.get(unit_code)
    if unit is None:
        raise Problem(404, "unknown-unit", "Unknown unit", say("unknown-unit", unit=unit_code))
    if unit.code not in caller.scope:
        raise outside_key_scope(caller, [unit.code])
    lines = template_rows(catalog, unit, first, last)
    try:
        async with state.database().acquire() as conn:
            values = await values_of_unit(conn, unit.code, sorted({line.indicator.code for line in lines}), last.end)
    except Exception as exc:
        raise database_unavailable(exc) from exc
    history = _by_series(values)
    label = first.label_vi if first == last else f"{first.label_vi} – {last.label_vi}"
    template = Template(f"Mẫu nhập liệu: {unit.name_on(last.end)} ({unit.code})", label, state.clock())
    for line in lines:
        template.rows.append(
            Filled(
                line,
                target=target_text(catalog, line.indicator, unit.level, line.period),
                expected=expected_text(catalog, unit, line.indicator, line.period, history[(line.indicator.code, "")]),
                current=_current(catalog, line, history),
            )
        )
    used = {code for f in template.rows for code in _sets_in(f.target)}
    template.sets = [(s.code, s.title_vi) for s in catalog.target_sets.values() if s.code in used]
    return template


def _by_series(values: list[InForce]) -> dict[tuple[str, str], list[InForce]]:
    series: dict[tuple[str, str], list[InForce]] = defaultdict(list)
    for v in values:  # ordered by period_start
        series[(v.indicator, v.category)].append(v)
    return series


def _current(catalog: Catalog, line: Line, history: dict[tuple[str, str], list[InForce]]) -> str:
    # The value in force of the latest period up to this line's (its own, when already reported).
    series = history.get((line.indicator.code, line.category), [])
    i = bisect.bisect_right([v.period_start for v in series], line.period.start)
    if i == 0:
        return ""
    v = series[i - 1]
    period = period_starting(v.period_start, line.indicator.cadence.period.value, catalog.reporting_window)
    parts = (v.numerator, v.denominator) if not v.percent_only else (None, None)
    return current_text(line.indicator.measure, v.value, *parts, period)


def _sets_in(target: str) -> list[str]:
    return [
        code.strip()
        for part in target.split(";")
        if "(" in part
        for code in part.rsplit("(", 1)[1].rstrip(")").split(",")
    ]


def template_filename(unit_code: str, first: ReportingPeriod, last: ReportingPeriod, extension: str) -> str:
    """template_filename names a downloaded template: mau-nhap-lieu_<unit>_<first>[_<last>].<extension>."""
    return f"mau-nhap-lieu_{unit_code}_{first.code}" + (f"_{last.code}" if last != first else "") + f".{extension}"
