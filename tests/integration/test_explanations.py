"""Explanations (Nguyên nhân, giải pháp) stored with the period's value, through the real write path.

The rule (README, "Send a report"; dxmon/store/migrations/0009_explanations.sql): a period's explanation is
that of the report received last, in stream order, among the period's reports that carried the field. A
correction that leaves it out keeps it (an officer fixing a typo in a figure does not expect the reason he
gave to vanish); an empty explanation withdraws it. Checked through ingest → JetStream → aggregator, then
with batches processed out of order against a model, across the 0009 upgrade (and 0013, which keeps the
digest that 0009 defined), and as the dashboards' role.
"""

from __future__ import annotations

import random
import unicodedata
import uuid
from datetime import UTC, date, datetime, timedelta

import asyncpg
import httpx
import pytest

from dxmon import devstack
from dxmon.contracts import LOCAL_TZ, ReportReceived, end_of_local_day
from dxmon.store.migrate import migrate
from dxmon.store.reports_repository import Explanation, explanations_for, store_reports
from tests.hostile.hostile_support import drop_database
from tests.integration.test_store_model import model, random_report
from tests.pipeline import Pipeline, report

pytestmark = pytest.mark.integration

WHY = "Một số thôn chưa có cáp quang; đã đề nghị nhà mạng hoàn thành trong quý IV."
T0 = datetime(2026, 1, 1, tzinfo=UTC)


async def post(pipeline: Pipeline, body) -> httpx.Response:
    async with httpx.AsyncClient(base_url=pipeline.ingest_url, headers=pipeline.headers) as client:
        return await client.post("/v1/reports", json=body)


async def sent(pipeline: Pipeline, body) -> None:
    answer = await post(pipeline, body)
    assert answer.status_code == 202, answer.text
    await pipeline.wait_drained()


PERIOD_SQL = (
    "SELECT value, event_id, explanation, explanation_event_id, reports FROM {} "
    "WHERE unit = 'QN-P-HONGGAI' AND indicator = 'DG-04' AND category = '' ORDER BY period_start DESC LIMIT 1"
)


async def in_force(pipeline: Pipeline) -> dict:
    period = await pipeline.fetchrow_dict(PERIOD_SQL.format("period_values"))
    assert period is not None
    assert await pipeline.fetchrow_dict(PERIOD_SQL.format("latest_values")) == period  # the newest period, mirrored
    return period


async def test_corrections_keep_replace_or_withdraw_the_explanation(pipeline: Pipeline):
    first = report(day="2026-10-31", numerator=40, denominator=100, explanation=unicodedata.normalize("NFD", WHY))
    await sent(pipeline, first)
    row = await in_force(pipeline)
    assert row["explanation"] == WHY  # sent decomposed, stored composed
    assert (row["value"], str(row["explanation_event_id"])) == (40.0, first["event_id"])

    # A correction of the figure alone: the new value is in force, the explanation stays.
    figure_only = report(day="2026-10-15", numerator=42, denominator=100)
    await sent(pipeline, figure_only)
    row = await in_force(pipeline)
    assert (row["value"], str(row["event_id"]), row["explanation"]) == (42.0, figure_only["event_id"], WHY)
    assert str(row["explanation_event_id"]) == first["event_id"]

    # Another explanation replaces it, the figure with it.
    other = "Đã hoàn thành kéo cáp; số liệu cập nhật."
    replaced = report(day="2026-10-31", numerator=45, denominator=100, explanation=f"  {other}\r\n")
    await sent(pipeline, replaced)
    row = await in_force(pipeline)
    assert (row["value"], row["explanation"], str(row["explanation_event_id"])) == (45.0, other, replaced["event_id"])

    # An empty explanation withdraws it: none in force, and the withdrawal is what a later report is compared to.
    withdrawn = report(day="2026-10-31", numerator=45, denominator=100, explanation=" ")
    await sent(pipeline, withdrawn)
    row = await in_force(pipeline)
    assert (row["explanation"], str(row["explanation_event_id"]), row["reports"]) == (None, withdrawn["event_id"], 4)

    # Every report keeps what it said, as history.
    history = await pipeline.fetch("SELECT explanation FROM reports ORDER BY stream_seq")
    assert [r["explanation"] for r in history] == [WHY, None, other, ""]

    # The next month starts without one: an explanation belongs to its period.
    await sent(pipeline, report(day="2026-11-30", numerator=50, denominator=100))
    row = await in_force(pipeline)
    assert (row["value"], row["explanation"], row["explanation_event_id"]) == (50.0, None, None)
    october = await pipeline.fetchval(
        "SELECT explanation_event_id FROM period_values WHERE period_start = '2026-10-01'"
    )
    assert str(october) == withdrawn["event_id"]


