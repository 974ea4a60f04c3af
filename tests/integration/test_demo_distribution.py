"""The demo is believable on the real pipeline's tables: the simulator's default scenario, stored and
evaluated in SQL, gives the distribution ``dxmon dev`` prints and the README states."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

import asyncpg
import pytest

from dxmon.catalog import Catalog
from dxmon.contracts import LOCAL_TZ, ReportReceived, end_of_local_day
from dxmon.simulate import generate
from dxmon.store.progress_repository import evaluate, unit_distribution
from dxmon.store.reports_repository import store_reports

pytestmark = pytest.mark.integration


async def test_default_scenario_distribution(database_url: str, catalog: Catalog) -> None:
    today = date(2026, 12, 6)
    simulated = generate(catalog, date(2024, 1, 1), date(2026, 11, 30), seed=1)
    events = [
        ReportReceived(
            **{**s.body, "event_id": uuid.UUID(s.body["event_id"]), "observed_at": end_of_local_day(s.period_end)},
            received_at=end_of_local_day(s.period_end) + timedelta(days=2),
            agency="demo",
            key_id="k",
        )
        for s in simulated
    ]
    conn = await asyncpg.connect(database_url)
    try:
        for start in range(0, len(events), 5000):
            async with conn.transaction():
                await store_reports(conn, events[start : start + 5000], datetime.now(LOCAL_TZ))
        await evaluate(conn, catalog, datetime(2026, 12, 6, 12, tzinfo=LOCAL_TZ))
        spread = await unit_distribution(conn, today)
    finally:
        await conn.close()
    assert spread.total == len(catalog.units_active_on(today))
    assert 0.15 <= spread.behind / spread.total <= 0.25, spread
    assert 0 < spread.silent <= 0.12 * spread.total, spread
    assert spread.fine >= 0.6 * spread.total, spread
    assert spread.worst and all(r["behind"] + r["missing"] > 0 for r in spread.worst)
