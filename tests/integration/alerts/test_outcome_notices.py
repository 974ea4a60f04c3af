"""Final outcomes announced once ("Kết quả chính thức"), against real PostgreSQL, an SMTP server and a webhook.

Outcomes are decided by the real evaluation from reports with their receipt times (the cut-off of a
monthly target is the deadline + 10 days); the engine runs as the service composes it. DG-04 and
DG-09 of Phường Hồng Gai have a 31/12/2025 deadline (80 %, 100 %): 85 % exceeds one, 50 % misses the
other; every other target of the unit, reported or not, is missed. The province QN also has 2023 and 2024
deadlines: history.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest
from alerts_fixtures import OTHER, UNIT, Clock, cycle, fast_settings, report, seed, subscribe

from dxmon import words
from dxmon.store import outcomes_repository as outcomes
from dxmon.store.progress_repository import evaluate
from services.alerts.dispatch import Dispatcher
from services.alerts.messages import OUTCOMES_REASON, OUTCOMES_TYPE
from services.alerts.metrics import Metrics
from tests.unit import retired_terms

pytestmark = pytest.mark.integration

DEADLINE = date(2025, 12, 31)
CUT = datetime(2026, 1, 12, 3, 0, tzinfo=UTC)  # 10:00 on 12/01/2026 in Hạ Long: the 10/01 cut-off has ended
NOTICE = "[Chuyển đổi số Quảng Ninh] Kết quả chính thức"
STAFF, OTHER_STAFF, PROVINCE = "can.bo@honggai.example.vn", "can.bo@halong.example.vn", "so.khcn@quangninh.example.vn"


def notices(mails) -> list:
    return [m for m in mails if m.subject.startswith(NOTICE)]


def hook_notices(receiver) -> list[dict]:
    return [b for b in receiver.bodies("/hook") if b.get("type") == OUTCOMES_TYPE]


async def final_outcomes(database_url: str, unit: str, deadline: date = DEADLINE) -> dict[str, str]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT indicator, status FROM milestone_outcomes WHERE unit = $1 AND milestone = $2"
            " AND final AND NOT reopened ORDER BY indicator",
            unit,
            deadline,
        )
    finally:
        await conn.close()
    return {r["indicator"]: r["status"] for r in rows}


async def operator(database_url: str, action, unit: str, indicator: str, deadline: date, at: datetime) -> dict:
    conn = await asyncpg.connect(database_url)
    try:
        return await action(conn, unit, indicator, "NQ09", deadline, reason="rà soát số liệu", by="Trần B", at=at)
    finally:
        await conn.close()


async def test_each_final_outcome_is_announced_once_per_recipient_and_history_never(
    database_url, bus, catalog, smtp, receiver, make_engine
) -> None:
    await subscribe(
        database_url,
        catalog,
        (UNIT, smtp.url(STAFF)),
        (UNIT, f"{receiver.url}/hook"),
        (OTHER, smtp.url(OTHER_STAFF)),
        ("QN", smtp.url(PROVINCE)),
    )
    received = datetime(2026, 1, 3, 2, 0, tzinfo=UTC)  # before the cut-off: these decide
    await seed(
        database_url,
        [
            report(UNIT, "DG-04", DEADLINE, numerator=85, denominator=100, received=received),
            report(UNIT, "DG-09", DEADLINE, numerator=50, denominator=100, received=received),
        ],
        received,
    )
    engine = await make_engine(fast_settings(database_url, bus), Clock(CUT))
    await cycle(engine, CUT)

    # The evaluation decided them; the notice counts what it decided.
    decided = await final_outcomes(database_url, UNIT)
    assert (decided["DG-04"], decided["DG-09"]) == ("exceeded", "missed")
    assert {s for i, s in decided.items() if i != "DG-04"} == {"missed"}
    total = len(decided)
    [mail] = notices(smtp.to(STAFF))  # one notice for the recipient, whatever the number of outcomes
    assert mail.subject == f"{NOTICE} Bộ chỉ tiêu NQ09 – thời hạn 31/12/2025: 1/{total} chỉ tiêu đạt"
    assert f"■ Phường Hồng Gai ({UNIT}): Vượt 1, Đạt 0, Không đạt {total - 1}" in mail.body
    assert "  • Không đạt — DG-09 " in mail.body
    assert (
        f"{words.DECIDING_VALUE}: 50% (kỳ báo cáo tháng 12/2025) | {words.TARGET}: 100% | "
        f"{words.DEADLINE}: 31/12/2025 | {words.FINAL} (chốt số liệu 10/01/2026)"
    ) in mail.body
    assert "DG-04 " not in mail.body  # achieved: counted, not detailed
    assert retired_terms.retired_terms_in(mail.subject + mail.body) == []
    [hook] = hook_notices(receiver)
    assert (hook["subject"], hook["reason"], hook["total"], hook["achieved"]) == (
        mail.subject,
        OUTCOMES_REASON,
        total,
        1,
    )
    assert hook["counts"] == {"exceeded": 1, "met": 0, "missed": total - 1}
    # Hạ Long reported nothing: all missed, told to its own subscriber only.
    [other] = notices(smtp.to(OTHER_STAFF))
    assert other.subject.endswith(f": 0/{len(await final_outcomes(database_url, OTHER))} chỉ tiêu đạt")
    assert "Phường Hồng Gai" not in other.body
    # The province (without its descendants) hears of its own 2025 outcomes; 2023 and 2024 are history.
    [province] = notices(smtp.to(PROVINCE))
    assert "thời hạn 31/12/2025" in province.subject and "Phường" not in province.body
    assert await final_outcomes(database_url, "QN", date(2023, 12, 31))  # decided, final, …
    assert all("2023" not in m.subject and "2024" not in m.subject for m in smtp.messages)  # … never sent

    # Sent once: another flush, another evaluation pass, a restart — nothing more.
    await engine.scheduler.dispatcher.flush(CUT + timedelta(minutes=5))
    await cycle(engine, CUT + timedelta(hours=1))
    await engine.close()
    engine = await make_engine(fast_settings(database_url, bus), Clock(CUT + timedelta(hours=2)), "alerts-b")
    await cycle(engine, CUT + timedelta(hours=2))
    assert [len(notices(smtp.to(a))) for a in (STAFF, OTHER_STAFF, PROVINCE)] == [1, 1, 1]
    assert len(hook_notices(receiver)) == 1
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE reason = $1", OUTCOMES_REASON) == 4
        assert await conn.fetchval("SELECT count(*) FROM milestone_outcomes WHERE final AND announced_at IS NULL") == 0
    finally:
        await conn.close()

    # A correction after the cut-off, the operator reopens and locks: a changed outcome is news again.
    fix = CUT + timedelta(days=3)
    await seed(database_url, [report(UNIT, "DG-09", DEADLINE, numerator=100, denominator=100, received=fix)], fix)
    await operator(database_url, outcomes.reopen, UNIT, "DG-09", DEADLINE, fix)
    await cycle(engine, fix)
    assert len(notices(smtp.to(STAFF))) == 1  # reopened: provisional, nothing to announce
    after = await operator(database_url, outcomes.lock, UNIT, "DG-09", DEADLINE, fix + timedelta(hours=1))
    assert (after["status"], after["value"]) == ("met", 100.0)
    # A reopen and lock that changes nothing is not news.
    await operator(database_url, outcomes.reopen, UNIT, "DG-04", DEADLINE, fix)
    await operator(database_url, outcomes.lock, UNIT, "DG-04", DEADLINE, fix + timedelta(hours=1))
    await cycle(engine, fix + timedelta(hours=2))
    staff_notices = notices(smtp.to(STAFF))
    assert len(staff_notices) == 2
    assert staff_notices[1].subject == f"{NOTICE} Bộ chỉ tiêu NQ09 – thời hạn 31/12/2025: 1/1 chỉ tiêu đạt"
    assert "Vượt 0, Đạt 1, Không đạt 0" in staff_notices[1].body
    assert [h["counts"] for h in hook_notices(receiver)][1] == {"exceeded": 0, "met": 1, "missed": 0}
    assert [len(notices(smtp.to(a))) for a in (OTHER_STAFF, PROVINCE)] == [1, 1]
    await cycle(engine, fix + timedelta(hours=3))
    assert len(notices(smtp.to(STAFF))) == 2

    # A province back-filling 2023 locks a changed 2023 outcome: history, marked and never sent.
    await seed(
        database_url, [report("QN", "DG-03", date(2023, 12, 31), numerator=70, denominator=100, received=fix)], fix
    )
    await operator(database_url, outcomes.reopen, "QN", "DG-03", date(2023, 12, 31), fix)
    locked = await operator(database_url, outcomes.lock, "QN", "DG-03", date(2023, 12, 31), fix + timedelta(hours=1))
    assert locked["status"] == "exceeded"
    await cycle(engine, fix + timedelta(hours=4))
    assert len(notices(smtp.to(PROVINCE))) == 1
    assert (await final_outcomes(database_url, "QN", date(2023, 12, 31)))["DG-03"] == "exceeded"


async def test_the_alerts_role_announces_and_the_reader_cannot(database_url, catalog) -> None:
    name = f"t_alerts_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(database_url)
    await admin.execute(f"CREATE ROLE {name} LOGIN IN ROLE dx_alerts")
    try:
        await subscribe(database_url, catalog, (UNIT, "json://127.0.0.1/hook"))
        pool = await asyncpg.create_pool(database_url, user=name, min_size=1, max_size=2)
        try:
            async with pool.acquire() as conn:
                await evaluate(conn, catalog, CUT)
            dispatcher = Dispatcher(
                pool,
                {u.code: u.parent for u in catalog.units.values()},
                Metrics(),
                repeat_interval=timedelta(days=7),
                escalate_after=timedelta(days=30),
                public_url=None,
            )
            assert await dispatcher.flush(CUT) >= 1
        finally:
            await pool.close()
        assert await admin.fetchval("SELECT count(*) FROM outbox WHERE reason = $1", OUTCOMES_REASON) == 1
        assert await admin.fetchval("SELECT count(*) FROM milestone_outcomes WHERE final AND announced_at IS NULL") == 0
        assert not await admin.fetchval(
            "SELECT has_column_privilege('dx_reader', 'milestone_outcomes', 'announced_at', 'UPDATE')"
        )
    finally:
        await admin.execute(f"DROP OWNED BY {name}; DROP ROLE {name}")
        await admin.close()


async def test_a_notice_that_cannot_be_rendered_holds_back_neither_alerts_nor_itself(
    database_url, bus, catalog, smtp, make_engine
) -> None:
    await subscribe(database_url, catalog, (UNIT, smtp.url(STAFF)))
    # Behind on DG-14's 2030 path, reported in time for the 2025 deadline: a live alert and final outcomes.
    # (Q3's figure: a Q4 one would restart the 2030 path from itself — dxmon.progress.restart_day.)
    await seed(
        database_url,
        [
            report(
                UNIT,
                "DG-14",
                date(2025, 9, 30),
                numerator=20,
                denominator=100,
                received=datetime(2026, 1, 3, 2, 0, tzinfo=UTC),
            )
        ],
        CUT,
    )
    engine = await make_engine(fast_settings(database_url, bus), Clock(CUT))
    dispatcher = engine.scheduler.dispatcher
    rendered = dispatcher.render_outcomes

    def broken(now, outcomes):
        raise RuntimeError("rendering bug")

    dispatcher.render_outcomes = broken
    await cycle(engine, CUT)
    assert smtp.to(STAFF) and notices(smtp.to(STAFF)) == []  # the alerts' digest went out
    dispatcher.render_outcomes = rendered
    await cycle(engine, CUT + timedelta(minutes=5))
    assert len(notices(smtp.to(STAFF))) == 1  # not marked announced: sent by the next flush
