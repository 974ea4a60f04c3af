"""Evaluate: when progress is evaluated and who may do it — the leader lease and the scheduler.

    dx.stored.v1.<unit> ──request(units)──┐
                                          ▼
    ┌───────────── Scheduler (acts only while this instance holds the lease) ─────────────┐
    │ work loop:   full pass at leadership start and every full_interval                  │
    │              incremental pass for requested units (debounced)                        │
    │              ─▶ evaluate() + sync_alerts() in one transaction ─▶ EventEmitter        │
    │              flush every flush_interval ─▶ Dispatcher ─▶ outbox rows                 │
    │              Alertmanager re-send every resend interval (when configured)            │
    │ outbox loop: OutboxWorker.deliver_due, woken after each flush                        │
    │ lease loop:  create-if-absent / CAS-renew the key in dx_leases (bucket TTL 10 s)     │
    └──────────────────────────────────────────────────────────────────────────────────────┘

Only one instance acts at a time. A holder that dies stops renewing; its key expires with the
bucket TTL and another instance's ``create`` succeeds on its next renewal tick, so takeover
takes at most TTL + renew period (about 13 s with the defaults). The overlap window: a holder that
stalls for longer than the TTL (paused VM, lost NATS link) may finish its current step after a
successor started; outbox rows it sends then may be sent twice, once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import nats.errors
import nats.js.errors
from nats.js.kv import KeyValue

from dxmon.catalog import Catalog
from services.alerts import repository as repo
from services.alerts.alertmanager import RESOLVED_RESEND, AlertmanagerForwarder
from services.alerts.dispatch import Dispatcher
from services.alerts.emit import EventEmitter
from services.alerts.metrics import Metrics
from services.alerts.outbox import OutboxWorker

log = logging.getLogger("dx.alerts.evaluate")

LEASE_KEY = "alerts.leader"
EvaluateFn = Callable[..., Awaitable[Any]]


def default_instance() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class Lease:
    """Lease is leadership among alerts instances: one key in the ``dx_leases`` KV bucket.

    ``keep`` creates the key when absent or renews it by compare-and-set on our last revision; any
    other outcome (someone else holds it, NATS unreachable) means we do not hold it. Not safe for
    concurrent use: one task calls ``keep`` periodically.
    """

    def __init__(self, kv: KeyValue, holder: str, key: str = LEASE_KEY) -> None:
        self.kv = kv
        self.holder = holder
        self.key = key
        self.revision: int | None = None

    @property
    def held(self) -> bool:
        return self.revision is not None

    async def keep(self) -> bool:
        """keep acquires or renews the lease and says whether we hold it now."""
        was_held = self.held
        try:
            if self.revision is None:
                self.revision = await self.kv.create(self.key, self.holder.encode())
            else:
                self.revision = await self.kv.update(self.key, self.holder.encode(), last=self.revision)
        except nats.js.errors.KeyWrongLastSequenceError:
            self.revision = None  # another instance holds it (or took over after our renewal lapsed)
        except (nats.errors.Error, TimeoutError, OSError) as exc:
            # Step down: without renewals the key expires and another instance may take over.
            if was_held:
                log.warning("lease renewal failed (%s); stepping down", type(exc).__name__)
            self.revision = None
        if self.held != was_held:
            log.info("%s %s the alerts lease", self.holder, "acquired" if self.held else "lost")
        return self.held

    async def release(self) -> None:
        """release deletes the key (only if still ours) so a successor need not wait for the TTL."""
        if self.revision is None:
            return
        try:
            await self.kv.delete(self.key, last=self.revision)
            log.info("%s released the alerts lease", self.holder)
        except Exception as exc:  # noqa: BLE001 - the TTL frees it anyway
            log.warning("lease release failed (%s); it expires by itself", exc)
        self.revision = None


class Evaluator:
    """Evaluator runs one evaluation pass and turns its statuses into alert state changes."""

    def __init__(self, pool: asyncpg.Pool, catalog: Catalog, metrics: Metrics, evaluate: EvaluateFn | None = None) -> None:
        if evaluate is None:
            from dxmon.store.progress_repository import evaluate
        self.pool = pool
        self.catalog = catalog
        self.metrics = metrics
        self.evaluate = evaluate

    async def run_pass(self, now: datetime, units: Iterable[str] | None = None) -> list[repo.AlertChange]:
        """run_pass evaluates progress as of ``now`` (all units, or just ``units``) and syncs alerts.

        Both happen in one transaction: alerts never reflect a half-written evaluation.
        """
        unit_list = sorted(set(units)) if units is not None else None
        kind = "full" if unit_list is None else "incremental"
        started = time.monotonic()
        async with self.pool.acquire() as conn, conn.transaction():
            await self.evaluate(conn, self.catalog, now, units=unit_list)
            changes = await repo.sync_alerts(conn, now, unit_list)
            firing = await repo.count_firing(conn)
        self.metrics.evaluations.labels(kind).inc()
        self.metrics.evaluation_seconds.labels(kind).observe(time.monotonic() - started)
        self.metrics.firing.set(firing)
        for c in changes:
            self.metrics.changes.labels(c.state.value).inc()
        if changes:
            log.info("%s evaluation: %d alert changes, %d firing", kind, len(changes), firing)
        return changes


@dataclass(frozen=True)
class Schedule:
    """Schedule: the periods of the scheduler's loops, in seconds."""

    full_interval: float
    flush_interval: float
    debounce: float
    lease_renew: float
    outbox_poll: float
    alertmanager_resend: float


