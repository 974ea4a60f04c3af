"""Official outcomes (chốt số liệu) end to end on a real database: the year-end scenario of DG-04 for QN.

November's 78-like value is in force when the deadline passes; December's arrives within the grace;
after the cut-off the outcome is final and frozen; a later correction is a revision; an operator's
reopen and lock change it, and the audit says who, when and why. Receipt times are set by the test
(the clock that decides what counts before the cut-off is the report's received_at). The tests are
synchronous because the CLI they drive runs its own event loop.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import date, datetime, timedelta

import asyncpg
import pytest

from dxmon.catalog import Catalog, Measure
from dxmon.contracts import LOCAL_TZ, ReportReceived, end_of_local_day
from dxmon.store.progress_repository import evaluate
from dxmon.store.reports_repository import store_reports

pytestmark = pytest.mark.integration

UNIT, INDICATOR = "QN", "DG-04"


def local(day: date, hour: int = 9) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=LOCAL_TZ)


@pytest.fixture
def scenario(catalog: Catalog):
    ind = catalog.indicators[INDICATOR]
    target = ind.target_for(catalog.units[UNIT].level)
    assert target is not None
    milestone = target.milestones[-1]
    cut = milestone.deadline + timedelta(days=ind.cadence.grace_days)

    def report(day: date, value: float, received: datetime) -> ReportReceived:
        fields = {"numerator": value, "denominator": 100.0} if ind.measure is Measure.RATIO else {"value": value}
        return ReportReceived(
            event_id=uuid.uuid4(),
            unit=UNIT,
            indicator=INDICATOR,
            observed_at=end_of_local_day(day),
            received_at=received,
            agency="test",
            key_id="k1",
            **fields,
        )

    return milestone, cut, report


async def store(url: str, *reports: ReportReceived) -> None:
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            await store_reports(conn, list(reports), datetime.now(LOCAL_TZ))
    finally:
        await conn.close()


async def run_pass(url: str, catalog: Catalog, when: datetime) -> None:
    conn = await asyncpg.connect(url)
    try:
        await evaluate(conn, catalog, when)
    finally:
        await conn.close()


@pytest.fixture
def dxmon(database_url: str, monkeypatch: pytest.MonkeyPatch):
    from typer.testing import CliRunner

    from dxmon.cli import build

    monkeypatch.setenv("DX_DATABASE_URL", database_url)
    monkeypatch.setenv("COLUMNS", "250")
    app, runner = build(), CliRunner()

    def run(*args: str):
        return runner.invoke(app, list(args))

    return run


def status_of(dxmon, *extra: str) -> dict:
    result = dxmon("status", UNIT, "--format", "json", *extra)
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    [entry] = [e for e in document["indicators"] if e["indicator"] == INDICATOR]
    return entry


def test_year_end_provisional_final_revision_reopen_and_lock(
    database_url: str, catalog: Catalog, scenario, dxmon
) -> None:
    milestone, cut, report = scenario
    target = milestone.value
    asyncio.run(store(database_url, report(date(2025, 11, 30), target - 2, local(date(2025, 12, 3)))))
    # 3 January: the deadline has passed, the cut-off has not: provisional, and no alert-worthy "missed".
    early = status_of(dxmon, "--as-of", "2026-01-03")
    assert (early["result"], early["provisional"], early["final"]) == ("missed", True, False)
    assert early["cutoff"] == cut.isoformat() and early["deciding_period"] == "2025-11"

    # December arrives within the grace; the pass after the cut-off locks it.
    asyncio.run(store(database_url, report(date(2025, 12, 31), target + 2, local(cut, 20))))
    asyncio.run(run_pass(database_url, catalog, local(cut + timedelta(days=1))))
    after = status_of(dxmon, "--as-of", (cut + timedelta(days=1)).isoformat())
    assert (after["result"], after["final"], after["deciding_value"], after["deciding_period"]) == (
        "exceeded",
        True,
        target + 2,
        "2025-12",
    )
    assert (after["target_set"], after["binding"]) == ("NQ09", True)
    # NQ 09 ended on 31/12/2025: its scorecard counts the province's final outcomes, DG-04 exceeded.
    document = json.loads(
        dxmon("status", UNIT, "--format", "json", "--as-of", (cut + timedelta(days=1)).isoformat()).output
    )
    [card] = [c for c in document["scorecards"] if c["target_set"] == "NQ09"]
    nq09 = [e for e in document["indicators"] if e["target_set"] == "NQ09"]
    assert card["total"] == len(nq09) == card["exceeded"] + card["met"] + card["missed"] + card["no_data"]
    assert card["exceeded"] >= 1 and all(e["final"] or e["result"] == "no_data" for e in nq09)
    assert {"QD749-QG", "QD411-QG"} & {e["target_set"] for e in document["indicators"]}  # references, shown
    assert all(not e["binding"] for e in document["indicators"] if e["target_set"].endswith("-QG"))

    # A correction received after the cut-off is a revision: shown, never deciding.
    asyncio.run(store(database_url, report(date(2025, 12, 31), target - 10, local(date(2026, 2, 1)))))
    asyncio.run(run_pass(database_url, catalog, local(date(2026, 2, 2))))
    revised = status_of(dxmon)
    assert (revised["result"], revised["final"], revised["deciding_value"]) == ("exceeded", True, target + 2)
    assert (revised["revised_value"], revised["current_value"]) == (target - 10, target - 10)

    # The operator reopens it with a reason: provisional again, decided by what is in force now.
    reopened = dxmon(
        "outcomes",
        "reopen",
        UNIT,
        INDICATOR,
        "--target-set",
        "NQ09",
        "--deadline",
        milestone.deadline.isoformat(),
        "--reason",
        "Sở KH&CN đề nghị rà soát số liệu tháng 12",
        "--by",
        "Nguyễn Văn A",
    )
    assert reopened.exit_code == 0, reopened.output
    assert "Mở lại" in reopened.output
    current = status_of(dxmon)
    assert (current["result"], current["provisional"], current["final"]) == ("missed", True, False)
    # An automatic pass never locks what an operator reopened.
    asyncio.run(run_pass(database_url, catalog, local(date(2026, 2, 3))))
    assert status_of(dxmon)["final"] is False

    locked = dxmon(
        "outcomes",
        "lock",
        UNIT,
        INDICATOR,
        "--target-set",
        "NQ09",
        "--deadline",
        milestone.deadline.isoformat(),
        "--reason",
        "Chốt lại theo số liệu đã rà soát",
        "--by",
        "Trần B",
    )
    assert locked.exit_code == 0, locked.output
    final = status_of(dxmon)
    assert (final["result"], final["final"], final["deciding_value"], final["revised_value"]) == (
        "missed",
        True,
        target - 10,
        None,
    )
    asyncio.run(run_pass(database_url, catalog, local(date(2026, 2, 4))))
    assert status_of(dxmon)["result"] == "missed"  # frozen by the operator's lock

    listed = dxmon("outcomes", "list", "--unit", UNIT, "--target-set", "NQ09", "--format", "json")
    assert listed.exit_code == 0, listed.output
    changes = [c for c in json.loads(listed.output) if c["indicator"] == INDICATOR]
    assert [c["action"] for c in changes] == ["auto-lock", "reopen", "lock"]
    auto, reopen, lock = changes
    assert (reopen["by"], reopen["reason"]) == ("Nguyễn Văn A", "Sở KH&CN đề nghị rà soát số liệu tháng 12")
    assert (reopen["before"]["status"], reopen["before"]["final"], reopen["after"]["final"]) == (
        "exceeded",
        True,
        False,
    )
    assert (lock["by"], lock["after"]["status"], lock["after"]["value"]) == ("Trần B", "missed", target - 10)
    assert set(lock) == {
        "unit",
        "indicator",
        "target_set",
        "deadline",
        "action",
        "by",
        "reason",
        "at",
        "before",
        "after",
    }
    assert auto["by"] == "dx-monitor" and auto["before"] is None
    assert auto["after"] == reopen["before"]  # the outcome as the automatic lock left it
    table = dxmon("outcomes", "list", "--unit", UNIT)
    assert table.exit_code == 0 and "Nguyễn Văn A" in table.output and "(giờ Việt Nam)" in table.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["reopen", UNIT, INDICATOR, "--target-set", "NQ09", "--deadline", "2025-12-31", "--reason", " "],
            "cần ghi lý do",
            id="empty-reason",
        ),
        pytest.param(
            ["lock", UNIT, INDICATOR, "--target-set", "NQ09", "--deadline", "2025-13-01", "--reason", "x"],
            "YYYY-MM-DD",
            id="bad-date",
        ),
        pytest.param(
            ["lock", UNIT, INDICATOR, "--target-set", "NQ09", "--deadline", "2024-06-30", "--reason", "x"],
            "chưa có kết quả",
            id="no-such-milestone",
        ),
        pytest.param(
            ["lock", "QN-NOPE", INDICATOR, "--target-set", "NQ09", "--deadline", "2025-12-31", "--reason", "x"],
            "không có đơn vị",
            id="unknown-unit",
        ),
        pytest.param(
            ["reopen", UNIT, INDICATOR, "--target-set", "NQ09", "--deadline", "2025-12-31", "--reason", "x"],
            "còn tạm tính",
            id="reopen-a-provisional-outcome",
        ),
    ],
)
def test_refusals_are_clear_and_change_nothing(
    database_url: str, catalog: Catalog, scenario, dxmon, args: list[str], message: str
) -> None:
    milestone, cut, report = scenario
    asyncio.run(store(database_url, report(date(2025, 12, 31), milestone.value, local(date(2026, 1, 2)))))
    asyncio.run(run_pass(database_url, catalog, local(cut)))  # provisional: the cut-off day has not ended
    result = dxmon("outcomes", *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    listed = json.loads(dxmon("outcomes", "list", "--format", "json").output)
    assert [c for c in listed if c["action"] != "auto-lock"] == []  # the pass locked older milestones itself
    assert status_of(dxmon, "--as-of", cut.isoformat())["provisional"] is True


def test_the_audit_of_an_automatic_lock_survives_an_operators_lock_and_keeps_older_rows(
    database_url: str, catalog: Catalog, scenario
) -> None:
    """An automatic lock is derived from the outcome (auto_locked_at): an operator's lock straight after
    it keeps what the automatic lock decided; an automatic lock audited as a row before migration 0014
    is listed once, as stored."""
    from dxmon.store import outcomes_repository

    milestone, cut, report = scenario
    target = milestone.value

    async def run() -> list:
        await store(database_url, report(milestone.deadline, target + 5, local(milestone.deadline)))
        await run_pass(database_url, catalog, local(cut + timedelta(days=1)))
        conn = await asyncpg.connect(database_url)
        try:
            await store(database_url, report(milestone.deadline, target - 5, local(cut + timedelta(days=3))))
            await outcomes_repository.lock(
                conn,
                UNIT,
                INDICATOR,
                "NQ09",
                milestone.deadline,
                reason="Sở đề nghị lấy số liệu đã điều chỉnh",
                by="Trần B",
                at=local(cut + timedelta(days=4)),
            )
            # An automatic lock of another outcome as a release before 0014 wrote it: a row, no auto_locked_at.
            await conn.execute(
                "INSERT INTO outcome_changes (unit, indicator, target_set, deadline, action, by, reason, at, before,"
                " after) VALUES ('QN', 'DG-09', 'NQ09', '2021-12-31', 'auto-lock', 'dx-monitor', 'x', $1, NULL,"
                ' \'{"status": "met"}\')',
                local(milestone.deadline),
            )
            return await outcomes_repository.changes(conn, UNIT)
        finally:
            await conn.close()

    changes = [
        c
        for c in asyncio.run(run())
        if (c.indicator, c.deadline) in ((INDICATOR, milestone.deadline), ("DG-09", date(2021, 12, 31)))
    ]
    assert [(c.indicator, c.action) for c in changes] == [
        ("DG-09", "auto-lock"),
        (INDICATOR, "auto-lock"),
        (INDICATOR, "lock"),
    ]
    legacy, auto, lock = changes
    assert legacy.after == {"status": "met"}
    assert (auto.at, auto.by, auto.before) == (local(cut + timedelta(days=1)), "dx-monitor", None)
    assert (auto.after["status"], auto.after["value"], auto.after["final"]) == ("exceeded", target + 5, True)
    assert auto.after == lock.before and lock.after["value"] == target - 5


def test_a_cut_off_locks_the_outcomes_still_provisional_without_rewriting_them(
    database_url: str, catalog: Catalog, scenario
) -> None:
    """The first full pass after a cut-off records it (outcome_cutoffs): an outcome whose official value
    is the provisional one already stored is final from then without a write, locked by dx-monitor at that
    pass; one that a report received on the cut-off day changed is written, locked at the same time. A
    later revision keeps that lock time; a reopen takes the outcome out of the cut-off's lock for good."""
    from dxmon.store import outcomes_repository
    from dxmon.store.evaluation_sql import AUTO_LOCK_BY, AUTO_LOCK_REASON

    milestone, cut, report = scenario
    target = milestone.value
    unit = catalog.units[UNIT]
    # Another indicator of the province with the same deadline and cut-off: the one nothing changes.
    other, other_target = next(
        (ind, t.milestones[-1].value)
        for ind in catalog.indicators.values()
        if ind.code != INDICATOR
        and ind.measure in (Measure.RATIO, Measure.PERCENT)
        and (t := ind.target_for(unit.level)) is not None
        and t.milestones[-1].deadline == milestone.deadline
        and t.milestones[-1].comparator == ">="
        and ind.cadence.grace_days == catalog.indicators[INDICATOR].cadence.grace_days
    )

    def other_report(day: date, value: float, received: datetime) -> ReportReceived:
        fields = {"numerator": value, "denominator": 100.0} if other.measure is Measure.RATIO else {"value": value}
        return ReportReceived(
            event_id=uuid.uuid4(),
            unit=UNIT,
            indicator=other.code,
            observed_at=end_of_local_day(milestone.deadline),
            received_at=received,
            agency="test",
            key_id="k1",
            **fields,
        )

    provisional_at, locked_at = local(cut - timedelta(days=5)), local(cut + timedelta(days=1))

    async def outcome(conn: asyncpg.Connection, table: str, indicator: str) -> asyncpg.Record:
        return await conn.fetchrow(
            f"SELECT * FROM {table} WHERE unit = $1 AND indicator = $2 AND milestone = $3 AND target_set = 'NQ09'",
            UNIT,
            indicator,
            milestone.deadline,
        )

    async def run() -> None:
        await store(
            database_url,
            report(date(2025, 11, 30), target - 2, local(date(2025, 12, 3))),
            other_report(milestone.deadline, other_target + 1, local(date(2026, 1, 10))),
        )
        await run_pass(database_url, catalog, provisional_at)
        # Received on the cut-off day, after the last provisional pass: it decides DG-04 officially.
        await store(database_url, report(milestone.deadline, target + 2, local(cut, 20)))
        await run_pass(database_url, catalog, locked_at)
        conn = await asyncpg.connect(database_url)
        try:
            stored, shown = (
                await outcome(conn, "milestone_outcome_rows", other.code),
                await outcome(conn, "milestone_outcomes", other.code),
            )
            assert (stored["final"], stored["evaluated_at"], stored["auto_locked_at"]) == (False, provisional_at, None)
            assert (shown["final"], shown["locked_by"], shown["lock_reason"], shown["auto_locked_at"]) == (
                True,
                AUTO_LOCK_BY,
                AUTO_LOCK_REASON,
                locked_at,
            )
            assert (shown["status"], shown["value"]) == ("exceeded", other_target + 1)
            written = await outcome(conn, "milestone_outcome_rows", INDICATOR)
            assert (written["final"], written["value"], written["auto_locked_at"]) == (True, target + 2, locked_at)
            assert await conn.fetchval("SELECT locked_at FROM outcome_cutoffs WHERE cutoff = $1", cut) == locked_at
            # An earlier release's writes to milestone_outcomes (an upgrade half done) fail loudly, change nothing.
            with pytest.raises(asyncpg.ObjectNotInPrerequisiteStateError, match="cannot update view"):
                await conn.execute("UPDATE milestone_outcomes SET announced_at = now()")
            audit = [c for c in await outcomes_repository.changes(conn, UNIT) if c.deadline == milestone.deadline]
            assert {(c.indicator, c.action, c.at) for c in audit} >= {
                (INDICATOR, "auto-lock", locked_at),
                (other.code, "auto-lock", locked_at),
            }

            # A correction after the cut-off is a revision: the outcome is written, its lock time kept.
            await store(database_url, other_report(milestone.deadline, other_target - 10, local(cut + timedelta(3))))
            await run_pass(database_url, catalog, local(cut + timedelta(days=4)))
            stored = await outcome(conn, "milestone_outcome_rows", other.code)
            assert (stored["final"], stored["value"], stored["revised_value"], stored["auto_locked_at"]) == (
                True,
                other_target + 1,
                other_target - 10,
                locked_at,
            )

            # Reopened: provisional for good (the cut-off's row no longer applies), the audit keeps the lock.
            await outcomes_repository.reopen(
                conn,
                UNIT,
                other.code,
                "NQ09",
                milestone.deadline,
                reason="Sở đề nghị xem lại",
                by="Trần B",
                at=local(cut + timedelta(days=5)),
            )
            await run_pass(database_url, catalog, local(cut + timedelta(days=6)))
            shown = await outcome(conn, "milestone_outcomes", other.code)
            assert (shown["final"], shown["reopened"], shown["value"], shown["status"]) == (
                False,
                True,
                other_target - 10,
                "missed",
            )
            history = [
                (c.action, c.at)
                for c in await outcomes_repository.changes(conn, UNIT, indicator=other.code)
                if c.deadline == milestone.deadline
            ]
            assert history == [("auto-lock", locked_at), ("reopen", local(cut + timedelta(days=5)))]
        finally:
            await conn.close()

    asyncio.run(run())


