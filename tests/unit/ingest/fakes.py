"""Fakes for ingest's unit tests: only NATS is replaced, with the shapes nats-py and KeyRing have.

``FakeJetStream.publish_async`` behaves like nats-py's: it returns a future per message that resolves to
a ``PubAck``, with JetStream's deduplication by ``Nats-Msg-Id`` (a second message with the same id is
acked ``duplicate``). It can fail the way JetStream does: ``error`` is raised by publish_async itself,
``ack_error`` is set on the futures, ``hang`` leaves them unresolved (a PubAck that never comes).
``FakeKeyRing`` answers ``verify`` from a dict of tokens, like a loaded ``dxmon.keys.KeyRing``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import SimpleNamespace

from nats.js.api import PubAck

from dxmon.keys import ApiKey, Authenticated

TOKEN = "dxk_0123456789abcdef_" + "s" * 43


def authenticated(*units: str, agency: str = "Sở Thông tin và Truyền thông") -> Authenticated:
    key = ApiKey(
        key_id="0123456789abcdef",
        agency=agency,
        units=units,
        with_descendants=False,
        secret_sha256="0" * 64,
        created_at="2026-01-01T00:00:00+00:00",
    )
    return Authenticated(key, frozenset(units))


class FakeKeyRing:
    """FakeKeyRing is a key ring whose keys are ``callers`` by token; ``loaded`` unset until ``load``."""

    def __init__(self, callers: dict[str, Authenticated] | None = None, *, loaded: bool = True) -> None:
        self.callers = callers or {}
        self.loaded = asyncio.Event()
        self.skipped: dict[str, str] = {}
        if loaded:
            self.loaded.set()

    def verify(self, token: str) -> Authenticated | None:
        return self.callers.get(token)


@dataclass
class FakeJetStream:
    error: Exception | None = None
    ack_error: Exception | None = None
    hang: bool = False
    published: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)
    stored_ids: set[str] = field(default_factory=set)

    async def publish_async(self, subject: str, payload: bytes, headers: dict[str, str]) -> asyncio.Future:
        if self.error is not None:
            raise self.error
        future = asyncio.get_running_loop().create_future()
        if self.ack_error is not None:
            future.set_exception(self.ack_error)
        elif not self.hang:
            self.published.append((subject, payload, headers))
            msg_id = headers["Nats-Msg-Id"]
            duplicate = msg_id in self.stored_ids
            self.stored_ids.add(msg_id)
            future.set_result(PubAck(stream="DX_REPORTS", seq=len(self.published), duplicate=duplicate or None))
        return future


def connected_broker(connected: bool = True) -> SimpleNamespace:
    """connected_broker stands in for FastStream's NatsBroker where ingest reads ``connection.is_connected``."""
    return SimpleNamespace(connection=SimpleNamespace(is_connected=connected))