@dataclass
class Due:
    """Due: when (monotonic seconds) each periodic action of the work loop is next due; 0 = now."""

    full: float = 0.0
    flush: float = 0.0
    forward: float = 0.0


class Scheduler:
    """Scheduler runs the leader's work in three loops; every instance runs it, only the holder acts.

    ``now`` comes from the injected clock, read once per step and passed down; the loops' periods
    use the monotonic clock so a test clock that jumps does not stall or rush them.
    """

    def __init__(
        self, lease: Lease, evaluator: Evaluator, dispatcher: Dispatcher, outbox: OutboxWorker,
        emitter: EventEmitter, metrics: Metrics, clock: Callable[[], datetime], schedule: Schedule,
        forwarder: AlertmanagerForwarder | None = None,
    ) -> None:
        self.lease = lease
        self.evaluator = evaluator
        self.dispatcher = dispatcher
        self.outbox = outbox
        self.emitter = emitter
        self.metrics = metrics
        self.clock = clock
        self.schedule = schedule
        self.forwarder = forwarder
        self.requested: set[str] = set()
        self.stopping = False
        self.passes = 0  # completed evaluation passes (readiness, tests)
        self._work_wake = asyncio.Event()
        self._outbox_wake = asyncio.Event()
        self._lease_wake = asyncio.Event()

    def request(self, units: Iterable[str]) -> None:
        """request asks for an incremental evaluation of ``units`` (called by the dx.stored subscriber)."""
        self.requested.update(units)
        self._work_wake.set()

    def stop(self) -> None:
        """stop asks every loop to finish its current step and return."""
        self.stopping = True
        for e in (self._work_wake, self._outbox_wake, self._lease_wake):
            e.set()

    async def run(self) -> None:
        """run returns after ``stop``, releasing the lease; cancelled (a crash), it keeps the lease to expire."""
        await asyncio.gather(self._lease_loop(), self._work_loop(), self._outbox_loop())
        await self.lease.release()
        self.metrics.leader.set(0)

    async def _sleep(self, wake: asyncio.Event, seconds: float) -> None:
        try:
            await asyncio.wait_for(wake.wait(), max(0.0, seconds))
        except TimeoutError:
            pass
        wake.clear()

    async def _lease_loop(self) -> None:
        while not self.stopping:
            was = self.lease.held
            held = await self.lease.keep()
            self.metrics.leader.set(1 if held else 0)
            if held != was:
                self._work_wake.set()
                self._outbox_wake.set()
            await self._sleep(self._lease_wake, self.schedule.lease_renew)

    async def _work_loop(self) -> None:
        s = self.schedule
        due = Due()
        leading = False
        while not self.stopping:
            if not self.lease.held:
                leading = False
                await self._sleep(self._work_wake, s.lease_renew)
                continue
            if not leading:  # a new leader starts with a full pass: it may have missed notices
                leading, due = True, Due()
            try:
                await self._step(due)
            except Exception as exc:  # noqa: BLE001 - keep running; the database or NATS may be back soon
                log.error("alerts step failed (%s: %s); retrying", type(exc).__name__, exc)
                await self._sleep(self._work_wake, min(5.0, s.flush_interval))
                continue
            deadline = min(due.full, due.flush, due.forward if self.forwarder else due.full)
            await self._sleep(self._work_wake, deadline - time.monotonic())
            if self.requested and not self.stopping:
                await asyncio.sleep(s.debounce)  # let notices of one burst arrive, then evaluate them together

    async def _step(self, due: Due) -> None:
        """_step runs what is due, each action checked just before it would run.

        An action that fell due while an earlier one ran (a slow full pass) runs in this same step,
        never pushed a period away; its next time counts from when it started, so periods hold.
        """
        s = self.schedule
        started = time.monotonic()
        if started >= due.full:
            self.requested.clear()  # a full pass covers every requested unit
            await self.evaluator.run_pass(self.clock())
            due.full = started + s.full_interval  # only once done: a failed pass is retried
            self.passes += 1
        elif self.requested:
            units, self.requested = self.requested, set()
            await self.evaluator.run_pass(self.clock(), units)
            self.passes += 1
        await self.emitter.emit_pending()
        started = time.monotonic()
        if started >= due.flush:
            if await self.dispatcher.flush(self.clock()):
                self._outbox_wake.set()
            due.flush = started + s.flush_interval
        started = time.monotonic()
        if self.forwarder is not None and started >= due.forward:
            now = self.clock()
            async with self.dispatcher.pool.acquire() as conn:
                alerts = await repo.forward_alerts(conn, now - RESOLVED_RESEND)
                silences, acks = await repo.active_silences(conn, now), await repo.active_acks(conn, now)
            await self.forwarder.forward(alerts, now, silences, acks)
            due.forward = started + s.alertmanager_resend

    async def _outbox_loop(self) -> None:
        while not self.stopping:
            next_due = None
            if self.lease.held:
                try:
                    next_due = await self.outbox.deliver_due()
                except Exception as exc:  # noqa: BLE001
                    log.error("outbox pass failed (%s: %s); retrying", type(exc).__name__, exc)
            wait = self.schedule.outbox_poll
            if next_due is not None:
                wait = min(wait, max(0.05, (next_due - self.clock()).total_seconds()))
            await self._sleep(self._outbox_wake, wait)


def parents(catalog: Catalog) -> Mapping[str, str | None]:
    """parents maps each unit code to its parent's (the tree routing walks up)."""
    return {code: u.parent for code, u in catalog.units.items()}


def seconds(x: float) -> timedelta:
    return timedelta(seconds=x)
