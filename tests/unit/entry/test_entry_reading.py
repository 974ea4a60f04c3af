"""Reading uploads: hostile and careless files get a clear 4xx problem, never a crash; honest ones read exactly."""

from __future__ import annotations

import csv
import io
import struct
import unicodedata
import zipfile
from datetime import datetime

import pytest
from openpyxl import Workbook
from openpyxl.worksheet.worksheet import Worksheet

from dxmon.problems import Problem, Text
from services.entry.reading import NO_CACHED_VALUE, Percent, ReadLimits, read_upload
from services.entry.sheet import COLUMNS, DATA_SHEET
from services.entry.workbook import LETTER

LIMITS = ReadLimits(max_bytes=5 * 1024 * 1024, max_unpacked_bytes=50 * 1024 * 1024, max_rows=10_000)
HEADERS = [c.header for c in COLUMNS]
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def workbook(rows: list[dict], *, title: str = DATA_SHEET, extra=None) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert isinstance(ws, Worksheet)  # a new Workbook holds one worksheet, the active one
    ws.title = title
    ws.append(HEADERS)
    for r, cells in enumerate(rows, start=2):
        for key, value in cells.items():
            ws[f"{LETTER[key]}{r}"] = value
    if extra:
        extra(wb, ws)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def refusal(data: bytes, name: str = "mau.xlsx", media_type: str = XLSX_TYPE, limits: ReadLimits = LIMITS) -> Problem:
    with pytest.raises(Problem) as caught:
        read_upload(data, name, media_type, limits)
    return caught.value


