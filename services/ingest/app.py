"""Ingest: agencies post reports over HTTP; each is validated and stored in JetStream before we say yes.

    agency ──POST /v1/reports──▶ authenticate (KeyRing, no I/O)
                                   ▶ parse (JSON | array | NDJSON, shape checks)
                                   ▶ validate (catalog rules, whole batch before any publish)
                                   ▶ scope (403 for units outside the key)
                                   ▶ publish_async to dx.reports.v1.<unit>.<indicator>,
                                     Nats-Msg-Id = event_id + digest of (agency, content)
          202 {accepted, duplicates, results} ◀── every PubAck received (else 503 + Retry-After)

Ingest never reads the database: it keeps accepting reports while the database is down and
JetStream buffers them. Keys come from the NATS KV bucket ``dx_keys`` (watched, so revocation needs
no restart). The NATS connection is FastStream's ``NatsBroker``; batches use nats-py's pipelined
JetStream publish on that connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import nats.js.errors
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from faststream.exceptions import IncorrectState
from faststream.nats import NatsBroker
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from pydantic.json_schema import models_json_schema
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from dxmon.bus import make_broker
from dxmon.catalog import Catalog
from dxmon.contracts import KEYS_BUCKET, ReportIn
from dxmon.intake import (
    Outgoing,
    RefusedPublishLog,
    authenticate,
    bus_unavailable,
    check_scope,
    encode_events,
    invalid_reports,
    missing_credentials,
    publish_events,
    validate_reports,
)
from dxmon.keys import KeyRing
from dxmon.problems import PROBLEM_JSON, Issue, Problem, problem_response, say
from dxmon.settings import IngestSettings
from services.ingest.parsing import JSON, NDJSON, parse_reports, too_many, unsupported_media_type
from services.ingest.schemas import (
    IngestResult,
    ProblemDetails,
    catalog_indicators,
    catalog_target_sets,
    catalog_targets,
    catalog_units,
)

log = logging.getLogger("dx.ingest")


log.addFilter(RefusedPublishLog())

READ_TIMEOUT_SECONDS = 60.0  # a whole body (≤ DX_MAX_BODY_BYTES) must arrive within this; else 408
ACCEPT_LANGUAGE = {
    "name": "Accept-Language", "in": "header", "required": False, "schema": {"type": "string"},
    "description": "Language of a refusal's detail and messages: Vietnamese unless English is preferred "
                   "(e.g. `en`, `en-US`); type, title and reason codes never change",
    "examples": {"vi": {"value": "vi"}, "en": {"value": "en"}},
}


class Metrics:
    """Metrics holds ingest's Prometheus series (one registry per app, so tests can build many)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.reports = Counter(
            "dx_ingest_reports_total", "Reports by outcome", ["outcome"], registry=self.registry
        )
        self.requests = Counter(
            "dx_ingest_requests_total", "Report requests by status and reason", ["status", "reason"],
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "dx_ingest_auth_failures_total", "Refused credentials", ["reason"], registry=self.registry
        )
        self.publish_seconds = Histogram(
            "dx_ingest_publish_seconds", "Time from first publish to last PubAck per request",
            registry=self.registry, buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.keys_skipped = Gauge(
            "dx_ingest_key_entries_skipped", "Entries of the key bucket ingest cannot use (see the log)",
            registry=self.registry,
        )


@dataclass
class RateLimiter:
    """RateLimiter is a token bucket per key, counting reports (not requests); 0 disables it."""

    per_second: float
    burst_seconds: float = 10.0
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def wait_seconds(self, key_id: str, reports: int, now: float) -> float:
        """wait_seconds takes ``reports`` tokens and returns 0, or how long to wait before retrying."""
        if self.per_second <= 0:
            return 0.0
        capacity = self.per_second * self.burst_seconds
        tokens, last = self._buckets.get(key_id, (capacity, now))
        tokens = min(capacity, tokens + (now - last) * self.per_second)
        # A batch larger than the bucket could never gather enough tokens: it passes once the bucket is
        # full and leaves the bucket in debt, so the long-run rate still holds.
        needed = min(reports, capacity)
        if needed > tokens:
            self._buckets[key_id] = (tokens, now)
            return (needed - tokens) / self.per_second
        self._buckets[key_id] = (tokens - reports, now)
        return 0.0


@dataclass
class Bus:
    """Bus is ingest's NATS state: the broker, its JetStream context, and whether keys are loaded."""

    broker: NatsBroker
    js: Any = None
    status: str = "connecting to NATS"


def problem_doc(description: str, *headers: str, example: Problem | None = None) -> dict[str, Any]:
    """problem_doc documents a refusal in OpenAPI as it is sent: problem+json, with its headers.

    ``example`` is shown as it reads in Vietnamese (the default) and in English (Accept-Language: en).
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


def rate_limited(per_second: float, wait: float) -> Problem:
    retry_after = max(1, round(wait + 0.5))
    return Problem(429, "rate-limited", "Too many reports for this key",
                   say("rate-limited", limit=f"{per_second:g}", retry_after=retry_after),
                   headers={"Retry-After": str(retry_after)})


def _examples(settings: IngestSettings) -> dict[int, Problem]:
    # What the OpenAPI document shows for each refusal: the same constructors the handlers use.
    return {
        400: Problem(400, "empty-body", "Empty body", say("empty-body")),
        401: missing_credentials(),
        413: too_many(settings.max_batch_reports + 1, settings.max_batch_reports),
        415: unsupported_media_type("text/csv"),
        422: invalid_reports([
            Issue("unknown-unit", say("unknown-unit", unit="QN-X-KHONGCO"), "unit", 0),
            Issue("ratio-needs-parts", say("ratio-needs-parts"), "numerator", 1),
        ]),
        429: rate_limited(settings.rate_limit_per_second or 100, 3),
        503: bus_unavailable(say("bus-unavailable/timeout")),
    }


def create_app(
    settings: IngestSettings | None = None,
    catalog: Catalog | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    *,
    read_timeout_seconds: float = READ_TIMEOUT_SECONDS,
) -> FastAPI:
    """create_app builds the ingest ASGI app; NATS is connected in its lifespan (retrying until up).

    A request body that has not fully arrived ``read_timeout_seconds`` after the handler started
    reading it is refused with 408 (a stalled client must not hold a worker forever).
    """
    settings = settings or IngestSettings()
    catalog = catalog or Catalog.load()
    metrics = Metrics()
    keyring = KeyRing(catalog)
    metrics.keys_skipped.set_function(lambda: len(keyring.skipped))
    limiter = RateLimiter(settings.rate_limit_per_second)
    skew = timedelta(seconds=settings.future_skew_seconds)
    broker = make_broker(settings, "dx-ingest", log)
    bus = Bus(broker)

    async def connect_forever() -> None:
        delay = 0.5
        while True:
            try:
                await broker.connect()
                bus.js = broker.connection.jetstream(timeout=settings.publish_timeout_seconds,
                                                      publish_async_max_pending=20_000)
                kv = await bus.js.key_value(KEYS_BUCKET)
                bus.status = "loading keys"
                log.info("connected to NATS; following key bucket %s", KEYS_BUCKET)
                await keyring.follow(kv)
                return
            except asyncio.CancelledError:
                raise
            except nats.js.errors.BucketNotFoundError:
                bus.status = f"KV bucket {KEYS_BUCKET} missing: run `dxmon migrate`"
            except Exception as exc:  # noqa: BLE001 - keep trying; readiness shows why
                bus.status = f"NATS unreachable: {type(exc).__name__}"
            log.warning("ingest not ready: %s", bus.status)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        task = asyncio.create_task(connect_forever())
        # Give a reachable server a moment so the first requests do not all see 503.
        with suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(keyring.loaded.wait()), timeout=5)
        yield
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        await broker.stop()

    # /docs and /redoc load their scripts and styles from ingest itself, never from a CDN: agencies
    # often reach ingest from an intranet without Internet access.
    app = FastAPIOffline(
        title="dx-monitor ingest",
        version="1.0.0",
        summary="Status reports on Quảng Ninh's digital-transformation targets (NQ 09-NQ/TU)",
        lifespan=lifespan,
    )
    app.state.metrics = metrics
    app.state.keyring = keyring
    app.state.bus = bus

    @app.exception_handler(Problem)
    async def on_problem(request: Request, p: Problem) -> JSONResponse:
        return problem_response(p, request)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        reason = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        detail = say(reason, method=request.method, detail=str(exc.detail))
        return problem_response(Problem(exc.status_code, reason, str(exc.detail), detail), request)

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        issues = [Issue("invalid-parameter", say("invalid-parameter", detail=e["msg"]), ".".join(map(str, e["loc"])))
                  for e in exc.errors()]
        return problem_response(Problem(422, "invalid-parameter", "Invalid request parameter", issues=issues), request)

    def connected() -> bool:
        try:
            return broker.connection.is_connected
        except IncorrectState:  # FastStream raises until the first connection succeeds
            return False

    async def read_body(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > settings.max_body_bytes:
            raise body_too_large(settings.max_body_bytes)
        body = bytearray()
        try:
            async with asyncio.timeout(read_timeout_seconds):
                async for chunk in request.stream():
                    body += chunk
                    if len(body) > settings.max_body_bytes:
                        raise body_too_large(settings.max_body_bytes)
        except TimeoutError:
            # Connection: close — a client that stalled once is not kept waiting on a kept-alive connection.
            raise Problem(408, "request-timeout", "Request body not received in time",
                          say("request-timeout", seconds=f"{read_timeout_seconds:g}"), headers={"Connection": "close"},
                          ) from None
        except ClientDisconnect:
            # Nobody is left to answer; 499 (nginx's "client closed request") labels it in the metrics.
            raise Problem(499, "client-disconnected", "Client closed the connection before sending the body",
                          say("client-disconnected")) from None
        return bytes(body)

    async def publish(events: list[Outgoing]) -> list[bool]:
        started = time.perf_counter()
        duplicates = await publish_events(bus.js if connected() else None, events, settings.publish_timeout_seconds)
        metrics.publish_seconds.observe(time.perf_counter() - started)
        return duplicates

    examples = _examples(settings)

    @app.post(
        "/v1/reports",
        status_code=202,
        response_model=IngestResult,
        summary="Submit one report, a JSON array of reports, or NDJSON",
        responses={
            400: problem_doc("Malformed JSON or empty body", example=examples[400]),
            401: problem_doc("Missing or invalid API key", "WWW-Authenticate", example=examples[401]),
            403: problem_doc("A unit is outside the key's scope"),
            408: problem_doc("The body did not arrive in time"),
            413: problem_doc("Body or batch too large", example=examples[413]),
            415: problem_doc("Not JSON or NDJSON", example=examples[415]),
            422: problem_doc("Reports break the contract or the catalog rules", example=examples[422]),
            429: problem_doc("Rate limit of the key exceeded", "Retry-After", example=examples[429]),
            503: problem_doc("JetStream unavailable or full; resend the same request later", "Retry-After",
                             example=examples[503]),
        },
        openapi_extra={"parameters": [ACCEPT_LANGUAGE], "requestBody": {"required": True, "content": {
            JSON: {"schema": {"oneOf": [
                {"$ref": "#/components/schemas/ReportIn"},
                {"type": "array", "items": {"$ref": "#/components/schemas/ReportIn"}, "minItems": 1,
                 "maxItems": settings.max_batch_reports},
            ]}},
            NDJSON: {"schema": {"type": "string", "description": "One ReportIn JSON object per line"}},
        }}},
    )
    async def post_reports(request: Request) -> Response:
        status, reason = 500, "internal-error"  # until the outcome is known (an unexpected error counts as 500)
        try:
            caller = authenticate(keyring, request.headers.get("authorization"), bus_status=bus.status,
                                  on_refused=lambda reason: metrics.auth_failures.labels(reason).inc())
            body = await read_body(request)
            reports = parse_reports(body, request.headers.get("content-type", ""), settings.max_batch_reports)
            now = clock()
            validate_reports(reports, catalog, now, skew)
            check_scope(caller, reports)
            wait = limiter.wait_seconds(caller.key.key_id, len(reports), time.monotonic())
            if wait > 0:
                raise rate_limited(settings.rate_limit_per_second, wait)
            events = encode_events(reports, now, caller)
            duplicates = await publish(events)
            status, reason = 202, "accepted"
        except Problem as p:
            status, reason = p.status, p.reason
            return problem_response(p, request)
        finally:
            metrics.requests.labels(str(status), reason).inc()
        n_dup = sum(duplicates)
        metrics.reports.labels("accepted").inc(len(events) - n_dup)
        metrics.reports.labels("duplicate").inc(n_dup)
        body = {
            "accepted": len(events) - n_dup,
            "duplicates": n_dup,
            "results": [
                {"event_id": e.event_id, "status": "duplicate" if d else "accepted"}
                for e, d in zip(events, duplicates, strict=True)
            ],
        }
        return Response(json.dumps(body), status_code=202, media_type="application/json")

    @app.get("/v1/catalog/indicators", summary="Indicators: pillar, measure, direction, levels, cadence, names")
    async def get_indicators() -> list[dict[str, Any]]:
        return catalog_indicators(catalog)

    @app.get("/v1/catalog/units", summary="Units with level, parent, validity dates and successors")
    async def get_units() -> list[dict[str, Any]]:
        return catalog_units(catalog)

    @app.get("/v1/catalog/target-sets",
             summary="Target sets: issuing document, validity dates, binding or reference, cut-off")
    async def get_target_sets() -> list[dict[str, Any]]:
        return catalog_target_sets(catalog)

    @app.get("/v1/catalog/targets", summary="Targets: target set, levels, baseline and milestones per indicator")
    async def get_targets() -> list[dict[str, Any]]:
        return catalog_targets(catalog)

    @app.get("/healthz", summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    def readiness() -> JSONResponse:
        ready = connected() and keyring.loaded.is_set()
        if ready:
            detail = "ready"
        elif keyring.loaded.is_set():
            detail = "NATS connection lost; reconnecting"
        else:
            detail = bus.status
        return JSONResponse({"ready": ready, "detail": detail}, status_code=200 if ready else 503)

    app.state.readiness = readiness

    @app.get("/readyz", summary="Readiness: NATS connected and keys loaded",
             responses={503: {"description": "Not ready; the body says why"}})
    async def readyz() -> JSONResponse:
        return readiness()

    if settings.ingest_metrics_port is None:  # else on the internal port only (create_ops_app)
        add_metrics_route(app, metrics)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
            _, defs = models_json_schema(
                [(ReportIn, "validation"), (IngestResult, "serialization"), (ProblemDetails, "serialization")],
                ref_template="#/components/schemas/{model}",
            )
            schema.setdefault("components", {}).setdefault("schemas", {}).update(defs.get("$defs", {}))
            schema["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
            schema["paths"]["/v1/reports"]["post"]["security"] = [{"bearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def add_metrics_route(app: FastAPI, metrics: Metrics) -> None:
    @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


def create_ops_app(app: FastAPI) -> FastAPI:
    """create_ops_app: ingest's /metrics, /readyz and /healthz for DX_INGEST_METRICS_PORT, a port kept
    on the internal network (the compose file does not publish it), reading ``app``'s state."""
    ops = FastAPI(title="dx-monitor ingest (operations)", openapi_url=None, docs_url=None, redoc_url=None)
    add_metrics_route(ops, app.state.metrics)

    @ops.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @ops.get("/readyz")
    async def readyz() -> JSONResponse:
        return app.state.readiness()

    return ops
