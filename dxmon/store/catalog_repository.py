"""CatalogRepository: copies the programme catalog (units, indicators, target sets, targets) into tables.

The YAML files are the source of truth; the tables exist so SQL (dashboards, evaluation) can join
on them. ``sync_catalog`` replaces the table contents in one transaction, so readers see either the
old catalog or the new one, never a mix.
"""

from __future__ import annotations

import asyncpg

from dxmon.catalog import Catalog


async def sync_catalog(conn: asyncpg.Connection, catalog: Catalog) -> dict[str, int]:
    """sync_catalog makes the catalog tables equal to ``catalog`` and returns row counts."""
    units = [
        (u.code, u.name_vi, u.level.value, u.type, u.parent, u.valid_from, u.valid_to, u.gso)
        for u in catalog.units.values()
    ]
    successors = [(u.code, s, s in u.partial_successors) for u in catalog.units.values() for s in u.successors]
    indicators = [
        (
            i.code,
            i.pillar.value,
            i.name_vi,
            i.name_en,
            i.measure.value,
            i.direction.value,
            sorted(level.value for level in i.applies_to),
            i.cadence.period.value,
            i.cadence.timely_days,
            i.cadence.grace_days,
        )
        for i in catalog.indicators.values()
    ]
    target_sets = [
        (s.code, s.title_vi, s.document, s.applies_from, s.applies_to, s.binding, s.cutoff, s.continues, list(s.source))
        for s in catalog.target_sets.values()
    ]
    # One row per (indicator, level, set): a catalog target may cover several levels.
    targets = [
        (
            t.indicator,
            level.value,
            t.target_set,
            t.baseline.value if t.baseline else None,
            t.baseline.date if t.baseline else None,
        )
        for t in catalog.targets()
        for level in sorted(t.applies_to)
    ]
    milestones = [
        (t.indicator, level.value, t.target_set, m.deadline, m.value, m.comparator)
        for t in catalog.targets()
        for level in sorted(t.applies_to)
        for m in t.milestones
    ]
    async with conn.transaction():
        # Children first; the catalog is small (a few hundred rows), so delete-and-copy is simplest.
        for table in ("target_milestones", "targets", "target_sets", "indicators", "unit_successors", "units"):
            await conn.execute(f"DELETE FROM {table}")  # table names are constants above
        await conn.copy_records_to_table(
            "units",
            records=units,
            columns=["code", "name_vi", "level", "type", "parent", "valid_from", "valid_to", "gso"],
        )
        await conn.copy_records_to_table(
            "unit_successors", records=successors, columns=["predecessor", "successor", "partial"]
        )
        await conn.copy_records_to_table(
            "indicators",
            records=indicators,
            columns=[
                "code",
                "pillar",
                "name_vi",
                "name_en",
                "measure",
                "direction",
                "applies_to",
                "cadence",
                "timely_days",
                "grace_days",
            ],
        )
        await conn.copy_records_to_table(
            "target_sets",
            records=target_sets,
            columns=[
                "code",
                "title_vi",
                "document",
                "applies_from",
                "applies_to",
                "binding",
                "cutoff",
                "continues",
                "source",
            ],
        )
        await conn.copy_records_to_table(
            "targets",
            records=targets,
            columns=["indicator", "level", "target_set", "baseline_value", "baseline_date"],
        )
        await conn.copy_records_to_table(
            "target_milestones",
            records=milestones,
            columns=["indicator", "level", "target_set", "deadline", "value", "comparator"],
        )
        await conn.execute("UPDATE programme SET approval = $1", catalog.approval)
    return {
        "units": len(units),
        "unit_successors": len(successors),
        "indicators": len(indicators),
        "target_sets": len(target_sets),
        "targets": len(targets),
        "target_milestones": len(milestones),
    }
