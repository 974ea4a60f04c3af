"""Aggregator: stores the reports waiting in JetStream, exactly once in effect, then acks them.

    DX_REPORTS ──pull batch (≤ batch size, ≤ timeout)──▶ decode + re-validate each message
        │                                                    │ poison (undecodable / breaks catalog rules)
        │                                                    ▼
        │     ┌── one transaction: COPY ▶ stage ▶ INSERT … ON CONFLICT DO NOTHING ▶ derived tables
        │     │                       + dead_letters rows for the poison
        │     ▼ commit
        ├──▶ DX_DEADLETTER (poison, with reason headers; PubAck awaited)
        ├──▶ dx.stored.v1.<unit> notices (alerts re-evaluates those units)
        └──▶ ack every message of the batch

A crash anywhere before the acks means redelivery of the same messages; the insert skips what
is already stored, so nothing is lost and nothing is doubled. When the database is unreachable the
batch is nak'ed with a growing delay and the consumer resumes by itself when it returns. A report
the database itself refuses (found by retrying the batch one report at a time) is dead-lettered,
so one bad report never blocks the others. Several aggregator processes may share the durable
consumer: JetStream hands each message to one of them at a time.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from faststream.asgi import AsgiFastStream, AsgiResponse, get, make_ping_asgi
from nats.aio.msg import Msg
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from pydantic import ValidationError

from dxmon.bus import AGGREGATOR_DURABLE, make_broker
from dxmon.catalog import Catalog
from dxmon.contracts import (
    REPORTS_STREAM,
    ReportReceived,
    ReportStored,
    deadletter_subject,
    stored_subject,
)
from dxmon.settings import AggregatorSettings
from dxmon.store.reports_repository import record_dead_letter, store_reports
from dxmon.validation import check_category
from services.aggregator.consumer import PullConsumer

log = logging.getLogger("dx.aggregator")

MAX_NAK_DELAY = 5.0  # short: an outage should end within seconds of the database returning


class Metrics:
    """Metrics: the aggregator's Prometheus series, built once and passed around."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.messages = Counter(
            "dx_aggregator_messages_total", "Messages handled by outcome", ["outcome"], registry=self.registry
        )
        self.stored = Counter("dx_aggregator_reports_stored_total", "Reports new to the database", registry=self.registry)
        self.batch_seconds = Histogram(
            "dx_aggregator_batch_seconds", "Time to store one batch", registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.batch_size = Histogram(
            "dx_aggregator_batch_messages", "Messages per fetched batch", registry=self.registry,
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000),
        )
        self.dead_letters = Counter(
            "dx_aggregator_dead_letters_total", "Reports dead-lettered by reason", ["reason"], registry=self.registry
        )
        self.db_up = Gauge("dx_aggregator_database_up", "1 when the last write reached the database", registry=self.registry)


@dataclass(frozen=True)
class Poison:
    """Poison is a message that can never be stored, and why."""

    msg: Msg
    reason: str
    detail: str


def is_transient(exc: BaseException) -> bool:
    """is_transient: the database (not the data) failed, so the same batch will succeed later."""
    if isinstance(exc, (OSError, TimeoutError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError)):
        return True
    # 08 connection exception, 53 insufficient resources, 57 operator intervention (e.g. shutdown);
    # 40001 serialization failure and 40P01 deadlock (concurrent aggregators): the same batch succeeds
    # when tried again, so they are nak'ed, never dead-lettered.
    if not isinstance(exc, asyncpg.PostgresError):
        return False
    sqlstate = exc.sqlstate or ""
    return sqlstate[:2] in {"08", "53", "57"} or sqlstate in {"40001", "40P01"}


def nak_delay(deliveries: int) -> float:
    return min(MAX_NAK_DELAY, 0.5 * 2 ** max(0, deliveries - 1))


def classify(msgs: list[Msg], catalog: Catalog) -> tuple[list[tuple[Msg, ReportReceived]], list[Poison]]:
    """classify decodes each message; those that fail decoding or name codes the catalog lacks are poison.

    Ingest already applied every catalog rule (as of ``received_at``), and NATS permissions let only
    ingest publish reports, so the full rule set is not re-run per message here (it costs a third of
    the aggregator's CPU). What can still go wrong — a rogue or garbled message, a catalog that lost
    a code since — is caught here; anything the database refuses is caught by the one-by-one retry.
    """
    good, poison = [], []
    units, indicators = catalog.units, catalog.indicators
    for m in msgs:
        try:
            event = ReportReceived.model_validate_json(m.data)
        except ValidationError as exc:
            poison.append(Poison(m, "undecodable", str(exc)[:1000]))
            continue
        if event.unit not in units:
            poison.append(Poison(m, "unknown-unit", f"unit {event.unit!r} is not in the catalog"))
        elif event.indicator not in indicators:
            poison.append(Poison(m, "unknown-indicator", f"indicator {event.indicator!r} is not in the catalog"))
        elif issues := check_category(event, indicators[event.indicator]):
            # The catalog's categories changed since ingest accepted it: the report has no period row to go to.
            poison.append(Poison(m, issues[0].reason, issues[0].message))
        else:
            good.append((m, event))
    return good, poison


