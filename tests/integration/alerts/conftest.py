"""Fixtures for the alerts integration tests (helpers and the shared scenario are in alerts_fixtures)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import asyncpg
import nats
import pytest
from alerts_fixtures import Clock, Engine, Receiver, SmtpSink, start_receiver

from dxmon.bus import ensure_topology
from dxmon.catalog import Catalog
from dxmon.contracts import ALERTS_STREAM, LEASES_BUCKET
from dxmon.settings import NatsSettings
from services.alerts.metrics import Metrics
from services.alerts.scheduler import build_scheduler
from services.alerts.settings import AlertsSettings


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.controller.start()
    yield sink
    sink.controller.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec, server = start_receiver()
    yield rec
    server.shutdown()
    server.server_close()


@pytest.fixture
async def bus(nats_url: str) -> str:
    """bus: NATS with dx-monitor's streams and buckets declared, as `dxmon setup` does."""
    nc = await nats.connect(nats_url)
    await ensure_topology(nc.jetstream(), NatsSettings(nats_url=nats_url))
    await nc.close()
    return nats_url


@pytest.fixture
async def make_engine(catalog: Catalog) -> AsyncIterator:
    """make_engine builds alerts instances (each with its own pool and NATS connection); closed after."""
    engines: list[Engine] = []

    async def make(settings: AlertsSettings, clock: Clock, instance: str = "alerts-a") -> Engine:
        pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=6)
        nc = await nats.connect(settings.nats_url)
        js = nc.jetstream(timeout=5)

        async def publish(subject: str, body: bytes, headers) -> None:
            await js.publish(subject, body, headers=dict(headers), stream=ALERTS_STREAM)

        metrics = Metrics()
        scheduler = build_scheduler(
            settings,
            catalog=catalog,
            pool=pool,
            kv=await js.key_value(LEASES_BUCKET),
            publish=publish,
            metrics=metrics,
            clock=clock,
            instance=instance,
        )
        engine = Engine(scheduler, pool, nc, metrics, clock)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        await engine.close()
