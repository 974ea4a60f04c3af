"""DeliverStage renders a recipient's digest and puts it in the outbox.

The outbox (``services.alerts.outbox``) does the sending, with retries and backoff, after the
flush has committed; this stage only decides what is sent to whom.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from services.alerts.alert import Alert, Flush
from services.alerts.messages import Message, group_reason
from services.alerts.metrics import Metrics

Renderer = Callable[[Flush, Sequence[Alert]], Message]


class OutboxWriter(Protocol):
    """OutboxWriter accepts digests to deliver; they are stored atomically with the notification log."""

    async def enqueue(self, flush: Flush, message: Message) -> None: ...


class DeliverStage:
    """DeliverStage enqueues one digest per recipient and passes every alert on."""

    def __init__(self, outbox: OutboxWriter, render: Renderer, metrics: Metrics) -> None:
        self.outbox = outbox
        self.render = render
        self.metrics = metrics

    async def exec(self, flush: Flush, alerts: Sequence[Alert]) -> Sequence[Alert]:
        """exec implements the Stage protocol."""
        await self.outbox.enqueue(flush, self.render(flush, alerts))
        self.metrics.digests.labels(group_reason(alerts).value).inc()
        return alerts
