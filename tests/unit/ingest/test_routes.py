"""Tests for services.ingest.routes: the HTTP API through a test client, with NATS replaced.

The app is ``create_app``'s, run by httpx's ASGI transport (no lifespan, so no NATS connection); only
the JetStream context (``FakeJetStream``: PubAcks, deduplication by Nats-Msg-Id) and the key ring are
fakes. Every refusal is checked for what the agency sees and for what was (not) published and counted.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import nats.errors
import pytest
from fastapi import FastAPI

from dxmon.catalog import Catalog
from dxmon.contracts import ReportReceived
from services.ingest.app import create_app
from services.ingest.settings import IngestSettings
from tests.unit.ingest.fakes import TOKEN, FakeJetStream, FakeKeyRing, authenticated, connected_broker

NOW = datetime(2025, 10, 15, 3, 0, tzinfo=UTC)
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def report(unit: str = "QN-P-HONGGAI", **fields: Any) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "unit": unit,
        "indicator": "DG-04",
        "observed_at": "2025-09-30",
        "numerator": 40,
        "denominator": 100,
        **fields,
    }


def wired(catalog: Catalog, *, loaded: bool = True, **settings: Any) -> FastAPI:
    """wired is ingest's app with a fake JetStream and one key, for QN-P-HONGGAI only."""
    app = create_app(IngestSettings(_env_file=None, nats_url="nats://127.0.0.1:1", **settings), catalog, lambda: NOW)
    keyring = FakeKeyRing({TOKEN: authenticated("QN-P-HONGGAI", agency="UBND phường Hồng Gai")}, loaded=loaded)
    app.state.keyring = app.state.bus.keyring = keyring
    app.state.bus.broker, app.state.bus.js = connected_broker(), FakeJetStream()
    return app


@pytest.fixture
async def client(catalog: Catalog) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=wired(catalog)), base_url="http://ingest") as c:
        yield c


def app_of(client: httpx.AsyncClient) -> FastAPI:
    return client._transport.app  # type: ignore[attr-defined]  # httpx's ASGI transport keeps the app in a private attribute


def published(client: httpx.AsyncClient) -> list[tuple[str, bytes, dict[str, str]]]:
    return app_of(client).state.bus.js.published


def counted(client: httpx.AsyncClient, name: str, **labels: str) -> float:
    return app_of(client).state.metrics.registry.get_sample_value(name, labels) or 0.0


# ───────────────────────────── 202 ─────────────────────────────


async def test_a_batch_is_published_as_report_received_events_and_answered_per_report(client) -> None:
    batch = [report(), report(indicator="DG-04", numerator=41)]
    answer = await client.post("/v1/reports", json=batch, headers=AUTH)
    assert answer.status_code == 202
    assert answer.json() == {
        "accepted": 2,
        "duplicates": 0,
        "results": [{"event_id": r["event_id"], "status": "accepted"} for r in batch],
    }
    events = [ReportReceived.model_validate_json(payload) for _, payload, _ in published(client)]
    assert [str(e.event_id) for e in events] == [r["event_id"] for r in batch]
    assert {(e.received_at, e.agency, e.key_id) for e in events} == {(NOW, "UBND phường Hồng Gai", "0123456789abcdef")}
    assert {subject for subject, _, _ in published(client)} == {"dx.reports.v1.QN-P-HONGGAI.DG-04"}
    assert counted(client, "dx_ingest_requests_total", status="202", reason="accepted") == 1
    assert counted(client, "dx_ingest_reports_total", outcome="accepted") == 2


async def test_the_same_request_again_is_answered_duplicate(client) -> None:
    body = "\n".join(json.dumps(report()) for _ in range(2))
    first = await client.post("/v1/reports", content=body, headers={**AUTH, "Content-Type": "application/x-ndjson"})
    again = await client.post("/v1/reports", content=body, headers={**AUTH, "Content-Type": "application/x-ndjson"})
    assert (first.json()["accepted"], again.json()["duplicates"]) == (2, 2)
    assert [r["status"] for r in again.json()["results"]] == ["duplicate", "duplicate"]
    assert counted(client, "dx_ingest_reports_total", outcome="duplicate") == 2


# ───────────────────────────── refusals ─────────────────────────────


async def test_the_key_is_checked_before_the_body_is_read(client) -> None:
    answer = await client.post("/v1/reports", content=b"x" * (5 * 1024 * 1024))  # too large, and no key
    assert answer.status_code == 401 and answer.json()["reason"] == "missing-credentials"
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert counted(client, "dx_ingest_requests_total", status="401", reason="missing-credentials") == 1
    assert counted(client, "dx_ingest_auth_failures_total", reason="missing") == 1


