"""Hostile and careless uploads over HTTP: a clear 4xx problem (never a 500), nothing published."""

from __future__ import annotations

import io
import os
import unicodedata
import zipfile

import httpx
import pytest

from dxmon import devstack
from services.entry.app import create_app
from services.entry.sheet import COLUMNS
from tests.integration.entry.conftest import entry_settings
from tests.integration.entry.entry_files import XLSX, csv_text
from tests.pipeline import Served

pytestmark = pytest.mark.integration
ROW = {"unit": "QN-P-ANSINH", "indicator": "DG-04", "period": "2026-09", "numerator": 628, "denominator": 1000}


def zip_bomb(unpacked_mib: int) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        with z.open("xl/worksheets/sheet1.xml", "w") as f:
            for _ in range(unpacked_mib):
                f.write(b"\0" * (1 << 20))
    return out.getvalue()


async def test_raw_csv_with_bom_crlf_and_nfd_is_imported_in_nfc(entry) -> None:
    text = csv_text([{**ROW, "explanation": unicodedata.normalize("NFD", "Đã triển khai ở các thôn")}])
    body = ("\ufeff" + unicodedata.normalize("NFD", text)).encode("utf-8")
    assert b"\r\n" in body and body.startswith(b"\xef\xbb\xbf")
    async with entry.client() as http:
        sent = await http.post(
            "/v1/imports",
            params={"dry_run": "false", "filename": "mau.csv"},
            content=body,
            headers={"Content-Type": "text/csv; charset=utf-8"},
        )
    assert sent.status_code == 202, sent.text
    assert sent.json()["format"] == "csv" and sent.json()["counts"]["new"] == 1
    await entry.pipeline.wait_drained()
    stored = await entry.pipeline.fetchval("SELECT explanation FROM period_values WHERE unit = $1", ROW["unit"])
    assert stored == "Đã triển khai ở các thôn" and unicodedata.is_normalized("NFC", stored)


@pytest.mark.parametrize(
    "body, content_type, status, reason",
    [
        (b"", "text/csv", 400, "empty-body"),
        (b"not a zip at all", XLSX, 422, "unreadable-spreadsheet"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "application/vnd.ms-excel", 422, "unreadable-spreadsheet"),
        (b"\x89PNG\r\n\x1a\n" + bytes(100), "image/png", 415, "unsupported-media-type"),
        (b"\xff\xfeM\x00a\x00", "text/csv", 422, "unreadable-spreadsheet"),  # UTF-16: not UTF-8
        (b"a,b\r\n1,2\r\n", "text/csv", 422, "unreadable-spreadsheet"),  # not the template's columns
    ],
)
async def test_files_that_are_not_what_they_claim(
    entry, body: bytes, content_type: str, status: int, reason: str
) -> None:
    async with entry.client() as http:
        got = await http.post("/v1/imports", content=body, headers={"Content-Type": content_type})
    assert got.status_code == status, got.text
    assert got.headers["content-type"].startswith("application/problem+json")
    assert got.json()["reason"] == reason and got.json()["detail"]


async def test_a_zip_bomb_is_refused_413_before_parsing(pipeline, catalog) -> None:
    settings = entry_settings(pipeline, entry_max_unpacked_bytes=4 << 20)
    served = Served(create_app(settings, catalog), devstack.free_port())
    await served.start()
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{served.port}", headers={"Authorization": f"Bearer {pipeline.token}"}
        ) as http:
            got = await http.post("/v1/imports", files={"file": ("bom.xlsx", zip_bomb(8), XLSX)})
            assert (got.status_code, got.json()["reason"]) == (413, "spreadsheet-too-large")
            big = await http.post(
                "/v1/imports",
                content=b"x" * (settings.entry_max_upload_bytes + 1),
                headers={"Content-Type": "text/csv"},
            )
            assert (big.status_code, big.json()["reason"]) == (413, "body-too-large")
    finally:
        await served.stop()


async def test_multipart_without_a_file_and_without_a_key(entry) -> None:
    async with entry.client() as http:
        got = await http.post("/v1/imports", data={"note": "không có tệp"}, files={"other": ("a.txt", b"x")})
        assert (got.status_code, got.json()["reason"]) == (400, "malformed-multipart")
    async with entry.client(token="") as anonymous:
        got = await anonymous.post("/v1/imports", content=b"x", headers={"Content-Type": "text/csv"})
        assert (got.status_code, got.json()["reason"]) == (401, "missing-credentials")
        got = await anonymous.get("/v1/templates/QN.xlsx", params={"period": "2026-09"})
        assert got.status_code == 401
    async with entry.client() as http:
        assert (await http.get("/v1/templates/QN.pdf", params={"period": "2026-09"})).status_code == 404
        assert (await http.get("/v1/templates/QN-X-KHONGCO.xlsx", params={"period": "2026-09"})).json()[
            "reason"
        ] == "unknown-unit"
        bad = await http.get("/v1/templates/QN.xlsx", params={"period": "tháng 9"})
        assert (bad.status_code, bad.json()["reason"]) == (422, "invalid-parameter")
        wide = await http.get("/v1/templates/QN.xlsx", params={"period": "2020-01", "to": "2026-12"})
        assert wide.status_code == 422
        edge = await http.get("/v1/templates/QN.xlsx", params={"period": "9999-12"})  # no day after it
        assert (edge.status_code, edge.json()["reason"]) == (422, "invalid-parameter")


async def test_random_bytes_never_make_a_500(entry) -> None:
    seeds = [os.urandom(n) for n in (1, 10, 1000, 50_000)]
    broken_zip = bytearray(zip_bomb(1))
    broken_zip[40:80] = bytes(40)
    seeds += [
        b"PK\x03\x04" + os.urandom(2000),
        bytes(broken_zip),
        ",".join(c.header for c in COLUMNS).encode() + b'\r\n"unterminated',
    ]
    async with entry.client() as http:
        for body in seeds:
            for content_type in (XLSX, "text/csv", "application/octet-stream"):
                got = await http.post("/v1/imports", content=body, headers={"Content-Type": content_type})
                assert 400 <= got.status_code < 500, (content_type, body[:20], got.status_code, got.text[:200])
    assert await entry.pipeline.backlog() == 0


async def test_nats_down_is_503_and_nothing_is_lost(entry) -> None:
    state = entry.served.app.state.entry
    await state.broker.connection.close()  # the connection is gone; the service stays up
    async with entry.client() as http:
        got = await http.post(
            "/v1/imports",
            params={"dry_run": "false", "filename": "mau.csv"},
            content=csv_text([ROW]).encode(),
            headers={"Content-Type": "text/csv"},
        )
        assert got.status_code == 503 and got.json()["reason"] == "bus-unavailable"
        assert "Retry-After" in got.headers
        assert (await http.get("/readyz")).status_code == 503
    assert await entry.pipeline.fetchval("SELECT count(*) FROM reports") == 0
