"""Metrics: the alerts service's Prometheus series, built once per service and passed to every part.

Each instance gets its own registry, so several services (or tests) in one process never collide.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    """Metrics holds the ``dx_alerts_*`` series."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.notifications = Counter(
            "dx_alerts_notifications_total",
            "Delivery attempts by outcome (delivered, retry, failed)",
            ["outcome"],
            registry=r,
        )
        self.suppressed = Counter(
            "dx_alerts_notifications_suppressed_total",
            "Alerts held back from a flush, by reason (silence, ack)",
            ["reason"],
            registry=r,
        )
        self.digests = Counter(
            "dx_alerts_digests_total", "Digests put in the outbox, by the reason of the group", ["reason"], registry=r
        )
        self.changes = Counter(
            "dx_alerts_state_changes_total", "Alert state changes (firing, resolved)", ["state"], registry=r
        )
        self.evaluations = Counter(
            "dx_alerts_evaluations_total", "Evaluation passes by kind (full, incremental)", ["kind"], registry=r
        )
        self.evaluation_seconds = Histogram(
            "dx_alerts_evaluation_seconds",
            "Time of one evaluation pass including alert sync",
            ["kind"],
            registry=r,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
        )
        self.events_published = Counter(
            "dx_alerts_events_published_total",
            "Alert state changes published, by sink (jetstream, grafana)",
            ["sink"],
            registry=r,
        )
        self.alertmanager_posts = Counter(
            "dx_alerts_alertmanager_posts_total", "POSTs to Alertmanager by outcome", ["outcome"], registry=r
        )
        self.firing = Gauge("dx_alerts_firing", "Alerts firing after the last evaluation", registry=r)
        self.outbox_pending = Gauge("dx_alerts_outbox_pending", "Notifications waiting in the outbox", registry=r)
        self.leader = Gauge("dx_alerts_leader", "1 while this instance holds the evaluator lease", registry=r)
