"""database: how a CLI command runs its work on one database connection (DX_DATABASE_URL).

A refusal the work raises (one of ``refusals``) is printed as the reason and exits 2; a database that
cannot be reached or answers an error exits 1 with what went wrong. Messages are in Vietnamese.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
import typer

from dxmon.settings import DatabaseSettings

T = TypeVar("T")


def run_with_database(
    work: Callable[[asyncpg.Connection], Awaitable[T]], refusals: tuple[type[Exception], ...] = ()
) -> T:
    """run_with_database opens one connection for ``work`` and turns failures into clear exits."""

    async def main() -> T:
        conn = await asyncpg.connect(DatabaseSettings().database_url)
        try:
            return await work(conn)
        finally:
            await conn.close()

    try:
        return asyncio.run(main())
    except refusals as exc:
        typer.secho(f"lỗi: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    except (OSError, asyncpg.PostgresError) as exc:
        typer.secho(f"lỗi: không đọc được cơ sở dữ liệu (DX_DATABASE_URL): {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
