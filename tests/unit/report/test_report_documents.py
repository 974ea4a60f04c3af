"""The Word and Excel documents say what the report model says: every annex row, the summary, the ranking."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime

import pytest
from test_report_model import _current, _outcome, report_with

from dxmon import words
from dxmon.catalog import Catalog
from dxmon.report import file_name, render
from dxmon.report.docx_writer import PLACE_AND_DATE, result_text, target_text
from dxmon.report.xlsx_writer import ANNEX_COLUMNS
from tests.report_documents import docx_annex, docx_ranking, docx_text, xlsx_sheets
from tests.unit import retired_terms

Y2025 = date(2025, 12, 31)
# Nguyên nhân, giải pháp of DG-04 (an indicator with categories would have one labelled line each).
WHY = "Cấp tỉnh: thiếu chữ ký số cho cán bộ mới.\nCấp xã: đang số hóa hồ sơ cũ, xong trong quý I/2026."


@pytest.fixture(scope="module")
def report(catalog: Catalog):
    plain = report_with(
        catalog,
        {
            ("QN", "DG-01", Y2025): _outcome("exceeded", 91.26, final=True),
            ("QN", "DG-04", Y2025): _outcome("met", 80.0, final=False),
            ("QN", "DG-03", date(2023, 12, 31)): _outcome("missed", 1250.5, final=True),
        },
        {
            ("QN", "DE-01", "NQ09"): _current("behind", 3.0, Y2025),
            ("QN", "DS-01", "NQ09"): _current("on_track", 55.5, Y2025),
        },
    )
    rows = tuple(dataclasses.replace(r, explanation=WHY) if r.indicator == "DG-04" else r for r in plain.rows)
    return dataclasses.replace(plain, rows=rows)


@pytest.fixture(scope="module")
def docx(report) -> bytes:
    return render(report, "docx")


def test_annex_rows_are_the_models_rows(report, docx) -> None:
    annex = docx_annex(docx)
    assert list(annex) and set(annex) == {r.indicator for r in report.rows}
    assert [int(r[0]) for r in annex.values()] == list(range(1, len(report.rows) + 1))
    for row in report.rows:
        cells = annex[row.indicator]
        notes = ",".join(map(str, report.footnote_numbers(row)))
        assert cells[1] == f"{row.indicator}. {row.name}"
        assert cells[3] == f"{target_text(row)}({notes})"
        assert cells[4] == result_text(row)
        assert cells[5] == row.result_label
        assert cells[6] == row.explanation
    assert annex["DG-01"][4:6] == ["91,3", "Vượt (Chính thức)"]
    assert annex["DG-03"][3:6] == ["≥ 80 (đến 31/12/2023)(2)", "1.250,5", "Không đạt (Chính thức)"]
    assert annex["DG-04"][5:] == ["Đạt (Tạm tính)", WHY]  # both lines, in the cell
    assert annex["DE-01"][4:6] == ["3", "Chậm tiến độ"]


def test_summary_ranking_and_format(report, docx) -> None:
    text = docx_text(docx)
    for motto in (
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        PLACE_AND_DATE,
        "Số:",
        "BÁO CÁO",
        "Kính gửi: Ủy ban nhân dân tỉnh Quảng Ninh.",
        "PHỤ LỤC",
    ):
        assert motto in text
    assert f"Tỉnh Quảng Ninh: 3/{len(report.rows)} chỉ tiêu đạt" not in text  # DG-03 was missed
    assert f"Tỉnh Quảng Ninh: 2/{len(report.rows)} chỉ tiêu đạt (gồm Đạt và Vượt)." in text
    for count in report.by_pillar:
        assert f"- {count.label}: {count.met}/{count.total} chỉ tiêu đạt." in text
    assert "Tỷ lệ báo cáo: 75% (150/200 báo cáo); Tỷ lệ báo cáo đúng hạn: 60% (120/200)" in text
    assert [r[1:] for r in docx_ranking(docx)] == [
        ["Xã B", "3", "4", "75"],
        ["Xã C", "2", "4", "50"],
        ["Xã A", "1", "4", "25"],
    ]
    for n, (key, source) in enumerate(report.footnotes(), start=1):
        assert f"({n}) {key}: {source}" in text
    assert retired_terms.retired_terms_in(text) == []
    assert text.count(words.LOCAL_TIME_SUFFIX) == 1  # "lúc 01/02/2026 09:00 (giờ Việt Nam)": the zone named once
    assert "lúc 01/02/2026 09:00 (giờ Việt Nam)." in text


def test_page_setup_follows_nghi_dinh_30(docx) -> None:
    import io

    from docx import Document

    doc = Document(io.BytesIO(docx))
    portrait, annex = doc.sections

    def mm(*lengths) -> tuple[int, ...]:  # stored in twips: compare whole millimetres
        return tuple(round(x.mm) for x in lengths)

    assert mm(portrait.page_width, portrait.page_height) == (210, 297)
    assert mm(annex.page_width, annex.page_height) == (297, 210)
    for section in doc.sections:
        assert mm(section.top_margin, section.bottom_margin, section.left_margin, section.right_margin) == (
            20,
            20,
            30,
            15,
        )
    assert doc.styles["Normal"].font.name == "Times New Roman"
    sizes = {run.font.size.pt for p in doc.paragraphs for run in p.runs if run.font.size}
    assert sizes and sizes <= {10, 11, 12, 13, 14}


def test_excel_holds_numbers_as_numbers(report) -> None:
    sheets = xlsx_sheets(render(report, "xlsx"))
    assert list(sheets) == ["Tóm tắt", "Phụ lục", "Xếp hạng", "Nguồn"]
    header, *rows = sheets["Phụ lục"]
    assert header == ANNEX_COLUMNS
    col = {name: i for i, name in enumerate(header)}
    by_code = {r[col["Mã"]]: r for r in rows}
    assert len(rows) == len(report.rows)
    for row in report.rows:
        got = by_code[row.indicator]
        assert got[col[words.TARGET]] == row.target and isinstance(got[col[words.TARGET]], float | int)
        assert got[col["Kết quả"]] == row.value
        assert got[col[words.DEADLINE]] == datetime.combine(row.deadline, datetime.min.time())
        assert (got[col[words.PROVISIONAL]], got[col[words.FINAL]]) == (row.provisional, row.final)
        assert got[col["Đánh giá"]] == row.result_label
        assert (got[col[words.EXPLANATION]] or "") == row.explanation
    assert by_code["DG-01"][col["Kết quả"]] == 91.26  # full precision, not the rounded text
    ranking = sheets["Xếp hạng"][1:]
    assert [(r[1], r[3], r[4], r[5]) for r in ranking] == [("B", 3, 4, 75.0), ("C", 2, 4, 50.0), ("A", 1, 4, 25.0)]
    summary = {r[0]: r[1:] for r in sheets["Tóm tắt"] if r and r[0]}
    assert summary["Tổng cộng"][:2] == (report.met, len(report.rows))
    assert summary["Tỷ lệ báo cáo (%)"][0] == 75.0


def test_unknown_format_and_file_name(report) -> None:
    with pytest.raises(ValueError, match="docx, xlsx hoặc pdf"):
        render(report, "odt")
    assert file_name(report, "pdf") == "bao-cao-NQ09-QN-2025.pdf"


def test_pdf_without_libreoffice_says_what_to_install(report, monkeypatch) -> None:
    from dxmon.report import pdf

    monkeypatch.setattr(pdf.shutil, "which", lambda _: None)
    with pytest.raises(pdf.ConversionError, match="libreoffice-writer-nogui"):
        render(report, "pdf")
