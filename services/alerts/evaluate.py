"""Evaluate: one evaluation pass — progress as of ``now`` and the alert state changes it implies.

The scheduler (``scheduler.py``) decides when a pass runs and whether this instance may run it
(``lease.py``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from dxmon.catalog import Catalog
from services.alerts import repository as repo
from services.alerts.metrics import Metrics

log = logging.getLogger("dx.alerts.evaluate")

EvaluateFn = Callable[..., Awaitable[Any]]


class Evaluator:
    """Evaluator runs one evaluation pass and turns its statuses into alert state changes."""

    def __init__(
        self, pool: asyncpg.Pool, catalog: Catalog, metrics: Metrics, evaluate: EvaluateFn | None = None
    ) -> None:
        if evaluate is None:
            from dxmon.store.progress_repository import evaluate as evaluate_progress

            evaluate = evaluate_progress
        self.pool = pool
        self.catalog = catalog
        self.metrics = metrics
        self.evaluate = evaluate

    async def run_pass(self, now: datetime, units: Iterable[str] | None = None) -> list[repo.AlertChange]:
        """run_pass evaluates progress as of ``now`` (all units, or just ``units``) and syncs alerts.

        Both happen in one transaction: alerts never reflect a half-written evaluation.
        """
        unit_list = sorted(set(units)) if units is not None else None
        kind = "full" if unit_list is None else "incremental"
        started = time.monotonic()
        async with self.pool.acquire() as conn, conn.transaction():
            if unit_list is None:
                # A full pass reads the reports for the reporting rates on a second connection meanwhile.
                async with self.pool.acquire() as reader:
                    await self.evaluate(conn, self.catalog, now, reader=reader)
            else:
                await self.evaluate(conn, self.catalog, now, units=unit_list)
            changes = await repo.sync_alerts(conn, now, unit_list)
            firing = await repo.count_firing(conn)
        self.metrics.evaluations.labels(kind).inc()
        self.metrics.evaluation_seconds.labels(kind).observe(time.monotonic() - started)
        self.metrics.firing.set(firing)
        for c in changes:
            self.metrics.changes.labels(c.state.value).inc()
        if changes:
            log.info("%s evaluation: %d alert changes, %d firing", kind, len(changes), firing)
        return changes


def parents(catalog: Catalog) -> Mapping[str, str | None]:
    """parents maps each unit code to its parent's (the tree routing walks up)."""
    return {code: u.parent for code, u in catalog.units.items()}


def seconds(x: float) -> timedelta:
    return timedelta(seconds=x)
