"""ProgressRepository: set-based evaluation of every (unit, indicator) against its target, in SQL.

Three modules: ``evaluation_plan`` (the catalog and calendar as rows, in Python), ``evaluation_sql``
(the statements), and this one, which runs them in one transaction and reads the results.

``evaluate`` implements the rules of ``dxmon.progress`` (its docstring states them) for all pairs at
once — never one query per unit:

    catalog ─▶ plan (Python, per unit and per (indicator, level, day): the calendar of the target)
    period_values ─▶ facts pass  (parallel, grouped by unit and indicator: trend fit, value in force
                                  at each passed deadline)
    reports ───────▶ rates pass  (parallel, grouped by unit and period: indicators reported, on time;
                                  with a reader connection, there, beside the successors' read)
    pairs ⋈ facts ⋈ latest_values ⋈ progress_current ─▶ _progress (status, expected, overdue …,
                                                                    and the row's previous state)
        ├─▶ progress_current    rewritten; status_since kept while the status stays the same
        ├─▶ progress_snapshots  a row for each active pair whose state changed
        ├─▶ milestone_outcomes  passed milestones: met/missed by the value in force at the deadline;
        │                       a full pass past a cut-off records it (outcome_cutoffs), which locks
        │                       that day's provisional outcomes without rewriting them (migration 0016)
        ├─▶ reporting_rates     per unit, cadence and period
        └─▶ successor_values    ceased units' history summed onto their successors

What depends only on the catalog and the calendar (next milestone, glide path from the target's own
anchors, due periods, trend windows) is computed in Python by the same functions the pure evaluation
uses, once per (indicator, level, day); SQL does what depends on the data. The two passes over the
report tables take their parameters as arrays, not temp tables, so PostgreSQL can run them in
parallel workers. Writes update what changed and insert what is new, in key order (the previous
state rides along in the temp tables, so no write needs ON CONFLICT or an anti-join). Everything
happens in one transaction, serialised by an advisory lock: readers see the previous evaluation or
this one, never a mix.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime

import asyncpg

from dxmon.catalog import Catalog
from dxmon.progress import Status, Tolerance, TrendRule, local_day
from dxmon.store.evaluation_plan import RATES_HORIZON, TEMP_TABLES, plan
from dxmon.store.evaluation_sql import (
    ANY_JOINS,
    CEASED_TRENDS,
    CHANGED_RATES,
    DELETE_SUCCESSORS,
    HASH_JOINS_ONLY,
    INSERT_CURRENT,
    INSERT_OUTCOMES,
    INSERT_RATES,
    INSERT_SNAPSHOTS,
    KEEP_WORST,
    LOCK_KEY,
    PLANNED_OUTCOMES,
    RATES_COLUMNS,
    RECORD_CUTOFFS,
    REPLACE_SNAPSHOTS,
    SESSION,
    SUCCESSOR_COLUMNS,
    SUCCESSORS,
    UPDATE_CURRENT,
    UPDATE_OUTCOMES,
    UPDATE_RATES,
    facts_sql,
    outcomes_sql,
    pairs_sql,
    progress_sql,
    rates_sql,
    reported_sql,
    successor_changes_sql,
)

__all__ = ["RATES_HORIZON", "EvaluationSummary", "UnitDistribution", "evaluate", "unit_distribution"]


@dataclass(frozen=True)
class EvaluationSummary:
    """EvaluationSummary: what one evaluation pass did (``units`` None = a full pass)."""

    as_of: datetime
    units: tuple[str, ...] | None
    pairs: int
    statuses: dict[Status, int]
    changed: int
    outcomes: int
    rates: int
    successor_rows: int
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)


async def evaluate(
    conn: asyncpg.Connection,
    catalog: Catalog,
    as_of: datetime,
    units: Collection[str] | None = None,
    tolerance: Tolerance = Tolerance(),
    trend: TrendRule = TrendRule(),
    rates_since: date | None = None,
    reader: asyncpg.Connection | None = None,
) -> EvaluationSummary:
    """evaluate computes every target's status as of ``as_of`` and writes the results (module docstring).

    ``units=None`` is a full pass: rows of pairs that no longer exist are removed everywhere.
    Otherwise only the named units are re-evaluated (codes not in the catalog are ignored), plus the
    re-aggregated history of their successors. Runs in one transaction (a savepoint inside the
    caller's). Running it twice with the same arguments changes nothing the second time.
    ``rates_since`` recomputes the reporting rates of every period that ended since that day (a
    back-fill: ``dxmon rates rebuild --since``), not only those of the last RATES_HORIZON.
    ``reader``, a second connection idle meanwhile, runs the rates pass's read of the reports at the same
    time as the rest (in this transaction's snapshot, so it sees exactly the same reports).
    """
    if as_of.tzinfo is None:
        raise ValueError("as_of needs a UTC offset")
    scope = None if units is None else sorted(set(units))
    started = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(name: str) -> None:
        timings[name] = time.perf_counter() - started - sum(timings.values())

    planned = plan(catalog, as_of, scope, trend, rates_since)
    lap("plan")
    reads: asyncio.Task[list[list[asyncpg.Record]]] | None = None
    # The rates pass reads reports and reporting_rates only (with the plan's units, cadences and periods),
    # the successors pass period_values only: on the second connection, in a snapshot of this
    # transaction, they run while this one works through outcomes and statuses (after the facts pass,
    # which has the machine's cores to itself); only the rates that changed come back to be written. A
    # snapshot cannot be exported from a savepoint: inside a caller's transaction it is exported before
    # ours begins.
    snapshot = None
    if reader is not None and conn.is_in_transaction():
        snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
    try:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", LOCK_KEY)
            await conn.execute(SESSION)
            if reader is not None and snapshot is None:
                snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
            for table, columns in TEMP_TABLES.items():
                # Table names and columns are the constants above.
                await conn.execute(f"CREATE TEMP TABLE {table} ({columns}) ON COMMIT DROP")
                await conn.copy_records_to_table(table, records=planned.rows[table])
                await conn.execute(f"ANALYZE {table}")
            lap("inputs")
            await conn.execute(facts_sql(planned.passed, scope is not None), *planned.facts_args)
            # Few units ceased: index probes per unit beat the full scan the planner picks on its own.
            await conn.execute("SET LOCAL enable_seqscan = off")
            await conn.execute(CEASED_TRENDS, *planned.ceased_args)
            await conn.execute("SET LOCAL enable_seqscan = on")
            await conn.execute("CREATE INDEX ON _ceased_trends (unit, indicator)")
            await conn.execute("ANALYZE _facts (unit, indicator)")
            lap("facts")
            if reader is not None and snapshot is not None:
                reported = reported_sql(planned.words, scope is not None)
                new, gone = successor_changes_sql(scope is not None)
                changes_args = planned.successors_args + ([planned.successors] if scope is not None else [])
                statements = [
                    (f"CREATE TEMP TABLE _reported ON COMMIT DROP AS {reported}", planned.rates_args),
                    (rates_sql(planned.words), []),
                    (CHANGED_RATES, []),
                    ("SELECT count(*) FROM _rates", []),
                    (new, changes_args),
                    (gone, changes_args),
                ]
                rates_tables = {t: planned.rows[t] for t in ("_units", "_level_cadences", "_periods")}
                reads = asyncio.create_task(_read_on_reader(reader, snapshot, rates_tables, statements))
            if scope is None:
                await conn.execute(HASH_JOINS_ONLY)
            await conn.execute(pairs_sql(planned.passed))
            await conn.execute("ANALYZE _pairs (unit, indicator, grp, level)")
            # Outcomes first: a pair whose every milestone has passed shows its last outcome. A full pass
            # keeps hash joins (one hash of milestone_outcomes beats 10⁵ index probes).
            await conn.execute(outcomes_sql(planned.passed, full=scope is None), local_day(as_of))
            await conn.execute("ANALYZE _outcomes (unit, indicator, milestone)")
            await conn.execute(UPDATE_OUTCOMES, as_of)
            await conn.execute(INSERT_OUTCOMES, as_of)
            if scope is None:
                # After the outcomes were decided from the cut-offs recorded before this pass.
                await conn.execute(RECORD_CUTOFFS, as_of, local_day(as_of))
            # A full pass writes only the outcomes that changed: the plan's are counted from it.
            outcomes = await _delete_stale(
                conn,
                "milestone_outcome_rows",
                PLANNED_OUTCOMES,
                ("unit", "indicator", "milestone", "target_set"),
                scope,
            )
            lap("outcomes")
            if scope is None:
                await conn.execute(HASH_JOINS_ONLY)
            await conn.execute(
                progress_sql(planned.passed), tolerance.points, tolerance.relative, trend.min_points, as_of
            )
            if scope is None:
                await conn.execute("DELETE FROM progress_alternatives")
            else:
                await conn.execute("DELETE FROM progress_alternatives WHERE unit = ANY($1::text[])", scope)
            if planned.alternatives:
                await conn.execute(KEEP_WORST, as_of)
            lap("statuses")
            await conn.execute(UPDATE_CURRENT, as_of)
            await conn.execute(INSERT_CURRENT, as_of)
            await _delete_stale(
                conn, "progress_current", "SELECT unit, indicator FROM _progress", ("unit", "indicator"), scope
            )
            lap("write current")
            await conn.execute(REPLACE_SNAPSHOTS, as_of)
            await conn.execute(INSERT_SNAPSHOTS, as_of)
            lap("snapshots")
            await conn.execute(ANY_JOINS)
            read = None if reads is None else await reads
            if read is None:
                reported = reported_sql(planned.words, scope is not None)
                await conn.execute(f"CREATE TEMP TABLE _reported ON COMMIT DROP AS {reported}", *planned.rates_args)
                await conn.execute(rates_sql(planned.words))
                rates = await conn.fetchval("SELECT count(*) FROM _rates")
            else:
                # The reader computed the rates in this transaction's snapshot; only those that changed come.
                await conn.execute(f"CREATE TEMP TABLE _rates ({RATES_COLUMNS}) ON COMMIT DROP")
                _reported, _rates, changed_rates, ((rates,),), added, removed = read  # the statements above
                await conn.copy_records_to_table("_rates", records=changed_rates)
            await conn.execute(UPDATE_RATES, as_of)
            await conn.execute(INSERT_RATES, as_of)
            lap("rates")
            if read is not None:
                await conn.execute(DELETE_SUCCESSORS, *([r[k] for r in removed] for k in range(3)))
                names = [c.strip() for c in SUCCESSOR_COLUMNS.split(",")]
                await conn.copy_records_to_table("successor_values", records=added, columns=names)
                successor_rows = await conn.fetchval(
                    "SELECT count(*) FROM successor_values WHERE $1::text[] IS NULL OR unit = ANY($1::text[])",
                    planned.successors,
                )
            else:
                if planned.successors is None:
                    await conn.execute("DELETE FROM successor_values")
                else:
                    await conn.execute("DELETE FROM successor_values WHERE unit = ANY($1::text[])", planned.successors)
                inserted = await conn.execute(
                    f"INSERT INTO successor_values ({SUCCESSOR_COLUMNS}) {SUCCESSORS}", *planned.successors_args
                )
                successor_rows = int(inserted.split()[-1])
            lap("successors")
            counts = await conn.fetch(
                "SELECT status, count(*) AS n, count(*) FILTER (WHERE changed) AS changed FROM _progress"
                " GROUP BY status"
            )

    finally:
        if reads is not None and not reads.done():
            reads.cancel()  # the transaction failed before reading them
            await asyncio.gather(reads, return_exceptions=True)

    statuses = {Status(r["status"]): r["n"] for r in counts}
    changed = sum(r["changed"] for r in counts)
    return EvaluationSummary(
        as_of=as_of,
        units=None if scope is None else tuple(scope),
        pairs=sum(statuses.values()),
        statuses=statuses,
        changed=changed,
        outcomes=outcomes,
        rates=rates,
        successor_rows=successor_rows,
        seconds=time.perf_counter() - started,
        timings=timings,
    )


_SNAPSHOT_ID = re.compile(r"[0-9A-F]+-[0-9A-F]+(-[0-9]+)?")


async def _read_on_reader(
    reader: asyncpg.Connection | None,
    snapshot: str,
    tables: dict[str, list[tuple]],
    statements: list[tuple[str, list]],
) -> list[list[asyncpg.Record]]:
    """The rates pass and the successors' read on ``reader``, in the evaluating transaction's
    ``snapshot``: the plan's ``tables`` as temp tables there, then each statement (its rows, in order).

    Read-write only for its own temp tables (a read-only transaction cannot create them); it writes
    nothing else, and they go with it.
    """
    if reader is None or not _SNAPSHOT_ID.fullmatch(snapshot):
        raise ValueError(f"no reader, or an unexpected snapshot id {snapshot!r}")
    async with reader.transaction(isolation="repeatable_read"):
        # The id is PostgreSQL's own (checked above); SET takes no parameters.
        await reader.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
        await reader.execute(SESSION)
        # One core: the evaluating connection keeps the other.
        await reader.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        for table, rows in tables.items():
            # Table names and columns are evaluation_plan's constants.
            await reader.execute(f"CREATE TEMP TABLE {table} ({TEMP_TABLES[table]}) ON COMMIT DROP")
            await reader.copy_records_to_table(table, records=rows)
            await reader.execute(f"ANALYZE {table}")
        return [await reader.fetch(sql, *args) for sql, args in statements]


async def _delete_stale(
    conn: asyncpg.Connection, table: str, planned: str, keys: tuple[str, ...], scope: list[str] | None
) -> int:
    """Remove rows of ``table`` (in scope) whose ``keys`` the plan no longer has (targets or units gone);
    return how many rows the plan has.

    ``planned`` is a SELECT of the plan's keys (in scope). Every row it names exists in ``table`` (just
    upserted, or frozen and left alone), so equal counts mean nothing is stale and the anti-join can be
    skipped (the usual case).
    """
    where = "" if scope is None else " WHERE t.unit = ANY($1::text[])"
    args = [] if scope is None else [scope]
    # Identifiers and statements are the constants of this module and evaluation_sql, never caller input.
    present = await conn.fetchval(f"SELECT count(*) FROM {table} t{where}", *args)
    expected = await conn.fetchval(f"SELECT count(*) FROM ({planned}) p")
    if present != expected:
        match = " AND ".join(f"p.{k} = t.{k}" for k in keys)
        scoped = "" if scope is None else "t.unit = ANY($1::text[]) AND "
        await conn.execute(
            f"DELETE FROM {table} t WHERE {scoped}NOT EXISTS (SELECT 1 FROM ({planned}) p WHERE {match})", *args
        )
    return int(expected)


@dataclass(frozen=True)
class UnitDistribution:
    """UnitDistribution: the units that exist on ``day``, by how their evaluated targets stand.

    A unit counts once, in the first group that applies: ``behind`` (behind or at risk on at least
    one indicator), ``silent`` (reporting missing on at least half of its indicators), ``fine`` (the
    rest: on track, met or exceeded). ``worst`` lists the units furthest behind.
    """

    fine: int
    behind: int
    silent: int
    worst: list[asyncpg.Record]

    @property
    def total(self) -> int:
        return self.fine + self.behind + self.silent


_DISTRIBUTION = """
WITH per_unit AS (
    SELECT p.unit, count(*) FILTER (WHERE p.status IN ('behind', 'at_risk')) AS behind,
           count(*) FILTER (WHERE p.reporting = 'missing') AS missing, count(*) AS tracked
    FROM progress_current p JOIN units u ON u.code = p.unit
    WHERE p.active AND (u.valid_to IS NULL OR u.valid_to >= $1::date)
    GROUP BY p.unit
)
SELECT count(*) FILTER (WHERE behind > 0) AS behind,
       count(*) FILTER (WHERE behind = 0 AND 2 * missing >= tracked) AS silent,
       count(*) FILTER (WHERE behind = 0 AND 2 * missing < tracked) AS fine
FROM per_unit
"""
_WORST = """
SELECT p.unit, u.name_vi, count(*) FILTER (WHERE p.status IN ('behind', 'at_risk')) AS behind,
       count(*) FILTER (WHERE p.reporting = 'missing') AS missing, count(*) AS tracked
FROM progress_current p JOIN units u ON u.code = p.unit
WHERE p.active AND (u.valid_to IS NULL OR u.valid_to >= $1::date)
GROUP BY p.unit, u.name_vi
HAVING count(*) FILTER (WHERE p.status IN ('behind', 'at_risk') OR p.reporting = 'missing') > 0
ORDER BY 3 DESC, 4 DESC, 1
LIMIT $2
"""


async def unit_distribution(conn: asyncpg.Connection, day: date, worst: int = 10) -> UnitDistribution:
    """unit_distribution counts the units existing on ``day`` by how they stand (see UnitDistribution)."""
    row = await conn.fetchrow(_DISTRIBUTION, day)
    return UnitDistribution(row["fine"], row["behind"], row["silent"], await conn.fetch(_WORST, day, worst))
