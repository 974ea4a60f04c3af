"""The dx.stored subscriber, in memory (FastStream's TestNatsBroker): which notices reach the scheduler."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from faststream.nats import NatsBroker, TestNatsBroker
from pydantic import ValidationError

from dxmon.catalog import Catalog
from dxmon.contracts import ReportStored, stored_subject
from services.alerts.handlers import subscribe
from services.alerts.metrics import Metrics
from services.alerts.settings import AlertsSettings
from services.alerts.state import Service

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


class RecordingScheduler:
    """RecordingScheduler stands in for the Scheduler: it records the units it is asked to evaluate."""

    def __init__(self) -> None:
        self.requested: list[str] = []

    def request(self, units: list[str]) -> None:
        self.requested.extend(units)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def service(catalog: Catalog, *, accepting: bool) -> tuple[Service, RecordingScheduler]:
    """service: the alerts service with its subscriber, and the recorder that stands in for its scheduler."""
    svc = Service(
        settings=AlertsSettings(),
        catalog=catalog,
        metrics=Metrics(),
        clock=lambda: NOW,
        broker=NatsBroker(),
        tokens={},
        accepting=accepting,
    )
    recorder = RecordingScheduler()
    svc.scheduler = recorder  # type: ignore[assignment]  # only ``request`` is used by the subscriber
    subscribe(svc)
    return svc, recorder


def notice(unit: str) -> bytes:
    return ReportStored(unit=unit, indicators=["DG-04"], stored=3, committed_at=NOW).model_dump_json().encode()


async def test_each_notice_requests_its_unit(catalog: Catalog) -> None:
    svc, scheduler = service(catalog, accepting=True)
    async with TestNatsBroker(svc.broker) as broker:
        for unit in ("QN-P-HONGGAI", "QN-P-BAICHAY", "QN-P-HONGGAI"):
            await broker.publish(notice(unit), stored_subject(unit))
    assert scheduler.requested == ["QN-P-HONGGAI", "QN-P-BAICHAY", "QN-P-HONGGAI"]


async def test_the_unit_comes_from_the_notice_not_the_subject(catalog: Catalog) -> None:
    svc, scheduler = service(catalog, accepting=True)
    async with TestNatsBroker(svc.broker) as broker:
        await broker.publish(notice("QN-P-BAICHAY"), stored_subject("QN"))
    assert scheduler.requested == ["QN-P-BAICHAY"]


async def test_notices_are_ignored_while_starting_or_stopping(catalog: Catalog) -> None:
    svc, scheduler = service(catalog, accepting=False)
    async with TestNatsBroker(svc.broker) as broker:
        await broker.publish(notice("QN-P-HONGGAI"), stored_subject("QN-P-HONGGAI"))
    assert scheduler.requested == []


async def test_a_malformed_notice_requests_nothing(catalog: Catalog) -> None:
    svc, scheduler = service(catalog, accepting=True)
    async with TestNatsBroker(svc.broker) as broker:
        with pytest.raises(ValidationError):  # TestNatsBroker raises what the real broker would log
            await broker.publish(b'{"unit": 5}', stored_subject("QN"))
        await broker.publish(notice("QN"), stored_subject("QN"))  # the subscriber still works after it
    assert scheduler.requested == ["QN"]
