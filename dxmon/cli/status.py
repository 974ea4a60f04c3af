"""Status command: ``dxmon status UNIT [--as-of DATE]``, a unit's indicators and how each stands.

Reads the unit's values in force from DX_DATABASE_URL and decides each status with
``dxmon.progress``, the rules the alerts service applies set-based: it answers before any evaluation
ran and for any past date, and it only reads. The table is in Vietnamese, for the staff who use it.
"""

from __future__ import annotations

import asyncio
import difflib
import re
from collections import defaultdict
from datetime import date, datetime

import asyncpg
import typer
from rich.console import Console
from rich.table import Table

from dxmon import words
from dxmon.catalog import Catalog, Indicator, Unit
from dxmon.contracts import LOCAL_TZ, end_of_local_day
from dxmon.formatting import format_date, format_moment, format_value
from dxmon.progress import (
    STATUS_LABELS,
    Evaluation,
    Point,
    Status,
    cutoff,
    evaluate,
    evaluation_day,
    in_force,
    local_day,
    overdue_since,
    target_applies,
)
from dxmon.settings import DatabaseSettings

STATUS_STYLES = {
    Status.MET: "green", Status.ON_TRACK: "blue", Status.BEHIND: "dark_orange", Status.AT_RISK: "yellow",
    Status.MISSED: "red", Status.OVERDUE: "magenta", Status.NO_DATA: "dim",
}
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
COMPARATOR_SIGNS = {">=": "≥", ">": ">", "<=": "≤", "<": "<", "==": "="}


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


async def fetch_points(database_url: str, unit: str) -> tuple[dict[str, list[Point]], dict[tuple[str, datetime], datetime]]:
    """fetch_points reads the unit's values in force per period and when each arrived."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT indicator, observed_at, value, received_at FROM period_values WHERE unit = $1", unit
        )
    finally:
        await conn.close()
    points: dict[str, list[Point]] = defaultdict(list)
    received = {}
    for r in rows:
        points[r["indicator"]].append(Point(r["observed_at"], r["value"]))
        received[(r["indicator"], r["observed_at"])] = r["received_at"]
    return points, received


def status_table(
    catalog: Catalog, unit: Unit, points: dict[str, list[Point]], received: dict[tuple[str, datetime], datetime],
    as_of: datetime,
) -> Table:
    """status_table lays out every indicator that applies to the unit's level, with its status."""
    day = evaluation_day(unit, as_of)
    table = Table(
        words.INDICATOR, words.CURRENT_VALUE, words.EXPECTED, words.TARGET, "Trạng thái", "Báo cáo gần nhất",
        words.REPORTING["missing"],
        title=f"{unit.name_on(day)} ({unit.code}) — đánh giá đến {format_moment(as_of)}",
        caption=_caption(catalog, unit, as_of), show_lines=False,
    )
    counts: dict[Status, int] = defaultdict(int)
    for ind in catalog.indicators.values():
        if unit.level not in ind.applies_to:
            continue
        series = in_force(points.get(ind.code, []), unit, as_of)
        latest = series[-1] if series else None
        target = ind.target_for(unit.level)
        ev: Evaluation | None = None
        if target is not None and target_applies(target, unit, as_of):
            ev = evaluate(target=target, measure=ind.measure, direction=ind.direction, cadence=ind.cadence,
                          unit=unit, points=series, as_of=as_of)
            counts[ev.status] += 1
        late = ev.overdue_since if ev else (
            overdue_since(latest.day, day, ind.cadence, unit.valid_from) if latest else None)
        last = ""
        if latest is not None:
            arrived = received.get((ind.code, latest.observed_at))
            last = f"kỳ {format_date(latest.observed_at)}" + (f", nhận {format_date(arrived)}" if arrived else "")
        table.add_row(
            f"{ind.code} {ind.name_vi}",
            format_value(latest.value if latest else None, ind.measure.value),
            _expected(ev, ind),
            f"{COMPARATOR_SIGNS[ev.comparator]} {format_value(ev.target, ind.measure.value)} "
            f"({format_date(ev.milestone)})" if ev
            else f"[dim]không có {words.TARGET.lower()}[/dim]",
            f"[{STATUS_STYLES[ev.status]}]{STATUS_LABELS[ev.status]}[/]" if ev else "",
            last,
            f"từ {format_date(late)}" if late else "",
        )
    summary = ", ".join(f"{STATUS_LABELS[s]}: {n}" for s, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    table.caption = "\n".join(filter(None, [table.caption, summary]))
    return table


def _expected(ev: Evaluation | None, ind: Indicator) -> str:
    if ev is None or ev.expected is None or ind.measure.value == "boolean":
        return ""
    return format_value(ev.expected, ind.measure.value)


def _caption(catalog: Catalog, unit: Unit, as_of: datetime) -> str:
    if unit.valid_to is None or unit.valid_to >= local_day(as_of):
        return ""
    successors = ", ".join(catalog.final_successors(unit.code)) or "không có"
    return (f"Đơn vị kết thúc hoạt động ngày {format_date(unit.valid_to)}: đánh giá tính đến ngày đó "
            f"(số liệu đến {format_date(cutoff(unit, as_of))}). Đơn vị kế thừa: {successors}.")


def register(cli) -> None:
    @cli.app.command("status")
    def status(
        unit: str = typer.Argument(..., help="Unit code from the catalog, e.g. QN-P-HONGGAI"),
        as_of: str = typer.Option(
            None, "--as-of",
            help="Evaluate as of this date (YYYY-MM-DD = the end of that day in Asia/Ho_Chi_Minh) or ISO date-time; "
                 "default: now",
        ),
    ) -> None:
        """Show a unit's indicators: latest value, glide path, target, status, last report, overdue."""
        when = parse_as_of(as_of, datetime.now(LOCAL_TZ))
        catalog = Catalog.load()
        chosen = unit_or_exit(catalog, unit)
        settings = DatabaseSettings()
        try:
            points, received = asyncio.run(fetch_points(settings.database_url, chosen.code))
        except (OSError, asyncpg.PostgresError) as exc:
            typer.secho(f"lỗi: không đọc được cơ sở dữ liệu (DX_DATABASE_URL): {exc}", fg=typer.colors.RED, err=True)
            raise typer.Exit(1) from None
        Console().print(status_table(catalog, chosen, points, received, when))
