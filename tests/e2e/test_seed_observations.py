"""`dxmon catalog load-observations` end to end: the command → JetStream → aggregator → database.

DG-01's 2024 seed figures (province 628/1000, district level 97/200, commune level 31/78) are stored
as QN's reports by category, with their source; the total is 756/1278. Running the command twice
stores nothing twice (event ids come from the content).
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, date, datetime

import nats
import pytest

from dxmon.contracts import ReportReceived, report_subject
from dxmon.observations import AGENCY, KEY_ID, seed_reports
from tests.pipeline import Pipeline

pytestmark = pytest.mark.e2e


async def load_observations(nats_url: str) -> str:
    env = {**os.environ, "DX_NATS_URL": nats_url}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dxmon",
        "catalog",
        "load-observations",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, out.decode()
    return out.decode()


async def test_seed_figures_are_stored_once_with_their_total(pipeline: Pipeline):
    first = await load_observations(pipeline.nats_url)
    assert "DG-01 QN commune tháng 3/2024: 31/78 — đã gửi" in first and "3 báo cáo đã gửi, 0 trùng" in first
    assert "DG-01 QN province tháng 3/2024: 628/1.000 — đã gửi" in first
    await pipeline.wait_drained()
    second = await load_observations(pipeline.nats_url)
    assert "0 báo cáo đã gửi, 3 trùng" in second
    await pipeline.wait_drained()

    assert await pipeline.fetchval("SELECT count(*) FROM reports") == 3
    rows = {
        r["category"]: r
        for r in await pipeline.fetch(
            "SELECT category, value, numerator, denominator, includes_percent_only, reports, period_start "
            "FROM period_values WHERE unit = 'QN' AND indicator = 'DG-01'"
        )
    }
    assert round(rows["province"]["value"], 1) == 62.8
    assert round(rows["district"]["value"], 1) == 48.5
    assert round(rows["commune"]["value"], 1) == 39.7
    total = rows[""]
    assert (total["numerator"], total["denominator"], total["reports"]) == (756, 1278, 3)
    assert total["value"] == pytest.approx(100 * 756 / 1278) and not total["includes_percent_only"]
    assert total["period_start"] == date(2024, 3, 1)
    sources = await pipeline.fetch("SELECT DISTINCT source, agency FROM reports")
    assert [tuple(s) for s in sources] == [("catalog: ART", "dxmon catalog")]
    assert await pipeline.fetchval("SELECT count(*) FROM dead_letters") == 0


async def test_rerun_after_the_duplicate_window_stores_nothing(pipeline: Pipeline):
    await load_observations(pipeline.nats_url)
    await pipeline.wait_drained()
    # After JetStream's duplicate window (simulated: the same reports under fresh Nats-Msg-Ids) the
    # aggregator recognises (agency, event id, content) and stores nothing.
    nc = await nats.connect(pipeline.nats_url)
    try:
        js = nc.jetstream()
        for seed in seed_reports(pipeline.catalog):
            r = seed.report
            event = ReportReceived(**r.model_dump(), received_at=datetime.now(UTC), agency=AGENCY, key_id=KEY_ID)
            await js.publish(
                report_subject(r.unit, r.indicator),
                event.model_dump_json().encode(),
                headers={"Nats-Msg-Id": f"later-{r.event_id}"},
            )
    finally:
        await nc.close()
    await pipeline.wait_drained()
    assert await pipeline.fetchval("SELECT count(*) FROM reports") == 3
    assert await pipeline.fetchval("SELECT reports FROM period_values WHERE category = ''") == 3
    assert await pipeline.fetchval("SELECT count(*) FROM dead_letters") == 0
