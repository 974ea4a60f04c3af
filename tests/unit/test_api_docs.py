"""The services' API docs work on an intranet without Internet access: /docs and /redoc load every
asset from the service itself (no NATS or database needed to read the docs)."""

from __future__ import annotations

import re

import httpx
import pytest

from services.alerts.app import create_app as create_alerts_app
from services.alerts.settings import AlertsSettings
from services.ingest.app import create_app as create_ingest_app
from services.ingest.settings import IngestSettings


@pytest.fixture(scope="module", params=["ingest", "alerts"])
def app(request, catalog):
    if request.param == "ingest":
        return create_ingest_app(IngestSettings(nats_url="nats://127.0.0.1:1"), catalog)
    return create_alerts_app(AlertsSettings(nats_url="nats://127.0.0.1:1"), catalog=catalog)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_reference_only_assets_the_service_serves(app, page: str):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ingest") as client:
        html = await client.get(page)
        assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html.text), "an asset from another host"
        assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html.text)
        assert any(a.endswith(".js") for a in assets)
        for asset in assets:
            assert asset.startswith("/"), asset
            answer = await client.get(asset)
            assert answer.status_code == 200, asset
            assert len(answer.content) > 1000, asset
        spec = re.search(r"""(?:url: |spec-url=)["']([^"']+)["']""", html.text)
        assert spec and spec.group(1) == "/openapi.json"
