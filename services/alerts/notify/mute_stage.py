"""MuteStage drops the alerts a Muter mutes and counts them by reason.

Silences and acknowledgements are both Muters, so one stage type serves both; only the reason
label differs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from services.alerts.alert import Acknowledgement, Alert, Flush, Silence
from services.alerts.metrics import Metrics


class SuppressedReason(StrEnum):
    SILENCE = "silence"
    ACK = "ack"


class Muter(Protocol):
    """Muter decides whether an alert is muted at ``now``; it does no I/O."""

    def mutes(self, alert: Alert, now: datetime) -> bool: ...


class Silencer:
    """Silencer mutes alerts matched by an active silence (firing and resolved alike)."""

    def __init__(self, silences: Sequence[Silence]) -> None:
        self.silences = silences

    def mutes(self, alert: Alert, now: datetime) -> bool:
        return any(s.matches(alert, now) for s in self.silences)


class Acknowledger:
    """Acknowledger mutes acknowledged alerts while they fire; their resolution is still announced."""

    def __init__(self, acks: Sequence[Acknowledgement]) -> None:
        self.until = {a.fingerprint: a.until for a in acks}

    def mutes(self, alert: Alert, now: datetime) -> bool:
        until = self.until.get(alert.fingerprint)
        return alert.firing and until is not None and now < until


class MuteStage:
    """MuteStage passes on the alerts its Muter does not mute."""

    def __init__(self, muter: Muter, reason: SuppressedReason, metrics: Metrics) -> None:
        self.muter = muter
        self.reason = reason
        self.metrics = metrics

    async def exec(self, flush: Flush, alerts: Sequence[Alert]) -> Sequence[Alert]:
        """exec implements the Stage protocol."""
        kept = [a for a in alerts if not self.muter.mutes(a, flush.now)]
        if len(kept) < len(alerts):
            self.metrics.suppressed.labels(self.reason.value).inc(len(alerts) - len(kept))
        return kept
