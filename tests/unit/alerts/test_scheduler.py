"""The scheduler keeps time: a periodic action that falls due during a slow step runs as soon as the
step ends, never a whole period later, and periods count from when an action started."""

from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from itertools import pairwise

from services.alerts.metrics import Metrics
from services.alerts.scheduler import Schedule, Scheduler

SLOW_PASS = 0.6  # a full pass much longer than the flush and re-send periods
FLUSH, RESEND, FULL = 0.25, 0.2, 1.0


class HeldLease:
    held = True

    async def keep(self) -> bool:
        return True

    async def release(self) -> None:
        pass


class SlowEvaluator:
    def __init__(self) -> None:
        self.full_passes: list[float] = []

    async def run_pass(self, now: datetime, units=None) -> list:
        if units is None:
            self.full_passes.append(time.monotonic())
            await asyncio.sleep(SLOW_PASS)
        return []


class NoRows:
    async def fetch(self, *args) -> list:
        return []


class Pool:
    @asynccontextmanager
    async def acquire(self):
        yield NoRows()


class Dispatcher:
    def __init__(self) -> None:
        self.pool = Pool()
        self.flushes: list[float] = []

    async def flush(self, now: datetime) -> int:
        self.flushes.append(time.monotonic())
        return 0


class Forwarder:
    def __init__(self) -> None:
        self.posts: list[float] = []

    async def forward(self, alerts, now, silences=(), acks=()) -> bool:
        self.posts.append(time.monotonic())
        return True


class Quiet:
    async def emit_pending(self) -> int:
        return 0

    async def deliver_due(self) -> None:
        return None


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in pairwise(times)]


async def test_a_slow_step_delays_periodic_actions_but_never_skips_them() -> None:
    evaluator, dispatcher, forwarder = SlowEvaluator(), Dispatcher(), Forwarder()
    schedule = Schedule(
        full_interval=FULL,
        flush_interval=FLUSH,
        debounce=0,
        lease_renew=0.05,
        outbox_poll=0.05,
        alertmanager_resend=RESEND,
    )
    # The fakes stand in for the lease, evaluator, dispatcher, outbox, emitter and forwarder: the scheduler
    # only calls the methods they define.
    scheduler = Scheduler(
        HeldLease(),  # type: ignore[arg-type]  # a fake lease that is always held
        evaluator,  # type: ignore[arg-type]  # a fake evaluator whose full pass is slow
        dispatcher,  # type: ignore[arg-type]  # a fake dispatcher that records its flushes
        Quiet(),  # type: ignore[arg-type]  # a fake outbox with nothing to deliver
        Quiet(),  # type: ignore[arg-type]  # a fake emitter with nothing pending
        Metrics(),
        lambda: datetime.now(UTC),
        schedule,
        forwarder=forwarder,  # type: ignore[arg-type]  # a fake forwarder that records its posts
    )
    run = asyncio.create_task(scheduler.run())
    await asyncio.sleep(4.2)
    scheduler.stop()
    await run

    slack = 0.12  # event-loop and machine noise
    # What fell due during a slow pass runs when it ends: at most one period plus the pass apart.
    assert max(gaps(dispatcher.flushes)) <= FLUSH + SLOW_PASS + slack, gaps(dispatcher.flushes)
    assert max(gaps(forwarder.posts)) <= RESEND + SLOW_PASS + slack, gaps(forwarder.posts)
    # Periods count from when an action started, not from when the step around it ended.
    assert max(gaps(evaluator.full_passes)) <= FULL + slack, gaps(evaluator.full_passes)
    assert len(evaluator.full_passes) >= 4
    # Between slow passes, actions keep their own period.
    assert min(gaps(forwarder.posts)) >= RESEND - 0.02
    assert len(forwarder.posts) >= int(4.2 / (RESEND + SLOW_PASS / 2))
