"""Every panel query and variable query of the committed dashboards, run as Grafana would run it.

The database is seeded by the pipeline's own code — ``store_reports`` (the aggregator's write
path), ``evaluate`` (progress), ``sync_alerts``/``add_silence``/``acknowledge`` (alerts service),
``record_dead_letter`` — with a small, known story:

    QN-P-TUANCHAU  (commune since 01/07/2025)  DG-14 Q4/2025 20 % (received after the cut-off) → behind;
                                                DG-04 only Oct 2025 (40 %) → missed,
                                                reporting missing
    QN-P-UONGBI    (commune since 01/07/2025)  DG-14 Q4/2025 70 %  → on track; DG-04 Dec 2025 50 % → missed (final)
    QN             (province)                  DG-14 Q4/2025 88 % → missed NQ 09's ≥ 90 % by 2025 (final), and
                                               on track for CT2026-BCDTW's 100 % by 2026, judged in 2026;
                                               DG-04 Dec 2025 2200/2247 (late) → exceeded, reporting missing;
                                               DE-06 only 2023 (30) → behind on the way to 500 by 2030,
                                               reporting missing
    QN-HALONG-P-TUANCHAU (commune to 30/06/2025, predecessor of QN-P-TUANCHAU)  DG-14 Q4/2024 40 %, Q1/2025 45 %
    QN-HALONG      (district to 30/06/2025)     DG-14 Q4/2024 75 %

BEHIND's DG-14 and QN's DG-01 (district category) carry explanations (Nguyên nhân, giải pháp),
evaluated as of 15/03/2026 10:00 (+07). Each query goes through ``grafana.interpolate`` (template
variables: single value, several values, "All"; then Grafana's macros, with the datasource's
``timescaledb`` option off and on — plain PostgreSQL has the ``time_bucket`` shim of 0001) and runs as
a LOGIN member of ``dx_reader``, the role Grafana's datasource uses. Shapes are checked for every
panel; the numbers of the story are checked panel by panel.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from dxmon.catalog import Catalog
from dxmon.contracts import ReportReceived, end_of_local_day
from dxmon.store.progress_repository import evaluate
from dxmon.store.reports_repository import record_dead_letter, store_reports
from grafana.build import PROVISIONING_DIR, flat_panels
from grafana.execute import panel_queries, resolve_variables
from grafana.interpolate import QueryContext, TimeRange
from services.alerts.repository import acknowledge, add_silence, sync_alerts
from tests.conftest import create_database

pytestmark = pytest.mark.integration

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
AS_OF = datetime(2026, 3, 15, 10, 0, tzinfo=LOCAL)
BEHIND, MISSED, PREDECESSOR, DISTRICT = "QN-P-TUANCHAU", "QN-P-UONGBI", "QN-HALONG-P-TUANCHAU", "QN-HALONG"
MINUTE_BATCH = datetime(2026, 1, 10, 9, 0, tzinfo=LOCAL)
AFTER_CUTOFF = datetime(2026, 2, 2, 9, 0, tzinfo=LOCAL)
NUMERIC = (int, float, Decimal)
BEHIND_WHY = "Một số thôn chưa có cáp quang;\nđã đề nghị nhà mạng hoàn thành trong quý I/2026."
DISTRICT_WHY = "Cấp huyện kết thúc hoạt động từ 01/07/2025."


def report(
    unit: str,
    indicator: str,
    period_end: date,
    received: datetime,
    numerator: float | None,
    denominator: float | None,
    category: str | None = None,
) -> ReportReceived:
    """report: a ratio (numerator/denominator), or a value when ``denominator`` is None."""
    parts = {"value": numerator} if denominator is None else {"numerator": numerator, "denominator": denominator}
    return ReportReceived(
        event_id=uuid.uuid4(),
        unit=unit,
        indicator=indicator,
        observed_at=end_of_local_day(period_end),
        received_at=received,
        agency="test",
        key_id="test-key",
        category=category,
        **parts,
    )


def batches() -> list[tuple[datetime, list[ReportReceived]]]:
    """batches: (commit time, reports) as the aggregator would have committed them."""
    jan25, apr25, nov25 = (datetime(2025, m, d, 8, 0, tzinfo=LOCAL) for m, d in ((1, 12), (4, 10), (11, 3)))
    jan24 = datetime(2024, 1, 20, 8, 0, tzinfo=LOCAL)
    late = MINUTE_BATCH + timedelta(seconds=60)
    return [
        (jan24 + timedelta(seconds=5), [report("QN", "DE-06", date(2023, 12, 31), jan24, 30, None)]),
        (
            jan25 + timedelta(seconds=5),
            [
                report(PREDECESSOR, "DG-14", date(2024, 12, 31), jan25, 40, 100),
                report(DISTRICT, "DG-14", date(2024, 12, 31), jan25, 75, 100),
            ],
        ),
        (apr25 + timedelta(seconds=5), [report(PREDECESSOR, "DG-14", date(2025, 3, 31), apr25, 45, 100)]),
        (nov25 + timedelta(seconds=5), [report(BEHIND, "DG-04", date(2025, 10, 31), nov25, 40, 100)]),
        # DG-01 by category: dashboards read the totals (category ''), never the parts beside them. Since DG-01
        # is the province's (measured on its catalogue), ingest refuses it from communes; the communes' rows
        # are stored directly here only to exercise the roll-up of categories and of percentage-only reports.
        (
            nov25 + timedelta(seconds=6),
            [
                report("QN", "DG-01", date(2025, 10, 31), nov25, 628, 1000, "province"),
                report("QN", "DG-01", date(2025, 10, 31), nov25, 97, 200, "district").model_copy(
                    update={"explanation": DISTRICT_WHY}
                ),
                report(BEHIND, "DG-01", date(2025, 10, 31), nov25, 10, 100, "province"),
                report(BEHIND, "DG-01", date(2025, 10, 31), nov25, 30, 100, "commune"),
                # Only a published percentage: left out of the ratio, counted apart.
                report(MISSED, "DG-01", date(2025, 10, 31), nov25, None, None, "commune").model_copy(
                    update={"value": 55.0}
                ),
            ],
        ),
        # Two commits a minute apart: 3 reports with a 2 s lag, then 2 with a 30 s lag.
        (
            MINUTE_BATCH + timedelta(seconds=2),
            [
                report("QN", "DG-14", date(2025, 12, 31), MINUTE_BATCH, 88, 100),
                report("QN", "DG-14", date(2025, 9, 30), MINUTE_BATCH, 86, 100),
                report(MISSED, "DG-14", date(2025, 12, 31), MINUTE_BATCH, 70, 100),
            ],
        ),
        # After NQ 09's cut-off for 2025 (30/01/2026): TUANCHAU's 2025 outcome is final with nothing received,
        # so its 2030 path runs from NQ 09's 60 % (not from its own 20 %: dxmon.progress.restart_day).
        (
            AFTER_CUTOFF + timedelta(seconds=2),
            [
                report(BEHIND, "DG-14", date(2025, 12, 31), AFTER_CUTOFF, 20, 100).model_copy(
                    update={"explanation": BEHIND_WHY}
                )
            ],
        ),
        (
            late + timedelta(seconds=30),
            [
                report("QN", "DG-04", date(2025, 12, 31), late, 2200, 2247),
                report(MISSED, "DG-04", date(2025, 12, 31), late, 50, 100),
            ],
        ),
    ]


@dataclass
class Seeded:
    url: str
    reader_url: str
    now: datetime


@pytest.fixture(scope="module")
async def seeded(pg_admin_url: str, catalog: Catalog) -> AsyncIterator[Seeded]:
    url = await create_database(pg_admin_url, catalog)
    reader = f"dxt_grafana_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(pg_admin_url)
    conn = await asyncpg.connect(url)
    try:
        for committed_at, events in batches():
            async with conn.transaction():
                await store_reports(conn, events, committed_at)
        await evaluate(conn, catalog, AS_OF)
        async with conn.transaction():
            await sync_alerts(conn, AS_OF)
        now = await conn.fetchval("SELECT now()")
        # An outcome (UONGBI's missed DG-04) is history, not a live alert: the province's alert is silenced.
        await add_silence(
            conn, "QN", None, now - timedelta(hours=1), now + timedelta(days=1), "đang khắc phục", "sở KHCN"
        )
        overdue = await conn.fetchval(
            "SELECT fingerprint FROM alerts WHERE unit = $1 AND indicator = 'DE-06' AND kind = 'overdue'", "QN"
        )
        assert await acknowledge(conn, overdue, now + timedelta(days=1), "đã nhắc đơn vị", "chuyên viên A")
        for seq, reason in ((1, "decode"), (2, "validation.unknown_unit"), (3, "validation.unknown_unit")):
            await record_dead_letter(conn, seq, f"dx.reports.v1.X{seq}.DG-01", reason, "detail", "{}")
        # Grafana's datasource logs in as a member of dx_reader (trust auth on the throwaway server).
        await admin.execute(f'CREATE ROLE "{reader}" LOGIN IN ROLE dx_reader')
        base, _, rest = url.partition("://")
        reader_url = f"{base}://{reader}@{rest.split('@', 1)[1]}"
        yield Seeded(url, reader_url, now)
    finally:
        await conn.close()
        name = url.rsplit("/", 1)[1].split("?")[0]
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'DROP ROLE IF EXISTS "{reader}"')
        await admin.close()


@pytest.fixture(scope="module")
async def reader(seeded: Seeded) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(seeded.reader_url)
    yield conn
    await conn.close()


# ───────────────────────────── running a dashboard like Grafana ─────────────────────────────


def dashboard(uid: str) -> dict[str, Any]:
    return json.loads((PROVISIONING_DIR / "dashboards" / f"{uid}.json").read_text(encoding="utf-8"))


@dataclass
class Result:
    columns: list[str]
    rows: list[asyncpg.Record]
    sql: str

    def column(self, name: str) -> list[Any]:
        return [r[name] for r in self.rows]

    def row(self, **match: Any) -> asyncpg.Record:
        found = [r for r in self.rows if all(r[k] == v for k, v in match.items())]
        assert len(found) == 1, f"expected one row with {match}, got {found}"
        return found[0]


@dataclass
class Run:
    options: dict[str, list[tuple[str, str]]]
    panels: dict[str, dict[str, Result]] = field(default_factory=dict)

    def table(self, title: str, ref: str = "A") -> Result:
        return self.panels[title][ref]


async def execute(conn: asyncpg.Connection, sql: str) -> Result:
    statement = await conn.prepare(sql)
    return Result([a.name for a in statement.get_attributes()], await statement.fetch(), sql)


async def run_dashboard(
    conn: asyncpg.Connection, uid: str, time_range: TimeRange, choices: Mapping[str, Any], *, timescaledb: bool
) -> Run:
    """run_dashboard resolves the variables like Grafana, then runs and shape-checks every target."""
    model = dashboard(uid)
    resolved = await resolve_variables(conn, model, time_range, choices, timescaledb=timescaledb)
    run = Run(resolved.options)
    ctx = QueryContext(time_range, resolved.variables, timescaledb=timescaledb)
    for panel, target, clone, sql in panel_queries(model, ctx):
        result = await execute(conn, sql)
        check_shape(uid, panel, target, result)
        run.panels.setdefault(panel_key(panel, clone), {})[target["refId"]] = result
    return run


def panel_key(panel: dict[str, Any], clone: str | None) -> str:
    """panel_key: a panel's title; a repeated panel's clone adds its value (``${indicator:text}#DG-14``)."""
    return panel["title"] if clone is None else f"{panel['title']}#{clone}"


DATA_FIELD = re.compile(r"\$\{__data\.fields\.(\w+)\}")


def check_shape(uid: str, panel: dict[str, Any], target: dict[str, Any], result: Result) -> None:
    where = f"{uid} / {panel['title']} / {target['refId']}"
    assert result.columns and len(set(result.columns)) == len(result.columns), f"{where}: columns {result.columns}"
    if target["format"] == "time_series":
        assert "time" in result.columns, f"{where}: a time series needs a time column"
        times = result.column("time")
        assert all(isinstance(t, (datetime, *NUMERIC)) for t in times), f"{where}: time values {times[:3]}"
        keys = [t.timestamp() if isinstance(t, datetime) else float(t) for t in times]
        assert keys == sorted(keys), f"{where}: Grafana needs time series sorted by time"
        for name in result.columns:
            if name in ("time", "metric"):
                continue
            assert all(v is None or isinstance(v, NUMERIC) for v in result.column(name)), f"{where}: {name} not numeric"
        if "metric" in result.columns:
            assert all(isinstance(v, str) for v in result.column("metric")), f"{where}: metric must be text"
    if panel["type"] == "stat":
        assert len(result.rows) == 1 and all(isinstance(v, NUMERIC) or v is None for v in result.rows[0]), where
    if panel["type"] == "barchart":
        x = panel["options"]["xField"]
        assert x in result.columns and all(isinstance(v, str) for v in result.column(x)), f"{where}: x field {x}"
    named = [
        o["matcher"]["options"]
        for o in panel.get("fieldConfig", {}).get("overrides", [])
        if o["matcher"]["id"] == "byName"
    ]
    if panel["type"] in ("table", "barchart"):
        for name in named:
            assert name in result.columns, f"{where}: override for missing column {name!r}"
    for link_field in DATA_FIELD.findall(json.dumps(panel.get("fieldConfig", {}))):
        assert link_field in result.columns, f"{where}: data link needs column {link_field!r}"


def local_range(start: datetime, end: datetime) -> TimeRange:
    return TimeRange(start, end)


OVERVIEW_RANGE = local_range(datetime(2024, 1, 1, tzinfo=LOCAL), AS_OF + timedelta(days=1))
UNIT_RANGE = local_range(datetime(2022, 1, 1, tzinfo=LOCAL), datetime(2026, 12, 31, tzinfo=LOCAL))
MINUTES = local_range(MINUTE_BATCH - timedelta(minutes=1), MINUTE_BATCH + timedelta(minutes=3))

SCENARIOS: dict[str, list[tuple[str, dict[str, str | list[str]]]]] = {
    # uid: [(scenario id, choices)]: "All", one value, several values, as Grafana users pick them.
    "dx-overview": [
        ("all", {"period": "2025-12-01"}),
        ("one-level", {"period": "2025-12-01", "level": ["commune"], "pillar": ["digital_government"]}),
        (
            "several",
            {
                "period": "2024-12-01",
                "level": ["district", "commune"],
                "pillar": ["digital_government", "digital_society"],
            },
        ),
    ],
    "dx-unit-detail": [
        ("all", {"unit": BEHIND}),
        ("repeat-one-indicator", {"unit": BEHIND, "indicator": "DG-14", "level": ["commune"]}),
        ("ceased-unit", {"unit": PREDECESSOR, "level": ["district", "commune"], "pillar": ["digital_government"]}),
    ],
    "dx-alerts": [
        ("all", {}),
        ("one-kind", {"kind": ["behind"], "level": ["commune"]}),
        ("several", {"kind": ["overdue", "missed"], "pillar": ["digital_government", "digital_economy"]}),
    ],
    "dx-pipeline": [("no-variables", {})],
}


def time_range_for(uid: str, seeded: Seeded) -> TimeRange:
    if uid == "dx-alerts":
        return local_range(AS_OF - timedelta(days=1), seeded.now + timedelta(hours=1))
    return {"dx-overview": OVERVIEW_RANGE, "dx-unit-detail": UNIT_RANGE, "dx-pipeline": MINUTES}[uid]


@pytest.mark.parametrize("timescaledb", [False, True], ids=["plain", "timescaledb-option"])
@pytest.mark.parametrize(
    ("uid", "choices"),
    [pytest.param(uid, choices, id=f"{uid}-{name}") for uid, runs in SCENARIOS.items() for name, choices in runs],
)
async def test_every_query_runs_with_its_panels_shape(
    seeded: Seeded, reader: asyncpg.Connection, uid: str, choices: dict[str, Any], timescaledb: bool
) -> None:
    run = await run_dashboard(reader, uid, time_range_for(uid, seeded), choices, timescaledb=timescaledb)
    expected = {p["title"] for p in flat_panels(dashboard(uid)) if p.get("targets")}
    assert {key.split("#")[0] for key in run.panels} == expected
    repeated = [p for p in flat_panels(dashboard(uid)) if p.get("repeat")]
    for panel in repeated:  # one clone per value: every applicable indicator for "All"
        clones = [key for key in run.panels if key.startswith(panel["title"] + "#")]
        chosen = choices.get(panel["repeat"])
        assert len(clones) == (1 if isinstance(chosen, str) else len(run.options[panel["repeat"]])), clones


# ───────────────────────────── the story's numbers ─────────────────────────────


@pytest.mark.parametrize("timescaledb", [False, True], ids=["plain", "timescaledb-option"])
async def test_pipeline_counts_reports_per_minute_and_lag(
    seeded: Seeded, reader: asyncpg.Connection, timescaledb: bool
) -> None:
    run = await run_dashboard(reader, "dx-pipeline", MINUTES, {}, timescaledb=timescaledb)
    per_minute = run.table("Báo cáo lưu mỗi phút")
    assert [float(v) for v in per_minute.column("Báo cáo/phút")] == [3.0, 2.0]
    minutes = per_minute.column("time")
    first = minutes[0] if isinstance(minutes[0], datetime) else datetime.fromtimestamp(float(minutes[0]), UTC)
    assert first == MINUTE_BATCH
    assert run.table("Báo cáo đã lưu").rows[0][0] == 5
    assert run.table("Độ trễ trung bình tiếp nhận → lưu").rows[0][0] == pytest.approx((3 * 2000 + 2 * 30000) / 5)
    assert run.table("Độ trễ lớn nhất").rows[0][0] == pytest.approx(30000)
    lag = run.table("Độ trễ tiếp nhận → lưu")
    assert [r["Lớn nhất"] for r in lag.rows] == [2000, 30000]


async def test_pipeline_shows_dead_letters_by_reason(seeded: Seeded, reader: asyncpg.Connection) -> None:
    recent = local_range(seeded.now - timedelta(hours=1), seeded.now + timedelta(minutes=5))
    run = await run_dashboard(reader, "dx-pipeline", recent, {}, timescaledb=False)
    assert run.table("Báo cáo vào hàng đợi lỗi").rows[0][0] == 3
    by_reason = run.table("Báo cáo vào hàng đợi lỗi theo lý do")
    totals: dict[str, float] = {}
    for r in by_reason.rows:
        totals[r["metric"]] = totals.get(r["metric"], 0) + r["value"]
    assert totals == {"decode": 1, "validation.unknown_unit": 2}
    assert run.table("Báo cáo lỗi gần nhất").column("Số thứ tự trong luồng") == [3, 2, 1]
    description = next(p for p in flat_panels(dashboard("dx-pipeline")) if p["title"] == "Báo cáo vào hàng đợi lỗi")
    assert "dx_ingest_requests_total" in description["description"]


async def test_overview_lists_the_unit_known_to_be_behind_first(seeded: Seeded, reader: asyncpg.Connection) -> None:
    run = await run_dashboard(reader, "dx-overview", OVERVIEW_RANGE, {"period": "2025-12-01"}, timescaledb=False)
    behind = run.table("Đơn vị chậm nhất")
    assert behind.column("unit") == [BEHIND, "QN", MISSED]
    # The province: DG-01 missed, DE-06 behind; DG-04, DE-06 and DG-01 unreported. Its DG-14 missed NQ 09's
    # 2025 target (the scorecard) and is judged in 2026 against CT2026-BCDTW's 100 % by 31/12/2026: on track.
    assert (behind.row(unit="QN")["Chậm / không đạt"], behind.row(unit="QN")["Chưa báo cáo"]) == (2, 3)
    dg14 = await reader.fetchrow(
        "SELECT target_set, status FROM progress_current WHERE unit = 'QN' AND indicator = 'DG-14'"
    )
    assert (dg14["target_set"], dg14["status"]) == ("CT2026-BCDTW", "on_track")
    tuanchau = behind.row(unit=BEHIND)
    assert (tuanchau["Chậm / không đạt"], tuanchau["Chưa báo cáo"]) == (
        2,
        1,
    )  # DG-14 behind, DG-04 missed and unreported
    assert float(behind.row(unit=MISSED)["Thiếu hụt so với lộ trình"]) == 37.5  # 50 % against a passed 80 % target


async def test_overview_rolls_ratios_up_by_parts_and_judges_against_the_target(
    seeded: Seeded, reader: asyncpg.Connection
) -> None:
    run = await run_dashboard(reader, "dx-overview", OVERVIEW_RANGE, {"period": "2025-12-01"}, timescaledb=False)
    table = run.table("Chỉ tiêu toàn tỉnh so với mục tiêu")
    dg14 = table.row(**{"Mã": "DG-14"})
    # The two active communes' latest parts, (20 + 70) / (100 + 100): the ceased commune and district
    # (40 %, 75 %) are history, and the province's own 88 % is shown beside the roll-up, not added.
    assert (dg14["Tỉnh báo cáo"], dg14["Tổng hợp từ các đơn vị"], dg14["Số đơn vị báo cáo"]) == (88, 45, 2)
    # The province's DG-14 path is NQ 09's ≥ 90 % by 2025 (its 2030 target is QĐ 749's, a set that does not
    # continue NQ 09): the last milestone is shown once all have passed, and 88 % fails it.
    assert (dg14["Mục tiêu"], dg14["Hạn"], dg14["Đánh giá"]) == (">= 90", date(2025, 12, 31), "not_met")
    # DG-04's only milestone (31/12/2025, ≥ 80 %) has passed: the last one is shown. The communes' parts
    # (40 + 50) / (100 + 100) are shown beside the province's own 97.9 %, which is what is judged.
    dg04 = table.row(**{"Mã": "DG-04"})
    assert dg04["Tỉnh báo cáo"] == pytest.approx(100 * 2200 / 2247) and dg04["Tổng hợp từ các đơn vị"] == 45
    assert (dg04["Hạn"], dg04["Đánh giá"]) == (date(2025, 12, 31), "met")
    dg01 = table.row(**{"Mã": "DG-01"})
    # QĐ 749's level-4 target (≥ 80 % by 2025) is on DG-01: the province's 725/1200 fails it.
    assert (dg01["Mục tiêu"], dg01["Hạn"], dg01["Đánh giá"]) == (">= 80", date(2025, 12, 31), "not_met")
    assert dg01["Tỉnh báo cáo"] == pytest.approx(100 * 725 / 1200)  # the total of QN's categories
    # One commune's total 40/200; the other sent only a percentage (not in the ratio, counted apart).
    assert (dg01["Tổng hợp từ các đơn vị"], dg01["Số đơn vị báo cáo"], dg01["Đơn vị chỉ có tỷ lệ %"]) == (20, 2, 1)
    assert dg14["Đơn vị chỉ có tỷ lệ %"] == 0
    assert table.row(**{"Mã": "DS-10"})["Đơn vị chỉ có tỷ lệ %"] is None  # a count: not a ratio
    assert table.row(**{"Mã": "DG-06"})["Đánh giá"] is None  # no target
    assert table.row(**{"Mã": "DG-05"})["Đánh giá"] == "no_data"
    departments = await run_dashboard(
        reader, "dx-overview", OVERVIEW_RANGE, {"period": "2025-12-01", "level": ["department"]}, timescaledb=False
    )
    assert departments.table("Chỉ tiêu toàn tỉnh so với mục tiêu").row(**{"Mã": "DG-14"})["Số đơn vị báo cáo"] == 0


async def test_overview_status_rates_and_outcomes(seeded: Seeded, reader: asyncpg.Connection, catalog: Catalog) -> None:
    run = await run_dashboard(reader, "dx-overview", OVERVIEW_RANGE, {"period": "2025-12-01"}, timescaledb=False)
    statuses = run.table("Kết quả thực hiện chỉ tiêu, theo cấp")
    communes = statuses.row(**{"Cấp": "Cấp xã"})
    # Counts of (unit, indicator) pairs, never a unit's worst: TUANCHAU's DG-14 behind, TUANCHAU's and
    # UONGBI's DG-04 missed, UONGBI's DG-14 on track.
    assert (communes["Không đạt"], communes["Chậm tiến độ"], communes["Đúng tiến độ"]) == (2, 1, 1)
    tracked = await reader.fetchval("SELECT count(*) FROM progress_current WHERE active AND level = 'commune'")
    assert sum(v for k, v in communes.items() if k != "Cấp") == tracked
    reporting = run.table("Tình hình báo cáo, theo cấp")
    # DG-04 is missing at the province (December came late, January and February not at all), DE-06 and DG-01.
    assert reporting.row(**{"Cấp": "Cấp tỉnh"})["Chưa báo cáo"] == 3
    assert reporting.row(**{"Cấp": "Cấp xã"})["Chưa báo cáo"] == 2  # TUANCHAU's and UONGBI's DG-04
    pairs = run.table("Chỉ tiêu của các đơn vị theo trạng thái, theo trụ cột").row(**{"Trụ cột": "Chính quyền số"})
    # DG-14 behind (TUANCHAU); DG-04 missed (TUANCHAU, UONGBI), DG-01 missed (QN; its DG-14 is judged against
    # CT2026-BCDTW in 2026). Reporting is not a result.
    assert [pairs[k] for k in ("Chậm tiến độ", "Không đạt")] == [1, 3]
    assert "Chưa báo cáo" not in pairs

    province_only = await run_dashboard(
        reader, "dx-overview", OVERVIEW_RANGE, {"period": "2025-12-01", "level": ["province"]}, timescaledb=False
    )
    rates = await reader.fetch(
        "SELECT sum(actual) AS actual, sum(on_time) AS on_time, sum(expected) AS expected FROM reporting_rates "
        "WHERE unit = 'QN' AND period_end BETWEEN '2025-12-01' AND '2025-12-31'"
    )
    actual, on_time, expected = rates[0]["actual"], rates[0]["on_time"], rates[0]["expected"]
    assert (actual, on_time) == (2, 1)  # DG-14 of Q4 in time, DG-04 of December five days late
    assert float(province_only.table("Tỷ lệ báo cáo").rows[0][0]) == round(100 * actual / expected, 1)
    assert float(province_only.table("Tỷ lệ báo cáo đúng hạn").rows[0][0]) == round(100 * on_time / expected, 1)

    outcomes = run.table("Kết quả mốc 2025 và tiến độ tới mốc tiếp theo").row(**{"Mã": "DG-14"})
    valid = [
        u
        for u in catalog.units_active_on(date(2025, 12, 31))
        if catalog.indicators["DG-14"].target_for(u.level) is not None
    ]
    assert (outcomes["Đạt mốc 2025"], outcomes["Không đạt mốc 2025"]) == (
        1,
        len(valid) - 1,
    )  # only UONGBI's 70 % ≥ 60 %
    # The nearest milestone ahead of any unit: the province's CT2026-BCDTW target (100 % by 31/12/2026).
    assert outcomes["Mốc tiếp theo"] == date(2026, 12, 31)
    # The NQ 09 scorecard: UONGBI's DG-04 missed, final (cut-off 10/01/2026); no alert for it.
    card = run.table("Kết quả thực hiện NQ 09 đến năm 2025").row(**{"Trụ cột": "Chính quyền số"})
    assert card["Không đạt"] >= 1 and card["Tạm tính"] >= 1  # yearly indicators: cut-off 31/03/2026, ahead
    achieved, total = map(int, card["Chỉ tiêu đạt"].split("/"))
    assert achieved == card["Vượt"] + card["Đạt"] and total == achieved + card["Không đạt"]
    pillars = run.table("Chỉ tiêu toàn tỉnh đã đạt, theo trụ cột")
    assert pillars.row(**{"Trụ cột": "Chính quyền số"})["Đạt"] == 1  # DG-04: the province's 97.9 % ≥ 80 %


async def test_level_choices_follow_the_period(seeded: Seeded, reader: asyncpg.Connection) -> None:
    after = await run_dashboard(reader, "dx-overview", OVERVIEW_RANGE, {"period": "2025-12-01"}, timescaledb=False)
    before = await run_dashboard(reader, "dx-overview", OVERVIEW_RANGE, {"period": "2024-12-01"}, timescaledb=False)
    assert [v for _, v in after.options["level"]] == ["province", "department", "commune"]
    assert [v for _, v in before.options["level"]] == ["province", "department", "district", "commune"]
    periods = [v for _, v in after.options["period"]]
    assert periods[-1] == "2022-01-01" and periods == sorted(periods, reverse=True)


async def test_unit_detail_of_the_behind_unit(seeded: Seeded, reader: asyncpg.Connection) -> None:
    run = await run_dashboard(
        reader, "dx-unit-detail", UNIT_RANGE, {"unit": BEHIND, "indicator": "DG-14"}, timescaledb=False
    )
    names = dict(run.options["unit"])
    assert {v: t for t, v in names.items()}[PREDECESSOR] == "Phường Tuần Châu, Thành phố Hạ Long (đến 30/06/2025)"
    status = run.table("Trạng thái các chỉ tiêu")
    assert [(r["Mã"], r["Kết quả"]) for r in status.rows[:2]] == [("DG-04", "missed"), ("DG-14", "behind")]
    assert status.row(**{"Mã": "DG-04"})["Tình hình báo cáo"] == "missing"
    assert status.row(**{"Mã": "DG-14"})["Tình hình báo cáo"] == "late"  # Q4 arrived on 02/02, after 15/01
    # The set each target comes from: the commune's DG-14 follows NQ 09's path, continued to 2030.
    assert status.row(**{"Mã": "DG-14"})["Bộ chỉ tiêu"] == "NQ09-2030"
    overdue = run.table("Chỉ tiêu chưa báo cáo")
    assert overdue.column("Mã") == ["DG-04"]
    assert overdue.rows[0]["Chưa báo cáo từ"] == date(2025, 12, 11) and overdue.rows[0]["Số ngày chưa báo cáo"] == 94
    last = run.table("Báo cáo gần nhất")
    assert last.row(**{"Mã": "DG-14"})["Giá trị"] == 20 and last.row(**{"Mã": "DG-04"})["Giá trị"] == 40
    assert last.row(**{"Mã": "DG-14"})["Nguyên nhân, giải pháp"] == BEHIND_WHY
    assert last.row(**{"Mã": "DG-04"})["Nguyên nhân, giải pháp"] is None
    explained = run.table("Nguyên nhân, giải pháp theo kỳ")
    assert [(r["Mã"], r["Nhóm"], r["Từ ngày"], r["Nguyên nhân, giải pháp"]) for r in explained.rows] == [
        ("DG-14", None, date(2025, 10, 1), BEHIND_WHY)
    ]
    lineage = run.table("Đơn vị tiền thân và kế thừa")
    # The communes it took over, and the district whose territory it took part of.
    assert set(lineage.column("unit")) == {"QN-HALONG-P-DAIYEN", PREDECESSOR, "QN-HALONG-P-HAKHAU", DISTRICT}

    history = run.panels["${indicator:text}#DG-14"]
    assert history["A"].column("Giá trị báo cáo") == [20]
    # 2022–2025 from the old commune and, for Q4/2024, the district it took part of (Hạ Long's 75/100 is
    # counted in full, as every partial predecessor is — dxmon/progress.py): (40 + 75) / 200, then 45.
    assert history["B"].column("Đơn vị tiền thân (tổng hợp)") == [57.5, 45]
    assert history["D"].column("Mục tiêu") == [60, 100]
    expected = await reader.fetchval(
        "SELECT expected FROM progress_current WHERE unit = $1 AND indicator = 'DG-14'", BEHIND
    )
    assert glide_value(history["C"], AS_OF.date()) == pytest.approx(expected)


async def test_unit_detail_shows_the_explanations_of_categories_beside_the_total(
    seeded: Seeded, reader: asyncpg.Connection
) -> None:
    run = await run_dashboard(reader, "dx-unit-detail", UNIT_RANGE, {"unit": "QN"}, timescaledb=False)
    last = run.table("Báo cáo gần nhất")
    assert last.row(**{"Mã": "DG-01"})["Nguyên nhân, giải pháp"] == f"Cấp huyện: {DISTRICT_WHY}"
    assert last.row(**{"Mã": "DG-14"})["Nguyên nhân, giải pháp"] is None
    explained = run.table("Nguyên nhân, giải pháp theo kỳ")
    assert [(r["Mã"], r["Nhóm"], r["Đến ngày"], r["Giá trị"]) for r in explained.rows] == [
        ("DG-01", "Cấp huyện", date(2025, 10, 31), pytest.approx(48.5))
    ]
    # The time picker narrows it: nothing explained in 2026.
    later = local_range(datetime(2026, 1, 1, tzinfo=LOCAL), datetime(2026, 12, 31, tzinfo=LOCAL))
    run = await run_dashboard(reader, "dx-unit-detail", later, {"unit": "QN"}, timescaledb=False)
    assert run.table("Nguyên nhân, giải pháp theo kỳ").rows == []


def glide_value(glide: Result, day: date) -> float:
    """glide_value reads the drawn glide path at ``day`` (straight lines between its points, by days)."""
    points = [((t.astimezone(LOCAL).date() - day).days, v) for t, v in glide.rows]
    for (d0, v0), (d1, v1) in pairwise(points):
        if d0 <= 0 <= d1:
            return v0 + (v1 - v0) * (0 - d0) / (d1 - d0)
    raise AssertionError(f"{day} is outside the drawn glide path {glide.rows}")


async def test_unit_detail_of_a_ceased_unit_reads_its_own_history(seeded: Seeded, reader: asyncpg.Connection) -> None:
    run = await run_dashboard(
        reader, "dx-unit-detail", UNIT_RANGE, {"unit": PREDECESSOR, "indicator": "DG-14"}, timescaledb=False
    )
    assert run.table("Thông tin đơn vị").rows[0]["Hiệu lực đến"] == date(2025, 6, 30)
    assert run.table("Đơn vị tiền thân và kế thừa").row(unit=BEHIND)["Quan hệ"] == "Kế thừa"
    assert run.panels["${indicator:text}#DG-14"]["A"].column("Giá trị báo cáo") == [40, 45]


async def test_unit_detail_of_a_district_lists_the_communes_that_took_it_over(
    seeded: Seeded, reader: asyncpg.Connection, catalog: Catalog
) -> None:
    run = await run_dashboard(
        reader, "dx-unit-detail", UNIT_RANGE, {"unit": DISTRICT, "indicator": "DG-14"}, timescaledb=False
    )
    lineage = run.table("Đơn vị tiền thân và kế thừa")
    successors = {r["unit"] for r in lineage.rows if r["Quan hệ"] == "Kế thừa"}
    assert successors == set(catalog.units[DISTRICT].successors) and BEHIND in successors and len(successors) == 13


async def test_alerts_dashboard_counts_open_silenced_and_acknowledged(
    seeded: Seeded, reader: asyncpg.Connection
) -> None:
    window = time_range_for("dx-alerts", seeded)
    run = await run_dashboard(reader, "dx-alerts", window, {}, timescaledb=False)
    stat = {
        t: run.table(t).rows[0][0]
        for t in ("Cảnh báo đang mở", "Nghiêm trọng", "Đang tạm dừng thông báo", "Đã có người nhận xử lý")
    }
    # TUANCHAU's DG-14 behind; the province's DE-06 behind and unreported (both silenced). Outcomes are history.
    # The severity table: far behind (TUANCHAU's 20 % against a path above 60 %) or long unreported is critical.
    assert stat == {"Cảnh báo đang mở": 3, "Nghiêm trọng": 2, "Đang tạm dừng thông báo": 2, "Đã có người nhận xử lý": 1}
    open_alerts = run.table("Danh sách cảnh báo đang mở")
    assert open_alerts.row(unit=BEHIND, **{"Mã": "DG-14"})["Mức độ"] == "critical"
    assert MISSED not in open_alerts.column("unit")  # a final outcome is not a live alert
    assert all(r["Tạm dừng thông báo đến"] is not None for r in open_alerts.rows if r["unit"] == "QN")
    assert open_alerts.row(unit="QN", **{"Mã": "DE-06", "Loại": "overdue"})["Người tiếp nhận"] == "chuyên viên A"
    assert open_alerts.row(unit=BEHIND, **{"Mã": "DG-14"})["Loại"] == "behind"
    assert sorted(run.table("Lịch sử cảnh báo").column("Diễn biến")) == ["firing"] * 3
    events = run.table("Cảnh báo phát sinh và kết thúc")
    assert sum(r["value"] for r in events.rows) == 3 and set(events.column("metric")) == {"Đang mở"}
    assert run.table("Lệnh tạm dừng thông báo").row(unit="QN")["Chỉ tiêu"] == "Tất cả chỉ tiêu"
    assert run.table("Tiếp nhận xử lý").row(unit="QN")["Lý do"] == "đã nhắc đơn vị"

    behind_only = await run_dashboard(reader, "dx-alerts", window, {"kind": ["behind"]}, timescaledb=False)
    assert sorted(behind_only.table("Danh sách cảnh báo đang mở").column("unit")) == sorted([BEHIND, "QN"])


async def test_the_grafana_role_reads_but_cannot_write_or_see_channel_secrets(
    seeded: Seeded, reader: asyncpg.Connection
) -> None:
    assert await reader.fetchval("SELECT count(*) FROM progress_current") > 0
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await reader.execute("DELETE FROM alerts")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await reader.execute(
            "INSERT INTO dead_letters (stream_seq, subject, reason, detail, payload) VALUES (99, 's', 'r', 'd', 'p')"
        )
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await reader.fetch("SELECT url FROM channels")
