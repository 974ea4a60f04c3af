"""Alertmanager: optional forwarding of alerts to a Prometheus Alertmanager (``POST /api/v2/alerts``).

Alertmanager forgets an alert that is not re-sent, so every firing alert is posted again each
``resend`` period with ``endsAt`` a few periods ahead (as Prometheus does); resolved alerts are
posted with their real ``endsAt`` for a while after they resolve.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx

from services.alerts.alert import Alert, Kind
from services.alerts.messages import KIND_LABEL, dashboard_url, format_value
from services.alerts.metrics import Metrics

log = logging.getLogger("dx.alerts.alertmanager")

ALERTNAME: dict[Kind, str] = {
    Kind.BEHIND: "DxUnitBehind",
    Kind.AT_RISK: "DxUnitAtRisk",
    Kind.MISSED: "DxTargetMissed",
    Kind.OVERDUE: "DxReportOverdue",
}
# How long a resolved alert keeps being posted, so an Alertmanager that was down still hears of it.
RESOLVED_RESEND = timedelta(hours=1)


def _rfc3339(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def alertmanager_payload(
    alerts: Sequence[Alert], now: datetime, resend: timedelta, public_url: str | None
) -> list[dict[str, Any]]:
    """alertmanager_payload is the v2 API body for ``alerts`` as of ``now``; pure."""
    out = []
    for a in alerts:
        ends = a.ends_at if not a.firing and a.ends_at else now + 4 * resend
        out.append({
            "labels": {
                "alertname": ALERTNAME[a.kind], "unit": a.unit, "indicator": a.indicator, "kind": a.kind.value,
                "severity": a.severity.value, "pillar": a.pillar, "source": "dx-monitor",
            },
            "annotations": {
                "summary": f"{KIND_LABEL[a.kind]}: {a.unit_name} – {a.indicator} {a.indicator_name}",
                "description": (
                    f"Giá trị {format_value(a.value, a.measure)}, kỳ vọng {format_value(a.expected, a.measure)}, "
                    f"mục tiêu {format_value(a.target, a.measure)}"
                    + (f" (hạn {a.milestone.strftime('%d/%m/%Y')})" if a.milestone else "")
                ),
            },
            "startsAt": _rfc3339(a.starts_at),
            "endsAt": _rfc3339(ends),
        })
        if link := dashboard_url(public_url, a.unit):
            out[-1]["generatorURL"] = link
    return out


class AlertmanagerForwarder:
    """AlertmanagerForwarder posts alerts to one Alertmanager; failures are logged and counted, not raised."""

    def __init__(self, url: str, metrics: Metrics, *, resend: timedelta, public_url: str | None, timeout: float = 10.0) -> None:
        self.endpoint = url.rstrip("/") + "/api/v2/alerts"
        self.metrics = metrics
        self.resend = resend
        self.public_url = public_url
        self.timeout = timeout

    async def forward(self, alerts: Sequence[Alert], now: datetime) -> bool:
        if not alerts:
            return True
        body = alertmanager_payload(alerts, now, self.resend, self.public_url)
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                response = await client.post(self.endpoint, json=body)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            self.metrics.alertmanager_posts.labels("failed").inc()
            log.warning("Alertmanager at %s refused %d alerts: %s", self.endpoint, len(body), exc)
            return False
        self.metrics.alertmanager_posts.labels("ok").inc()
        return True