async def test_an_event_id_reused_with_another_explanation_is_dead_lettered(pipeline: Pipeline):
    original = report(day="2026-10-31", explanation=WHY)
    await sent(pipeline, original)
    answer = await post(pipeline, original)
    assert answer.json()["duplicates"] == 1  # the same report again: JetStream's duplicate
    await sent(pipeline, {**original, "explanation": "Lý do khác"})  # same id, other content
    dead = await pipeline.fetch("SELECT reason, detail FROM dead_letters")
    assert [r["reason"] for r in dead] == ["event-id-reused"] and original["event_id"] in dead[0]["detail"]
    assert await pipeline.fetchval("SELECT explanation FROM period_values") == WHY
    # Leaving the explanation out is other content too (the sender's record says it had one).
    await sent(pipeline, {k: v for k, v in original.items() if k != "explanation"})
    assert await pipeline.fetchval("SELECT count(*) FROM dead_letters") == 2
    assert await pipeline.fetchval("SELECT count(*) FROM reports") == 1


def event(seq_minute: int, explanation: str | None, numerator: float = 40, **fields) -> ReportReceived:
    base = dict(
        unit="QN-P-HONGGAI",
        indicator="DG-04",
        observed_at=end_of_local_day(date(2026, 10, 31)),
        numerator=numerator,
        denominator=100.0,
        agency="A",
        key_id="k" * 16,
    )
    base.update(fields)
    return ReportReceived(
        event_id=uuid.uuid4(), received_at=T0 + timedelta(minutes=seq_minute), explanation=explanation, **base
    )


async def stored_explanation(conn: asyncpg.Connection) -> tuple[str | None, float]:
    row = await conn.fetchrow("SELECT explanation, value FROM period_values WHERE category = ''")
    assert tuple(await conn.fetchrow("SELECT explanation, value FROM latest_values WHERE category = ''")) == tuple(row)
    return row["explanation"], row["value"]


async def test_stream_order_decides_even_when_batches_arrive_out_of_order(database_url: str, catalog):
    """Two aggregators may commit a later part of the stream first: the stream order still decides."""
    conn = await asyncpg.connect(database_url)
    everything: list[tuple[int, ReportReceived]] = []

    async def store(pairs: list[tuple[int, ReportReceived]]) -> None:
        everything.extend(pairs)
        async with conn.transaction():
            await store_reports(conn, [e for _, e in pairs], T0, catalog, [s for s, _ in pairs])

    try:
        await store([(10, event(10, None, numerator=50))])
        assert await stored_explanation(conn) == (None, 50.0)
        await store([(5, event(5, "cũ", numerator=40))])  # older: not the value in force, yet the last explanation
        assert await stored_explanation(conn) == ("cũ", 50.0)
        await store([(8, event(8, "mới hơn")), (3, event(3, "cổ nhất"))])
        assert await stored_explanation(conn) == ("mới hơn", 50.0)
        await store([(7, event(7, ""))])  # a withdrawal older than the explanation in force changes nothing
        assert await stored_explanation(conn) == ("mới hơn", 50.0)
        await store([(12, event(12, None, numerator=60)), (11, event(11, ""))])
        assert await stored_explanation(conn) == (None, 60.0)
        assert await conn.fetchval("SELECT explanation_stream_seq FROM period_values") == 11
        # Redelivering everything, in one batch, changes nothing.
        assert await conn.fetchval("SELECT count(*) FROM reports") == 7
        async with conn.transaction():
            result = await store_reports(conn, [e for _, e in everything], T0, catalog, [s for s, _ in everything])
        assert (result.stored, result.reused) == (0, [])
        assert await stored_explanation(conn) == (None, 60.0)
    finally:
        await conn.close()


