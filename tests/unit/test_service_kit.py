"""Tests for dxmon.service_kit: the operations routes and problem+json handlers every HTTP service shares.

Each is exercised through a test client on a bare FastAPI app (and on FastStream's AsgiFastStream, the
way a subscriber-only service mounts them), checking what a load balancer, Prometheus or an agency sees.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI, HTTPException
from faststream.asgi import AsgiFastStream
from faststream.nats import NatsBroker
from prometheus_client import CollectorRegistry, Counter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Mount, Route

from dxmon.problems import Problem, Text, say
from dxmon.service_kit import (
    OPS_PATHS,
    Readiness,
    add_ops_routes,
    include_routes,
    install_problem_handlers,
    ops_app,
    problem_doc,
    read_body,
)


def registry_with_a_counter() -> CollectorRegistry:
    registry = CollectorRegistry()
    Counter("dx_test_things_total", "Things", registry=registry).inc(3)
    return registry


def route_paths(app: Starlette) -> set[str]:
    """route_paths: the path of each of ``app``'s routes; a route without one fails the test."""
    assert all(isinstance(r, Route | Mount) for r in app.routes), app.routes
    return {r.path for r in app.routes if isinstance(r, Route | Mount)}


@asynccontextmanager
async def client_for(app) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as client:
        yield client


# ───────────────────────────── /healthz, /readyz, /metrics ─────────────────────────────


def sync_and_async(readiness: Readiness) -> tuple[Callable[[], Readiness], Callable]:
    def plain() -> Readiness:
        return readiness

    async def awaited() -> Readiness:
        return readiness

    return plain, awaited


@pytest.mark.parametrize("ready", [True, False])
async def test_readyz_answers_the_check_as_json_200_or_503(ready: bool) -> None:
    # A reason with quotes and a backslash: JSON is built from a dict, never by formatting a string.
    readiness = Readiness(ready, {"detail": 'KV bucket "dx_keys" missing \\ run `dxmon migrate`', "nats": ready})
    for check in sync_and_async(readiness):
        app = FastAPI()
        add_ops_routes(app, check)
        async with client_for(app) as client:
            answer = await client.get("/readyz")
        assert answer.status_code == (200 if ready else 503)
        assert answer.json() == {"ready": ready, "detail": readiness.facts["detail"], "nats": ready}


async def test_healthz_and_metrics_and_no_metrics_without_a_registry() -> None:
    with_metrics, without = FastAPI(), FastAPI()
    add_ops_routes(with_metrics, lambda: Readiness(True), registry_with_a_counter())
    add_ops_routes(without, lambda: Readiness(True))
    async with client_for(with_metrics) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        scraped = await client.get("/metrics")
    assert scraped.headers["content-type"].startswith("text/plain")
    assert "dx_test_things_total 3.0" in scraped.text
    async with client_for(without) as client:
        assert (await client.get("/metrics")).status_code == 404


async def test_ops_app_serves_the_three_paths_and_nothing_else() -> None:
    ops = ops_app("ops", lambda: Readiness(False, {"detail": "starting"}), registry_with_a_counter())
    assert route_paths(ops) == set(OPS_PATHS)
    async with client_for(ops) as client:
        assert (await client.get("/readyz")).status_code == 503
        assert (await client.get("/docs")).status_code == 404
        assert (await client.get("/openapi.json")).status_code == 404


async def test_a_faststream_service_mounts_the_ops_app_on_its_asgi_routes() -> None:
    ops = ops_app("ops", lambda: Readiness(True, {"consuming": True}), registry_with_a_counter())
    app = AsgiFastStream(NatsBroker("nats://127.0.0.1:1"), asgi_routes=[(path, ops) for path in OPS_PATHS])
    async with client_for(app) as client:
        assert (await client.get("/readyz")).json() == {"ready": True, "consuming": True}
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        assert "dx_test_things_total" in (await client.get("/metrics")).text


def test_include_routes_keeps_app_routes_a_list_of_paths_with_their_route_class() -> None:
    router = APIRouter(prefix="/v1")

    @router.get("/things")
    async def things() -> list[str]:
        return []

    app = FastAPI()
    include_routes(app, router)
    assert "/v1/things" in route_paths(app)
    assert any(r is router.routes[0] for r in app.routes)


# ───────────────────────────── problem+json ─────────────────────────────


def app_raising() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app, {404: "not-found", 405: "method-not-allowed", 401: "unauthorized"})

    @app.get("/problem")
    async def problem() -> None:
        raise Problem(409, "conflict-x", "Conflict", say("empty-body"))

    @app.get("/guarded")
    async def guarded() -> None:
        raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})

    @app.get("/items/{n}")
    async def item(n: int) -> int:
        return n

    return app


