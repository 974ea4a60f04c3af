"""Migration 0004 on a database that holds the old shape: values in force re-keyed by period.

The database is built up to 0003 and filled the way the old aggregator left it — including the
issue's case: two reports of one quarter sent as different instants, which used to be two rows of
period_values with the first one still "in force". After 0004 the later received one is in force,
every report is kept, and the write path carries on from there.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest

from dxmon import devstack
from dxmon.contracts import ReportReceived
from dxmon.store.migrate import migrate
from dxmon.store.reports_repository import store_reports

pytestmark = pytest.mark.integration

T0 = datetime(2026, 10, 3, 2, 0, tzinfo=UTC)
OLD_COLUMNS = [
    "observed_at",
    "event_id",
    "unit",
    "indicator",
    "value",
    "numerator",
    "denominator",
    "note",
    "source",
    "agency",
    "key_id",
    "received_at",
    "schema_version",
]


@pytest.fixture
async def old_database(pg_admin_url: str):
    name = f"dxt_{uuid.uuid4().hex[:12]}"
    url = await devstack.ensure_database(pg_admin_url, name)
    result = await migrate(url, up_to="0003_alerts")
    assert result.applied == ["0001_reports", "0002_progress", "0003_alerts"]
    yield url
    conn = await asyncpg.connect(pg_admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def old_report(unit: str, indicator: str, observed: str, received: datetime, **values) -> tuple:
    row = {
        "observed_at": datetime.fromisoformat(observed),
        "event_id": uuid.uuid4(),
        "unit": unit,
        "indicator": indicator,
        "value": None,
        "numerator": None,
        "denominator": None,
        "note": None,
        "source": "old",
        "agency": "agency A",
        "key_id": "k" * 16,
        "received_at": received,
        "schema_version": 1,
    }
    row.update(values)
    return tuple(row[c] for c in OLD_COLUMNS)


async def test_0004_rebuilds_values_in_force_by_period(old_database: str, catalog):
    q3_bare = old_report("QN", "DG-14", "2026-09-30T23:59:59.999999+07:00", T0, value=70.0)
    q3_fix = old_report("QN", "DG-14", "2026-09-30T23:59:59+07:00", T0 + timedelta(hours=1), value=75.0)
    q2 = old_report("QN", "DG-14", "2026-06-30T23:59:59.999999+07:00", T0 - timedelta(days=90), value=60.0)
    monthly = old_report("QN-P-HONGGAI", "DG-04", "2026-08-31T12:00:00+07:00", T0, numerator=30.0, denominator=100.0)
    conn = await asyncpg.connect(old_database)
    try:
        await conn.executemany(
            "INSERT INTO indicators (code, pillar, name_vi, name_en, measure, direction, applies_to, cadence, "
            "timely_days, grace_days) VALUES ($1, 'digital_government', $1, $1, $2, 'higher_is_better', "
            "'{province,commune}', $3, 5, 10)",
            [("DG-14", "percent", "quarterly"), ("DG-04", "ratio", "monthly")],
        )
        await conn.copy_records_to_table("reports", records=[q3_bare, q3_fix, q2, monthly], columns=OLD_COLUMNS)
        # What the old aggregator derived: one period_values row per instant, the first Q3 value "latest".
        await conn.executemany(
            "INSERT INTO period_values (unit, indicator, observed_at, value, event_id, received_at, reports) "
            "VALUES ($1, $2, $3, $4, $5, $6, 1)",
            [
                (r[2], r[3], r[0], r[4] if r[4] is not None else 30.0, r[1], r[11])
                for r in (q3_bare, q3_fix, q2, monthly)
            ],
        )
        await conn.execute(
            "INSERT INTO latest_values (unit, indicator, observed_at, value, event_id, received_at) "
            "VALUES ('QN', 'DG-14', $1, 70.0, $2, $3)",
            q3_bare[0],
            q3_bare[1],
            q3_bare[11],
        )
    finally:
        await conn.close()

    assert (await migrate(old_database)).applied[0] == "0004_periods"

    conn = await asyncpg.connect(old_database)
    try:
        reports = await conn.fetch(
            "SELECT unit, indicator, period_start, category, stream_seq FROM reports ORDER BY unit, period_start"
        )
        assert [(r["unit"], r["period_start"], r["category"], r["stream_seq"]) for r in reports] == [
            ("QN", date(2026, 4, 1), "", None),
            ("QN", date(2026, 7, 1), "", None),
            ("QN", date(2026, 7, 1), "", None),
            ("QN-P-HONGGAI", date(2026, 8, 1), "", None),
        ]
        pv = {(r["unit"], r["period_start"]): r for r in await conn.fetch("SELECT * FROM period_values")}
        assert len(pv) == 3
        q3 = pv[("QN", date(2026, 7, 1))]
        assert (q3["value"], q3["reports"], q3["event_id"], q3["period_end"]) == (75.0, 2, q3_fix[1], date(2026, 9, 30))
        assert pv[("QN-P-HONGGAI", date(2026, 8, 1))]["value"] == 30.0
        assert pv[("QN-P-HONGGAI", date(2026, 8, 1))]["period_end"] == date(2026, 8, 31)
        latest = await conn.fetchrow("SELECT * FROM latest_values WHERE unit = 'QN'")
        assert (latest["value"], latest["period_start"], latest["category"]) == (75.0, date(2026, 7, 1), "")
        assert await conn.fetchval("SELECT count(*) FROM report_ids") == 4

        # The write path carries on: a correction through the stream wins over both old reports; the old
        # event resent unchanged stores nothing; resent with another value it is refused as reused.
        def event(row: tuple, **changes) -> ReportReceived:
            fields = dict(zip(OLD_COLUMNS, row, strict=True)) | changes
            return ReportReceived(**{k: v for k, v in fields.items() if v is not None})

        fix = event(q3_bare, event_id=uuid.uuid4(), value=80.0, received_at=T0 + timedelta(hours=2))
        async with conn.transaction():
            result = await store_reports(
                conn, [event(q3_bare), event(q3_bare, value=71.0), fix], T0, catalog, [7, 8, 9]
            )
        assert result.stored == 1 and result.reused == [1]
        q3 = await conn.fetchrow("SELECT * FROM period_values WHERE unit = 'QN' AND period_start = '2026-07-01'")
        assert (q3["value"], q3["reports"], q3["stream_seq"]) == (80.0, 3, 9)
        assert await conn.fetchval("SELECT value FROM latest_values WHERE unit = 'QN'") == 80.0
        assert await conn.fetchval("SELECT count(*) FROM reports") == 5
    finally:
        await conn.close()
