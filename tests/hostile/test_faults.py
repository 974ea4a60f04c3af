"""Faults, each counted exactly: nothing accepted is lost, nothing is doubled.

The services run as ``dxmon serve`` processes; faults are real (SIGKILL, a full JetStream store,
messages published past ingest). Counts come from the ``reports`` table, ``dead_letters``,
DX_DEADLETTER and the services' metrics. PostgreSQL restarts and the aggregator SIGKILLed between
batches are covered by tests/e2e/test_pipeline.py; this module adds the kill *inside* a commit.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import nats
import pytest

from dxmon import devstack
from dxmon.bus import ensure_topology
from dxmon.contracts import ALERTS_STREAM, LEASES_BUCKET, ReportReceived
from dxmon.settings import NatsSettings
from services.alerts.lease import LEASE_KEY
from services.alerts.metrics import Metrics
from services.alerts.scheduler import build_scheduler
from tests.e2e.test_pipeline import Proc
from tests.hostile.hostile_support import (
    Receiver,
    assert_no_leak,
    deadletter_count,
    fetchval,
    metric,
    private_nats,
    scrape,
    start_stack,
    stored_ids,
    stream_state,
    wait_drained,
)
from tests.integration.alerts.alerts_fixtures import (
    OTHER,
    UNIT,
    Clock,
    Engine,
    T,
    cycle,
    fall_behind,
    fast_settings,
    recover,
    seed,
    subscribe,
)
from tests.integration.alerts.alerts_fixtures import (
    report as alert_report,
)
from tests.pipeline import report

pytestmark = pytest.mark.e2e


def batches(n_batches: int, size: int, unit: str = "QN-P-HONGGAI") -> list[list[dict]]:
    """batches of distinct valid reports (months and indicators vary, so derived tables see corrections)."""
    return [
        [
            report(
                unit=unit,
                indicator=("DG-04", "DG-03", "DS-08")[i % 3],
                day=f"2026-{1 + i % 9:02d}-28",
                numerator=i % 90,
                denominator=100,
            )
            for i in range(size)
        ]
        for _ in range(n_batches)
    ]


async def post_until_accepted(
    client: httpx.AsyncClient, body: list[dict], statuses: Counter, pause: float = 0.2
) -> dict:
    """post_until_accepted resends the same batch (same event ids) after every 503, as agencies are told to."""
    while True:
        try:
            answer = await client.post("/v1/reports", json=body)
        except httpx.TransportError:
            statuses["transport-error"] += 1
        else:
            statuses[answer.status_code] += 1
            if answer.status_code == 202:
                return answer.json()
            assert answer.status_code == 503 and answer.json()["reason"] == "bus-unavailable", answer.text
            assert answer.headers["retry-after"] == "5"
        await asyncio.sleep(pause)


async def assert_stored_exactly(database_url: str, sent: list[dict]) -> None:
    ids = await stored_ids(database_url)
    assert len(ids) == len(sent) and set(ids) == {r["event_id"] for r in sent}
    assert await fetchval(database_url, "SELECT sum(reports) FROM period_values") == len(sent)
    assert await fetchval(database_url, "SELECT sum(stored) FROM ingest_minutely") == len(sent)


# ───────────────────────────── NATS ─────────────────────────────


async def test_nats_killed_while_eight_agencies_post_loses_and_doubles_nothing(tmp_path, database, catalog):
    """Fault: nats-server SIGKILLed once 80 of the 320 batches 8 agencies post are in, restarted 2 s later.

    Every 503 is resent unchanged until 202. Counts checked: 503s were seen (the fault was hit),
    no answer other than 202/503, and exactly 3,200 rows with the 3,200 event ids sent (no report
    lost, none doubled, though dedup state of consumed messages does not survive the kill).
    """
    server = private_nats(tmp_path / "nats")
    stack = await start_stack(
        tmp_path,
        server.url,
        catalog,
        database_url=database,
        aggregator=True,
        ingest_env={"DX_PUBLISH_TIMEOUT_SECONDS": "1"},
    )
    try:
        tokens = [(await stack.setup.create_key(f"agency {i}", ["QN"], with_descendants=True))[1] for i in range(8)]
        await asyncio.sleep(0.3)  # the KV watch delivers the keys
        work = {t: batches(40, 10) for t in tokens}
        statuses: Counter = Counter()

        async def agency(token: str) -> None:
            async with stack.client(token, timeout=10) as client:
                for body in work[token]:
                    result = await post_until_accepted(client, body, statuses)
                    assert result["accepted"] + result["duplicates"] == len(body)
                    await asyncio.sleep(0.05)  # agencies post over a few seconds

        async def fault() -> None:
            while statuses[202] < 80:  # a quarter of the batches are in: the kill lands mid-load
                await asyncio.sleep(0.01)
            server.kill()
            await asyncio.sleep(2.0)
            server.start()

        await asyncio.gather(fault(), *[agency(t) for t in tokens])
        sent = [r for t in tokens for body in work[t] for r in body]
        await wait_drained(server.url, timeout=60)
        print(f"answers: {dict(statuses)}")
        assert statuses[503] + statuses["transport-error"] > 0 and set(statuses) <= {202, 503, "transport-error"}
        await assert_stored_exactly(database, sent)
        assert_no_leak(stack.ingest.log.read_text(), *tokens, where="ingest log")
    finally:
        stack.stop()
        server.stop()


# ───────────────────────────── the aggregator ─────────────────────────────


async def test_aggregator_killed_in_the_middle_of_a_batch_commit(tmp_path, nats_url, database, catalog):
    """Fault: the aggregator SIGKILLed while its transaction holds uncommitted writes of a 5,000-report batch.

    30,000 reports wait in JetStream; the aggregator starts; the moment PostgreSQL shows its
    transaction with a transaction id (it has written, not committed) it is killed. Counts checked:
    the kill hit an open writing transaction, fewer than 30,000 rows existed then, the restarted
    aggregator saw redeliveries, and finally exactly 30,000 rows, 30,000 in period_values and
    ingest_minutely.
    """
    stack = await start_stack(
        tmp_path,
        nats_url,
        catalog,
        database_url=database,
        aggregator=True,
        aggregator_env={"DX_AGGREGATOR_BATCH_SIZE": "5000"},
    )
    try:
        stack.aggregator.stop()
        work = batches(30, 1000)
        async with stack.client(timeout=60) as client:
            for i in range(0, 30, 5):
                answers = await asyncio.gather(*[client.post("/v1/reports", json=b) for b in work[i : i + 5]])
                assert [a.status_code for a in answers] == [202] * 5
        watch = await asyncpg.connect(database)
        try:
            stack.aggregator.start()
            deadline = time.monotonic() + 30
            writer = None
            while writer is None:
                assert time.monotonic() < deadline, "no aggregator transaction seen"
                # A transaction with an id has written; its statement shows how far the batch got.
                writer = await watch.fetchrow(
                    "SELECT pid, state, left(query, 60) AS query FROM pg_stat_activity WHERE datname = "
                    "current_database()"
                    " AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL"
                    " AND (query ILIKE '%INSERT INTO reports%' OR query ILIKE '%period_values%'"
                    "      OR query ILIKE '%latest_values%' OR query ILIKE '%ingest_minutely%')"
                )
            os.kill(stack.aggregator.p.pid, signal.SIGKILL)
            stack.aggregator.p.wait(10)
            print(f"killed during: {dict(writer)}")
            # The dead client's backend rolls back once it notices the closed socket.
            for _ in range(100):
                if not await watch.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", writer["pid"]):
                    break
                await asyncio.sleep(0.05)
            rows_at_kill = await watch.fetchval("SELECT count(*) FROM reports")
        finally:
            await watch.close()
        stack.aggregator.start()
        await stack.aggregator.ready()
        await wait_drained(nats_url, timeout=60)
        metrics = await scrape(stack.aggregator_url)
        print(
            f"rows committed before the kill: {rows_at_kill}; "
            f"redelivered: {metric(metrics, 'dx_aggregator_messages_total', outcome='redelivered'):.0f}"
        )
        assert rows_at_kill < 30_000
        assert metric(metrics, "dx_aggregator_messages_total", outcome="redelivered") > 0
        await assert_stored_exactly(database, [r for b in work for r in b])
    finally:
        stack.stop()


# ───────────────────────────── JetStream full ─────────────────────────────


async def test_jetstream_store_full_means_503_never_202_then_recovery(tmp_path, database, catalog):
    """Fault: the JetStream store is full (nats-server ``max_file_store: 1MB``; DX_REPORTS itself unbounded).

    With the aggregator stopped, batches of 50 are posted until three in a row are refused. Checked:
    answers are 202s then only 503 bus-unavailable with Retry-After (never a 202 after the store
    filled); every event id answered 202 is in the stream. The aggregator then drains the stream
    (interest retention frees the space); every refused batch is resent unchanged and accepted, its
    reports already stored by the refused attempt answered 'duplicate'. Finally exactly all sent
    reports are rows, once each.
    """
    server = private_nats(tmp_path / "nats", "jetstream { max_file_store: 1MB }\n")
    # nats-py 2.16 leaves a refused publish unanswered (nats-io/nats.py#985): ingest answers 503 once
    # DX_PUBLISH_TIMEOUT_SECONDS runs out, so it is 1 s here.
    stack = await start_stack(
        tmp_path,
        server.url,
        catalog,
        database_url=database,
        aggregator=True,
        nats_settings={"reports_max_bytes": -1},
        ingest_env={"DX_PUBLISH_TIMEOUT_SECONDS": "1"},
    )
    try:
        stack.aggregator.stop()
        accepted: list[list[dict]] = []
        refused: list[list[dict]] = []
        async with stack.client() as client:
            while len(refused) < 3:
                body = [report(day="2026-03-31", note="ghi chú " * 40) for _ in range(50)]
                answer = await client.post("/v1/reports", json=body)
                if answer.status_code == 202:
                    assert not refused, "202 after the store was full"
                    assert answer.json()["accepted"] == 50
                    accepted.append(body)
                else:
                    assert answer.status_code == 503, answer.text
                    assert answer.json()["reason"] == "bus-unavailable" and answer.headers["retry-after"] == "5"
                    refused.append(body)
            held = (await stream_state(server.url)).messages
            n_accepted = sum(len(b) for b in accepted)
            partly_stored = held - n_accepted  # reports of a refused batch published before the refusal
            assert 0 <= partly_stored < 50
            print(f"store full after {n_accepted} reports (+{partly_stored} of the first refused batch)")

            stack.aggregator.start()
            await stack.aggregator.ready()
            await wait_drained(server.url, timeout=60)
            assert (await stream_state(server.url)).messages == 0
            duplicates = 0
            for body in refused:
                answer = await client.post("/v1/reports", json=body)
                assert answer.status_code == 202, answer.text
                duplicates += answer.json()["duplicates"]
        assert duplicates == partly_stored
        await wait_drained(server.url, timeout=60)
        await assert_stored_exactly(database, [r for b in accepted + refused for r in b])
        assert_no_leak(stack.ingest.log.read_text(), stack.setup.token, where="ingest log")
    finally:
        stack.stop()
        server.stop()


# ───────────────────────────── poison ─────────────────────────────


async def test_flood_of_poison_is_dead_lettered_while_good_reports_flow(tmp_path, nats_url, database, catalog):
    """Fault: 2,000 poison messages published straight to dx.reports.v1.* (past ingest) while agencies
    post 1,000 good reports. Counts checked: dead_letters rows 2,000 (by reason 800 undecodable,
    400 unknown-unit, 400 unknown-indicator, 400 database-rejected), DX_DEADLETTER 2,000 messages,
    reports exactly the 1,000 good ones.
    """
    stack = await start_stack(tmp_path, nats_url, catalog, database_url=database, aggregator=True)
    now = datetime.now(UTC)

    def event(**fields) -> bytes:
        body = {**report(day="2026-05-31"), **fields}
        return ReportReceived(**body, received_at=now, agency="rogue", key_id="f" * 16).model_dump_json().encode()

    poison = (
        [("dx.reports.v1.X.Y", b"\x00\xff not json")] * 400
        + [("dx.reports.v1.QN.DG-04", b'{"unit": "QN"}')] * 400
        + [("dx.reports.v1.QN-NOWHERE.DG-04", event(unit="QN-NOWHERE")) for _ in range(400)]
        + [("dx.reports.v1.QN-P-HONGGAI.XX-99", event(indicator="XX-99")) for _ in range(400)]
        # Decodes, names real codes, but 100 × numerator overflows double precision in PostgreSQL.
        + [("dx.reports.v1.QN-P-HONGGAI.DG-04", event(numerator=1.7e308, denominator=1.7e308)) for _ in range(400)]
    )
    good = batches(20, 50)
    try:
        nc = await nats.connect(nats_url)
        js = nc.jetstream(publish_async_max_pending=5000)

        async def flood() -> None:
            for i in range(0, len(poison), 200):
                futures = [
                    await js.publish_async(s, p, headers={"Nats-Msg-Id": f"poison-{i + j}"})
                    for j, (s, p) in enumerate(poison[i : i + 200])
                ]
                await asyncio.gather(*futures)
                await asyncio.sleep(0.02)

        async def agencies() -> None:
            async with stack.client() as client:
                for body in good:
                    assert (await client.post("/v1/reports", json=body)).status_code == 202

        started = time.monotonic()
        await asyncio.gather(flood(), agencies())
        await nc.close()
        await wait_drained(nats_url, timeout=60)
        print(f"3,000 messages (2,000 poison) handled in {time.monotonic() - started:.1f}s")
        reasons = Counter(dict(await asyncpg_fetch(database, "SELECT reason, count(*) FROM dead_letters GROUP BY 1")))
        assert reasons == {"undecodable": 800, "unknown-unit": 400, "unknown-indicator": 400, "database-rejected": 400}
        assert await deadletter_count(nats_url) == 2000
        await assert_stored_exactly(database, [r for b in good for r in b])
    finally:
        stack.stop()


async def asyncpg_fetch(database_url: str, sql: str) -> list:
    conn = await asyncpg.connect(database_url)
    try:
        return [tuple(r) for r in await conn.fetch(sql)]
    finally:
        await conn.close()


# ───────────────────────────── alerts ─────────────────────────────


async def test_alerts_killed_between_sending_and_recording_sends_at_most_one_duplicate(
    tmp_path, nats_url, database, catalog
):
    """Fault: ``dxmon serve alerts`` SIGKILLed after a channel received a digest, before the outbox recorded it.

    Two channels subscribe to a unit that is behind; the webhook receiver SIGKILLs the process on the
    first POST, before answering. Checked: that digest is still pending after the kill; after a
    restart every digest is delivered; each channel received its digest once or twice, twice exactly
    when it had received it before the kill left it unrecorded, and both copies are identical; a
    second restart sends nothing more.
    """
    nc = await nats.connect(nats_url)
    await ensure_topology(nc.jetstream(), NatsSettings(nats_url=nats_url))
    kv = await nc.jetstream().key_value(LEASES_BUCKET)
    alerts: dict[str, Proc] = {}
    in_flight_at_kill: list[tuple[str, object]] = []

    def kill_first(path: str, body) -> None:
        if not in_flight_at_kill:
            in_flight_at_kill.append((path, body))
            process = alerts["p"].p
            assert process is not None  # a digest comes only from a running alerts process
            os.kill(process.pid, signal.SIGKILL)

    receiver = Receiver(on_post=kill_first)
    await subscribe(
        database, catalog, (UNIT, f"{receiver.url}/a"), (UNIT, f"{receiver.url}/b"), (OTHER, f"{receiver.url}/c")
    )
    await fall_behind(database)
    port = devstack.free_port()
    env = {
        **os.environ,
        "DX_DATABASE_URL": database,
        "DX_NATS_URL": nats_url,
        "DX_ALERTS_PORT": str(port),
        "DX_ALERTS_FLUSH_INTERVAL_SECONDS": "0.3",
        "DX_ALERTS_OUTBOX_POLL_SECONDS": "0.1",
        "DX_ALERTS_LEASE_RENEW_SECONDS": "0.5",
        "DX_ALERTS_RETRY_INITIAL_SECONDS": "0.2",
    }
    alerts["p"] = Proc("alerts", ["alerts"], env, tmp_path / "alerts.log", f"http://127.0.0.1:{port}/readyz")
    try:
        alerts["p"].start()
        for _ in range(300):
            if alerts["p"].p.poll() is not None:
                break
            await asyncio.sleep(0.05)
        assert alerts["p"].p.poll() == -signal.SIGKILL, "the receiver never got a digest"
        outbox = await asyncpg_fetch(
            database, "SELECT c.url, o.state FROM outbox o JOIN channels c ON c.id = o.channel_id"
        )
        pending_after_kill = {url.removeprefix(receiver.url) for url, state in outbox if state == "pending"}
        received_before_restart = {d.path for d in receiver.deliveries}
        assert in_flight_at_kill[0][0] in pending_after_kill and len(outbox) >= 2
        # A killed leader's lease expires with the bucket TTL (10 s; tested in test_alerts_leader); skip the wait.
        await kv.delete(LEASE_KEY)
        alerts["p"].start()
        for _ in range(300):
            if await fetchval(database, "SELECT count(*) FROM outbox WHERE state <> 'delivered'") == 0:
                break
            await asyncio.sleep(0.05)
        assert await fetchval(database, "SELECT count(*) FROM outbox WHERE state = 'delivered'") == len(outbox)
        received_after_restart = len(receiver.deliveries)
        alerts["p"].stop()  # a clean stop releases the lease
        alerts["p"].start()
        await alerts["p"].ready()
        await asyncio.sleep(1.0)  # a few flushes and outbox polls
        alerts["p"].stop()
        copies = Counter(d.path for d in receiver.deliveries)
        print(
            f"digests {len(outbox)}, pending after the kill {sorted(pending_after_kill)}, "
            f"received before the restart {sorted(received_before_restart)}, copies {dict(copies)}"
        )
        assert len(receiver.deliveries) == received_after_restart  # the second restart sent nothing
        assert len(copies) == len(outbox) and set(copies.values()) <= {1, 2}
        # Sent twice: exactly the digests a channel had received when the kill left them unrecorded.
        assert {p for p, n in copies.items() if n == 2} == received_before_restart & pending_after_kill
        for path in copies:  # a resent digest is the same digest, word for word
            assert len({json.dumps(d.body, sort_keys=True) for d in receiver.deliveries if d.path == path}) == 1
        assert_no_leak((tmp_path / "alerts.log").read_text(), where="alerts log")
    finally:
        alerts["p"].stop()
        receiver.close()
        await nc.close()


async def test_channel_down_for_an_hour_of_simulated_time_gets_every_digest_after_in_order(nats_url, database, catalog):
    """Fault: a webhook channel answers 503 for one hour (injected clock), with the default retry settings
    (5 s doubling to 900 s, 12 attempts). Meanwhile three digests queue on it: the alert firing, its
    resolution 10 min later, another unit's alert 20 min later. Checked: nothing accepted before the
    hour is over; then all three arrive in that order, the first on attempt 12 at +3,975 s.
    """
    nc = await nats.connect(nats_url)
    js = nc.jetstream(timeout=5)
    await ensure_topology(js, NatsSettings(nats_url=nats_url))
    clock = Clock(T)
    outage_end = T + timedelta(hours=1)
    receiver = Receiver(status=lambda: 503 if clock() < outage_end else 200)
    await subscribe(database, catalog, (UNIT, f"{receiver.url}/hook"), (OTHER, f"{receiver.url}/hook"))
    settings = fast_settings(
        database, nats_url, alerts_retry_initial_seconds=5, alerts_retry_max_seconds=900, alerts_max_attempts=12
    )
    pool = await asyncpg.create_pool(database, min_size=1, max_size=4)

    async def publish(subject: str, body: bytes, headers) -> None:
        await js.publish(subject, body, headers=dict(headers), stream=ALERTS_STREAM)

    metrics = Metrics()
    engine = Engine(
        build_scheduler(
            settings,
            catalog=catalog,
            pool=pool,
            kv=await js.key_value(LEASES_BUCKET),
            publish=publish,
            metrics=metrics,
            clock=clock,
            instance="alerts-a",
        ),
        pool,
        nc,
        metrics,
        clock,
    )
    delivered_at: list[datetime] = []
    try:
        await fall_behind(database)
        events = [
            (T + timedelta(minutes=10), lambda at: recover(database, at)),
            (
                T + timedelta(minutes=20),
                lambda at: seed(
                    database,
                    [
                        alert_report(
                            OTHER, "DG-14", (T - timedelta(days=10)).date(), numerator=10, denominator=100, received=at
                        )
                    ],
                    at,
                ),
            ),
        ]
        assert await cycle(engine, T) == 1
        now, due = T, await engine.scheduler.outbox.deliver_due()
        while due is not None or events:
            if events and (due is None or events[0][0] <= due):
                now, change = events.pop(0)
                await change(now)
                assert await cycle(engine, now) == 1  # one more digest queued behind the failing ones
            else:
                now = due
            clock.set(now)
            seen = len([d for d in receiver.deliveries if d.status == 200])
            due = await engine.scheduler.outbox.deliver_due()
            delivered_at += [now] * (len([d for d in receiver.deliveries if d.status == 200]) - seen)
        ok = [d.body for d in receiver.deliveries if d.status == 200]
        assert [(b["status"], b["alerts"][0]["unit"]) for b in ok] == [
            ("firing", UNIT),
            ("resolved", UNIT),
            ("firing", OTHER),
        ]
        assert min(delivered_at) >= outage_end
        # 5+10+20+40+80+160+320+640+900+900+900 s of backoff (plus the real milliseconds each step took).
        assert abs((delivered_at[0] - T).total_seconds() - 3975) < 2, delivered_at[0] - T
        attempts = await asyncpg_fetch(
            database, "SELECT outbox_id, max(attempt) FROM delivery_attempts GROUP BY 1 ORDER BY 1"
        )
        assert [n for _, n in attempts] == [12, 1, 1]
        assert await fetchval(database, "SELECT count(*) FROM outbox WHERE state = 'delivered'") == 3
    finally:
        await engine.close()
        receiver.close()
