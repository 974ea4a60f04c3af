"""Scheduler: composes the alerts engine from settings — lease, evaluation, dispatch, outbox, outputs.

The engine's parts are classes of their own modules (``Scheduler`` and ``Lease`` in ``evaluate.py``);
this is the one place that reads the settings to build and connect them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import asyncpg

from dxmon.catalog import Catalog
from services.alerts.alertmanager import AlertmanagerForwarder
from services.alerts.dispatch import Dispatcher
from services.alerts.emit import EventEmitter, GrafanaAnnotator, Publish
from services.alerts.evaluate import EvaluateFn, Evaluator, Lease, Schedule, Scheduler, parents, seconds
from services.alerts.metrics import Metrics
from services.alerts.outbox import Backoff, OutboxWorker
from services.alerts.settings import AlertsSettings


def build_scheduler(
    settings: AlertsSettings, *, catalog: Catalog, pool: asyncpg.Pool, kv: Any, publish: Publish,
    metrics: Metrics, clock: Callable[[], datetime], instance: str, evaluate: EvaluateFn | None = None,
) -> Scheduler:
    """build_scheduler composes the engine (lease, evaluation, dispatch, outbox, outputs) from settings."""
    s = settings
    grafana = None
    if s.grafana_token:
        grafana = GrafanaAnnotator(s.grafana_url, s.grafana_token.get_secret_value())
    forwarder = None
    if s.alertmanager_url:
        forwarder = AlertmanagerForwarder(s.alertmanager_url, metrics, resend=seconds(s.alertmanager_resend_seconds),
                                          public_url=s.public_dashboard_url)
    return Scheduler(
        lease=Lease(kv, instance),
        evaluator=Evaluator(pool, catalog, metrics, evaluate),
        dispatcher=Dispatcher(pool, parents(catalog), metrics,
                              repeat_interval=seconds(s.alerts_repeat_interval_seconds),
                              escalate_after=seconds(s.alerts_escalate_after_seconds),
                              public_url=s.public_dashboard_url),
        outbox=OutboxWorker(pool, metrics, clock,
                            backoff=Backoff(s.alerts_retry_initial_seconds, s.alerts_retry_max_seconds),
                            max_attempts=s.alerts_max_attempts, send_timeout=s.alerts_send_timeout_seconds),
        emitter=EventEmitter(pool, publish, metrics, clock, grafana),
        metrics=metrics,
        clock=clock,
        schedule=Schedule(
            full_interval=s.alerts_full_interval_seconds, flush_interval=s.alerts_flush_interval_seconds,
            debounce=s.alerts_incremental_debounce_seconds, lease_renew=s.alerts_lease_renew_seconds,
            outbox_poll=s.alerts_outbox_poll_seconds, alertmanager_resend=s.alertmanager_resend_seconds,
        ),
        forwarder=forwarder,
    )
