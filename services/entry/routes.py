"""Routes: the entry service's operational routes — liveness, readiness, metrics.

Templates (``templates.py``) and imports (``imports.py``) have routers of their own; ``app.py``
includes them all.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from dxmon.store.entry_repository import database_ready
from services.entry.state import State

router = APIRouter()


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: NATS connected, keys loaded, database reachable",
            responses={503: {"description": "Not ready; the body says why"}})
async def readyz(state: State) -> JSONResponse:
    if not state.keyring.loaded.is_set():
        detail = state.bus_status
    elif not state.nats_connected():
        detail = "NATS connection lost; reconnecting"
    else:
        detail = await database_ready(state.pool) if state.pool is not None else "starting"
    ready = detail is None
    return JSONResponse({"ready": ready, "detail": detail or "ready"}, status_code=200 if ready else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(state: State) -> Response:
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
