"""Report command: ``dxmon report --target-set NQ09 --period 2025 [--unit QN] --format docx|xlsx|pdf [--out FILE]``.

Writes the official report (Báo cáo kết quả, ``dxmon.report``) from what the last evaluation stored
in DX_DATABASE_URL; it only reads. The same document comes from ``GET /v1/exports/report`` on the
alerts service.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import asyncpg
import typer

from dxmon.catalog import Catalog
from dxmon.cli.status import unit_or_exit
from dxmon.contracts import LOCAL_TZ
from dxmon.report import FORMATS, file_name, render
from dxmon.report.access import PROVINCE
from dxmon.report.model import PeriodError, Report, ReportPeriod
from dxmon.report.pdf import ConversionError
from dxmon.report.repository import build_report
from dxmon.report.target_sets import UnknownTargetSet, check_target_set
from dxmon.settings import DatabaseSettings


async def _read(database_url: str, catalog: Catalog, target_set: str, period: ReportPeriod, unit: str) -> Report:
    conn = await asyncpg.connect(database_url)
    try:
        return await build_report(
            conn, catalog, target_set=target_set, period=period, unit=unit, now=datetime.now(LOCAL_TZ)
        )
    finally:
        await conn.close()


def register(cli) -> None:
    @cli.app.command("report")
    def report(
        target_set: str = typer.Option("NQ09", "--target-set", help="Target set (bộ chỉ tiêu) code, e.g. NQ09"),
        period: str = typer.Option(..., "--period", help="2025 (year), 2025-H1 (six months), 2025-Q3, 2025-11"),
        unit: str = typer.Option(PROVINCE, "--unit", help="Unit code from the catalog; default: the province"),
        fmt: str = typer.Option("docx", "--format", help="docx, xlsx or pdf"),
        out: Path = typer.Option(None, "--out", help="Output file; default: bao-cao-<set>-<unit>-<period>.<format>"),
    ) -> None:
        """Write the official report: summary, units ranked, charts and the annex of targets and results."""
        if fmt not in FORMATS:
            raise typer.BadParameter("--format is docx, xlsx or pdf")
        catalog = Catalog.load()
        try:
            chosen_period = ReportPeriod.parse(period)
            check_target_set(catalog, target_set)
        except (PeriodError, UnknownTargetSet) as exc:
            raise typer.BadParameter(str(exc)) from None
        chosen = unit_or_exit(catalog, unit)
        try:
            built = asyncio.run(_read(DatabaseSettings().database_url, catalog, target_set, chosen_period, chosen.code))
        except (OSError, asyncpg.PostgresError) as exc:
            typer.secho(f"lỗi: không đọc được cơ sở dữ liệu (DX_DATABASE_URL): {exc}", fg=typer.colors.RED, err=True)
            raise typer.Exit(1) from None
        try:
            document = render(built, fmt)
        except ConversionError as exc:
            typer.secho(f"lỗi: {exc}", fg=typer.colors.RED, err=True)
            raise typer.Exit(1) from None
        target = out or Path(file_name(built, fmt))
        target.write_bytes(document)
        typer.echo(f"Đã ghi {target} ({built.met}/{len(built.rows)} chỉ tiêu đạt, {built.period.label}).")