async def test_problems_and_routing_errors_are_problem_json_in_the_requested_language() -> None:
    async with client_for(app_raising()) as client:
        raised = await client.get("/problem", headers={"Accept-Language": "en"})
        missing = await client.get("/nowhere")
        wrong_method = await client.post("/problem")
    assert raised.status_code == 409 and raised.headers["content-type"] == "application/problem+json"
    assert raised.json()["reason"] == "conflict-x" and raised.headers["Content-Language"] == "en"
    assert (missing.json()["reason"], missing.json()["title"], missing.json()["detail"]) == (
        "not-found",
        "Not Found",
        "không có địa chỉ này",
    )
    assert wrong_method.status_code == 405 and wrong_method.headers["Allow"] == "GET"
    assert wrong_method.json()["detail"] == "địa chỉ này không nhận phương thức POST"


async def test_an_http_exception_keeps_its_headers_and_its_own_detail_when_no_sentence_fits() -> None:
    async with client_for(app_raising()) as client:
        answer = await client.get("/guarded")
    assert answer.status_code == 401 and answer.headers["WWW-Authenticate"] == "Bearer"
    assert answer.json() == {
        "type": "https://dx-monitor.github.io/problems/unauthorized",
        "title": "Unauthorized",
        "status": 401,
        "reason": "unauthorized",
        "detail": "missing or wrong bearer token",
    }


async def test_an_invalid_parameter_is_a_422_naming_it() -> None:
    async with client_for(app_raising()) as client:
        answer = await client.get("/items/abc")
    assert answer.status_code == 422 and answer.json()["reason"] == "invalid-parameter"
    assert [e["field"] for e in answer.json()["errors"]] == ["path.n"]


def test_problem_doc_shows_the_refusal_in_both_languages_with_its_headers() -> None:
    doc = problem_doc("Empty", "Retry-After", example=Problem(400, "empty-body", "Empty body", say("empty-body")))
    content = doc["content"]["application/problem+json"]
    assert content["schema"] == {"$ref": "#/components/schemas/ProblemDetails"}
    assert content["examples"]["vi"]["value"]["detail"] != content["examples"]["en"]["value"]["detail"]
    assert doc["headers"] == {"Retry-After": {"schema": {"type": "string"}}}


# ───────────────────────────── read_body: limits ─────────────────────────────
# read_body runs on a real starlette Request fed by an ASGI ``receive`` the test controls (chunks, a
# stall, a disconnect).


def streamed(*chunks: bytes, content_length: int | None = None, then: str = "end") -> tuple[Request, list[int]]:
    """streamed is a request whose body arrives in ``chunks``; after them it ends, stalls or disconnects.

    The list counts the ``receive`` calls, to show when reading stopped early.
    """
    calls: list[int] = []
    messages = [{"type": "http.request", "body": c, "more_body": True} for c in chunks]

    async def receive() -> dict[str, Any]:
        calls.append(1)
        if messages:
            return messages.pop(0)
        if then == "stall":
            await asyncio.sleep(3600)
        if then == "disconnect":
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": b"", "more_body": False}

    headers = [] if content_length is None else [(b"content-length", str(content_length).encode())]
    scope = {"type": "http", "method": "POST", "path": "/v1/reports", "headers": headers}
    return Request(scope, receive), calls


async def refused_body(request: Request, max_bytes: int = 10, timeout: float = 5.0) -> Problem:
    with pytest.raises(Problem) as caught:
        await read_body(request, max_bytes, timeout)
    return caught.value


async def test_a_body_arriving_in_chunks_is_read_whole_up_to_the_limit() -> None:
    request, _ = streamed(b"0123", b"456", b"789")
    assert await read_body(request, 10, 5.0) == b"0123456789"


async def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    request, calls = streamed(b"x" * 11, content_length=11)
    p = await refused_body(request)
    assert (p.status, p.reason) == (413, "body-too-large")
    assert isinstance(p.detail, Text) and "10" in p.detail.en
    assert calls == []


async def test_a_body_growing_past_the_limit_is_refused_without_reading_the_rest() -> None:
    request, calls = streamed(b"x" * 6, b"x" * 6, b"x" * 1000, content_length=None)
    p = await refused_body(request)
    assert (p.status, p.reason) == (413, "body-too-large")
    assert len(calls) == 2  # the third chunk was never asked for


async def test_a_stalled_body_is_refused_in_time_and_the_connection_closed() -> None:
    request, _ = streamed(b"{", then="stall")
    p = await refused_body(request, timeout=0.05)
    assert (p.status, p.reason, p.headers) == (408, "request-timeout", {"Connection": "close"})
    assert isinstance(p.detail, Text) and "0.05" in p.detail.en


async def test_a_client_gone_before_the_end_is_labelled_499() -> None:
    request, _ = streamed(b"{", then="disconnect")
    p = await refused_body(request)
    assert (p.status, p.reason) == (499, "client-disconnected")
