"""Pipeline benchmark: ingest and aggregator throughput and end-to-end latency, each against a limit
measured in the same run on the same machine.

    limit                                   ours                                   goal
    nats-py publish_async (raw JetStream)   batch ingest, HTTP → every PubAck      ≥ 60 %
    asyncpg COPY + INSERT … ON CONFLICT     aggregator, stream → committed rows    ≥ 50 %
    bare FastAPI POST validating ReportIn   single-report POST to ingest           ≥ 50 %
    —                                       p99 HTTP 202 → row committed @ 2k/s    ≤ 1.5 s

Run: ``.venv/bin/python bench/bench_pipeline.py`` (starts its own nats-server and PostgreSQL unless
DX_BENCH_NATS_URL / DX_BENCH_DATABASE_URL are set). Single-report POSTs are driven by ``wrk`` when
installed (``apt-get install wrk``), else by an httpx load generator (slower; noted in the output).
Services run as separate processes, like in production; the load generator shares the 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import asyncpg
import httpx
import nats
from nats.js.api import RetentionPolicy

from dxmon import devstack
from dxmon.bus import aggregator_backlog, connect, ensure_topology, stream_configs
from dxmon.catalog import Catalog
from dxmon.contracts import ReportReceived
from dxmon.keys import KeyStore
from dxmon.store.catalog_repository import sync_catalog
from dxmon.store.migrate import migrate
from dxmon.store.reports_repository import REPORT_COLUMNS, report_record
from services.ingest.settings import IngestSettings

ROOT = Path(__file__).resolve().parents[1]


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def make_reports(n: int, start: int = 0) -> list[dict]:
    """make_reports: n valid ratio reports for post-2025 communes (unique event ids)."""
    units = ["QN-P-HONGGAI", "QN-P-BAICHAY", "QN-P-HALONG", "QN-X-CAICHIEN", "QN-P-MONGCAI1"]
    out = []
    for i in range(start, start + n):
        out.append(
            {
                "event_id": str(uuid.uuid4()),
                "unit": units[i % len(units)],
                "indicator": "DG-04",
                "observed_at": f"2026-{1 + (i // 7) % 9:02d}-28",
                "numerator": i % 97,
                "denominator": 100,
                "source": "bench",
            }
        )
    return out


# ───────────────────────────── limits ─────────────────────────────


async def raw_publish_limit(nats_url: str, n: int) -> float:
    """raw_publish_limit: nats-py publish_async into a stream configured like DX_REPORTS."""
    nc = await nats.connect(nats_url)
    js = nc.jetstream(publish_async_max_pending=20_000)
    cfg = stream_configs(IngestSettings(nats_url=nats_url))[0]
    # Same storage, dedup window and limits as DX_REPORTS; limits retention since nothing consumes it.
    bench_cfg = dataclasses.replace(cfg, name="BENCH_RAW", subjects=["bench.raw.>"], retention=RetentionPolicy.LIMITS)
    try:
        await js.delete_stream("BENCH_RAW")
    except nats.js.errors.NotFoundError:
        pass
    await js.add_stream(bench_cfg)
    payloads = [
        ReportReceived(**r, received_at=datetime.now(UTC), agency="bench", key_id="0" * 16).model_dump_json().encode()
        for r in make_reports(n)
    ]
    started = time.perf_counter()
    futures = [
        await js.publish_async(f"bench.raw.U{i % 50}.DG-04", p, headers={"Nats-Msg-Id": str(i)})
        for i, p in enumerate(payloads)
    ]
    await asyncio.gather(*futures)
    elapsed = time.perf_counter() - started
    await js.delete_stream("BENCH_RAW")
    await nc.close()
    return n / elapsed


async def consume_ceiling(nats_url: str, n: int) -> float:
    """consume_ceiling: pulling and acking n report messages with the aggregator's own fetch loop, no
    database — the most any JetStream consumer written in Python with nats-py can do here."""
    from nats.js.api import AckPolicy, ConsumerConfig

    from services.aggregator.consumer import PullConsumer

    nc = await nats.connect(nats_url)
    js = nc.jetstream(publish_async_max_pending=20_000)
    try:
        await js.delete_stream("BENCH_CONSUME")
    except nats.js.errors.NotFoundError:
        pass
    await js.add_stream(name="BENCH_CONSUME", subjects=["bench.consume.>"])
    futures = [
        await js.publish_async(
            f"bench.consume.U{i % 50}",
            ReportReceived(**r, received_at=datetime.now(UTC), agency="bench", key_id="0" * 16)
            .model_dump_json()
            .encode(),
            headers={"Nats-Msg-Id": r["event_id"]},
        )
        for i, r in enumerate(make_reports(n))
    ]
    await asyncio.gather(*futures)
    await js.add_consumer(
        "BENCH_CONSUME",
        ConsumerConfig(durable_name="c", ack_policy=AckPolicy.EXPLICIT, max_ack_pending=20_000, ack_wait=30),
    )
    pull = PullConsumer(nc, "BENCH_CONSUME", "c", 1000, 0.1)
    await pull.start()
    done = 0
    started = time.perf_counter()
    while done < n:
        for m in await pull.fetch():
            await m.ack()
            done += 1
    elapsed = time.perf_counter() - started
    await pull.stop()
    await js.delete_stream("BENCH_CONSUME")
    await nc.close()
    return n / elapsed


async def raw_copy_limit(database_url: str, n: int, rounds: int = 3) -> float:
    """raw_copy_limit: COPY into a staging table + INSERT … ON CONFLICT DO NOTHING into a reports-shaped table.

    The table has a stored report's unique key, (agency, event_id): since migration 0004 ``reports`` has no
    key of its own (report_ids holds it), and without one ON CONFLICT checks nothing, so the "limit"
    skipped the uniqueness check every idempotent write pays (measured: 205,000 rows/s keyless,
    117,000 with the key, on one machine in one hour).
    """
    conn = await asyncpg.connect(database_url)
    await conn.execute(
        "DROP TABLE IF EXISTS bench_reports;"
        " CREATE TABLE bench_reports (LIKE reports INCLUDING ALL, PRIMARY KEY (agency, event_id))"
    )
    best = 0.0
    for _ in range(rounds):
        catalog = Catalog.load()
        records = [
            report_record(ReportReceived(**r, received_at=datetime.now(UTC), agency="bench", key_id="0" * 16), catalog)[
                : len(REPORT_COLUMNS)
            ]
            for r in make_reports(n)
        ]
        started = time.perf_counter()
        async with conn.transaction():
            await conn.execute(
                "CREATE TEMP TABLE IF NOT EXISTS bench_stage (LIKE bench_reports INCLUDING DEFAULTS)"
                " ON COMMIT DELETE ROWS"
            )
            await conn.copy_records_to_table("bench_stage", records=records, columns=REPORT_COLUMNS)
            await conn.execute(
                f"INSERT INTO bench_reports ({', '.join(REPORT_COLUMNS)}) "
                f"SELECT {', '.join(REPORT_COLUMNS)} FROM bench_stage ON CONFLICT DO NOTHING"
            )
        best = max(best, n / (time.perf_counter() - started))
    await conn.execute("DROP TABLE bench_reports")
    await conn.close()
    return best


# ───────────────────────────── services ─────────────────────────────


class Service:
    def __init__(self, argv: list[str], env: dict, ready: str, log: Path) -> None:
        self.argv, self.env, self.ready_url, self.log = argv, env, ready, log
        self.p: subprocess.Popen | None = None

    async def start(self) -> None:
        with open(self.log, "ab") as out:
            self.p = subprocess.Popen(
                self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        async with httpx.AsyncClient(timeout=2) as client:
            for _ in range(300):
                try:
                    if (await client.get(self.ready_url)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.argv} not ready; see {self.log}")

    def stop(self) -> None:
        if self.p and self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            self.p.wait(30)


def wrk(url: str, token: str, seconds: int, connections: int) -> tuple[float, int]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(ROOT / "bench" / "post_single.lua"), url],
        capture_output=True,
        text=True,
        env={**os.environ, "DX_BENCH_TOKEN": token},
        check=True,
    ).stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if found is None:
        raise RuntimeError(f"wrk printed no request rate:\n{out}")
    rate = float(found.group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return rate, int(bad.group(1)) if bad else 0


async def httpx_singles(url: str, token: str, seconds: float, connections: int) -> tuple[float, int]:
    done = bad = 0
    deadline = time.perf_counter() + seconds
    async with httpx.AsyncClient(
        base_url=url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
        limits=httpx.Limits(max_connections=connections),
    ) as client:

        async def worker() -> None:
            nonlocal done, bad
            while time.perf_counter() < deadline:
                r = await client.post("/v1/reports", json=make_reports(1)[0])
                done += 1
                bad += r.status_code >= 300

        started = time.perf_counter()
        await asyncio.gather(*[worker() for _ in range(connections)])
    return done / (time.perf_counter() - started), bad


async def single_post_rate(url: str, token: str, seconds: int) -> tuple[float, int, str]:
    if shutil.which("wrk"):
        rate, bad = await asyncio.to_thread(wrk, url, token, seconds, 32)
        return rate, bad, "wrk"
    rate, bad = await httpx_singles(url, token, seconds, 32)
    return rate, bad, "httpx (install wrk for a faster load generator)"


async def batch_ingest_rate(url: str, token: str, n: int, batch: int, concurrency: int) -> float:
    bodies = [json.dumps(make_reports(batch, i)).encode() for i in range(0, n, batch)]
    queue = list(bodies)
    async with httpx.AsyncClient(
        base_url=url, timeout=60, headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    ) as client:

        async def worker() -> None:
            while queue:
                body = queue.pop()
                r = await client.post("/v1/reports", content=body)
                if r.status_code != 202:
                    raise RuntimeError(f"ingest answered {r.status_code}: {r.text[:300]}")

        started = time.perf_counter()
        await asyncio.gather(*[worker() for _ in range(concurrency)])
        return n / (time.perf_counter() - started)


async def backlog(nats_url: str) -> int:
    nc = await nats.connect(nats_url)
    try:
        return await aggregator_backlog(nc.jetstream())
    finally:
        await nc.close()


async def latency_at_rate(
    url: str, token: str, database_url: str, nats_url: str, rate: int, seconds: int
) -> tuple[float, float, int]:
    """latency_at_rate: open-loop batches of 20 at ``rate`` reports/s; p50/p99 of (stored_at − 202 time)."""
    per_batch, interval = 20, 20 / rate
    acked: dict[str, float] = {}
    tasks = []
    async with httpx.AsyncClient(base_url=url, timeout=30, headers={"Authorization": f"Bearer {token}"}) as client:

        async def send(body: list[dict]) -> None:
            r = await client.post("/v1/reports", json=body)
            t = time.time()
            if r.status_code == 202:
                for b in body:
                    acked[b["event_id"]] = t

        start = time.perf_counter()
        for i in range(int(seconds / interval)):
            target = start + i * interval
            delay = target - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send(make_reports(per_batch))))
        await asyncio.gather(*tasks)
        achieved = len(acked) / (time.perf_counter() - start)
    while await backlog(nats_url) > 0:
        await asyncio.sleep(0.2)
    conn = await asyncpg.connect(database_url)
    rows = await conn.fetch(
        "SELECT event_id::text AS id, extract(epoch FROM stored_at) AS t FROM reports WHERE event_id = ANY($1::uuid[])",
        list(acked),
    )
    await conn.close()
    lat = sorted(float(r["t"]) - acked[r["id"]] for r in rows)
    return statistics.quantiles(lat, n=100)[49], statistics.quantiles(lat, n=100)[98], round(achieved)


# ───────────────────────────── main ─────────────────────────────


async def main(args: argparse.Namespace, servers: devstack.BenchServers) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="dxbench-logs-"))
    nats_url, admin_url = servers.nats_url, servers.admin_url
    assert nats_url is not None  # bench_servers starts (or is given) a nats-server unless with_nats=False
    services: list[Service] = []
    try:
        database_url = await devstack.ensure_database(admin_url, f"dxbench_{uuid.uuid4().hex[:8]}")
        await migrate(database_url)
        catalog = Catalog.load()
        conn = await asyncpg.connect(database_url)
        await sync_catalog(conn, catalog)
        await conn.close()
        settings = IngestSettings(nats_url=nats_url)
        nc = await connect(settings, "bench")
        js = nc.jetstream()
        for name in ("DX_REPORTS", "DX_DEADLETTER", "DX_ALERTS"):
            try:
                await js.delete_stream(name)
            except nats.js.errors.NotFoundError:
                pass
        await ensure_topology(js, settings)
        _, token = await (await KeyStore.open(js, catalog)).create("bench", ["QN"], with_descendants=True)
        await nc.close()

        say(f"limit 1/3: raw JetStream publish_async of {args.publish_n} messages")
        publish_limit = await raw_publish_limit(nats_url, args.publish_n)
        say(f"  {publish_limit:,.0f} msg/s")
        say(f"limit 2/3: COPY + INSERT … ON CONFLICT of {args.copy_n} rows (best of 3)")
        copy_limit = await raw_copy_limit(database_url, args.copy_n)
        say(f"  {copy_limit:,.0f} rows/s")

        env = {**os.environ, "DX_NATS_URL": nats_url, "DX_DATABASE_URL": database_url}
        bare_port, ingest_port, agg_port = (devstack.free_port() for _ in range(3))
        bare = Service(
            [sys.executable, "-m", "uvicorn", "bench.bare_app:app", "--port", str(bare_port), "--log-level", "warning"],
            {**env, "PYTHONPATH": str(ROOT)},
            f"http://127.0.0.1:{bare_port}/docs",
            tmp / "bare.log",
        )
        await bare.start()
        services.append(bare)
        say(f"context: the aggregator's fetch loop + acks without a database, {args.copy_n} messages")
        ceiling = await consume_ceiling(nats_url, args.copy_n)
        say(f"  {ceiling:,.0f} msg/s")
        say(f"limit 3/3: bare FastAPI POST validating ReportIn, {args.seconds}s")
        bare_rate, _, generator = await single_post_rate(f"http://127.0.0.1:{bare_port}", token, args.seconds)
        say(f"  {bare_rate:,.0f} req/s ({generator})")
        bare.stop()

        ingest = Service(
            [sys.executable, "-m", "dxmon", "serve", "ingest", "--port", str(ingest_port)],
            env,
            f"http://127.0.0.1:{ingest_port}/readyz",
            tmp / "ingest.log",
        )
        await ingest.start()
        services.append(ingest)
        ingest_url = f"http://127.0.0.1:{ingest_port}"
        say(
            f"ours 1/4: batch ingest of {args.ingest_n} reports (batches of {args.batch}, 4 concurrent), aggregator "
            "stopped"
        )
        batch_rate = await batch_ingest_rate(ingest_url, token, args.ingest_n, args.batch, 4)
        say(f"  {batch_rate:,.0f} reports/s")
        say(f"ours 2/4: single-report POST, {args.seconds}s")
        single_rate, single_bad, _ = await single_post_rate(ingest_url, token, args.seconds)
        say(f"  {single_rate:,.0f} req/s ({single_bad} non-2xx)")

        queued = await backlog(nats_url)
        say(f"ours 3/4: aggregator draining the {queued:,} queued reports")
        aggregator = Service(
            [sys.executable, "-m", "dxmon", "serve", "aggregator", "--host", "127.0.0.1", "--port", str(agg_port)],
            env,
            f"http://127.0.0.1:{agg_port}/readyz",
            tmp / "agg.log",
        )
        await aggregator.start()
        services.append(aggregator)
        # Measured once it is running (start-up excluded), until the backlog is gone.
        left = await backlog(nats_url)
        started = time.perf_counter()
        while await backlog(nats_url) > 0:
            await asyncio.sleep(0.05)
        agg_rate = left / (time.perf_counter() - started)
        say(f"  {agg_rate:,.0f} rows/s ({left:,} reports after start-up)")

        say(f"ours 4/4: end-to-end latency at {args.rate} reports/s for {args.latency_seconds}s")
        p50, p99, achieved = await latency_at_rate(
            ingest_url, token, database_url, nats_url, args.rate, args.latency_seconds
        )
        say(f"  p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms at {achieved} reports/s")

        rows = [
            (
                "batch ingest (HTTP → PubAck)",
                f"{batch_rate:,.0f}/s",
                f"publish_async {publish_limit:,.0f}/s",
                batch_rate / publish_limit,
                "≥ 0.60",
                batch_rate / publish_limit >= 0.6,
            ),
            (
                "aggregator (stream → rows)",
                f"{agg_rate:,.0f}/s",
                f"COPY+INSERT {copy_limit:,.0f}/s",
                agg_rate / copy_limit,
                "≥ 0.50",
                agg_rate / copy_limit >= 0.5,
            ),
            (
                "single-report POST",
                f"{single_rate:,.0f}/s",
                f"bare FastAPI {bare_rate:,.0f}/s",
                single_rate / bare_rate,
                "≥ 0.50",
                single_rate / bare_rate >= 0.5,
            ),
            (
                f"p99 202 → committed @ {achieved}/s",
                f"{p99:.2f} s",
                "limit 1.5 s",
                p99 / 1.5,
                "≤ 1.00",
                p99 <= 1.5 and achieved >= 0.95 * args.rate,
            ),
        ]
        print()
        print(f"{'measure':<36} {'ours':>12} {'limit (same run)':>28} {'ratio':>7} {'goal':>7}  met")
        for name, ours, limit, ratio, goal, ok in rows:
            print(f"{name:<36} {ours:>12} {limit:>28} {ratio:>7.2f} {goal:>7}  {'yes' if ok else 'NO'}")
        print(
            f"\ncontext: pulling and acking alone (no database) reaches {ceiling:,.0f} msg/s here, so the "
            f"aggregator stores at {agg_rate / ceiling:.2f} of what any nats-py consumer can receive."
        )
        print(
            f"2 cores shared by load generator, services, nats-server and PostgreSQL; {date.today()}; "
            f"single POSTs driven by {generator}."
        )
        return 0
    finally:
        for s in reversed(services):
            s.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--publish-n", type=int, default=100_000)
    parser.add_argument("--copy-n", type=int, default=100_000)
    parser.add_argument("--ingest-n", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=10, help="duration of each single-POST run")
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--latency-seconds", type=int, default=20)
    arguments = parser.parse_args()
    with devstack.bench_servers() as bench:
        status = asyncio.run(main(arguments, bench))
    sys.exit(status)
