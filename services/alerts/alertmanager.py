"""Alertmanager: optional forwarding of alerts to a Prometheus Alertmanager (``POST /api/v2/alerts``).

Alertmanager forgets an alert that is not re-sent, so every firing alert is posted again each
``resend`` period with ``endsAt`` ``ENDS_AFTER_RESENDS`` periods ahead (as Prometheus does): one
late re-send never lets an alert expire there while it still fires. Resolved alerts are posted with
their real ``endsAt`` for a while after they resolve. ``startsAt`` is when the problem began
(``Alert.since``), as in digests.

dx-monitor's silences and acknowledgements apply here too: before each post, the forwarder makes
Alertmanager's silences created by dx-monitor (``createdBy: dx-monitor``) match them — one
Alertmanager silence per active dx-monitor silence (matchers ``unit`` and, if set, ``indicator``)
and one per acknowledged firing alert (``unit``, ``indicator``, ``kind``, until the
acknowledgement ends; removed when the alert resolves, so its resolution is announced). Alerts are
still forwarded, so Alertmanager shows them as suppressed rather than resolving them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from dxmon import words
from services.alerts.alert import Acknowledgement, Alert, Kind, Silence
from services.alerts.messages import KIND_LABEL, dashboard_url, figures
from services.alerts.metrics import Metrics
from services.alerts.notify.mute_stage import Acknowledger, Silencer

log = logging.getLogger("dx.alerts.alertmanager")

ALERTNAME: dict[Kind, str] = {
    Kind.BEHIND: "DxUnitBehind",
    Kind.AT_RISK: "DxUnitAtRisk",
    Kind.MISSED: "DxTargetMissed",
    Kind.OVERDUE: "DxReportOverdue",
}
SOURCE = "dx-monitor"
# A firing alert's endsAt lies this many re-send periods ahead (at least 3: a re-send may be late).
ENDS_AFTER_RESENDS = 4
# How long a resolved alert keeps being posted, so an Alertmanager that was down still hears of it.
RESOLVED_RESEND = timedelta(hours=1)
_KEY = re.compile(r"\[(dx-monitor:[^\]]+)\]")


def _rfc3339(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def labels(a: Alert) -> dict[str, str]:
    """labels identify an alert in Alertmanager (its fingerprint there)."""
    return {
        "alertname": ALERTNAME[a.kind],
        "unit": a.unit,
        "indicator": a.indicator,
        "kind": a.kind.value,
        "severity": a.severity.value,
        "pillar": a.pillar,
        "source": SOURCE,
    }


def alertmanager_payload(
    alerts: Sequence[Alert], now: datetime, resend: timedelta, public_url: str | None
) -> list[dict[str, Any]]:
    """alertmanager_payload is the v2 API body for ``alerts`` as of ``now``; pure."""
    out = []
    for a in alerts:
        ends = a.ends_at if not a.firing and a.ends_at else now + ENDS_AFTER_RESENDS * resend
        body = {
            "labels": labels(a),
            "annotations": {
                "summary": f"{KIND_LABEL[a.kind]}: {a.unit_name} – {a.indicator} {a.indicator_name}",
                "description": figures(a, sep=", "),
            },
            "startsAt": _rfc3339(a.since()),
            "endsAt": _rfc3339(ends),
        }
        if link := dashboard_url(public_url, a.unit):
            body["generatorURL"] = link
        out.append(body)
    return out


@dataclass(frozen=True)
class MirrorSilence:
    """MirrorSilence is one Alertmanager silence standing for a dx-monitor silence or acknowledgement.

    ``key`` names its origin and end, so a changed end (an acknowledgement extended, a silence
    removed early) gives a new key: the old silence is expired and a new one created.
    """

    key: str
    matchers: dict[str, str]
    starts_at: datetime
    ends_at: datetime
    comment: str

    def body(self) -> dict[str, Any]:
        return {
            "matchers": [
                {"name": k, "value": v, "isRegex": False, "isEqual": True} for k, v in sorted(self.matchers.items())
            ],
            "startsAt": _rfc3339(self.starts_at),
            "endsAt": _rfc3339(self.ends_at),
            "createdBy": SOURCE,
            "comment": f"{self.comment} [{self.key}]",
        }


def mirror_silences(
    alerts: Sequence[Alert], silences: Sequence[Silence], acks: Sequence[Acknowledgement], now: datetime
) -> list[MirrorSilence]:
    """mirror_silences: the Alertmanager silences dx-monitor's active silences and acks call for; pure."""
    out = []
    for s in silences:
        if s.starts_at <= now < s.ends_at:
            matchers = {"source": SOURCE, "unit": s.unit} | ({"indicator": s.indicator} if s.indicator else {})
            out.append(
                MirrorSilence(
                    f"dx-monitor:silence:{s.id}:{_rfc3339(s.ends_at)}",
                    matchers,
                    s.starts_at,
                    s.ends_at,
                    f"{words.SILENCE}: {s.reason} ({s.created_by})",
                )
            )
    firing = {a.fingerprint: a for a in alerts if a.firing}
    for k in acks:
        a = firing.get(k.fingerprint)
        if a is not None and now < k.until:
            matchers = {"source": SOURCE, "unit": a.unit, "indicator": a.indicator, "kind": a.kind.value}
            out.append(
                MirrorSilence(
                    f"dx-monitor:ack:{k.fingerprint}:{_rfc3339(k.until)}",
                    matchers,
                    now,
                    k.until,
                    f"{words.ACKNOWLEDGED}: {k.reason} ({k.created_by})",
                )
            )
    return out


