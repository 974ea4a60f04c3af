"""Workbook: a template as an XLSX (openpyxl) or a CSV, from the lines of ``sheet.template_rows``.

The XLSX protects its sheet: every cell is locked except the input cells (value, numerator,
denominator, explanation) of the rows where they apply, and the code columns the import reads
(unit, indicator, category, period) are hidden as well. No password: protection guards against slips,
not against the unit (the import checks every code anyway). Excel's data validation mirrors the
contract's rules (numbers, ranges, whole numbers, numerator ≤ denominator, explanation length), so
most mistakes are caught while typing; the import checks everything again.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill, Protection
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from dxmon import words
from dxmon.catalog import Measure
from dxmon.contracts import EXPLANATION_MAX_LENGTH
from dxmon.formatting import format_moment
from dxmon.validation import MAX_MAGNITUDE
from services.entry.sheet import COLUMNS, DATA_SHEET, HELP_SHEET, TEMPLATE_VERSION, Line, measure_text

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
LETTER = {c.key: get_column_letter(i) for i, c in enumerate(COLUMNS, start=1)}

_HEADER_FILL = PatternFill("solid", fgColor="1F4E79")
_CONTEXT_FILL = PatternFill("solid", fgColor="F2F2F2")
_CLOSED_FILL = PatternFill("solid", fgColor="BFBFBF")
_UNLOCKED = Protection(locked=False)


@dataclass(frozen=True)
class Filled:
    """Filled: one line with what people read beside its input cells."""

    line: Line
    target: str = ""
    expected: str = ""
    current: str = ""


@dataclass
class Template:
    """Template: what one download holds (unit, span of periods, lines) and when it was made."""

    title: str
    period_label: str
    made_at: datetime
    rows: list[Filled] = field(default_factory=list)
    sets: list[tuple[str, str]] = field(default_factory=list)  # target sets named in the rows: code, title


def cells(f: Filled) -> dict[str, object]:
    """cells is one row of the template by column key (inputs empty)."""
    line = f.line
    category = line.indicator.category(line.category) if line.category else None
    return {
        "unit": line.unit.code,
        "unit_name": line.unit.name_on(line.period.end),
        "indicator": line.indicator.code,
        "indicator_name": line.indicator.name_vi,
        "category_name": category.name_vi if category else "",
        "category": line.category,
        "period_name": line.period.label_vi,
        "period": line.period.code,
        "measure": measure_text(line.indicator),
        "target": f.target,
        "expected": f.expected,
        "current": f.current,
        "value": None,
        "numerator": None,
        "denominator": None,
        "explanation": None,
    }


# ───────────────────────────── CSV ─────────────────────────────


def to_csv(template: Template) -> bytes:
    """to_csv: header row and one row per line, UTF-8 with a BOM (Excel then reads Vietnamese right), CRLF."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([c.header for c in COLUMNS])
    for f in template.rows:
        row = cells(f)
        writer.writerow(["" if row[c.key] is None else row[c.key] for c in COLUMNS])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


# ───────────────────────────── XLSX ─────────────────────────────


