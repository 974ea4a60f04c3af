"""Status command: ``dxmon status UNIT [--as-of DATE] [--format table|json]``, how each indicator stands.

Reads the unit's reports from DX_DATABASE_URL and decides both judgements (result and reporting) with
``dxmon.progress``, the rules the alerts service applies set-based: it answers before any evaluation
ran and for any past date (with the reports *received* by then), and it only reads. An outcome an
operator locked or reopened (``dxmon outcomes``) is read from the store, which is its authority. The
table is in Vietnamese, for the staff who use it; ``--format json`` is for programs.
One command over 400 lines: the lines (one per indicator and target set), the table and the JSON share
the same few helpers and read best together.
"""

from __future__ import annotations

import asyncio
import dataclasses
import difflib
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Column, Table

from dxmon import words
from dxmon.catalog import Catalog, Indicator, Measure, Period, Unit
from dxmon.contracts import LOCAL_TZ, end_of_local_day
from dxmon.formatting import COMPARATOR_SIGNS, format_date, format_moment, format_value
from dxmon.progress import (
    REPORTING_LABELS,
    STATUS_LABELS,
    Evaluation,
    Point,
    Received,
    Reporting,
    Status,
    category_total,
    cutoff,
    evaluate_judged,
    evaluate_target,
    evaluation_day,
    in_force,
    local_day,
    overdue_since,
    period_start,
    target_applies,
)
from dxmon.settings import DatabaseSettings
from dxmon.store import approvals_repository
from dxmon.store.evaluation_sql import AUTO_LOCK_BY
from dxmon.store.reports_repository import explanation_text

STATUS_STYLES = {
    Status.EXCEEDED: "green",
    Status.MET: "green",
    Status.ON_TRACK: "blue",
    Status.BEHIND: "dark_orange",
    Status.AT_RISK: "yellow",
    Status.MISSED: "red",
    Status.NO_DATA: "dim",
}
REPORTING_STYLES = {Reporting.ON_TIME: "green", Reporting.LATE: "yellow", Reporting.MISSING: "magenta"}
# The programme's own set: what a milestone found in no set's target belongs to.
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_as_of(text: str | None, now: datetime) -> datetime:
    """parse_as_of: a bare date is the end of that day in Asia/Ho_Chi_Minh; a date-time needs an offset."""
    if text is None:
        return now
    try:
        if _DATE_ONLY.match(text):
            return end_of_local_day(date.fromisoformat(text))
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"không phải ngày (YYYY-MM-DD) hay ngày giờ ISO 8601: {text!r}") from None
    if parsed.tzinfo is None:
        raise typer.BadParameter("ngày giờ cần có múi giờ, ví dụ 2026-01-20T09:00+07:00")
    return parsed


