"""ReportsRepository: idempotent storage of accepted reports and the tables derived from them.

``store_reports`` is the aggregator's write path and the only way rows enter ``reports``:

    events ─COPY─▶ temp stage ─INSERT … ON CONFLICT DO NOTHING─▶ report_ids (agency, event_id)
                                     │ only reports new to the database
                                     ├─▶ reports          (every report, as history)
                                     ├─▶ period_values    (per unit, indicator, category, period: the
                                     │                     report received last is in force)
                                     ├─▶ latest_values    (newest period per unit, indicator, category)
                                     └─▶ ingest_minutely  (stored count and ingest→commit lag)

    then, for indicators with categories ─▶ period_values/latest_values category '' (their total)

A period's explanation (Nguyên nhân, giải pháp) follows its own rule: it is the explanation of the
report received last among the period's reports that carried the field, so a correction that leaves it
out keeps it and one with an empty explanation withdraws it. A total has none of its own: its
categories keep theirs (``explanations_for`` joins them, labelled).

Everything happens inside the caller's transaction, so a redelivered batch inserts nothing and
changes nothing: replays are harmless and counts stay exact. Event ids are
scoped to the agency: the same id from two agencies is two reports; the same id from one agency
with different content is not stored and comes back in ``StoreResult.reused`` (the aggregator
dead-letters it as ``event-id-reused``).

"Received last" is the order of the DX_REPORTS stream (``stream_seq``): one total order however
many ingest replicas there are and whatever their clocks say; then ``received_at`` and ``event_id``
(rows stored before 0004, or by callers without a stream, have no sequence and count as older).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from uuid import UUID

import asyncpg

from dxmon.catalog import Catalog, Indicator, Measure
from dxmon.contracts import ReportReceived
from dxmon.periods import ReportingPeriod

REPORT_COLUMNS = [
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
    "category",
    "period_start",
    "stream_seq",
    "explanation",
]
# idx: the event's position in the call; repeat: an (agency, event_id) already earlier in the batch,
# not stored, only checked for reuse.
_STAGE_COLUMNS = [*REPORT_COLUMNS, "period_end", "percent_only", "idx", "repeat"]
_PV = [
    "unit",
    "indicator",
    "category",
    "period_start",
    "period_end",
    "observed_at",
    "value",
    "numerator",
    "denominator",
    "percent_only",
    "includes_percent_only",
    "event_id",
    "received_at",
    "stream_seq",
    "reports",
    "first_received_at",
]
_PV_LIST = ", ".join(_PV)
# The period's explanation and the order key of the report that last set or withdrew it (_EXPLANATION_NEWER).
_EXPLANATION = ["explanation", "explanation_event_id", "explanation_received_at", "explanation_stream_seq"]
_PVE_LIST = ", ".join(_PV + _EXPLANATION)

_STAGE = "stage_reports"

_CREATE_STAGE = f"""
CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (
    LIKE reports INCLUDING DEFAULTS, period_end date NOT NULL, percent_only boolean NOT NULL,
    idx integer NOT NULL, repeat boolean NOT NULL
) ON COMMIT DELETE ROWS
"""

_DIGEST = (
    "dx_report_digest(s.unit, s.indicator, s.category, s.observed_at, s.value, s.numerator, s.denominator, "
    "s.note, s.source, s.explanation)"
)

# Later in the stream order wins; rows without a sequence (before 0004) count as the oldest.
_ORDER = "coalesce({0}stream_seq, 0) DESC, {0}received_at DESC, {0}event_id DESC"


def _later(seq: str, received_at: str, event_id: str) -> str:
    """The incoming row (EXCLUDED) is later in the stream order than the stored one (p), by the given key."""
    return (
        f"(coalesce(EXCLUDED.{seq}, 0), EXCLUDED.{received_at}, EXCLUDED.{event_id})"
        f" > (coalesce(p.{seq}, 0), p.{received_at}, p.{event_id})"
    )


_NEWER = _later("stream_seq", "received_at", "event_id")
# The batch's explanation replaces the stored one when it comes from a report later in the same order;
# a batch without one (explanation_event_id NULL) changes nothing.
_EXPLANATION_NEWER = (
    "EXCLUDED.explanation_event_id IS NOT NULL AND (p.explanation_event_id IS NULL OR "
    f"{_later('explanation_stream_seq', 'explanation_received_at', 'explanation_event_id')})"
)
_IN_FORCE = [
    "observed_at",
    "value",
    "numerator",
    "denominator",
    "percent_only",
    "event_id",
    "received_at",
    "stream_seq",
]


def _latest_member(column: str) -> str:
    return f"(array_agg({column} ORDER BY {_ORDER.format('')}))[1]"


def _upsert_latest(source: str, columns: list[str]) -> str:
    """The newest period's row of ``source`` replaces an older one in latest_values (``columns`` copied)."""
    listed = ", ".join(columns)
    return f"""
    INSERT INTO latest_values AS l ({listed})
    SELECT {listed} FROM {source}
    ORDER BY unit, indicator, category
    ON CONFLICT (unit, indicator, category) DO UPDATE SET
        {", ".join(f"{c} = EXCLUDED.{c}" for c in columns[3:])}
    WHERE EXCLUDED.period_start >= l.period_start
"""


