"""State: what the entry service's routes share — catalog, keys, the NATS bus and the read-only database.

    lifespan ─▶ connect NATS (retrying) ─▶ follow the key bucket (KeyRing, like ingest)
             ─▶ database pool, every session read-only (``default_transaction_read_only``)

Routes reach it through ``entry_state(request)``; routers added by other modules (the page,
approvals) use the same dependencies, so authentication is written once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

import asyncpg
import nats.errors
import nats.js.errors
from fastapi import Depends, Request
from faststream.exceptions import IncorrectState
from faststream.nats import NatsBroker

from dxmon.catalog import Catalog
from dxmon.contracts import KEYS_BUCKET
from dxmon.intake import authenticate
from dxmon.keys import Authenticated, KeyRing
from dxmon.problems import Problem, say
from dxmon.service_kit import Readiness
from dxmon.store.entry_repository import database_ready
from services.entry.metrics import Metrics
from services.entry.settings import EntrySettings

log = logging.getLogger("dx.entry")

# Sessions of the entry service cannot write, whatever its database user is granted (a dev stack
# connects as the administrator): PostgreSQL refuses any write in a read-only transaction.
READ_ONLY_SESSION = {"default_transaction_read_only": "on", "application_name": "dx-entry"}


@dataclass
class EntryState:
    """EntryState is built once per app; its connections are opened by ``start`` and closed by ``stop``."""

    settings: EntrySettings
    catalog: Catalog
    broker: NatsBroker
    clock: Callable[[], datetime]
    metrics: Metrics = field(default_factory=Metrics)
    keyring: KeyRing = field(init=False)
    js: Any = None
    pool: asyncpg.Pool | None = None
    bus_status: str = "connecting to NATS"
    # Uploads read at once: each may take a few hundred MB while openpyxl holds it; the rest wait their turn.
    reading: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(2))
    _task: asyncio.Task | None = None

    def __post_init__(self) -> None:
        self.keyring = KeyRing(self.catalog)

    def database(self) -> asyncpg.Pool:
        """database: the pool ``start`` opened; before that, an OSError routes treat as a database outage."""
        if self.pool is None:
            raise ConnectionError("entry database pool not started")
        return self.pool

    async def start(self) -> None:
        # min_size=0: the service starts while the database is down; /readyz says so until it returns.
        self.pool = await asyncpg.create_pool(
            self.settings.entry_database_url,
            min_size=0,
            max_size=self.settings.entry_db_pool_size,
            max_inactive_connection_lifetime=60,
            server_settings=READ_ONLY_SESSION,
        )
        self._task = asyncio.create_task(self._connect_forever())
        with suppress(TimeoutError):  # give a reachable server a moment so first requests do not see 503
            await asyncio.wait_for(asyncio.shield(self.keyring.loaded.wait()), timeout=5)

    async def stop(self) -> None:
        if self._task is not None:
            await _cancel(self._task)
        with suppress(nats.errors.Error):  # a connection already closed is stopped enough
            await self.broker.stop()
        if self.pool is not None:
            await self.pool.close()

    async def _connect_forever(self) -> None:
        async def open_bucket():
            await self.broker.connect()
            self.js = self.broker.connection.jetstream(
                timeout=self.settings.publish_timeout_seconds, publish_async_max_pending=20_000
            )
            return await self.js.key_value(KEYS_BUCKET)

        def report(status: str) -> None:
            self.bus_status = status

        await self.keyring.connect_and_follow(open_bucket, report, "entry")

    async def readiness(self) -> Readiness:
        """readiness: NATS connected, keys loaded and the database answering (each fact says which is not)."""
        detail: str | None
        if not self.keyring.loaded.is_set():
            detail = self.bus_status
        elif not self.nats_connected():
            detail = "NATS connection lost; reconnecting"
        else:
            detail = await database_ready(self.pool) if self.pool is not None else "starting"
        return Readiness(detail is None, {"detail": detail or "ready"})

    def nats_connected(self) -> bool:
        try:
            return self.broker.connection.is_connected
        except IncorrectState:  # FastStream raises until the first connection succeeds
            return False


async def _cancel(task: asyncio.Task) -> None:
    """_cancel cancels the key watch and waits for it (its clean-up is bounded: KeyRing.follow)."""
    task.cancel()
    with suppress(asyncio.CancelledError):
        await task


def entry_state(request: Request) -> EntryState:
    """entry_state is the FastAPI dependency giving a route the service's state."""
    return request.app.state.entry


def entry_caller(request: Request) -> Authenticated:
    """entry_caller is the FastAPI dependency authenticating the bearer key (401, or 503 while keys load)."""
    state = entry_state(request)
    return authenticate(state.keyring, request.headers.get("authorization"), bus_status=state.bus_status)


State = Annotated[EntryState, Depends(entry_state)]
Caller = Annotated[Authenticated, Depends(entry_caller)]


def database_unavailable(exc: BaseException) -> Problem:
    """database_unavailable is the 503 when the context the entry service reads cannot be read."""
    return Problem(
        503,
        "database-unavailable",
        "Database unavailable",
        say("database-unavailable", error=type(exc).__name__),
        headers={"Retry-After": "5"},
    )
