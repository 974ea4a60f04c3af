"""Helpers of the entry tests: fill a downloaded template the way a person would (openpyxl), or by hand."""

from __future__ import annotations

import io
from typing import Any

from openpyxl import load_workbook

from services.entry.sheet import COLUMNS, DATA_SHEET
from services.entry.workbook import LETTER

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def rows_by_key(ws) -> dict[tuple[str, str, str], int]:
    """rows_by_key: (indicator, category, period) → row number of a template's data sheet."""
    out = {}
    for r in range(2, ws.max_row + 1):
        key = (
            ws[f"{LETTER['indicator']}{r}"].value,
            ws[f"{LETTER['category']}{r}"].value or "",
            ws[f"{LETTER['period']}{r}"].value,
        )
        out[key] = r
    return out


def fill(template: bytes, values: dict[tuple[str, str, str], dict[str, Any]]) -> bytes:
    """fill writes ``values`` (by column key) into the rows of (indicator, category, period) and saves."""
    wb = load_workbook(io.BytesIO(template))
    ws = wb[DATA_SHEET]
    rows = rows_by_key(ws)
    for key, cells in values.items():
        for column, value in cells.items():
            ws[f"{LETTER[column]}{rows[key]}"] = value
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def csv_text(rows: list[dict[str, Any]], *, delimiter: str = ",") -> str:
    """csv_text: a CSV with the template's headers and ``rows`` (by column key)."""
    lines = [delimiter.join(f'"{c.header}"' for c in COLUMNS)]
    for row in rows:
        lines.append(delimiter.join(_quoted(row.get(c.key)) for c in COLUMNS))
    return "\r\n".join(lines) + "\r\n"


def _quoted(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    return '"' + text.replace('"', '""') + '"' if any(ch in text for ch in ',;"\n\r') else text
