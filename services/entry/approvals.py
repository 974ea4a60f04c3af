"""Approvals: data approval (DHIS2-style) on the entry service, for approver keys.

    GET  /v1/approvals?unit=&state=               the unit-periods the key may decide on, each value's approval
    GET  /v1/approvals/decisions?unit=            the audit of those units (who, which key, when, what, why)
    POST /v1/approvals/{unit}/{period}/approve    {"indicator"?: "DG-04", "comment"?: "…"}   → 201 the decision
    POST /v1/approvals/{unit}/{period}/return     {"comment": "…", "indicator"?: "DG-04"}    → 201 the decision

Authenticated like reports (``Authorization: Bearer <key>``, dxmon.intake): 401 without a valid key, 403
for a key without the approver role (``dxmon keys create … --role approver``) or a unit outside its
approval scope (its units and the units directly below them: dxmon.keys.approval_scope). The rules
(what is submitted, what a decision may do) are dxmon/store/approvals_repository.py's; its refusals are
answered as problem+json (409 approval off / nothing to decide / already decided, 422 bad input).

The service's own database sessions are read-only, so decisions are written through a pool of their
own: DX_APPROVALS_DATABASE_URL, else the entry service's URL without the read-only session; its login
(``dxmon db create-users``) is a member of ``dx_approver`` (migration 0010), which may insert decisions
(a development stack connects as the administrator).

For the data-entry page: ``unit_periods(request, caller, unit=None, approval=None)`` and ``decide(request,
caller, unit, period, decision, indicator=None, comment="")`` take the request and an already
authenticated caller (a session's key) and raise ``Problem`` (answer it with ``problem_response``, or show
its ``detail``); ``words.APPROVAL`` labels the states. The routes below are thin wrappers.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dxmon import intake, words
from dxmon.keys import APPROVER, Authenticated, approval_scope
from dxmon.problems import Problem, issues_from_validation_error, say
from dxmon.service_kit import read_body
from dxmon.settings import DxSettings
from dxmon.store import approvals_repository as approvals
from dxmon.store.approvals_repository import APPROVED, RETURNED, ApprovalError
from services.entry.imports import READ_TIMEOUT_SECONDS
from services.entry.state import EntryState, entry_state

MAX_BODY_BYTES = 64 * 1024


class ApprovalsSettings(DxSettings):
    """Approvals: where the entry service writes approval decisions."""

    approvals_database_url: str | None = Field(
        None,
        description="Database URL the entry service writes approval decisions with (a member of dx_approver, "
        "migration 0010); unset: DX_ENTRY_DATABASE_URL without its read-only session (its login is one)",
    )


class DecisionIn(BaseModel):
    """DecisionIn: the body of an approve or return (both optional for an approval)."""

    model_config = ConfigDict(extra="forbid")

    indicator: str | None = Field(None, max_length=64, description="Only this indicator (default: the whole period)")
    comment: str = Field("", max_length=approvals.MAX_COMMENT, description="Why (required to return)")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """lifespan opens the pool decisions are written with (none is opened until a decision needs one)."""
    state: EntryState = app.state.entry
    url = ApprovalsSettings().approvals_database_url or state.settings.entry_database_url
    pool = await asyncpg.create_pool(
        url,
        min_size=0,
        max_size=2,
        max_inactive_connection_lifetime=60,
        server_settings={"application_name": "dx-entry-approvals"},
    )
    app.state.approvals_pool = pool
    try:
        yield
    finally:
        await pool.close()


router = APIRouter(prefix="/v1/approvals", tags=["approvals"], lifespan=lifespan)
# The body is read by _decision_body (problem+json refusals); the docs still show its schema.
_BODY_DOC = {
    "requestBody": {"required": False, "content": {"application/json": {"schema": DecisionIn.model_json_schema()}}}
}
State = Annotated[EntryState, Depends(entry_state)]


def approver(state: EntryState, caller: Authenticated, unit: str | None) -> frozenset[str]:
    """approver returns the caller's approval scope, refusing a reporter key or a unit outside it (403), or a
    unit the catalog does not know (422)."""
    if caller.key.role != APPROVER:
        raise Problem(
            403,
            "not-an-approver",
            "Not an approver key",
            say("not-an-approver", key_id=caller.key.key_id, agency=caller.key.agency),
        )
    scope = approval_scope(caller, state.catalog)
    if unit is not None and unit not in state.catalog.units:
        raise Problem(422, "unknown-unit", "Unknown unit", say("unknown-unit", unit=unit))
    if unit is not None and unit not in scope:
        raise Problem(
            403,
            "outside-approval-scope",
            "Unit outside this key's approval scope",
            say("outside-approval-scope", key_id=caller.key.key_id, agency=caller.key.agency, unit=unit),
        )
    return scope


def _database_unavailable(exc: Exception) -> Problem:
    return Problem(
        503,
        "database-unavailable",
        "Approvals cannot be read or stored right now",
        say("database-unavailable", error=type(exc).__name__),
        headers={"Retry-After": "5"},
    )


async def unit_periods(
    request: Request, caller: Authenticated, unit: str | None = None, approval: str | None = None
) -> list[approvals.UnitPeriod]:
    """unit_periods: the unit-periods ``caller`` may decide on (one ``unit``; one ``approval`` state), newest first
    within each unit; each holds its values' approvals (``UnitPeriod.values``)."""
    state = entry_state(request)
    scope = approver(state, caller, unit)
    if approval is not None and approval not in words.APPROVAL:
        raise Problem(
            422,
            "invalid-parameter",
            "Invalid parameter",
            say("invalid-parameter", detail=f"approval: {', '.join(words.APPROVAL)}"),
        )
    if not state.catalog.approval:
        raise ApprovalError(409, "approval-off", say("approval-off")).problem()
    units = sorted(scope) if unit is None else [unit]
    try:
        async with state.database().acquire() as conn:
            values = await approvals.value_states(conn, units, state.clock())
    except (OSError, asyncpg.PostgresError) as exc:
        raise _database_unavailable(exc) from exc
    return [p for p in approvals.unit_periods(state.catalog, values) if approval is None or p.approval == approval]


