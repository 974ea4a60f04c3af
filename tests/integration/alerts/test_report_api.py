"""GET /v1/exports/report: the official report over HTTP, behind an operator token or an agency key (then for
the key's own units only, 403 outside them); bad requests get 422."""

from __future__ import annotations

import asyncio
import time
from datetime import date

import asyncpg
import httpx
import nats
import pytest
from alerts_fixtures import OTHER, UNIT, Clock, T, fast_settings

from dxmon.catalog import Catalog, Level
from dxmon.contracts import KEYS_BUCKET
from dxmon.keys import KeyStore
from dxmon.report.docx_writer import percent
from dxmon.report.model import ReportPeriod
from dxmon.report.repository import build_report
from dxmon.report.target_sets import set_milestones
from services.alerts.app import create_app
from tests.report_documents import (
    check_annex,
    docx_annex,
    docx_ranking,
    docx_text,
    seed_and_evaluate,
    set_outcomes,
    xlsx_sheets,
)

pytestmark = pytest.mark.integration

TOKEN = "r" * 30
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def keys(bus, catalog):
    """keys: `dxmon keys` on the test's NATS (the service follows the bucket, as ingest does)."""
    nc = await nats.connect(bus)
    yield KeyStore(await nc.jetstream().key_value(KEYS_BUCKET), catalog)
    await nc.close()


@pytest.fixture
async def api(database_url, bus, catalog):
    await seed_and_evaluate(database_url, catalog, date(2025, 7, 1), date(2025, 12, 31), T)
    settings = fast_settings(database_url, bus, alerts_instance="alerts-report", alerts_api_tokens=f"lan:{TOKEN}")
    app = create_app(settings, catalog=catalog, clock=Clock(T))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://alerts") as http,
    ):
        yield http


async def test_report_over_http_is_the_clis_report(api, database_url, catalog) -> None:
    assert (await api.get("/v1/exports/report", params={"period": "2025"})).status_code == 401
    got = await api.get("/v1/exports/report", params={"period": "2025", "unit": UNIT}, headers=AUTH)
    assert got.status_code == 200, got.text
    assert got.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.wordprocessing")
    assert got.headers["content-disposition"] == f'attachment; filename="bao-cao-NQ09-{UNIT}-2025.docx"'
    conn = await asyncpg.connect(database_url)
    try:
        report = await build_report(
            conn, catalog, target_set="NQ09", period=ReportPeriod.parse("2025"), unit=UNIT, now=T
        )
    finally:
        await conn.close()
    annex = docx_annex(got.content)
    assert report.rows and set(annex) == {r.indicator for r in report.rows}
    assert [annex[r.indicator][5] for r in report.rows] == [r.result_label for r in report.rows]

    sheet = await api.get("/v1/exports/report", params={"period": "2025-H2", "format": "xlsx"}, headers=AUTH)
    assert sheet.status_code == 200
    assert xlsx_sheets(sheet.content)["Phụ lục"][0][0] == "STT"


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        pytest.param({"period": "2025-13"}, "YYYY-Q1", id="bad-period"),
        pytest.param({"period": "2025", "format": "odt"}, "", id="bad-format"),
        pytest.param({"period": "2025", "unit": "QN-NOWHERE"}, "không có trong danh mục", id="unknown-unit"),
        pytest.param({"period": "2025", "target_set": "NQ57"}, "NQ09", id="unknown-set"),
        pytest.param({}, "", id="no-period"),
        pytest.param({"period": "2" * 500}, "", id="huge-period"),
    ],
)
async def test_bad_requests_get_422(api, params, detail) -> None:
    got = await api.get("/v1/exports/report", params=params, headers=AUTH)
    assert got.status_code == 422, got.text
    assert got.headers["content-type"] == "application/problem+json"
    assert detail in got.text


async def get_when_keys_loaded(api: httpx.AsyncClient, params: dict, token: str, timeout: float = 10) -> httpx.Response:
    """The service loads the key bucket once it runs; until then an agency key is answered 503 (retry)."""
    started = time.monotonic()
    while (
        got := await api.get("/v1/exports/report", params=params, headers={"Authorization": f"Bearer {token}"})
    ).status_code == 503:
        assert time.monotonic() - started < timeout, got.text
        await asyncio.sleep(0.1)
    return got