def test_an_incremental_pass_past_a_cut_off_locks_its_units_and_records_no_cut_off(
    database_url: str, catalog: Catalog, scenario
) -> None:
    """Only a full pass, which checks every outcome, records a cut-off; an incremental one locks what it
    evaluates in the rows themselves."""
    milestone, cut, report = scenario

    async def run() -> tuple[asyncpg.Record, asyncpg.Record, int]:
        await store(database_url, report(milestone.deadline, milestone.value + 1, local(date(2026, 1, 5))))
        await run_pass(database_url, catalog, local(cut - timedelta(days=2)))
        conn = await asyncpg.connect(database_url)
        try:
            await evaluate(conn, catalog, local(cut + timedelta(days=1)), units=[UNIT])
            query = "SELECT * FROM {} WHERE unit = $1 AND indicator = $2 AND milestone = $3 AND target_set = 'NQ09'"
            args = (UNIT, INDICATOR, milestone.deadline)
            return (
                await conn.fetchrow(query.format("milestone_outcome_rows"), *args),
                await conn.fetchrow(query.format("milestone_outcomes"), *args),
                await conn.fetchval("SELECT count(*) FROM outcome_cutoffs WHERE cutoff >= $1", cut),
            )
        finally:
            await conn.close()

    stored, shown, cutoffs = asyncio.run(run())
    assert (stored["final"], shown["final"], shown["auto_locked_at"]) == (True, True, local(cut + timedelta(days=1)))
    assert cutoffs == 0  # older cut-offs were recorded by the full pass before


