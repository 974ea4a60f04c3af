"""Validation: what a well-formed report must also satisfy against the programme catalog.

Pure functions: the caller passes the catalog and the current time, so the rules are testable
without a clock or a server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta

from dxmon.catalog import Catalog, Indicator, Level, Measure
from dxmon.contracts import LOCAL_TZ, ReportIn, end_of_local_day
from dxmon.problems import Issue


def check_report(report: ReportIn, catalog: Catalog, now: datetime, future_skew: timedelta) -> list[Issue]:
    """check_report lists every rule ``report`` breaks (empty when it may be published)."""
    issues: list[Issue] = []
    unit = catalog.units.get(report.unit)
    indicator = catalog.indicators.get(report.indicator)
    if unit is None:
        issues.append(Issue("unknown-unit", f"unit {report.unit!r} is not in the catalog", "unit"))
    if indicator is None:
        issues.append(Issue("unknown-indicator", f"indicator {report.indicator!r} is not in the catalog", "indicator"))

    local_day = report.observed_at.astimezone(LOCAL_TZ).date()
    limit = now + future_skew
    # A bare date means the end of that day, so today's date would be "future" until midnight; a
    # clerk reporting today's figures means today, so a period ending today is accepted.
    if report.observed_at > limit and not (
        report.observed_at == end_of_local_day(local_day) and local_day <= limit.astimezone(LOCAL_TZ).date()
    ):
        issues.append(
            Issue("future-observation", f"observed_at {report.observed_at.isoformat()} is in the future", "observed_at")
        )
    if unit is not None and not unit.active_on(local_day):
        if unit.valid_to is not None and local_day > unit.valid_to:
            successors = _units_on(catalog, unit.successors, local_day, lambda c: catalog.units[c].successors,
                                   unit.level)
            successors = successors or [
                c for c in catalog.final_successors(unit.code) if catalog.units[c].level is unit.level]
            hint = f"; report for {', '.join(successors)} instead" if successors else ""
            msg = f"unit {unit.code} ceased on {unit.valid_to.isoformat()}{hint}"
        else:
            before = _units_on(catalog, catalog.predecessors(unit.code), local_day, catalog.predecessors, unit.level)
            hint = f"; before that report for {', '.join(before[:10])}" if before else ""
            msg = f"unit {unit.code} exists only from {unit.valid_from.isoformat()}{hint}"
        issues.append(Issue("unit-not-valid-on-date", msg, "observed_at"))
    if unit is not None and indicator is not None and unit.level not in indicator.applies_to:
        levels = ", ".join(sorted(level.value for level in indicator.applies_to))
        issues.append(
            Issue(
                "indicator-not-applicable",
                f"indicator {indicator.code} is reported by {levels}, not by a {unit.level.value}",
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
            return [Issue("category-required",
                          f"indicator {indicator.code} is reported by category: one of {', '.join(codes)}", "category")]
        return []
    if report.category not in codes:
        allowed = f"one of {', '.join(codes)}" if codes else "none (it has no categories)"
        return [Issue("unknown-category",
                      f"indicator {indicator.code} has no category {report.category!r}; allowed: {allowed}", "category")]
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
    huge = [name for name, x in (("value", value), ("numerator", num), ("denominator", den))
            if x is not None and abs(x) > MAX_MAGNITUDE]
    if huge:
        return [Issue("value-out-of-range", f"{name} is larger than {MAX_MAGNITUDE:g}", name) for name in huge]
    if measure is Measure.RATIO:
        if value is not None:
            if num is not None or den is not None:
                return [Issue("value-with-parts", "send numerator and denominator, or only a published percentage "
                              "as value, not both", "value")]
            # A published percentage without counts (the source gives none): stored as percent-only.
            if not 0 <= value <= 100:
                return [Issue("value-out-of-range", f"a percentage must be within 0..100, got {value:g}", "value")]
            return []
        if num is None or den is None:
            return [Issue("ratio-needs-parts", "ratio indicators need both numerator and denominator "
                          "(or, when the source publishes no counts, the percentage as value)", "numerator")]
        issues = []
        if num < 0 or den < 0:
            issues.append(Issue("negative-value", "numerator and denominator cannot be negative", "numerator"))
        if den == 0:
            issues.append(Issue("zero-denominator", "denominator must be greater than 0", "denominator"))
        if num > den:
            issues.append(
                Issue("numerator-exceeds-denominator", f"numerator {num:g} exceeds denominator {den:g}", "numerator")
            )
        return issues
    if num is not None or den is not None:
        return [Issue("parts-not-allowed", f"a {measure.value} indicator takes value, not numerator/denominator", "numerator")]
    if value is None:
        return [Issue("value-required", f"a {measure.value} indicator needs value", "value")]
    if value < 0:
        return [Issue("negative-value", f"value {value:g} cannot be negative", "value")]
    if measure is Measure.PERCENT and value > 100:
        return [Issue("value-out-of-range", f"a percentage must be within 0..100, got {value:g}", "value")]
    if measure is Measure.BOOLEAN and value not in (0, 1):
        return [Issue("value-out-of-range", f"a yes/no indicator takes 0 or 1, got {value:g}", "value")]
    if measure in (Measure.COUNT, Measure.RANK) and value != int(value):
        return [Issue("value-not-integer", f"a {measure.value} must be a whole number, got {value:g}", "value")]
    if measure is Measure.RANK and value < 1:
        return [Issue("value-out-of-range", f"a rank starts at 1, got {value:g}", "value")]
    return []
