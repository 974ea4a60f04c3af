"""Pipeline: the Stage protocol, its combinators and ``build_pipeline``, the one place stages are ordered.

    alerts routed to one recipient
        │
        ▼
    MuteStage(silences) ─▶ MuteStage(acks) ─▶ DedupStage ─▶ DeliverStage ─▶ RecordStage
     drop silenced        drop acked         keep the      render the       write the
                          firing alerts      digest if     digest into      notification
                                             anything      the outbox       log
                                             changed

A flush runs this chain once per recipient (``fanout``); recipients never wait for each other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from services.alerts.alert import Acknowledgement, Alert, Flush, Silence
from services.alerts.metrics import Metrics
from services.alerts.notify.dedup_stage import DedupStage, NotificationLog
from services.alerts.notify.deliver_stage import DeliverStage, OutboxWriter, Renderer
from services.alerts.notify.mute_stage import Acknowledger, MuteStage, Silencer, SuppressedReason
from services.alerts.notify.record_stage import RecordStage


class Stage(Protocol):
    """Stage takes the alerts of one flush and returns those that go on to the next stage.

    A stage may be called concurrently for different recipients, never twice for the same one.
    """

    async def exec(self, flush: Flush, alerts: Sequence[Alert]) -> Sequence[Alert]: ...


class MultiStage:
    """MultiStage runs its stages in order and stops as soon as no alert is left."""

    def __init__(self, *stages: Stage) -> None:
        self.stages = stages

    async def exec(self, flush: Flush, alerts: Sequence[Alert]) -> Sequence[Alert]:
        """exec implements the Stage protocol."""
        for stage in self.stages:
            if not alerts:
                break
            alerts = await stage.exec(flush, alerts)
        return alerts


async def fanout(stage: Stage, work: Sequence[tuple[Flush, Sequence[Alert]]]) -> list[tuple[Flush, BaseException]]:
    """fanout runs ``stage`` for every recipient concurrently and returns the failures, never raising.

    One recipient's failure leaves the others' results intact.
    """
    results = await asyncio.gather(*(stage.exec(f, a) for f, a in work), return_exceptions=True)
    return [(f, r) for (f, _), r in zip(work, results, strict=True) if isinstance(r, BaseException)]


def build_pipeline(
    *,
    silences: Sequence[Silence],
    acks: Sequence[Acknowledgement],
    nflog: NotificationLog,
    outbox: OutboxWriter,
    render: Renderer,
    metrics: Metrics,
) -> Stage:
    """build_pipeline puts the notification stages together, in the order they run."""
    return MultiStage(
        MuteStage(Silencer(silences), SuppressedReason.SILENCE, metrics),
        MuteStage(Acknowledger(acks), SuppressedReason.ACK, metrics),
        DedupStage(nflog),
        DeliverStage(outbox, render, metrics),
        RecordStage(nflog),
    )
