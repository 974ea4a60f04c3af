"""Routes: ingest's HTTP API, thin handlers over FastAPI dependencies.

    POST /v1/reports   caller (auth.py) ▶ reports (body.py: read within limits, parse)
                       ▶ validate (catalog rules, whole batch) ▶ scope ▶ rate limit
                       ▶ encode ▶ publish (publish.py: every PubAck) ▶ 202
    GET /v1/catalog/…  the catalog as JSON

Every refusal is a ``Problem`` raised by a step; ``CountedRoute`` answers it as problem+json and counts
each answer of POST /v1/reports in ``dx_ingest_requests_total``. The dependencies read what
``app.create_app`` put in ``app.state``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute

from dxmon.catalog import Catalog
from dxmon.contracts import ReportIn
from dxmon.intake import Outgoing, check_scope, encode_events, validate_reports
from dxmon.keys import Authenticated
from dxmon.problems import Problem, problem_response
from services.ingest.auth import RateLimiter, caller
from services.ingest.body import reports
from services.ingest.publish import Bus, bus
from services.ingest.schemas import (
    IngestResult,
    catalog_indicators,
    catalog_target_sets,
    catalog_targets,
    catalog_units,
)
from services.ingest.settings import IngestSettings


async def settings(request: Request) -> IngestSettings:
    return request.app.state.settings


async def catalog(request: Request) -> Catalog:
    return request.app.state.catalog


async def limiter(request: Request) -> RateLimiter:
    return request.app.state.limiter


async def received_at(request: Request) -> datetime:
    """received_at is the clock given to create_app, read once the body has arrived (tests inject one)."""
    return request.app.state.clock()


SettingsDep = Annotated[IngestSettings, Depends(settings)]
CatalogDep = Annotated[Catalog, Depends(catalog)]
CallerDep = Annotated[Authenticated, Depends(caller)]
ReportsDep = Annotated[list[ReportIn], Depends(reports)]
ReceivedAtDep = Annotated[datetime, Depends(received_at)]
LimiterDep = Annotated[RateLimiter, Depends(limiter)]
BusDep = Annotated[Bus, Depends(bus)]


class CountedRoute(APIRoute):
    """CountedRoute answers a refusal as problem+json and counts every answer by status and reason.

    It wraps the dependencies too, so a refusal raised before the handler runs (a missing key, a body
    too large) is counted like one raised inside it; an unexpected error counts as 500.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def counted(request: Request) -> Response:
            status, reason = 500, "internal-error"  # until the outcome is known
            try:
                response = await handle(request)
                status, reason = response.status_code, "accepted"
                return response
            except Problem as p:
                status, reason = p.status, p.reason
                return problem_response(p, request)
            finally:
                request.app.state.metrics.requests.labels(str(status), reason).inc()

        return counted


reports_router = APIRouter(route_class=CountedRoute)
catalog_router = APIRouter(prefix="/v1/catalog")


# Its body, refusals and Accept-Language are documented in openapi.py (they depend on the settings).
@reports_router.post(
    "/v1/reports",
    status_code=202,
    response_model=IngestResult,
    summary="Submit one report, a JSON array of reports, or NDJSON",
)
async def post_reports(  # the order of the parameters is the order of the steps: key first, then body
    caller: CallerDep,
    reports: ReportsDep,
    now: ReceivedAtDep,
    settings: SettingsDep,
    catalog: CatalogDep,
    limiter: LimiterDep,
    bus: BusDep,
) -> Response:
    validate_reports(reports, catalog, now, timedelta(seconds=settings.future_skew_seconds))
    check_scope(caller, reports)
    limiter.admit(caller.key.key_id, len(reports), time.monotonic())
    events = encode_events(reports, now, caller)
    return stored(events, await bus.publish(events))


def stored(events: list[Outgoing], duplicates: list[bool]) -> Response:
    """stored is the 202 naming each report accepted or duplicate (json.dumps: no model built per report)."""
    n_dup = sum(duplicates)
    body = {
        "accepted": len(events) - n_dup,
        "duplicates": n_dup,
        "results": [
            {"event_id": e.event_id, "status": "duplicate" if d else "accepted"}
            for e, d in zip(events, duplicates, strict=True)
        ],
    }
    return Response(json.dumps(body), status_code=202, media_type="application/json")


@catalog_router.get("/indicators", summary="Indicators: pillar, measure, direction, levels, cadence, names")
async def get_indicators(catalog: CatalogDep) -> list[dict[str, Any]]:
    return catalog_indicators(catalog)


@catalog_router.get("/units", summary="Units with level, parent, validity dates and successors")
async def get_units(catalog: CatalogDep) -> list[dict[str, Any]]:
    return catalog_units(catalog)


@catalog_router.get(
    "/target-sets", summary="Target sets: issuing document, validity dates, binding or reference, cut-off"
)
async def get_target_sets(catalog: CatalogDep) -> list[dict[str, Any]]:
    return catalog_target_sets(catalog)


@catalog_router.get("/targets", summary="Targets: target set, levels, baseline and milestones per indicator")
async def get_targets(catalog: CatalogDep) -> list[dict[str, Any]]:
    return catalog_targets(catalog)
