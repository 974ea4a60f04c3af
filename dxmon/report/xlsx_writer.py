"""xlsx_writer: the report's tables as Excel sheets, numbers as numbers, for staff who re-use them.

Sheets: "Tóm tắt" (the summary sentences and the per-pillar counts), "Phụ lục" (the annex: target,
result and deadline as number and date cells, comparator in its own column), "Xếp hạng" (units by
share of targets met) and "Nguồn" (the source of every target).
"""

from __future__ import annotations

import io

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

from dxmon import words
from dxmon.report.docx_writer import MEASURE_UNITS, qualifier_note, summary_lines
from dxmon.report.model import PILLAR_LABELS, Report

ANNEX_COLUMNS = (
    "STT",
    "Mã",
    words.INDICATOR,
    "Trụ cột",
    "Đơn vị tính",
    "So sánh",
    words.TARGET,
    words.DEADLINE,
    "Kết quả",
    "Đánh giá",
    words.PROVISIONAL,
    words.FINAL,
    words.EXPLANATION,
    "Nguồn",
)
RANKING_COLUMNS = ("STT", "Mã đơn vị", words.REPORTING_UNIT, "Số chỉ tiêu đạt", "Tổng số chỉ tiêu", "Tỷ lệ đạt (%)")
BOLD = Font(bold=True)


def _sheet(wb: Workbook, title: str, columns: tuple[str, ...], widths: tuple[int, ...]):
    ws = wb.create_sheet(title)
    ws.append(list(columns))
    for cell in ws[1]:
        cell.font = BOLD
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for letter, width in zip("ABCDEFGHIJKLMNOP", widths, strict=False):
        ws.column_dimensions[letter].width = width
    ws.freeze_panes = "A2"
    return ws


def render_xlsx(report: Report) -> bytes:
    """render_xlsx: the workbook as bytes; every figure is a number or date cell, never text."""
    wb = Workbook()
    summary = wb.worksheets[0]  # a new workbook holds one empty sheet
    summary.title = "Tóm tắt"
    summary.append([f"{words.SCORECARD} các {words.INDICATORS_LOWER} theo {report.set_title}"])
    summary.append([f"{words.REPORTING_PERIOD}: {report.period.label} — {report.unit_name}"])
    summary["A1"].font = summary["A2"].font = BOLD
    for line in [*summary_lines(report), qualifier_note(report)]:
        summary.append([line])
    summary.append([])
    summary.append(["Trụ cột", "Số chỉ tiêu đạt", "Tổng số chỉ tiêu"])
    for cell in summary[summary.max_row]:
        cell.font = BOLD
    for count in report.by_pillar:
        summary.append([count.label, count.met, count.total])
    summary.append(["Tổng cộng", report.met, len(report.rows)])
    summary.append([])
    summary.append([words.REPORTING_RATE + " (%)", report.rates.reporting_rate])
    summary.append([words.ON_TIME_RATE + " (%)", report.rates.on_time_rate])
    summary.column_dimensions["A"].width = 40

    annex = _sheet(wb, "Phụ lục", ANNEX_COLUMNS, (6, 8, 60, 16, 10, 8, 10, 12, 10, 22, 9, 10, 30, 16))
    for n, row in enumerate(report.rows, start=1):
        annex.append(
            [
                n,
                row.indicator,
                row.name,
                PILLAR_LABELS[row.pillar],
                MEASURE_UNITS[row.measure],
                row.comparator,
                row.target,
                row.deadline,
                row.value,
                row.result_label,
                row.provisional,
                row.final,
                row.explanation,
                ", ".join(row.sources),
            ]
        )
        annex.cell(annex.max_row, 8).number_format = "DD/MM/YYYY"

    ranking = _sheet(wb, "Xếp hạng", RANKING_COLUMNS, (6, 24, 40, 14, 14, 12))
    for n, share in enumerate(report.ranking, start=1):
        ranking.append([n, share.unit, share.name, share.met, share.total, round(share.share, 1)])

    sources = _sheet(wb, "Nguồn", ("Số", "Mã nguồn", "Văn bản, nguồn"), (6, 14, 120))
    for n, (key, text) in enumerate(report.footnotes(), start=1):
        sources.append([n, key, text])

    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