@pytest.mark.parametrize("seed", range(4))
async def test_explanations_match_the_model_whatever_the_batch_order(database_url: str, catalog, seed: int):
    rng = random.Random(seed)
    choices = [None, None, "", "lý do A", "lý do B", unicodedata.normalize("NFD", "Hạ Long ngập")]
    stream = [random_report(rng, seq).model_copy(update={"explanation": rng.choice(choices)}) for seq in range(1, 91)]
    # model_copy skips validation: normalise as the contract would have.
    stream = [ReportReceived.model_validate(e.model_dump()) for e in stream]
    seqs = list(range(1, len(stream) + 1))
    batches, i = [], 0
    while i < len(stream):
        n = rng.randint(1, 12)
        batches.append(list(zip(seqs[i : i + n], stream[i : i + n], strict=True)))
        i += n
    rng.shuffle(batches)
    conn = await asyncpg.connect(database_url)
    try:
        for batch in batches:
            async with conn.transaction():
                await store_reports(conn, [e for _, e in batch], T0, catalog, [s for s, _ in batch])
        rows = {
            (r["unit"], r["indicator"], r["category"], r["period_start"]): r
            for r in await conn.fetch("SELECT * FROM period_values")
        }
        latest = await conn.fetch("SELECT * FROM latest_values")
    finally:
        await conn.close()
    values = model(list(zip(seqs, stream, strict=True)))
    explained: dict[tuple, tuple[int, str]] = {}
    for seq, e in zip(seqs, stream, strict=True):
        key = (e.unit, e.indicator, e.category or "", e.observed_at.astimezone(LOCAL_TZ).date().replace(day=1))
        if e.explanation is not None and seq > explained.get(key, (0, ""))[0]:
            explained[key] = (seq, e.explanation)
    assert set(rows) == set(values)
    for key, row in rows.items():
        assert row["value"] == pytest.approx(values[key]["value"]) and row["event_id"] == values[key]["event_id"], key
        explained_seq, text = explained.get(key, (None, None))
        assert (row["explanation"], row["explanation_stream_seq"]) == ((text or None), explained_seq), key
        if text:
            assert unicodedata.is_normalized("NFC", row["explanation"])
    for r in latest:  # each mirrors its period's row
        same = rows[(r["unit"], r["indicator"], r["category"], r["period_start"])]
        assert (r["explanation"], r["explanation_event_id"]) == (same["explanation"], same["explanation_event_id"])