def unit_or_exit(catalog: Catalog, code: str) -> Unit:
    """unit_or_exit returns the unit, or says the code is unknown (with near matches) and exits 2."""
    if code in catalog.units:
        return catalog.units[code]
    near = difflib.get_close_matches(code.upper(), list(catalog.units), n=3, cutoff=0.6)
    hint = f"; có phải {', '.join(near)}?" if near else "; danh mục đơn vị ở catalog/units.yaml"
    typer.secho(f"lỗi: mã đơn vị {code!r} không có trong danh mục{hint}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


@dataclass(frozen=True)
class Report:
    """Report: one stored report of the unit, in stream order (``seq``), as history."""

    observed_at: datetime
    received_at: datetime
    category: str
    value: float | None
    numerator: float | None
    denominator: float | None
    seq: int
    explanation: str | None = None  # as sent: None said nothing about it, "" withdrew it

    @property
    def percent(self) -> float | None:
        if self.value is not None:
            return self.value
        return 100 * self.numerator / self.denominator if self.numerator is not None and self.denominator else None


@dataclass(frozen=True)
class Stored:
    """Stored: what the store knows of a unit: its report history and the outcomes it has decided."""

    history: dict[str, list[Report]]
    outcomes: dict[tuple[str, str, date], asyncpg.Record]  # by (indicator, target set, deadline)


async def fetch_stored(database_url: str, unit: str) -> Stored:
    """fetch_stored reads the unit's reports (all, in stream order) and its milestone outcomes."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT indicator, observed_at, received_at, category, value, numerator, denominator, explanation"
            " FROM reports"
            " WHERE unit = $1 ORDER BY coalesce(stream_seq, 0), received_at, event_id",
            unit,
        )
        outcomes = await conn.fetch("SELECT * FROM milestone_outcomes WHERE unit = $1", unit)
    finally:
        await conn.close()
    history: dict[str, list[Report]] = defaultdict(list)
    for n, r in enumerate(rows):
        history[r["indicator"]].append(
            Report(
                r["observed_at"],
                r["received_at"],
                r["category"],
                r["value"],
                r["numerator"],
                r["denominator"],
                n,
                r["explanation"],
            )
        )
    return Stored(history, {(o["indicator"], o["target_set"], o["milestone"]): o for o in outcomes})


def values_in_force(history: list[Report], indicator: Indicator, as_of: datetime) -> list[Point]:
    """values_in_force: per period, the latest report of each category received by ``as_of``; a period's
    value sums its categories (``dxmon.progress.category_total``, the store's rule), with its first receipt."""
    period = indicator.cadence.period
    winners: dict[date, dict[str, Report]] = defaultdict(dict)
    first: dict[date, datetime] = {}
    for r in history:  # stream order: a later one wins
        if r.received_at > as_of:
            continue
        key = period_start(local_day(r.observed_at), period)
        first[key] = min(first.get(key, r.received_at), r.received_at)
        winners[key][r.category] = r
    points = []
    for key, members in winners.items():
        reports = list(members.values())
        latest = max(reports, key=lambda r: r.seq)
        value = category_total([h for r in reports if (h := _received(r)) is not None], indicator.measure)
        if value is not None:
            points.append(Point(max(r.observed_at for r in reports), value, first[key], latest.received_at))
    return sorted(points, key=lambda p: p.observed_at)


def _received(r: Report) -> Received | None:
    """The report as history (None: a ratio whose denominator is zero has no value)."""
    percent = r.percent
    if percent is None:
        return None
    return Received(r.observed_at, percent, r.received_at, r.seq, r.category, r.numerator, r.denominator)


def _percent_only_members(history: list[Report], latest: Point, period: Period, as_of: datetime) -> bool:
    """_percent_only_members: the latest period sums categories, one of which gave only a percentage."""
    key = period_start(latest.day, period)
    members: dict[str, Report] = {}
    for r in history:
        if r.received_at <= as_of and period_start(local_day(r.observed_at), period) == key:
            members[r.category] = r
    return len(members) > 1 and any(r.numerator is None for r in members.values())


def explanation_of(ind: Indicator, history: list[Report], latest: Point | None, as_of: datetime) -> str:
    """explanation_of: the explanation of the latest period's value as of ``as_of``, by the store's rule: per
    category, that of the last report received by then that carried one ("" withdrew it)."""
    if latest is None:
        return ""
    period = ind.cadence.period
    key = period_start(latest.day, period)
    by_category: dict[str, str] = {}
    for r in history:  # stream order: a later one wins
        if r.explanation is None or r.received_at > as_of:
            continue
        if period_start(local_day(r.observed_at), period) == key:
            by_category[r.category] = r.explanation
    return explanation_text(ind, {category: text for category, text in by_category.items() if text})


def history_of(reports: list[Report]) -> list[Received]:
    """history_of: the report history the final outcome is decided from (every category's)."""
    return [h for r in reports if (h := _received(r)) is not None]


# Each value's approval (catalog programme.approval), by (indicator, period start); None when approval is off.
Approvals = dict[tuple[str, date], str] | None


async def fetch_approvals(database_url: str, unit: str, as_of: datetime) -> dict[tuple[str, date], str]:
    """fetch_approvals: the approval of each of the unit's values as of ``as_of`` (approvals_repository)."""
    conn = await asyncpg.connect(database_url)
    try:
        values = await approvals_repository.value_states(conn, [unit], as_of)
    finally:
        await conn.close()
    return {(v.indicator, v.period_start): v.approval for v in values}


def approval_of(catalog: Catalog, line: Line, approvals: Approvals) -> str | None:
    """approval_of: the approval of the line's latest value (None when approval is off or nothing was reported)."""
    if approvals is None or not line.points:
        return None
    code = line.indicator.code
    return approvals.get((code, catalog.period_of(code, line.points[-1].observed_at).start))


def period_code(d: date, period: Period) -> str:
    """period_code names the period containing ``d``: YYYY-MM, YYYY-Qn or YYYY."""
    if period is Period.MONTHLY:
        return f"{d.year}-{d.month:02d}"
    if period is Period.QUARTERLY:
        return f"{d.year}-Q{(d.month - 1) // 3 + 1}"
    return str(d.year)


@dataclass(frozen=True)
class Line:
    """Line: one (indicator, target set) of the unit as ``dxmon status`` shows it.

    ``kept`` is an outcome an operator decided (locked or reopened), read from the store.
    """

    indicator: Indicator
    target_set: str | None
    points: list[Point]
    evaluation: Evaluation | None
    kept: asyncpg.Record | None
    includes_percent_only: bool = False
    explanation: str = ""  # of the current value's period (Nguyên nhân, giải pháp)
    shown: bool = False  # the judgement the dashboards and alerts show (dxmon.progress.evaluate_judged)

    @property
    def result(self) -> Status | None:
        if self.evaluation is None:
            return None
        if self.kept is not None and self.evaluation.status is not Status.NO_DATA:
            return Status(self.kept["status"])
        return self.evaluation.status

    @property
    def final(self) -> bool:
        if self.kept is not None:
            return bool(self.kept["final"]) and not self.kept["reopened"]
        return bool(self.evaluation and self.evaluation.final)

    @property
    def provisional(self) -> bool:
        ev = self.evaluation
        return bool(ev and ev.cutoff is not None and ev.status is not Status.NO_DATA and not self.final)

    @property
    def deciding(self) -> tuple[float | None, datetime | None]:
        if self.kept is not None:
            return self.kept["value"], self.kept["deciding_observed_at"]
        ev = self.evaluation
        return (ev.deciding_value, ev.deciding_observed_at) if ev and ev.cutoff is not None else (None, None)

    @property
    def revision(self) -> tuple[float | None, datetime | None]:
        """revision: once final, a value in force at the deadline that differs from the deciding one."""
        ev, (value, _) = self.evaluation, self.deciding
        if ev is None or not self.final:
            return None, None
        at_deadline = [p for p in self.points if local_day(p.observed_at) <= ev.milestone]
        now = at_deadline[-1] if at_deadline else None
        if now is not None and now.value != value:
            return now.value, now.received_at
        return None, None


def unit_lines(catalog: Catalog, unit: Unit, stored: Stored, as_of: datetime, live: bool) -> list[Line]:
    """unit_lines evaluates every indicator that applies to the unit's level as of ``as_of``.

    One line per indicator for the programme's target (NQ 09, continued by its 2030 orientation:
    ``Indicator.target_for``), named by the set of the milestone it is judged against; then one line
    per other target set with a target for the unit's level — an ended set's final outcome, a
    reference set's progress (shown, never alerted on). ``live``: as_of is now, so outcomes an operator
    locked or reopened are taken from the store (for a past date everything is recomputed from the
    reports received by then).
    """
    lines = []
    day = local_day(as_of)

    def judged(ind: Indicator, target, points, history) -> tuple[Evaluation, asyncpg.Record | None]:
        ev = evaluate_target(catalog, ind, unit, target, points, as_of, received=history_of(history))
        row = None
        decided = next((m for m in target.milestones if m.deadline == ev.milestone), None)
        if ev.cutoff is not None and decided is not None:
            row = stored.outcomes.get((ind.code, ind.set_of(unit.level, target, decided), ev.milestone))
        kept = (
            row
            if live and row is not None and (row["reopened"] or row["locked_by"] not in (None, AUTO_LOCK_BY))
            else None
        )
        return ev, kept

    for ind in catalog.indicators.values():
        if unit.level not in ind.applies_to:
            continue
        history = stored.history.get(ind.code, [])
        points = in_force(values_in_force(history, ind, as_of), unit, as_of)
        mixed = bool(points) and _percent_only_members(history, points[-1], ind.cadence.period, as_of)
        why = explanation_of(ind, history, points[-1] if points else None, as_of)
        target = ind.target_for(unit.level)
        shown: set[str] = set()
        if target is not None and target_applies(target, unit, as_of):
            ev, kept = judged(ind, target, points, history)
            code = ind.set_of(unit.level, target, next(m for m in target.milestones if m.deadline == ev.milestone))
            shown.add(code)
            lines.append(Line(ind, code, points, ev, kept, mixed, why))
        elif target is None and not ind.targets_for(unit.level):
            lines.append(Line(ind, None, points, None, None, mixed, why))
        for t in ind.targets_for(unit.level):
            target_set = catalog.target_sets.get(t.target_set)
            if t.target_set in shown or target_set is None or target_set.applies_from > day:
                continue
            last = t.milestones[-1]
            if not target_applies(t, unit, as_of) or (last.deadline < day and not unit.active_on(last.deadline)):
                continue
            shown.add(t.target_set)
            ev, kept = judged(ind, t, points, history)
            lines.append(Line(ind, t.target_set, points, ev, kept, mixed, why))
        # Which of the indicator's lines the dashboards and alerts show: the target it stands worst against.
        if (chosen := evaluate_judged(catalog, ind, unit, points, as_of, received=history_of(history))) is not None:
            decided = next(m for m in chosen[0].milestones if m.deadline == chosen[1].milestone)
            code = ind.set_of(unit.level, chosen[0], decided)
            lines = [
                dataclasses.replace(line, shown=True)
                if line.indicator is ind and line.target_set == code and line.evaluation is not None
                else line
                for line in lines
            ]
    return lines


def _expected(ev: Evaluation | None, ind: Indicator) -> str:
    if ev is None or ev.expected is None or ind.measure is Measure.BOOLEAN or ev.cutoff is not None:
        return ""
    return format_value(ev.expected, ind.measure.value)


def status_table(
    catalog: Catalog, unit: Unit, lines: list[Line], as_of: datetime, approvals: Approvals = None
) -> Table:
    """status_table: one row per indicator, the result and the reporting in columns of their own."""
    day = evaluation_day(unit, as_of)
    caption = escape(_caption(catalog, unit, as_of))
    table = Table(
        words.INDICATOR,
        words.TARGET_SET,
        words.CURRENT_VALUE,
        words.EXPECTED,
        words.TARGET,
        "Kết quả",
        words.DECIDING_VALUE,
        "Tình hình báo cáo",
        "Báo cáo gần nhất",
        title=escape(f"{unit.name_on(day)} ({unit.code}) — đánh giá đến {format_moment(as_of)}"),
        caption=caption,
        show_lines=False,
    )
    if approvals is not None:
        table.add_column(words.APPROVAL_HEADING)
    results: dict[Status, int] = defaultdict(int)
    reporting: dict[Reporting, int] = defaultdict(int)
    for line in lines:
        ind, ev = line.indicator, line.evaluation
        measure = ind.measure.value
        latest = line.points[-1] if line.points else None
        if line.result is not None:
            results[line.result] += 1
        if ev is not None and ev.reporting is not None:
            reporting[ev.reporting] += 1
        result = ""
        if line.result is not None:
            qualifier = f" ({words.FINAL})" if line.final else f" ({words.PROVISIONAL})" if line.provisional else ""
            result = f"[{STATUS_STYLES[line.result]}]{STATUS_LABELS[line.result]}{qualifier}[/]"
        decided = ""
        value, observed = line.deciding
        if ev is not None and ev.cutoff is not None:
            decided = format_value(value, measure) + (
                f" (kỳ {period_code(local_day(observed), ind.cadence.period)})" if observed else ""
            )
            revised, revised_at = line.revision
            if revised is not None:
                decided += f"; {words.REVISED_AFTER_CUTOFF}: {format_value(revised, measure)}" + (
                    f" (nhận {format_date(revised_at)})" if revised_at else ""
                )
        report = ""
        if ev is not None and ev.reporting is not None:
            report = f"[{REPORTING_STYLES[ev.reporting]}]{REPORTING_LABELS[ev.reporting]}[/]"
            if ev.overdue_since:
                report += f" từ {format_date(ev.overdue_since)}"
        elif ev is None and latest is not None:
            late = overdue_since(latest.day, day, ind.cadence, unit.valid_from)
            report = f"{REPORTING_LABELS[Reporting.MISSING]} từ {format_date(late)}" if late else ""
        last = ""
        if latest is not None:
            last = f"kỳ {period_code(latest.day, ind.cadence.period)}" + (
                f", nhận {format_date(latest.received_at)}" if latest.received_at else ""
            )
        several = sum(other.indicator is ind for other in lines) > 1
        table.add_row(
            escape(f"{ind.code} {ind.name_vi}"),
            escape((line.target_set or "") + (" *" if several and line.shown else "")),
            format_value(latest.value if latest else None, measure),
            _expected(ev, ind),
            f"{COMPARATOR_SIGNS[ev.comparator]} {format_value(ev.target, measure)} ({format_date(ev.milestone)})"
            if ev
            else "[dim]không có mục tiêu[/dim]",
            result,
            decided,
            report,
            last,
            *([words.APPROVAL.get(approval_of(catalog, line, approvals) or "", "")] if approvals is not None else []),
        )
    summary = "; ".join(
        filter(
            None,
            [
                ", ".join(f"{STATUS_LABELS[s]}: {n}" for s, n in sorted(results.items(), key=lambda kv: -kv[1])),
                ", ".join(f"{REPORTING_LABELS[r]}: {n}" for r, n in sorted(reporting.items(), key=lambda kv: -kv[1])),
            ],
        )
    )
    marked = any(line.shown and sum(o.indicator is line.indicator for o in lines) > 1 for line in lines)
    note = f"* {words.TARGET_SET.lower()} dùng trên bảng theo dõi và trong cảnh báo" if marked else ""
    table.caption = "\n".join(filter(None, [caption, summary, note]))
    return table


def explanations_table(lines: list[Line]) -> Table | None:
    """explanations_table: the Nguyên nhân, giải pháp of each indicator's current period, None when there is none."""
    table = Table(
        Column(words.INDICATOR, max_width=40),
        Column("Kỳ", no_wrap=True),
        Column(words.EXPLANATION, min_width=40),
        title=words.EXPLANATION,
        show_lines=True,
    )
    shown: set[str] = set()
    for line in lines:
        ind = line.indicator
        if not line.explanation or ind.code in shown:  # an indicator judged in several sets has one explanation
            continue
        shown.add(ind.code)
        table.add_row(
            escape(f"{ind.code} {ind.name_vi}"),
            period_code(line.points[-1].day, ind.cadence.period),
            escape(line.explanation),
        )
    return table if shown else None


def status_json(
    catalog: Catalog, unit: Unit, lines: list[Line], as_of: datetime, approvals: Approvals = None
) -> dict[str, Any]:
    """status_json: the machine-readable status (its field names are a contract, see the README)."""
    indicators = []
    for line in lines:
        ev = line.evaluation
        if ev is None or line.target_set is None:
            continue
        value, observed = line.deciding
        revised, revised_at = line.revision
        latest = line.points[-1] if line.points else None
        period = line.indicator.cadence.period
        indicators.append(
            {
                "indicator": line.indicator.code,
                "target_set": line.target_set,
                "shown": line.shown,
                "binding": catalog.target_sets[line.target_set].binding
                if line.target_set in catalog.target_sets
                else True,
                "result": line.result.value if line.result else None,
                "reporting": ev.reporting.value if ev.reporting else None,
                "provisional": line.provisional,
                "final": line.final,
                "deciding_value": value,
                "deciding_period": period_code(local_day(observed), period) if observed else None,
                "current_value": latest.value if latest else None,
                "current_period": period_code(latest.day, period) if latest else None,
                "expected": ev.expected,
                "target": ev.target,
                "comparator": ev.comparator,
                "deadline": ev.milestone.isoformat(),
                "cutoff": ev.cutoff.isoformat() if ev.cutoff else None,
                "revised_value": revised,
                "revised_at": revised_at.isoformat() if revised_at else None,
                "includes_percent_only": line.includes_percent_only,
                "explanation": line.explanation or None,
                "reporting_missing_since": ev.overdue_since.isoformat() if ev.overdue_since else None,
                "measure": line.indicator.measure.value,
                "approval": approval_of(catalog, line, approvals),
            }
        )
    return {
        "unit": unit.code,
        "as_of": as_of.isoformat(),
        "indicators": indicators,
        "scorecards": scorecards(catalog, lines, as_of),
    }


def scorecards(catalog: Catalog, lines: list[Line], as_of: datetime) -> list[dict[str, Any]]:
    """scorecards: per target set that has ended, the unit's final outcomes counted (Kết quả thực hiện)."""
    day = local_day(as_of)
    cards = []
    for code in sorted({ln.target_set for ln in lines if ln.target_set}):
        target_set = catalog.target_sets.get(code)
        if target_set is None or target_set.applies_to >= day:
            continue
        counts = {"exceeded": 0, "met": 0, "missed": 0, "no_data": 0}
        for ln in lines:
            if ln.target_set == code and ln.result is not None and ln.result.value in counts:
                counts[ln.result.value] += 1
        cards.append({"target_set": code, **counts, "total": sum(counts.values())})
    return cards


def _caption(catalog: Catalog, unit: Unit, as_of: datetime) -> str:
    if unit.valid_to is None or unit.valid_to >= local_day(as_of):
        return ""
    successors = ", ".join(catalog.final_successors(unit.code)) or "không có"
    return (
        f"Đơn vị kết thúc hoạt động ngày {format_date(unit.valid_to)}: đánh giá tính đến ngày đó "
        f"(số liệu đến {format_date(cutoff(unit, as_of))}). Đơn vị kế thừa: {successors}."
    )


def register(cli) -> None:
    @cli.app.command("status")
    def status(
        unit: str = typer.Argument(..., help="Unit code from the catalog, e.g. QN-P-HONGGAI"),
        as_of: str = typer.Option(
            None,
            "--as-of",
            help="Evaluate as of the end of this day (YYYY-MM-DD, Asia/Ho_Chi_Minh) or ISO date-time, with the "
            "reports received by then; default: now",
        ),
        output: str = typer.Option("table", "--format", help="table (for people) or json (for programs)"),
    ) -> None:
        """Show a unit's indicators: result and reporting, each in its own column, and what decided them."""
        if output not in ("table", "json"):
            raise typer.BadParameter("--format is table or json")
        when = parse_as_of(as_of, datetime.now(LOCAL_TZ))
        catalog = Catalog.load()
        chosen = unit_or_exit(catalog, unit)
        settings = DatabaseSettings()
        try:
            stored = asyncio.run(fetch_stored(settings.database_url, chosen.code))
            approvals = (
                asyncio.run(fetch_approvals(settings.database_url, chosen.code, when)) if catalog.approval else None
            )
        except (OSError, asyncpg.PostgresError) as exc:
            typer.secho(f"lỗi: không đọc được cơ sở dữ liệu (DX_DATABASE_URL): {exc}", fg=typer.colors.RED, err=True)
            raise typer.Exit(1) from None
        lines = unit_lines(catalog, chosen, stored, when, live=as_of is None)
        if output == "json":
            typer.echo(json.dumps(status_json(catalog, chosen, lines, when, approvals), ensure_ascii=False, indent=2))
            return
        console = Console()
        console.print(status_table(catalog, chosen, lines, when, approvals))
        explained = explanations_table(lines)
        if explained is not None:
            console.print(explained)