def to_xlsx(template: Template) -> bytes:
    """to_xlsx: the data sheet (protected, validated) and the instructions sheet."""
    wb = Workbook()
    ws = wb.active
    assert isinstance(ws, Worksheet)  # a new Workbook holds one worksheet, the active one
    ws.title = DATA_SHEET
    _write_data(ws, template.rows)
    _write_help(wb.create_sheet(HELP_SHEET), template)
    wb.properties.title = template.title
    wb.properties.keywords = TEMPLATE_VERSION
    wb.properties.creator = "dx-monitor"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _write_data(ws: Worksheet, rows: list[Filled]) -> None:
    ws.append([c.header for c in COLUMNS])
    for cell in ws[1]:
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = _HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    ws.row_dimensions[1].height = 32
    for i, c in enumerate(COLUMNS, start=1):
        dim = ws.column_dimensions[get_column_letter(i)]
        dim.width = c.width
        dim.hidden = c.hidden
    ratio_rows: list[int] = []
    other_rows: list[int] = []
    by_measure: dict[Measure, list[int]] = {}
    for r, f in enumerate(rows, start=2):
        values = cells(f)
        ws.append([values[c.key] for c in COLUMNS])
        measure = f.line.indicator.measure
        by_measure.setdefault(measure, []).append(r)
        (ratio_rows if measure is Measure.RATIO else other_rows).append(r)
        for c in COLUMNS:
            cell = ws[f"{LETTER[c.key]}{r}"]
            if not c.input:
                cell.fill = _CONTEXT_FILL
                cell.alignment = Alignment(wrap_text=True, vertical="top")
            elif c.key in ("numerator", "denominator") and measure is not Measure.RATIO:
                cell.fill = _CLOSED_FILL  # stays locked: this indicator takes a value, not parts
            else:
                cell.protection = _UNLOCKED
                if c.key == "explanation":
                    cell.alignment = Alignment(wrap_text=True, vertical="top")
    _validate(ws, by_measure, ratio_rows)
    ws.freeze_panes = f"{LETTER['measure']}2"
    ws.auto_filter.ref = f"A1:{LETTER['explanation']}{max(len(rows) + 1, 2)}"
    ws.protection.sheet = True
    ws.protection.autoFilter = False  # filtering stays allowed on the protected sheet
    ws.protection.formatColumns = False
    ws.protection.formatRows = False


def _runs(rows: Iterable[int]) -> list[tuple[int, int]]:
    """_runs groups row numbers into (first, last) runs, so a validation's range stays short."""
    runs: list[tuple[int, int]] = []
    for r in sorted(rows):
        if runs and runs[-1][1] == r - 1:
            runs[-1] = (runs[-1][0], r)
        else:
            runs.append((r, r))
    return runs


def _add(ws: Worksheet, dv: DataValidation, column: str, rows: list[int]) -> None:
    if not rows:
        return
    for first, last in _runs(rows):
        dv.add(f"{LETTER[column]}{first}:{LETTER[column]}{last}")
    ws.add_data_validation(dv)


def _rule(
    kind: Literal["whole", "decimal", "custom", "textLength"],
    title: str,
    error: str,
    *,
    formula1: str,
    formula2: str | None = None,
    operator: Literal["between", "lessThanOrEqual"] | None = None,
) -> DataValidation:
    return DataValidation(
        type=kind,
        allow_blank=True,
        showErrorMessage=True,
        errorStyle="stop",
        errorTitle=title,
        error=error,
        formula1=formula1,
        formula2=formula2,
        operator=operator,
    )


_LIMIT = f"{MAX_MAGNITUDE:.0f}"


def _validate(ws: Worksheet, by_measure: dict[Measure, list[int]], ratio_rows: list[int]) -> None:
    # What Excel checks while typing; the import checks the same rules again (and states them in Vietnamese).
    _add(
        ws,
        _rule(
            "decimal",
            "Giá trị",
            "Tỷ lệ phần trăm từ 0 đến 100 (hoặc nhập tử số và mẫu số).",
            operator="between",
            formula1="0",
            formula2="100",
        ),
        "value",
        by_measure.get(Measure.RATIO, []) + by_measure.get(Measure.PERCENT, []),
    )
    _add(
        ws,
        _rule("whole", "Giá trị", "Số lượng là số nguyên không âm.", operator="between", formula1="0", formula2=_LIMIT),
        "value",
        by_measure.get(Measure.COUNT, []),
    )
    _add(
        ws,
        _rule("whole", "Giá trị", "Nhập 1 (có) hoặc 0 (không).", operator="between", formula1="0", formula2="1"),
        "value",
        by_measure.get(Measure.BOOLEAN, []),
    )
    _add(
        ws,
        _rule("whole", "Giá trị", "Thứ hạng là số nguyên từ 1.", operator="between", formula1="1", formula2=_LIMIT),
        "value",
        by_measure.get(Measure.RANK, []),
    )
    if ratio_rows:
        first = min(ratio_rows)
        num, den = f"{LETTER['numerator']}{first}", f"{LETTER['denominator']}{first}"
        _add(
            ws,
            _rule(
                "custom",
                "Tử số",
                "Tử số là số không âm và không lớn hơn mẫu số.",
                formula1=f"AND(ISNUMBER({num}),{num}>=0,OR(NOT(ISNUMBER({den})),{num}<={den}))",
            ),
            "numerator",
            ratio_rows,
        )
        _add(
            ws,
            _rule(
                "custom",
                "Mẫu số",
                "Mẫu số là số lớn hơn 0 và không nhỏ hơn tử số.",
                formula1=f"AND(ISNUMBER({den}),{den}>0,OR(NOT(ISNUMBER({num})),{num}<={den}))",
            ),
            "denominator",
            ratio_rows,
        )
    every = [r for rows in by_measure.values() for r in rows]
    _add(
        ws,
        _rule(
            "textLength",
            words.EXPLANATION,
            f"Tối đa {EXPLANATION_MAX_LENGTH} ký tự.",
            operator="lessThanOrEqual",
            formula1=str(EXPLANATION_MAX_LENGTH),
        ),
        "explanation",
        every,
    )


