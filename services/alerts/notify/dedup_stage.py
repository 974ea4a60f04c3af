"""DedupStage keeps a recipient's digest only when something changed since it was last told.

It reads the notification log written by RecordStage, so a restart (which keeps the log in the
database) sends nothing twice. Like Alertmanager, the decision is made for the whole group: when any
alert needs an update, every firing alert goes along, so one digest shows the recipient's whole
picture and all reminders share one repeat cycle.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from services.alerts.alert import Alert, Flush, NotifyReason, State


@dataclass(frozen=True)
class LogEntry:
    """LogEntry is what a recipient was last told about one alert, and when."""

    state: State
    starts_at: datetime
    notified_at: datetime


class NotificationLog(Protocol):
    """NotificationLog: what each recipient has been told (read by DedupStage, written by RecordStage)."""

    def entries(self, receiver_id: int) -> Mapping[str, LogEntry]: ...

    async def record(self, flush: Flush, alerts: Sequence[Alert]) -> None: ...


def needs_update(
    alert: Alert, entry: LogEntry | None, now: datetime, repeat_interval: timedelta
) -> NotifyReason | None:
    """needs_update says why the recipient must hear about ``alert`` now, or None when it need not."""
    if alert.firing:
        # A different starts_at is a new episode: it resolved and fired again since the last digest.
        if entry is None or entry.state is State.RESOLVED or entry.starts_at != alert.starts_at:
            return NotifyReason.FIRST_NOTIFICATION
        if now - entry.notified_at >= repeat_interval:
            return NotifyReason.REPEAT_INTERVAL_ELAPSED
        return None
    # A resolution is news only to those who were told it fired.
    if entry is not None and entry.state is State.FIRING:
        return NotifyReason.RESOLVED
    return None


class DedupStage:
    """DedupStage drops the digest when no alert needs an update within repeat_interval."""

    def __init__(self, nflog: NotificationLog) -> None:
        self.nflog = nflog

    async def exec(self, flush: Flush, alerts: Sequence[Alert]) -> Sequence[Alert]:
        """exec implements the Stage protocol."""
        entries = self.nflog.entries(flush.receiver.id)
        decided = [(a, needs_update(a, entries.get(a.fingerprint), flush.now, flush.repeat_interval)) for a in alerts]
        if not any(reason is not None for _, reason in decided):
            return []
        return [
            replace(a, reason=reason or NotifyReason.STILL_FIRING)
            for a, reason in decided
            if a.firing or reason is NotifyReason.RESOLVED
        ]
