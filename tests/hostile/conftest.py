"""Fixtures for the hostile-input, fault and load tests (helpers are in hostile_support)."""

from __future__ import annotations

import pytest

from dxmon.catalog import Catalog
from tests.conftest import create_database
from tests.hostile.hostile_support import drop_database


@pytest.fixture
async def database(pg_admin_url: str, catalog: Catalog):
    """database: a fresh migrated database (catalog synced) on the shared PostgreSQL, dropped after the test."""
    url = await create_database(pg_admin_url, catalog)
    yield url
    await drop_database(pg_admin_url, url)