@dataclass(frozen=True)
class Batch:
    """Batch is one fetch, decoded: what can be stored and what is poison."""

    msgs: list[Msg]
    good: list[tuple[Msg, ReportReceived]]
    poison: list[Poison]


class Writer:
    """Writer stores batches; it owns the database pool and the JetStream context."""

    def __init__(self, settings: AggregatorSettings, catalog: Catalog, metrics: Metrics) -> None:
        self.settings = settings
        self.catalog = catalog
        self.metrics = metrics
        self.pool: asyncpg.Pool | None = None
        self.nc: Any = None
        self.js: Any = None

    async def connect(self) -> None:
        # min_size=0: start even while the database is down; batches are nak'ed until it returns.
        self.pool = await asyncpg.create_pool(self.settings.database_url, min_size=0, max_size=4,
                                              max_inactive_connection_lifetime=60)

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()

    async def handle(self, msgs: list[Msg]) -> None:
        """handle stores one batch and settles every message in it (ack, or nak with delay)."""
        await self.settle(self.prepare(msgs))

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
                log.warning("database unavailable (%s); %d messages back in %.1fs", type(exc).__name__, len(msgs), delay)
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

    async def _write(self, good: list[tuple[Msg, ReportReceived]], poison: list[Poison]):
        """_write stores one batch in one transaction; returns the stored units and all poison, including
        reports whose agency reused an event id for different content."""
        assert self.pool is not None
        async with self.pool.acquire() as conn, conn.transaction():
            result = await store_reports(conn, [e for _, e in good], datetime.now(UTC), self.catalog,
                                         [m.metadata.sequence.stream for m, _ in good])
            poison = poison + [
                Poison(good[i][0], "event-id-reused",
                       f"agency {good[i][1].agency!r} already sent event {good[i][1].event_id} with different "
                       "content; a correction needs a new event_id")
                for i in result.reused
            ]
            for p in poison:
                await record_dead_letter(conn, p.msg.metadata.sequence.stream, p.msg.subject, p.reason,
                                         p.detail, p.msg.data.decode("utf-8", "replace").replace("\x00", "\\u0000"))
        return result.units, poison

    async def _write_one_by_one(self, good, poison):
        stored_all = []
        poison = list(poison)
        for m, event in good:
            try:
                stored, reused = await self._write([(m, event)], [])
                stored_all += stored
                poison += reused
            except Exception as exc:  # noqa: BLE001
                if is_transient(exc):
                    raise
                poison.append(Poison(m, "database-rejected", f"{type(exc).__name__}: {exc}"[:1000]))
        await self._write([], poison)
        return stored_all, poison

    async def _after_commit(self, stored, poison: list[Poison]) -> None:
        # Dead letters first and awaited: if this fails we have not acked, and redelivery repeats it
        # (the Nats-Msg-Id makes the dead-letter publish idempotent).
        for p in poison:
            seq = p.msg.metadata.sequence.stream
            await self.js.publish(
                deadletter_subject(p.reason.replace(".", "-")), p.msg.data,
                headers={"Nats-Msg-Id": f"dlq-{seq}", "Dx-Reason": p.reason, "Dx-Detail": p.detail[:500],
                         "Dx-Original-Subject": p.msg.subject, "Dx-Original-Seq": str(seq)},
            )
        now = datetime.now(UTC)
        for s in stored:
            notice = ReportStored(unit=s.unit, indicators=s.indicators, stored=s.stored, committed_at=now)
            await self.nc.publish(stored_subject(s.unit), notice.model_dump_json().encode())
        self.metrics.stored.inc(sum(s.stored for s in stored))


