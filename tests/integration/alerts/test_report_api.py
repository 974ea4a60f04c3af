"""GET /v1/exports/report: the official report over HTTP, behind an operator token; bad requests get 422."""

from __future__ import annotations

from datetime import date

import asyncpg
import httpx
import pytest

from alerts_fixtures import UNIT, Clock, T, fast_settings
from dxmon.report.model import ReportPeriod
from dxmon.report.repository import build_report
from services.alerts.app import create_app
from tests.report_documents import docx_annex, seed_and_evaluate, xlsx_sheets

pytestmark = pytest.mark.integration

TOKEN = "r" * 30
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def api(database_url, bus, catalog):
    await seed_and_evaluate(database_url, catalog, date(2025, 7, 1), date(2025, 12, 31), T)
    settings = fast_settings(database_url, bus, alerts_instance="alerts-report", alerts_api_tokens=f"lan:{TOKEN}")
    app = create_app(settings, catalog=catalog, clock=Clock(T))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://alerts"
    ) as http:
        yield http


async def test_report_over_http_is_the_clis_report(api, database_url, catalog) -> None:
    assert (await api.get("/v1/exports/report", params={"period": "2025"})).status_code == 401
    got = await api.get("/v1/exports/report", params={"period": "2025", "unit": UNIT}, headers=AUTH)
    assert got.status_code == 200, got.text
    assert got.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.wordprocessing")
    assert got.headers["content-disposition"] == f'attachment; filename="bao-cao-NQ09-{UNIT}-2025.docx"'
    conn = await asyncpg.connect(database_url)
    try:
        report = await build_report(conn, catalog, target_set="NQ09", period=ReportPeriod.parse("2025"), unit=UNIT,
                                    now=T)
    finally:
        await conn.close()
    annex = docx_annex(got.content)
    assert report.rows and set(annex) == {r.indicator for r in report.rows}
    assert [annex[r.indicator][5] for r in report.rows] == [r.result_label for r in report.rows]

    sheet = await api.get("/v1/exports/report", params={"period": "2025-H2", "format": "xlsx"}, headers=AUTH)
    assert sheet.status_code == 200
    assert xlsx_sheets(sheet.content)["Phụ lục"][0][0] == "STT"


@pytest.mark.parametrize(("params", "detail"), [
    pytest.param({"period": "2025-13"}, "YYYY-Q1", id="bad-period"),
    pytest.param({"period": "2025", "format": "odt"}, "", id="bad-format"),
    pytest.param({"period": "2025", "unit": "QN-NOWHERE"}, "unknown unit", id="unknown-unit"),
    pytest.param({"period": "2025", "target_set": "NQ57"}, "NQ09", id="unknown-set"),
    pytest.param({}, "", id="no-period"),
    pytest.param({"period": "2" * 500}, "", id="huge-period"),
])
async def test_bad_requests_get_422(api, params, detail) -> None:
    got = await api.get("/v1/exports/report", params=params, headers=AUTH)
    assert got.status_code == 422, got.text
    assert got.headers["content-type"] == "application/problem+json"
    assert detail in got.text
