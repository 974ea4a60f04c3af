"""Approvals commands: ``approvals list|approve|return`` — data approval of units' periods, for operators.

Works on the database named by DX_DATABASE_URL when the catalog's ``programme.approval`` is on. An
approver agency uses its approver key on the entry service (``/v1/approvals``) instead; an operator
here names who decides with ``--by`` (default: the login name), and every decision is kept with it
(``approvals list --decisions``). The rules: ``dxmon/store/approvals_repository.py``.
"""

from __future__ import annotations

import getpass
import json
from datetime import datetime

import asyncpg
import typer
from rich.table import Table

from dxmon import words
from dxmon.catalog import Catalog
from dxmon.cli import plain_console
from dxmon.cli.database import run_with_database
from dxmon.contracts import LOCAL_TZ
from dxmon.store import approvals_repository as approvals
from dxmon.store.approvals_repository import APPROVED, RETURNED, ApprovalError

console = plain_console()
DECISION_WORDS = {APPROVED: "Phê duyệt", RETURNED: "Trả lại"}


def _catalog_with_approval() -> Catalog:
    catalog = Catalog.load()
    if not catalog.approval:
        typer.secho(
            "lỗi: chương trình không bật phê duyệt số liệu: đặt `approval: true` trong mục programme của "
            "catalog/indicators.yaml",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(2)
    return catalog


def _units(catalog: Catalog, unit: str | None) -> list[str]:
    if unit is None:
        return list(catalog.units)
    if unit not in catalog.units:
        raise typer.BadParameter(f"không có đơn vị {unit!r} trong danh mục")
    return [unit]


def register(cli) -> None:
    app = typer.Typer(
        help="Data approval of units' periods (catalog programme.approval): list, approve, return.",
        no_args_is_help=True,
    )
    cli.app.add_typer(app, name="approvals")

    def decide(decision: str, unit: str, period: str, indicator: str | None, comment: str, by: str | None) -> None:
        catalog = _catalog_with_approval()
        now = datetime.now(LOCAL_TZ)

        async def work(conn: asyncpg.Connection) -> approvals.Decision:
            return await approvals.decide(
                conn,
                catalog,
                unit,
                period,
                decision,
                by=by or getpass.getuser(),
                at=now,
                indicator=indicator or "",
                comment=comment,
            )

        d = run_with_database(work, (ApprovalError,))
        scope = f"chỉ tiêu {d.indicator}" if d.indicator else "mọi chỉ tiêu"
        typer.echo(
            f"{DECISION_WORDS[d.decision]}: {catalog.units[d.unit].name_vi} ({d.unit}), "
            f"{approvals.parse_period(catalog, d.period).label_vi}, {scope} — {d.by}, "
            f"{d.at.astimezone(LOCAL_TZ):%d/%m/%Y %H:%M} {words.LOCAL_TIME_SUFFIX}"
            + (f": {d.comment}" if d.comment else "")
        )

    @app.command("approve")
    def approve(
        unit: str = typer.Argument(..., help="Unit code"),
        period: str = typer.Argument(..., help="Period: 2026-11, 2026-Q3, 2026-H1 or 2026"),
        indicator: str = typer.Option(None, "--indicator", help="Only this indicator (default: the whole period)"),
        comment: str = typer.Option("", "--comment", help="Optional remark (kept in the audit)"),
        by: str = typer.Option(None, "--by", help="Who approves (default: the login name)"),
    ) -> None:
        """Approve a unit's period (Đã phê duyệt)."""
        decide(APPROVED, unit, period, indicator, comment, by)

    @app.command("return")
    def return_(
        unit: str = typer.Argument(..., help="Unit code"),
        period: str = typer.Argument(..., help="Period: 2026-11, 2026-Q3, 2026-H1 or 2026"),
        comment: str = typer.Option(..., "--comment", help="Why it is returned (sent to the unit's subscribers)"),
        indicator: str = typer.Option(None, "--indicator", help="Only this indicator (default: the whole period)"),
        by: str = typer.Option(None, "--by", help="Who returns it (default: the login name)"),
    ) -> None:
        """Return a unit's period with a comment (Trả lại); its subscribers are notified."""
        decide(RETURNED, unit, period, indicator, comment, by)

    @app.command("list")
    def list_(
        unit: str = typer.Option(None, "--unit", help="Only this unit"),
        state: str = typer.Option(None, "--state", help="Only submitted, approved or returned"),
        show_decisions: bool = typer.Option(False, "--decisions", help="List every decision (the audit) instead"),
        output: str = typer.Option("table", "--format", help="table or json"),
    ) -> None:
        """List units' periods with their approval (or, with --decisions, who decided what, when and why)."""
        if output not in ("table", "json"):
            raise typer.BadParameter("--format là table hoặc json")
        if state is not None and state not in words.APPROVAL:
            raise typer.BadParameter(f"--state là {', '.join(words.APPROVAL)}")
        catalog = _catalog_with_approval()
        codes = _units(catalog, unit)
        if show_decisions:
            audit = run_with_database(lambda conn: approvals.decisions(conn, codes if unit else None))
            if output == "json":
                typer.echo(json.dumps([d.as_json() for d in audit], ensure_ascii=False, indent=2))
                return
            table = Table(
                f"Thời điểm {words.LOCAL_TIME_SUFFIX}",
                "Đơn vị",
                words.REPORTING_PERIOD,
                words.INDICATOR,
                "Quyết định",
                "Người thực hiện",
                "Khóa",
                "Ý kiến",
                title="Quyết định phê duyệt số liệu",
            )
            for d in audit:
                table.add_row(
                    f"{d.at.astimezone(LOCAL_TZ):%d/%m/%Y %H:%M}",
                    d.unit,
                    d.period,
                    d.indicator or "mọi chỉ tiêu",
                    DECISION_WORDS[d.decision],
                    d.by,
                    d.key_id or "—",
                    d.comment,
                )
            console.print(table)
            return
        now = datetime.now(LOCAL_TZ)
        values = run_with_database(lambda conn: approvals.value_states(conn, codes, now))
        found = [p for p in approvals.unit_periods(catalog, values) if state is None or p.approval == state]
        if output == "json":
            typer.echo(json.dumps([p.as_json() for p in found], ensure_ascii=False, indent=2))
            return
        table = Table(
            "Đơn vị",
            words.REPORTING_PERIOD,
            words.APPROVAL_HEADING,
            *words.APPROVAL.values(),
            title="Phê duyệt số liệu theo kỳ báo cáo",
        )
        for p in found:
            table.add_row(
                f"{catalog.units[p.unit].name_vi} ({p.unit})",
                p.period.label_vi,
                words.APPROVAL[p.approval],
                *(str(p.counts[s]) for s in words.APPROVAL),
            )
        console.print(table)
