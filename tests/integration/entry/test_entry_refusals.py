"""Every refusal reason reachable from a spreadsheet cell, with its sheet, row and column; and nothing published."""

from __future__ import annotations

import io
from typing import Any

import pytest
from openpyxl import load_workbook

from services.entry.sheet import DATA_SHEET
from services.entry.workbook import LETTER
from tests.integration.entry.entry_files import XLSX

pytestmark = pytest.mark.integration
UNIT = "QN-P-ANSINH"

# (reason, column key or None for the row, cells of the row); unit defaults to UNIT, period to 2026-09.
CASES: list[tuple[str, str | None, dict[str, Any]]] = [
    ("missing-field", "unit", {"unit": None, "indicator": "DG-04", "numerator": 1, "denominator": 2}),
    ("invalid-code", "unit", {"unit": "qn-p-ansinh", "indicator": "DG-04", "numerator": 1, "denominator": 2}),
    ("unknown-unit", "unit", {"unit": "QN-X-KHONGCO", "indicator": "DG-04", "numerator": 1, "denominator": 2}),
    ("unknown-indicator", "indicator", {"indicator": "DG-99", "numerator": 1, "denominator": 2}),
    ("future-observation", "period", {"indicator": "DG-04", "period": "2027-01", "numerator": 1, "denominator": 2}),
    (
        "unit-not-valid-on-date",
        "period",
        {"unit": "QN-HALONG-P-DAIYEN", "indicator": "DG-04", "numerator": 1, "denominator": 2},
    ),
    ("indicator-not-applicable", "indicator", {"indicator": "DG-17", "numerator": 1, "denominator": 2}),
    ("value-out-of-range", "value", {"indicator": "DS-01", "period": "2025", "value": 150}),
    ("ratio-needs-parts", "numerator", {"indicator": "DG-04", "period": "2026-08", "numerator": 1}),
    ("value-with-parts", "value", {"indicator": "DG-05", "value": 50, "numerator": 1, "denominator": 2}),
    ("category-required", "category", {"unit": "QN", "indicator": "DG-01", "numerator": 1, "denominator": 2}),
    (
        "unknown-category",
        "category",
        {"unit": "QN", "indicator": "DG-01", "category": "xyz", "numerator": 1, "denominator": 2},
    ),
    ("negative-value", "value", {"indicator": "DS-10", "value": -1}),
    ("zero-denominator", "denominator", {"indicator": "DG-06", "numerator": 0, "denominator": 0}),
    ("numerator-exceeds-denominator", "numerator", {"indicator": "DG-07", "numerator": 5, "denominator": 2}),
    ("parts-not-allowed", "numerator", {"indicator": "DS-10", "period": "2026-08", "numerator": 1, "denominator": 2}),
    ("value-required", "value", {"indicator": "DS-10", "period": "2026-07", "explanation": "Chưa có số liệu."}),
    ("value-not-integer", "value", {"indicator": "DS-10", "period": "2026-06", "value": 1.5}),
    ("too-long", "explanation", {"indicator": "DG-08", "numerator": 1, "denominator": 2, "explanation": "x" * 2001}),
    (
        "invalid-character",
        "explanation",
        {"indicator": "DG-09", "numerator": 1, "denominator": 2, "explanation": "a\u202eb"},
    ),
    ("invalid-field", "numerator", {"indicator": "DG-10", "numerator": "abc", "denominator": 2}),
    ("invalid-field", "denominator", {"indicator": "DG-11", "numerator": 1, "denominator": "1.000"}),
    ("formula-without-value", "numerator", {"indicator": "DG-12", "numerator": "=1+1", "denominator": 2}),
    ("invalid-period", "period", {"indicator": "DG-13", "period": "2026-13", "numerator": 1, "denominator": 2}),
    ("invalid-period", "period", {"indicator": "DG-14", "period": "2026-09", "numerator": 1, "denominator": 2}),
    ("invalid-field", "value", {"indicator": "DS-10", "period": "2026-05", "value": True}),
]


