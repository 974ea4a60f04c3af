"""Aggregator: stores the reports waiting in JetStream, exactly once in effect, then acks them.

    DX_REPORTS ──pull batch──▶ handlers.BatchLoop ──▶ batch.classify (decode + catalog codes)
        │                                                 │ poison
        │     ┌── writer.Writer: one transaction: COPY ▶ stage ▶ INSERT … ON CONFLICT DO NOTHING
        │     │                  ▶ derived tables + dead_letters rows for the poison
        │     ▼ commit
        ├──▶ DX_DEADLETTER (poison, with reason headers; PubAck awaited)
        ├──▶ dx.stored.v1.<unit> notices (alerts re-evaluates those units)
        └──▶ ack every message of the batch

This module only composes: settings, broker, the loop and the health routes, and the order things
start and stop in. Several aggregator processes may share the durable consumer: JetStream hands
each message to one of them at a time. The file map: ``README.md``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from faststream.asgi import AsgiFastStream

from dxmon.bus import make_broker
from dxmon.catalog import Catalog
from services.aggregator.handlers import BatchLoop
from services.aggregator.metrics import Metrics
from services.aggregator.routes import ops_routes
from services.aggregator.settings import AggregatorSettings
from services.aggregator.state import Aggregator
from services.aggregator.writer import Writer

log = logging.getLogger("dx.aggregator")


class AggregatorApp(AsgiFastStream):
    """AggregatorApp is the ASGI app; ``state`` is what it runs on (tests read metrics from it)."""

    state: Aggregator


def create_app(settings: AggregatorSettings | None = None, catalog: Catalog | None = None) -> AggregatorApp:
    """create_app wires the broker connection, the pull loop and the health/metrics routes."""
    settings = settings or AggregatorSettings()
    metrics = Metrics()
    writer = Writer(settings, catalog or Catalog.load(), metrics)
    state = Aggregator(settings, metrics, writer, BatchLoop(settings, writer))
    broker = make_broker(settings, "dx-aggregator", log, graceful_timeout=30)

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        await writer.connect()  # the database first: the loop writes from its first batch
        yield
        await writer.close()

    async def after_startup() -> None:
        writer.bind(broker.connection)
        await state.loop.start(broker.connection)

    app = AggregatorApp(
        broker,
        asgi_routes=ops_routes(broker, state),
        lifespan=lifespan,
        after_startup=[after_startup],
        on_shutdown=[state.loop.stop],
    )
    app.state = state
    return app
