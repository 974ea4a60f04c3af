"""Soak: a steady stream of reports for a long time, with ingest, aggregator and alerts as processes.

    agencies (open loop, --rate reports/s in batches of --batch) ──HTTP──▶ ingest ──▶ DX_REPORTS
        ──▶ aggregator ──▶ PostgreSQL ──dx.stored──▶ alerts (evaluates, digests to a local webhook)

Reports are the simulator's realistic ones (units on track, behind, silent), sent again and again
with fresh event ids, so later rounds are corrections. Printed, each against a limit fixed here or
measured in the same run:

    throughput achieved / offered rate                     ≥ 0.99
    p99 HTTP 202 latency                                   ≤ 1 s
    p99 202 → row committed                                ≤ 1.5 s   (bench_pipeline's goal)
    largest JetStream consumer lag                         ≤ 2 s of reports at the offered rate
    RSS of each service, end / after warm-up               ≤ 1.25 × + 32 MiB  (warm-up: first 10 %, ≥ 5 s)
    rows in ``reports`` = reports answered 202 (accepted)  exact

Run: ``.venv/bin/python bench/soak.py`` (10 minutes), ``--seconds 30`` for a CI-sized run,
``--json PATH`` to keep the figures. Starts its own nats-server and PostgreSQL unless
DX_BENCH_NATS_URL / DX_BENCH_DATABASE_URL are set (the database named there is an admin URL: the
soak creates a database of its own). Exit code 1 when a limit is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import http.server
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

import asyncpg
import httpx
import nats
import psutil
from bench_pipeline import Service, backlog, say

from dxmon import devstack
from dxmon.bus import ensure_topology
from dxmon.catalog import Catalog
from dxmon.keys import KeyStore
from dxmon.simulate import generate
from dxmon.store.catalog_repository import sync_catalog
from dxmon.store.migrate import migrate
from services.alerts import admin
from services.ingest.settings import IngestSettings

MiB = 1024 * 1024
RSS_FACTOR, RSS_SLACK = 1.25, 32 * MiB
P99_202, P99_STORED, LAG_SECONDS = 1.0, 1.5, 2.0


@dataclass
class Figures:
    """Figures: what one soak run measured (also written as JSON with --json)."""

    seconds: float = 0.0
    offered_rate: float = 0.0
    achieved_rate: float = 0.0
    requests: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    accepted: int = 0
    rows: int = 0
    distinct_rows: int = 0
    p50_202_ms: float = 0.0
    p99_202_ms: float = 0.0
    p50_stored_ms: float = 0.0
    p99_stored_ms: float = 0.0
    max_lag: int = 0
    lag: list[tuple[float, int]] = field(default_factory=list)
    rss_start_mib: dict[str, float] = field(default_factory=dict)
    rss_end_mib: dict[str, float] = field(default_factory=dict)
    rss_peak_mib: dict[str, float] = field(default_factory=dict)
    digests_delivered: int = 0
    evaluations: int = 0
    limits_met: dict[str, bool] = field(default_factory=dict)


class Webhook:
    """Webhook counts the digests the alerts service delivers (a local channel that always accepts)."""

    def __init__(self) -> None:
        self.received = 0
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server hook name
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hook.received += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/digest"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def rss(service: Service) -> float:
    """rss: resident memory of a service process in MiB."""
    return psutil.Process(service.p.pid).memory_info().rss / MiB


async def prepare(nats_url: str, admin_url: str, catalog: Catalog, hook: Webhook) -> tuple[str, str]:
    """prepare: a fresh database (migrated, catalog synced, staff subscribed), fresh streams, one key."""
    database_url = await devstack.ensure_database(admin_url, f"dxsoak_{uuid.uuid4().hex[:8]}")
    await migrate(database_url)
    conn = await asyncpg.connect(database_url)
    try:
        await sync_catalog(conn, catalog)
        await admin.add_subscription(
            conn, catalog, unit="QN", with_descendants=True, pillars=[], min_severity="warning", channel=hook.url
        )
    finally:
        await conn.close()
    settings = IngestSettings(nats_url=nats_url)
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        for name in ("DX_REPORTS", "DX_DEADLETTER", "DX_ALERTS", "KV_dx_keys", "KV_dx_leases"):
            try:
                await js.delete_stream(name)
            except nats.js.errors.NotFoundError:
                pass
        await ensure_topology(js, settings)
        _, token = await (await KeyStore.open(js, catalog)).create("soak", ["QN"], with_descendants=True)
    finally:
        await nc.close()
    return database_url, token


async def drive(
    url: str,
    token: str,
    bodies: list[dict],
    rate: float,
    batch: int,
    seconds: float,
    services: dict[str, Service],
    nats_url: str,
    fig: Figures,
) -> dict[str, float]:
    """drive posts open-loop at ``rate`` for ``seconds`` and samples lag and memory once a second.

    Returns the time each accepted event id was answered 202 (epoch seconds).
    """
    acked: dict[str, float] = {}
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    interval = batch / rate
    warm_up = min(max(5.0, seconds * 0.1), seconds / 2)
    tasks: set[asyncio.Task] = set()
    cursor = 0

    async with httpx.AsyncClient(
        base_url=url, timeout=30, headers={"Authorization": f"Bearer {token}"}, limits=httpx.Limits(max_connections=64)
    ) as client:

        async def send(body: list[dict]) -> None:
            started = time.perf_counter()
            try:
                r = await client.post("/v1/reports", json=body)
                status = str(r.status_code)
            except httpx.HTTPError as exc:
                statuses[type(exc).__name__] = statuses.get(type(exc).__name__, 0) + 1
                return
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1
            if r.status_code == 202:
                now = time.time()
                for item, result in zip(body, r.json()["results"], strict=True):
                    if result["status"] == "accepted":
                        acked[item["event_id"]] = now

        async def sample() -> None:
            while True:
                elapsed = time.perf_counter() - start
                fig.lag.append((round(elapsed, 1), await backlog(nats_url)))
                for name, service in services.items():
                    fig.rss_peak_mib[name] = max(fig.rss_peak_mib.get(name, 0.0), rss(service))
                    if elapsed >= warm_up and name not in fig.rss_start_mib:
                        fig.rss_start_mib[name] = rss(service)
                await asyncio.sleep(1.0)

        start = time.perf_counter()
        sampler = asyncio.create_task(sample())
        i = 0
        while (target := start + i * interval) < start + seconds:
            delay = target - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            chunk = []
            for _ in range(batch):
                chunk.append({**bodies[cursor % len(bodies)], "event_id": str(uuid.uuid4())})
                cursor += 1
            task = asyncio.create_task(send(chunk))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            i += 1
        await asyncio.gather(*tasks)
        fig.seconds = time.perf_counter() - start
        sampler.cancel()
    fig.requests = i
    fig.statuses = statuses
    fig.accepted = len(acked)
    fig.offered_rate = rate
    fig.achieved_rate = len(acked) / fig.seconds
    fig.p50_202_ms = statistics.median(latencies) * 1000
    fig.p99_202_ms = statistics.quantiles(latencies, n=100)[98] * 1000
    return acked


async def soak(args: argparse.Namespace, servers: devstack.BenchServers) -> Figures:
    tmp = Path(tempfile.mkdtemp(prefix="dxsoak-"))
    services: dict[str, Service] = {}
    fig = Figures()
    nats_url, admin_url = servers.nats_url, servers.admin_url
    assert nats_url is not None  # bench_servers starts (or is given) a nats-server unless with_nats=False
    hook = Webhook()
    database_url = ""
    try:
        catalog = Catalog.load()
        database_url, token = await prepare(nats_url, admin_url, catalog, hook)
        bodies = [r.body for r in generate(catalog, date(2025, 7, 1), date.today(), seed=11)]
        env = {
            **os.environ,
            "DX_NATS_URL": nats_url,
            "DX_DATABASE_URL": database_url,
            "DX_ALERTS_FLUSH_INTERVAL_SECONDS": "5",
            "DX_ALERTS_FULL_INTERVAL_SECONDS": "60",
            "DX_ALERTS_LEASE_RENEW_SECONDS": "1",
        }
        ports = {name: devstack.free_port() for name in ("ingest", "aggregator", "alerts")}
        argv = [sys.executable, "-m", "dxmon", "serve"]
        services["aggregator"] = Service(
            [*argv, "aggregator", "--host", "127.0.0.1", "--port", str(ports["aggregator"])],
            env,
            f"http://127.0.0.1:{ports['aggregator']}/readyz",
            tmp / "aggregator.log",
        )
        services["alerts"] = Service(
            [*argv, "alerts", "--port", str(ports["alerts"])],
            env,
            f"http://127.0.0.1:{ports['alerts']}/readyz",
            tmp / "alerts.log",
        )
        services["ingest"] = Service(
            [*argv, "ingest", "--port", str(ports["ingest"])],
            env,
            f"http://127.0.0.1:{ports['ingest']}/readyz",
            tmp / "ingest.log",
        )
        for service in services.values():  # sinks first
            await service.start()
        say(
            f"soak: {args.rate:g} reports/s in batches of {args.batch} for {args.seconds:g}s "
            f"({len(bodies):,} simulated reports, resent with fresh event ids)"
        )
        acked = await drive(
            f"http://127.0.0.1:{ports['ingest']}",
            token,
            bodies,
            args.rate,
            args.batch,
            args.seconds,
            services,
            nats_url,
            fig,
        )
        fig.rss_end_mib = {name: rss(s) for name, s in services.items()}
        while await backlog(nats_url) > 0:
            await asyncio.sleep(0.2)
        conn = await asyncpg.connect(database_url)
        try:
            rows = await conn.fetch("SELECT event_id::text AS id, extract(epoch FROM stored_at) AS t FROM reports")
        finally:
            await conn.close()
        fig.rows = len(rows)
        fig.distinct_rows = len({r["id"] for r in rows})
        stored = sorted(float(r["t"]) - acked[r["id"]] for r in rows if r["id"] in acked)
        fig.p50_stored_ms = statistics.median(stored) * 1000
        fig.p99_stored_ms = statistics.quantiles(stored, n=100)[98] * 1000
        fig.max_lag = max(n for _, n in fig.lag)
        async with httpx.AsyncClient(timeout=5) as client:
            alerts_metrics = (await client.get(f"http://127.0.0.1:{ports['alerts']}/metrics")).text
        fig.evaluations = int(
            sum(
                float(line.rsplit(" ", 1)[1])
                for line in alerts_metrics.splitlines()
                if line.startswith("dx_alerts_evaluations_total{")
            )
        )
        fig.digests_delivered = hook.received
        fig.limits_met = {
            "throughput": fig.achieved_rate >= 0.99 * fig.offered_rate,
            "p99 202": fig.p99_202_ms <= P99_202 * 1000,
            "p99 202 → stored": fig.p99_stored_ms <= P99_STORED * 1000,
            "lag": fig.max_lag <= LAG_SECONDS * fig.offered_rate,
            "exact count": fig.rows == fig.distinct_rows == fig.accepted and set(fig.statuses) == {"202"},
            **{f"RSS {name}": fig.rss_end_mib[name] <= rss_bound(fig.rss_start_mib[name]) for name in services},
        }
        return fig
    finally:
        for service in reversed(list(services.values())):
            service.stop()
        hook.server.shutdown()
        if database_url and os.environ.get("DX_BENCH_DATABASE_URL"):  # leave no soak database behind
            await drop_database(admin_url, database_url)
        shutil.rmtree(tmp, ignore_errors=True)


async def drop_database(admin_url: str, database_url: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{database_url.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await conn.close()


def rss_bound(start_mib: float) -> float:
    return start_mib * RSS_FACTOR + RSS_SLACK / MiB


def report(fig: Figures) -> None:
    rows = [
        (
            "throughput",
            f"{fig.achieved_rate:,.1f}/s",
            f"offered {fig.offered_rate:,.0f}/s",
            fig.achieved_rate / fig.offered_rate,
            "≥ 0.99",
            fig.limits_met["throughput"],
        ),
        (
            "p50 / p99 HTTP 202",
            f"{fig.p50_202_ms:.0f} / {fig.p99_202_ms:.0f} ms",
            f"{P99_202 * 1000:.0f} ms",
            fig.p99_202_ms / (P99_202 * 1000),
            "≤ 1.00",
            fig.limits_met["p99 202"],
        ),
        (
            "p50 / p99 202 → stored",
            f"{fig.p50_stored_ms:.0f} / {fig.p99_stored_ms:.0f} ms",
            f"{P99_STORED * 1000:.0f} ms",
            fig.p99_stored_ms / (P99_STORED * 1000),
            "≤ 1.00",
            fig.limits_met["p99 202 → stored"],
        ),
        (
            "max consumer lag",
            f"{fig.max_lag:,}",
            f"{LAG_SECONDS * fig.offered_rate:,.0f} (2 s)",
            fig.max_lag / (LAG_SECONDS * fig.offered_rate),
            "≤ 1.00",
            fig.limits_met["lag"],
        ),
    ]
    for name in fig.rss_start_mib:
        bound = rss_bound(fig.rss_start_mib[name])
        rows.append(
            (
                f"RSS {name}",
                f"{fig.rss_start_mib[name]:.0f} → {fig.rss_end_mib[name]:.0f} MiB",
                f"{bound:.0f} MiB",
                fig.rss_end_mib[name] / bound,
                "≤ 1.00",
                fig.limits_met[f"RSS {name}"],
            )
        )
    rows.append(
        (
            "rows = accepted",
            f"{fig.rows:,}",
            f"{fig.accepted:,}",
            fig.rows / max(1, fig.accepted),
            "= 1.00",
            fig.limits_met["exact count"],
        )
    )
    print()
    print(f"{'measure':<26} {'ours':>22} {'limit':>20} {'ratio':>7} {'goal':>7}  met")
    for name, ours, limit, ratio, goal, ok in rows:
        print(f"{name:<26} {ours:>22} {limit:>20} {ratio:>7.2f} {goal:>7}  {'yes' if ok else 'NO'}")
    lag = fig.lag[:: max(1, len(fig.lag) // 20)]
    print(f"\nconsumer lag (s: reports) {', '.join(f'{t:g}: {n}' for t, n in lag)}")
    print(
        f"answers {fig.statuses}; {fig.requests:,} requests in {fig.seconds:.0f}s; peak RSS "
        + ", ".join(f"{k} {v:.0f} MiB" for k, v in fig.rss_peak_mib.items())
        + f"; alerts: {fig.evaluations} evaluation passes, {fig.digests_delivered} digests delivered"
    )
    print(f"2 cores shared by load generator, services, nats-server and PostgreSQL; {date.today()}.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--minutes", type=float, help="how long to post (default 10)")
    length.add_argument("--seconds", type=float, help="how long to post, in seconds (e.g. 30 in CI)")
    parser.add_argument("--rate", type=float, default=200, help="reports per second offered (default 200)")
    parser.add_argument("--batch", type=int, default=10, help="reports per request (default 10)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    args.seconds = args.seconds if args.seconds is not None else 60 * (args.minutes or 10)
    with devstack.bench_servers() as servers:
        fig = asyncio.run(soak(args, servers))
    report(fig)
    if args.json:
        args.json.write_text(json.dumps(asdict(fig), ensure_ascii=False, indent=1))
    return 0 if all(fig.limits_met.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
