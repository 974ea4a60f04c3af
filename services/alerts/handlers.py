"""Handlers: the alerts service's one subscriber — units whose reports were committed are re-evaluated."""

from __future__ import annotations

from dxmon.contracts import ReportStored
from services.alerts.state import Service

STORED_SUBJECTS = "dx.stored.v1.>"


def subscribe(svc: Service) -> None:
    """subscribe registers ``on_stored`` on the service's broker (before it starts)."""

    @svc.broker.subscriber(STORED_SUBJECTS, description="Units whose reports were committed: re-evaluate them")
    async def on_stored(msg: ReportStored) -> None:
        # Notices that arrive while starting or stopping are dropped: the full pass at leadership
        # start covers them, and a stopping scheduler must not be handed new work.
        if svc.accepting and svc.scheduler is not None:
            svc.scheduler.request([msg.unit])
