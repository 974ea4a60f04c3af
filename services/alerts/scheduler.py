"""Scheduler: when progress is evaluated and who may do it — the leader's loops, and ``build_scheduler``
which composes the engine from the settings.

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
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from dxmon.catalog import Catalog
from services.alerts import repository as repo
from services.alerts.alertmanager import RESOLVED_RESEND, AlertmanagerForwarder
from services.alerts.dispatch import Dispatcher
from services.alerts.emit import EventEmitter, GrafanaAnnotator, Publish
from services.alerts.evaluate import EvaluateFn, Evaluator, parents, seconds
from services.alerts.lease import Lease
from services.alerts.metrics import Metrics
from services.alerts.outbox import Backoff, OutboxWorker
from services.alerts.settings import AlertsSettings

log = logging.getLogger("dx.alerts.evaluate")


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
        self,
        lease: Lease,
        evaluator: Evaluator,
        dispatcher: Dispatcher,
        outbox: OutboxWorker,
        emitter: EventEmitter,
        metrics: Metrics,
        clock: Callable[[], datetime],
        schedule: Schedule,
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
                except Exception as exc:  # noqa: BLE001 - keep delivering; a failed pass is retried on the next poll
                    log.error("outbox pass failed (%s: %s); retrying", type(exc).__name__, exc)
            wait = self.schedule.outbox_poll
            if next_due is not None:
                wait = min(wait, max(0.05, (next_due - self.clock()).total_seconds()))
            await self._sleep(self._outbox_wake, wait)


def build_scheduler(
    settings: AlertsSettings,
    *,
    catalog: Catalog,
    pool: asyncpg.Pool,
    kv: Any,
    publish: Publish,
    metrics: Metrics,
    clock: Callable[[], datetime],
    instance: str,
    evaluate: EvaluateFn | None = None,
) -> Scheduler:
    """build_scheduler composes the engine (lease, evaluation, dispatch, outbox, outputs) from settings."""
    s = settings
    grafana = None
    if s.grafana_token:
        grafana = GrafanaAnnotator(s.grafana_url, s.grafana_token.get_secret_value())
    forwarder = None
    if s.alertmanager_url:
        forwarder = AlertmanagerForwarder(
            s.alertmanager_url,
            metrics,
            resend=seconds(s.alertmanager_resend_seconds),
            public_url=s.public_dashboard_url,
        )
    return Scheduler(
        lease=Lease(kv, instance),
        evaluator=Evaluator(pool, catalog, metrics, evaluate),
        dispatcher=Dispatcher(
            pool,
            parents(catalog),
            metrics,
            repeat_interval=seconds(s.alerts_repeat_interval_seconds),
            escalate_after=seconds(s.alerts_escalate_after_seconds),
            public_url=s.public_dashboard_url,
        ),
        outbox=OutboxWorker(
            pool,
            metrics,
            clock,
            backoff=Backoff(s.alerts_retry_initial_seconds, s.alerts_retry_max_seconds),
            max_attempts=s.alerts_max_attempts,
            send_timeout=s.alerts_send_timeout_seconds,
        ),
        emitter=EventEmitter(pool, publish, metrics, clock, grafana),
        metrics=metrics,
        clock=clock,
        schedule=Schedule(
            full_interval=s.alerts_full_interval_seconds,
            flush_interval=s.alerts_flush_interval_seconds,
            debounce=s.alerts_incremental_debounce_seconds,
            lease_renew=s.alerts_lease_renew_seconds,
            outbox_poll=s.alerts_outbox_poll_seconds,
            alertmanager_resend=s.alertmanager_resend_seconds,
        ),
        forwarder=forwarder,
    )
