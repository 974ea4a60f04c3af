"""docx_writer: the report as a Word document in the administrative format of Nghị định 30/2020/NĐ-CP.

Layout (Phụ lục I of the decree): A4; margins top/bottom 20 mm, left 30 mm, right 15 mm; Times New
Roman 13 (headings 13–14). The header is a borderless two-column table: the issuing body with the
number/symbol left blank for the clerk on the left, the national motto and the place and date
("Quảng Ninh, ngày … tháng … năm …", filled in on signing) on the right. The annex is a landscape
section of its own. Servers without Times New Roman render it with a metric-compatible font
(Liberation Serif): the line breaks stay the same.
"""

from __future__ import annotations

import io

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt

from dxmon import words
from dxmon.formatting import COMPARATOR_SIGNS, format_date, format_moment, format_number, format_value
from dxmon.progress import STATUS_LABELS, Status
from dxmon.report import charts
from dxmon.report.model import PILLAR_LABELS, ROMAN, Report, Row

FONT = "Times New Roman"
PROVINCE = "UBND TỈNH QUẢNG NINH"
RECIPIENT = "Ủy ban nhân dân tỉnh Quảng Ninh"
PLACE_AND_DATE = "Quảng Ninh, ngày … tháng … năm …"
ANNEX_HEADERS = ("STT", words.INDICATOR, "Đơn vị tính", words.TARGET, "Kết quả", "Đánh giá", words.EXPLANATION)
RANKING_HEADERS = ("STT", words.REPORTING_UNIT, "Số chỉ tiêu đạt", "Tổng số chỉ tiêu", "Tỷ lệ đạt (%)")
MEASURE_UNITS = {"ratio": "%", "percent": "%", "count": "Số lượng", "boolean": "Có/Không", "rank": "Thứ hạng"}


def percent(x: float | None) -> str:
    return "chưa có số liệu" if x is None else format_value(x, "percent")


def target_text(row: Row) -> str:
    """target_text: the target as the annex prints it, e.g. "≥ 80 (đến 31/12/2025)"."""
    value = format_value(row.target, "boolean") if row.measure == "boolean" else format_number(row.target)
    return f"{COMPARATOR_SIGNS[row.comparator]} {value} (đến {format_date(row.deadline)})"


def result_text(row: Row) -> str:
    """result_text: the value that stands for the row (no unit: the Đơn vị tính column gives it)."""
    if row.value is None:
        return STATUS_LABELS[Status.NO_DATA]
    if row.measure == "boolean":
        return "Có" if row.value >= 1 else "Chưa"
    return format_number(row.value)


def summary_lines(report: Report) -> list[str]:
    """summary_lines: section I in sentences (shared by Word and the Excel summary sheet)."""
    total = len(report.rows)
    lines = [f"{report.unit_name}: {report.met}/{total} {words.INDICATORS_LOWER} đạt (gồm Đạt và Vượt)."]
    lines += [f"- {c.label}: {c.met}/{c.total} {words.INDICATORS_LOWER} đạt." for c in report.by_pillar]
    lines.append("- Theo đánh giá: " + "; ".join(f"{STATUS_LABELS[s]}: {n}" for s, n in report.by_result) + ".")
    rates = report.rates
    lines.append(
        f"- {words.REPORTING_RATE}: {percent(rates.reporting_rate)} "
        f"({rates.actual}/{rates.expected} báo cáo); "
        f"{words.ON_TIME_RATE}: {percent(rates.on_time_rate)} ({rates.on_time}/{rates.expected}), "
        f"tính trên các kỳ báo cáo kết thúc trong {report.period.label}."
    )
    return lines


def qualifier_note(report: Report) -> str:
    when = f" lúc {format_moment(report.evaluated_at)}" if report.evaluated_at else ""  # the zone named once
    return (
        f"Kết quả theo lần đánh giá gần nhất{when}. “{words.PROVISIONAL}”: đã đến thời hạn, chưa "
        f"{words.CUTOFF.lower()}; “{words.FINAL}”: sau {words.CUTOFF.lower()}."
    )


def _font(run, size: float = 13, bold: bool = False, italic: bool = False) -> None:
    run.font.name = FONT
    run.font.size = Pt(size)
    run.bold, run.italic = bold, italic
    run._element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), FONT)


