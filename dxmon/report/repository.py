"""repository: reads what the evaluation stored and builds the ``Report`` (the only SQL of the report).

It never judges anything itself: a row's result, value and provisional/final flag are the outcome the
evaluation decided for the set's milestone (``milestone_outcomes``), or, while that milestone is ahead,
the current result (``progress_current``). Reporting rates are ``reporting_rates`` summed over the
periods that end within the report's period, as the dashboards sum them. The Nguyên nhân, giải pháp of
a row is the explanation the unit gave for the period of the value shown (``explanations_for``).
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime

import asyncpg

from dxmon.catalog import Catalog, Level, Unit
from dxmon.contracts import LOCAL_TZ
from dxmon.progress import Status
from dxmon.report.model import Rates, Report, ReportPeriod, Row, UnitShare, milestone_for, rank
from dxmon.report.target_sets import (
    INFERRED,
    outcome_sets,
    set_milestones,
    set_title,
    source_texts,
)
from dxmon.store.reports_repository import explanations_for

PROVINCE_ISSUER = ("UBND TỈNH QUẢNG NINH", "SỞ KHOA HỌC VÀ CÔNG NGHỆ")


def issuer_of(unit: Unit, day: date) -> str:
    """issuer_of: the issuing body printed under the province (Nghị định 30/2020: cơ quan ban hành)."""
    if unit.level is Level.PROVINCE:
        return PROVINCE_ISSUER[1]
    name = unit.name_on(day)
    return (name if unit.level is Level.DEPARTMENT else f"UBND {name}").upper()


def unit_rows(
    catalog: Catalog, unit: Unit, target_set: str, period: ReportPeriod, outcomes: dict, current: dict
) -> list[Row]:
    """unit_rows: the unit's annex rows, one per indicator whose target the set gives a milestone.

    A unit is judged on a milestone only if it existed by its deadline and still existed in the
    period (a commune created after a 2023 milestone has no outcome for it). A milestone still ahead
    shows the evaluation's current result against this set's target: ``current`` holds, by (unit,
    indicator, set), the judgement shown (progress_current) and the others (progress_alternatives).
    """
    rows = []
    for ind in catalog.indicators.values():
        milestones = {m.deadline: m for m in set_milestones(catalog, target_set, ind, unit.level)}
        deadline = milestone_for(list(milestones), period)
        if deadline is None or unit.valid_from > deadline or (unit.valid_to and unit.valid_to < period.start):
            continue
        m = milestones[deadline]
        result, value, observed_at, provisional, final = None, None, None, False, False
        comparator, target_value = m.comparator, m.value
        if (o := outcomes.get((unit.code, ind.code, deadline))) is not None:
            result, value, observed_at = Status(o["status"]), o["value"], o.get("deciding_observed_at")
            final = bool(o["final"]) and not o["reopened"]
            provisional = not final
            comparator, target_value = o["comparator"], o["target"]
        elif (c := current.get((unit.code, ind.code, target_set))) is not None and c["milestone"] == deadline:
            result = Status(c["status"])
            decided = c["cutoff"] is not None
            value = c["deciding_value"] if decided else c["value"]
            observed_at = c.get("deciding_observed_at") if decided else c.get("last_observed_at")
            provisional, final = bool(c["provisional"]), bool(c["final"])
        rows.append(
            Row(
                unit=unit.code,
                indicator=ind.code,
                name=ind.name_vi,
                pillar=ind.pillar,
                measure=ind.measure.value,
                comparator=comparator,
                target=target_value,
                deadline=deadline,
                result=result,
                value=value,
                provisional=provisional,
                final=final,
                sources=m.source or (INFERRED,),
                observed_at=observed_at,
            )
        )
    return rows


async def explained(conn: asyncpg.Connection, catalog: Catalog, rows: list[Row]) -> list[Row]:
    """explained fills each row's Nguyên nhân, giải pháp: the explanation of the period of the value it shows
    (the deciding value's once the milestone is decided, else the latest), as the unit gave it; a province
    row gets the province's own, not its communes'. Rows without a value get none."""
    texts: dict[tuple[str, str], str] = {}
    for moment in {r.observed_at for r in rows if r.observed_at is not None}:  # a few: one per deciding moment
        found = await explanations_for(conn, sorted({r.unit for r in rows}), moment, catalog)
        for r in rows:
            if r.observed_at == moment and (e := found.get((r.unit, r.indicator))) is not None:
                texts[(r.unit, r.indicator)] = e.text
    return [dataclasses.replace(r, explanation=texts.get((r.unit, r.indicator), "")) for r in rows]


async def build_report(
    conn: asyncpg.Connection,
    catalog: Catalog,
    *,
    target_set: str,
    period: ReportPeriod,
    unit: str,
    now: datetime,
    within: frozenset[str] | None = None,
) -> Report:
    """build_report: the report of ``unit`` (and the units below it, ranked) for ``period``.

    ``within`` (an agency key's scope, ``access.scope``) limits the units below that are ranked and
    counted in the reporting rates; None: all of them. Raises KeyError for a unit not in the catalog and
    UnknownTargetSet for a set not in it.
    """
    chosen = catalog.units[unit]
    title = set_title(catalog, target_set)
    day = min(period.end, now.astimezone(LOCAL_TZ).date())
    below = [catalog.units[c] for c in sorted(catalog.descendants(unit)) if within is None or c in within]
    ranked = [u for u in below if u.active_on(day)]
    scope = [unit, *(u.code for u in below)]
    # The set's own outcomes win over those stored under NQ09 for it (target_sets.outcome_sets).
    outcome_rows = await conn.fetch(
        "SELECT unit, indicator, milestone, status, value, target, comparator, final, reopened, deciding_observed_at"
        " FROM milestone_outcomes WHERE unit = ANY($1::text[]) AND target_set = ANY($2::text[])"
        " ORDER BY target_set = $3",
        [unit, *(u.code for u in ranked)],
        list(outcome_sets(catalog, target_set)),
        target_set,
    )
    current_rows = await conn.fetch(
        "SELECT unit, indicator, milestone, status, value, deciding_value, cutoff, provisional, final, evaluated_at,"
        " last_observed_at, deciding_observed_at, target_set FROM progress_current WHERE unit = ANY($1::text[])",
        [unit, *(u.code for u in ranked)],
    )
    rates = await conn.fetchrow(
        "SELECT coalesce(sum(expected), 0)::int AS expected, coalesce(sum(actual), 0)::int AS actual,"
        " coalesce(sum(on_time), 0)::int AS on_time FROM reporting_rates"
        " WHERE unit = ANY($1::text[]) AND period_end BETWEEN $2 AND $3",
        scope,
        period.start,
        period.end,
    )
    outcomes = {(r["unit"], r["indicator"], r["milestone"]): r for r in outcome_rows}
    alternative_rows = await conn.fetch(
        "SELECT unit, indicator, milestone, status, value, deciding_value, cutoff, provisional, final,"
        " last_observed_at, deciding_observed_at, target_set FROM progress_alternatives"
        " WHERE unit = ANY($1::text[]) AND target_set = $2",
        [unit, *(u.code for u in ranked)],
        target_set,
    )
    current = {(r["unit"], r["indicator"], r["target_set"]): r for r in [*current_rows, *alternative_rows]}
    evaluated = max((r["evaluated_at"] for r in current_rows if r["unit"] == unit), default=None)
    rows = await explained(conn, catalog, unit_rows(catalog, chosen, target_set, period, outcomes, current))
    shares = []
    for u in ranked:
        mine = unit_rows(catalog, u, target_set, period, outcomes, current)
        if mine:
            shares.append(UnitShare(u.code, u.name_on(day), sum(r.met for r in mine), len(mine)))
    return Report(
        target_set=target_set,
        set_title=title,
        period=period,
        unit=unit,
        unit_name=chosen.name_on(day),
        issuer=issuer_of(chosen, day),
        evaluated_at=evaluated,
        rows=tuple(rows),
        ranking=rank(shares),
        rates=Rates(rates["expected"], rates["actual"], rates["on_time"]),
        sources=source_texts(),
    )
