"""Rates commands: ``rates rebuild --since DATE`` — recompute reporting rates for back-filled history.

Each evaluation pass recomputes the rates of the periods that ended in the last 400 days; a province
that loads older history (or a correction of an old period) rebuilds the rest on demand.
"""

from __future__ import annotations

from datetime import date, datetime

import asyncpg
import typer

from dxmon.catalog import Catalog
from dxmon.cli.database import run_with_database
from dxmon.contracts import LOCAL_TZ
from dxmon.store.progress_repository import evaluate


def register(cli) -> None:
    rates = typer.Typer(help="Reporting rates (tỷ lệ báo cáo): rebuild for older periods.", no_args_is_help=True)
    cli.app.add_typer(rates, name="rates")

    @rates.command("rebuild")
    def rebuild(
        since: str = typer.Option(..., "--since", help="First day whose periods are recomputed, YYYY-MM-DD"),
    ) -> None:
        """Recompute the reporting rates of every period that ended since DATE (one full evaluation pass)."""
        try:
            first = date.fromisoformat(since)
        except ValueError:
            raise typer.BadParameter(f"ngày phải có dạng YYYY-MM-DD: {since!r}") from None
        now = datetime.now(LOCAL_TZ)
        if first >= now.date():
            raise typer.BadParameter("ngày bắt đầu phải trước hôm nay")

        async def work(conn: asyncpg.Connection) -> int:
            return (await evaluate(conn, Catalog.load(), now, rates_since=first)).rates

        rows = run_with_database(work)
        typer.echo(
            f"Đã tính lại tỷ lệ báo cáo của {rows:,} kỳ (đơn vị × kỳ báo cáo) từ {first:%d/%m/%Y}.".replace(",", ".")
        )
