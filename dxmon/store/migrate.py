"""Migrate: applies the versioned SQL files in ``migrations/`` once each, in order.

Several processes may start at once (scaled-out aggregators): an advisory lock makes them apply
migrations one after the other, and each file runs in its own transaction, so a failure leaves the
schema at the last complete version.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib import resources

import asyncpg

log = logging.getLogger(__name__)

_LOCK_KEY = 0x64786D6F6E  # "dxmon"
MODE_TIMESCALE = "timescaledb"
MODE_PLAIN = "plain-postgresql"


class TimescaleRequiredError(RuntimeError):
    """TimescaleRequiredError: DX_REQUIRE_TIMESCALE is set but the extension cannot be loaded."""


@dataclass(frozen=True)
class MigrationResult:
    """MigrationResult says which files were applied now and which storage mode is active."""

    applied: list[str]
    mode: str


def migration_files() -> list[tuple[str, str]]:
    """migration_files returns (version, sql) for every shipped migration, oldest first."""
    root = resources.files("dxmon.store") / "migrations"
    files = sorted((p for p in root.iterdir() if p.name.endswith(".sql")), key=lambda p: p.name)
    return [(p.name.removesuffix(".sql"), p.read_text(encoding="utf-8")) for p in files]


async def timescale_available(conn: asyncpg.Connection) -> bool:
    """timescale_available: the extension is installed *and* preloaded.

    CREATE EXTENSION without the preload is a FATAL that drops the connection, so check both first.
    """
    preload = await conn.fetchval("SELECT current_setting('shared_preload_libraries')")
    preloaded = "timescaledb" in [p.strip() for p in (preload or "").split(",")]
    installed = await conn.fetchval("SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'")
    return preloaded and installed > 0


async def migrate(dsn: str, *, require_timescale: bool = False, up_to: str | None = None) -> MigrationResult:
    """migrate brings the database at ``dsn`` to the newest schema and reports the storage mode.

    ``up_to`` (a version such as "0003_alerts") stops after that file: tests build an older schema with it.
    """
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        try:
            return await _migrate_locked(conn, require_timescale, up_to)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    finally:
        await conn.close()


async def _migrate_locked(conn: asyncpg.Connection, require_timescale: bool, up_to: str | None) -> MigrationResult:
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
    )
    done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
    pending = [(v, sql) for v, sql in migration_files() if v not in done and (up_to is None or v <= up_to)]

    if not done:
        use_timescale = await timescale_available(conn)
    else:
        # The mode is fixed when the schema is first built; later files must follow it.
        use_timescale = await conn.fetchval("SELECT value FROM dx_meta WHERE key = 'storage_mode'") == MODE_TIMESCALE
    if require_timescale and not use_timescale:
        raise TimescaleRequiredError(
            "DX_REQUIRE_TIMESCALE is set but TimescaleDB is not available in this database "
            "(install the extension and add 'timescaledb' to shared_preload_libraries)"
        )
    mode = MODE_TIMESCALE if use_timescale else MODE_PLAIN
    if use_timescale:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")

    applied = []
    for version, sql in pending:
        async with conn.transaction():
            await conn.execute("SELECT set_config('dxmon.timescale', $1, true)", "on" if use_timescale else "off")
            await conn.execute(sql)
            await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
            await conn.execute(
                "INSERT INTO dx_meta (key, value) VALUES ('storage_mode', $1) "
                "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                mode,
            )
        applied.append(version)
        log.info("applied migration %s", version)
    if mode == MODE_PLAIN:
        log.warning(
            "storage mode: plain PostgreSQL (TimescaleDB not loaded): reports is a plain table, "
            "reports_monthly a view, no compression; fine for development and CI, not for production"
        )
    else:
        log.info("storage mode: TimescaleDB (hypertable, compression, continuous aggregate)")
    return MigrationResult(applied=applied, mode=mode)


async def storage_mode(conn: asyncpg.Connection) -> str:
    """storage_mode reads the mode recorded by the first migration."""
    return await conn.fetchval("SELECT value FROM dx_meta WHERE key = 'storage_mode'")
