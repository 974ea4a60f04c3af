"""Ingest: agencies post reports over HTTP; each is validated and stored in JetStream before we say yes.

    agency ──POST /v1/reports──▶ authenticate (KeyRing, no I/O)
                                   ▶ parse (JSON | array | NDJSON, shape checks)
                                   ▶ validate (catalog rules, whole batch before any publish)
                                   ▶ scope (403 for units outside the key)
                                   ▶ publish_async to dx.reports.v1.<unit>.<indicator>,
                                     Nats-Msg-Id = event_id + digest of (agency, content)
          202 {accepted, duplicates, results} ◀── every PubAck received (else 503 + Retry-After)

Ingest never reads the database: it keeps accepting reports while the database is down and JetStream
buffers them. This module puts the service together; each step has its own file (README's file map).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from dxmon.catalog import Catalog
from dxmon.keys import KeyRing
from dxmon.service_kit import add_ops_routes, include_routes, install_problem_handlers, ops_app
from services.ingest.auth import RateLimiter
from services.ingest.body import READ_TIMEOUT_SECONDS
from services.ingest.metrics import Metrics
from services.ingest.openapi import openapi_schema
from services.ingest.publish import Bus
from services.ingest.routes import catalog_router, reports_router
from services.ingest.settings import IngestSettings


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
    bus = Bus.for_settings(settings, keyring, metrics)

    # /docs and /redoc load their scripts and styles from ingest itself, never from a CDN: agencies
    # often reach ingest from an intranet without Internet access.
    app = FastAPIOffline(
        title="dx-monitor ingest",
        version="1.0.0",
        summary="Status reports on Quảng Ninh's digital-transformation targets (NQ 09-NQ/TU)",
        lifespan=lambda _: bus.running(),
    )
    # What the routes' dependencies read (routes.py, auth.py, body.py, publish.py).
    app.state.settings, app.state.catalog, app.state.clock = settings, catalog, clock
    app.state.metrics, app.state.keyring, app.state.bus = metrics, keyring, bus
    app.state.limiter = RateLimiter(settings.rate_limit_per_second)
    app.state.read_timeout_seconds = read_timeout_seconds

    install_problem_handlers(app)
    include_routes(app, reports_router, catalog_router)
    # With DX_INGEST_METRICS_PORT, /metrics is served on that internal port only (create_ops_app).
    registry = metrics.registry if settings.ingest_metrics_port is None else None
    add_ops_routes(app, bus.readiness, registry, readiness_summary="Readiness: NATS connected and keys loaded")
    app.openapi = lambda: openapi_schema(app, settings)  # type: ignore[method-assign]  # FastAPI's documented way to replace the OpenAPI schema
    return app


def create_ops_app(app: FastAPI) -> FastAPI:
    """create_ops_app: ingest's /metrics, /readyz and /healthz for DX_INGEST_METRICS_PORT, a port kept
    on the internal network (the compose file does not publish it), reading ``app``'s state."""
    return ops_app("dx-monitor ingest (operations)", app.state.bus.readiness, app.state.metrics.registry)
