"""Alerts service: who is behind the targets, and the staff responsible are told — once, in Vietnamese.

    dx.stored.v1.> (core NATS, from the aggregator after commit)
        │ on_stored: request(unit)
        ▼
    Scheduler ── lease in KV dx_leases: only the holder acts ──────────────────────────────┐
        │ evaluate(progress_current) + sync_alerts ──▶ alerts, alert_events   (PostgreSQL) │
        │ EventEmitter ──▶ JetStream DX_ALERTS dx.alerts.v1.<kind>.<unit>, Grafana notes    │
        │ Dispatcher: Router ─▶ Mute(silences) ─▶ Mute(acks) ─▶ Dedup ─▶ Deliver ─▶ Record │
        │                                        outbox + notification_log, one commit     │
        │ OutboxWorker ──▶ channels (apprise: mail/Telegram/Zalo/Slack/Teams; JSON webhook) │
        │ AlertmanagerForwarder ──▶ POST /api/v2/alerts (optional)                          │
        └──────────────────────────────────────────────────────────────────────────────────┘
    HTTP: /healthz /readyz /metrics · GET /v1/alerts · POST|GET|DELETE /v1/silences · POST /v1/alerts/{fp}/ack
          · GET /v1/exports/report (the official report, dxmon.report; an agency key dxk_… gets its own units')
          every /v1 route needs a bearer token of DX_ALERTS_API_TOKENS, whose name is recorded as created_by;
          bodies over 64 KiB get 413; every refusal is problem+json

Start-up runs sinks before sources (database pool → NATS connection and KV → scheduler → subscriber);
shutdown stops taking notices, lets the scheduler finish its step and in-flight sends, releases the
lease (so another instance takes over at once), then closes NATS and the pool.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, FastAPI, Header, HTTPException, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi_offline import FastAPIOffline
from faststream.nats import NatsBroker
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from dxmon.bus import ensure_buckets, make_broker
from dxmon.catalog import Catalog
from dxmon.contracts import ALERTS_STREAM, KEYS_BUCKET, LEASES_BUCKET, ReportStored
from dxmon.keys import Authenticated, KeyRing
from dxmon.problems import Issue, Problem, problem_response
from dxmon.report import FORMATS as REPORT_FORMATS
from dxmon.report import file_name as report_file_name
from dxmon.report import render as render_report
from dxmon.report.access import UnknownUnit, agency_caller
from dxmon.report.access import scope as report_scope
from dxmon.report.model import PeriodError, ReportPeriod
from dxmon.report.pdf import ConversionError
from dxmon.report.repository import build_report
from dxmon.report.target_sets import UnknownTargetSet, check_target_set
from services.alerts import admin
from services.alerts import repository as repo
from services.alerts.alert import State
from services.alerts.alertmanager import AlertmanagerForwarder
from services.alerts.dispatch import Dispatcher
from services.alerts.emit import EventEmitter, GrafanaAnnotator, Publish
from services.alerts.evaluate import (
    EvaluateFn,
    Evaluator,
    Lease,
    Schedule,
    Scheduler,
    default_instance,
    parents,
    seconds,
)
from services.alerts.metrics import Metrics
from services.alerts.outbox import Backoff, OutboxWorker
from services.alerts.settings import AlertsSettings

log = logging.getLogger("dx.alerts")

STORED_SUBJECTS = "dx.stored.v1.>"
MAX_BODY_BYTES = 64 * 1024  # a silence or an ack is a few hundred bytes
LOCAL_CALLER = "cục bộ"  # created_by when no tokens are configured (the API then listens on loopback only)
_BIGINT_MAX = 2**63 - 1


@dataclass
class Service:
    """Service holds what the lifespan built; the HTTP routes and tests read it from ``app.state``."""

    settings: AlertsSettings
    catalog: Catalog
    metrics: Metrics
    clock: Callable[[], datetime]
    broker: NatsBroker
    pool: asyncpg.Pool | None = None
    scheduler: Scheduler | None = None
    task: asyncio.Task | None = None
    accepting: bool = False


# Who asked is the caller's token name (created_by), never a field of the body.
class SilenceIn(BaseModel):
    unit: str = Field(max_length=64, description="Unit code to silence", examples=["QN-P-HONGGAI"])
    indicator: str | None = Field(None, max_length=64, description="Only this indicator (default: every indicator of the unit)")
    duration: str = Field(max_length=40, description="How long, e.g. 2h, 1d12h; at most 90 days", examples=["2h"])
    reason: str = Field(min_length=1, max_length=admin.MAX_REASON_CHARS, description="Who handles it and why")


class AckIn(BaseModel):
    duration: str = Field(max_length=40, description="How long reminders stop, e.g. 24h; at most 30 days",
                          examples=["24h"])
    reason: str = Field("", max_length=admin.MAX_REASON_CHARS, description="What is being done")


class BodyLimit:
    """BodyLimit refuses a request body over ``limit`` bytes with 413, declared or streamed."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > self.limit:
            return await problem_response(self.too_large())(scope, receive, send)
        seen = 0

        async def limited() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                # FastAPI passes an HTTPException raised while reading the body on to the handlers.
                raise HTTPException(413, self.too_large().detail)
            return message

        await self.app(scope, limited, send)

    def too_large(self) -> Problem:
        return Problem(413, "body-too-large", "Request body too large", f"at most {self.limit} bytes")


