"""The template round trip: download → fill with openpyxl → dry run → import → stored once → again: nothing new."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from services.entry.sheet import DATA_SHEET, HELP_SHEET
from tests.integration.entry.entry_files import XLSX, fill

pytestmark = pytest.mark.integration
UNIT = "QN-P-ANSINH"


async def test_download_fill_dry_run_import_and_again(entry) -> None:
    async with entry.client() as http:
        got = await http.get(f"/v1/templates/{UNIT}.xlsx", params={"period": "2026-09"})
        assert got.status_code == 200, got.text
        assert got.headers["content-type"] == XLSX
        assert f"mau-nhap-lieu_{UNIT}_2026-09.xlsx" in got.headers["content-disposition"]
        wb = load_workbook(io.BytesIO(got.content))
        assert wb.sheetnames == [DATA_SHEET, HELP_SHEET]
        ws = wb[DATA_SHEET]
        assert ws.protection.sheet is True
        assert ws["A1"].value == "Mã ĐVHC"
        periods = {ws.cell(r, 8).value for r in range(2, ws.max_row + 1)}
        assert periods == {"2026-09", "2026-Q3"}  # monthly, and the quarter ending in September

        filled = fill(
            got.content,
            {
                ("DG-04", "", "2026-09"): {
                    "numerator": 628,
                    "denominator": 1000,
                    "explanation": "Đã hướng dẫn người dân nộp hồ sơ trực tuyến.",
                },
                ("DG-03", "", "2026-09"): {"numerator": 40, "denominator": 50},
            },
        )
        files = {"file": ("mau.xlsx", filled, XLSX)}
        dry = await http.post("/v1/imports", params={"dry_run": "true"}, files=files)
        assert dry.status_code == 200, dry.text
        summary = dry.json()
        assert summary["dry_run"] is True
        assert summary["counts"]["new"] == 2 and summary["counts"]["refused"] == 0
        assert summary["counts"]["ignored"] == summary["counts"]["rows"] - 2
        assert await entry.pipeline.fetchval("SELECT count(*) FROM reports") == 0  # a dry run publishes nothing

        real = await http.post("/v1/imports", params={"dry_run": "false"}, files=files)
        assert real.status_code == 202, real.text
        assert real.json()["published"] == {"accepted": 2, "duplicates": 0}
        await entry.pipeline.wait_drained()
        row = await entry.pipeline.fetchrow_dict(
            "SELECT value, numerator, denominator, reports, explanation FROM period_values "
            "WHERE unit = $1 AND indicator = 'DG-04'",
            UNIT,
        )
        assert row == {
            "value": 62.8,
            "numerator": 628,
            "denominator": 1000,
            "reports": 1,
            "explanation": "Đã hướng dẫn người dân nộp hồ sơ trực tuyến.",
        }

        again = await http.post("/v1/imports", params={"dry_run": "false"}, files=files)
        assert again.status_code == 202, again.text
        assert again.json()["counts"]["unchanged"] == 2
        assert again.json()["published"] == {"accepted": 0, "duplicates": 0}
        await entry.pipeline.wait_drained()
        assert await entry.pipeline.fetchval("SELECT count(*) FROM reports WHERE unit = $1", UNIT) == 2

        # A fresh template shows the value in force; correcting it is "corrected", stored as a second report.
        fresh = await http.get(f"/v1/templates/{UNIT}.xlsx", params={"period": "2026-09"})
        ws = load_workbook(io.BytesIO(fresh.content))[DATA_SHEET]
        shown = [ws.cell(r, 12).value for r in range(2, ws.max_row + 1) if ws.cell(r, 3).value == "DG-04"]
        assert shown == ["62,8% (628/1.000), tháng 9/2026"]
        corrected = fill(fresh.content, {("DG-04", "", "2026-09"): {"numerator": 630, "denominator": 1000}})
        fix = await http.post("/v1/imports", params={"dry_run": "false"}, files={"file": ("mau.xlsx", corrected, XLSX)})
        assert fix.status_code == 202, fix.text
        assert fix.json()["counts"]["corrected"] == 1
        await entry.pipeline.wait_drained()
        # The correction left the explanation empty: the period keeps the one in force (the contract's rule).
        assert await entry.pipeline.fetchrow_dict(
            "SELECT value, explanation FROM period_values WHERE unit = $1 AND indicator = 'DG-04'", UNIT
        ) == {"value": 63.0, "explanation": "Đã hướng dẫn người dân nộp hồ sơ trực tuyến."}


async def test_the_same_file_twice_before_it_is_stored_is_stored_once(entry) -> None:
    # The aggregator is stopped: the database cannot tell the second upload it already came, JetStream can.
    await entry.pipeline.aggregator.stop()
    async with entry.client() as http:
        got = await http.get(f"/v1/templates/{UNIT}.xlsx", params={"period": "2026-09"})
        data = fill(got.content, {("DG-04", "", "2026-09"): {"numerator": 1, "denominator": 4}})
        files = {"file": ("mau.xlsx", data, XLSX)}
        first = await http.post("/v1/imports", params={"dry_run": "false"}, files=files)
        second = await http.post("/v1/imports", params={"dry_run": "false"}, files=files)
    assert first.json()["published"] == {"accepted": 1, "duplicates": 0}
    assert second.json()["counts"]["new"] == 1  # not stored yet …
    assert second.json()["published"] == {"accepted": 0, "duplicates": 1}  # … but JetStream knows the id
    assert first.json()["rows"][0]["event_id"] == second.json()["rows"][0]["event_id"]
    await entry.pipeline.start_aggregator()
    await entry.pipeline.wait_drained()
    assert await entry.pipeline.fetchval("SELECT count(*) FROM reports WHERE unit = $1", UNIT) == 1


async def test_back_to_an_earlier_figure_is_a_correction_not_a_replay(entry) -> None:
    async with entry.client() as http:
        got = await http.get(f"/v1/templates/{UNIT}.csv", params={"period": "2026-09"})
        assert got.status_code == 200 and got.content.startswith(b"\xef\xbb\xbf")
        table = list(csv.reader(io.StringIO(got.content.decode("utf-8-sig"))))
        header = table[0]
        row = next(r for r in table if r[header.index("Mã chỉ tiêu")] == "DG-04")
        for numerator, status in ((1, "new"), (2, "corrected"), (1, "corrected")):
            row[header.index("Tử số")], row[header.index("Mẫu số")] = str(numerator), "4"
            out = io.StringIO()
            csv.writer(out, lineterminator="\r\n").writerows(table)
            body = out.getvalue().encode("utf-8")
            sent = await http.post(
                "/v1/imports",
                params={"dry_run": "false", "filename": "mau.csv"},
                content=body,
                headers={"Content-Type": "text/csv"},
            )
            assert sent.status_code == 202, sent.text
            assert sent.json()["counts"][status] == 1, sent.json()["counts"]
            await entry.pipeline.wait_drained()
    assert (
        await entry.pipeline.fetchval(
            "SELECT numerator FROM period_values WHERE unit = $1 AND indicator = 'DG-04'", UNIT
        )
        == 1
    )
    assert await entry.pipeline.fetchval("SELECT count(*) FROM reports WHERE unit = $1", UNIT) == 3
    assert await entry.pipeline.fetchval("SELECT count(*) FROM dead_letters") == 0
