"""Backpressure: a slow database is absorbed by JetStream, a full stream is refused with 503, never dropped.

ingest and the aggregator run as processes; DX_REPORTS is limited to 1 MiB so the limit is reached
in seconds. PostgreSQL is made slow by a session holding ACCESS EXCLUSIVE on ``period_values``: the
aggregator's batch transaction waits on it, exactly as it would behind a slow disk or a long
migration.
"""

from __future__ import annotations

import asyncio
import statistics
import time

import asyncpg
import pytest

from tests.hostile.hostile_support import (
    fetchval,
    metric,
    scrape,
    start_stack,
    stored_ids,
    stream_state,
    wait_drained,
)
from tests.pipeline import report

pytestmark = pytest.mark.e2e

MAX_BYTES = 1024 * 1024
BATCH = 50


async def test_slow_database_is_absorbed_a_full_stream_refuses_and_the_backlog_drains(
    tmp_path, nats_url, database, catalog
):
    """Fault: the database blocks every write for about 5 s (longer than the 3 s ack wait) while
    agencies post batches of 50; DX_REPORTS_MAX_BYTES = 1 MiB.

    Checked: while blocked, ingest answers 202 (p99 under 1 s) and nothing is committed; once the
    stream holds 1 MiB every further batch is 503 bus-unavailable (none is dropped: the stream's
    sequence equals the reports accepted plus the part of the first refused batch); after the lock
    is released the aggregator drains the backlog in full batches (mean batch ≥ 500 of 1,000);
    the refused batches, resent unchanged, are accepted; finally every report is a row, once.
    """
    stack = await start_stack(
        tmp_path,
        nats_url,
        catalog,
        database_url=database,
        aggregator=True,
        nats_settings={"reports_max_bytes": MAX_BYTES},
        ingest_env={"DX_PUBLISH_TIMEOUT_SECONDS": "1"},
    )
    locker = await asyncpg.connect(database)
    try:
        lock = locker.transaction()
        await lock.start()
        await locker.execute("LOCK TABLE period_values IN ACCESS EXCLUSIVE MODE")
        locked_at = time.monotonic()
        accepted, refused, latencies = [], [], []
        async with stack.client(timeout=30) as client:
            while len(refused) < 3:
                body = [report(day="2026-06-30", note="số liệu quý II") for _ in range(BATCH)]
                started = time.monotonic()
                answer = await client.post("/v1/reports", json=body)
                if answer.status_code == 202:
                    assert not refused, "202 after the stream was full"
                    latencies.append(time.monotonic() - started)
                    accepted.append(body)
                else:
                    assert answer.status_code == 503 and answer.json()["reason"] == "bus-unavailable", answer.text
                    refused.append(body)
            state = await stream_state(nats_url)
            n_accepted = len(accepted) * BATCH
            partly_stored = state.last_seq - n_accepted
            committed_while_locked = await fetchval(database, "SELECT count(*) FROM reports")
            await asyncio.sleep(max(0.0, 5.0 - (time.monotonic() - locked_at)))  # outlast the ack wait
            before = await scrape(stack.aggregator_url)
            await lock.rollback()
            released = time.monotonic()
            await wait_drained(nats_url, timeout=60)
            drain_seconds = time.monotonic() - released
            after = await scrape(stack.aggregator_url)
            duplicates = 0
            for body in refused:
                answer = await client.post("/v1/reports", json=body)
                assert answer.status_code == 202, answer.text
                duplicates += answer.json()["duplicates"]
        await wait_drained(nats_url, timeout=60)
        batches = metric(after, "dx_aggregator_batch_messages_count") - metric(
            before, "dx_aggregator_batch_messages_count"
        )
        messages = metric(after, "dx_aggregator_batch_messages_sum") - metric(
            before, "dx_aggregator_batch_messages_sum"
        )
        redelivered = metric(after, "dx_aggregator_messages_total", outcome="redelivered")
        p99 = statistics.quantiles(latencies, n=100)[98]
        print(
            f"accepted {n_accepted} while blocked (p99 {p99 * 1000:.0f} ms), stream {state.bytes:,} bytes; "
            f"drained {n_accepted + partly_stored} in {drain_seconds:.2f}s "
            f"({(n_accepted + partly_stored) / drain_seconds:,.0f}/s) in {batches:.0f} batches; "
            f"redelivered {redelivered:.0f}"
        )
        assert committed_while_locked == 0
        assert n_accepted >= 1000 and p99 < 1.0
        assert 0 <= partly_stored < BATCH and state.bytes <= MAX_BYTES
        assert duplicates == partly_stored
        assert messages / batches >= 500
        sent = [r["event_id"] for b in accepted + refused for r in b]
        ids = await stored_ids(database)
        assert len(ids) == len(sent) and set(ids) == set(sent)
        assert await fetchval(database, "SELECT sum(reports) FROM period_values") == len(sent)
    finally:
        await locker.close()
        stack.stop()
