"""Setup commands: ``migrate`` (database + NATS topology + catalog) and ``catalog check|sync|load-observations``."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import typer
from rich.text import Text

from dxmon.bus import connect, ensure_topology
from dxmon.catalog import Catalog, CatalogError, check, default_catalog_dir
from dxmon.cli import error_text, plain_console
from dxmon.settings import DatabaseSettings, NatsSettings
from dxmon.store.catalog_repository import sync_catalog
from dxmon.store.migrate import TimescaleRequiredError, migrate

console = plain_console(stderr=True)


async def setup_database(database_url: str, catalog: Catalog, require_timescale: bool) -> tuple[list[str], str, dict]:
    """setup_database migrates the schema and syncs the catalog; returns (applied, mode, counts)."""
    result = await migrate(database_url, require_timescale=require_timescale)
    conn = await asyncpg.connect(database_url)
    try:
        counts = await sync_catalog(conn, catalog)
    finally:
        await conn.close()
    return result.applied, result.mode, counts


async def setup_nats(settings: NatsSettings) -> None:
    """setup_nats declares streams, the aggregator consumer and KV buckets (needs an admin NATS user)."""
    nc = await connect(settings, "dxmon-migrate")
    try:
        await ensure_topology(nc.jetstream(), settings)
    finally:
        await nc.close()


def register(cli) -> None:
    @cli.app.command("migrate")
    def migrate_cmd(
        skip_db: bool = typer.Option(False, "--skip-db", help="Do not touch the database"),
        skip_nats: bool = typer.Option(False, "--skip-nats", help="Do not declare NATS streams and buckets"),
    ) -> None:
        """Bring the database schema, the catalog tables and the NATS streams up to date (idempotent)."""
        catalog = _load_catalog()
        if not skip_db:
            db = DatabaseSettings()
            try:
                applied, mode, counts = asyncio.run(setup_database(db.database_url, catalog, db.require_timescale))
            except TimescaleRequiredError as exc:
                console.print(error_text(str(exc)))
                raise typer.Exit(2) from None
            except (OSError, asyncpg.PostgresError) as exc:
                console.print(error_text(f"database at DX_DATABASE_URL: {exc}"))
                raise typer.Exit(1) from None
            console.print(f"database: {len(applied)} migration(s) applied {applied or ''}; storage mode {mode}")
            console.print("catalog: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
        if not skip_nats:
            try:
                asyncio.run(setup_nats(NatsSettings()))
            except Exception as exc:  # noqa: BLE001 - report any NATS failure plainly
                console.print(error_text(f"NATS at DX_NATS_URL: {type(exc).__name__}: {exc}"))
                raise typer.Exit(1) from None
            console.print("nats: streams DX_REPORTS, DX_DEADLETTER, DX_ALERTS and buckets ready")

    catalog_app = typer.Typer(help="The programme catalog (catalog/*.yaml).", no_args_is_help=True)
    cli.app.add_typer(catalog_app, name="catalog")

    @catalog_app.command("check")
    def catalog_check(
        directory: Path = typer.Option(None, "--dir", help="Catalog directory (default: DX_CATALOG_DIR or ./catalog)"),
    ) -> None:
        """Validate the catalog files; print every problem with file and line."""
        problems = check(directory)
        for p in problems:
            typer.echo(str(p))
        if problems:
            console.print(f"{len(problems)} problem(s)", style="red")
            raise typer.Exit(1)
        catalog = Catalog.load(directory)
        console.print(
            Text.assemble(
                ("catalog OK", "green"),
                f" ({directory or default_catalog_dir()}): "
                f"{len(catalog.indicators)} indicators, {len(catalog.target_sets)} target sets, "
                f"{len(catalog.targets())} targets, {len(catalog.units)} units",
            )
        )

    @catalog_app.command("sync")
    def catalog_sync() -> None:
        """Copy the catalog into the database tables (units, indicators, targets)."""
        catalog = _load_catalog()

        async def run() -> dict:
            conn = await asyncpg.connect(DatabaseSettings().database_url)
            try:
                return await sync_catalog(conn, catalog)
            finally:
                await conn.close()

        counts = asyncio.run(run())
        console.print("catalog synced: " + ", ".join(f"{v} {k}" for k, v in counts.items()))

    @catalog_app.command("load-observations")
    def catalog_load_observations() -> None:
        """Send the catalog's seed figures (reference_observations with a category) as reports through DX_REPORTS.

        Idempotent: event ids come from the content, so a second run stores nothing twice. Needs a NATS
        user allowed to publish on dx.reports.v1.> (DX_NATS_URL, DX_NATS_USER/PASSWORD).
        """
        from dxmon.formatting import format_number
        from dxmon.observations import seed_reports

        catalog = _load_catalog()
        seeds = seed_reports(catalog)
        refused = [(s, i) for s in seeds for i in s.issues]
        for seed, issue in refused:
            console.print(
                f"[red]bị từ chối:[/red] {seed.report.indicator} {seed.report.unit} "
                f"{seed.report.category}: {issue.reason} — {issue.message}"
            )
        if refused:
            raise typer.Exit(1)
        try:
            duplicates = asyncio.run(load_observations(NatsSettings(), [s.report for s in seeds]))
        except Exception as exc:  # noqa: BLE001 - report any NATS failure plainly
            console.print(f"[red]error:[/red] NATS at DX_NATS_URL: {type(exc).__name__}: {exc}")
            raise typer.Exit(1) from None
        for seed, duplicate in zip(seeds, duplicates, strict=True):
            r = seed.report
            period = catalog.period_of(r.indicator, r.observed_at)
            if r.numerator is not None and r.denominator is not None:  # the contract: both or neither
                figure = f"{format_number(r.numerator)}/{format_number(r.denominator)}"
            else:
                figure = f"{format_number(r.value or 0)} %"  # the contract: a value when there is no fraction
            state = "đã có (trùng)" if duplicate else "đã gửi"
            typer.echo(f"{r.indicator} {r.unit} {r.category} {period.label_vi}: {figure} — {state}")
        console.print(f"{len(seeds) - sum(duplicates)} báo cáo đã gửi, {sum(duplicates)} trùng")


async def load_observations(settings: NatsSettings, reports: list) -> list[bool]:
    """load_observations publishes the catalog's seed reports to DX_REPORTS (see dxmon/observations.py)."""
    from dxmon.observations import publish_seeds

    nc = await connect(settings, "dxmon-load-observations")
    try:
        return await publish_seeds(nc.jetstream(), reports, datetime.now(UTC))
    finally:
        await nc.close()


def _load_catalog() -> Catalog:
    try:
        return Catalog.load()
    except CatalogError as exc:
        for p in exc.problems:
            typer.echo(str(p), err=True)
        console.print("the catalog has problems; run `dxmon catalog check`", style="red")
        raise typer.Exit(1) from None