def _write_help(ws: Worksheet, template: Template) -> None:
    lines = [
        (template.title, True),
        (f"{words.REPORTING_PERIOD}: {template.period_label}", False),
        (f"Tạo lúc: {format_moment(template.made_at)}", False),
        ("", False),
        ("Cách điền", True),
        (
            f"1. Trên trang «{DATA_SHEET}», mỗi dòng là một chỉ tiêu của một kỳ báo cáo (và một phân loại, nếu có).",
            False,
        ),
        (
            "2. Chỉ tiêu tỷ lệ: nhập Tử số và Mẫu số (tử số không lớn hơn mẫu số); chỉ khi nguồn không có số đếm "
            "mới nhập tỷ lệ phần trăm đã công bố vào cột Giá trị.",
            False,
        ),
        ("3. Chỉ tiêu khác: nhập vào cột Giá trị theo Đơn vị tính (ô Tử số, Mẫu số bị khóa, tô xám).", False),
        (f"4. Cột «{words.EXPLANATION}» (không bắt buộc): nguyên nhân của kết quả và giải pháp đang thực hiện.", False),
        (
            "5. Dòng để trống được bỏ qua. Không sửa các cột mã (đã ẩn và khóa): hệ thống dựa vào chúng để "
            "ghi đúng đơn vị, chỉ tiêu và kỳ.",
            False,
        ),
        ("6. Dùng số, không dùng công thức chưa tính; không dùng dấu phân cách hàng nghìn.", False),
        ("", False),
        ("Gửi số liệu", True),
        (
            "Tải tệp lên trang nhập liệu, hoặc dùng lệnh: dxmon import <tệp> --dry-run (kiểm tra), "
            "rồi dxmon import <tệp> (gửi).",
            False,
        ),
        (
            "Kiểm tra thử (dry run) không gửi gì: kết quả liệt kê số dòng mới, điều chỉnh, không đổi, bỏ qua "
            "và bị từ chối, kèm trang, dòng, cột và lý do của từng dòng bị từ chối.",
            False,
        ),
        (
            "Chỉ khi không còn dòng bị từ chối thì tệp mới được gửi; gửi lại cùng một tệp không tạo số liệu trùng.",
            False,
        ),
    ]
    for text, bold in lines:
        ws.append([text])
        if bold:
            ws.cell(ws.max_row, 1).font = Font(bold=True, size=13 if ws.max_row == 1 else 11)
    ws.column_dimensions["A"].width = 120
    if template.sets:
        ws.append([])
        ws.append([f"{words.TARGET}: các {words.TARGET_SET.lower()} được nhắc đến"])
        ws.cell(ws.max_row, 1).font = Font(bold=True)
        for code, title in template.sets:
            ws.append([f"{code}: {title}"])
    ws.append([])
    ws.append(["Các cột", None])
    ws.cell(ws.max_row, 1).font = Font(bold=True)
    for c in COLUMNS:
        role = "nhập" if c.input else ("mã, ẩn" if c.hidden else "để tham khảo")
        ws.append([f"{c.header} ({role})"])
