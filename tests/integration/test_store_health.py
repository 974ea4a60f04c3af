"""The services' readiness check against a real PostgreSQL: ready only when the schema is there."""

from __future__ import annotations

import time

import asyncpg
import pytest

from dxmon import devstack
from dxmon.store.health import schema_ready

pytestmark = pytest.mark.integration


async def test_ready_when_the_migrated_table_exists(database_url: str) -> None:
    pool = await asyncpg.create_pool(database_url, min_size=0, max_size=1)
    try:
        assert await schema_ready(pool, "reports") is True
        assert await schema_ready(pool, "alerts") is True
        assert await schema_ready(pool, "no_such_table") is False
        assert await schema_ready(pool, "reports; DROP TABLE reports") is False  # a name, never SQL
        assert await schema_ready(pool, "reports") is True
    finally:
        await pool.close()


async def test_not_ready_without_a_pool_or_a_database() -> None:
    assert await schema_ready(None, "reports") is False
    # min_size=0: the pool exists while the database does not answer, as the aggregator's does.
    unreachable = f"postgresql://postgres@127.0.0.1:{devstack.free_port()}/dxmon"
    pool = await asyncpg.create_pool(unreachable, min_size=0, max_size=1)
    try:
        started = time.monotonic()
        assert await schema_ready(pool, "reports", timeout=1) is False
        assert time.monotonic() - started < 5  # readiness answers, it does not hang
    finally:
        await pool.close()