async def decide(
    request: Request,
    caller: Authenticated,
    unit: str,
    period: str,
    decision: str,
    *,
    indicator: str | None = None,
    comment: str = "",
) -> approvals.Decision:
    """decide records the caller's approval (APPROVED) or return (RETURNED) of ``unit``'s ``period`` — one
    ``indicator`` or all — and returns the decision (who: the key's agency and id)."""
    state = entry_state(request)
    approver(state, caller, unit)
    try:
        async with request.app.state.approvals_pool.acquire() as conn:
            return await approvals.decide(
                conn,
                state.catalog,
                unit,
                period,
                decision,
                by=caller.key.agency,
                at=state.clock(),
                indicator=indicator or "",
                comment=comment,
                key_id=caller.key.key_id,
            )
    except ApprovalError as exc:
        raise exc.problem() from exc
    except (OSError, asyncpg.PostgresError) as exc:
        raise _database_unavailable(exc) from exc


def _caller(state: EntryState, request: Request) -> Authenticated:
    return intake.authenticate(state.keyring, request.headers.get("authorization"), bus_status=state.bus_status)


async def _decision_body(request: Request) -> DecisionIn:
    # Read within the limit: a decision is a few hundred bytes, and a huge body must not be held whole.
    raw = await read_body(request, MAX_BODY_BYTES, READ_TIMEOUT_SECONDS)
    try:
        data: Any = json.loads(raw) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError) as exc:
        raise Problem(400, "malformed-json", "Malformed JSON", say("malformed-json/unplaced", error=str(exc))) from None
    if not isinstance(data, dict):
        raise Problem(422, "not-an-object", "Invalid body", say("not-an-object"))
    try:
        return DecisionIn.model_validate(data)
    except ValidationError as exc:
        issues = issues_from_validation_error(exc)
        raise Problem(422, issues[0].reason, "Invalid body", issues[0].message, issues) from None


@router.get("", summary="Units' periods the approver key may decide on, with each value's approval")
async def list_unit_periods(
    request: Request, state: State, unit: str | None = None, approval: str | None = None
) -> list[dict[str, Any]]:
    caller = _caller(state, request)
    return [p.as_json() for p in await unit_periods(request, caller, unit, approval)]


@router.get("/decisions", summary="Every decision on the key's units: who, which key, when, what, why")
async def list_decisions(request: Request, state: State, unit: str | None = None) -> list[dict[str, Any]]:
    caller = _caller(state, request)
    scope = approver(state, caller, unit)
    try:  # the audit names keys, which the read-only role may not read (0010): read it as dx_approver
        async with request.app.state.approvals_pool.acquire() as conn:
            found = await approvals.decisions(conn, sorted(scope) if unit is None else [unit])
    except (OSError, asyncpg.PostgresError) as exc:
        raise _database_unavailable(exc) from exc
    return [d.as_json() for d in found]


async def _decide_route(request: Request, state: EntryState, unit: str, period: str, decision: str) -> JSONResponse:
    caller = _caller(state, request)
    body = await _decision_body(request)
    made = await decide(request, caller, unit, period, decision, indicator=body.indicator, comment=body.comment)
    return JSONResponse(made.as_json(), status_code=201)


@router.post(
    "/{unit}/{period}/approve",
    status_code=201,
    summary="Approve a unit's period (Đã phê duyệt)",
    openapi_extra=_BODY_DOC,
)
async def approve(request: Request, state: State, unit: str, period: str) -> JSONResponse:
    return await _decide_route(request, state, unit, period, APPROVED)


@router.post(
    "/{unit}/{period}/return",
    status_code=201,
    summary="Return a unit's period with a comment (Trả lại); the unit's subscribers are notified",
    openapi_extra=_BODY_DOC,
)
async def return_(request: Request, state: State, unit: str, period: str) -> JSONResponse:
    return await _decide_route(request, state, unit, period, RETURNED)
