"""``dxmon simulate``: post realistic demo reports for Quảng Ninh's units to a running ingest API."""

from __future__ import annotations

from datetime import date, timedelta

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from dxmon.catalog import Catalog
from dxmon.cli import error_text, plain_console
from dxmon.simulate import SimulationResult, generate, post_all

console = plain_console(stderr=True)


def last_month_end(today: date) -> date:
    return today.replace(day=1) - timedelta(days=1)


def run_simulation(url: str, token: str, since: date, until: date, seed: int, batch: int) -> SimulationResult:
    """run_simulation generates and posts the reports with a progress bar."""
    reports = generate(Catalog.load(), since, until, seed)
    with Progress(
        TextColumn("[bold]simulate[/bold] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as progress:
        task = progress.add_task(f"{since} → {until}", total=len(reports))
        return post_all(reports, url, token, batch=batch, progress=lambda n: progress.advance(task, n))


def register(cli) -> None:
    @cli.app.command("simulate")
    def simulate(
        url: str = typer.Option("http://127.0.0.1:8080", "--url", help="Ingest API base URL"),
        key: str = typer.Option(..., "--key", envvar="DX_SIMULATE_KEY", help="API key (e.g. from `dxmon keys create`)"),
        since: str = typer.Option("2024-01-01", "--since", help="First period (YYYY-MM-DD)"),
        until: str = typer.Option(None, "--until", help="Last period end (default: end of last month)"),
        seed: int = typer.Option(1, "--seed", help="Same seed, same reports (event ids included)"),
        batch: int = typer.Option(500, "--batch", min=1, help="Reports per request"),
    ) -> None:
        """Post realistic reports for Quảng Ninh's units (some on track, some behind, some silent)."""
        end = date.fromisoformat(until) if until else last_month_end(date.today())
        try:
            result = run_simulation(url, key, date.fromisoformat(since), end, seed, batch)
        except RuntimeError as exc:
            console.print(error_text(str(exc)))
            raise typer.Exit(1) from None
        console.print(
            f"posted {result.posted} in {result.requests} requests: {result.accepted} accepted, "
            f"{result.duplicates} duplicates (resubmissions)"
        )
