"""Ingest's API docs work on an intranet without Internet access: /docs and /redoc load every asset
from ingest itself (no NATS needed to read the docs)."""

from __future__ import annotations

import re

import httpx
import pytest

from dxmon.settings import IngestSettings
from services.ingest.app import create_app


@pytest.fixture(scope="module")
def app(catalog):
    return create_app(IngestSettings(nats_url="nats://127.0.0.1:1"), catalog)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_reference_only_assets_ingest_serves(app, page: str):
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
