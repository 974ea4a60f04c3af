"""Alerts commands: ``serve alerts``, ``subscriptions add|list|remove``, ``alerts list|silence|silences|ack``.

They talk to the database named by DX_DATABASE_URL directly (the alerts service need not run);
every check (unit codes, pillars, durations, channel URLs) is the one the HTTP API applies.
"""

from __future__ import annotations

import getpass
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import NoReturn, TypeVar

import asyncpg
import typer
import uvicorn
from pydantic import ValidationError
from rich.table import Table

from dxmon import words
from dxmon.catalog import Catalog
from dxmon.cli import plain_console
from dxmon.cli.database import run_with_database
from dxmon.formatting import LOCAL_TIME, format_moment, format_value
from services.alerts import admin
from services.alerts import repository as repo
from services.alerts.alert import Kind, State
from services.alerts.app import create_app
from services.alerts.channels import redact
from services.alerts.messages import KIND_LABEL
from services.alerts.settings import AlertsSettings

T = TypeVar("T")
console = plain_console()


def _run(work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """_run opens one connection for ``work``; a refused request is a clear error and exit 2."""
    return run_with_database(work, (admin.AdminError,))


def _fail(message: str) -> NoReturn:
    """_fail says what was refused (on stderr) and exits 2."""
    typer.secho(f"lỗi: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def _when(t: datetime | None) -> str:
    return format_moment(t, zone=False) if t else ""


def register(cli) -> None:
    @cli.serve.command("alerts")
    def serve_alerts(
        host: str = typer.Option(None, "--host", help="Listen address (default DX_ALERTS_HOST)"),
        port: int = typer.Option(None, "--port", help="Port (default DX_ALERTS_PORT)"),
    ) -> None:
        """Run the alerts service (evaluation, notifications, /healthz, /readyz, /metrics, silences API)."""
        # --host goes through the settings: their check refuses a non-loopback address without tokens.
        try:
            settings = AlertsSettings(alerts_host=host) if host else AlertsSettings()
        except ValidationError as exc:
            for error in exc.errors(include_input=False):
                typer.echo(f"error: {error['msg'].removeprefix('Value error, ')}", err=True)
            raise typer.Exit(2) from None
        uvicorn.run(
            create_app(settings),
            host=settings.alerts_host,
            port=port or settings.alerts_port,
            log_level="warning",
            timeout_graceful_shutdown=30,
        )

    subs = typer.Typer(help="Who is told about which units' alerts.", no_args_is_help=True)
    cli.app.add_typer(subs, name="subscriptions")

    @subs.command("add")
    def subscriptions_add(
        unit: str = typer.Option(..., "--unit", help="Unit code from the catalog"),
        with_descendants: bool = typer.Option(False, "--with-descendants", help="Also every unit below it"),
        pillar: list[str] = typer.Option([], "--pillar", help="Only this pillar (repeatable; default: all)"),
        min_severity: str = typer.Option("warning", "--min-severity", help="warning or critical"),
        channel: str = typer.Option(
            ..., "--channel", help="apprise URL (mailto://, tgram://, zalo://…) or https webhook"
        ),
    ) -> None:
        """Subscribe a channel to a unit's alerts."""
        catalog = Catalog.load()
        sid = _run(
            lambda conn: admin.add_subscription(
                conn,
                catalog,
                unit=unit,
                with_descendants=with_descendants,
                pillars=pillar,
                min_severity=min_severity,
                channel=channel,
            )
        )
        typer.echo(f"Đã thêm đăng ký nhận cảnh báo số {sid}.")

    @subs.command("list")
    def subscriptions_list() -> None:
        """List subscriptions (channel secrets are hidden)."""
        rows = _run(repo.subscriptions)
        table = Table("Số", "Đơn vị", "Cả đơn vị trực thuộc", "Trụ cột", "Mức độ từ", "Kênh nhận")
        for s in rows:
            table.add_row(
                str(s.id),
                s.unit,
                "có" if s.with_descendants else "",
                ", ".join(s.pillars) or "tất cả",
                words.SEVERITY[s.min_severity.value],
                redact(s.channel.url),
            )
        console.print(table)

    @subs.command("remove")
    def subscriptions_remove(subscription_id: int = typer.Argument(..., help="Id from `subscriptions list`")) -> None:
        """Remove a subscription."""
        if not _run(lambda conn: repo.remove_subscription(conn, subscription_id)):
            _fail(f"không có đăng ký số {subscription_id}")
        typer.echo(f"Đã xóa đăng ký số {subscription_id}.")

    alerts = typer.Typer(
        help="Alerts raised from progress statuses; silences and acknowledgements.", no_args_is_help=True
    )
    cli.app.add_typer(alerts, name="alerts")

    @alerts.command("list")
    def alerts_list(state: str = typer.Option(None, "--state", help="firing or resolved (default: both)")) -> None:
        """List alerts, newest change first, with any silence or acknowledgement running now."""
        try:
            wanted = State(state) if state else None
        except ValueError:
            _fail(f"không có trạng thái {state!r}: dùng firing (chưa khắc phục) hoặc resolved (đã khắc phục)")
        rows = _run(lambda conn: repo.list_alerts(conn, datetime.now(UTC), wanted))
        if not rows:
            typer.echo("Không có cảnh báo nào.")
            return
        # One block per alert, not a table: a narrow terminal wraps a line but never cuts a figure or a date.
        figures = ((words.CURRENT_VALUE, "value"), (words.EXPECTED, "expected"), (words.TARGET, "target"))
        for r in rows:
            kind = KIND_LABEL[Kind(r["kind"])]
            label = kind if r["state"] == "firing" else f"{words.NOTICE['resolved']} ({kind.lower()})"
            block = [
                f"{r['fingerprint']}  {label} — {r['unit_name']} ({r['unit']}) · {r['indicator']} "
                f"{r['indicator_name']}",
                "    " + " · ".join(f"{name}: {format_value(r[k], r['measure'])}" for name, k in figures),
                f"    Từ {format_moment(r['starts_at'])}",
            ]
            if r["silenced_until"]:
                block.append(f"    {words.SILENCE} đến {format_moment(r['silenced_until'])}")
            if r["acked_until"]:
                block.append(f"    {words.ACKNOWLEDGED}, không nhắc lại đến {format_moment(r['acked_until'])}")
            typer.echo("\n".join(block) + "\n")

    @alerts.command("silence")
    def alerts_silence(
        unit: str = typer.Option(..., "--unit", help="Unit code to silence"),
        indicator: str = typer.Option(None, "--indicator", help="Only this indicator"),
        duration: str = typer.Option(..., "--for", help="How long, e.g. 2h, 1d12h"),
        reason: str = typer.Option(..., "--reason", help="Who handles it and why"),
    ) -> None:
        """Mute a unit's (or one indicator's) notifications for a while."""
        catalog = Catalog.load()
        sid, ends = _run(
            lambda conn: admin.add_silence(
                conn,
                catalog,
                unit=unit,
                indicator=indicator,
                duration=duration,
                reason=reason,
                created_by=getpass.getuser(),
                now=datetime.now(UTC),
            )
        )
        typer.echo(f"{words.SILENCE} số {sid} đến {format_moment(ends)}")

    silences = typer.Typer(help="Silences: list them, or end one early.", no_args_is_help=True)
    alerts.add_typer(silences, name="silences")

    @silences.command("list")
    def silences_list(
        ended: bool = typer.Option(False, "--ended", help="Also silences that have already ended"),
    ) -> None:
        """List silences running or yet to start (newest end first)."""
        now = datetime.now(UTC)
        rows = _run(lambda conn: repo.list_silences(conn, now, ended=ended))
        if not rows:
            typer.echo(f"Không có lệnh {words.SILENCE.lower()} nào.")
            return
        table = Table(box=None, caption=f"Thời gian theo {LOCAL_TIME}.")
        for name in ("Số", "Đơn vị", words.INDICATOR, "Từ", "Đến", "Tình trạng", "Lý do", "Người tạo"):
            table.add_column(
                name, no_wrap=name in ("Số", "Đơn vị"), min_width=10 if name in ("Từ", "Đến") else None, overflow="fold"
            )
        for r in rows:
            running = (
                "Đang hiệu lực"
                if r["starts_at"] <= now < r["ends_at"]
                else ("Chưa bắt đầu" if r["starts_at"] > now else "Đã hết hạn")
            )
            table.add_row(
                str(r["id"]),
                r["unit"],
                r["indicator"] or f"Tất cả {words.INDICATORS_LOWER}",
                _when(r["starts_at"]),
                _when(r["ends_at"]),
                running,
                r["reason"],
                r["created_by"],
            )
        console.print(table)

    @silences.command("remove")
    def silences_remove(silence_id: int = typer.Argument(..., help="Number from `alerts silences list`")) -> None:
        """End a silence now (one yet to start never starts); its alerts are notified again."""
        if not _run(lambda conn: repo.expire_silence(conn, silence_id, datetime.now(UTC))):
            _fail(f"không có lệnh {words.SILENCE.lower()} số {silence_id} đang hoặc sắp có hiệu lực")
        typer.echo(f"Đã kết thúc lệnh {words.SILENCE.lower()} số {silence_id}.")

    @alerts.command("ack")
    def alerts_ack(
        fingerprint: str = typer.Argument(..., help="Fingerprint from `alerts list`"),
        duration: str = typer.Option("24h", "--for", help="How long reminders stop, e.g. 24h"),
        reason: str = typer.Option("", "--reason", help="What is being done"),
    ) -> None:
        """Acknowledge an alert: no reminders until it expires; the resolution is still announced."""
        until = _run(
            lambda conn: admin.acknowledge(
                conn,
                fingerprint=fingerprint,
                duration=duration,
                reason=reason,
                created_by=getpass.getuser(),
                now=datetime.now(UTC),
            )
        )
        typer.echo(f"Cảnh báo {fingerprint}: {words.ACKNOWLEDGED.lower()}, không nhắc lại đến {format_moment(until)}")
