"""The alerts HTTP API against hostile and careless callers: every refusal a 4xx problem+json, never a 500.

Runs the real app (database and NATS) with two named tokens; each case is one request.
"""

from __future__ import annotations

import httpx
import pytest
from alerts_fixtures import UNIT, Clock, T, fast_settings

from services.alerts.app import create_app
from services.alerts.routes import MAX_BODY_BYTES

pytestmark = pytest.mark.integration

TOKENS = {"tuan": "t" * 30, "lan": "l" * 30}
AS_TUAN = {"Authorization": f"Bearer {TOKENS['tuan']}"}
SILENCE = {"unit": UNIT, "duration": "2h", "reason": "rà soát"}


@pytest.fixture
async def api(database_url, bus, catalog):
    settings = fast_settings(
        database_url,
        bus,
        alerts_instance="alerts-hostile",
        alerts_api_tokens=",".join(f"{n}:{t}" for n, t in TOKENS.items()),
    )
    app = create_app(settings, catalog=catalog, clock=Clock(T))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://alerts") as http,
    ):
        yield http


def assert_problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["type"].startswith("https://")
    return body


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("GET", "/v1/alerts", id="list-alerts"),
        pytest.param("GET", "/v1/silences", id="list-silences"),
        pytest.param("POST", "/v1/silences", id="silence"),
        pytest.param("DELETE", "/v1/silences/1", id="expire"),
        pytest.param("POST", "/v1/alerts/0123456789abcdef/ack", id="ack"),
    ],
)
@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="no-header"),
        pytest.param("Bearer " + "x" * 30, id="wrong-token"),
        pytest.param(TOKENS["tuan"], id="no-scheme"),
        pytest.param("Basic dHVhbjp4", id="basic"),
    ],
)
async def test_every_v1_route_needs_a_token(api, method, path, authorization) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    body = assert_problem(await api.request(method, path, json=SILENCE, headers=headers), 401)
    assert body["reason"] == "unauthorized"


async def test_created_by_is_the_callers_token_name(api) -> None:
    as_lan = {"Authorization": f"Bearer {TOKENS['lan']}"}
    made = await api.post("/v1/silences", json={**SILENCE, "created_by": "tuan"}, headers=as_lan)
    assert made.status_code == 201
    [silence] = (await api.get("/v1/silences", headers=AS_TUAN)).json()
    assert silence["created_by"] == "lan"


@pytest.mark.parametrize(
    ("request_", "status"),
    [
        pytest.param(("POST", "/v1/silences", {**SILENCE, "duration": "1000000w"}), 422, id="duration-overflow"),
        pytest.param(
            ("POST", "/v1/silences", {**SILENCE, "duration": "9" * 5000 + "w"}), 422, id="duration-huge-digits"
        ),
        pytest.param(("POST", "/v1/silences", {**SILENCE, "duration": "91d"}), 422, id="silence-over-cap"),
        pytest.param(("POST", "/v1/silences", {**SILENCE, "duration": "52w"}), 422, id="silence-52-weeks"),
        pytest.param(("POST", "/v1/silences", {**SILENCE, "reason": "a\x00b"}), 422, id="nul-in-reason"),
        pytest.param(("POST", "/v1/silences", {**SILENCE, "unit": "QN\x00"}), 422, id="nul-in-unit"),
        pytest.param(("POST", "/v1/silences", {**SILENCE, "indicator": "DG\x00"}), 422, id="nul-in-indicator"),
        pytest.param(("POST", "/v1/silences", {**SILENCE, "reason": "x" * 5000}), 422, id="reason-too-long"),
        pytest.param(("POST", "/v1/silences", {**SILENCE, "unit": 5}), 422, id="unit-not-a-string"),
        pytest.param(("POST", "/v1/silences", [SILENCE]), 422, id="array-body"),
        pytest.param(("DELETE", "/v1/silences/99999999999999999999999", None), 422, id="id-beyond-bigint"),
        pytest.param(("DELETE", "/v1/silences/-1", None), 422, id="negative-id"),
        pytest.param(("DELETE", "/v1/silences/abc", None), 422, id="id-not-a-number"),
        pytest.param(("DELETE", "/v1/silences/9223372036854775807", None), 404, id="largest-id-absent"),
        pytest.param(("POST", "/v1/alerts/abc%00def/ack", {"duration": "1d"}), 404, id="nul-in-fingerprint"),
        pytest.param(("POST", "/v1/alerts/" + "a" * 65 + "/ack", {"duration": "1d"}), 422, id="fingerprint-too-long"),
        pytest.param(("POST", "/v1/alerts/0123456789abcdef/ack", {"duration": "500w"}), 422, id="ack-500-weeks"),
        pytest.param(
            ("POST", "/v1/alerts/0123456789abcdef/ack", {"duration": "1d", "reason": "\x00"}),
            422,
            id="nul-in-ack-reason",
        ),
    ],
)
async def test_bad_input_is_a_4xx_problem(api, request_, status) -> None:
    method, path, body = request_
    assert_problem(await api.request(method, path, json=body, headers=AS_TUAN), status)
    assert (await api.get("/v1/silences", headers=AS_TUAN)).json() == []  # nothing was stored


async def test_bodies_are_bounded(api) -> None:
    huge = {**SILENCE, "reason": "x" * (20 * 1024 * 1024)}
    assert_problem(await api.post("/v1/silences", json=huge, headers=AS_TUAN), 413)

    async def chunks():  # no Content-Length: counted as it streams
        for _ in range(MAX_BODY_BYTES // 1024 + 2):
            yield b" " * 1024

    assert_problem(await api.post("/v1/silences", content=chunks(), headers=AS_TUAN), 413)
    bad_length = {**AS_TUAN, "Content-Length": "-5"}
    assert (await api.post("/v1/silences", content=b"", headers=bad_length)).status_code in (400, 413)
    assert (await api.get("/v1/silences", headers=AS_TUAN)).json() == []
