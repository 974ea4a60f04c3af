"""Routes: the alerts HTTP API — health, alerts, silences, acknowledgements and the official report.

    /healthz /readyz /metrics · GET /v1/alerts · POST|GET|DELETE /v1/silences · POST /v1/alerts/{fp}/ack
    · GET /v1/exports/report (the official report, dxmon.report; an agency key dxk_… gets its own units')

Every /v1 route needs a bearer token of DX_ALERTS_API_TOKENS, whose name is recorded as created_by;
bodies over 64 KiB get 413; every refusal is problem+json (a ``Problem`` raised, answered by the
service kit). Handlers stay thin: the checks are ``admin``'s, the SQL the repositories'.
"""

from __future__ import annotations

import asyncio
import hmac
from http import HTTPStatus
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dxmon.bus import broker_connected
from dxmon.keys import Authenticated
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
from dxmon.service_kit import HTTP_REASONS, Readiness, add_ops_routes, include_routes, install_problem_handlers
from dxmon.store.health import schema_ready
from services.alerts import admin
from services.alerts import repository as repo
from services.alerts.alert import State
from services.alerts.state import Service

MAX_BODY_BYTES = 64 * 1024  # a silence or an ack is a few hundred bytes
LOCAL_CALLER = "cục bộ"  # created_by when no tokens are configured (the API then listens on loopback only)
_BIGINT_MAX = 2**63 - 1
# HTTPExceptions left (routing's, the body limit's while streaming); every other refusal is a Problem.
_HTTP_REASONS = {**HTTP_REASONS, 413: "body-too-large"}

router = APIRouter()


# Who asked is the caller's token name (created_by), never a field of the body.
class SilenceIn(BaseModel):
    unit: str = Field(max_length=64, description="Unit code to silence", examples=["QN-P-HONGGAI"])
    indicator: str | None = Field(
        None, max_length=64, description="Only this indicator (default: every indicator of the unit)"
    )
    duration: str = Field(max_length=40, description="How long, e.g. 2h, 1d12h; at most 90 days", examples=["2h"])
    reason: str = Field(min_length=1, max_length=admin.MAX_REASON_CHARS, description="Who handles it and why")


class AckIn(BaseModel):
    duration: str = Field(
        max_length=40, description="How long reminders stop, e.g. 24h; at most 30 days", examples=["24h"]
    )
    reason: str = Field("", max_length=admin.MAX_REASON_CHARS, description="What is being done")


def refused(status: int, reason: str, detail: str, headers: dict[str, str] | None = None) -> Problem:
    """refused: a problem+json refusal with the status's standard phrase as its title."""
    return Problem(status, reason, HTTPStatus(status).phrase, detail, headers=headers or {})


def service(request: Request) -> Service:
    return request.app.state.service


Svc = Annotated[Service, Depends(service)]


def caller(svc: Svc, authorization: Annotated[str | None, Header()] = None) -> str:
    """caller: the name of the token presented (or LOCAL_CALLER when the API has no tokens)."""
    if not svc.tokens:
        return LOCAL_CALLER
    scheme, _, presented = (authorization or "").partition(" ")
    if scheme.lower() == "bearer":
        for token, name in svc.tokens.items():  # every token compared, in constant time
            if hmac.compare_digest(presented.encode(), token.encode()):
                return name
    raise refused(401, "unauthorized", "missing or wrong bearer token", {"WWW-Authenticate": "Bearer"})


def pool(svc: Svc) -> asyncpg.Pool:
    if svc.pool is None:
        raise refused(503, "starting", "starting")
    return svc.pool


Pool = Annotated[asyncpg.Pool, Depends(pool)]
Caller = Annotated[str, Depends(caller)]
AUTHENTICATED = [Depends(caller)]


@router.get("/v1/alerts", dependencies=AUTHENTICATED)
async def list_alerts(svc: Svc, p: Pool, state: Annotated[State | None, Query()] = None) -> list[dict]:
    async with p.acquire() as conn:
        rows = await repo.list_alerts(conn, svc.clock(), state)
    return [dict(r) for r in rows]


@router.get("/v1/silences", dependencies=AUTHENTICATED)
async def list_silences(svc: Svc, p: Pool) -> list[dict]:
    async with p.acquire() as conn:
        return [s.__dict__ for s in await repo.active_silences(conn, svc.clock())]


@router.post("/v1/silences", status_code=201)
async def create_silence(body: SilenceIn, svc: Svc, who: Caller, p: Pool) -> dict:
    try:
        async with p.acquire() as conn:
            sid, ends_at = await admin.add_silence(
                conn,
                svc.catalog,
                unit=body.unit,
                indicator=body.indicator,
                duration=body.duration,
                reason=body.reason,
                created_by=who,
                now=svc.clock(),
            )
    except admin.AdminError as exc:
        raise refused(422, "invalid-request", str(exc)) from None
    return {"id": sid, "ends_at": ends_at}