async def test_a_commune_key_gets_its_own_report_only(api, keys, database_url, catalog: Catalog) -> None:
    _, token = await keys.create("UBND phường Hồng Gai", [UNIT])

    # No unit named: the key's own. Rows: the commune's indicators only, each the evaluation's outcome.
    got = await get_when_keys_loaded(api, {"period": "2025"}, token)
    assert got.status_code == 200, got.text
    assert got.headers["content-disposition"] == f'attachment; filename="bao-cao-NQ09-{UNIT}-2025.docx"'
    conn = await asyncpg.connect(database_url)
    try:
        expected = await set_outcomes(conn, catalog, UNIT)
    finally:
        await conn.close()
    annex = docx_annex(got.content)
    check_annex(annex, expected, catalog)
    communes = {i.code for i in catalog.indicators.values() if set_milestones(catalog, "NQ09", i, Level.COMMUNE)}
    assert annex and set(annex) <= communes and "DE-01" not in annex  # no province indicator
    assert docx_ranking(got.content) == []
    assert f"UBND {catalog.units[UNIT].name_vi}".upper() in docx_text(got.content)
    sheet = await api.get(
        "/v1/exports/report",
        params={"period": "2025-H2", "unit": UNIT, "format": "xlsx"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert sheet.status_code == 200 and len(xlsx_sheets(sheet.content)["Phụ lục"]) == len(expected) + 1

    # Another commune, or the province: 403 in Vietnamese, nothing of theirs.
    for elsewhere in (OTHER, "QN"):
        refused = await api.get(
            "/v1/exports/report",
            params={"period": "2025", "unit": elsewhere},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        body = refused.json()
        assert body["reason"] == "outside-key-scope"
        assert (
            f"chỉ được lập báo cáo cho đơn vị thuộc phạm vi của khóa ({UNIT}), không cho {elsewhere}" in body["detail"]
        )

    # The operator token still gets the province, every unit ranked.
    province = await api.get("/v1/exports/report", params={"period": "2025"}, headers=AUTH)
    assert province.status_code == 200
    assert "bao-cao-NQ09-QN-2025.docx" in province.headers["content-disposition"]
    assert len(docx_ranking(province.content)) >= 54


async def test_a_revoked_or_unknown_key_gets_401(api, keys) -> None:
    key, token = await keys.create("UBND phường Hồng Gai", [UNIT])
    assert (await get_when_keys_loaded(api, {"period": "2025"}, token)).status_code == 200
    assert await keys.revoke(key.key_id)
    started = time.monotonic()
    while (got := await get_when_keys_loaded(api, {"period": "2025"}, token)).status_code == 200:
        assert time.monotonic() - started < 10, "the revoked key still works"
        await asyncio.sleep(0.1)
    assert (got.status_code, got.json()["reason"]) == (401, "invalid-credentials")
    forged = await get_when_keys_loaded(api, {"period": "2025"}, token[:-4] + "AAAA")
    assert forged.status_code == 401


async def test_a_key_without_the_units_below_sees_no_ranking_nor_their_rates(api, keys, database_url) -> None:
    _, own = await keys.create("Sở Khoa học và Công nghệ", ["QN"])  # the province itself, not the communes
    got = await get_when_keys_loaded(api, {"period": "2025"}, own)
    assert got.status_code == 200, got.text
    assert docx_ranking(got.content) == []
    conn = await asyncpg.connect(database_url)
    try:
        rates = await conn.fetchrow(
            "SELECT sum(expected) e, sum(actual) a FROM reporting_rates WHERE unit = 'QN'"
            " AND period_end BETWEEN '2025-01-01' AND '2025-12-31'"
        )
    finally:
        await conn.close()
    assert f"{percent(100 * rates['a'] / rates['e'])} ({rates['a']}/{rates['e']} báo cáo)" in docx_text(got.content)

    _, everything = await keys.create("Sở Khoa học và Công nghệ", ["QN"], with_descendants=True)
    got = await get_when_keys_loaded(api, {"period": "2025", "unit": UNIT}, everything)
    assert got.status_code == 200  # a unit below, within the key's scope
    got = await get_when_keys_loaded(api, {"period": "2025"}, everything)
    assert len(docx_ranking(got.content)) >= 54
