"""ReportsRepository: idempotent storage of accepted reports and the tables derived from them.

``store_reports`` is the aggregator's write path and the only way rows enter ``reports``:

    events ─COPY─▶ temp stage ─INSERT … ON CONFLICT DO NOTHING RETURNING─▶ reports
                                         │ only rows new to the database
                                         ├─▶ period_values   (latest received per period wins)
                                         ├─▶ latest_values   (newest period per unit/indicator)
                                         └─▶ ingest_minutely (stored count and ingest→commit lag)

Everything happens in one statement inside the caller's transaction, so a redelivered batch
inserts nothing and changes nothing: replays are harmless and counts stay exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from dxmon.contracts import ReportReceived

REPORT_COLUMNS = [
    "observed_at", "event_id", "unit", "indicator", "value", "numerator", "denominator",
    "note", "source", "agency", "key_id", "received_at", "schema_version",
]

_STAGE = "stage_reports"

_CREATE_STAGE = f"""
CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (LIKE reports INCLUDING DEFAULTS) ON COMMIT DELETE ROWS
"""

# $1 = commit time used for the lag figures (the statement's now() is the transaction start).
_STORE = f"""
WITH inserted AS (
    INSERT INTO reports ({", ".join(REPORT_COLUMNS)}, stored_at)
    SELECT {", ".join(REPORT_COLUMNS)}, $1 FROM {_STAGE}
    ON CONFLICT DO NOTHING
    RETURNING unit, indicator, observed_at, event_id, received_at, stored_at,
              coalesce(value, 100 * numerator / nullif(denominator, 0)) AS effective_value,
              numerator, denominator
),
per_period AS (
    SELECT DISTINCT ON (unit, indicator, observed_at)
           unit, indicator, observed_at, effective_value, numerator, denominator, event_id, received_at,
           count(*) OVER (PARTITION BY unit, indicator, observed_at) AS n,
           min(received_at) OVER (PARTITION BY unit, indicator, observed_at) AS first_received_at
    FROM inserted
    ORDER BY unit, indicator, observed_at, received_at DESC, event_id DESC
),
upsert_period AS (
    INSERT INTO period_values AS p
        (unit, indicator, observed_at, value, numerator, denominator, event_id, received_at, reports,
         first_received_at)
    SELECT unit, indicator, observed_at, effective_value, numerator, denominator, event_id, received_at, n,
           first_received_at
    FROM per_period
    ON CONFLICT (unit, indicator, observed_at) DO UPDATE SET
        reports = p.reports + EXCLUDED.reports,
        value = CASE WHEN (EXCLUDED.received_at, EXCLUDED.event_id) > (p.received_at, p.event_id)
                     THEN EXCLUDED.value ELSE p.value END,
        numerator = CASE WHEN (EXCLUDED.received_at, EXCLUDED.event_id) > (p.received_at, p.event_id)
                         THEN EXCLUDED.numerator ELSE p.numerator END,
        denominator = CASE WHEN (EXCLUDED.received_at, EXCLUDED.event_id) > (p.received_at, p.event_id)
                           THEN EXCLUDED.denominator ELSE p.denominator END,
        event_id = CASE WHEN (EXCLUDED.received_at, EXCLUDED.event_id) > (p.received_at, p.event_id)
                        THEN EXCLUDED.event_id ELSE p.event_id END,
        received_at = greatest(p.received_at, EXCLUDED.received_at),
        first_received_at = least(p.first_received_at, EXCLUDED.first_received_at)
    RETURNING 1
),
newest AS (
    SELECT DISTINCT ON (unit, indicator)
           unit, indicator, observed_at, effective_value, numerator, denominator, event_id, received_at
    FROM per_period
    ORDER BY unit, indicator, observed_at DESC, received_at DESC, event_id DESC
),
upsert_latest AS (
    INSERT INTO latest_values AS l
        (unit, indicator, observed_at, value, numerator, denominator, event_id, received_at)
    SELECT unit, indicator, observed_at, effective_value, numerator, denominator, event_id, received_at
    FROM newest
    ON CONFLICT (unit, indicator) DO UPDATE SET
        observed_at = EXCLUDED.observed_at, value = EXCLUDED.value, numerator = EXCLUDED.numerator,
        denominator = EXCLUDED.denominator, event_id = EXCLUDED.event_id, received_at = EXCLUDED.received_at
    WHERE (EXCLUDED.observed_at, EXCLUDED.received_at, EXCLUDED.event_id)
        > (l.observed_at, l.received_at, l.event_id)
    RETURNING 1
),
upsert_minutely AS (
    INSERT INTO ingest_minutely AS m (bucket, stored, lag_ms_sum, lag_ms_max)
    SELECT date_trunc('minute', $1::timestamptz), count(*),
           sum(greatest(0, extract(epoch FROM stored_at - received_at) * 1000)),
           max(greatest(0, extract(epoch FROM stored_at - received_at) * 1000))
    FROM inserted
    HAVING count(*) > 0
    ON CONFLICT (bucket) DO UPDATE SET
        stored = m.stored + EXCLUDED.stored,
        lag_ms_sum = m.lag_ms_sum + EXCLUDED.lag_ms_sum,
        lag_ms_max = greatest(m.lag_ms_max, EXCLUDED.lag_ms_max)
    RETURNING 1
)
-- Data-modifying CTEs run exactly once whether or not they are read.
SELECT unit, array_agg(DISTINCT indicator) AS indicators, count(*) AS stored
FROM inserted
GROUP BY unit
"""


@dataclass(frozen=True)
class StoredUnit:
    """StoredUnit: how many reports of one unit were new to the database in a batch."""

    unit: str
    indicators: list[str]
    stored: int


def report_record(e: ReportReceived) -> tuple:
    """report_record is the row of ``reports`` for one event, in REPORT_COLUMNS order."""
    return (
        e.observed_at, e.event_id, e.unit, e.indicator, e.value, e.numerator, e.denominator,
        e.note, e.source, e.agency, e.key_id, e.received_at, e.schema_version,
    )


async def store_reports(conn: asyncpg.Connection, events: Sequence[ReportReceived], committed_at) -> list[StoredUnit]:
    """store_reports writes ``events`` idempotently; the caller owns the transaction.

    Returns the units with at least one report new to the database (empty for a pure replay).
    """
    if not conn.is_in_transaction():
        # The stage empties itself at commit; outside a transaction the COPY would vanish at once.
        raise RuntimeError("store_reports must run inside a transaction")
    if not events:
        return []
    await conn.execute(_CREATE_STAGE)
    await conn.copy_records_to_table(_STAGE, records=[report_record(e) for e in events], columns=REPORT_COLUMNS)
    rows = await conn.fetch(_STORE, committed_at)
    return [StoredUnit(r["unit"], sorted(r["indicators"]), r["stored"]) for r in rows]


async def count_reports(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT count(*) FROM reports")


async def record_dead_letter(
    conn: asyncpg.Connection, stream_seq: int, subject: str, reason: str, detail: str, payload: str
) -> None:
    """record_dead_letter keeps a dead-lettered report visible to dashboards (idempotent per stream seq)."""
    await conn.execute(
        "INSERT INTO dead_letters (stream_seq, subject, reason, detail, payload) VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT (stream_seq) DO NOTHING",
        stream_seq, subject, reason, detail, payload,
    )
