"""The severity table (services/alerts/alert.py, README "Severity") decided by the sync on real rows:
long or far behind and long unreported are Nghiêm trọng; the rest Cần chú ý; outcomes raise nothing."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import asyncpg
import pytest

from dxmon.contracts import LOCAL_TZ
from services.alerts import repository as repo

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=LOCAL_TZ)
UNIT = "QN-P-HONGGAI"


async def put(
    conn: asyncpg.Connection,
    indicator: str,
    status: str,
    *,
    value: float = 70.0,
    expected: float = 75.0,
    since: datetime = NOW,
    reporting: str | None = "on_time",
    missing_since: date | None = None,
    cutoff: date | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO progress_current (unit, indicator, level, pillar, status, value, expected, target, comparator,"
        " milestone, day, active, status_since, evaluated_at, reporting, overdue_since, cutoff, final)"
        " VALUES ($1, $2, 'commune', 'digital_government', $3, $4, $5, 100, '>=', '2030-12-31', $6, true, $7, $8,"
        " $9, $10, $11::date, $11::date IS NOT NULL)",
        UNIT,
        indicator,
        status,
        value,
        expected,
        NOW.date(),
        since,
        NOW,
        reporting,
        missing_since,
        cutoff,
    )


async def test_severity_follows_the_table(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            await put(conn, "DG-14", "behind", value=68, expected=75)  # 7 points, found today: warning
            await put(conn, "DG-04", "behind", value=60, expected=75)  # 15 points: far behind, critical
            await put(conn, "DG-09", "behind", value=72, expected=75, since=NOW - timedelta(days=70))  # 2+ months
            await put(conn, "DG-16", "at_risk", value=74, expected=75, since=NOW - timedelta(days=400))
            await put(conn, "DG-03", "on_track", reporting="missing", missing_since=date(2026, 3, 1))  # 1 period
            await put(conn, "DG-11", "on_track", reporting="missing", missing_since=date(2026, 1, 11))  # 2 periods
            await put(
                conn,
                "DG-17",
                "missed",
                value=40,
                expected=100,
                cutoff=date(2026, 1, 10),
                reporting="missing",
                missing_since=date(2026, 1, 11),
            )  # history: no alert at all
            await repo.sync_alerts(conn, NOW)
        got = {
            (r["indicator"], r["kind"]): r["severity"]
            for r in await conn.fetch("SELECT indicator, kind, severity FROM alerts WHERE state = 'firing'")
        }
        assert got == {
            ("DG-14", "behind"): "warning",
            ("DG-04", "behind"): "critical",
            ("DG-09", "behind"): "critical",
            ("DG-16", "at_risk"): "warning",
            ("DG-03", "overdue"): "warning",
            ("DG-11", "overdue"): "critical",
        }
        # A behind alert that grows serious is updated in place (same episode), not raised twice.
        await conn.execute("UPDATE progress_current SET value = 50 WHERE indicator = 'DG-14'")
        changes = await repo.sync_alerts(conn, NOW + timedelta(hours=1))
        assert changes == []
        assert await conn.fetchval("SELECT severity FROM alerts WHERE indicator = 'DG-14'") == "critical"
        listed = {a.indicator: a.severity.value for a in await repo.flush_alerts(conn)}
        assert listed["DG-14"] == "critical" and listed["DG-16"] == "warning"
    finally:
        await conn.close()