@router.delete("/v1/silences/{silence_id}", status_code=204, dependencies=AUTHENTICATED)
async def expire_silence(silence_id: Annotated[int, Path(ge=1, le=_BIGINT_MAX)], svc: Svc, p: Pool) -> Response:
    async with p.acquire() as conn:
        if not await repo.expire_silence(conn, silence_id, svc.clock()):
            raise refused(404, "not-found", "no active silence with this id")
    return Response(status_code=204)


@router.post("/v1/alerts/{fingerprint}/ack")
async def ack(fingerprint: Annotated[str, Path(max_length=64)], body: AckIn, svc: Svc, who: Caller, p: Pool) -> dict:
    try:
        async with p.acquire() as conn:
            until = await admin.acknowledge(
                conn,
                fingerprint=fingerprint,
                duration=body.duration,
                reason=body.reason,
                created_by=who,
                now=svc.clock(),
            )
    except admin.AdminError as exc:
        unknown = isinstance(exc, admin.UnknownAlertError)
        raise refused(404 if unknown else 422, "not-found" if unknown else "invalid-request", str(exc)) from None
    return {"fingerprint": fingerprint, "until": until}


def report_caller(svc: Svc, authorization: Annotated[str | None, Header()] = None) -> Authenticated | None:
    """report_caller: an agency key (None for an operator token, checked as on every /v1 route)."""
    agency = agency_caller(svc.keyring, authorization) if svc.keyring is not None else None
    if agency is None:
        caller(svc, authorization)
    return agency


@router.get("/v1/exports/report")
async def export_report(
    svc: Svc,
    period: Annotated[str, Query(max_length=20, description="2025, 2025-H1, 2025-Q3 or 2025-11")],
    target_set: Annotated[str, Query(max_length=40)] = "NQ09",
    unit: Annotated[str | None, Query(max_length=64, description="Default: the province, or the key's")] = None,
    format: Annotated[str, Query(pattern="^(docx|xlsx|pdf)$")] = "docx",  # noqa: A002 - the API's name
    agency: Authenticated | None = Depends(report_caller),
    p: asyncpg.Pool = Depends(pool),
) -> Response:
    """The official report (dxmon.report), as ``dxmon report`` writes it; an agency key gets its own units'."""
    try:
        chosen = ReportPeriod.parse(period)
        check_target_set(svc.catalog, target_set)
        allowed = report_scope(svc.catalog, agency, unit)  # 403 outside an agency key's scope
    except (PeriodError, UnknownTargetSet, UnknownUnit) as exc:
        raise refused(422, "invalid-request", str(exc)) from None
    async with p.acquire() as conn:
        built = await build_report(
            conn,
            svc.catalog,
            target_set=target_set,
            period=chosen,
            unit=allowed.unit,
            within=allowed.within,
            now=svc.clock(),
        )
    try:  # laying out and converting are CPU and subprocess work: off the event loop
        document = await asyncio.to_thread(render_report, built, format)
    except ConversionError as exc:
        raise refused(503, "starting", str(exc)) from None  # the reason it always had
    return Response(
        document,
        media_type=REPORT_FORMATS[format],
        headers={"Content-Disposition": f'attachment; filename="{report_file_name(built, format)}"'},
    )


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

        async def limited() -> Message:
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


async def readiness(svc: Service) -> Readiness:
    """readiness: a leader is ready once it has evaluated; a standby once it can reach both stores."""
    db_ok = await schema_ready(svc.pool, "alerts")
    nats_ok = broker_connected(svc.broker)
    leader = bool(svc.scheduler and svc.scheduler.lease.held)
    ready = db_ok and nats_ok and (not leader or (svc.scheduler is not None and svc.scheduler.passes > 0))
    return Readiness(ready, {"database": db_ok, "nats": nats_ok, "leader": leader})


async def on_validation_error(request: Request, exc: RequestValidationError) -> Response:
    # The alerts API's own reasons (invalid-request, invalid-field), older than the kit's invalid-parameter.
    issues = [Issue("invalid-field", e["msg"], ".".join(map(str, e["loc"]))) for e in exc.errors()]
    return problem_response(Problem(422, "invalid-request", "Invalid request", issues=issues), request)


def install(app: FastAPI, svc: Service) -> None:
    """install adds the health and API routes, the body limit and the problem+json refusals to ``app``."""
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)
    install_problem_handlers(app, _HTTP_REASONS)
    app.exception_handler(RequestValidationError)(on_validation_error)
    add_ops_routes(app, lambda: readiness(svc), svc.metrics.registry)
    include_routes(app, router)