def add_rows(template: bytes, rows: list[dict[str, Any]]) -> tuple[bytes, int]:
    """add_rows appends rows below the template's (keys included) and returns the file and the first new row."""
    wb = load_workbook(io.BytesIO(template))
    ws = wb[DATA_SHEET]
    first = ws.max_row + 1
    for i, cells in enumerate(rows):
        full = {"unit": UNIT, "period": "2026-09", **cells}
        for key, value in full.items():
            ws[f"{LETTER[key]}{first + i}"] = value
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue(), first


async def template(http, unit: str = UNIT) -> bytes:
    got = await http.get(f"/v1/templates/{unit}.xlsx", params={"period": "2026-09"})
    assert got.status_code == 200, got.text
    return got.content


async def test_every_reason_points_at_its_sheet_row_and_column(entry) -> None:
    duplicate = {"indicator": "DG-03", "numerator": 1, "denominator": 2}
    async with entry.client() as http:
        data, first = add_rows(await template(http), [c[2] for c in CASES] + [duplicate, duplicate])
        files = {"file": ("mau.xlsx", data, XLSX)}
        dry = await http.post("/v1/imports", params={"dry_run": "true"}, files=files)
        assert dry.status_code == 200, dry.text
        refused = dry.json()["refused"]
        for i, (reason, column, _) in enumerate(CASES):
            row = first + i
            here = [(r["reason"], r["column"]) for r in refused if r["row"] == row]
            assert (reason, LETTER[column] if column else None) in here, (row, reason, here)
            one = next(r for r in refused if r["row"] == row and r["reason"] == reason)
            assert one["sheet"] == DATA_SHEET and one["message"] and one["header"]
        dup_row = first + len(CASES) + 1
        assert [(r["reason"], r["column"]) for r in refused if r["row"] == dup_row] == [("duplicate-row", None)]
        assert dry.json()["counts"]["refused"] == len(CASES) + 1
        assert dry.json()["counts"]["new"] == 1  # the first of the duplicated rows

        # The real import of the same file publishes nothing and says why, in the same words.
        real = await http.post("/v1/imports", params={"dry_run": "false"}, files=files)
        assert real.status_code == 422
        assert real.headers["content-type"].startswith("application/problem+json")
        body = real.json()
        assert body["reason"] == "invalid-import"
        assert "chưa gửi dòng nào" in body["detail"]
        assert body["summary"]["refused"] == refused
    assert await entry.pipeline.fetchval("SELECT count(*) FROM reports") == 0
    assert await entry.pipeline.backlog() == 0


async def test_a_unit_outside_the_key_is_refused_on_its_cell(entry) -> None:
    _, token = await entry.pipeline.create_key("Phường An Sinh", [UNIT])
    async with entry.client(token) as http:
        denied = await http.get("/v1/templates/QN-P-DONGTRIEU.xlsx", params={"period": "2026-09"})
        assert denied.status_code == 403 and denied.json()["reason"] == "outside-key-scope"
        data, first = add_rows(
            await template(http), [{"unit": "QN-P-DONGTRIEU", "indicator": "DG-04", "numerator": 1, "denominator": 2}]
        )
        dry = await http.post("/v1/imports", files={"file": ("mau.xlsx", data, XLSX)})
        assert dry.status_code == 200  # dry run is the default
        assert [(r["reason"], r["column"], r["message"]) for r in dry.json()["refused"]] == [
            ("outside-key-scope", LETTER["unit"], "đơn vị QN-P-DONGTRIEU nằm ngoài phạm vi của khóa")
        ]


async def test_english_on_request(entry) -> None:
    async with entry.client() as http:
        data, _ = add_rows(await template(http), [{"indicator": "DG-07", "numerator": 5, "denominator": 2}])
        dry = await http.post(
            "/v1/imports", files={"file": ("mau.xlsx", data, XLSX)}, headers={"Accept-Language": "en"}
        )
        assert dry.json()["refused"][0]["message"] == "numerator 5 exceeds denominator 2"
