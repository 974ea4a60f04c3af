"""Outbox: delivers queued digests with retries and exponential backoff, one task per channel.

    outbox (pending, oldest first per channel)
        │ group by channel
        ├──▶ channel A: send ─▶ record attempt ─▶ next digest of A …
        ├──▶ channel B: send ✗ 500 ─▶ record attempt, retry after backoff (A and C carry on)
        └──▶ channel C: …

Within a channel digests go out in the order they were queued (a resolution never overtakes the
alert it resolves); channels never wait for each other. Retryable failures (timeouts, connection
errors, 5xx) back off exponentially up to ``max_attempts``; final ones (other 4xx, an unusable URL)
stop at once. Every attempt is recorded in ``delivery_attempts``.

The one duplicate window: a digest is marked delivered *after* the channel accepted it. If the
process dies between the two, the digest is still pending on restart and is sent once more. That
is at most one duplicate per digest, and only on a crash at that exact moment.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby

import asyncpg

from services.alerts import repository as repo
from services.alerts.channels import DeliveryError, Notifier, notifier_for, redact
from services.alerts.metrics import Metrics

log = logging.getLogger("dx.alerts.outbox")


@dataclass(frozen=True)
class Backoff:
    """Backoff: the delay before attempt n+1 is ``initial * factor**(n-1)``, at most ``maximum``."""

    initial: float
    maximum: float
    factor: float = 2.0

    def delay(self, attempts: int) -> timedelta:
        # The exponent is capped: DX_ALERTS_MAX_ATTEMPTS has no upper bound, and 2.0 ** 1024 overflows.
        return timedelta(seconds=min(self.maximum, self.initial * self.factor ** min(max(0, attempts - 1), 64)))


@dataclass(frozen=True)
class Outcome:
    """Outcome of one delivery attempt."""

    status: str  # delivered, retry, failed
    error: str | None = None
    next_attempt_at: datetime | None = None


class OutboxWorker:
    """OutboxWorker sends what is due; only the lease holder runs it, never twice at once."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        metrics: Metrics,
        clock: Callable[[], datetime],
        *,
        backoff: Backoff,
        max_attempts: int,
        send_timeout: float,
        notifiers: Callable[[str, float], Notifier] = notifier_for,
    ) -> None:
        self.pool = pool
        self.metrics = metrics
        self.clock = clock
        self.backoff = backoff
        self.max_attempts = max_attempts
        self.send_timeout = send_timeout
        self.notifiers = notifiers
        self._last_error: dict[int, str] = {}

    async def deliver_due(self) -> datetime | None:
        """deliver_due sends every digest that is due and returns when the next one falls due (or None)."""
        async with self.pool.acquire() as conn:
            pending = await repo.pending_outbox(conn)
        by_channel = [list(g) for _, g in groupby(pending, key=lambda p: p.channel.id)]
        heads = await asyncio.gather(*(self._deliver_channel(items) for items in by_channel), return_exceptions=True)
        next_due = None
        for head in heads:
            if isinstance(head, BaseException):
                log.error("outbox channel task failed: %s", head, exc_info=head)
            elif head is not None and (next_due is None or head < next_due):
                next_due = head
        async with self.pool.acquire() as conn:
            self.metrics.outbox_pending.set(await repo.count_pending(conn))
        return next_due

    async def _deliver_channel(self, items: list[repo.Pending]) -> datetime | None:
        """_deliver_channel sends one channel's digests in order; returns when its next one is due."""
        for p in items:
            if p.next_attempt_at > self.clock():
                return p.next_attempt_at
            outcome = await self._attempt(p)
            if outcome.status == "retry":
                return outcome.next_attempt_at
        return None

    async def _attempt(self, p: repo.Pending) -> Outcome:
        attempt = p.attempts + 1
        started = time.monotonic()
        try:
            notifier = self.notifiers(p.channel.url, self.send_timeout)
            # The channel has its own timeout; this one guards against a channel that ignores it.
            await asyncio.wait_for(notifier.notify(p.message), self.send_timeout + 5)
            outcome = Outcome("delivered")
        except ValueError as exc:  # the URL itself is unusable: no attempt can succeed
            outcome = self._failure(str(exc), retryable=False, attempt=attempt)
        except DeliveryError as exc:
            outcome = self._failure(str(exc), retryable=exc.retryable, attempt=attempt)
        except TimeoutError:
            outcome = self._failure(f"no answer within {self.send_timeout:.0f}s", retryable=True, attempt=attempt)
        except Exception as exc:  # noqa: BLE001 - an unexpected library error; retried, and logged below
            outcome = self._failure(f"{type(exc).__name__}: {exc}", retryable=True, attempt=attempt)
        duration_ms = (time.monotonic() - started) * 1000
        async with self.pool.acquire() as conn:
            await repo.record_attempt(
                conn, p.id, attempt, self.clock(), outcome.status, outcome.error, duration_ms, outcome.next_attempt_at
            )
        self.metrics.notifications.labels(outcome.status).inc()
        self._log(p, attempt, outcome)
        return outcome

    def _failure(self, error: str, *, retryable: bool, attempt: int) -> Outcome:
        if retryable and attempt < self.max_attempts:
            return Outcome("retry", error, self.clock() + self.backoff.delay(attempt))
        return Outcome("failed", error)

    def _log(self, p: repo.Pending, attempt: int, outcome: Outcome) -> None:
        where = redact(p.channel.url)
        if outcome.status == "delivered":
            if self._last_error.pop(p.channel.id, None) is not None:
                log.info("channel %s recovered", where)
            log.info("digest %d delivered to %s (attempt %d)", p.id, where, attempt)
            return
        # Log a failing channel only when its error changes, not on every retry.
        if outcome.status == "failed" or self._last_error.get(p.channel.id) != outcome.error:
            log.warning("digest %d to %s: %s (attempt %d, %s)", p.id, where, outcome.error, attempt, outcome.status)
        self._last_error[p.channel.id] = outcome.error or ""