def _broker(settings: AlertsSettings) -> NatsBroker:
    return make_broker(settings, "dx-alerts", log)


def build_scheduler(
    settings: AlertsSettings, *, catalog: Catalog, pool: asyncpg.Pool, kv: Any, publish: Publish,
    metrics: Metrics, clock: Callable[[], datetime], instance: str, evaluate: EvaluateFn | None = None,
) -> Scheduler:
    """build_scheduler composes the engine (lease, evaluation, dispatch, outbox, outputs) from settings."""
    s = settings
    grafana = None
    if s.grafana_token:
        grafana = GrafanaAnnotator(s.grafana_url, s.grafana_token.get_secret_value())
    forwarder = None
    if s.alertmanager_url:
        forwarder = AlertmanagerForwarder(s.alertmanager_url, metrics, resend=seconds(s.alertmanager_resend_seconds),
                                          public_url=s.public_dashboard_url)
    return Scheduler(
        lease=Lease(kv, instance),
        evaluator=Evaluator(pool, catalog, metrics, evaluate),
        dispatcher=Dispatcher(pool, parents(catalog), metrics,
                              repeat_interval=seconds(s.alerts_repeat_interval_seconds),
                              escalate_after=seconds(s.alerts_escalate_after_seconds),
                              public_url=s.public_dashboard_url),
        outbox=OutboxWorker(pool, metrics, clock,
                            backoff=Backoff(s.alerts_retry_initial_seconds, s.alerts_retry_max_seconds),
                            max_attempts=s.alerts_max_attempts, send_timeout=s.alerts_send_timeout_seconds),
        emitter=EventEmitter(pool, publish, metrics, clock, grafana),
        metrics=metrics,
        clock=clock,
        schedule=Schedule(
            full_interval=s.alerts_full_interval_seconds, flush_interval=s.alerts_flush_interval_seconds,
            debounce=s.alerts_incremental_debounce_seconds, lease_renew=s.alerts_lease_renew_seconds,
            outbox_poll=s.alerts_outbox_poll_seconds, alertmanager_resend=s.alertmanager_resend_seconds,
        ),
        forwarder=forwarder,
    )


