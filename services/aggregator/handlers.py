"""Handlers: the aggregator's one subscriber — a two-stage loop over the durable pull consumer.

While batch N is in the database (one transaction at a time, so commits keep their order and never
wait on each other's locks), batch N+1 is fetched and decoded. Why a pull loop of our own rather
than a FastStream subscriber: ``consumer.py``'s docstring.
"""

from __future__ import annotations

import asyncio
import logging

from nats.aio.client import Client

from dxmon.bus import AGGREGATOR_DURABLE
from dxmon.contracts import REPORTS_STREAM
from services.aggregator.batch import Batch
from services.aggregator.consumer import PullConsumer
from services.aggregator.settings import AggregatorSettings
from services.aggregator.writer import Writer

log = logging.getLogger("dx.aggregator")


class BatchLoop:
    """BatchLoop fetches, decodes and settles batches from ``start`` until ``stop``."""

    def __init__(self, settings: AggregatorSettings, writer: Writer) -> None:
        self.settings = settings
        self.writer = writer
        self.pull: PullConsumer | None = None
        self.task: asyncio.Task[None] | None = None
        self.stopping = False

    @property
    def consuming(self) -> bool:
        return self.task is not None and not self.task.done()

    async def start(self, nc: Client) -> None:
        s = self.settings
        self.pull = PullConsumer(
            nc, REPORTS_STREAM, AGGREGATOR_DURABLE, s.aggregator_batch_size, s.aggregator_batch_timeout_seconds
        )
        await self.pull.start()
        self.task = asyncio.create_task(self._run(self.pull))
        log.info(
            "aggregator consuming %s (batch ≤ %d, ≤ %.2fs)",
            REPORTS_STREAM,
            s.aggregator_batch_size,
            s.aggregator_batch_timeout_seconds,
        )

    async def stop(self) -> None:
        """stop finishes the batch in hand (commit, then ack), then hands back what was fetched but not
        started: an immediate nak lets another aggregator take it without waiting for the ack wait."""
        self.stopping = True
        if self.task is not None:
            try:
                await asyncio.wait_for(self.task, self.settings.aggregator_batch_timeout_seconds + 30)
            except TimeoutError:
                self.task.cancel()
        if self.pull is not None:
            for m in await self.pull.stop():
                await m.nak()

    async def _run(self, pull: PullConsumer) -> None:
        settling: asyncio.Task[None] | None = None
        try:
            while not self.stopping:
                try:
                    msgs = await pull.fetch()
                except Exception as exc:  # noqa: BLE001 - e.g. NATS reconnecting: wait and fetch again
                    log.warning("fetch failed (%s); retrying", type(exc).__name__)
                    await asyncio.sleep(1)
                    continue
                if not msgs:
                    continue
                try:
                    batch = self.writer.prepare(msgs)
                except Exception:  # keep consuming; these come back after the ack wait
                    log.exception("batch of %d could not be decoded; JetStream will redeliver it", len(msgs))
                    continue
                if settling is not None:
                    await settling
                settling = asyncio.create_task(self._settle(batch))
        finally:
            if settling is not None:
                await settling

    async def _settle(self, batch: Batch) -> None:
        try:
            await self.writer.settle(batch)
        except Exception:  # unacked messages come back after the ack wait
            log.exception("batch of %d not settled; JetStream will redeliver it", len(batch.msgs))
            await asyncio.sleep(1)
