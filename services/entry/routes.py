"""Routes: the entry service's HTTP API, thin handlers over ``templates`` and ``imports``.

    GET  /v1/templates/{unit}.xlsx|.csv?period=…[&to=…]   a template to fill (key, scoped like reports)
    POST /v1/imports?dry_run=true|false                   a filled template: summary, then publish

/healthz, /readyz and /metrics come from the service kit (``app.py``); the data-entry page and
approvals bring routers of their own.
"""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from dxmon.problems import PROBLEM_JSON, Problem, negotiate_language, say
from services.entry.imports import run_import, the_file
from services.entry.state import Caller, State
from services.entry.templates import FORMATS, build_template, period_span, template_filename

router = APIRouter()


@router.get(
    "/v1/templates/{name}",
    summary="A spreadsheet template to fill: {unit}.xlsx or {unit}.csv",
    response_class=Response,
    responses={
        401: {"description": "Missing or invalid API key"},
        403: {"description": "The unit is outside the key's scope"},
        404: {"description": "Unknown unit, or neither .xlsx nor .csv"},
        422: {"description": "Unreadable period"},
        503: {"description": "The database cannot be read; try again"},
    },
)
async def get_template(
    name: str,
    state: State,
    caller: Caller,
    period: str = Query(..., description="First period: 2026-11 (month), 2026-Q4, 2026-H1, 2026 (year)"),
    to: str | None = Query(None, description="Last period, same kind as period (default: period)"),
) -> Response:
    unit_code, dot, extension = name.rpartition(".")
    if not dot or extension not in FORMATS:
        raise Problem(404, "not-found", "Not Found", say("not-found"))
    first, last = period_span(state.catalog, period, to, state.settings.entry_max_periods)
    template = await build_template(state, caller, unit_code, first, last)
    media_type, render = FORMATS[extension]
    state.metrics.templates.labels(extension).inc()
    filename = template_filename(unit_code, first, last, extension)
    return Response(
        render(template), media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


@router.post(
    "/v1/imports",
    summary="Import a filled template (XLSX or CSV): a dry run (default) checks it, dry_run=false sends it",
    responses={
        200: {"description": "Dry run: the import summary (nothing published)"},
        202: {"description": "Imported: every new or corrected row is stored in JetStream (PubAck)"},
        400: {"description": "Empty or malformed upload"},
        401: {"description": "Missing or invalid API key"},
        408: {"description": "The upload did not arrive in time"},
        413: {"description": "File, unpacked workbook or row count beyond the limits"},
        415: {"description": "Not an XLSX or CSV file"},
        422: {
            "description": "Unreadable spreadsheet, or rows refused (the summary lists each with sheet, "
            "row, column and reason; nothing was published)"
        },
        503: {"description": "NATS or the database unavailable; send the same file again later"},
    },
)
async def post_import(
    request: Request,
    state: State,
    caller: Caller,
    dry_run: bool = Query(True, description="true: check only, publish nothing; false: publish when no row is refused"),
) -> JSONResponse:
    data, filename, media_type = await the_file(request, state.settings.entry_max_upload_bytes)
    language = negotiate_language(request.headers.get("accept-language"))
    status, body = await run_import(state, caller, data, filename, media_type, dry_run=dry_run, language=language)
    headers = {"Content-Language": language, "Vary": "Accept-Language"}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON if status == 422 else None, headers=headers)
