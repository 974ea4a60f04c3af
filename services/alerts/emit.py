"""Emit: publishes alert state changes after they are committed — JetStream DX_ALERTS and Grafana.

    alert_events (written with the state change)
        ├──▶ dx.alerts.v1.<kind>.<unit>   (JetStream, PubAck awaited, Nats-Msg-Id = event id)
        └──▶ Grafana annotation           (only when DX_GRAFANA_URL and a token are set)

Each row is marked once its sink accepted it, so a crash re-publishes at most the unmarked rows:
JetStream drops those duplicates by message id; Grafana may show one annotation twice.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

import asyncpg
from grafana_client import AsyncGrafanaApi

from dxmon.contracts import AlertChanged, alert_subject
from services.alerts import repository as repo
from services.alerts.alert import Alert
from services.alerts.messages import KIND_LABEL, RESOLVED_LABEL, figures
from services.alerts.metrics import Metrics

log = logging.getLogger("dx.alerts.emit")

Publish = Callable[[str, bytes, Mapping[str, str]], Awaitable[Any]]


def alert_changed(event: repo.AlertEvent) -> AlertChanged:
    """alert_changed is the contract's message for one committed alert event."""
    a = event.alert
    return AlertChanged(
        event_id=event.id,
        fingerprint=a.fingerprint,
        unit=a.unit,
        unit_name=a.unit_name,
        indicator=a.indicator,
        indicator_name=a.indicator_name,
        pillar=a.pillar,
        kind=a.kind.value,
        severity=a.severity.value,
        state=a.state.value,
        at=event.at,
        starts_at=a.starts_at,
        value=a.value,
        observed_at=a.observed_at,
        expected=a.expected,
        target=a.target,
        milestone=a.milestone.isoformat() if a.milestone else None,
    )


def annotation_text(a: Alert) -> str:
    """annotation_text is the one-line Vietnamese description shown on Grafana's time axis."""
    label = KIND_LABEL[a.kind] if a.firing else f"{RESOLVED_LABEL} ({KIND_LABEL[a.kind].lower()})"
    return f"{label}: {a.unit_name} ({a.unit}) – {a.indicator} {a.indicator_name}. {figures(a, sep=', ')}."


class GrafanaAnnotator:
    """GrafanaAnnotator adds one organisation-wide annotation per state change, tagged for filtering."""

    def __init__(self, url: str, token: str, timeout: float = 10.0) -> None:
        self.api = AsyncGrafanaApi.from_url(url, credential=token, timeout=timeout)

    async def annotate(self, event: repo.AlertEvent) -> None:
        a = event.alert
        await self.api.annotations.add_annotation(
            time_from=int(event.at.timestamp() * 1000),
            tags=["dx-monitor", "alert", a.state.value, a.kind.value, a.unit, a.indicator],
            text=annotation_text(a),
        )


class EventEmitter:
    """EventEmitter sends every committed, unsent state change to JetStream and, if set, Grafana."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        publish: Publish,
        metrics: Metrics,
        clock: Callable[[], datetime],
        grafana: GrafanaAnnotator | None = None,
    ) -> None:
        self.pool = pool
        self.publish = publish
        self.metrics = metrics
        self.clock = clock
        self.grafana = grafana

    async def emit_pending(self) -> int:
        """emit_pending publishes unsent changes in order; returns how many reached JetStream."""
        async with self.pool.acquire() as conn:
            events = await repo.alert_events(conn, unpublished=True)
        done = []
        try:
            for e in events:
                body = alert_changed(e).model_dump_json().encode()
                await self.publish(
                    alert_subject(e.alert.kind.value, e.alert.unit), body, {"Nats-Msg-Id": f"dx-alert-event-{e.id}"}
                )
                done.append(e.id)
        finally:
            # Mark what got through even when a later publish failed; the rest is retried next time.
            if done:
                async with self.pool.acquire() as conn:
                    await repo.mark_events(conn, done, self.clock(), published=True)
                self.metrics.events_published.labels("jetstream").inc(len(done))
        if self.grafana is not None:
            await self._annotate()
        return len(done)

    async def _annotate(self) -> None:
        assert self.grafana is not None
        async with self.pool.acquire() as conn:
            events = await repo.alert_events(conn, unpublished=False)
        done = []
        try:
            for e in events:
                await self.grafana.annotate(e)
                done.append(e.id)
        except Exception as exc:  # noqa: BLE001 - Grafana is optional; retried on the next pass
            log.warning("Grafana annotation failed (%s: %s); will retry", type(exc).__name__, exc)
        if done:
            async with self.pool.acquire() as conn:
                await repo.mark_events(conn, done, self.clock(), published=False)
            self.metrics.events_published.labels("grafana").inc(len(done))
