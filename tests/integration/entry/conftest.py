"""Fixtures for the entry service's integration tests: the real pipeline plus the entry app, served."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from dxmon import devstack
from dxmon.catalog import Catalog
from services.entry.app import create_app
from services.entry.settings import EntrySettings
from tests.pipeline import Pipeline, Served


@dataclass
class Entry:
    """Entry: the entry service on a free port beside a pipeline (ingest + aggregator) sharing its servers."""

    pipeline: Pipeline
    served: Served
    settings: EntrySettings

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.served.port}"

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        token = self.pipeline.token if token is None else token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=60)


def entry_settings(pipeline: Pipeline, **overrides) -> EntrySettings:
    return EntrySettings(**{"nats_url": pipeline.nats_url, "entry_database_url": pipeline.database_url, **overrides})


@pytest.fixture
async def entry(pipeline: Pipeline, catalog: Catalog) -> AsyncIterator[Entry]:
    settings = entry_settings(pipeline)
    served = Served(create_app(settings, catalog), devstack.free_port())
    await served.start()
    yield Entry(pipeline, served, settings)
    await served.stop()
