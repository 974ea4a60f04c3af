"""Metrics: ingest's Prometheus series (the README's table says what each counts)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    """Metrics holds ingest's series, in a registry of its own per app (so tests can build many apps)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.reports = Counter("dx_ingest_reports_total", "Reports by outcome", ["outcome"], registry=self.registry)
        self.requests = Counter(
            "dx_ingest_requests_total",
            "Report requests by status and reason",
            ["status", "reason"],
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "dx_ingest_auth_failures_total", "Refused credentials", ["reason"], registry=self.registry
        )
        self.publish_seconds = Histogram(
            "dx_ingest_publish_seconds",
            "Time from first publish to last PubAck per request",
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.keys_skipped = Gauge(
            "dx_ingest_key_entries_skipped",
            "Entries of the key bucket ingest cannot use (see the log)",
            registry=self.registry,
        )

    def count_auth_failure(self, reason: str) -> None:
        """count_auth_failure is ``dxmon.intake.authenticate``'s on_refused hook."""
        self.auth_failures.labels(reason).inc()

    def count_stored(self, duplicates: list[bool]) -> None:
        """count_stored counts the reports of a 202, each accepted or a duplicate."""
        n_dup = sum(duplicates)
        self.reports.labels("accepted").inc(len(duplicates) - n_dup)
        self.reports.labels("duplicate").inc(n_dup)
