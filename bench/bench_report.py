"""bench_report: the official report for the province (54 communes after 1 July 2025) from a year of
data must be ready in ≤ 10 s, in each format (Word, Excel, PDF), database read included.

    python bench/bench_report.py [--repeat 3]

Starts a throwaway PostgreSQL (dxmon.devstack) unless DX_BENCH_DATABASE_URL names a server, in which
case a fresh database is created there and dropped afterwards. The real catalog is synced; the
simulator's reports for 2025 (every unit, every indicator, every period; some late) are stored through
store_reports and evaluated, as the pipeline would (neither is timed). Then ``build_report`` plus the
layout is timed per format, ``--repeat`` times; the worst run is compared with the limit measured in
the same run. PDF needs LibreOffice (scripts/bootstrap.sh installs it as root).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from datetime import datetime

import asyncpg

from dxmon import devstack
from dxmon.catalog import Catalog, Level
from dxmon.contracts import LOCAL_TZ
from dxmon.report import render
from dxmon.report.model import ReportPeriod
from dxmon.report.pdf import soffice
from dxmon.report.repository import build_report
from dxmon.simulate import seed_simulated
from dxmon.store.catalog_repository import sync_catalog
from dxmon.store.migrate import migrate
from dxmon.store.progress_repository import evaluate

LIMIT_SECONDS = 10.0
AS_OF = datetime(2026, 1, 10, 9, tzinfo=LOCAL_TZ)
PERIOD = ReportPeriod.parse("2025")


async def run(args: argparse.Namespace, admin_url: str) -> None:
    load_before = os.getloadavg()[0]
    catalog = Catalog.load()
    communes = sum(1 for u in catalog.units_active_on(PERIOD.end) if u.level is Level.COMMUNE)
    formats = ["docx", "xlsx"] + (["pdf"] if soffice() else [])
    times: dict[str, list[float]] = {f: [] for f in formats}
    async with devstack.throwaway_database(admin_url) as url:
        await migrate(url)
        conn = await asyncpg.connect(url)
        try:
            await sync_catalog(conn, catalog)
            t0 = time.perf_counter()
            stored = await seed_simulated(conn, catalog, PERIOD.start, PERIOD.end)
            await evaluate(conn, catalog, AS_OF)
            print(
                f"seeded {stored:,} reports ({len(catalog.units_active_on(PERIOD.end))} units active at the year's "
                f"end, {communes} communes) and evaluated in {time.perf_counter() - t0:.1f} s (not timed)"
            )
            for _ in range(args.repeat):
                for fmt in formats:
                    started = time.perf_counter()
                    report = await build_report(conn, catalog, target_set="NQ09", period=PERIOD, unit="QN", now=AS_OF)
                    document = render(report, fmt)
                    times[fmt].append(time.perf_counter() - started)
                    print(
                        f"  {fmt:<5} {times[fmt][-1]:5.2f} s  ({len(document):,} bytes, {len(report.rows)} annex "
                        f"rows, {len(report.ranking)} units ranked)"
                    )
        finally:
            await conn.close()
    print()
    for fmt, measured in times.items():
        worst = max(measured)
        print(
            f"{fmt:<5} (worst of {len(measured)})  {worst:5.2f} s   ratio to the {LIMIT_SECONDS:.0f} s limit: "
            f"{worst / LIMIT_SECONDS:.2f}   {'OK' if worst <= LIMIT_SECONDS else 'TOO SLOW'}"
        )
    if "pdf" not in times:
        print("pdf   not measured: LibreOffice (soffice) is not installed")
    print(
        f"load average  {load_before:.2f} before, {os.getloadavg()[0]:.2f} after ({os.cpu_count()} CPUs; other work "
        f"on the machine slows every wall-clock figure above)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with devstack.bench_servers(with_nats=False) as servers:
        asyncio.run(run(args, servers.admin_url))


if __name__ == "__main__":
    main()
