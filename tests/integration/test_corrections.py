"""Corrections, categories and event ids over real NATS and PostgreSQL (ingest → JetStream → aggregator).

- A correction of a period wins whatever instant inside the period it names (the issue's DG-14 case).
- The order of arrival is the stream's, not the ingest replicas' clocks.
- Categories add up to a total row (category ''), published percentages are flagged in it.
- Event ids are scoped to the agency; a reused id with other content is dead-lettered, never silently dropped.
- After a NATS restart a resent report is answered "accepted" and still stored once.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta

import httpx
import nats
import pytest

from dxmon import devstack
from dxmon.contracts import DEADLETTER_STREAM, ReportReceived, report_subject
from tests.pipeline import Pipeline, report

pytestmark = pytest.mark.integration


async def post(pipeline: Pipeline, body, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else pipeline.headers
    async with httpx.AsyncClient(base_url=pipeline.ingest_url, headers=headers) as client:
        return await client.post("/v1/reports", json=body)


async def publish_events(nats_url: str, events: list[ReportReceived]) -> None:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        for e in events:
            await js.publish(
                report_subject(e.unit, e.indicator),
                e.model_dump_json().encode(),
                headers={"Nats-Msg-Id": f"{e.event_id}:{e.received_at.isoformat()}"},
            )
    finally:
        await nc.close()


async def test_correction_sent_as_another_instant_of_the_quarter_wins(pipeline: Pipeline):
    first = report(unit="QN", indicator="DG-14", day="2026-09-30", numerator=70, denominator=100)
    fix = report(unit="QN", indicator="DG-14", day="2026-09-30T23:59:59+07:00", numerator=75, denominator=100)
    assert (await post(pipeline, first)).status_code == 202
    await pipeline.wait_drained()
    assert (await post(pipeline, fix)).status_code == 202
    await pipeline.wait_drained()
    rows = await pipeline.fetch("SELECT * FROM period_values WHERE unit = 'QN' AND indicator = 'DG-14'")
    assert len(rows) == 1
    row = rows[0]
    assert (row["period_start"], row["period_end"], row["category"]) == (date(2026, 7, 1), date(2026, 9, 30), "")
    assert (row["value"], row["reports"], str(row["event_id"])) == (75.0, 2, fix["event_id"])
    assert await pipeline.fetchval("SELECT value FROM latest_values WHERE unit = 'QN' AND indicator = 'DG-14'") == 75.0
    assert await pipeline.fetchval("SELECT count(*) FROM reports WHERE indicator = 'DG-14'") == 2  # history kept
    # 2026-09-30T23:30:00Z is already 1 October in Hà Nội: the fourth quarter, a period of its own.
    q4 = report(unit="QN", indicator="DG-14", day="2026-09-30T23:30:00Z", numerator=1, denominator=100)
    assert (await post(pipeline, q4)).status_code == 202
    await pipeline.wait_drained()
    assert (
        await pipeline.fetchval(
            "SELECT array_agg(period_start ORDER BY period_start)::text FROM period_values WHERE indicator = 'DG-14'"
        )
        == "{2026-07-01,2026-10-01}"
    )
    assert await pipeline.fetchval("SELECT period_start FROM latest_values WHERE indicator = 'DG-14'") == date(
        2026, 10, 1
    )


async def test_stream_order_wins_over_skewed_ingest_clocks(pipeline: Pipeline):
    """Two ingest replicas: the one that published later has a clock an hour behind. Its report wins."""
    now = datetime.now(UTC)
    base = dict(
        unit="QN-P-HONGGAI",
        indicator="DG-04",
        observed_at="2026-10-31",
        denominator=100,
        agency="test agency",
        key_id="k" * 16,
    )
    earlier = ReportReceived(event_id=uuid.uuid4(), numerator=10, received_at=now, **base)
    later = ReportReceived(event_id=uuid.uuid4(), numerator=20, received_at=now - timedelta(hours=1), **base)
    await publish_events(pipeline.nats_url, [earlier, later])
    await pipeline.wait_drained()
    row = await pipeline.fetchrow_dict("SELECT value, reports, event_id FROM period_values")
    assert row == {"value": 20.0, "reports": 2, "event_id": later.event_id}
    # A replay of the older report (redelivery, resend) changes nothing.
    await publish_events(pipeline.nats_url, [earlier.model_copy(update={"received_at": now + timedelta(hours=5)})])
    await pipeline.wait_drained()
    assert await pipeline.fetchrow_dict("SELECT value, reports, event_id FROM period_values") == row


async def test_categories_sum_to_a_total_that_flags_published_percentages(pipeline: Pipeline):
    day = "2024-03-31"
    parts = [
        report(unit="QN", indicator="DG-01", day=day, category="province", numerator=628, denominator=1000),
        report(unit="QN", indicator="DG-01", day=day, category="district", numerator=97, denominator=200),
        report(unit="QN", indicator="DG-01", day=day, category="commune", value=39.7),
    ]
    assert (await post(pipeline, parts)).status_code == 202
    await pipeline.wait_drained()
    rows = {r["category"]: r for r in await pipeline.fetch("SELECT * FROM period_values WHERE indicator = 'DG-01'")}
    assert set(rows) == {"", "province", "district", "commune"}
    assert (rows["commune"]["value"], rows["commune"]["percent_only"], rows["commune"]["numerator"]) == (
        39.7,
        True,
        None,
    )
    total = rows[""]
    assert (total["numerator"], total["denominator"]) == (725, 1200)  # the percent-only member cannot be summed
    assert total["value"] == pytest.approx(100 * 725 / 1200)
    assert (total["includes_percent_only"], total["percent_only"], total["reports"]) == (True, False, 3)
    # The commune figure's counts arrive later (a correction): the total becomes complete.
    fix = report(
        unit="QN", indicator="DG-01", day="2024-03-01T08:00:00+07:00", category="commune", numerator=31, denominator=78
    )
    assert (await post(pipeline, fix)).status_code == 202
    await pipeline.wait_drained()
    total = await pipeline.fetchrow_dict(
        "SELECT value, numerator, denominator, includes_percent_only, reports FROM period_values "
        "WHERE indicator = 'DG-01' AND category = ''"
    )
    assert total == {
        "value": pytest.approx(100 * 756 / 1278),
        "numerator": 756,
        "denominator": 1278,
        "includes_percent_only": False,
        "reports": 4,
    }
    latest = await pipeline.fetchrow_dict(
        "SELECT value, period_start FROM latest_values WHERE indicator = 'DG-01' AND category = ''"
    )
    assert latest == {"value": pytest.approx(59.154929), "period_start": date(2024, 3, 1)}
    assert await pipeline.fetchval("SELECT count(*) FROM latest_values WHERE indicator = 'DG-01'") == 4


async def test_same_event_id_from_two_agencies_is_two_reports(pipeline: Pipeline):
    _, other = await pipeline.create_key("UBND phường Hạ Long", ["QN-P-HALONG"])
    event_id = str(uuid.uuid4())
    mine = report(event_id=event_id, unit="QN-P-HONGGAI")
    theirs = report(event_id=event_id, unit="QN-P-HALONG")
    assert (await post(pipeline, mine)).json()["accepted"] == 1
    answer = await post(pipeline, theirs, token=other)
    assert answer.status_code == 202 and answer.json()["results"] == [{"event_id": event_id, "status": "accepted"}]
    await pipeline.wait_drained()
    rows = await pipeline.fetch("SELECT unit, agency FROM reports ORDER BY unit")
    assert [tuple(r) for r in rows] == [("QN-P-HALONG", "UBND phường Hạ Long"), ("QN-P-HONGGAI", "test agency")]
    assert await pipeline.fetchval("SELECT count(*) FROM dead_letters") == 0


async def test_event_id_reused_with_other_content_is_dead_lettered_and_counted(pipeline: Pipeline):
    original = report(numerator=40, denominator=100)
    assert (await post(pipeline, original)).status_code == 202
    assert (await post(pipeline, original)).json()["duplicates"] == 1  # same content: deduplicated
    changed = {**original, "numerator": 41}
    answer = await post(pipeline, changed)
    assert answer.status_code == 202  # ingest cannot know (it never reads the database) …
    await pipeline.wait_drained()
    # … the aggregator refuses it visibly: dead letter with the reason, counted; the old row stays.
    assert await pipeline.fetchval("SELECT numerator FROM reports") == 40
    assert await pipeline.fetchval("SELECT count(*) FROM reports") == 1
    dead = await pipeline.fetch("SELECT reason, detail FROM dead_letters")
    assert [r["reason"] for r in dead] == ["event-id-reused"] and original["event_id"] in dead[0]["detail"]
    nc = await nats.connect(pipeline.nats_url)
    try:
        msg = await nc.jetstream().get_last_msg(DEADLETTER_STREAM, "dx.deadletter.v1.event-id-reused")
        assert msg.headers is not None
        assert msg.headers["Dx-Reason"] == "event-id-reused"
    finally:
        await nc.close()
    assert pipeline.aggregator is not None
    metrics = pipeline.aggregator.app.state.metrics.dead_letters.labels("event-id-reused")._value.get()
    assert metrics == 1


async def test_resend_after_a_nats_restart_is_accepted_and_stored_once(tmp_path, database_url, catalog):
    """With interest retention an acked report leaves the stream and a restarted nats-server no longer
    knows its id: the resend is answered "accepted" (not "duplicate"), and the database stores it once."""
    server = devstack.nats_server(tmp_path / "nats").start()
    p = Pipeline(server.url, database_url, catalog)
    try:
        await p.setup()
        await p.start_aggregator()
        await p.start_ingest()
        body = report(day="2026-10-31")
        assert (await post(p, body)).json()["accepted"] == 1
        await p.wait_drained()
        assert (await post(p, body)).json()["duplicates"] == 1  # within the window, before the restart
        server.stop()
        server.start()
        answer = None
        for _ in range(100):  # ingest and the aggregator reconnect by themselves
            try:
                answer = await post(p, body)
            except httpx.HTTPError:
                answer = None
            if answer is not None and answer.status_code == 202:
                break
            await asyncio.sleep(0.2)
        assert answer is not None and answer.status_code == 202, answer and answer.text
        assert answer.json()["results"] == [{"event_id": body["event_id"], "status": "accepted"}]
        await p.wait_drained()
        assert await p.fetchval("SELECT count(*) FROM reports") == 1
        assert await p.fetchval("SELECT reports FROM period_values") == 1
        assert await p.fetchval("SELECT count(*) FROM dead_letters") == 0
    finally:
        await p.stop()
        server.stop()
