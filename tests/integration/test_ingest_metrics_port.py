"""With DX_INGEST_METRICS_PORT, `dxmon serve ingest` keeps /metrics off the API's port (compose: 9101, unpublished)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import nats
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount, Route

from dxmon import devstack
from dxmon.bus import ensure_topology
from dxmon.settings import NatsSettings
from services.ingest.app import create_app, create_ops_app
from services.ingest.settings import IngestSettings

pytestmark = pytest.mark.integration


def wait_until_listening(port: int, proc: subprocess.Popen) -> None:
    devstack.wait_for_port(port, 30, proc, "dxmon serve ingest")


def route_paths(app: Starlette) -> set[str]:
    """route_paths: the path of each of ``app``'s routes; a route without one fails the test."""
    assert all(isinstance(r, Route | Mount) for r in app.routes), app.routes
    return {r.path for r in app.routes if isinstance(r, Route | Mount)}


async def test_serve_ingest_puts_metrics_on_its_own_port(nats_url: str, tmp_path) -> None:
    # Streams and buckets first, as `dxmon migrate` does: without the key bucket ingest would wait
    # 5 s for its keys before serving, and /readyz would not be the ready answer checked below.
    nc = await nats.connect(nats_url)
    await ensure_topology(nc.jetstream(), NatsSettings(nats_url=nats_url))
    await nc.close()
    api, internal = devstack.free_port(), devstack.free_port()
    env = {**os.environ, "DX_NATS_URL": nats_url, "DX_INGEST_METRICS_PORT": str(internal)}
    log = open(tmp_path / "ingest.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "dxmon", "serve", "ingest", "--port", str(api)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until_listening(api, proc)
        wait_until_listening(internal, proc)
        with httpx.Client(timeout=5) as http:
            assert http.get(f"http://127.0.0.1:{api}/metrics").status_code == 404
            ready = http.get(f"http://127.0.0.1:{api}/readyz")
            assert ready.status_code == 200 and "keys" not in ready.json()  # the key count is not told
            assert http.get(f"http://127.0.0.1:{api}/openapi.json").status_code == 200
            scraped = http.get(f"http://127.0.0.1:{internal}/metrics")
            assert scraped.status_code == 200 and "dx_ingest_requests_total" in scraped.text
            assert http.get(f"http://127.0.0.1:{internal}/healthz").json() == {"status": "ok"}
            assert http.get(f"http://127.0.0.1:{internal}/docs").status_code == 404  # nothing else there
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        log.close()
    deadline = time.monotonic() + 5
    while devstack.port_in_use(internal) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not devstack.port_in_use(internal), "the metrics server stops with the API"


def test_without_the_setting_metrics_stay_on_the_api_port() -> None:
    app = create_app(IngestSettings(_env_file=None, ingest_metrics_port=None))
    assert "/metrics" in route_paths(app)
    moved = create_app(IngestSettings(_env_file=None, ingest_metrics_port=9101))
    assert "/metrics" not in route_paths(moved)
    assert "/metrics" in route_paths(create_ops_app(moved))
