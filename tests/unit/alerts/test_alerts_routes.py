"""The alerts HTTP routes before the service has started (no lifespan, no database, no NATS):
authentication, refusals as problem+json, health answers."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from dxmon.catalog import Catalog
from services.alerts.app import create_app
from services.alerts.routes import MAX_BODY_BYTES
from services.alerts.settings import AlertsSettings

TOKEN = "t" * 32
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SILENCE = {"unit": "QN-P-HONGGAI", "duration": "2h", "reason": "Đang sáp nhập"}


@pytest.fixture(scope="module")
def client() -> TestClient:
    settings = AlertsSettings(nats_url="nats://127.0.0.1:1", alerts_api_tokens=f"ops:{TOKEN}")
    return TestClient(create_app(settings, catalog=Catalog.load()))  # not entered: the lifespan never runs


def test_healthz_answers_without_anything_started(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_says_what_is_missing(client: TestClient) -> None:
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json() == {"ready": False, "database": False, "nats": False, "leader": False}


def test_metrics_are_served(client: TestClient) -> None:
    answer = client.get("/metrics")
    assert answer.status_code == 200 and "dx_alerts_firing 0.0" in answer.text


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-header"),
        pytest.param({"Authorization": "Bearer " + "u" * 32}, id="wrong-token"),
        pytest.param({"Authorization": f"Basic {TOKEN}"}, id="wrong-scheme"),
        pytest.param({"Authorization": f"Bearer {TOKEN[:-1]}"}, id="prefix-of-the-token"),
    ],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/alerts"),
        ("GET", "/v1/silences"),
        ("POST", "/v1/silences"),
        ("DELETE", "/v1/silences/1"),
        ("POST", "/v1/alerts/abc/ack"),
        ("GET", "/v1/exports/report?period=2025"),
    ],
)
def test_every_v1_route_needs_a_token(client: TestClient, method: str, path: str, headers: dict) -> None:
    answer = client.request(method, path, headers=headers, json=SILENCE if method == "POST" else None)
    assert answer.status_code == 401
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.headers["www-authenticate"] == "Bearer"
    assert answer.json()["reason"] == "unauthorized"


def test_a_known_token_passes_and_the_service_says_it_is_starting(client: TestClient) -> None:
    answer = client.get("/v1/alerts", headers=AUTH)
    assert answer.status_code == 503
    assert answer.json()["reason"] == "starting"


def test_a_body_over_the_limit_is_refused_before_it_is_read(client: TestClient) -> None:
    answer = client.post("/v1/silences", headers=AUTH, json={**SILENCE, "reason": "x" * MAX_BODY_BYTES})
    assert answer.status_code == 413
    assert answer.json()["reason"] == "body-too-large"


def test_an_unknown_route_is_a_problem(client: TestClient) -> None:
    answer = client.get("/v1/nothing-here", headers=AUTH)
    assert answer.status_code == 404 and answer.json()["reason"] == "not-found"