def commune_report(unit: str, indicator: str, day: date, percent: float, received: datetime) -> ReportReceived:
    """commune_report: a ratio report of ``unit`` for the period ending ``day`` (percent of 100)."""
    return ReportReceived(
        event_id=uuid.uuid4(),
        unit=unit,
        indicator=indicator,
        observed_at=end_of_local_day(day),
        received_at=received,
        agency="test",
        key_id="k1",
        numerator=percent,
        denominator=100.0,
    )


def a_commune(catalog: Catalog) -> str:
    return next(u.code for u in catalog.units.values() if u.level.value == "commune" and u.valid_to is None)


def test_two_sets_with_the_same_deadline_each_keep_their_outcome(database_url: str, catalog: Catalog, dxmon) -> None:
    """CT2026-BCDTW and QĐ 11 both ask the communes for DG-20 = 100 % by 31/12/2026 (cut-off 31/03/2027):
    each set has its own final outcome, so each scorecard counts it and an operator reopens one without
    touching the other."""
    from dxmon.store import outcomes_repository

    commune = a_commune(catalog)
    asyncio.run(
        store(database_url, commune_report(commune, "DG-20", date(2026, 12, 31), 100.0, local(date(2027, 1, 20))))
    )
    asyncio.run(run_pass(database_url, catalog, local(date(2027, 4, 2))))

    async def outcomes() -> dict[str, asyncpg.Record]:
        conn = await asyncpg.connect(database_url)
        try:
            rows = await conn.fetch("SELECT * FROM milestone_outcomes WHERE unit = $1 AND indicator = 'DG-20'", commune)
        finally:
            await conn.close()
        return {r["target_set"]: r for r in rows}

    both = asyncio.run(outcomes())
    assert set(both) == {"CT2026-BCDTW", "QD11-2026"}
    assert all((r["status"], r["final"], r["milestone"]) == ("met", True, date(2026, 12, 31)) for r in both.values())
    for code in both:
        result = dxmon("status", commune, "--as-of", "2027-04-02", "--format", "json")
        assert result.exit_code == 0, result.output
        [card] = [c for c in json.loads(result.output)["scorecards"] if c["target_set"] == code]
        assert card["met"] >= 1, card

    async def reopen() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            await outcomes_repository.reopen(
                conn,
                commune,
                "DG-20",
                "QD11-2026",
                date(2026, 12, 31),
                reason="kiểm tra lại số liệu",
                by="Trần B",
                at=local(date(2027, 4, 3)),
            )
        finally:
            await conn.close()

    asyncio.run(reopen())
    after = asyncio.run(outcomes())
    assert after["QD11-2026"]["reopened"] and not after["QD11-2026"]["final"]
    assert after["CT2026-BCDTW"]["final"] and not after["CT2026-BCDTW"]["reopened"]
    # The next pass leaves the reopened one provisional and the other final.
    asyncio.run(run_pass(database_url, catalog, local(date(2027, 4, 4))))
    again = asyncio.run(outcomes())
    assert (again["QD11-2026"]["final"], again["CT2026-BCDTW"]["final"]) == (False, True)


