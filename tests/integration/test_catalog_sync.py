"""Target sets in the database: migration 0005 on a database that already had targets, and the sync."""

from __future__ import annotations

import uuid
from datetime import date

import asyncpg
import pytest

from dxmon import devstack
from dxmon.catalog import Catalog, Level
from dxmon.store import migrate as migrate_module
from dxmon.store.migrate import migrate

pytestmark = pytest.mark.integration


async def test_sync_writes_every_set_and_names_the_set_of_each_target(database_url: str, catalog: Catalog) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        sets = {r["code"]: r for r in await conn.fetch("SELECT * FROM target_sets")}
        targets = await conn.fetch("SELECT indicator, level, target_set, baseline_value FROM targets")
        milestones = await conn.fetch("SELECT indicator, level, target_set, deadline, value FROM target_milestones")
    finally:
        await conn.close()
    assert set(sets) == set(catalog.target_sets)
    for code, ts in catalog.target_sets.items():
        row = sets[code]
        assert (
            row["title_vi"],
            row["document"],
            row["applies_from"],
            row["applies_to"],
            row["binding"],
            row["cutoff"],
            row["continues"],
            tuple(row["source"]),
        ) == (ts.title_vi, ts.document, ts.applies_from, ts.applies_to, ts.binding, ts.cutoff, ts.continues, ts.source)
    expected = {(t.indicator, level.value, t.target_set) for t in catalog.targets() for level in t.applies_to}
    assert {(r["indicator"], r["level"], r["target_set"]) for r in targets} == expected
    dg14_commune = sorted(r["target_set"] for r in targets if (r["indicator"], r["level"]) == ("DG-14", "commune"))
    assert dg14_commune == sorted(t.target_set for t in catalog.indicators["DG-14"].targets_for(Level.COMMUNE))
    assert len(dg14_commune) == 4
    # NQ 09's DE-01 stops at 2025; its 2030 value is written with the set that carries it.
    de01 = {(r["target_set"], r["deadline"]): r["value"] for r in milestones if r["indicator"] == "DE-01"}
    assert de01[("NQ09", date(2025, 12, 31))] == 20 and ("NQ09", date(2030, 12, 31)) not in de01
    assert de01[("NQ09-2030", date(2030, 12, 31))] == 30 and de01[("QD411-QG", date(2030, 12, 31))] == 30


async def test_migration_puts_existing_targets_in_nq09(pg_admin_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    url = await devstack.ensure_database(pg_admin_url, f"dxt_{uuid.uuid4().hex[:12]}")
    shipped = migrate_module.migration_files()
    before = [(v, sql) for v, sql in shipped if v < "0005"]
    monkeypatch.setattr(migrate_module, "migration_files", lambda: before)
    await migrate(url)
    conn = await asyncpg.connect(url)
    try:
        # A database synced before target sets existed: one target per (indicator, level).
        await conn.execute(
            "INSERT INTO indicators (code, pillar, name_vi, name_en, measure, direction, applies_to, cadence, "
            "timely_days, grace_days) VALUES ('DE-01', 'digital_economy', 'x', 'x', 'percent', 'higher_is_better', "
            "'{province}', 'yearly', 60, 90)"
        )
        await conn.execute(
            "INSERT INTO targets (indicator, level, baseline_value, baseline_date) "
            "VALUES ('DE-01', 'province', 7.1, '2024-12-31')"
        )
        await conn.execute(
            "INSERT INTO target_milestones (indicator, level, deadline, value, comparator) "
            "VALUES ('DE-01', 'province', '2025-12-31', 20, '>='), ('DE-01', 'province', '2030-12-31', 30, '>=')"
        )
        monkeypatch.setattr(migrate_module, "migration_files", lambda: shipped)
        assert "0005_target_sets" in (await migrate(url)).applied
        assert await conn.fetchval("SELECT target_set FROM targets") == "NQ09"
        assert await conn.fetchval("SELECT array_agg(DISTINCT target_set) FROM target_milestones") == ["NQ09"]
        assert await conn.fetchval("SELECT binding FROM target_sets WHERE code = 'NQ09'") is True
        # The same indicator and level may now have a target in another set; a milestone needs its target.
        await conn.execute(
            "INSERT INTO target_sets (code, title_vi, document, applies_from, applies_to, binding, source) "
            "VALUES ('NQ09-2030', 'x', 'x', '2026-01-01', '2030-12-31', true, '{KHCNN}')"
        )
        await conn.execute(
            "INSERT INTO targets (indicator, level, target_set) VALUES ('DE-01', 'province', 'NQ09-2030')"
        )
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await conn.execute(
                "INSERT INTO target_milestones (indicator, level, target_set, deadline, value, comparator) "
                "VALUES ('DE-01', 'province', 'QD411-QG', '2030-12-31', 30, '>=')"
            )
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await conn.execute(
                "INSERT INTO targets (indicator, level, target_set) VALUES ('DE-01', 'province', 'NOPE')"
            )
        with pytest.raises(asyncpg.NotNullViolationError):  # only the backfill got a set by default
            await conn.execute("INSERT INTO targets (indicator, level) VALUES ('DE-01', 'commune')")
    finally:
        await conn.close()
        admin = await asyncpg.connect(pg_admin_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1].split("?")[0]}" WITH (FORCE)')
        finally:
            await admin.close()
