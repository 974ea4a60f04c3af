"""End to end: the real services as processes, driven over HTTP, with faults injected mid-load.

Counts are exact: every report answered 202 is stored exactly once, whatever was killed or
restarted in between.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import asyncpg
import httpx
import nats
import pytest

from dxmon import devstack
from dxmon.bus import aggregator_backlog
from dxmon.catalog import Catalog
from dxmon.simulate import generate
from services.ingest.settings import IngestSettings
from tests.conftest import create_database
from tests.pipeline import Pipeline

pytestmark = pytest.mark.e2e


class Proc:
    """Proc is one ``dxmon serve …`` process with its log file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log: Path, ready_url: str) -> None:
        self.name, self.args, self.env, self.log, self.ready_url = name, args, env, log, ready_url
        self.p: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.p = subprocess.Popen(
                [sys.executable, "-m", "dxmon", "serve", *self.args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    async def ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                assert self.p is not None and self.p.poll() is None, (
                    f"{self.name} died:\n{self.log.read_text()[-3000:]}"
                )
                try:
                    if (await client.get(self.ready_url)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.05)
        raise TimeoutError(f"{self.name} not ready:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        assert self.p is not None
        self.p.send_signal(signal.SIGKILL)
        self.p.wait(10)

    def stop(self) -> None:
        if self.p is not None and self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(30)
            except subprocess.TimeoutExpired:
                self.p.kill()


async def start_stack(
    tmp: Path, nats_url: str, catalog: Catalog, *, private_pg: bool = True, admin_url: str | None = None
) -> dict:
    """start_stack runs ingest and the aggregator as processes on a fresh database.

    With ``private_pg`` the database lives in its own PostgreSQL server, so a test may restart it.
    """
    pg = devstack.postgres_server(tmp / "pg", durable=False).start() if private_pg else None
    admin = pg.url if pg else admin_url
    assert admin is not None, "without a private PostgreSQL start_stack needs admin_url"
    database_url = await create_database(admin, catalog)
    setup = Pipeline(nats_url, database_url, catalog)
    # A short ack wait: reports held by a killed aggregator come back after 3 s instead of 30 s.
    setup.ingest_settings = IngestSettings(nats_url=nats_url, ack_wait_seconds=3)
    await setup.setup()  # streams, consumer, buckets, and a key for all of QN
    env = {
        **os.environ,
        "DX_NATS_URL": nats_url,
        "DX_DATABASE_URL": database_url,
        "DX_AGGREGATOR_BATCH_TIMEOUT_SECONDS": "0.05",
    }
    ingest_port, agg_port = devstack.free_port(), devstack.free_port()
    ingest = Proc(
        "ingest",
        ["ingest", "--port", str(ingest_port)],
        env,
        tmp / "ingest.log",
        f"http://127.0.0.1:{ingest_port}/readyz",
    )
    aggregator = Proc(
        "aggregator",
        ["aggregator", "--host", "127.0.0.1", "--port", str(agg_port)],
        env,
        tmp / "aggregator.log",
        f"http://127.0.0.1:{agg_port}/readyz",
    )
    aggregator.start()
    ingest.start()
    await aggregator.ready()
    await ingest.ready()
    return {
        "pg": pg,
        "db": database_url,
        "ingest": ingest,
        "aggregator": aggregator,
        "setup": setup,
        "url": f"http://127.0.0.1:{ingest_port}",
    }


async def stop_stack(stack: dict) -> None:
    stack["ingest"].stop()
    stack["aggregator"].stop()
    if stack["pg"] is not None:
        stack["pg"].stop()


@pytest.fixture
async def stack(tmp_path, nats_url: str, catalog: Catalog):
    """stack: a private PostgreSQL (so the test may restart it), ingest and aggregator as processes."""
    s = await start_stack(tmp_path, nats_url, catalog)
    yield s
    await stop_stack(s)


async def wait_drained(nats_url: str, timeout: float) -> None:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        deadline = time.monotonic() + timeout
        while (left := await aggregator_backlog(js)) > 0:
            assert time.monotonic() < deadline, f"{left} reports still not stored"
            await asyncio.sleep(0.2)
    finally:
        await nc.close()


async def test_ten_thousand_reports_survive_aggregator_kill_and_database_restart(stack, catalog, nats_url):
    """10,000 reports (batches and singles, plus resubmitted duplicates) → exactly 10,000 rows.

    Mid-load the aggregator is SIGKILLed and restarted, then PostgreSQL is stopped and restarted.
    """
    unique = [r.body for r in generate(catalog, date(2025, 7, 1), date(2026, 10, 31), seed=7)][:10_000]
    assert len(unique) == 10_000
    rng = random.Random(3)
    batches = [unique[i : i + 200] for i in range(0, 8_000, 200)]  # 8,000 in 40 batches
    singles = unique[8_000:]  # 2,000 one by one
    resubmit_batches = [rng.sample(unique[:8_000], 100) for _ in range(5)]  # 500 duplicates in batches
    resubmit_singles = rng.sample(unique, 300)  # 300 duplicates one by one
    statuses: list[int] = []
    counts = {"accepted": 0, "duplicates": 0}
    sem = asyncio.Semaphore(16)

    async with httpx.AsyncClient(base_url=stack["url"], headers=stack["setup"].headers, timeout=60) as client:

        async def send(body) -> None:
            async with sem:
                answer = await client.post("/v1/reports", json=body)
            statuses.append(answer.status_code)
            if answer.status_code == 202:
                counts["accepted"] += answer.json()["accepted"]
                counts["duplicates"] += answer.json()["duplicates"]

        async def faults() -> None:
            await asyncio.sleep(1.0)
            stack["aggregator"].kill()  # SIGKILL mid-load
            await asyncio.sleep(1.0)
            stack["aggregator"].start()
            await stack["aggregator"].ready()
            await asyncio.sleep(0.5)
            stack["pg"].stop(sig=signal.SIGINT)  # PostgreSQL stopped mid-load
            await asyncio.sleep(2.0)
            stack["pg"].start()

        started = time.monotonic()
        fault_task = asyncio.create_task(faults())
        work = [send(b) for b in batches] + [send(s) for s in singles]
        rng.shuffle(work)
        # Spread the load over a few seconds so the faults land in the middle of it.
        for i in range(0, len(work), 200):
            await asyncio.gather(*work[i : i + 200])
            await asyncio.sleep(0.15)
        await fault_task
        await asyncio.gather(*[send(b) for b in resubmit_batches], *[send(s) for s in resubmit_singles])

        posted = time.monotonic()
    print(f"posted in {posted - started:.1f}s")
    assert set(statuses) == {202}, f"non-202 answers: {sorted(set(statuses))}"
    assert counts["accepted"] == 10_000
    assert counts["duplicates"] == 800
    await wait_drained(nats_url, timeout=120)
    print(f"drained {time.monotonic() - posted:.1f}s after the last post")
    conn = await asyncpg.connect(stack["db"])
    try:
        assert await conn.fetchval("SELECT count(*) FROM reports") == 10_000
        assert await conn.fetchval("SELECT count(DISTINCT event_id) FROM reports") == 10_000
        assert await conn.fetchval("SELECT sum(reports) FROM period_values WHERE category = ''") == 10_000
        assert await conn.fetchval("SELECT sum(stored) FROM ingest_minutely") == 10_000
        stored_ids = {r[0] for r in await conn.fetch("SELECT event_id::text FROM reports")}
    finally:
        await conn.close()
    assert stored_ids == {u["event_id"] for u in unique}
