"""Tests for services.ingest.publish: the Bus publishes through dxmon.intake, counts what it stored, and
says in /readyz why it is not ready. NATS is replaced by fakes with nats-py's and FastStream's shapes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from types import SimpleNamespace

import nats.errors
import nats.js.errors
import pytest

from dxmon.catalog import Catalog
from dxmon.contracts import ReportIn
from dxmon.intake import encode_events
from dxmon.keys import KeyRing
from dxmon.problems import Problem, Text
from services.ingest.metrics import Metrics
from services.ingest.publish import Bus
from tests.unit.ingest.fakes import FakeJetStream, FakeKeyRing, authenticated, connected_broker

CALLER = authenticated("QN-P-HONGGAI")


def events(n: int):
    reports = [
        ReportIn(
            event_id=f"0b4c2b1e-5a3a-4f57-9a51-{i:012d}",
            unit="QN-P-HONGGAI",
            indicator="DG-04",
            observed_at="2025-09-30",
            numerator=i,
            denominator=100,
        )
        for i in range(n)
    ]
    return encode_events(reports, datetime(2025, 10, 1, tzinfo=UTC), CALLER)


def bus(broker=None, js=None, *, loaded: bool = True) -> Bus:
    return Bus(
        broker or connected_broker(),  # type: ignore[arg-type]  # a fake with FastStream's broker shape
        FakeKeyRing(loaded=loaded),  # type: ignore[arg-type]  # a fake with KeyRing's shape
        Metrics(),
        0.05,
        js=js,
    )


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


async def test_publish_stores_each_event_and_counts_accepted_and_duplicates() -> None:
    b = bus(js=FakeJetStream())
    assert await b.publish(events(3)) == [False, False, False]
    assert await b.publish(events(2)) == [True, True]  # resent: JetStream knows their ids
    m = b.metrics
    assert sample(m, "dx_ingest_reports_total", outcome="accepted") == 3
    assert sample(m, "dx_ingest_reports_total", outcome="duplicate") == 2
    assert sample(m, "dx_ingest_publish_seconds_count") == 2


@pytest.mark.parametrize(
    "b",
    [
        bus(connected_broker(False), FakeJetStream()),  # the connection dropped: no publish is attempted
        bus(js=None),  # never connected
    ],
    ids=["disconnected", "no-jetstream-yet"],
)
async def test_without_a_connection_nothing_is_published(b: Bus) -> None:
    with pytest.raises(Problem) as caught:
        await b.publish(events(1))
    assert (caught.value.status, caught.value.reason) == (503, "bus-unavailable")
    assert isinstance(caught.value.detail, Text) and "not connected" in caught.value.detail.en
    assert b.js is None or b.js.published == []


async def test_a_refused_publish_counts_nothing_as_stored() -> None:
    b = bus(js=FakeJetStream(ack_error=nats.js.errors.APIError(description="maximum bytes exceeded")))
    with pytest.raises(Problem):
        await b.publish(events(2))
    assert sample(b.metrics, "dx_ingest_reports_total", outcome="accepted") == 0
    assert sample(b.metrics, "dx_ingest_publish_seconds_count") == 0


def test_readiness_needs_the_connection_and_the_keys() -> None:
    assert bus().readiness().to_json() == {"ready": True, "detail": "ready"}
    not_loaded = bus(loaded=False)
    not_loaded.status = "loading keys"
    assert not_loaded.readiness().to_json() == {"ready": False, "detail": "loading keys"}
    lost = bus(connected_broker(False))
    assert lost.readiness().to_json() == {"ready": False, "detail": "NATS connection lost; reconnecting"}


class FailingBroker:
    """FailingBroker connects (or fails to), then offers a JetStream without the key bucket."""

    def __init__(self, connect_error: Exception | None) -> None:
        self.connect_error = connect_error
        self.connection = SimpleNamespace(is_connected=connect_error is None, jetstream=self.jetstream)

    async def connect(self) -> None:
        if self.connect_error is not None:
            raise self.connect_error

    def jetstream(self, **_: object) -> SimpleNamespace:
        async def key_value(_: str) -> None:
            raise nats.js.errors.BucketNotFoundError()

        return SimpleNamespace(key_value=key_value)


@pytest.mark.parametrize(
    ("connect_error", "status"),
    [
        (nats.errors.NoServersError(), "NATS unreachable: NoServersError"),
        (None, "KV bucket dx_keys missing: run `dxmon migrate`"),
    ],
)
async def test_until_connected_readiness_says_why(catalog: Catalog, connect_error, status) -> None:
    b = Bus(
        FailingBroker(connect_error),  # type: ignore[arg-type]  # a fake with FastStream's broker shape
        KeyRing(catalog),  # the real ring: its connect_and_follow is the retry loop under test
        Metrics(),
        0.05,
    )
    task = asyncio.create_task(b.connect_forever())
    try:
        for _ in range(100):
            if b.status != "connecting to NATS":
                break
            await asyncio.sleep(0.01)
        assert b.readiness().to_json() == {"ready": False, "detail": status}
        assert not task.done()  # it keeps trying
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