@pytest.fixture
async def database_at_0014(pg_admin_url: str):
    from dxmon import devstack
    from dxmon.store.migrate import migrate
    from tests.hostile.hostile_support import drop_database

    url = await devstack.ensure_database(pg_admin_url, f"dxt_{uuid.uuid4().hex[:12]}")
    assert (await migrate(url, up_to="0014_outcome_locks")).applied[-1] == "0014_outcome_locks"
    yield url
    await drop_database(pg_admin_url, url)


async def test_0015_keeps_each_stored_outcome_and_adds_the_other_sets(database_at_0014: str, catalog: Catalog) -> None:
    """An installation that locked DG-20 under CT2026-BCDTW only (the first of two sets with that deadline)
    keeps that outcome as it was through the upgrade; the next evaluation adds QĐ 11's own."""
    from dxmon.store.migrate import migrate

    url = database_at_0014
    commune = a_commune(catalog)
    locked_at = local(date(2027, 4, 1), 1)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "INSERT INTO milestone_outcomes (unit, indicator, milestone, status, value, target, comparator,"
            " evaluated_at, target_set, cutoff, final, locked_by, lock_reason, auto_locked_at)"
            " VALUES ($1, 'DG-20', '2026-12-31', 'met', 100, 100, '>=', $2, 'CT2026-BCDTW', '2027-03-31', true,"
            " 'dx-monitor', 'chốt số liệu tự động sau ngày chốt', $2)",
            commune,
            locked_at,
        )
    finally:
        await conn.close()
    assert (await migrate(url)).applied[0] == "0015_outcomes_per_set"
    await store(url, commune_report(commune, "DG-20", date(2026, 12, 31), 100.0, local(date(2027, 1, 20))))
    await run_pass(url, catalog, local(date(2027, 4, 2)))
    conn = await asyncpg.connect(url)
    try:
        rows = {
            r["target_set"]: r
            for r in await conn.fetch(
                "SELECT * FROM milestone_outcomes WHERE unit = $1 AND indicator = 'DG-20'", commune
            )
        }
        readable = await conn.fetchval("SELECT has_table_privilege('dx_reader', 'progress_alternatives', 'SELECT')")
    finally:
        await conn.close()
    assert set(rows) == {"CT2026-BCDTW", "QD11-2026"}
    kept = rows["CT2026-BCDTW"]
    assert (kept["final"], kept["auto_locked_at"], kept["evaluated_at"]) == (True, locked_at, locked_at)  # untouched
    assert (rows["QD11-2026"]["status"], rows["QD11-2026"]["final"]) == ("met", True)
    assert readable


