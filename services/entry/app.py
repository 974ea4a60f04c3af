"""Entry: spreadsheet templates, imports with a dry run (and the data-entry page) for agencies.

    agency ──GET /v1/templates/{unit}.xlsx──▶ workbook: indicators, targets, last values (read-only DB)
    agency ──POST /v1/imports?dry_run=…────▶ read the sheet ▶ the JSON contract's checks ▶ summary
                                              └ not a dry run: publish like ingest (dxmon.intake),
                                                202 only after every PubAck

Composition only: settings, the NATS broker, the state's lifespan and the routers. The database is
read through a read-only role for context; reports still reach it only through JetStream and the
aggregator. Ingest is untouched and never reads the database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from dxmon.bus import make_broker
from dxmon.catalog import Catalog
from dxmon.intake import RefusedPublishLog
from dxmon.service_kit import add_ops_routes, include_routes, install_problem_handlers
from services.entry import approvals, page, routes
from services.entry.settings import EntrySettings
from services.entry.state import EntryState

log = logging.getLogger("dx.entry")
log.addFilter(RefusedPublishLog())


def create_app(
    settings: EntrySettings | None = None,
    catalog: Catalog | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> FastAPI:
    """create_app builds the entry ASGI app; NATS and the database are connected in its lifespan."""
    settings = settings or EntrySettings()
    state = EntryState(settings, catalog or Catalog.load(), make_broker(settings, "dx-entry", log), clock)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        await state.start()
        yield
        await state.stop()

    # /docs loads its assets from the service itself: agencies often have no Internet on their intranet.
    app = FastAPIOffline(
        title="dx-monitor entry",
        version="1.0.0",
        lifespan=lifespan,
        summary="Spreadsheet templates and imports for Quảng Ninh's digital-transformation reports",
    )
    app.state.entry = state
    install_problem_handlers(app)
    add_ops_routes(
        app,
        state.readiness,
        state.metrics.registry,
        readiness_summary="Readiness: NATS connected, keys loaded, database reachable",
    )
    include_routes(app, routes.router, page.create_router())
    app.include_router(approvals.router)  # data approval (programme.approval)
    return app