def create_app(
    settings: AlertsSettings | None = None, *, catalog: Catalog | None = None,
    clock: Callable[[], datetime] | None = None, evaluate: EvaluateFn | None = None,
) -> FastAPI:
    """create_app wires the alerts service; ``clock`` and ``evaluate`` are injectable for tests."""
    settings = settings or AlertsSettings()
    svc = Service(settings=settings, catalog=catalog or Catalog.load(), metrics=Metrics(),
                  clock=clock or (lambda: datetime.now(UTC)), broker=_broker(settings))
    instance = settings.alerts_instance or default_instance()
    keyring = KeyRing(svc.catalog)  # agency keys (dx_keys, read-only): a unit's own report

    @svc.broker.subscriber(STORED_SUBJECTS, description="Units whose reports were committed: re-evaluate them")
    async def on_stored(msg: ReportStored) -> None:
        if svc.accepting and svc.scheduler is not None:
            svc.scheduler.request([msg.unit])

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        svc.pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=8)
        await svc.broker.connect()
        js = svc.broker.connection.jetstream(timeout=10)
        await ensure_buckets(js, settings)  # the one shared declaration; creates only what is missing
        async def publish(subject: str, body: bytes, headers: Mapping[str, str]) -> None:
            await svc.broker.publish(body, subject, headers=dict(headers), stream=ALERTS_STREAM, timeout=5.0)

        svc.scheduler = build_scheduler(
            settings, catalog=svc.catalog, pool=svc.pool, kv=await js.key_value(LEASES_BUCKET), publish=publish,
            metrics=svc.metrics, clock=svc.clock, instance=instance, evaluate=evaluate,
        )
        svc.task = asyncio.create_task(svc.scheduler.run(), name=f"alerts-scheduler-{instance}")
        keys = asyncio.create_task(keyring.follow(await js.key_value(KEYS_BUCKET)), name="alerts-keys")
        svc.accepting = True
        await svc.broker.start()
        log.info("alerts service %s running (flush every %.0fs, full pass every %.0fs)", instance,
                 settings.alerts_flush_interval_seconds, settings.alerts_full_interval_seconds)
        try:
            yield
        finally:
            svc.accepting = False
            svc.scheduler.stop()
            await svc.task
            keys.cancel()
            await asyncio.gather(keys, return_exceptions=True)
            await svc.broker.stop()  # drains: in-flight messages are handled before the connection closes
            await svc.pool.close()

    # Like ingest's, /docs and /redoc load their assets from the service itself, never from a CDN.
    app = FastAPIOffline(title="dx-monitor alerts", version="1", lifespan=lifespan,
                         description="Progress alerts: lifecycle, silences, acknowledgements, health and metrics.")
    app.state.service = svc
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)
    tokens = settings.api_tokens()

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(_: Request, exc: StarletteHTTPException) -> Response:
        reason = {401: "unauthorized", 404: "not-found", 405: "method-not-allowed", 413: "body-too-large",
                  422: "invalid-request", 503: "starting"}.get(exc.status_code, "http-error")
        return problem_response(Problem(exc.status_code, reason, HTTPStatus(exc.status_code).phrase, str(exc.detail),
                                        headers=dict(exc.headers or {})))

    @app.exception_handler(Problem)
    async def on_problem(request: Request, problem: Problem) -> Response:
        return problem_response(problem, request)

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(_: Request, exc: RequestValidationError) -> Response:
        issues = [Issue("invalid-field", e["msg"], ".".join(map(str, e["loc"]))) for e in exc.errors()]
        return problem_response(Problem(422, "invalid-request", "Invalid request", issues=issues))

    def caller(authorization: Annotated[str | None, Header()] = None) -> str:
        """caller: the name of the token presented (or LOCAL_CALLER when the API has no tokens)."""
        if not tokens:
            return LOCAL_CALLER
        scheme, _, presented = (authorization or "").partition(" ")
        if scheme.lower() == "bearer":
            for token, name in tokens.items():  # every token compared, in constant time
                if hmac.compare_digest(presented.encode(), token.encode()):
                    return name
        raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})

    def report_caller(authorization: Annotated[str | None, Header()] = None) -> Authenticated | None:
        """report_caller: an agency key (None for an operator token, checked as on every /v1 route)."""
        agency = agency_caller(keyring, authorization)
        if agency is None:
            caller(authorization)
        return agency

    def pool() -> asyncpg.Pool:
        if svc.pool is None:
            raise HTTPException(503, "starting")
        return svc.pool

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz(response: Response) -> dict:
        db_ok = False
        if svc.pool is not None:
            try:
                async with svc.pool.acquire(timeout=2) as conn:
                    db_ok = bool(await conn.fetchval("SELECT to_regclass('alerts') IS NOT NULL"))
            except Exception:  # noqa: BLE001 - readiness only reports
                db_ok = False
        nats_ok = bool(svc.broker.connection and svc.broker.connection.is_connected)
        leader = bool(svc.scheduler and svc.scheduler.lease.held)
        # A leader is ready once it has evaluated; a standby once it can reach both stores.
        ready = db_ok and nats_ok and (not leader or (svc.scheduler is not None and svc.scheduler.passes > 0))
        response.status_code = 200 if ready else 503
        return {"ready": ready, "database": db_ok, "nats": nats_ok, "leader": leader}

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(svc.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/alerts", dependencies=[Depends(caller)])
    async def list_alerts(state: Annotated[State | None, Query()] = None, p: asyncpg.Pool = Depends(pool)) -> list[dict]:
        async with p.acquire() as conn:
            rows = await repo.list_alerts(conn, svc.clock(), state)
        return [dict(r) for r in rows]

    @app.get("/v1/silences", dependencies=[Depends(caller)])
    async def list_silences(p: asyncpg.Pool = Depends(pool)) -> list[dict]:
        async with p.acquire() as conn:
            return [s.__dict__ for s in await repo.active_silences(conn, svc.clock())]

    @app.post("/v1/silences", status_code=201)
    async def create_silence(body: SilenceIn, p: asyncpg.Pool = Depends(pool), who: str = Depends(caller)) -> dict:
        try:
            async with p.acquire() as conn:
                sid, ends_at = await admin.add_silence(
                    conn, svc.catalog, unit=body.unit, indicator=body.indicator, duration=body.duration,
                    reason=body.reason, created_by=who, now=svc.clock())
        except admin.AdminError as exc:
            raise HTTPException(422, str(exc)) from None
        return {"id": sid, "ends_at": ends_at}

    @app.delete("/v1/silences/{silence_id}", status_code=204, dependencies=[Depends(caller)])
    async def expire_silence(silence_id: Annotated[int, Path(ge=1, le=_BIGINT_MAX)],
                             p: asyncpg.Pool = Depends(pool)) -> Response:
        async with p.acquire() as conn:
            if not await repo.expire_silence(conn, silence_id, svc.clock()):
                raise HTTPException(404, "no active silence with this id")
        return Response(status_code=204)

    @app.post("/v1/alerts/{fingerprint}/ack")
    async def ack(fingerprint: Annotated[str, Path(max_length=64)], body: AckIn,
                  p: asyncpg.Pool = Depends(pool), who: str = Depends(caller)) -> dict:
        try:
            async with p.acquire() as conn:
                until = await admin.acknowledge(conn, fingerprint=fingerprint, duration=body.duration,
                                                reason=body.reason, created_by=who, now=svc.clock())
        except admin.AdminError as exc:
            raise HTTPException(404 if isinstance(exc, admin.UnknownAlertError) else 422, str(exc)) from None
        return {"fingerprint": fingerprint, "until": until}

    @app.get("/v1/exports/report")
    async def export_report(
        period: Annotated[str, Query(max_length=20, description="2025, 2025-H1, 2025-Q3 or 2025-11")],
        target_set: Annotated[str, Query(max_length=40)] = "NQ09",
        unit: Annotated[str | None, Query(max_length=64, description="Default: the province, or the key's")] = None,
        format: Annotated[str, Query(pattern="^(docx|xlsx|pdf)$")] = "docx",  # noqa: A002 - the API's name
        agency: Authenticated | None = Depends(report_caller), p: asyncpg.Pool = Depends(pool),
    ) -> Response:
        """The official report (dxmon.report), as ``dxmon report`` writes it; an agency key gets its own units'."""
        try:
            chosen = ReportPeriod.parse(period)
            check_target_set(svc.catalog, target_set)
            allowed = report_scope(svc.catalog, agency, unit)  # 403 outside an agency key's scope
        except (PeriodError, UnknownTargetSet, UnknownUnit) as exc:
            raise HTTPException(422, str(exc)) from None
        async with p.acquire() as conn:
            built = await build_report(conn, svc.catalog, target_set=target_set, period=chosen, unit=allowed.unit,
                                       within=allowed.within, now=svc.clock())
        try:  # laying out and converting are CPU and subprocess work: off the event loop
            document = await asyncio.to_thread(render_report, built, format)
        except ConversionError as exc:
            raise HTTPException(503, str(exc)) from None
        return Response(document, media_type=REPORT_FORMATS[format],
                        headers={"Content-Disposition": f'attachment; filename="{report_file_name(built, format)}"'})

    return app