def test_status_marks_the_judgement_the_dashboards_show(database_url: str, catalog: Catalog, dxmon) -> None:
    """A commune's DG-14 in 2026 has a line per set (NQ09, NQ09-2030, CT2026-BCDTW, QĐ 749); `dxmon status` marks
    the one the evaluation shows (the target it stands worst against), the same the dashboards read."""
    commune = a_commune(catalog)

    def dg14(day: date, percent: float) -> ReportReceived:
        return commune_report(commune, "DG-14", day, percent, local(day + timedelta(days=5)))

    asyncio.run(store(database_url, dg14(date(2025, 12, 31), 80.0), dg14(date(2026, 9, 30), 85.0)))
    day = date(2026, 11, 20)
    asyncio.run(run_pass(database_url, catalog, end_of_local_day(day)))

    async def shown_by_evaluation() -> str:
        conn = await asyncpg.connect(database_url)
        try:
            return await conn.fetchval(
                "SELECT target_set FROM progress_current WHERE unit = $1 AND indicator = 'DG-14'", commune
            )
        finally:
            await conn.close()

    result = dxmon("status", commune, "--as-of", day.isoformat(), "--format", "json")
    assert result.exit_code == 0, result.output
    lines = [e for e in json.loads(result.output)["indicators"] if e["indicator"] == "DG-14"]
    assert {e["target_set"] for e in lines} == {"NQ09", "NQ09-2030", "CT2026-BCDTW", "QD749"}  # NQ09: 2025, ended
    [shown] = [e for e in lines if e["shown"]]
    # 85 % is on the 2030 path but far from CT2026-BCDTW's 100 % by the end of 2026.
    assert (shown["target_set"], shown["result"]) == ("CT2026-BCDTW", "behind")
    assert shown["target_set"] == asyncio.run(shown_by_evaluation())
    table = dxmon("status", commune, "--as-of", day.isoformat())
    assert table.exit_code == 0 and "CT2026-BCDTW *" in table.output
    assert "* bộ chỉ tiêu dùng trên bảng theo dõi và trong cảnh báo" in table.output