def _para(
    container,
    text: str = "",
    *,
    size: float = 13,
    bold: bool = False,
    italic: bool = False,
    align=None,
    space_after: float = 3,
    superscript: str = "",
):
    p = container.add_paragraph()
    p.paragraph_format.space_after = Pt(space_after)
    p.paragraph_format.space_before = Pt(0)
    if align is not None:
        p.alignment = align
    if text:
        _font(p.add_run(text), size, bold, italic)
    if superscript:
        sup = p.add_run(superscript)
        _font(sup, size)
        sup.font.superscript = True
    return p


def _cell(cell, text: str, *, size: float = 12, bold: bool = False, align=None, superscript: str = "") -> None:
    cell.text = ""
    p = cell.paragraphs[0]
    p.paragraph_format.space_after = Pt(0)
    if align is not None:
        p.alignment = align
    _font(p.add_run(text), size, bold)
    if superscript:
        sup = p.add_run(superscript)
        _font(sup, size)
        sup.font.superscript = True


def _borderless(table) -> None:
    borders = table._tbl.tblPr.first_child_found_in("w:tblBorders")
    if borders is not None:
        table._tbl.tblPr.remove(borders)
    table.style = None


def _page(section, landscape: bool) -> None:
    section.orientation = WD_ORIENT.LANDSCAPE if landscape else WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = (Mm(297), Mm(210)) if landscape else (Mm(210), Mm(297))
    section.top_margin = section.bottom_margin = Mm(20)
    section.left_margin, section.right_margin = Mm(30), Mm(15)