async def test_explanations_for_the_official_report(database_url: str, catalog):
    def at(day: date, unit: str, indicator: str, explanation: str | None, **fields) -> ReportReceived:
        figures = fields or {"numerator": 40.0, "denominator": 100.0}
        return ReportReceived(
            event_id=uuid.uuid4(),
            unit=unit,
            indicator=indicator,
            observed_at=end_of_local_day(day),
            received_at=T0,
            agency="A",
            key_id="k" * 16,
            explanation=explanation,
            **figures,
        )

    events = [
        at(date(2025, 10, 31), "QN-P-HONGGAI", "DG-04", "tháng 10"),
        at(date(2025, 11, 30), "QN-P-HONGGAI", "DG-04", None),
        at(date(2025, 12, 31), "QN-P-UONGBI", "DG-04", "Uông Bí"),
        at(date(2025, 12, 31), "QN", "DG-01", "xã chậm", category="commune", numerator=30.0, denominator=100.0),
        at(date(2025, 12, 31), "QN", "DG-01", "tỉnh đạt", category="province", numerator=60.0, denominator=100.0),
        at(date(2025, 12, 31), "QN", "DG-01", None, category="district", numerator=50.0, denominator=100.0),
    ]
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            await store_reports(conn, events, T0, catalog)
        units = ["QN", "QN-P-HONGGAI", "QN-P-UONGBI"]
        end_2025 = end_of_local_day(date(2025, 12, 31))
        assert await explanations_for(conn, units, end_2025, catalog) == {
            # HONGGAI: November is in force and explains nothing; October's explanation is not November's.
            ("QN-P-UONGBI", "DG-04"): Explanation("Uông Bí", date(2025, 12, 1)),
            ("QN", "DG-01"): Explanation("Cấp tỉnh: tỉnh đạt\nCấp xã: xã chậm", date(2025, 12, 1)),
        }
        end_october = end_of_local_day(date(2025, 10, 31))
        assert await explanations_for(conn, units, end_october, catalog) == {
            ("QN-P-HONGGAI", "DG-04"): Explanation("tháng 10", date(2025, 10, 1)),
        }
        assert await explanations_for(conn, ["QN-P-UONGBI"], end_2025, catalog) == {
            ("QN-P-UONGBI", "DG-04"): Explanation("Uông Bí", date(2025, 12, 1)),
        }
        assert await explanations_for(conn, [], end_2025, catalog) == {}
    finally:
        await conn.close()