# $1 = commit time used for the lag figures (the statement's now() is the transaction start).
_STORE = f"""
WITH fresh AS (
    INSERT INTO report_ids (agency, event_id, observed_at, digest)
    SELECT s.agency, s.event_id, s.observed_at, {_DIGEST}
    FROM {_STAGE} s
    WHERE NOT s.repeat
    ORDER BY s.agency, s.event_id  -- one lock order for concurrent aggregators
    ON CONFLICT DO NOTHING
    RETURNING agency, event_id
),
new_reports AS (
    SELECT s.* FROM {_STAGE} s JOIN fresh f ON f.agency = s.agency AND f.event_id = s.event_id
    WHERE NOT s.repeat
),
inserted AS (
    INSERT INTO reports ({", ".join(REPORT_COLUMNS)}, stored_at)
    SELECT {", ".join(REPORT_COLUMNS)}, $1 FROM new_reports
    RETURNING unit, indicator, received_at, stored_at
),
per_period AS (
    SELECT DISTINCT ON (unit, indicator, category, period_start)
           unit, indicator, category, period_start, period_end, observed_at,
           coalesce(value, 100 * numerator / nullif(denominator, 0)) AS value, numerator, denominator,
           percent_only, false AS includes_percent_only, event_id, received_at, stream_seq,
           count(*) OVER (PARTITION BY unit, indicator, category, period_start) AS reports,
           -- when the period's first report arrived: timeliness (reporting on time or late)
           min(received_at) OVER (PARTITION BY unit, indicator, category, period_start) AS first_received_at
    FROM new_reports
    ORDER BY unit, indicator, category, period_start, {_ORDER.format("")}
),
-- Per period, the batch's last report that carried an explanation ('' withdraws: stored as NULL).
explained AS (
    SELECT DISTINCT ON (unit, indicator, category, period_start)
           unit, indicator, category, period_start, nullif(explanation, '') AS explanation,
           event_id AS explanation_event_id, received_at AS explanation_received_at,
           stream_seq AS explanation_stream_seq
    FROM new_reports
    WHERE explanation IS NOT NULL
    ORDER BY unit, indicator, category, period_start, {_ORDER.format("")}
),
upsert_period AS (
    INSERT INTO period_values AS p ({_PVE_LIST})
    SELECT {", ".join(f"pp.{c}" for c in _PV)}, {", ".join(f"e.{c}" for c in _EXPLANATION)}
    FROM per_period pp
    LEFT JOIN explained e USING (unit, indicator, category, period_start)
    ORDER BY unit, indicator, category, period_start
    ON CONFLICT (unit, indicator, category, period_start) DO UPDATE SET
        reports = p.reports + EXCLUDED.reports,
        first_received_at = least(p.first_received_at, EXCLUDED.first_received_at),
        {", ".join(f"{c} = CASE WHEN {_NEWER} THEN EXCLUDED.{c} ELSE p.{c} END" for c in _IN_FORCE)},
        {", ".join(f"{c} = CASE WHEN {_EXPLANATION_NEWER} THEN EXCLUDED.{c} ELSE p.{c} END" for c in _EXPLANATION)}
    RETURNING {_PVE_LIST}
),
newest AS (
    SELECT DISTINCT ON (unit, indicator, category) {_PVE_LIST}
    FROM upsert_period
    ORDER BY unit, indicator, category, period_start DESC
),
upsert_latest AS ({_upsert_latest("newest", _PV + _EXPLANATION)} RETURNING 1),
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

# Totals of indicators with categories, per (unit, indicator, period) whose categories were written.
# Two aggregators may write two categories of one period at once; each recomputes the total from the
# committed state under a lock taken after its own writes, in a statement (snapshot) started after
# the lock: the last to commit always sees every category. Deadlocks are retried (is_transient).
_TOTAL_KEYS = f"""
SELECT DISTINCT unit, indicator, period_start FROM {_STAGE} WHERE category <> '' AND NOT repeat
"""

_LOCK_TOTALS = f"""
SELECT pg_advisory_xact_lock(25720, hashtext(unit || chr(31) || indicator || chr(31) || period_start::text))
FROM ({_TOTAL_KEYS}) k
ORDER BY unit, indicator, period_start
"""

_TOTALS = f"""
WITH members AS (
    SELECT pv.* FROM period_values pv
    JOIN ({_TOTAL_KEYS}) k ON k.unit = pv.unit AND k.indicator = pv.indicator AND k.period_start = pv.period_start
    WHERE pv.category <> ''
),
totals AS (
    SELECT unit, indicator, '' AS category, period_start, max(period_end) AS period_end,
           {_latest_member("observed_at")} AS observed_at,
           -- Ratios by summed parts (never by averaging percentages); a member with only a published
           -- percentage cannot be weighted, so it is left out of the sums and flagged. Counts by sum.
           CASE WHEN bool_or(numerator IS NOT NULL OR percent_only)
                THEN coalesce(100 * sum(numerator) / nullif(sum(denominator), 0), avg(value))
                ELSE sum(value) END AS value,
           sum(numerator) AS numerator, sum(denominator) AS denominator,
           bool_and(percent_only) AS percent_only, bool_or(percent_only) AS includes_percent_only,
           {_latest_member("event_id")} AS event_id, {_latest_member("received_at")} AS received_at,
           {_latest_member("stream_seq")} AS stream_seq, sum(reports)::integer AS reports,
           min(first_received_at) AS first_received_at
    FROM members
    GROUP BY unit, indicator, period_start
),
upsert_totals AS (
    INSERT INTO period_values AS p ({_PV_LIST})
    SELECT {_PV_LIST} FROM totals
    ORDER BY unit, indicator, period_start
    ON CONFLICT (unit, indicator, category, period_start) DO UPDATE SET
        {", ".join(f"{c} = EXCLUDED.{c}" for c in _PV[4:])}
    RETURNING {_PV_LIST}
),
newest AS (
    SELECT DISTINCT ON (unit, indicator) {_PV_LIST}
    FROM upsert_totals
    ORDER BY unit, indicator, period_start DESC
)
{_upsert_latest("newest", _PV)}
"""

# A separate statement: it sees ids committed by another aggregator while the insert above waited.
# Every staged report, repeats included, is compared with what is stored under its (agency, event_id).
# Skipped when the batch has no repeats and _STORE inserted every report's id itself (the usual batch):
# then each id's stored digest is the one just computed from that very report, so nothing can differ.
_REUSED = f"""
SELECT s.idx
FROM {_STAGE} s JOIN report_ids r ON r.agency = s.agency AND r.event_id = s.event_id
WHERE r.digest <> {_DIGEST}
"""


@dataclass(frozen=True)
class StoredUnit:
    """StoredUnit: how many reports of one unit were new to the database in a batch."""

    unit: str
    indicators: list[str]
    stored: int


@dataclass(frozen=True)
class StoreResult:
    """StoreResult: the units with reports new to the database, and the events not stored because
    their agency had already used their event id for a report with different content (indices into
    the events given)."""

    units: list[StoredUnit]
    reused: list[int]

    @property
    def stored(self) -> int:
        return sum(u.stored for u in self.units)


@cache
def _shipped_catalog() -> Catalog:
    return Catalog.load()


def report_record(
    e: ReportReceived, catalog: Catalog, stream_seq: int | None = None, period: ReportingPeriod | None = None
) -> tuple:
    """report_record is the row of ``reports`` for one event (REPORT_COLUMNS), then its period_end and
    percent_only: the period comes from the indicator's cadence and the programme's reporting window
    (``period``, when given, is ``catalog.period_of(e.indicator, e.observed_at)`` already computed)."""
    if period is None:
        period = catalog.period_of(e.indicator, e.observed_at)
    percent_only = catalog.indicators[e.indicator].measure is Measure.RATIO and e.numerator is None
    return (
        e.observed_at,
        e.event_id,
        e.unit,
        e.indicator,
        e.value,
        e.numerator,
        e.denominator,
        e.note,
        e.source,
        e.agency,
        e.key_id,
        e.received_at,
        e.schema_version,
        e.category or "",
        period.start,
        stream_seq,
        e.explanation,
        period.end,
        percent_only,
    )


async def store_reports(
    conn: asyncpg.Connection,
    events: Sequence[ReportReceived],
    committed_at,
    catalog: Catalog | None = None,
    stream_seqs: Sequence[int | None] | None = None,
) -> StoreResult:
    """store_reports writes ``events`` idempotently; the caller owns the transaction.

    ``catalog`` gives each indicator's cadence (default: the shipped catalog); ``stream_seqs`` the
    DX_REPORTS sequence of each event (the aggregator's order of arrival). Every event's indicator
    must be in the catalog.
    """
    if not conn.is_in_transaction():
        # The stage empties itself at commit; outside a transaction the COPY would vanish at once.
        raise RuntimeError("store_reports must run inside a transaction")
    if not events:
        return StoreResult([], [])
    catalog = catalog or _shipped_catalog()
    seqs = list(stream_seqs) if stream_seqs is not None else [None] * len(events)
    # Within the batch, the first arrival of an (agency, event_id) is the one that may be stored; later
    # ones are repeats, compared (like the first) with whatever ends up stored under that id.
    seen: set[tuple[str, UUID]] = set()
    # A batch's reports fall in few periods: each (indicator, instant) is looked up once.
    periods: dict[tuple[str, datetime], ReportingPeriod] = {}
    records = []
    for i in sorted(range(len(events)), key=lambda i: (seqs[i] is None, seqs[i] or 0, i)):
        e = events[i]
        key = (e.agency, e.event_id)
        at = (e.indicator, e.observed_at)
        period = periods.get(at)
        if period is None:
            period = periods[at] = catalog.period_of(e.indicator, e.observed_at)
        records.append((*report_record(e, catalog, seqs[i], period), i, key in seen))
        seen.add(key)
    await conn.execute(_CREATE_STAGE)
    await conn.copy_records_to_table(_STAGE, records=records, columns=_STAGE_COLUMNS)
    rows = await conn.fetch(_STORE, committed_at)
    if any(e.category for e in events):
        await conn.execute(_LOCK_TOTALS)
        await conn.execute(_TOTALS)
    units = [StoredUnit(r["unit"], sorted(r["indicators"]), r["stored"]) for r in rows]
    # len(seen): the staged reports that are not repeats; each one stored is an id _STORE inserted.
    every_id_new = len(seen) == len(records) and sum(u.stored for u in units) == len(seen)
    reused = [] if every_id_new else sorted(r["idx"] for r in await conn.fetch(_REUSED))
    return StoreResult(units, reused)


@dataclass(frozen=True)
class Explanation:
    """Explanation: the Nguyên nhân, giải pháp of one unit's indicator, and the period it explains."""

    text: str
    period_start: date


def explanation_text(indicator: Indicator, by_category: Mapping[str, str]) -> str:
    """explanation_text: one explanation as people read it; an indicator with categories gets one line per
    category that has one, labelled by the category's name ("Cấp xã: …"), in the catalog's order."""
    if set(by_category) <= {""}:
        return by_category.get("", "")
    order = {c.code: i for i, c in enumerate(indicator.categories)}
    lines = []
    for code in sorted(by_category, key=lambda c: (order.get(c, len(order)), c)):
        category = indicator.category(code)
        label = category.name_vi if category else code
        lines.append(f"{label[:1].upper()}{label[1:]}: {by_category[code]}")
    return "\n".join(lines)


_EXPLANATIONS = """
WITH in_force AS (
    -- The period in force at $2 of each (unit, indicator): the latest one with a value observed by then.
    SELECT DISTINCT ON (unit, indicator) unit, indicator, period_start
    FROM period_values
    WHERE unit = ANY($1::text[]) AND category = '' AND observed_at <= $2
    ORDER BY unit, indicator, period_start DESC
)
SELECT pv.unit, pv.indicator, pv.category, pv.period_start, pv.explanation
FROM in_force f
JOIN period_values pv USING (unit, indicator, period_start)
WHERE pv.explanation IS NOT NULL
"""


async def explanations_for(
    conn: asyncpg.Connection,
    units: Sequence[str],
    as_of: datetime,
    catalog: Catalog | None = None,
) -> dict[tuple[str, str], Explanation]:
    """explanations_for: per (unit, indicator) of ``units``, the explanation of the value in force at ``as_of``.

    The period in force is the latest whose value was observed by ``as_of`` (as the evaluation takes it);
    only pairs whose period has an explanation are in the answer. For an indicator with categories the
    categories' explanations are joined, one labelled line each (``explanation_text``).
    """
    catalog = catalog or _shipped_catalog()
    found: dict[tuple[str, str], dict[str, str]] = {}
    starts: dict[tuple[str, str], date] = {}
    for r in await conn.fetch(_EXPLANATIONS, list(units), as_of):
        key = (r["unit"], r["indicator"])
        found.setdefault(key, {})[r["category"]] = r["explanation"]
        starts[key] = r["period_start"]
    return {
        key: Explanation(explanation_text(catalog.indicators[key[1]], texts), starts[key])
        for key, texts in found.items()
        if key[1] in catalog.indicators
    }


async def record_dead_letter(
    conn: asyncpg.Connection, stream_seq: int, subject: str, reason: str, detail: str, payload: str
) -> None:
    """record_dead_letter keeps a dead-lettered report visible to dashboards (idempotent per stream seq)."""
    await conn.execute(
        "INSERT INTO dead_letters (stream_seq, subject, reason, detail, payload) VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT (stream_seq) DO NOTHING",
        stream_seq,
        subject,
        reason,
        detail,
        payload,
    )