def _header(doc, report: Report) -> None:
    table = doc.add_table(rows=1, cols=2)
    _borderless(table)
    _widths(table, (71, 94))
    left, right = table.rows[0].cells
    center = WD_ALIGN_PARAGRAPH.CENTER
    _cell(left, PROVINCE, size=13, align=center)
    _para(left, report.issuer, size=12, bold=True, align=center, space_after=6)
    _para(left, "Số:        /BC-……", align=center)
    _cell(right, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", size=12, bold=True, align=center)
    _para(right, "Độc lập - Tự do - Hạnh phúc", size=13, bold=True, align=center, space_after=6)
    _para(right, PLACE_AND_DATE, italic=True, align=center)


def _widths(table, widths_mm: tuple[float, ...]) -> None:
    # LibreOffice lays a table out from its grid (w:tblGrid), Word from the cells: set both.
    table.autofit = False
    for col, width in zip(table.columns, widths_mm, strict=True):
        col.width = Mm(width)
        for cell in col.cells:
            cell.width = Mm(width)


def _table(doc, headers: tuple[str, ...], widths_mm: tuple[float, ...]):
    table = doc.add_table(rows=1, cols=len(headers))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for cell, text in zip(table.rows[0].cells, headers, strict=True):
        _cell(cell, text, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER)
    header = OxmlElement("w:tblHeader")  # the header row repeats on every page the table runs onto
    header.set(qn("w:val"), "true")
    table.rows[0]._tr.get_or_add_trPr().append(header)
    return table


def annex_table(doc, report: Report) -> None:
    """annex_table: STT | Chỉ tiêu | Đơn vị tính | Mục tiêu | Kết quả | Đánh giá | Nguyên nhân, giải pháp.

    Rows are grouped by pillar under a merged heading row (I, II, III); STT runs through the table.
    """
    widths = (12, 76, 20, 38, 26, 38, 42)
    table = _table(doc, ANNEX_HEADERS, widths)
    center = WD_ALIGN_PARAGRAPH.CENTER
    number = 0
    for n, pillar in enumerate(PILLAR_LABELS, start=1):
        rows = [r for r in report.rows if r.pillar is pillar]
        if not rows:
            continue
        heading = table.add_row().cells
        _cell(heading[0], ROMAN[n], bold=True, align=center)
        merged = heading[1].merge(heading[-1])
        _cell(merged, PILLAR_LABELS[pillar], bold=True)
        for row in rows:
            number += 1
            notes = ",".join(map(str, report.footnote_numbers(row)))
            added = table.add_row()
            added._tr.get_or_add_trPr().append(OxmlElement("w:cantSplit"))  # a row never breaks across pages
            cells = added.cells
            _cell(cells[0], str(number), align=center)
            _cell(cells[1], f"{row.indicator}. {row.name}")
            _cell(cells[2], MEASURE_UNITS[row.measure], align=center)
            _cell(cells[3], target_text(row), align=center, superscript=f"({notes})" if notes else "")
            _cell(cells[4], result_text(row), align=center)
            _cell(cells[5], row.result_label, align=center)
            _cell(cells[6], row.explanation)
    _widths(table, widths)


def ranking_table(doc, report: Report) -> None:
    widths = (12, 75, 26, 26, 26)
    table = _table(doc, RANKING_HEADERS, widths)
    center = WD_ALIGN_PARAGRAPH.CENTER
    for n, share in enumerate(report.ranking, start=1):
        cells = table.add_row().cells
        _cell(cells[0], str(n), align=center)
        _cell(cells[1], share.name)
        _cell(cells[2], str(share.met), align=center)
        _cell(cells[3], str(share.total), align=center)
        _cell(cells[4], format_number(share.share), align=center)
    _widths(table, widths)


def render_docx(report: Report) -> bytes:
    """render_docx: the whole report (body, ranking, charts, signature, annex, notes) as .docx bytes."""
    doc = Document()
    normal = doc.styles["Normal"]
    normal.font.name, normal.font.size = FONT, Pt(13)
    normal.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), FONT)
    _page(doc.sections[0], landscape=False)
    center, justify = WD_ALIGN_PARAGRAPH.CENTER, WD_ALIGN_PARAGRAPH.JUSTIFY

    _header(doc, report)
    _para(doc, "BÁO CÁO", size=14, bold=True, align=center, space_after=0).paragraph_format.space_before = Pt(12)
    _para(
        doc,
        f"{words.SCORECARD} các {words.INDICATORS_LOWER} theo {report.set_title}",
        size=14,
        bold=True,
        align=center,
        space_after=0,
    )
    _para(
        doc,
        f"{words.REPORTING_PERIOD}: {report.period.label} — {report.unit_name}",
        size=14,
        bold=True,
        align=center,
        space_after=12,
    )
    _para(doc, f"{words.GREETING}: {RECIPIENT}.", align=center, space_after=12)

    _para(doc, "I. TÓM TẮT KẾT QUẢ", bold=True)
    for line in summary_lines(report):
        _para(doc, line, align=justify)
    _para(doc, qualifier_note(report), italic=True, align=justify)
    for chart in (charts.pillars_chart(report), charts.key_indicators_chart(report)):
        if chart:
            doc.add_picture(io.BytesIO(chart), width=Mm(150))
            doc.paragraphs[-1].alignment = center

    if report.ranking:
        _para(doc, "II. XẾP HẠNG ĐƠN VỊ THEO TỶ LỆ CHỈ TIÊU ĐẠT", bold=True)
        ranking_table(doc, report)

    _para(doc, "")
    signature = doc.add_table(rows=1, cols=2)
    _borderless(signature)
    _widths(signature, (80, 85))
    left, right = signature.rows[0].cells
    _cell(left, "Nơi nhận:", size=12, bold=True)
    for line in ("- Như trên;", "- Lưu: VT."):
        _para(left, line, size=11, space_after=0)
    _cell(right, "THỦ TRƯỞNG CƠ QUAN", bold=True, align=center)
    _para(right, "(Ký, ghi rõ họ tên, đóng dấu)", italic=True, align=center)

    annex = doc.add_section()
    _page(annex, landscape=True)
    _para(doc, "PHỤ LỤC", size=14, bold=True, align=center, space_after=0)
    _para(
        doc,
        f"BIỂU {words.SCORECARD.upper()} CÁC CHỈ TIÊU — {report.period.label.upper()}",
        bold=True,
        align=center,
        space_after=0,
    )
    _para(doc, "(Kèm theo Báo cáo số        /BC-…… ngày … tháng … năm …)", italic=True, align=center, space_after=6)
    annex_table(doc, report)
    _para(doc, "")
    _para(doc, "Nguồn của mục tiêu:", size=11, bold=True, space_after=0)
    for n, (key, text) in enumerate(report.footnotes(), start=1):
        _para(doc, f"({n}) {key}: {text}", size=10, space_after=0)

    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()
