"""Aggregator against real NATS and PostgreSQL: idempotent storage, corrections, poison, outages."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import nats
import pytest

from dxmon import devstack
from dxmon.contracts import DEADLETTER_STREAM, ReportReceived, ReportStored
from tests.conftest import create_database
from tests.pipeline import Pipeline, report

pytestmark = pytest.mark.integration


def event(**fields) -> ReportReceived:
    body = report(**fields)
    return ReportReceived(**body, received_at=datetime.now(UTC), agency="test", key_id="k" * 16)


async def publish_raw(nats_url: str, subject: str, payload: bytes, msg_id: str | None = None) -> None:
    nc = await nats.connect(nats_url)
    try:
        headers = {"Nats-Msg-Id": msg_id} if msg_id else None
        await nc.jetstream().publish(subject, payload, headers=headers)
    finally:
        await nc.close()


async def test_reports_are_stored_with_derived_tables(pipeline: Pipeline):
    batch = [report(day=f"2025-{m:02d}-30", numerator=10 * m, denominator=200) for m in (7, 8, 9)]
    batch.append(report(unit="QN", indicator="DE-01", day="2025-12-31", value=9.5))
    async with httpx.AsyncClient(base_url=pipeline.ingest_url, headers=pipeline.headers) as client:
        assert (await client.post("/v1/reports", json=batch)).status_code == 202
    await pipeline.wait_drained()
    assert await pipeline.fetchval("SELECT count(*) FROM reports") == 4
    latest = await pipeline.fetch(
        "SELECT unit, indicator, value, numerator, denominator FROM latest_values ORDER BY unit"
    )
    assert [tuple(r) for r in latest] == [
        ("QN", "DE-01", 9.5, None, None),
        ("QN-P-HONGGAI", "DG-04", 45.0, 90.0, 200.0),
    ]
    assert await pipeline.fetchval("SELECT count(*) FROM period_values WHERE unit = 'QN-P-HONGGAI'") == 3
    row = (await pipeline.fetch("SELECT value, numerator, note, agency FROM reports WHERE unit = 'QN'"))[0]
    assert row["value"] == 9.5 and row["numerator"] is None and row["agency"] == "test agency"
    assert await pipeline.fetchval("SELECT sum(stored) FROM ingest_minutely") == 4


async def test_correction_for_the_same_period_wins_and_history_is_kept(pipeline: Pipeline):
    first = report(day="2025-10-31", numerator=30, denominator=100)
    correction = report(day="2025-10-31", numerator=35, denominator=100)
    async with httpx.AsyncClient(base_url=pipeline.ingest_url, headers=pipeline.headers) as client:
        assert (await client.post("/v1/reports", json=first)).status_code == 202
        await asyncio.sleep(0.01)
        assert (await client.post("/v1/reports", json=correction)).status_code == 202
    await pipeline.wait_drained()
    assert await pipeline.fetchval("SELECT count(*) FROM reports") == 2
    rows = await pipeline.fetch("SELECT value, reports, event_id::text FROM period_values")
    assert len(rows) == 1
    assert rows[0]["value"] == 35.0 and rows[0]["reports"] == 2 and rows[0]["event_id"] == correction["event_id"]
    assert await pipeline.fetchval("SELECT value FROM latest_values") == 35.0


async def test_redelivered_and_replayed_reports_are_stored_once(pipeline: Pipeline):
    """Same event published twice under different Nats-Msg-Ids (dedup bypassed): still one row."""
    e = event(day="2025-11-30")
    payload = e.model_dump_json().encode()
    subject = f"dx.reports.v1.{e.unit}.{e.indicator}"
    await publish_raw(pipeline.nats_url, subject, payload, "a")
    await publish_raw(pipeline.nats_url, subject, payload, "b")
    await pipeline.wait_drained()
    assert await pipeline.fetchval("SELECT count(*) FROM reports") == 1
    assert await pipeline.fetchval("SELECT reports FROM period_values") == 1
    assert await pipeline.fetchval("SELECT sum(stored) FROM ingest_minutely") == 1


async def test_poison_messages_are_dead_lettered_and_good_ones_flow(pipeline: Pipeline):
    good = event(day="2025-08-31")
    unknown_unit = event(day="2025-08-31").model_copy(update={"unit": "QN-NOWHERE"})
    await publish_raw(pipeline.nats_url, "dx.reports.v1.X.Y", b"\x00not json at all")
    await publish_raw(pipeline.nats_url, "dx.reports.v1.QN-NOWHERE.DG-04", unknown_unit.model_dump_json().encode())
    await publish_raw(pipeline.nats_url, "dx.reports.v1.QN-P-HONGGAI.DG-04", good.model_dump_json().encode())
    await pipeline.wait_drained()
    assert await pipeline.fetchval("SELECT count(*) FROM reports") == 1
    dead = await pipeline.fetch("SELECT reason, subject FROM dead_letters ORDER BY stream_seq")
    assert [(r["reason"], r["subject"]) for r in dead] == [
        ("undecodable", "dx.reports.v1.X.Y"),
        ("unknown-unit", "dx.reports.v1.QN-NOWHERE.DG-04"),
    ]
    nc = await nats.connect(pipeline.nats_url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(DEADLETTER_STREAM)
        assert info.state.messages == 2
        last = await js.get_last_msg(DEADLETTER_STREAM, "dx.deadletter.v1.unknown-unit")
        assert last.headers is not None
        assert last.headers["Dx-Reason"] == "unknown-unit"
        assert last.headers["Dx-Original-Subject"] == "dx.reports.v1.QN-NOWHERE.DG-04"
    finally:
        await nc.close()


async def test_a_category_the_catalog_no_longer_has_is_dead_lettered_not_stuck(pipeline: Pipeline):
    """A report ingest accepted before the catalog's categories changed: poison, not redelivered forever."""
    stale = event(day="2025-08-31").model_copy(update={"category": "province"})  # DG-04 has no categories
    await publish_raw(pipeline.nats_url, "dx.reports.v1.QN-P-HONGGAI.DG-04", stale.model_dump_json().encode())
    await pipeline.wait_drained(timeout=15)
    dead = await pipeline.fetch("SELECT reason, detail FROM dead_letters")
    assert [r["reason"] for r in dead] == ["unknown-category"]
    assert "DG-04 has no categories" in dead[0]["detail"]
    assert await pipeline.fetchval("SELECT count(*) FROM reports") == 0


