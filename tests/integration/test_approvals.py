"""Data approval on a real database: submit → approve → approved; return → notified → corrected →
submitted again → approved; the audit; what is refused; the status command and the unit dashboard.

Reports are stored with the aggregator's own write path (``store_reports``) at times the test sets
(``stored_at`` decides whether a report came after a decision). The programme's approval is switched
on in a copy of the catalog (``approval: true``), synced to the database as the aggregator does.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from typer.testing import CliRunner

from dxmon.catalog import Catalog
from dxmon.cli import build
from dxmon.contracts import LOCAL_TZ, ReportReceived, end_of_local_day
from dxmon.store import approvals_repository as approvals
from dxmon.store.approvals_repository import ApprovalError
from dxmon.store.catalog_repository import sync_catalog
from dxmon.store.reports_repository import store_reports
from services.alerts.alert import Severity
from services.alerts.dispatch import Dispatcher
from services.alerts.metrics import Metrics
from services.alerts.repository import add_subscription

pytestmark = pytest.mark.integration

UNIT, OTHER = "QN-P-HONGGAI", "QN-P-UONGBI"
T0 = datetime(2026, 11, 3, 9, 0, tzinfo=LOCAL_TZ)  # October's reports stored


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def report(unit: str, indicator: str, day: date, numerator: float) -> ReportReceived:
    return ReportReceived(
        event_id=uuid.uuid4(),
        unit=unit,
        indicator=indicator,
        observed_at=end_of_local_day(day),
        received_at=T0,
        agency="UBND phường",
        key_id="k1",
        numerator=numerator,
        denominator=100.0,
    )


async def store(conn: asyncpg.Connection, stored_at: datetime, *reports: ReportReceived) -> None:
    async with conn.transaction():
        await store_reports(conn, list(reports), stored_at)


@pytest.fixture
def approving(catalog: Catalog) -> Catalog:
    return dataclasses.replace(catalog, approval=True)


@pytest.fixture
def approving_dir(tmp_path: Path, catalog: Catalog) -> Path:
    """approving_dir: the shipped catalog with ``programme.approval: true``."""
    src = Path(__file__).resolve().parents[2] / "catalog"
    dst = tmp_path / "catalog"
    shutil.copytree(src, dst)
    path = dst / "indicators.yaml"
    text = path.read_text(encoding="utf-8")
    assert "  approval: false\n" in text
    path.write_text(text.replace("  approval: false\n", "  approval: true\n"), encoding="utf-8")
    return dst


@pytest.fixture
async def conn(database_url: str, approving: Catalog):
    c = await asyncpg.connect(database_url)
    await sync_catalog(c, approving)
    try:
        yield c
    finally:
        await c.close()


@pytest.fixture
def dxmon(database_url: str, approving_dir: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DX_DATABASE_URL", database_url)
    monkeypatch.setenv("DX_CATALOG_DIR", str(approving_dir))
    monkeypatch.setenv("COLUMNS", "250")
    app, runner = build(), CliRunner()
    return lambda *args: runner.invoke(app, list(args))


async def states(conn: asyncpg.Connection, when: datetime, unit: str = UNIT) -> dict[str, str]:
    return {
        v.indicator: v.approval
        for v in await approvals.value_states(conn, [unit], when)
        if v.period_start == date(2026, 10, 1)
    }


async def test_submit_approve_return_correct_approve(
    conn: asyncpg.Connection, approving: Catalog, database_url: str
) -> None:
    await store(
        conn, at(0), report(UNIT, "DG-04", date(2026, 10, 31), 60), report(UNIT, "DG-05", date(2026, 10, 31), 70)
    )
    assert await states(conn, at(1)) == {"DG-04": "submitted", "DG-05": "submitted"}

    approved = await approvals.decide(
        conn, approving, UNIT, "2026-10", "approved", by="Sở KH&CN", at=at(10), key_id="a1"
    )
    assert await states(conn, at(11)) == {"DG-04": "approved", "DG-05": "approved"}
    assert await states(conn, at(9)) == {"DG-04": "submitted", "DG-05": "submitted"}  # as of before it

    # The approver finds DG-04 wrong: returned with a comment; the unit's subscribers are told once.
    await add_subscription(conn, UNIT, False, [], Severity.WARNING, "json://127.0.0.1:9/honggai")
    await add_subscription(conn, "QN", True, [], Severity.CRITICAL, "json://127.0.0.1:9/critical-only")
    await add_subscription(conn, OTHER, False, [], Severity.WARNING, "json://127.0.0.1:9/uongbi")
    returned = await approvals.decide(
        conn,
        approving,
        UNIT,
        "2026-10",
        "returned",
        indicator="DG-04",
        comment="Mẫu số chưa đúng",
        by="Sở KH&CN",
        at=at(20),
        key_id="a1",
    )
    assert await states(conn, at(21)) == {"DG-04": "returned", "DG-05": "approved"}
    [period] = approvals.unit_periods(approving, await approvals.value_states(conn, [UNIT], at(21)))[-1:]
    assert (period.period.code, period.approval, period.counts) == (
        "2026-10",
        "returned",
        {"submitted": 0, "approved": 1, "returned": 1},
    )

    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        dispatcher = Dispatcher(
            pool,
            {u.code: u.parent for u in approving.units.values()},
            Metrics(),
            repeat_interval=timedelta(days=7),
            escalate_after=timedelta(days=30),
            public_url="https://grafana.example",
        )
        await dispatcher.flush(at(22))
        await dispatcher.flush(at(23))  # told once: a second flush queues nothing more
    finally:
        await pool.close()
    notices = await conn.fetch(
        "SELECT c.url, o.subject, o.body, o.payload FROM outbox o"
        " JOIN channels c ON c.id = o.channel_id WHERE o.reason = 'approval returned'"
    )
    assert [n["url"] for n in notices] == ["json://127.0.0.1:9/honggai"]
    subject = notices[0]["subject"]
    assert (
        subject == "[Chuyển đổi số Quảng Ninh] Báo cáo tháng 10/2026 của Phường Hồng Gai (QN-P-HONGGAI) "
        "bị trả lại: Mẫu số chưa đúng"
    )
    assert "chỉ tiêu DG-04" in notices[0]["body"] and "Sở KH&CN" in notices[0]["body"]
    payload = json.loads(notices[0]["payload"])
    assert (payload["type"], payload["indicator"], payload["comment"]) == (
        "approval_returned",
        "DG-04",
        "Mẫu số chưa đúng",
    )
    assert await conn.fetchval("SELECT count(*) FROM approval_notices") == 1

    # Returning it again changes nothing: refused. The unit corrects DG-04: submitted again.
    with pytest.raises(ApprovalError, match="đã bị trả lại"):
        await approvals.decide(
            conn, approving, UNIT, "2026-10", "returned", indicator="DG-04", comment="lại", by="Sở KH&CN", at=at(25)
        )
    await store(conn, at(30), report(UNIT, "DG-04", date(2026, 10, 31), 62))
    assert await states(conn, at(31)) == {"DG-04": "submitted", "DG-05": "approved"}
    final = await approvals.decide(conn, approving, UNIT, "2026-10", "approved", by="Sở KH&CN", at=at(40), key_id="a1")
    assert await states(conn, at(41)) == {"DG-04": "approved", "DG-05": "approved"}
    with pytest.raises(ApprovalError, match="đã được phê duyệt"):
        await approvals.decide(conn, approving, UNIT, "2026-10", "approved", by="Sở KH&CN", at=at(45))

    # The audit: every decision, who, which key, when, what, why — and it cannot be rewritten.
    audit = await approvals.decisions(conn, [UNIT])
    assert [(d.decision, d.indicator, d.comment, d.by, d.key_id, d.at) for d in audit] == [
        ("approved", "", "", "Sở KH&CN", "a1", at(10)),
        ("returned", "DG-04", "Mẫu số chưa đúng", "Sở KH&CN", "a1", at(20)),
        ("approved", "", "", "Sở KH&CN", "a1", at(40)),
    ]
    assert [d.id for d in audit] == [approved.id, returned.id, final.id]
    for statement in (
        "UPDATE approval_decisions SET decision = 'approved'",
        "DELETE FROM approval_decisions",
        "TRUNCATE approval_decisions CASCADE",
    ):
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute(statement)


@pytest.mark.parametrize(
    ("unit", "period", "decision", "kwargs", "reason"),
    [
        pytest.param(UNIT, "2026-10", "returned", {"comment": "  "}, "cần ghi ý kiến", id="return-needs-comment"),
        pytest.param(UNIT, "2026-09", "approved", {}, "chưa có số liệu", id="nothing-reported"),
        pytest.param(UNIT, "2026-13", "approved", {}, "không có kỳ báo cáo", id="no-such-month"),
        pytest.param(UNIT, "tháng 10", "approved", {}, "mã kỳ 'tháng 10' không hợp lệ", id="bad-period"),
        pytest.param("QN-NOPE", "2026-10", "approved", {}, "mã đơn vị 'QN-NOPE' không có", id="unknown-unit"),
        pytest.param(
            UNIT, "2026-10", "approved", {"indicator": "DG-99"}, "mã chỉ tiêu 'DG-99'", id="unknown-indicator"
        ),
        pytest.param(
            UNIT, "2026-10", "approved", {"indicator": "DG-14"}, "chưa có số liệu", id="indicator-not-reported"
        ),
        pytest.param(
            UNIT, "2026-10", "approved", {"comment": "x" * 2001}, "comment: dài quá 2000", id="comment-too-long"
        ),
        pytest.param(UNIT, "2026-10", "approved", {"comment": "a\x00b"}, "comment: .*U\\+0000", id="nul"),
        pytest.param(UNIT, "2026-10", "returned", {"comment": "a\u202eb"}, "U\\+202E", id="bidi-override"),
    ],
)
async def test_refusals(
    conn: asyncpg.Connection, approving: Catalog, unit: str, period: str, decision: str, kwargs: dict, reason: str
) -> None:
    await store(conn, at(0), report(UNIT, "DG-04", date(2026, 10, 31), 60))
    with pytest.raises(ApprovalError, match=reason):
        await approvals.decide(conn, approving, unit, period, decision, by="ai đó", at=at(5), **kwargs)
    assert await conn.fetchval("SELECT count(*) FROM approval_decisions") == 0


async def test_off_means_no_decision(conn: asyncpg.Connection, catalog: Catalog) -> None:
    await store(conn, at(0), report(UNIT, "DG-04", date(2026, 10, 31), 60))
    with pytest.raises(ApprovalError, match="không bật phê duyệt"):
        await approvals.decide(conn, catalog, UNIT, "2026-10", "approved", by="ai đó", at=at(5))


def test_cli_status_and_audit(dxmon, database_url: str, approving: Catalog) -> None:
    import asyncio

    async def seed() -> None:
        c = await asyncpg.connect(database_url)
        try:
            await sync_catalog(c, approving)
            now = datetime.now(LOCAL_TZ)
            await store(c, now - timedelta(minutes=5), report(UNIT, "DG-04", date(2026, 10, 31), 60))
        finally:
            await c.close()

    asyncio.run(seed())
    listed = dxmon("approvals", "list", "--unit", UNIT, "--format", "json")
    assert listed.exit_code == 0, listed.output
    assert [(p["period"], p["approval"]) for p in json.loads(listed.output)] == [("2026-10", "submitted")]
    status = json.loads(dxmon("status", UNIT, "--format", "json").output)
    assert {i["indicator"]: i["approval"] for i in status["indicators"] if i["current_value"] is not None} == {
        "DG-04": "submitted"
    }
    assert "Chờ phê duyệt" in dxmon("status", UNIT).output

    out = dxmon("approvals", "approve", UNIT, "2026-10", "--by", "Nguyễn Văn A")
    assert out.exit_code == 0, out.output
    assert out.output.startswith(
        "Phê duyệt: Phường Hồng Gai (QN-P-HONGGAI), tháng 10/2026, mọi chỉ tiêu — Nguyễn Văn A"
    )
    status = json.loads(dxmon("status", UNIT, "--format", "json").output)
    assert {i["indicator"]: i["approval"] for i in status["indicators"] if i["current_value"] is not None} == {
        "DG-04": "approved"
    }
    assert "Đã phê duyệt" in dxmon("status", UNIT).output
    again = dxmon("approvals", "approve", UNIT, "2026-10", "--by", "Nguyễn Văn A")
    assert again.exit_code == 2 and "đã được phê duyệt" in again.output

    returned = dxmon("approvals", "return", UNIT, "2026-10", "--comment", "Thiếu số liệu tháng", "--by", "B")
    assert returned.exit_code == 0, returned.output
    assert "Trả lại" in dxmon("approvals", "list", "--unit", UNIT).output
    audit = json.loads(dxmon("approvals", "list", "--decisions", "--format", "json").output)
    assert [(d["decision"], d["by"], d["comment"], d["key_id"]) for d in audit] == [
        ("approved", "Nguyễn Văn A", "", None),
        ("returned", "B", "Thiếu số liệu tháng", None),
    ]
    assert "Thiếu số liệu tháng" in dxmon("approvals", "list", "--decisions").output


def test_status_has_no_approval_when_off(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DX_DATABASE_URL", database_url)
    monkeypatch.setenv("COLUMNS", "250")
    runner, app = CliRunner(), build()
    status = json.loads(runner.invoke(app, ["status", UNIT, "--format", "json"]).output)
    assert status["indicators"] and all(i["approval"] is None for i in status["indicators"])
    assert "Phê duyệt" not in runner.invoke(app, ["status", UNIT]).output
    off = runner.invoke(app, ["approvals", "list"])
    assert off.exit_code == 2 and "không bật phê duyệt" in off.output


async def test_unit_dashboard_shows_each_values_approval_to_grafanas_role(
    conn: asyncpg.Connection,
    approving: Catalog,
    catalog: Catalog,
    database_url: str,
    pg_admin_url: str,
) -> None:
    from tests.integration.test_dashboard_sql import UNIT_RANGE, run_dashboard

    await store(
        conn, at(0), report(UNIT, "DG-04", date(2026, 10, 31), 60), report(UNIT, "DG-05", date(2026, 10, 31), 70)
    )
    await approvals.decide(
        conn, approving, UNIT, "2026-10", "returned", indicator="DG-05", comment="Sai mẫu số", by="Sở KH&CN", at=at(10)
    )
    await store(conn, at(20), report(UNIT, "DG-06", date(2026, 10, 31), 10))
    reader = f"dxt_grafana_{uuid.uuid4().hex[:8]}"
    await conn.execute(f'CREATE ROLE "{reader}" LOGIN IN ROLE dx_reader')  # Grafana's datasource role
    scheme, rest = database_url.split("://", 1)
    grafana = await asyncpg.connect(f"{scheme}://{reader}@{rest.split('@', 1)[1]}")
    try:

        async def shown() -> dict[str, str | None]:
            run = await run_dashboard(grafana, "dx-unit-detail", UNIT_RANGE, {"unit": UNIT}, timescaledb=False)
            return {r["Mã"]: r["Phê duyệt"] for r in run.table("Báo cáo gần nhất").rows}

        approval = await shown()
        assert {k: v for k, v in approval.items() if v} == {
            "DG-04": "Chờ phê duyệt",
            "DG-05": "Trả lại",
            "DG-06": "Chờ phê duyệt",
        }
        with pytest.raises(asyncpg.InsufficientPrivilegeError):  # which key decided is not the dashboards' business
            await grafana.fetch("SELECT key_id FROM approval_decisions")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await grafana.execute(
                "INSERT INTO approval_decisions (unit, period, period_start, period_end, decision,"
                " by, at) VALUES ('QN', '2026', '2026-01-01', '2026-12-31', 'approved', 'x', now())"
            )
        await sync_catalog(conn, catalog)  # approval off: the column stays empty
        assert set((await shown()).values()) == {None}
    finally:
        await grafana.close()
        await conn.execute(f'DROP OWNED BY "{reader}"')
        await conn.execute(f'DROP ROLE "{reader}"')