async def test_a_unit_outside_the_key_refuses_the_whole_batch(client) -> None:
    answer = await client.post("/v1/reports", json=[report(), report("QN-P-BAICHAY")], headers=AUTH)
    assert answer.status_code == 403 and answer.json()["reason"] == "outside-key-scope"
    assert published(client) == []


async def test_catalog_rules_refuse_in_vietnamese_or_english(client) -> None:
    batch = [report(), report(observed_at="2025-12-31")]  # after NOW: in the future
    vi = await client.post("/v1/reports", json=batch, headers=AUTH)
    en = await client.post("/v1/reports", json=batch, headers={**AUTH, "Accept-Language": "en"})
    assert vi.status_code == en.status_code == 422
    assert vi.headers["content-type"] == "application/problem+json" and en.headers["Content-Language"] == "en"
    assert [e["index"] for e in vi.json()["errors"]] == [1]
    assert vi.json()["errors"][0]["message"] != en.json()["errors"][0]["message"]
    assert published(client) == []
    assert counted(client, "dx_ingest_requests_total", status="422", reason="invalid-reports") == 2


@pytest.mark.parametrize(
    ("settings", "body", "status", "reason"),
    [
        ({"max_body_bytes": 100}, [report()] * 2, 413, "body-too-large"),
        ({"max_batch_reports": 1}, [report(), report()], 413, "batch-too-large"),
    ],
)
async def test_the_settings_set_the_limits(catalog, settings, body, status, reason) -> None:
    transport = httpx.ASGITransport(app=wired(catalog, **settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as client:
        answer = await client.post("/v1/reports", json=body, headers=AUTH)
        assert (answer.status_code, answer.json()["reason"]) == (status, reason)
        assert published(client) == []


async def test_a_key_over_its_rate_is_told_when_to_come_back(catalog) -> None:
    transport = httpx.ASGITransport(app=wired(catalog, rate_limit_per_second=0.1))  # a bucket of 1 report
    async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as client:
        first = await client.post("/v1/reports", json=report(), headers=AUTH)
        second = await client.post("/v1/reports", json=report(), headers=AUTH)
        assert (first.status_code, second.status_code, second.json()["reason"]) == (202, 429, "rate-limited")
        assert 1 <= int(second.headers["Retry-After"]) <= 11
        assert len(published(client)) == 1


async def test_until_the_keys_are_loaded_a_valid_key_is_told_to_retry(catalog) -> None:
    transport = httpx.ASGITransport(app=wired(catalog, loaded=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as client:
        answer = await client.post("/v1/reports", json=report(), headers=AUTH)
        ready = await client.get("/readyz")
    assert (answer.status_code, answer.headers["Retry-After"]) == (503, "5")
    assert ready.status_code == 503 and ready.json() == {"ready": False, "detail": "connecting to NATS"}


async def test_when_jetstream_fails_the_request_is_refused_to_be_resent(client) -> None:
    app_of(client).state.bus.js = FakeJetStream(error=nats.errors.ConnectionClosedError())
    answer = await client.post("/v1/reports", json=report(), headers=AUTH)
    assert (answer.status_code, answer.json()["reason"], answer.headers["Retry-After"]) == (503, "bus-unavailable", "5")
    assert "ConnectionClosedError" in answer.json()["detail"]
    assert counted(client, "dx_ingest_requests_total", status="503", reason="bus-unavailable") == 1
    assert counted(client, "dx_ingest_reports_total", outcome="accepted") == 0


# ───────────────────────────── catalog, operations, unknown addresses ─────────────────────────────


async def test_catalog_routes_answer_from_the_catalog(client, catalog) -> None:
    units = (await client.get("/v1/catalog/units")).json()
    assert {u["code"] for u in units} == set(catalog.units)
    for path in ("/v1/catalog/indicators", "/v1/catalog/target-sets", "/v1/catalog/targets"):
        answer = await client.get(path)
        assert answer.status_code == 200 and answer.json(), path


async def test_health_readiness_and_metrics(client) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"ready": True, "detail": "ready"}
    assert "dx_ingest_requests_total" in (await client.get("/metrics")).text


async def test_an_unknown_address_is_a_problem_in_the_requested_language(client) -> None:
    vi = await client.get("/v1/nowhere")
    en = await client.get("/v1/nowhere", headers={"Accept-Language": "en"})
    assert vi.status_code == 404 and vi.json()["reason"] == en.json()["reason"] == "not-found"
    assert (vi.json()["detail"], en.json()["detail"]) == ("không có địa chỉ này", "Not Found")