class AlertmanagerForwarder:
    """AlertmanagerForwarder posts alerts to one Alertmanager; failures are logged and counted, not raised."""

    def __init__(
        self, url: str, metrics: Metrics, *, resend: timedelta, public_url: str | None, timeout: float = 10.0
    ) -> None:
        self.base = url.rstrip("/")
        self.endpoint = self.base + "/api/v2/alerts"
        self.metrics = metrics
        self.resend = resend
        self.public_url = public_url
        self.timeout = timeout

    async def forward(
        self,
        alerts: Sequence[Alert],
        now: datetime,
        silences: Sequence[Silence] = (),
        acks: Sequence[Acknowledgement] = (),
    ) -> bool:
        """forward makes Alertmanager's dx-monitor silences match ours, then posts ``alerts``.

        When the silences cannot be set, muted alerts are left out of the post rather than
        notified by Alertmanager's receivers (they may then expire there until the next try).
        """
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            try:
                await self._sync_silences(client, mirror_silences(alerts, silences, acks, now))
            except (httpx.HTTPError, ValueError, KeyError) as exc:  # refused, or an answer we cannot read
                self.metrics.alertmanager_posts.labels("failed").inc()
                log.warning("Alertmanager at %s: silences not set (%s); muted alerts held back", self.base, exc)
                muters = (Silencer(silences), Acknowledger(acks))
                alerts = [a for a in alerts if not any(m.mutes(a, now) for m in muters)]
            if not alerts:
                return True
            try:
                body = alertmanager_payload(alerts, now, self.resend, self.public_url)
                (await client.post(self.endpoint, json=body)).raise_for_status()
            except httpx.HTTPError as exc:
                self.metrics.alertmanager_posts.labels("failed").inc()
                log.warning("Alertmanager at %s refused %d alerts: %s", self.base, len(alerts), exc)
                return False
        self.metrics.alertmanager_posts.labels("ok").inc()
        return True

    async def _sync_silences(self, client: httpx.AsyncClient, wanted: Sequence[MirrorSilence]) -> None:
        response = await client.get(self.base + "/api/v2/silences")
        response.raise_for_status()
        existing: dict[str, str] = {}
        for s in response.json():
            found = _KEY.search(s.get("comment", ""))
            if s.get("createdBy") == SOURCE and found and s.get("status", {}).get("state") != "expired":
                existing[found.group(1)] = s["id"]
        wanted_keys = {m.key for m in wanted}
        for key, silence_id in existing.items():
            if key not in wanted_keys:
                (await client.delete(f"{self.base}/api/v2/silence/{silence_id}")).raise_for_status()
        for m in wanted:
            if m.key not in existing:
                (await client.post(self.base + "/api/v2/silences", json=m.body())).raise_for_status()
