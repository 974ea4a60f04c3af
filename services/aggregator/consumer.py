"""PullConsumer: fetches batches from the aggregator's durable JetStream consumer, losing nothing.

Why not FastStream's ``PullSub(batch=True)`` or nats-py's ``fetch()``: both wait for each message
with ``asyncio.wait_for`` on a queue, and on Python 3.11 a timeout that fires just as a message
arrives drops that message inside the client (CPython gh-86296, fixed in 3.12). JetStream then
redelivers it only after the ack wait. Measured here at 2,000 reports/s: 500 of 30,000 reports
waited 30 s. This consumer lets nats-py hand every delivered message to a callback that appends it
to a buffer; nothing is ever taken from a queue under a timeout, so a message that arrives "late"
is simply part of the next batch.

Guarantees: ``fetch`` returns each delivered message exactly once, in arrival order, at most
``batch_size`` at a time; it waits at most about ``max_wait`` for a batch to fill. Only one task
may call ``fetch`` at a time.
"""

from __future__ import annotations

import asyncio
import json

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext

# Statuses that end a pull request: no messages (404), request expired (408), conflict (409).
_END_OF_REQUEST = {"404", "408", "409"}


class PullConsumer:
    """PullConsumer issues one pull request at a time and buffers what the server delivers."""

    def __init__(self, nc: Client, stream: str, durable: str, batch_size: int, max_wait: float) -> None:
        self.nc = nc
        self.batch_size = batch_size
        self.max_wait = max_wait
        self._next_subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self._buffer: list[Msg] = []
        self._changed = asyncio.Event()
        self._request_over = True
        self._outstanding = 0
        self._sub: Subscription | None = None
        self._inbox = ""

    async def start(self) -> None:
        self._inbox = self.nc.new_inbox()
        self._sub = await self.nc.subscribe(self._inbox, cb=self._on_message)

    async def stop(self) -> list[Msg]:
        """stop unsubscribes and returns the messages delivered but never fetched (to be nak'ed).

        It first lets the outstanding pull request end: messages the server sends for it after an
        unsubscribe would stay unacknowledged until the ack wait, delaying them for everyone.
        """
        deadline = asyncio.get_running_loop().time() + self.max_wait + 1.0
        while not self._request_over and (remaining := deadline - asyncio.get_running_loop().time()) > 0:
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                break
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None
        left, self._buffer = self._buffer, []
        return left

    async def _on_message(self, msg: Msg) -> None:
        status = JetStreamContext.is_status_msg(msg)
        if status:
            if status in _END_OF_REQUEST:
                self._request_over = True
                self._changed.set()
            return  # 100 = heartbeat
        self._buffer.append(msg)
        self._outstanding -= 1
        if self._outstanding <= 0:
            self._request_over = True  # the server sends no status for a fulfilled request
        if len(self._buffer) >= self.batch_size or self._request_over:
            self._changed.set()

    async def fetch(self) -> list[Msg]:
        """fetch returns up to ``batch_size`` messages: a full batch at once, else what came within max_wait."""
        if len(self._buffer) < self.batch_size:
            self._request_over = False
            self._changed.clear()
            self._outstanding = self.batch_size - len(self._buffer)
            request = {"batch": self._outstanding, "expires": int(self.max_wait * 1e9)}
            await self.nc.publish(self._next_subject, json.dumps(request).encode(), reply=self._inbox)
            deadline = asyncio.get_running_loop().time() + self.max_wait + 2.0  # grace for a lost request
            while len(self._buffer) < self.batch_size and not self._request_over:
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    break
                self._changed.clear()
                try:
                    # Waiting on an Event consumes nothing, so a timeout here cannot lose a message.
                    await asyncio.wait_for(self._changed.wait(), remaining)
                except TimeoutError:
                    break
        batch, self._buffer = self._buffer[: self.batch_size], self._buffer[self.batch_size :]
        return batch
