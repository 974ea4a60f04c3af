"""Import benchmark: a 5,000-row workbook through the entry service, against openpyxl's own read of it.

    limit (same file, same run)                  ours                                      goal
    openpyxl read-only load + every row's values  dry run over HTTP: upload → summary       ≤ 2×
                                                  import: upload → 202 (every PubAck)       —
                                                  import: upload → every row stored         —
                                                  the same file again: → summary (unchanged) —

Run: ``PYTHONPATH=. .venv/bin/python bench/bench_import.py`` (starts its own nats-server and PostgreSQL
unless DX_BENCH_NATS_URL / DX_BENCH_DATABASE_URL are set). The entry service and the aggregator run as
separate processes, as in production; the client shares the machine's cores with them.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
from openpyxl import load_workbook

from dxmon import devstack
from dxmon.bus import connect
from dxmon.catalog import Catalog, Measure
from dxmon.cli.dev import Service
from dxmon.cli.setup import setup_database, setup_nats
from dxmon.keys import KeyStore
from dxmon.settings import NatsSettings
from services.entry.sheet import DATA_SHEET, parse_period, template_rows
from services.entry.workbook import LETTER, XLSX_MEDIA_TYPE, Filled, Template, to_xlsx

FIRST, LAST = "2025-01", "2026-10"


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def workbook(catalog: Catalog, rows: int) -> bytes:
    """workbook: a template of ``rows`` lines over every unit, filled as a clerk would (openpyxl)."""
    first, last = parse_period(FIRST, catalog), parse_period(LAST, catalog)
    lines = []
    for unit in sorted(catalog.units.values(), key=lambda u: u.code):
        lines += template_rows(catalog, unit, first, last)
        if len(lines) >= rows:
            break
    lines = lines[:rows]
    if len(lines) < rows:
        raise SystemExit(f"the catalog gives only {len(lines)} rows for {FIRST}..{LAST}")
    data = to_xlsx(Template("bench", f"{FIRST} – {LAST}", datetime.now(UTC), [Filled(line) for line in lines]))
    wb = load_workbook(io.BytesIO(data))
    ws = wb[DATA_SHEET]
    for r, line in enumerate(lines, start=2):
        measure = line.indicator.measure
        if measure is Measure.RATIO:
            ws[f"{LETTER['numerator']}{r}"] = r % 97
            ws[f"{LETTER['denominator']}{r}"] = 100
        else:
            ws[f"{LETTER['value']}{r}"] = {Measure.BOOLEAN: 1, Measure.RANK: 5}.get(measure, r % 90)
        if r % 10 == 0:
            ws[f"{LETTER['explanation']}{r}"] = (
                "Một số thôn chưa có cáp quang; đã đề nghị nhà mạng hoàn thành trong quý."
            )
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def bare_read(data: bytes) -> tuple[float, int]:
    """bare_read: openpyxl's own read of the file — load read-only with cached values, every row's values."""
    started = time.perf_counter()
    wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    n = sum(1 for _ in wb[DATA_SHEET].iter_rows(values_only=True))
    wb.close()
    return time.perf_counter() - started, n


def best(times: list[float]) -> float:
    return min(times)


async def post(client: httpx.AsyncClient, data: bytes, dry_run: bool) -> tuple[float, dict]:
    started = time.perf_counter()
    r = await client.post(
        "/v1/imports", params={"dry_run": str(dry_run).lower()}, files={"file": ("bench.xlsx", data, XLSX_MEDIA_TYPE)}
    )
    elapsed = time.perf_counter() - started
    if r.status_code not in (200, 202):
        raise RuntimeError(f"{r.status_code}: {r.text[:500]}")
    return elapsed, r.json()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of the bare read and the dry run (best kept)")
    args = parser.parse_args()
    catalog = Catalog.load()

    say(f"building a {args.rows}-row workbook ({FIRST} … {LAST}, every unit)")
    data = workbook(catalog, args.rows)
    say(f"  {len(data) / 1024:.0f} KiB")

    with devstack.bench_servers() as servers, tempfile.TemporaryDirectory(prefix="dxbench-import-") as tmp:
        nats_url = servers.nats_url
        assert nats_url is not None  # bench_servers starts (or is given) a nats-server unless with_nats=False
        async with devstack.throwaway_database(servers.admin_url, "dxbench_import") as database_url:
            await setup_database(database_url, catalog, False)  # as `dxmon migrate` and `dxmon dev` do
            settings = NatsSettings(nats_url=nats_url)
            await setup_nats(settings)
            nc = await connect(settings, "bench")
            _, token = await (await KeyStore.open(nc.jetstream(), catalog)).create(
                "bench", ["QN"], with_descendants=True
            )
            await nc.close()

            env = {
                **os.environ,
                "DX_NATS_URL": nats_url,
                "DX_DATABASE_URL": database_url,
                "DX_ENTRY_DATABASE_URL": database_url,
            }
            entry_port, agg_port = devstack.free_port(), devstack.free_port()
            serve = [sys.executable, "-m", "dxmon", "serve"]
            aggregator = Service(
                "aggregator",
                [*serve, "aggregator", "--host", "127.0.0.1", "--port", str(agg_port)],
                f"http://127.0.0.1:{agg_port}/readyz",
                Path(tmp) / "aggregator.log",
                env,
            )
            entry = Service(
                "entry",
                [*serve, "entry", "--host", "127.0.0.1", "--port", str(entry_port)],
                f"http://127.0.0.1:{entry_port}/readyz",
                Path(tmp) / "entry.log",
                env,
            )
            try:
                for service in (aggregator, entry):  # as `dxmon dev` runs them
                    service.start()
                    await asyncio.to_thread(service.wait_ready)
                async with httpx.AsyncClient(
                    base_url=f"http://127.0.0.1:{entry_port}", timeout=600, headers={"Authorization": f"Bearer {token}"}
                ) as client:
                    reads, drys = [], []
                    for _ in range(args.repeat):  # interleaved: both see the same machine load
                        seconds, n = bare_read(data)
                        reads.append(seconds)
                        seconds, summary = await post(client, data, dry_run=True)
                        drys.append(seconds)
                    assert n == args.rows + 1 and summary["counts"]["new"] == args.rows, summary["counts"]
                    say(
                        f"openpyxl read-only load + every row   best {best(reads):.2f} s  (runs: "
                        + ", ".join(f"{t:.2f}" for t in reads)
                        + ")"
                    )
                    say(
                        f"dry run, upload → summary            best {best(drys):.2f} s  (runs: "
                        + ", ".join(f"{t:.2f}" for t in drys)
                        + ")"
                    )

                    conn = await asyncpg.connect(database_url)
                    try:
                        started = time.perf_counter()
                        accepted, summary = await post(client, data, dry_run=False)
                        while await conn.fetchval("SELECT count(*) FROM reports") < args.rows:
                            await asyncio.sleep(0.05)
                        stored = time.perf_counter() - started
                    finally:
                        await conn.close()
                    assert summary["published"] == {"accepted": args.rows, "duplicates": 0}, summary["published"]
                    say(f"import, upload → 202 (every PubAck)   {accepted:.2f} s")
                    say(f"import, upload → every row stored     {stored:.2f} s")
                    again, summary = await post(client, data, dry_run=False)
                    assert summary["counts"]["unchanged"] == args.rows and summary["published"]["accepted"] == 0
                    say(f"the same file again (all unchanged)  {again:.2f} s, nothing published")
            finally:
                entry.stop()
                aggregator.stop()
                # Where the service's time went, as it logs each import.
                for line in (Path(tmp) / "entry.log").read_text().splitlines():
                    if "import of" in line:
                        say("  entry: " + line.split(": ", 1)[-1])

    ratio = best(drys) / best(reads)
    print()
    print(f"rows                          {args.rows}")
    print(f"dry run / openpyxl read       {ratio:.2f}×   (goal ≤ 2×: {'met' if ratio <= 2 else 'NOT met'})")
    print(f"import to 202 / openpyxl read {accepted / best(reads):.2f}×")
    print(f"import to stored / read       {stored / best(reads):.2f}×")
    print(f"rows stored per second        {args.rows / stored:,.0f}")


if __name__ == "__main__":
    asyncio.run(main())
