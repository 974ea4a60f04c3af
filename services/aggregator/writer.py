"""Writer: stores a batch in one transaction, then publishes dead letters and stored notices and acks.

A crash anywhere before the acks means redelivery of the same messages; the insert skips what is
already stored, so nothing is lost and nothing is doubled. When the database is unreachable the batch
is nak'ed with a growing delay (``batch.nak_delay``). A report the database itself refuses (found by
retrying the batch one report at a time) is dead-lettered, so one bad report never blocks the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from dxmon.catalog import Catalog
from dxmon.contracts import ReportReceived, ReportStored, deadletter_subject, stored_subject
from dxmon.store.reports_repository import StoredUnit, record_dead_letter, store_reports
from services.aggregator.batch import Batch, Poison, classify, is_transient, nak_delay
from services.aggregator.metrics import Metrics
from services.aggregator.settings import AggregatorSettings

log = logging.getLogger("dx.aggregator")

Good = list[tuple[Msg, ReportReceived]]


class Writer:
    """Writer stores batches; it owns the database pool and publishes on the broker's connection."""

    def __init__(self, settings: AggregatorSettings, catalog: Catalog, metrics: Metrics) -> None:
        self.settings = settings
        self.catalog = catalog
        self.metrics = metrics
        self.pool: asyncpg.Pool | None = None
        self.nc: Client | None = None
        self.js: JetStreamContext | None = None

    async def connect(self) -> None:
        # min_size=0: start even while the database is down; batches are nak'ed until it returns.
        self.pool = await asyncpg.create_pool(
            self.settings.database_url, min_size=0, max_size=4, max_inactive_connection_lifetime=60
        )

    def bind(self, nc: Client) -> None:
        """bind gives the writer the NATS connection its notices and dead letters go out on."""
        self.nc = nc
        self.js = nc.jetstream(timeout=10)

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()

    def prepare(self, msgs: list[Msg]) -> Batch:
        """prepare decodes and checks a batch (CPU only, no I/O)."""
        self.metrics.batch_size.observe(len(msgs))
        redelivered = sum(1 for m in msgs if m.metadata.num_delivered > 1)
        if redelivered:
            self.metrics.messages.labels("redelivered").inc(redelivered)
        good, poison = classify(msgs, self.catalog)
        return Batch(msgs, good, poison)

    async def settle(self, batch: Batch) -> None:
        """settle writes a prepared batch in one transaction, then acks it (or naks it with a delay)."""
        msgs, good, poison = batch.msgs, batch.good, batch.poison
        started = asyncio.get_running_loop().time()
        try:
            stored, poison = await self._write(good, poison)
        except Exception as exc:  # noqa: BLE001 - decide by kind below
            if is_transient(exc):
                self.metrics.db_up.set(0)
                delay = nak_delay(max(m.metadata.num_delivered for m in msgs))
                log.warning(
                    "database unavailable (%s); %d messages back in %.1fs", type(exc).__name__, len(msgs), delay
                )
                for m in msgs:
                    await m.nak(delay=delay)
                self.metrics.messages.labels("nak").inc(len(msgs))
                return
            log.error("database refused a batch (%s: %s); retrying one by one", type(exc).__name__, exc)
            stored, poison = await self._write_one_by_one(good, poison)
        self.metrics.db_up.set(1)
        self.metrics.batch_seconds.observe(asyncio.get_running_loop().time() - started)
        await self._after_commit(stored, poison)
        for m in msgs:
            await m.ack()
        self.metrics.messages.labels("stored").inc(len(msgs) - len(poison))
        self.metrics.messages.labels("dead_lettered").inc(len(poison))
        for p in poison:
            self.metrics.dead_letters.labels(p.reason).inc()

    async def _write(self, good: Good, poison: list[Poison]) -> tuple[list[StoredUnit], list[Poison]]:
        """_write stores one batch in one transaction; returns the stored units and all poison, including
        reports whose agency reused an event id for different content."""
        assert self.pool is not None, "connect() first"
        async with self.pool.acquire() as conn, conn.transaction():
            result = await store_reports(
                conn,
                [e for _, e in good],
                datetime.now(UTC),
                self.catalog,
                [m.metadata.sequence.stream for m, _ in good],
            )
            poison = poison + [
                Poison(
                    good[i][0],
                    "event-id-reused",
                    f"agency {good[i][1].agency!r} already sent event {good[i][1].event_id} with different "
                    "content; a correction needs a new event_id",
                )
                for i in result.reused
            ]
            for p in poison:
                await record_dead_letter(
                    conn,
                    p.msg.metadata.sequence.stream,
                    p.msg.subject,
                    p.reason,
                    p.detail,
                    p.msg.data.decode("utf-8", "replace").replace("\x00", "\\u0000"),
                )
        return result.units, poison

    async def _write_one_by_one(self, good: Good, poison: list[Poison]) -> tuple[list[StoredUnit], list[Poison]]:
        stored_all: list[StoredUnit] = []
        poison = list(poison)
        for m, event in good:
            try:
                stored, reused = await self._write([(m, event)], [])
                stored_all += stored
                poison += reused
            except Exception as exc:  # a transient failure is re-raised, the rest is poison
                if is_transient(exc):
                    raise
                poison.append(Poison(m, "database-rejected", f"{type(exc).__name__}: {exc}"[:1000]))
        await self._write([], poison)
        return stored_all, poison

    async def _after_commit(self, stored: Sequence[StoredUnit], poison: list[Poison]) -> None:
        assert self.nc is not None and self.js is not None, "bind() first"
        # Dead letters first and awaited: if this fails we have not acked, and redelivery repeats it
        # (the Nats-Msg-Id makes the dead-letter publish idempotent).
        for p in poison:
            seq = p.msg.metadata.sequence.stream
            await self.js.publish(
                deadletter_subject(p.reason.replace(".", "-")),
                p.msg.data,
                headers={
                    "Nats-Msg-Id": f"dlq-{seq}",
                    "Dx-Reason": p.reason,
                    "Dx-Detail": p.detail[:500],
                    "Dx-Original-Subject": p.msg.subject,
                    "Dx-Original-Seq": str(seq),
                },
            )
        now = datetime.now(UTC)
        for s in stored:
            notice = ReportStored(unit=s.unit, indicators=s.indicators, stored=s.stored, committed_at=now)
            await self.nc.publish(stored_subject(s.unit), notice.model_dump_json().encode())
        self.metrics.stored.inc(sum(s.stored for s in stored))
