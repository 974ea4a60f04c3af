"""Pipeline: runs ingest and the aggregator in-process on real NATS and PostgreSQL for tests.

Both services are the real ASGI apps served by uvicorn on free ports, so tests talk HTTP to ingest
and observe the database, exactly as agencies and dashboards do.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import asyncpg
import uvicorn

from dxmon import devstack
from dxmon.bus import aggregator_backlog, connect, ensure_topology
from dxmon.catalog import Catalog
from dxmon.keys import KeyStore
from services.aggregator.settings import AggregatorSettings
from services.ingest.settings import IngestSettings


@dataclass
class Served:
    """Served is one ASGI app running under uvicorn inside the test's event loop."""

    app: Any
    port: int
    server: uvicorn.Server | None = None
    task: asyncio.Task | None = None

    async def start(self) -> None:
        self.server = uvicorn.Server(
            uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        )
        self.task = asyncio.create_task(self.server.serve())
        deadline = time.monotonic() + 20
        while not self.server.started:
            if self.task.done():
                self.task.result()
            if time.monotonic() > deadline:
                raise TimeoutError("server did not start")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self.server is not None and self.task is not None:
            self.server.should_exit = True
            await asyncio.wait_for(self.task, 30)
            self.server = self.task = None


@dataclass
class Pipeline:
    """Pipeline: ingest + aggregator on one NATS server and one database, with a key for all of QN."""

    nats_url: str
    database_url: str
    catalog: Catalog
    token: str = ""
    ingest: Served | None = None
    aggregator: Served | None = None
    ingest_settings: IngestSettings | None = None
    aggregator_settings: AggregatorSettings | None = None
    extra_tokens: dict[str, str] = field(default_factory=dict)

    @property
    def ingest_url(self) -> str:
        assert self.ingest is not None
        return f"http://127.0.0.1:{self.ingest.port}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def setup(self) -> None:
        self.ingest_settings = self.ingest_settings or IngestSettings(nats_url=self.nats_url)
        self.aggregator_settings = self.aggregator_settings or AggregatorSettings(
            nats_url=self.nats_url, database_url=self.database_url, aggregator_batch_timeout_seconds=0.05
        )
        nc = await connect(self.ingest_settings, "test-setup")
        try:
            js = nc.jetstream()
            await ensure_topology(js, self.ingest_settings)
            store = await KeyStore.open(js, self.catalog)
            _, self.token = await store.create("test agency", ["QN"], with_descendants=True)
        finally:
            await nc.close()

    async def create_key(self, agency: str, units: list[str], with_descendants: bool = False) -> tuple[str, str]:
        assert self.ingest_settings is not None  # set by setup()
        nc = await connect(self.ingest_settings, "test-keys")
        try:
            store = await KeyStore.open(nc.jetstream(), self.catalog)
            key, token = await store.create(agency, units, with_descendants=with_descendants)
            return key.key_id, token
        finally:
            await nc.close()

    async def revoke(self, key_id: str) -> None:
        assert self.ingest_settings is not None  # set by setup()
        nc = await connect(self.ingest_settings, "test-keys")
        try:
            await (await KeyStore.open(nc.jetstream(), self.catalog)).revoke(key_id)
        finally:
            await nc.close()

    async def start_ingest(self) -> None:
        from services.ingest.app import create_app

        self.ingest = Served(create_app(self.ingest_settings, self.catalog), devstack.free_port())
        await self.ingest.start()

    async def start_aggregator(self) -> None:
        from services.aggregator.app import create_app

        self.aggregator = Served(create_app(self.aggregator_settings, self.catalog), devstack.free_port())
        await self.aggregator.start()

    async def stop(self) -> None:
        # Both at once: each notices it should exit only at uvicorn's next tick (every 0.1 s).
        await asyncio.gather(*(served.stop() for served in (self.ingest, self.aggregator) if served is not None))

    async def backlog(self) -> int:
        assert self.ingest_settings is not None  # set by setup()
        nc = await connect(self.ingest_settings, "test-backlog")
        try:
            return await aggregator_backlog(nc.jetstream())
        finally:
            await nc.close()

    async def wait_drained(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while await self.backlog() > 0:
            if time.monotonic() > deadline:
                raise TimeoutError(f"aggregator backlog still {await self.backlog()} after {timeout}s")
            await asyncio.sleep(0.1)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        conn = await asyncpg.connect(self.database_url)
        try:
            return await conn.fetchval(sql, *args)
        finally:
            await conn.close()

    async def fetchrow_dict(self, sql: str, *args: Any) -> dict[str, Any] | None:
        rows = await self.fetch(sql, *args)
        assert len(rows) <= 1, f"{len(rows)} rows"
        return dict(rows[0]) if rows else None

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.database_url)
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()


def report(
    unit: str = "QN-P-HONGGAI", indicator: str = "DG-04", day: date | str = "2025-09-30", **fields: Any
) -> dict[str, Any]:
    """report builds a valid report body (a ratio by default); override any field."""
    body: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "unit": unit,
        "indicator": indicator,
        "observed_at": str(day),
    }
    if "value" not in fields and "numerator" not in fields:
        body.update(numerator=40, denominator=100)
    body.update(fields)
    return body
