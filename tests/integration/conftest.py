"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from dxmon.catalog import Catalog
from tests.pipeline import Pipeline


@pytest.fixture
async def ingest_only(nats_url: str, catalog: Catalog) -> AsyncIterator[Pipeline]:
    """ingest_only: ingest without an aggregator, so accepted reports stay visible in the stream."""
    p = Pipeline(nats_url, "postgresql://unused/never", catalog)
    await p.setup()
    await p.start_ingest()
    yield p
    await p.stop()