def create_app(settings: AggregatorSettings | None = None, catalog: Catalog | None = None) -> AsgiFastStream:
    """create_app wires the broker connection, the pull consumer loop and the health/metrics routes."""
    settings = settings or AggregatorSettings()
    catalog = catalog or Catalog.load()
    metrics = Metrics()
    writer = Writer(settings, catalog, metrics)
    broker = make_broker(settings, "dx-aggregator", log, graceful_timeout=30)

    consumer: dict[str, Any] = {}

    async def settle(batch: Batch) -> None:
        try:
            await writer.settle(batch)
        except Exception:  # noqa: BLE001 - unacked messages come back after the ack wait
            log.exception("batch of %d not settled; JetStream will redeliver it", len(batch.msgs))
            await asyncio.sleep(1)

    async def consume_forever() -> None:
        # Two stages: while batch N is in the database (one transaction at a time, so commits keep
        # their order and never wait on each other's locks), batch N+1 is fetched and decoded.
        pull: PullConsumer = consumer["pull"]
        settling: asyncio.Task | None = None
        try:
            while not consumer.get("stopping"):
                try:
                    msgs = await pull.fetch()
                except Exception as exc:  # noqa: BLE001 - e.g. NATS reconnecting: wait and fetch again
                    log.warning("fetch failed (%s); retrying", type(exc).__name__)
                    await asyncio.sleep(1)
                    continue
                if not msgs:
                    continue
                try:
                    batch = writer.prepare(msgs)
                except Exception:  # noqa: BLE001 - keep consuming; these come back after the ack wait
                    log.exception("batch of %d could not be decoded; JetStream will redeliver it", len(msgs))
                    continue
                if settling is not None:
                    await settling
                settling = asyncio.create_task(settle(batch))
        finally:
            if settling is not None:
                await settling

    @asynccontextmanager
    async def lifespan():
        await writer.connect()
        yield
        await writer.close()

    async def after_startup() -> None:
        writer.nc = broker.connection
        writer.js = broker.connection.jetstream(timeout=10)
        pull = PullConsumer(broker.connection, REPORTS_STREAM, AGGREGATOR_DURABLE,
                            settings.aggregator_batch_size, settings.aggregator_batch_timeout_seconds)
        await pull.start()
        consumer["pull"] = pull
        consumer["task"] = asyncio.create_task(consume_forever())
        log.info("aggregator consuming %s (batch ≤ %d, ≤ %.2fs)", REPORTS_STREAM,
                 settings.aggregator_batch_size, settings.aggregator_batch_timeout_seconds)

    async def on_shutdown() -> None:
        # Finish the batch in hand (commit, then ack), then hand back what was fetched but not
        # started: an immediate nak lets another aggregator take it without waiting for ack_wait.
        consumer["stopping"] = True
        task = consumer.get("task")
        if task is not None:
            try:
                await asyncio.wait_for(task, settings.aggregator_batch_timeout_seconds + 30)
            except TimeoutError:
                task.cancel()
        if "pull" in consumer:
            for m in await consumer["pull"].stop():
                await m.nak()

    @get
    async def readyz(scope: Any) -> AsgiResponse:
        connected = bool(broker.connection and broker.connection.is_connected)
        db_ok = False
        if writer.pool is not None:
            try:
                async with writer.pool.acquire(timeout=2) as conn:
                    db_ok = await conn.fetchval("SELECT to_regclass('reports') IS NOT NULL")
            except Exception:  # noqa: BLE001 - readiness only reports
                db_ok = False
        task = consumer.get("task")
        consuming = task is not None and not task.done()
        ok = connected and db_ok and consuming
        body = (f'{{"ready": {str(ok).lower()}, "nats": {str(connected).lower()}, '
                f'"database": {str(db_ok).lower()}, "consuming": {str(consuming).lower()}}}')
        return AsgiResponse(body.encode(), status_code=200 if ok else 503, headers={"content-type": "application/json"})

    @get
    async def metrics_route(scope: Any) -> AsgiResponse:
        return AsgiResponse(generate_latest(metrics.registry), headers={"content-type": CONTENT_TYPE_LATEST})

    @get
    async def healthz(scope: Any) -> AsgiResponse:
        return AsgiResponse(b'{"status": "ok"}', headers={"content-type": "application/json"})

    app = AsgiFastStream(
        broker,
        asgi_routes=[("/healthz", healthz), ("/readyz", readyz), ("/metrics", metrics_route),
                     ("/ping", make_ping_asgi(broker, timeout=5.0))],
        lifespan=lifespan,
        after_startup=[after_startup],
        on_shutdown=[on_shutdown],
    )
    app.writer = writer  # type: ignore[attr-defined]
    app.metrics = metrics  # type: ignore[attr-defined]
    return app

