"""Entry repository: what the entry service reads for context — never writes (its sessions are read-only).

Everything the entry service asks the database is here: readiness, the values in force of a unit
and period (to tell new, corrected and unchanged rows apart, and to show the last value in a
template), nothing else. SQL is parameterised; the tables are those dx_reader may read (0006).
"""

from __future__ import annotations

import asyncpg


async def database_ready(pool: asyncpg.Pool, timeout: float = 2.0) -> str | None:
    """database_ready returns None when a read-only query answers, else why not (for /readyz)."""
    try:
        async with pool.acquire(timeout=timeout) as conn:
            await conn.fetchval("SELECT 1", timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - any failure is "not ready", with its kind
        return f"database unreachable: {type(exc).__name__}"
    return None
