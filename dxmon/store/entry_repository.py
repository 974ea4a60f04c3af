"""Entry repository: what the entry service reads for context — never writes (its sessions are read-only).

Everything the entry service asks the database is here: readiness, the values in force of a unit
and period (to tell new, corrected and unchanged rows apart, and to show the last value in a
template), nothing else. SQL is parameterised; the tables are those dx_reader may read (0006).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

import asyncpg


async def database_ready(pool: asyncpg.Pool, timeout: float = 2.0) -> str | None:
    """database_ready returns None when a read-only query answers, else why not (for /readyz)."""
    try:
        async with pool.acquire(timeout=timeout) as conn:
            await conn.fetchval("SELECT 1", timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - any failure is "not ready", with its kind
        return f"database unreachable: {type(exc).__name__}"
    return None


@dataclass(frozen=True)
class InForce:
    """InForce is the value in force of one (unit, indicator, category, period) — ratios as percent."""

    unit: str
    indicator: str
    category: str
    period_start: date
    value: float
    numerator: float | None
    denominator: float | None
    percent_only: bool
    event_id: UUID
    explanation: str | None = None  # the period's explanation in force (migration 0009)
    observed_at: datetime | None = None  # the instant the value in force describes


_COLUMNS = (
    "unit, indicator, category, period_start, value, numerator, denominator, percent_only, event_id, explanation,"
    " observed_at"
)

_OF_UNIT = f"""
SELECT {_COLUMNS} FROM period_values
WHERE unit = $1 AND indicator = ANY($2::text[]) AND period_start <= $3
ORDER BY indicator, category, period_start
"""

_BY_KEY = f"""
SELECT {_COLUMNS}  -- USING merges the key columns: no column is ambiguous
FROM unnest($1::text[], $2::text[], $3::text[], $4::date[]) AS k(unit, indicator, category, period_start)
JOIN period_values pv USING (unit, indicator, category, period_start)
"""


async def values_of_unit(conn: asyncpg.Connection, unit: str, indicators: list[str], up_to: date) -> list[InForce]:
    """values_of_unit: every period's value in force of ``unit`` for ``indicators``, periods starting by ``up_to``."""
    return [InForce(**r) for r in await conn.fetch(_OF_UNIT, unit, indicators, up_to)]


Key = tuple[str, str, str, date]  # unit, indicator, category ('' = none), period_start


async def values_in_force(conn: asyncpg.Connection, keys: list[Key]) -> dict[Key, InForce]:
    """values_in_force: the value in force of each (unit, indicator, category, period start) that has one."""
    if not keys:
        return {}
    columns = [list(column) for column in zip(*keys, strict=True)]
    rows = await conn.fetch(_BY_KEY, *columns)
    return {(r["unit"], r["indicator"], r["category"], r["period_start"]): InForce(**r) for r in rows}
