"""Validation: what a well-formed report must also satisfy against the programme catalog.

Pure functions: the caller passes the catalog and the current time, so the rules are testable
without a clock or a server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta

from dxmon import words
from dxmon.catalog import Catalog, Indicator, Level, Measure
from dxmon.contracts import LOCAL_TZ, ReportIn, end_of_local_day
from dxmon.formatting import format_date
from dxmon.problems import Issue, say


def check_report(report: ReportIn, catalog: Catalog, now: datetime, future_skew: timedelta) -> list[Issue]:
    """check_report lists every rule ``report`` breaks (empty when it may be published)."""
    issues: list[Issue] = []
    unit = catalog.units.get(report.unit)
    indicator = catalog.indicators.get(report.indicator)
    if unit is None:
        issues.append(Issue("unknown-unit", say("unknown-unit", unit=report.unit), "unit"))
    if indicator is None:
        issues.append(Issue("unknown-indicator", say("unknown-indicator", indicator=report.indicator), "indicator"))

    local_day = report.observed_at.astimezone(LOCAL_TZ).date()
    limit = now + future_skew
    # A bare date means the end of that day, so today's date would be "future" until midnight; a
    # clerk reporting today's figures means today, so a period ending today is accepted.
    if report.observed_at > limit and not (
        report.observed_at == end_of_local_day(local_day) and local_day <= limit.astimezone(LOCAL_TZ).date()
    ):
        issues.append(
            Issue(
                "future-observation",
                say("future-observation", observed_at=report.observed_at.isoformat()),
                "observed_at",
            )
        )
    if unit is not None and not unit.active_on(local_day):
        if unit.valid_to is not None and local_day > unit.valid_to:
            successors = _units_on(
                catalog, unit.successors, local_day, lambda c: catalog.units[c].successors, unit.level
            )
            successors = successors or [
                c for c in catalog.final_successors(unit.code) if catalog.units[c].level is unit.level
            ]
            msg = say(
                "unit-not-valid-on-date/ceased" + ("-successors" if successors else ""),
                unit=unit.code,
                valid_to=unit.valid_to.isoformat(),
                valid_to_vi=format_date(unit.valid_to),
                units=", ".join(successors),
            )
        else:
            before = _units_on(catalog, catalog.predecessors(unit.code), local_day, catalog.predecessors, unit.level)
            msg = say(
                "unit-not-valid-on-date/not-yet" + ("-predecessors" if before else ""),
                unit=unit.code,
                valid_from=unit.valid_from.isoformat(),
                valid_from_vi=format_date(unit.valid_from),
                units=", ".join(before[:10]),
            )
        issues.append(Issue("unit-not-valid-on-date", msg, "observed_at"))
    if unit is not None and indicator is not None and unit.level not in indicator.applies_to:
        levels = sorted(level.value for level in indicator.applies_to)
        issues.append(
            Issue(
                "indicator-not-applicable",
                say(
                    "indicator-not-applicable",
                    indicator=indicator.code,
                    levels=", ".join(levels),
                    levels_vi=", ".join(words.LEVEL[level] for level in levels),
                    level=unit.level.value,
                    level_vi=words.LEVEL[unit.level.value],
                ),
                "indicator",
            )
        )
    if indicator is not None:
        issues.extend(check_category(report, indicator))
        issues.extend(_check_measure(report, indicator.measure))
    return issues


def check_category(report: ReportIn, indicator: Indicator) -> list[Issue]:
    """check_category: an indicator with categories needs one of them; any other indicator takes none."""
    codes = [c.code for c in indicator.categories]
    if report.category is None:
        if codes:
            return [
                Issue(
                    "category-required",
                    say("category-required", indicator=indicator.code, codes=", ".join(codes)),
                    "category",
                )
            ]
        return []
    if report.category not in codes:
        key = "unknown-category" if codes else "unknown-category/none"
        return [
            Issue(
                "unknown-category",
                say(key, indicator=indicator.code, category=report.category, codes=", ".join(codes)),
                "category",
            )
        ]
    return []


def _units_on(
    catalog: Catalog, start: Iterable[str], day: date, links: Callable[[str], Iterable[str]], level: Level
) -> list[str]:
    # Follows successor (or predecessor) links to the first units valid on ``day``: a commune merged in
    # 2024 points late-2024 reports to its 2024 successor, not to the 2025 commune that does not exist yet.
    # Only units of ``level``: the communes that took over a district's territory do not report its figures.
    found: list[str] = []
    seen: set[str] = set()
    queue = list(start)
    while queue:
        code = queue.pop(0)
        if code in seen or code not in catalog.units or catalog.units[code].level is not level:
            continue
        seen.add(code)
        if catalog.units[code].active_on(day):
            found.append(code)
        else:
            queue.extend(links(code))
    return found


# No indicator of the programme comes near this (populations, dossiers, enterprises are < 1e9); a
# larger number is a unit mix-up or garbage, and near 1e308 it would overflow the derived
# percentages and sums in the database after ingest had said 202.
MAX_MAGNITUDE = 1e15


def _check_measure(report: ReportIn, measure: Measure) -> list[Issue]:
    num, den, value = report.numerator, report.denominator, report.value
    huge = [
        name
        for name, x in (("value", value), ("numerator", num), ("denominator", den))
        if x is not None and abs(x) > MAX_MAGNITUDE
    ]
    if huge:
        return [
            Issue("value-out-of-range", say("value-out-of-range/huge", name=name, limit=f"{MAX_MAGNITUDE:g}"), name)
            for name in huge
        ]
    kind = {"measure": measure.value, "measure_vi": words.MEASURE[measure.value]}
    if measure is Measure.RATIO:
        if value is not None:
            if num is not None or den is not None:
                return [Issue("value-with-parts", say("value-with-parts"), "value")]
            # A published percentage without counts (the source gives none): stored as percent-only.
            if not 0 <= value <= 100:
                return [
                    Issue("value-out-of-range", say("value-out-of-range/percent", **_number("value", value)), "value")
                ]
            return []
        if num is None or den is None:
            return [Issue("ratio-needs-parts", say("ratio-needs-parts"), "numerator")]
        issues = []
        if num < 0 or den < 0:
            issues.append(Issue("negative-value", say("negative-value/parts"), "numerator"))
        if den == 0:
            issues.append(Issue("zero-denominator", say("zero-denominator"), "denominator"))
        if num > den:
            issues.append(
                Issue(
                    "numerator-exceeds-denominator",
                    say("numerator-exceeds-denominator", **_number("numerator", num), **_number("denominator", den)),
                    "numerator",
                )
            )
        return issues
    if num is not None or den is not None:
        return [Issue("parts-not-allowed", say("parts-not-allowed", **kind), "numerator")]
    if value is None:
        return [Issue("value-required", say("value-required", **kind), "value")]
    got = _number("value", value)
    if value < 0:
        return [Issue("negative-value", say("negative-value", **got), "value")]
    if measure is Measure.PERCENT and value > 100:
        return [Issue("value-out-of-range", say("value-out-of-range/percent", **got), "value")]
    if measure is Measure.BOOLEAN and value not in (0, 1):
        return [Issue("value-out-of-range", say("value-out-of-range/boolean", **got), "value")]
    if measure in (Measure.COUNT, Measure.RANK) and value != int(value):
        return [Issue("value-not-integer", say("value-not-integer", **kind, **got), "value")]
    if measure is Measure.RANK and value < 1:
        return [Issue("value-out-of-range", say("value-out-of-range/rank", **got), "value")]
    return []


def _number(name: str, x: float) -> dict[str, str]:
    # The number as sent, in both conventions: "12.5" for English, "12,5" for Vietnamese (no rounding).
    return {name: f"{x:g}", f"{name}_vi": f"{x:g}".replace(".", ",")}
