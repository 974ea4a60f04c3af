"""Metrics: the entry service's Prometheus series (one registry per app, so tests can build many)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class Metrics:
    """Metrics holds the ``dx_entry_*`` series."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.templates = Counter("dx_entry_templates_total", "Templates served by format", ["format"], registry=r)
        self.import_rows = Counter(
            "dx_entry_import_rows_total",
            "Imported rows by outcome (new, corrected, unchanged, ignored, refused)",
            ["outcome", "dry_run"],
            registry=r,
        )
        self.import_seconds = Histogram(
            "dx_entry_import_seconds",
            "Time from the upload's last byte to the summary",
            ["dry_run"],
            registry=r,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
