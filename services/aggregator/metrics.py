"""Metrics: the aggregator's Prometheus series, built once per app and passed to every part.

Each instance gets its own registry, so several aggregators (or tests) in one process never collide.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    """Metrics holds the ``dx_aggregator_*`` series."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.messages = Counter(
            "dx_aggregator_messages_total", "Messages handled by outcome", ["outcome"], registry=self.registry
        )
        self.stored = Counter(
            "dx_aggregator_reports_stored_total", "Reports new to the database", registry=self.registry
        )
        self.batch_seconds = Histogram(
            "dx_aggregator_batch_seconds",
            "Time to store one batch",
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.batch_size = Histogram(
            "dx_aggregator_batch_messages",
            "Messages per fetched batch",
            registry=self.registry,
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000),
        )
        self.dead_letters = Counter(
            "dx_aggregator_dead_letters_total", "Reports dead-lettered by reason", ["reason"], registry=self.registry
        )
        self.db_up = Gauge(
            "dx_aggregator_database_up", "1 when the last write reached the database", registry=self.registry
        )
