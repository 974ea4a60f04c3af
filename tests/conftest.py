"""Shared fixtures: real NATS and PostgreSQL for integration and e2e tests.

Unless DX_TEST_NATS_URL / DX_TEST_DATABASE_URL are set, a throwaway nats-server and PostgreSQL
cluster are started once per session on free ports in a temporary directory. Each test that asks
for ``database_url`` gets a fresh, migrated database with the catalog synced (a clone of a template
migrated once per session); ``nats_url`` gives a server whose dx-monitor streams and buckets were
deleted, so tests never see each other's data.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import nats
import pytest

from dxmon import devstack
from dxmon.catalog import Catalog
from dxmon.contracts import ALERTS_STREAM, DEADLETTER_STREAM, KEYS_BUCKET, LEASES_BUCKET, REPORTS_STREAM
from tests.databases import create_database, drop_templates

__all__ = ["create_database"]  # test modules import it from here


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return Catalog.load()


@pytest.fixture(scope="session")
def servers_dir() -> Iterator[Path]:
    """servers_dir holds the throwaway servers' data, outside pytest's temp root on purpose.

    PostgreSQL runs as another user when we are root, and a second pytest session resets its temp
    root to mode 0700 (and prunes old runs), which would pull the data directory from under it.
    """
    path = Path(tempfile.mkdtemp(prefix="dxmon-test-servers-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def nats_server(servers_dir: Path) -> Iterator[devstack.LocalServer | None]:
    """nats_server is the throwaway server (None when DX_TEST_NATS_URL points elsewhere)."""
    if os.environ.get("DX_TEST_NATS_URL"):
        yield None
        return
    server = devstack.nats_server(servers_dir / "nats").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pg_server(servers_dir: Path) -> Iterator[devstack.LocalServer | None]:
    """pg_server is the throwaway cluster (None when DX_TEST_DATABASE_URL points elsewhere)."""
    if os.environ.get("DX_TEST_DATABASE_URL"):
        yield None
        return
    server = devstack.postgres_server(servers_dir / "pg", durable=False).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pg_admin_url(pg_server: devstack.LocalServer | None) -> str:
    return os.environ.get("DX_TEST_DATABASE_URL") or pg_server.url  # type: ignore[union-attr]  # pg_server is None only when DX_TEST_DATABASE_URL is set


@pytest.fixture(scope="session")
def nats_server_url(nats_server: devstack.LocalServer | None) -> str:
    return os.environ.get("DX_TEST_NATS_URL") or nats_server.url  # type: ignore[union-attr]  # nats_server is None only when DX_TEST_NATS_URL is set


async def _reset_nats(url: str) -> None:
    nc = await nats.connect(url)
    js = nc.jetstream()
    for stream in (REPORTS_STREAM, DEADLETTER_STREAM, ALERTS_STREAM, f"KV_{KEYS_BUCKET}", f"KV_{LEASES_BUCKET}"):
        try:
            await js.delete_stream(stream)
        except nats.js.errors.NotFoundError:
            pass
    await nc.close()


@pytest.fixture
async def nats_url(nats_server_url: str) -> AsyncIterator[str]:
    """nats_url: a NATS server with no dx-monitor streams or buckets left from earlier tests."""
    await _reset_nats(nats_server_url)
    yield nats_server_url


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    asyncio.run(drop_templates())


@pytest.fixture
async def database_url(pg_admin_url: str, catalog: Catalog) -> AsyncIterator[str]:
    """database_url: a fresh migrated database with the catalog synced, dropped after the test."""
    url = await create_database(pg_admin_url, catalog)
    yield url
    name = url.rsplit("/", 1)[1].split("?")[0]
    conn = await asyncpg.connect(pg_admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
async def pipeline(nats_url: str, database_url: str, catalog: Catalog):
    """pipeline: ingest and the aggregator running on real servers, with a key covering all of QN."""
    from tests.pipeline import Pipeline

    p = Pipeline(nats_url, database_url, catalog)
    await p.setup()
    await p.start_aggregator()
    await p.start_ingest()
    yield p
    await p.stop()
