"""Key commands: ``keys create|list|revoke`` (agency API keys in the NATS KV bucket)."""

from __future__ import annotations

import asyncio
from datetime import datetime

import typer
from rich.table import Table

from dxmon.bus import connect
from dxmon.catalog import Catalog
from dxmon.cli import error_text, plain_console
from dxmon.formatting import LOCAL_TIME, format_moment
from dxmon.keys import REPORTER, ROLES, ApiKey, KeyStore, UnknownUnitsError
from dxmon.settings import NatsSettings

console = plain_console()


async def _with_store(fn):
    catalog = Catalog.load()
    nc = await connect(NatsSettings(), "dxmon-keys")
    try:
        return await fn(await KeyStore.open(nc.jetstream(), catalog))
    finally:
        await nc.close()


def key_table(keys: list[ApiKey]) -> Table:
    """key_table lists keys; ids are never cut (they are pasted into ``keys revoke``) and nothing else
    is either: narrow columns wrap their text instead of ending it with "…"."""
    table = Table("key id", "agency", "units", "descendants", f"created ({LOCAL_TIME})", "label", "role")
    for column in table.columns:
        column.overflow = "fold"
    table.columns[0].no_wrap, table.columns[0].min_width = True, 16
    for k in keys:
        table.add_row(
            k.key_id,
            k.agency,
            ", ".join(k.units),
            "yes" if k.with_descendants else "no",
            format_moment(datetime.fromisoformat(k.created_at), zone=False),
            k.label,
            k.role,
        )
    return table


def register(cli) -> None:
    keys_app = typer.Typer(help="Agency API keys (stored hashed in NATS KV).", no_args_is_help=True)
    cli.app.add_typer(keys_app, name="keys")

    @keys_app.command("create")
    def create(
        agency: str = typer.Option(..., "--agency", help="Who the key belongs to"),
        units: str = typer.Option(..., "--units", help="Unit codes, comma-separated"),
        with_descendants: bool = typer.Option(False, "--with-descendants", help="Also cover units below them"),
        label: str = typer.Option("", "--label", help="Free text, e.g. the sending system"),
        role: str = typer.Option(
            REPORTER,
            "--role",
            help=f"{' or '.join(ROLES)}: an approver approves or returns "
            "the periods of its units and of the units directly below them",
        ),
    ) -> None:
        """Create a key and print it once; only its hash is stored."""
        try:
            key, token = asyncio.run(
                _with_store(
                    lambda s: s.create(
                        agency, units.split(","), with_descendants=with_descendants, label=label, role=role
                    )
                )
            )
        except (UnknownUnitsError, ValueError) as exc:
            console.print(error_text(str(exc)))
            raise typer.Exit(2) from None
        console.print(
            f"key {key.key_id} for {key.agency} covering {', '.join(key.units)}"
            + (" and their descendants" if with_descendants else "")
            + (f" ({key.role})" if key.role != REPORTER else "")
            + " — shown once, store it now:",
            style="bold",
        )
        typer.echo(token)

    @keys_app.command("list")
    def list_keys() -> None:
        """List keys (ids, agencies, scopes; never secrets)."""
        console.print(key_table(asyncio.run(_with_store(lambda s: s.list()))))

    @keys_app.command("revoke")
    def revoke(key_id: str = typer.Argument(..., help="The key id shown by `keys list`")) -> None:
        """Revoke a key; running ingest processes stop accepting it within moments."""
        if not asyncio.run(_with_store(lambda s: s.revoke(key_id))):
            console.print(error_text(f"no key with id {key_id}"))
            raise typer.Exit(1)
        console.print(f"revoked {key_id}")