async def test_dashboards_role_reads_the_explanation_in_force_not_the_history(database_url: str, catalog):
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            await store_reports(conn, [event(1, WHY)], T0, catalog)
        async with conn.transaction():
            await conn.execute("SET LOCAL ROLE dx_reader")
            assert await conn.fetchval("SELECT explanation FROM period_values") == WHY
            assert await conn.fetchval("SELECT explanation FROM latest_values") == WHY
        for sql in ("SELECT explanation FROM reports", "SELECT * FROM reports"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                async with conn.transaction():
                    await conn.execute("SET LOCAL ROLE dx_reader")
                    await conn.fetchval(sql)
    finally:
        await conn.close()


@pytest.fixture
async def database_at_0008(pg_admin_url: str):
    url = await devstack.ensure_database(pg_admin_url, f"dxt_{uuid.uuid4().hex[:12]}")
    assert (await migrate(url, up_to="0008_outcome_notices")).applied[-1] == "0008_outcome_notices"
    yield url
    await drop_database(pg_admin_url, url)


DIGEST_ARGS = "'QN', 'DG-04', '', '2026-10-31T16:59:59Z'::timestamptz, NULL, 40::float8, 100::float8, 'ghi chú', NULL"


async def test_0009_keeps_every_stored_digest_valid(database_at_0008: str, catalog):
    """A report stored before 0009 and sent again after it is a replay, not an event id reused."""
    old = event(1, None)
    conn = await asyncpg.connect(database_at_0008)
    try:
        before = await conn.fetchval(f"SELECT dx_report_digest({DIGEST_ARGS})")
        stored = await conn.fetchval(
            "SELECT dx_report_digest($1, $2, '', $3, NULL, $4, $5, NULL, NULL)",
            old.unit,
            old.indicator,
            old.observed_at,
            old.numerator,
            old.denominator,
        )
        await conn.execute(
            "INSERT INTO report_ids (agency, event_id, observed_at, digest) VALUES ($1, $2, $3, $4)",
            old.agency,
            old.event_id,
            old.observed_at,
            stored,
        )
    finally:
        await conn.close()
    assert (await migrate(database_at_0008, up_to="0009_explanations")).applied == ["0009_explanations"]
    conn = await asyncpg.connect(database_at_0008)
    try:
        assert await conn.fetchval(f"SELECT dx_report_digest({DIGEST_ARGS})") == before  # 9 arguments, as before
        assert await conn.fetchval(f"SELECT dx_report_digest({DIGEST_ARGS}, NULL)") == before
        with_one = {await conn.fetchval(f"SELECT dx_report_digest({DIGEST_ARGS}, $1)", text) for text in ("", "x")}
        assert before not in with_one and len(with_one) == 2
        async with conn.transaction():
            result = await store_reports(conn, [old], T0, catalog)
        assert (result.stored, result.reused) == (0, [])
        async with conn.transaction():
            result = await store_reports(conn, [old.model_copy(update={"explanation": WHY})], T0, catalog)
        assert (result.stored, result.reused) == (0, [0])
    finally:
        await conn.close()


# 0013 declares dx_report_digest STABLE so that PostgreSQL inlines it; every digest must stay what it was,
# or a replay of a report stored before 0013 would be dead-lettered as an event id reused.
DIGEST_SQL = (
    "SELECT dx_report_digest($1::text, $2::text, $3::text, $4::timestamptz, $5::float8, $6::float8, $7::float8, "
    "$8::text, $9::text, $10::text)"
)
# unit, indicator, category, observed_at, value, numerator, denominator, note, source, explanation
DIGEST_CASES = [
    ("QN", "DG-04", "", datetime(2026, 10, 31, 16, 59, 59, tzinfo=UTC), None, 40.0, 100.0, "ghi chú", None, None),
    ("QN", "DG-04", "", datetime(2026, 10, 31, 16, 59, 59, tzinfo=UTC), None, 40.0, 100.0, "ghi chú", None, ""),
    ("QN", "DG-01", "province", datetime(1969, 12, 31, 23, 59, 59, 500001, UTC), -0.0, None, None, None, "x", WHY),
    ("QN-P-HONGGAI", "DG-14", "", datetime(2030, 1, 1, tzinfo=UTC), 0.1, 1e308, 3.0, "", "", "a\u0301"),
]
DIGEST_PLAN = (
    "EXPLAIN (VERBOSE) SELECT dx_report_digest(unit, indicator, category, observed_at, value, numerator, "
    "denominator, note, source, explanation) FROM reports"
)


async def plan_text(conn: asyncpg.Connection) -> str:
    return "\n".join(r[0] for r in await conn.fetch(DIGEST_PLAN))


async def test_0013_inlines_the_digest_and_keeps_every_digest(database_at_0008: str, catalog):
    url = database_at_0008
    assert (await migrate(url, up_to="0012_governing_target_set")).applied[-1] == "0012_governing_target_set"
    old = event(1, WHY)
    conn = await asyncpg.connect(url)
    try:
        before = [await conn.fetchval(DIGEST_SQL, *args) for args in DIGEST_CASES]
        assert len(set(before)) == len(DIGEST_CASES)
        assert "dx_report_digest(" in await plan_text(conn)  # called once per row, as a query of its own
        async with conn.transaction():
            assert (await store_reports(conn, [old], T0, catalog)).stored == 1
    finally:
        await conn.close()
    assert (await migrate(url, up_to="0013_digest_inlined")).applied == ["0013_digest_inlined"]
    conn = await asyncpg.connect(url)
    try:
        assert [await conn.fetchval(DIGEST_SQL, *args) for args in DIGEST_CASES] == before
        plan = await plan_text(conn)
        assert "dx_report_digest(" not in plan and "md5(concat_ws(" in plan  # inlined into the statement
        async with conn.transaction():
            result = await store_reports(conn, [old], T0, catalog)  # a replay of a report stored before 0013
        assert (result.stored, result.reused) == (0, [])
        async with conn.transaction():
            result = await store_reports(conn, [old.model_copy(update={"explanation": "khác"})], T0, catalog)
        assert (result.stored, result.reused) == (0, [0])
    finally:
        await conn.close()
