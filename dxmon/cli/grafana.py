"""Grafana commands: ``grafana build`` regenerates the provisioning files, ``grafana push`` uploads to a Grafana."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from grafana_client.client import GrafanaException
from niquests.exceptions import RequestException
from rich.text import Text

from dxmon.cli import error_text, plain_console

console = plain_console(stderr=True)


def register(cli) -> None:
    grafana_app = typer.Typer(
        help="Grafana dashboards as code: build the provisioning files, push to a Grafana.", no_args_is_help=True
    )
    cli.app.add_typer(grafana_app, name="grafana")

    @grafana_app.command("build")
    def build_command(
        out: Annotated[Path | None, typer.Option("--out", help="Provisioning directory to write")] = None,
    ) -> None:
        """Regenerate the datasource, provider and dashboard files (default: grafana/provisioning)."""
        from grafana import build

        for path in build.write(out or build.PROVISIONING_DIR):
            console.print(f"wrote {path}")

    @grafana_app.command("push")
    def push_command(
        url: Annotated[str | None, typer.Option("--url", help="Grafana base URL [env DX_GRAFANA_URL]")] = None,
        token: Annotated[
            str | None,
            typer.Option(
                "--token", help="Service-account token [env DX_GRAFANA_TOKEN, preferred: not in the process list]"
            ),
        ] = None,
    ) -> None:
        """Create or update the folder, the datasource and the dashboards, then check the datasource's health.

        Exits 1 when Grafana cannot query the database through the datasource, 2 on a refused step.
        """
        from dxmon.grafana_push import GrafanaSettings, PushError, connect, datasource_body, push
        from dxmon.store.roles import DatabaseUsersSettings
        from grafana import build

        settings = GrafanaSettings()
        token = token or (settings.grafana_token.get_secret_value() if settings.grafana_token else None)
        if not token:
            console.print(error_text("a Grafana token is required (--token or DX_GRAFANA_TOKEN)"))
            raise typer.Exit(2)
        target = url or settings.grafana_url
        try:
            report = push(
                connect(target, token), datasource_body(settings, DatabaseUsersSettings()), build.dashboards()
            )
        except PushError as exc:
            console.print(error_text(str(exc)))
            raise typer.Exit(2) from None
        except GrafanaException as exc:
            console.print(error_text(f"Grafana at {target} refused a request: {exc.message}"))
            raise typer.Exit(2) from None
        except RequestException as exc:
            console.print(error_text(f"cannot reach Grafana at {target}: {exc}"))
            raise typer.Exit(2) from None
        console.print(f"folder: {report.folder}")
        console.print(f"datasource: {report.datasource}")
        for dashboard_url in report.dashboards:
            console.print(f"dashboard: {dashboard_url}")
        if not report.healthy:
            console.print(Text.assemble(("datasource health: FAILED", "red"), f" {report.health_message}"))
            raise typer.Exit(1)
        console.print(f"datasource health: OK {report.health_message}")
