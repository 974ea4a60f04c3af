"""Outcomes commands: ``outcomes list|reopen|lock`` — official outcomes (chốt số liệu) and their audit.

``reopen`` and ``lock`` change one milestone outcome in the database named by DX_DATABASE_URL and
re-evaluate the unit at once, so ``dxmon status`` and the dashboards show the change; ``list`` shows
every change with who, when, why, and the outcome before and after.
"""

from __future__ import annotations

import getpass
import json
from datetime import date, datetime
from typing import Any

import asyncpg
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dxmon import words
from dxmon.catalog import Catalog
from dxmon.cli.database import run_with_database
from dxmon.contracts import LOCAL_TZ
from dxmon.progress import STATUS_LABELS, Status
from dxmon.store import outcomes_repository
from dxmon.store.outcomes_repository import OutcomeError
from dxmon.store.progress_repository import evaluate

ACTION_LABELS = {"lock": "Khóa (chốt)", "reopen": "Mở lại", "auto-lock": "Tự động chốt"}


def _deadline(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"thời hạn phải có dạng YYYY-MM-DD: {text!r}") from None


def _check_codes(catalog: Catalog, unit: str, indicator: str) -> None:
    if unit not in catalog.units:
        raise typer.BadParameter(f"không có đơn vị {unit!r} trong danh mục")
    if indicator not in catalog.indicators:
        raise typer.BadParameter(f"không có chỉ tiêu {indicator!r} trong danh mục")


def _describe(state: dict[str, Any] | None) -> str:
    if not state:
        return "—"
    label = STATUS_LABELS[Status(state["status"])]
    qualifier = words.FINAL if state.get("final") else words.PROVISIONAL
    value = state.get("value")
    shown = "không có số liệu" if value is None else f"{value:.4g}".replace(".", ",")
    return f"{label} ({qualifier}), {words.DECIDING_VALUE.lower()}: {shown}"


def register(cli) -> None:
    outcomes = typer.Typer(help="Official outcomes (chốt số liệu): list changes, reopen, lock.", no_args_is_help=True)
    cli.app.add_typer(outcomes, name="outcomes")

    def change(
        action: str, unit: str, indicator: str, target_set: str, deadline: str, reason: str, by: str | None
    ) -> None:
        catalog = Catalog.load()
        _check_codes(catalog, unit, indicator)
        when = _deadline(deadline)
        now = datetime.now(LOCAL_TZ)
        operator = by or getpass.getuser()
        do = outcomes_repository.lock if action == "lock" else outcomes_repository.reopen

        async def work(conn: asyncpg.Connection) -> dict[str, Any]:
            after = await do(conn, unit, indicator, target_set, when, reason=reason, by=operator, at=now)
            await evaluate(conn, catalog, now, units=[unit])  # status and dashboards show it at once
            return after

        after = run_with_database(work, (OutcomeError,))
        typer.echo(
            f"{ACTION_LABELS[action]}: {unit} {indicator} (bộ chỉ tiêu {target_set}, thời hạn "
            f"{when:%d/%m/%Y}) → {_describe(after)}"
        )

    @outcomes.command("reopen")
    def reopen(
        unit: str = typer.Argument(..., help="Unit code"),
        indicator: str = typer.Argument(..., help="Indicator code"),
        target_set: str = typer.Option(..., "--target-set", help="Target set code, e.g. NQ09"),
        deadline: str = typer.Option(..., "--deadline", help="The milestone's deadline, YYYY-MM-DD"),
        reason: str = typer.Option(..., "--reason", help="Why (kept in the audit)"),
        by: str = typer.Option(None, "--by", help="Who (default: the login name)"),
    ) -> None:
        """Reopen a final outcome: provisional again, recomputed from everything in force."""
        change("reopen", unit, indicator, target_set, deadline, reason, by)

    @outcomes.command("lock")
    def lock(
        unit: str = typer.Argument(..., help="Unit code"),
        indicator: str = typer.Argument(..., help="Indicator code"),
        target_set: str = typer.Option(..., "--target-set", help="Target set code, e.g. NQ09"),
        deadline: str = typer.Option(..., "--deadline", help="The milestone's deadline, YYYY-MM-DD"),
        reason: str = typer.Option(..., "--reason", help="Why (kept in the audit)"),
        by: str = typer.Option(None, "--by", help="Who (default: the login name)"),
    ) -> None:
        """Lock an outcome with the value in force at its deadline now (final, frozen)."""
        change("lock", unit, indicator, target_set, deadline, reason, by)

    @outcomes.command("list")
    def list_changes(
        unit: str = typer.Option(None, "--unit", help="Only this unit"),
        target_set: str = typer.Option(None, "--target-set", help="Only this target set"),
        output: str = typer.Option("table", "--format", help="table or json"),
    ) -> None:
        """List every change of an official outcome: who, when, why, before and after."""
        if output not in ("table", "json"):
            raise typer.BadParameter("--format là table hoặc json")
        found = run_with_database(lambda conn: outcomes_repository.changes(conn, unit, target_set))
        if output == "json":
            typer.echo(json.dumps([c.as_json() for c in found], ensure_ascii=False, indent=2))
            return
        table = Table(
            "Thời điểm (giờ Việt Nam)",
            "Đơn vị",
            words.INDICATOR,
            words.DEADLINE,
            "Thao tác",
            "Người thực hiện",
            "Lý do",
            "Trước",
            "Sau",
            title="Thay đổi kết quả chính thức",
        )
        for c in found:
            table.add_row(
                f"{c.at.astimezone(LOCAL_TZ):%d/%m/%Y %H:%M}",
                c.unit,
                c.indicator,
                f"{c.deadline:%d/%m/%Y}",
                ACTION_LABELS[c.action],
                escape(c.by),
                escape(c.reason),
                _describe(c.before),
                _describe(c.after),
            )
        Console().print(table)
