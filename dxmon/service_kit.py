"""Service kit: what every dx-monitor HTTP service answers the same way, written once.

    app = FastAPIOffline(...)
    install_problem_handlers(app)                     Problem, HTTPException, RequestValidationError → problem+json
    include_routes(app, routes.router, …)             a service's module-level APIRouters
    add_ops_routes(app, readiness, registry)          /healthz, /readyz, /metrics
    ops = ops_app("dx-monitor X (operations)", readiness, registry)  the same three on an app of their own:
        an internal port (ingest's DX_INGEST_METRICS_PORT), or a FastStream service's
        ``AsgiFastStream(broker, asgi_routes=[(path, ops) for path in OPS_PATHS])``

``readiness`` is a function, plain or async, returning a ``Readiness``; ``/readyz`` answers its JSON
(``{"ready": …, **facts}``) with 200 when ready, else 503. A check that needs the database calls a
repository function (SQL lives in ``dxmon/store``, never here). ``registry`` is the service's Prometheus
registry; None leaves ``/metrics`` out (served elsewhere). ``problem_doc`` and ``ProblemDetails``
document a refusal in OpenAPI exactly as it is sent. ``read_body`` reads a request body within a size
and a time limit (413 / 408 / 499), the one way every service reads one.

Core layer: imports no service. FastAPI is imported here, so only HTTP services import this module.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from dxmon.problems import MESSAGES, PROBLEM_JSON, Issue, Problem, placeholders, problem_response, say

OPS_PATHS = ("/healthz", "/readyz", "/metrics")
# Reason of an HTTPException by status (routing's 404 and 405 above all); any other status is "http-error".
HTTP_REASONS: Mapping[int, str] = {404: "not-found", 405: "method-not-allowed"}


@dataclass(frozen=True)
class Readiness:
    """Readiness is a service's answer to /readyz: ready or not, and the facts that say why."""

    ready: bool
    facts: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"ready": self.ready, **self.facts}


ReadinessCheck = Callable[[], Readiness | Awaitable[Readiness]]


async def readiness_response(check: ReadinessCheck) -> JSONResponse:
    """readiness_response runs ``check`` and answers 200 when ready, else 503, with its JSON."""
    result = check()
    if inspect.isawaitable(result):
        result = await result
    return JSONResponse(result.to_json(), status_code=200 if result.ready else 503)


def add_ops_routes(
    app: FastAPI | APIRouter,
    readiness: ReadinessCheck,
    registry: CollectorRegistry | None = None,
    *,
    readiness_summary: str = "Readiness",
) -> None:
    """add_ops_routes adds /healthz (the process answers), /readyz (``readiness``) and /metrics (``registry``).

    They are added to ``app`` itself, not through an included router, so ``app.routes`` lists them.
    """

    @app.get("/healthz", summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary=readiness_summary, responses={503: {"description": "Not ready; the body says why"}})
    async def readyz() -> JSONResponse:
        return await readiness_response(readiness)

    if registry is not None:

        @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
        async def metrics_endpoint() -> Response:
            return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def ops_app(title: str, readiness: ReadinessCheck, registry: CollectorRegistry | None) -> FastAPI:
    """ops_app serves only OPS_PATHS (no docs, no OpenAPI), e.g. on a port kept on the internal network."""
    app = FastAPI(title=title, openapi_url=None, docs_url=None, redoc_url=None)
    add_ops_routes(app, readiness, registry)
    return app


def include_routes(app: FastAPI, *routers: APIRouter) -> None:
    """include_routes adds the routes of module-level ``routers`` to ``app`` itself, in order.

    FastAPI's include_router keeps each router as one entry of ``app.routes`` that has no path;
    adding the routes themselves keeps ``app.routes`` a list of paths, each route of its own class.
    """
    for router in routers:
        app.router.routes.extend(router.routes)


