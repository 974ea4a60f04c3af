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


async def unit_values(pool: asyncpg.Pool, unit: str) -> list[asyncpg.Record]:
    """unit_values: every period's value in force of ``unit`` (per indicator and category; '' is a total).

    The data-entry page shows from them the value in force before the period being entered and
    what the glide path needs (the evaluation's first value when a target gives no starting point).
    A unit has at most a few hundred such rows (≈ 20 indicators × months).
    """
    async with pool.acquire() as conn:
        return await conn.fetch(
            "SELECT indicator, category, period_start, observed_at, value, received_at FROM period_values"
            " WHERE unit = $1 ORDER BY indicator, category, period_start", unit)