def rewrite(data: bytes, member: str, change) -> bytes:
    """rewrite returns the zip with one member's bytes changed by ``change``."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            dst.writestr(info.filename, change(body) if info.filename == member else body)
    return out.getvalue()


ROW = {"unit": "QN-P-ANSINH", "indicator": "DG-04", "period": "2026-09", "numerator": 628, "denominator": 1000}


def test_an_honest_workbook_reads_exactly() -> None:
    upload = read_upload(workbook([ROW]), "mau.xlsx", XLSX_TYPE, LIMITS)
    assert upload.format == "xlsx" and upload.sheet == DATA_SHEET
    assert [r.row for r in upload.rows] == [2]
    assert upload.rows[0].cells["numerator"] == 628
    assert upload.columns["numerator"] == LETTER["numerator"]


def test_moved_columns_are_found_by_their_header() -> None:
    wb = Workbook()
    ws = wb.active
    assert isinstance(ws, Worksheet)  # a new Workbook holds one worksheet, the active one
    ws.append(["Ghi chú riêng"] + list(reversed(HEADERS)))
    ws.append(["bỏ qua"] + [ROW.get(c.key) for c in reversed(COLUMNS)])
    out = io.BytesIO()
    wb.save(out)
    upload = read_upload(out.getvalue(), "mau.xlsx", XLSX_TYPE, LIMITS)
    assert upload.rows[0].cells["unit"] == "QN-P-ANSINH" and upload.rows[0].cells["denominator"] == 1000
    assert upload.columns["unit"] == "Q"  # first column is the unit's own, then the reversed template


def test_a_sheet_without_the_key_columns_is_refused() -> None:
    wb = Workbook()
    ws = wb.active
    assert isinstance(ws, Worksheet)  # a new Workbook holds one worksheet, the active one
    ws.append(["Đơn vị", "Giá trị"])
    out = io.BytesIO()
    wb.save(out)
    p = refusal(out.getvalue())
    assert (p.status, p.reason) == (422, "unreadable-spreadsheet")
    assert isinstance(p.detail, Text) and "Mã ĐVHC" in p.detail.vi and "Mã kỳ" in p.detail.vi


def test_zip_bomb_is_refused_before_parsing() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        with z.open("xl/worksheets/sheet1.xml", "w") as f:
            for _ in range(8):
                f.write(b"\0" * (1 << 20))
    assert len(out.getvalue()) < 64 * 1024  # tiny on the wire …
    p = refusal(out.getvalue(), limits=ReadLimits(5 << 20, 4 << 20, 100))  # … 8 MiB unpacked
    assert (p.status, p.reason) == (413, "spreadsheet-too-large")


def test_a_zip_lying_about_its_sizes_is_refused_not_inflated() -> None:
    # The central directory claims 100 bytes for a sheet that inflates to megabytes: zipfile stops at the
    # declared size and the CRC check fails, so the lie costs nothing and ends in a 422.
    big = workbook([dict(ROW, explanation="x" * 1000) for _ in range(2000)])
    z = zipfile.ZipFile(io.BytesIO(big))
    info = z.getinfo("xl/worksheets/sheet1.xml")
    data = bytearray(big)
    struct.pack_into("<I", data, info.header_offset + 22, 100)  # local header: uncompressed size
    central = data.rfind(b"PK\x01\x02" + data[info.header_offset + 4 : info.header_offset + 6])
    cd = data.find(b"xl/worksheets/sheet1.xml", central) - 46
    struct.pack_into("<I", data, cd + 24, 100)  # central directory: uncompressed size
    p = refusal(bytes(data))
    assert (p.status, p.reason) == (422, "unreadable-spreadsheet")


def test_too_many_parts_and_not_a_workbook() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for i in range(1001):
            z.writestr(f"p{i}", "")
    assert refusal(out.getvalue()).status == 413
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("readme.txt", "xin chào")
    assert refusal(out.getvalue()).reason == "unreadable-spreadsheet"


@pytest.mark.parametrize(
    "data, name, media_type, status",
    [
        (b"this is not a zip", "mau.xlsx", XLSX_TYPE, 422),
        (b"PK\x03\x04 truncated", "mau.xlsx", XLSX_TYPE, 422),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 512, "mau.xls", "application/vnd.ms-excel", 422),
        (b"\x89PNG\r\n\x1a\n", "anh.png", "image/png", 415),
        (b"   ", "mau.csv", "text/csv", 400),
        (b"Ma\xff\xfe,x\r\n", "mau.csv", "text/csv", 422),
    ],
)
def test_files_that_are_not_what_they_claim(data: bytes, name: str, media_type: str, status: int) -> None:
    assert refusal(data, name, media_type).status == status


def test_a_zip_sent_as_csv_is_named_for_what_it_is() -> None:
    p = refusal(workbook([ROW]), "mau.csv", "text/csv")
    assert isinstance(p.detail, Text) and "tệp nén" in p.detail.vi


def test_a_lone_cell_at_the_last_row_does_not_make_a_million_rows() -> None:
    p = refusal(workbook([ROW], extra=lambda wb, ws: ws.cell(1_048_576, 1, "x")))
    assert (p.status, p.reason) == (413, "spreadsheet-too-large")
    assert isinstance(p.detail, Text) and "10000" in p.detail.vi


def test_a_huge_declared_dimension_alone_is_harmless() -> None:
    data = rewrite(
        workbook([ROW]),
        "xl/worksheets/sheet1.xml",
        lambda xml: xml.replace(b'<dimension ref="A1:P2"/>', b'<dimension ref="A1:XFD1048576"/>'),
    )
    assert b"XFD1048576" in zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml")
    assert len(read_upload(data, "mau.xlsx", XLSX_TYPE, LIMITS).rows) == 1


def test_row_limit() -> None:
    p = refusal(workbook([ROW] * 11), limits=ReadLimits(5 << 20, 50 << 20, 10))
    assert p.status == 413


def test_formulas_read_their_cached_value_or_say_they_have_none() -> None:
    data = workbook([dict(ROW, numerator="=600+28"), dict(ROW, period="2026-08", numerator="=1/0")])
    # openpyxl writes no cached value; give the first formula one, as Excel would after calculating.
    num = LETTER["numerator"]
    data = rewrite(
        data,
        "xl/worksheets/sheet1.xml",
        lambda xml: xml.replace(
            f'<c r="{num}2"><f>600+28</f><v></v></c>'.encode(), f'<c r="{num}2"><f>600+28</f><v>628</v></c>'.encode()
        ),
    )
    rows = read_upload(data, "mau.xlsx", XLSX_TYPE, LIMITS).rows
    assert rows[0].cells["numerator"] == 628
    assert rows[1].cells["numerator"] is NO_CACHED_VALUE


def test_cells_formatted_as_percent_are_read_as_shown() -> None:
    def percent(wb, ws):
        ws[f"{LETTER['value']}2"].number_format = "0.0%"

    rows = read_upload(workbook([{**ROW, "value": 0.628}], extra=percent), "mau.xlsx", XLSX_TYPE, LIMITS).rows
    assert isinstance(rows[0].cells["value"], Percent)


def test_wrong_types_reach_the_rows_as_they_are() -> None:
    rows = read_upload(
        workbook([dict(ROW, numerator=True, denominator=datetime(2026, 9, 1))]), "mau.xlsx", XLSX_TYPE, LIMITS
    ).rows
    assert rows[0].cells["numerator"] is True and isinstance(rows[0].cells["denominator"], datetime)


def test_macros_never_run_and_an_xlsm_reads_like_an_xlsx() -> None:
    def add_vba(xml: bytes) -> bytes:
        return xml.replace(
            b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
            b"application/vnd.ms-excel.sheet.macroEnabled.main+xml",
        )

    data = rewrite(workbook([ROW]), "[Content_Types].xml", add_vba)
    with zipfile.ZipFile(io.BytesIO(data), "a") as z:
        z.writestr("xl/vbaProject.bin", b'Attribute VB_Name = "AutoOpen"')
    upload = read_upload(data, "mau.xlsm", "application/vnd.ms-excel.sheet.macroEnabled.12", LIMITS)
    assert len(upload.rows) == 1


def test_csv_with_bom_crlf_semicolons_and_nfd_vietnamese() -> None:
    header = ";".join(unicodedata.normalize("NFD", h) for h in HEADERS)
    explanation = unicodedata.normalize("NFD", "Đã hướng dẫn người dân")
    values = {**ROW, "explanation": explanation}
    line = ";".join(str(values.get(c.key, "")) for c in COLUMNS)
    data = ("\ufeff" + header + "\r\n" + line + "\r\n").encode("utf-8")
    assert data.startswith(b"\xef\xbb\xbf") and b"\r\n" in data
    upload = read_upload(data, "mau.csv", "text/csv", LIMITS)
    cells = upload.rows[0].cells
    assert cells["explanation"] == "Đã hướng dẫn người dân"
    assert unicodedata.is_normalized("NFC", cells["explanation"])
    assert cells["numerator"] == "628" and upload.rows[0].row == 2


def test_csv_explanation_may_span_lines_and_rows_are_spreadsheet_rows() -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADERS)
    writer.writerow([ROW.get(c.key, "") if c.key != "explanation" else "dòng 1\ndòng 2" for c in COLUMNS])
    writer.writerow([ROW.get(c.key, "") for c in COLUMNS])
    upload = read_upload(out.getvalue().encode(), "mau.csv", "text/csv", LIMITS)
    assert [r.row for r in upload.rows] == [2, 3]
    assert upload.rows[0].cells["explanation"] == "dòng 1\ndòng 2"


def test_a_title_or_a_sep_line_above_the_header_is_skipped() -> None:
    def title(wb, ws):
        ws.insert_rows(1, 2)
        ws["A1"] = "BÁO CÁO THÁNG 9/2026 — PHƯỜNG AN SINH"

    upload = read_upload(workbook([ROW], extra=title), "mau.xlsx", XLSX_TYPE, LIMITS)
    assert [r.row for r in upload.rows] == [4] and upload.rows[0].cells["numerator"] == 628
    line = ";".join(str(ROW.get(c.key, "")) for c in COLUMNS)
    data = ("sep=;\r\n" + ";".join(HEADERS) + "\r\n" + line + "\r\n").encode()
    upload = read_upload(data, "mau.csv", "text/csv", LIMITS)
    assert [r.row for r in upload.rows] == [3] and upload.rows[0].cells["unit"] == "QN-P-ANSINH"


def test_no_header_in_the_first_rows_names_what_the_first_row_lacks() -> None:
    data = "\r\n".join(["Tiêu đề"] * 12 + [",".join(HEADERS)]).encode()
    p = refusal(data, "mau.csv", "text/csv")
    assert isinstance(p.detail, Text) and "dòng 1" in p.detail.vi and "Mã ĐVHC" in p.detail.vi
