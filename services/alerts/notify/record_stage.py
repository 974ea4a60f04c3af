"""RecordStage writes the notification log for the alerts a recipient is being told about.

It runs after DeliverStage, and the dispatcher commits both in one transaction: a digest is in the
outbox if and only if the log says the recipient was told. The next flush's DedupStage reads it.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.alerts.alert import Alert, Flush
from services.alerts.notify.dedup_stage import NotificationLog


class RecordStage:
    """RecordStage records every alert it receives in the notification log."""

    def __init__(self, nflog: NotificationLog) -> None:
        self.nflog = nflog

    async def exec(self, flush: Flush, alerts: Sequence[Alert]) -> Sequence[Alert]:
        """exec implements the Stage protocol."""
        await self.nflog.record(flush, alerts)
        return alerts