def install_problem_handlers(app: FastAPI, http_reasons: Mapping[int, str] = HTTP_REASONS) -> None:
    """install_problem_handlers answers every refusal as problem+json, in the request's language.

    A raised ``Problem`` as it is; an HTTPException (e.g. routing's 404) with its reason from
    ``http_reasons`` (told in words when ``MESSAGES`` has that reason, else its own detail) and its
    headers (405's Allow, 401's WWW-Authenticate); a request that fails FastAPI's validation as a 422
    "invalid-parameter" listing each parameter.
    """

    @app.exception_handler(Problem)
    async def on_problem(request: Request, p: Problem) -> JSONResponse:
        return problem_response(p, request)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        reason = http_reasons.get(exc.status_code, "http-error")
        detail = str(exc.detail)
        told = say(reason, method=request.method, detail=detail) if _tellable(reason) else detail
        try:
            title = HTTPStatus(exc.status_code).phrase
        except ValueError:
            title = detail
        return problem_response(Problem(exc.status_code, reason, title, told, headers=dict(exc.headers or {})), request)

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        issues = [
            Issue("invalid-parameter", say("invalid-parameter", detail=e["msg"]), ".".join(map(str, e["loc"])))
            for e in exc.errors()
        ]
        return problem_response(Problem(422, "invalid-parameter", "Invalid request parameter", issues=issues), request)


def _tellable(reason: str) -> bool:
    # A reason whose sentence needs more than the method and the exception's detail cannot be told here.
    return reason in MESSAGES and placeholders(reason) <= {"method", "detail"}


class ProblemItem(BaseModel):
    reason: str = Field(description="Machine-readable reason (the contract: never renamed)")
    message: str = Field(description="What is wrong, in Vietnamese; in English with Accept-Language: en")
    index: int | None = None
    field: str | None = None
    event_id: str | None = None


class ProblemDetails(BaseModel):
    """ProblemDetails is an RFC 9457 problem with dx-monitor's machine-readable ``reason``."""

    type: str = Field(description="URI of the reason; the same in every language")
    title: str = Field(description="Short English label, fixed per reason (for developers, like type)")
    status: int
    reason: str = Field(description="Machine-readable reason (the contract: never renamed)")
    detail: str | None = Field(None, description="What to do, in Vietnamese; in English with Accept-Language: en")
    errors: list[ProblemItem] | None = Field(None, description="One entry per offending item")


def problem_doc(description: str, *headers: str, example: Problem | None = None) -> dict[str, Any]:
    """problem_doc documents a refusal in OpenAPI as it is sent: problem+json (``ProblemDetails``), with its headers.

    ``example`` is shown as it reads in Vietnamese (the default) and in English (Accept-Language: en).
    The OpenAPI document must define ``ProblemDetails`` in its components.
    """
    content: dict[str, Any] = {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}
    if example is not None:
        content["examples"] = {
            "vi": {"summary": "Tiếng Việt (mặc định)", "value": example.to_json("vi")},
            "en": {"summary": "English (Accept-Language: en)", "value": example.to_json("en")},
        }
    doc: dict[str, Any] = {"description": description, "content": {PROBLEM_JSON: content}}
    if headers:
        doc["headers"] = {h: {"schema": {"type": "string"}} for h in headers}
    return doc


def body_too_large(limit: int) -> Problem:
    return Problem(413, "body-too-large", "Request body too large", say("body-too-large", limit=limit))


async def read_body(
    request: Request,
    max_bytes: int,
    timeout_seconds: float,
    too_large: Callable[[int], Problem] = body_too_large,
) -> bytes:
    """read_body returns the whole body, refusing one over ``max_bytes`` (``too_large``: 413, from
    Content-Length before reading when it is declared, else as soon as it is passed), one not received
    within ``timeout_seconds`` (408, connection closed) and a client that went away (499)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large(max_bytes)
    body = bytearray()
    try:
        async with asyncio.timeout(timeout_seconds):
            async for chunk in request.stream():
                body += chunk
                if len(body) > max_bytes:
                    raise too_large(max_bytes)
    except TimeoutError:
        # Connection: close — a client that stalled once is not kept waiting on a kept-alive connection.
        raise Problem(
            408,
            "request-timeout",
            "Request body not received in time",
            say("request-timeout", seconds=f"{timeout_seconds:g}"),
            headers={"Connection": "close"},
        ) from None
    except ClientDisconnect:
        # Nobody is left to answer; 499 (nginx's "client closed request") labels it in the metrics.
        raise Problem(
            499,
            "client-disconnected",
            "Client closed the connection before sending the body",
            say("client-disconnected"),
        ) from None
    return bytes(body)
