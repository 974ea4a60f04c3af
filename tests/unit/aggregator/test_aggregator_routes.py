"""The aggregator's health routes before anything started: alive, not ready (and why), metrics served."""

from __future__ import annotations

import httpx
import pytest

from dxmon.catalog import Catalog
from services.aggregator.app import create_app
from services.aggregator.settings import AggregatorSettings


@pytest.fixture
async def client():
    app = create_app(AggregatorSettings(nats_url="nats://127.0.0.1:1"), Catalog.load())  # never started
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://aggregator") as c:
        yield c


async def test_healthz_answers(client: httpx.AsyncClient) -> None:
    answer = await client.get("/healthz")
    assert (answer.status_code, answer.json()) == (200, {"status": "ok"})


async def test_readyz_is_503_and_says_what_is_missing(client: httpx.AsyncClient) -> None:
    answer = await client.get("/readyz")
    assert answer.status_code == 503
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {"ready": False, "nats": False, "database": False, "consuming": False}


async def test_metrics_lists_the_aggregator_series(client: httpx.AsyncClient) -> None:
    answer = await client.get("/metrics")
    assert answer.status_code == 200
    assert "dx_aggregator_database_up 0.0" in answer.text
    assert "# TYPE dx_aggregator_messages_total counter" in answer.text
