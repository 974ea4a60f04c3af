"""The services' FastStream broker against a real NATS: no line per message at INFO."""

from __future__ import annotations

import asyncio
import logging

import pytest

from dxmon.bus import make_broker
from dxmon.settings import NatsSettings

pytestmark = pytest.mark.integration


async def test_a_line_per_message_is_debug_and_handler_errors_still_errors(nats_url: str, caplog):
    caplog.set_level(logging.DEBUG, logger="dx.test")
    broker = make_broker(NatsSettings(nats_url=nats_url), "dx-test", logging.getLogger("dx.test"))

    @broker.subscriber("dx.stored.v1.>")
    async def on_stored(body: str) -> None:
        if body == "boom":
            raise ValueError("boom")

    await broker.start()
    try:
        for body in ("ok", "ok", "boom"):
            await broker.publish(body, "dx.stored.v1.QN")
        await asyncio.sleep(0.5)
    finally:
        await broker.stop()
    by_level = {
        level: [r for r in caplog.records if r.levelno == level]
        for level in (logging.INFO, logging.DEBUG, logging.ERROR)
    }
    assert not by_level[logging.INFO], [r.getMessage() for r in by_level[logging.INFO]]
    assert any("Received" in r.getMessage() for r in by_level[logging.DEBUG]), [
        (r.levelname, r.getMessage()) for r in caplog.records
    ]
    assert any("boom" in r.getMessage() for r in by_level[logging.ERROR]), [
        (r.levelname, r.getMessage()) for r in caplog.records
    ]
