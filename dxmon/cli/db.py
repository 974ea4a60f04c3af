"""Database commands: ``db create-users`` gives each service its own least-privilege login."""

from __future__ import annotations

import asyncio

import asyncpg
import typer

from dxmon.cli import error_text, plain_console
from dxmon.settings import DatabaseSettings
from dxmon.store.roles import DatabaseUsersSettings, RoleSetupError, create_login_users, login_users

console = plain_console(stderr=True)


async def _create_users(database_url: str, settings: DatabaseUsersSettings) -> list[str]:
    users = login_users(settings)
    conn = await asyncpg.connect(database_url)
    try:
        return await create_login_users(conn, users)
    finally:
        await conn.close()


def register(cli) -> None:
    db_app = typer.Typer(
        help="Database administration (run with an administrator's DX_DATABASE_URL).", no_args_is_help=True
    )
    cli.app.add_typer(db_app, name="db")

    @db_app.command("create-users")
    def create_users() -> None:
        """Create or update the services' LOGIN users (aggregator, alerts, Grafana) from DX_*_DB_USER/PASSWORD.

        Idempotent: run it after `dxmon migrate`, and again to rotate passwords.
        """
        try:
            lines = asyncio.run(_create_users(DatabaseSettings().database_url, DatabaseUsersSettings()))
        except RoleSetupError as exc:
            console.print(error_text(str(exc)))
            raise typer.Exit(2) from None
        except (OSError, asyncpg.PostgresError) as exc:
            console.print(error_text(f"database at DX_DATABASE_URL: {exc}"))
            raise typer.Exit(1) from None
        for line in lines:
            console.print(f"database user {line}")
