"""A short soak in CI: ``bench/soak.py --seconds 30`` with ingest, aggregator and alerts as processes.

The ten-minute run is done by hand (``python bench/soak.py``); this one checks the same figures on
the test servers: every report answered 202 is a row exactly once, and no service's memory grew
beyond the soak's stated bound (end ≤ 1.25 × after warm-up + 32 MiB).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

SOAK = Path(__file__).resolve().parents[2] / "bench" / "soak.py"


def test_thirty_second_soak_stores_every_report_once_with_bounded_memory(tmp_path, nats_url, pg_admin_url):
    """Load: 200 reports/s in batches of 10 for 30 s, alerts evaluating throughout.

    Counts checked: 600 requests, all 202; 6,000 accepted; 6,000 rows, 6,000 distinct; each
    service's RSS at the end within 1.25 × its RSS after warm-up + 32 MiB; alerts evaluated and
    delivered digests meanwhile.
    """
    out = tmp_path / "soak.json"
    env = {**os.environ, "DX_BENCH_NATS_URL": nats_url, "DX_BENCH_DATABASE_URL": pg_admin_url}
    run = subprocess.run(
        [sys.executable, str(SOAK), "--seconds", "30", "--rate", "200", "--batch", "10", "--json", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    print(run.stdout[-3000:])
    fig = json.loads(out.read_text())
    assert fig["statuses"] == {"202": 600}
    assert fig["accepted"] == fig["rows"] == fig["distinct_rows"] == 6000
    for service in ("ingest", "aggregator", "alerts"):
        assert fig["rss_end_mib"][service] <= fig["rss_start_mib"][service] * 1.25 + 32, service
    assert fig["evaluations"] > 0 and fig["digests_delivered"] > 0
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
