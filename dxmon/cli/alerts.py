"""Alerts commands: ``serve alerts``, ``subscriptions add|list|remove``, ``alerts list|silence|ack``.

They talk to the database named by DX_DATABASE_URL directly (the alerts service need not run);
every check (unit codes, pillars, durations, channel URLs) is the one the HTTP API applies.
"""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg
import typer
from rich.table import Table

from dxmon.cli import plain_console
from dxmon.settings import DatabaseSettings

T = TypeVar("T")
console = plain_console()


def _run(work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """_run opens one connection for ``work`` and turns a refused request into a clear error and exit 2."""
    from services.alerts.admin import AdminError

    async def main() -> T:
        conn = await asyncpg.connect(DatabaseSettings().database_url)
        try:
            return await work(conn)
        finally:
            await conn.close()

    try:
        return asyncio.run(main())
    except AdminError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None


def _catalog() -> Any:
    from dxmon.catalog import Catalog

    return Catalog.load()


def _when(t: datetime | None) -> str:
    return t.astimezone().strftime("%Y-%m-%d %H:%M") if t else ""


def register(cli) -> None:
    @cli.serve.command("alerts")
    def serve_alerts(
        host: str = typer.Option(None, "--host", help="Listen address (default DX_ALERTS_HOST)"),
        port: int = typer.Option(None, "--port", help="Port (default DX_ALERTS_PORT)"),
    ) -> None:
        """Run the alerts service (evaluation, notifications, /healthz, /readyz, /metrics, silences API)."""
        import uvicorn
        from pydantic import ValidationError

        from services.alerts.app import create_app
        from services.alerts.settings import AlertsSettings

        # --host goes through the settings: their check refuses a non-loopback address without tokens.
        try:
            settings = AlertsSettings(**({"alerts_host": host} if host else {}))
        except ValidationError as exc:
            for error in exc.errors(include_input=False):
                typer.echo(f"error: {error['msg'].removeprefix('Value error, ')}", err=True)
            raise typer.Exit(2) from None
        uvicorn.run(create_app(settings), host=settings.alerts_host, port=port or settings.alerts_port,
                    log_level="warning", timeout_graceful_shutdown=30)

    subs = typer.Typer(help="Who is told about which units' alerts.", no_args_is_help=True)
    cli.app.add_typer(subs, name="subscriptions")

    @subs.command("add")
    def subscriptions_add(
        unit: str = typer.Option(..., "--unit", help="Unit code from the catalog"),
        with_descendants: bool = typer.Option(False, "--with-descendants", help="Also every unit below it"),
        pillar: list[str] = typer.Option([], "--pillar", help="Only this pillar (repeatable; default: all)"),
        min_severity: str = typer.Option("warning", "--min-severity", help="warning or critical"),
        channel: str = typer.Option(..., "--channel", help="apprise URL (mailto://, tgram://, zalo://…) or https webhook"),
    ) -> None:
        """Subscribe a channel to a unit's alerts."""
        from services.alerts import admin

        catalog = _catalog()
        sid = _run(lambda conn: admin.add_subscription(
            conn, catalog, unit=unit, with_descendants=with_descendants, pillars=pillar,
            min_severity=min_severity, channel=channel))
        typer.echo(f"subscription {sid} added")

    @subs.command("list")
    def subscriptions_list() -> None:
        """List subscriptions (channel secrets are hidden)."""
        from services.alerts import repository as repo
        from services.alerts.channels import redact

        rows = _run(repo.subscriptions)
        table = Table("id", "unit", "descendants", "pillars", "min severity", "channel")
        for s in rows:
            table.add_row(str(s.id), s.unit, "yes" if s.with_descendants else "", ", ".join(s.pillars) or "all",
                          s.min_severity.value, redact(s.channel.url))
        console.print(table)

    @subs.command("remove")
    def subscriptions_remove(subscription_id: int = typer.Argument(..., help="Id from `subscriptions list`")) -> None:
        """Remove a subscription."""
        from services.alerts import repository as repo

        if not _run(lambda conn: repo.remove_subscription(conn, subscription_id)):
            typer.secho(f"error: no subscription {subscription_id}", fg=typer.colors.RED, err=True)
            raise typer.Exit(2)
        typer.echo(f"subscription {subscription_id} removed")

    alerts = typer.Typer(help="Alerts raised from progress statuses; silences and acknowledgements.",
                         no_args_is_help=True)
    cli.app.add_typer(alerts, name="alerts")

    @alerts.command("list")
    def alerts_list(state: str = typer.Option(None, "--state", help="firing or resolved (default: both)")) -> None:
        """List alerts, newest change first."""
        from services.alerts import repository as repo
        from services.alerts.alert import State

        try:
            wanted = State(state) if state else None
        except ValueError:
            typer.secho(f"error: unknown state {state!r}: use firing or resolved", fg=typer.colors.RED, err=True)
            raise typer.Exit(2) from None
        rows = _run(lambda conn: repo.list_alerts(conn, datetime.now(UTC), wanted))
        if not rows:
            typer.echo("no alerts")
            return
        table = Table(box=None)
        table.add_column("fingerprint", no_wrap=True)
        for name in ("state", "kind", "unit", "indicator", "value / expected / target", "since", "acked until"):
            table.add_column(name, no_wrap=name == "unit")

        def figures(r) -> str:
            return " / ".join(f"{r[k]:.1f}" if r[k] is not None else "–" for k in ("value", "expected", "target"))

        for r in rows:
            table.add_row(r["fingerprint"], r["state"], r["kind"], r["unit"], r["indicator"], figures(r),
                          _when(r["starts_at"]), _when(r["acked_until"]))
        console.print(table)

    @alerts.command("silence")
    def alerts_silence(
        unit: str = typer.Option(..., "--unit", help="Unit code to silence"),
        indicator: str = typer.Option(None, "--indicator", help="Only this indicator"),
        duration: str = typer.Option(..., "--for", help="How long, e.g. 2h, 1d12h"),
        reason: str = typer.Option(..., "--reason", help="Who handles it and why"),
    ) -> None:
        """Mute a unit's (or one indicator's) notifications for a while."""
        from services.alerts import admin

        catalog = _catalog()
        sid, ends = _run(lambda conn: admin.add_silence(
            conn, catalog, unit=unit, indicator=indicator, duration=duration, reason=reason,
            created_by=getpass.getuser(), now=datetime.now(UTC)))
        typer.echo(f"silence {sid} until {_when(ends)}")

    @alerts.command("ack")
    def alerts_ack(
        fingerprint: str = typer.Argument(..., help="Fingerprint from `alerts list`"),
        duration: str = typer.Option("24h", "--for", help="How long reminders stop, e.g. 24h"),
        reason: str = typer.Option("", "--reason", help="What is being done"),
    ) -> None:
        """Acknowledge an alert: no reminders until it expires; the resolution is still announced."""
        from services.alerts import admin

        until = _run(lambda conn: admin.acknowledge(
            conn, fingerprint=fingerprint, duration=duration, reason=reason, created_by=getpass.getuser(),
            now=datetime.now(UTC)))
        typer.echo(f"alert {fingerprint} acknowledged until {_when(until)}")
