"""Alerts service: who is behind the targets, and the staff responsible are told — once, in Vietnamese.

Composition only (subscriber ``handlers.py``, engine ``scheduler.py``, HTTP ``routes.py``); the lifespan starts
sinks before sources (pool → NATS, KV, keys → scheduler → subscriber). Pipeline and files: ``README.md``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import asyncpg
from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from dxmon.bus import ensure_buckets, make_broker
from dxmon.catalog import Catalog
from dxmon.contracts import ALERTS_STREAM, KEYS_BUCKET, LEASES_BUCKET
from dxmon.keys import KeyRing
from services.alerts import routes
from services.alerts.evaluate import EvaluateFn
from services.alerts.handlers import subscribe
from services.alerts.lease import default_instance
from services.alerts.metrics import Metrics
from services.alerts.scheduler import build_scheduler
from services.alerts.settings import AlertsSettings
from services.alerts.state import Service

log = logging.getLogger("dx.alerts")


def create_app(
    settings: AlertsSettings | None = None,
    *,
    catalog: Catalog | None = None,
    clock: Callable[[], datetime] | None = None,
    evaluate: EvaluateFn | None = None,
) -> FastAPI:
    """create_app wires the alerts service; ``clock`` and ``evaluate`` are injectable for tests."""
    settings = settings or AlertsSettings()
    keyring = KeyRing(catalog := catalog or Catalog.load())
    svc = Service(
        settings=settings,
        catalog=catalog,
        metrics=Metrics(),
        clock=clock or (lambda: datetime.now(UTC)),
        broker=make_broker(settings, "dx-alerts", log),
        tokens=settings.api_tokens(),
        keyring=keyring,
    )
    instance = settings.alerts_instance or default_instance()
    subscribe(svc)

    async def publish(subject: str, body: bytes, headers: Mapping[str, str]) -> None:
        await svc.broker.publish(body, subject, headers=dict(headers), stream=ALERTS_STREAM, timeout=5.0)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc.pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=8)
        await svc.broker.connect()
        js = svc.broker.connection.jetstream(timeout=10)
        await ensure_buckets(js, settings)  # the one shared declaration; creates only what is missing
        svc.scheduler = build_scheduler(
            settings,
            catalog=svc.catalog,
            pool=svc.pool,
            kv=await js.key_value(LEASES_BUCKET),
            publish=publish,
            metrics=svc.metrics,
            clock=svc.clock,
            instance=instance,
            evaluate=evaluate,
        )
        svc.task = asyncio.create_task(svc.scheduler.run(), name=f"alerts-scheduler-{instance}")
        keys = asyncio.create_task(keyring.follow(await js.key_value(KEYS_BUCKET)), name="alerts-keys")
        svc.accepting = True
        await svc.broker.start()
        log.info(
            "alerts service %s running (flush every %.0fs, full pass every %.0fs)",
            instance,
            settings.alerts_flush_interval_seconds,
            settings.alerts_full_interval_seconds,
        )
        try:
            yield
        finally:
            svc.accepting = False
            svc.scheduler.stop()
            await svc.task
            keys.cancel()
            await svc.broker.stop()  # drains: in-flight messages are handled before the connection closes
            await svc.pool.close()

    app = FastAPIOffline(
        title="dx-monitor alerts",
        version="1",
        lifespan=lifespan,
        description="Progress alerts: lifecycle, silences, acknowledgements, health and metrics.",
    )
    app.state.service = svc
    routes.install(app, svc)
    return app
