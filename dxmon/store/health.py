"""Health: the readiness check services run against the database.

A service is ready when the database answers within a short time and holds the table the service
works on (the migrations ran). The check only reports: any failure is ``False``, never raised.
"""

from __future__ import annotations

import asyncpg

READY_TIMEOUT_SECONDS = 2.0


async def schema_ready(pool: asyncpg.Pool | None, table: str, timeout: float = READY_TIMEOUT_SECONDS) -> bool:
    """schema_ready: a connection is free within ``timeout`` and ``table`` exists."""
    if pool is None:
        return False
    try:
        async with pool.acquire(timeout=timeout) as conn:
            return bool(await conn.fetchval("SELECT to_regclass($1::text) IS NOT NULL", table, timeout=timeout))
    except Exception:  # noqa: BLE001 - readiness only reports; any failure means "not ready"
        return False
