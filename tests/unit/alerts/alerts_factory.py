"""Factories for alerts-service unit tests: small, explicit objects with sensible defaults."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from services.alerts.alert import Alert, Channel, Flush, Kind, Severity, State, Subscription
from services.alerts.messages import Message
from services.alerts.metrics import Metrics
from services.alerts.notify.dedup_stage import LogEntry

T0 = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)  # 09:00 in Hạ Long
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def make_alert(
    unit: str = "QN-P-HONGGAI",
    indicator: str = "DG-04",
    kind: Kind = Kind.BEHIND,
    *,
    state: State = State.FIRING,
    starts_at: datetime = T0,
    **kw: Any,
) -> Alert:
    # Outside the sync a test picks the severity; a missed milestone reads as critical by default.
    alert = Alert(
        fingerprint=f"{unit}/{indicator}/{kind.value}",
        unit=unit,
        indicator=indicator,
        kind=kind,
        state=state,
        starts_at=starts_at,
        value=45.2,
        expected=60.0,
        target=80.0,
        milestone=date(2030, 12, 31),
        unit_name="Phường Hồng Gai",
        indicator_name="Tỷ lệ hồ sơ xử lý hoàn toàn trực tuyến",
        pillar="digital_government",
        measure="ratio",
        severity=Severity.CRITICAL if kind is Kind.MISSED else Severity.WARNING,
    )
    return replace(alert, **kw)


def make_flush(now: datetime = T0, channel_id: int = 1, repeat: timedelta = 7 * DAY) -> Flush:
    channel = Channel(channel_id, f"json://127.0.0.1/{channel_id}")
    return Flush(f"channel:{channel_id}", channel, now, repeat)


def make_subscription(
    unit: str,
    channel_id: int,
    *,
    with_descendants: bool = False,
    pillars: Sequence[str] = (),
    min_severity: Severity = Severity.WARNING,
    sub_id: int = 0,
) -> Subscription:
    return Subscription(
        sub_id or channel_id,
        unit,
        with_descendants,
        tuple(pillars),
        min_severity,
        Channel(channel_id, f"json://127.0.0.1/{channel_id}"),
    )


@dataclass
class FakeLog:
    """FakeLog is a notification log in memory that remembers what was recorded."""

    snapshot: Mapping[int, Mapping[str, LogEntry]] = field(default_factory=dict)
    recorded: list[tuple[Flush, list[Alert]]] = field(default_factory=list)

    def entries(self, receiver_id: int) -> Mapping[str, LogEntry]:
        return self.snapshot.get(receiver_id, {})

    async def record(self, flush: Flush, alerts: Sequence[Alert]) -> None:
        self.recorded.append((flush, list(alerts)))


@dataclass
class FakeOutbox:
    """FakeOutbox records the digests it was asked to queue."""

    queued: list[tuple[Flush, Message]] = field(default_factory=list)

    async def enqueue(self, flush: Flush, message: Message) -> None:
        self.queued.append((flush, message))


def counter_value(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0
