"""The entry service's operational routes and its promise never to write to the database."""

from __future__ import annotations

import asyncpg
import httpx
import pytest

from dxmon import devstack
from services.entry.app import create_app
from services.entry.state import READ_ONLY_SESSION
from tests.integration.entry.conftest import entry_settings
from tests.pipeline import Served

pytestmark = pytest.mark.integration


async def test_health_readiness_and_metrics(entry) -> None:
    async with entry.client(token="") as http:
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        ready = await http.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json() == {"ready": True, "detail": "ready"}
        metrics = await http.get("/metrics")
        assert metrics.status_code == 200
        assert "dx_entry_import_rows_total" in metrics.text and "dx_entry_templates_total" in metrics.text
        spec = (await http.get("/openapi.json")).json()
        assert {"/v1/templates/{name}", "/v1/imports", "/readyz"} <= set(spec["paths"])
        assert (await http.get("/docs")).status_code == 200  # served by the service itself (no CDN)


async def test_readyz_says_why_when_the_database_is_unreachable(pipeline, catalog) -> None:
    dead = f"postgresql://postgres@127.0.0.1:{devstack.free_port()}/nothing"
    served = Served(create_app(entry_settings(pipeline, entry_database_url=dead), catalog), devstack.free_port())
    await served.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{served.port}") as http:
            ready = await http.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["detail"].startswith("database unreachable")
    finally:
        await served.stop()


async def test_sessions_refuse_writes_even_as_the_administrator(database_url) -> None:
    # The dev stack connects as the administrator: the session setting alone must stop any write.
    conn = await asyncpg.connect(database_url, server_settings=READ_ONLY_SESSION)
    try:
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            await conn.execute("DELETE FROM reports")
    finally:
        await conn.close()