async def test_stored_notice_is_published_after_commit(pipeline: Pipeline):
    nc = await nats.connect(pipeline.nats_url)
    notices: list[ReportStored] = []
    try:

        async def collect(msg) -> None:
            notices.append(ReportStored.model_validate_json(msg.data))

        sub = await nc.subscribe("dx.stored.v1.>", cb=collect)
        async with httpx.AsyncClient(base_url=pipeline.ingest_url, headers=pipeline.headers) as client:
            await client.post(
                "/v1/reports", json=[report(day="2025-09-30"), report(indicator="DG-03", day="2025-09-30")]
            )
        for _ in range(50):
            if notices:
                break
            await asyncio.sleep(0.1)
        await sub.unsubscribe()
    finally:
        await nc.close()
    assert len(notices) == 1
    assert notices[0].unit == "QN-P-HONGGAI" and notices[0].indicators == ["DG-03", "DG-04"] and notices[0].stored == 2
    # The notice follows the commit: the rows are there.
    assert await pipeline.fetchval("SELECT count(*) FROM reports") == 2


async def test_database_outage_naks_and_recovers_alone(tmp_path, nats_url: str, catalog):
    """Fault: PostgreSQL stopped while reports arrive; after restart every report is stored once."""
    pg = devstack.postgres_server(tmp_path / "pg", durable=False).start()
    try:
        url = await create_database(pg.url, catalog)
        p = Pipeline(nats_url, url, catalog)
        await p.setup()
        await p.start_aggregator()
        await p.start_ingest()
        sent: list[str] = []
        async with httpx.AsyncClient(base_url=p.ingest_url, headers=p.headers, timeout=20) as client:

            async def post(n: int) -> None:
                batch = [report(day="2025-09-30", numerator=i % 100, denominator=100) for i in range(n)]
                answer = await client.post("/v1/reports", json=batch)
                assert answer.status_code == 202, answer.text
                sent.extend(b["event_id"] for b in batch)

            await post(200)
            await p.wait_drained()
            pg.stop(sig=2)  # fast shutdown, like an operator restart
            await post(300)  # ingest does not need the database
            await asyncio.sleep(1.5)  # the aggregator naks with a delay meanwhile
            assert await p.backlog() > 0
            pg.start()
            await post(100)
            await p.wait_drained(timeout=60)
        stored = {r["event_id"] for r in await p.fetch("SELECT event_id::text FROM reports")}
        assert stored == set(sent) and len(sent) == 600
        await p.stop()
    finally:
        pg.stop()


async def test_two_aggregators_share_the_consumer_without_doubling(pipeline: Pipeline):
    from services.aggregator.app import create_app
    from tests.pipeline import Served

    second = Served(create_app(pipeline.aggregator_settings, pipeline.catalog), devstack.free_port())
    await second.start()
    try:
        async with httpx.AsyncClient(base_url=pipeline.ingest_url, headers=pipeline.headers, timeout=20) as client:
            for _ in range(10):
                batch = [report(day="2025-09-30") for _ in range(100)]
                assert (await client.post("/v1/reports", json=batch)).status_code == 202
        await pipeline.wait_drained()
    finally:
        await second.stop()
    assert await pipeline.fetchval("SELECT count(*) FROM reports") == 1000
    assert await pipeline.fetchval("SELECT count(DISTINCT event_id) FROM reports") == 1000
    assert await pipeline.fetchval("SELECT reports FROM period_values") == 1000
