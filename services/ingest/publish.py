"""Publish: ingest's NATS connection and the publish of a request's reports to JetStream.

The connection is FastStream's ``NatsBroker``, made in the app's lifespan and retried until NATS
answers; on it the key ring follows the ``dx_keys`` bucket (revocation needs no restart). Storing the
events is ``dxmon.intake.publish_events``: nats-py's pipelined JetStream publish on that connection,
answered only when every PubAck arrived (else 503 + Retry-After).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from faststream.exceptions import IncorrectState
from faststream.nats import NatsBroker

from dxmon.bus import make_broker
from dxmon.contracts import KEYS_BUCKET
from dxmon.intake import Outgoing, RefusedPublishLog, publish_events
from dxmon.keys import KeyRing
from dxmon.service_kit import Readiness
from services.ingest.metrics import Metrics
from services.ingest.settings import IngestSettings

log = logging.getLogger("dx.ingest")
log.addFilter(RefusedPublishLog())

FIRST_CONNECT_WAIT_SECONDS = 5  # at start-up, so the first requests to a reachable NATS do not all see 503


@dataclass
class Bus:
    """Bus is ingest's NATS state: the broker, its JetStream context, and what it is doing (for /readyz)."""

    broker: NatsBroker
    keyring: KeyRing
    metrics: Metrics
    publish_timeout_seconds: float
    js: Any = None
    status: str = "connecting to NATS"

    @classmethod
    def for_settings(cls, settings: IngestSettings, keyring: KeyRing, metrics: Metrics) -> Bus:
        return cls(make_broker(settings, "dx-ingest", log), keyring, metrics, settings.publish_timeout_seconds)

    @property
    def connected(self) -> bool:
        try:
            return self.broker.connection.is_connected
        except IncorrectState:  # FastStream raises until the first connection succeeds
            return False

    async def publish(self, events: list[Outgoing]) -> list[bool]:
        """publish stores every event in DX_REPORTS and returns, per event, whether it was a duplicate (counted)."""
        started = time.perf_counter()
        duplicates = await publish_events(self.js if self.connected else None, events, self.publish_timeout_seconds)
        self.metrics.publish_seconds.observe(time.perf_counter() - started)
        self.metrics.count_stored(duplicates)
        return duplicates

    def readiness(self) -> Readiness:
        """readiness: ready once NATS is connected and the keys are loaded; else the reason."""
        loaded = self.keyring.loaded.is_set()
        if self.connected and loaded:
            return Readiness(True, {"detail": "ready"})
        return Readiness(False, {"detail": "NATS connection lost; reconnecting" if loaded else self.status})

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """running connects (in the background, until it succeeds) for as long as the block runs."""
        task = asyncio.create_task(self.connect_forever())
        with suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.keyring.loaded.wait()), timeout=FIRST_CONNECT_WAIT_SECONDS)
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
            await self.broker.stop()

    async def connect_forever(self) -> None:
        async def open_bucket():
            await self.broker.connect()
            self.js = self.broker.connection.jetstream(
                timeout=self.publish_timeout_seconds, publish_async_max_pending=20_000
            )
            return await self.js.key_value(KEYS_BUCKET)

        def report(status: str) -> None:
            self.status = status

        await self.keyring.connect_and_follow(open_bucket, report, "ingest")


async def bus(request: Request) -> Bus:
    """bus is the FastAPI dependency giving the app's Bus."""
    return request.app.state.bus
