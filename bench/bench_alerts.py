"""bench_alerts: alert lifecycle and one notification flush at province scale.

    python bench/bench_alerts.py [--units 5000] [--indicators 40] [--every 5]

Uses bench_evaluation's synthetic catalog and year of reports (5,000 units × 40 indicators), runs one
real progress evaluation, then times the alerts service's own steps on that result:

  sync (first)      sync_alerts turning every alerting status into a firing alert (+ alert_events)
  sync (again)      the same with nothing changed: what every later pass pays
  flush (first)     route to every channel, run the stage pipeline, write outbox + notification log
  flush (again)     nothing changed: load, route and dedup only

Channels: one subscription with descendants on every unit that has children, and a direct one on
every --every-th unit (json:// URLs; nothing is sent, the outbox is not drained).
Limits measured in this run: the sync is compared with a bare COPY of as many rows into a copy of
the alerts table (the write floor); both flushes with the default flush interval (30 s), the time
budget a flush must fit in. Starts a throwaway PostgreSQL unless DX_BENCH_DATABASE_URL names one.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid
from contextlib import asynccontextmanager
from datetime import timedelta

import asyncpg
from bench_evaluation import AS_OF, seed, synthetic_catalog

from dxmon import devstack
from dxmon.store.catalog_repository import sync_catalog
from dxmon.store.migrate import migrate
from dxmon.store.progress_repository import evaluate
from services.alerts import repository as repo
from services.alerts.alert import Severity
from services.alerts.dispatch import Dispatcher
from services.alerts.evaluate import parents
from services.alerts.metrics import Metrics
from services.alerts.settings import AlertsSettings

FLUSH_BUDGET = AlertsSettings.model_fields["alerts_flush_interval_seconds"].default


@asynccontextmanager
async def fresh_database():
    """fresh_database yields the URL of a new database, on DX_BENCH_DATABASE_URL or a throwaway server."""
    with devstack.bench_servers(with_nats=False) as servers:
        name = f"dxbench_{uuid.uuid4().hex[:8]}"
        try:
            yield await devstack.ensure_database(servers.admin_url, name)
        finally:
            conn = await asyncpg.connect(servers.admin_url)
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.close()


async def timed(coro):
    started = time.perf_counter()
    result = await coro
    return time.perf_counter() - started, result


async def run(args: argparse.Namespace) -> None:
    async with fresh_database() as url:
        await migrate(url)
        rng = random.Random(20260210)
        catalog = synthetic_catalog(args.units, args.indicators, rng)
        pool = await asyncpg.create_pool(url, min_size=1, max_size=4)
        async with pool.acquire() as conn:
            await sync_catalog(conn, catalog)
            await seed(conn, catalog, rng)
            summary = await evaluate(conn, catalog, AS_OF)
            print(
                f"evaluated {summary.pairs:,} pairs: "
                + ", ".join(f"{k} {v:,}" for k, v in sorted(summary.statuses.items()))
            )
            with_children = {u.parent for u in catalog.units.values() if u.parent}
            n_subs = 0
            for i, code in enumerate(sorted(catalog.units)):
                if code in with_children:
                    await repo.add_subscription(
                        conn, code, True, [], Severity.WARNING, f"json://127.0.0.1:9/tree/{code}"
                    )
                    n_subs += 1
                if i % args.every == 0:
                    await repo.add_subscription(
                        conn, code, False, [], Severity.WARNING, f"json://127.0.0.1:9/unit/{code}"
                    )
                    n_subs += 1

            sync_first, changes = await timed(repo.sync_alerts(conn, AS_OF))
            sync_again, unchanged = await timed(repo.sync_alerts(conn, AS_OF + timedelta(hours=1)))
            columns = [
                r["column_name"]
                for r in await conn.fetch(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = 'alerts' ORDER BY "
                    "ordinal_position"
                )
            ]
            rows = await conn.fetch(f"SELECT {', '.join(columns)} FROM alerts")
            await conn.execute("CREATE TEMP TABLE floor_alerts (LIKE alerts)")
            floor, _ = await timed(
                conn.copy_records_to_table("floor_alerts", records=[tuple(r) for r in rows], columns=columns)
            )

        dispatcher = Dispatcher(
            pool,
            parents(catalog),
            Metrics(),
            repeat_interval=timedelta(days=7),
            escalate_after=timedelta(days=30),
            public_url="http://grafana.local",
        )
        flush_first, digests = await timed(dispatcher.flush(AS_OF + timedelta(hours=1)))
        flush_again, repeated = await timed(dispatcher.flush(AS_OF + timedelta(hours=2)))
        await pool.close()

    print(
        f"{len(changes):,} alerts fired, {unchanged and len(unchanged) or 0} changes on the second sync; "
        f"{n_subs:,} subscriptions, {digests:,} digests queued, {repeated} on the second flush"
    )
    print()
    print(
        f"sync (first)   {sync_first:6.2f} s   {sync_first / floor:5.1f} × a bare COPY of {len(rows):,} alert rows "
        f"({floor:.2f} s)"
    )
    print(f"sync (again)   {sync_again:6.2f} s   {sync_again / floor:5.1f} × the same COPY")
    for label, took in (("flush (first)", flush_first), ("flush (again)", flush_again)):
        verdict = "OK" if took <= FLUSH_BUDGET else "TOO SLOW"
        print(
            f"{label:<14} {took:6.2f} s   ratio to the {FLUSH_BUDGET:.0f} s flush interval: {took / FLUSH_BUDGET:.3f}  "
            f" {verdict}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--units", type=int, default=5000)
    parser.add_argument("--indicators", type=int, default=40)
    parser.add_argument("--every", type=int, default=5, help="a direct subscription on every n-th unit")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
