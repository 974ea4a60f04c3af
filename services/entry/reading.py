"""Reading: an uploaded XLSX or CSV into rows of cells by column key — or a clear refusal, never a crash.

    bytes ─▶ which format (name, media type, first bytes) ─▶ XLSX: zip checks before parsing
                                                                (entries, unpacked size, encryption)
                                                             ▶ openpyxl, read-only, cached values only
                                                           ─▶ CSV: UTF-8 (BOM or not), NFC, delimiter
          ─▶ header row → column keys (by header text, so moved columns still import exactly)
          ─▶ Upload(rows: SheetRow(sheet, row, cells))

Nothing here knows the catalog: rows are cells, not reports yet (``importing`` makes them reports).
Macros never run: openpyxl never executes VBA and is told not to keep it (an .xlsm is read like an
.xlsx). A formula's cached value is read; a formula Excel never calculated (no cached value) reads
as ``NO_CACHED_VALUE`` so the import can refuse that cell instead of taking it for empty. Limits
(``ReadLimits``) come from the settings and are answered 413.
"""

from __future__ import annotations

import csv
import io
import unicodedata
import warnings
import zipfile
from dataclasses import dataclass
from typing import Any

from openpyxl import load_workbook
from openpyxl.styles.numbers import BUILTIN_FORMATS, BUILTIN_FORMATS_MAX_SIZE
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._read_only import ReadOnlyWorksheet
from openpyxl.worksheet._reader import FORMULA_TAG, WorkSheetParser

from dxmon.problems import Problem, say
from services.entry.sheet import COLUMNS, DATA_SHEET

XLSX, CSV = "xlsx", "csv"
MAX_ZIP_ENTRIES = 1000  # a workbook has a few dozen parts; thousands means something else
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls, or an .xlsx encrypted with a password
_HEADERS = {unicodedata.normalize("NFC", c.header).strip().casefold(): c.key for c in COLUMNS}
_REQUIRED = ("unit", "indicator", "period")


class _NoCachedValue:
    """The value of a formula cell Excel never calculated (openpyxl would read it as empty)."""

    def __repr__(self) -> str:
        return "NO_CACHED_VALUE"


NO_CACHED_VALUE: Any = _NoCachedValue()


class Percent(float):
    """Percent is a number read from a cell formatted as a percentage: Excel stores 62,8% as 0.628."""


@dataclass(frozen=True)
class ReadLimits:
    """ReadLimits: the largest upload the entry service reads (DX_ENTRY_MAX_* settings)."""

    max_bytes: int
    max_unpacked_bytes: int
    max_rows: int


@dataclass(frozen=True)
class SheetRow:
    """SheetRow: one data row as the sheet numbers it, its cells by column key (only the template's columns)."""

    row: int
    cells: dict[str, Any]


@dataclass(frozen=True)
class Upload:
    """Upload: the rows of the data sheet, and where each column key is (a letter for XLSX, a number for CSV)."""

    format: str
    sheet: str
    columns: dict[str, str]
    rows: list[SheetRow]


def unreadable(key: str, **params: Any) -> Problem:
    return Problem(422, "unreadable-spreadsheet", "The file cannot be read as a spreadsheet", say(key, **params))


def too_large(key: str, **params: Any) -> Problem:
    return Problem(413, "spreadsheet-too-large", "Spreadsheet beyond the limits", say(key, **params))


def detect_format(data: bytes, filename: str, media_type: str) -> str:
    """detect_format: XLSX or CSV from the name or media type, checked against the first bytes."""
    name = filename.lower()
    claims_xlsx = name.endswith((".xlsx", ".xlsm")) or "spreadsheetml" in media_type or "ms-excel" in media_type
    claims_csv = name.endswith((".csv", ".txt")) or media_type in ("text/csv", "text/plain", "application/csv")
    if data.startswith(_OLE2):
        raise unreadable("unreadable-spreadsheet/ole2")
    if name.endswith(".xls") and not data.startswith(b"PK"):
        raise unreadable("unreadable-spreadsheet/ole2")
    if claims_xlsx or (not claims_csv and data.startswith(b"PK\x03\x04")):
        if not data.startswith(b"PK"):
            raise unreadable("unreadable-spreadsheet/not-xlsx")
        return XLSX
    if claims_csv or media_type in ("", "application/octet-stream"):
        if data.startswith(b"PK\x03\x04"):
            raise unreadable("unreadable-spreadsheet/zip-as-csv")
        return CSV
    raise Problem(
        415,
        "unsupported-media-type",
        "Unsupported media type",
        say("unsupported-media-type/spreadsheet", got=media_type or filename),
    )


def read_upload(data: bytes, filename: str, media_type: str, limits: ReadLimits) -> Upload:
    """read_upload reads an upload whose size was already bounded by ``limits.max_bytes``."""
    if not data.strip():
        raise Problem(400, "empty-body", "Empty file", say("empty-body/file"))
    kind = detect_format(data, filename, media_type)
    return read_xlsx(data, limits) if kind == XLSX else read_csv(data, limits)


# ───────────────────────────── XLSX ─────────────────────────────


def check_zip(data: bytes, limits: ReadLimits) -> None:
    """check_zip refuses, before any XML is parsed, an archive that is not a plain, bounded workbook.

    The sizes checked are the archive's declared ones; Python's zipfile never inflates an entry past its
    declared size (it fails the CRC check instead), so a zip bomb cannot lie its way past this.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
        raise unreadable("unreadable-spreadsheet/not-xlsx") from None
    if len(infos) > MAX_ZIP_ENTRIES:
        raise too_large("spreadsheet-too-large/entries", count=len(infos), limit=MAX_ZIP_ENTRIES)
    unpacked = sum(i.file_size for i in infos)
    if unpacked > limits.max_unpacked_bytes:
        raise too_large("spreadsheet-too-large/unpacked", size=unpacked, limit=limits.max_unpacked_bytes)
    if any(i.flag_bits & 0x1 for i in infos):
        raise unreadable("unreadable-spreadsheet/ole2")
    names = {i.filename for i in infos}
    if "[Content_Types].xml" not in names or not any(n.startswith("xl/worksheets/") for n in names):
        raise unreadable("unreadable-spreadsheet/not-xlsx")


class _CellParser(WorkSheetParser):
    """_CellParser is openpyxl's sheet parser that also tells a formula with no cached value from an empty cell."""

    percent_styles: frozenset[int] = frozenset()
    wanted: frozenset[str] = frozenset()  # column letters the import reads, once the header is known (empty: all)

    def parse_cell(self, element):
        coordinate = element.get("r")
        if self.wanted and coordinate and coordinate.rstrip("0123456789") not in self.wanted:
            # Names, targets and other context columns are not read back: skip decoding them (most cells).
            return _SKIPPED
        cell = super().parse_cell(element)
        value = cell["value"]
        if value is None and element.find(FORMULA_TAG) is not None:
            cell["value"] = NO_CACHED_VALUE
        elif cell["data_type"] == "n" and cell["style_id"] in self.percent_styles and isinstance(value, (int, float)):
            cell["value"] = Percent(value)
        return cell


_SKIPPED = {"row": 0, "column": 0, "value": None, "data_type": "n", "style_id": 0}  # column 0: no column's


def _percent_styles(wb: Any) -> frozenset[int]:
    """_percent_styles: the cell styles whose number format shows a percentage (what people see is x 100)."""
    found = set()
    for index, style in enumerate(wb._cell_styles):
        fid = style.numFmtId
        code = (
            BUILTIN_FORMATS.get(fid)
            if fid < BUILTIN_FORMATS_MAX_SIZE
            else wb._number_formats[fid - BUILTIN_FORMATS_MAX_SIZE]
        )
        if code and "%" in "".join(code.split('"')[0::2]):  # a % outside quoted text
            found.add(index)
    return frozenset(found)


def read_xlsx(data: bytes, limits: ReadLimits) -> Upload:
    check_zip(data, limits)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openpyxl warns about extensions it skips; not the sender's concern
            wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True, keep_vba=False, keep_links=False)
    except Exception:  # noqa: BLE001 - whatever a malformed workbook raises, it is the sender's file: 422
        raise unreadable("unreadable-spreadsheet/not-xlsx") from None
    try:
        ws = _data_sheet(wb)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _read_sheet(wb, ws, limits)
    except Problem:
        raise
    except Exception:  # noqa: BLE001 - a sheet that fails to parse half-way is refused the same way
        raise unreadable("unreadable-spreadsheet/not-xlsx") from None
    finally:
        wb.close()


def _data_sheet(wb: Any) -> ReadOnlyWorksheet:
    sheets = [ws for ws in wb.worksheets if isinstance(ws, ReadOnlyWorksheet)]
    for ws in sheets:
        if unicodedata.normalize("NFC", ws.title) == DATA_SHEET:
            return ws
    if len(sheets) == 1:
        return sheets[0]
    raise unreadable("unreadable-spreadsheet/no-data-sheet", sheet=DATA_SHEET)


def _read_sheet(wb: Any, ws: ReadOnlyWorksheet, limits: ReadLimits) -> Upload:
    # openpyxl's own row loop fills every gap with empty rows (a lone cell at row 1,048,576 would make a
    # million); this loop sees only the rows the file has, and stops at the limit. It reads two private
    # attributes ReadOnlyWorksheet.__init__ sets, which openpyxl's stubs leave out.
    with wb._archive.open(ws._worksheet_path) as src:  # type: ignore[attr-defined]  # private, not in the stubs
        parser = _CellParser(
            src,
            ws._shared_strings,  # type: ignore[attr-defined]  # private, not in the stubs
            data_only=True,
            epoch=wb.epoch,
            date_formats=wb._date_formats,
            timedelta_formats=wb._timedelta_formats,
        )
        parser.percent_styles = _percent_styles(wb)
        header = _Header()
        out: list[SheetRow] = []
        for number, cells in parser.parse():
            if header.columns is None:
                if any(c["value"] not in (None, "") for c in cells) and header.offer(
                    {c["column"]: c["value"] for c in cells}, number
                ):
                    parser.wanted = frozenset(get_column_letter(i) for i in header.found(ws.title))
                continue
            columns = header.columns
            if number - header.row > limits.max_rows:
                raise too_large("spreadsheet-too-large/rows", limit=limits.max_rows, row=number)
            values = {columns[c["column"]]: c["value"] for c in cells if c["column"] in columns}
            if any(v is not None and v != "" for v in values.values()):
                out.append(SheetRow(number, values))
    columns = header.found(ws.title)
    return Upload(XLSX, ws.title, {key: get_column_letter(i) for i, key in columns.items()}, out)


HEADER_SEARCH_ROWS = 10  # a title, a "sep=;" line or a note may sit above the header row


class _Header:
    """_Header finds the header row among the first non-empty rows and maps its columns to column keys."""

    def __init__(self) -> None:
        self.columns: dict[int, str] | None = None
        self.row = 0
        self._tried = 0
        self._first_miss: tuple[int, list[str]] | None = None

    def offer(self, cells: dict[int, Any], row: int) -> bool:
        """offer tries a non-empty row as the header; True once it is the one."""
        found: dict[int, str] = {}
        for index, text in cells.items():
            key = _HEADERS.get(unicodedata.normalize("NFC", str(text)).strip().casefold()) if text is not None else None
            if key is not None and key not in found.values():
                found[index] = key
        missing = [c.header for c in COLUMNS if c.key in _REQUIRED and c.key not in found.values()]
        if not any(k in found.values() for k in ("value", "numerator", "denominator")):
            missing.append(next(c.header for c in COLUMNS if c.key == "value"))
        if not missing:
            self.columns, self.row = found, row
            return True
        self._first_miss = self._first_miss or (row, missing)
        self._tried += 1
        if self._tried >= HEADER_SEARCH_ROWS:
            self.found("")
        return False

    def found(self, sheet: str) -> dict[int, str]:
        """found: the header's columns, or the refusal naming what the first candidate row lacks."""
        if self.columns is not None:
            return self.columns
        if self._first_miss is not None:
            row, missing = self._first_miss
            raise unreadable("unreadable-spreadsheet/missing-columns", row=row, columns=", ".join(missing))
        raise unreadable("unreadable-spreadsheet/no-header", sheet=sheet)


# ───────────────────────────── CSV ─────────────────────────────


def read_csv(data: bytes, limits: ReadLimits) -> Upload:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise unreadable("unreadable-spreadsheet/not-utf8", position=exc.start) from None
    # Vietnamese typed on macOS or copied from some systems arrives decomposed (NFD): compose it once here,
    # so headers, codes and explanations compare and store as everyone else's.
    text = unicodedata.normalize("NFC", text)
    # The delimiter is the one the header-like lines use most (Excel in Vietnamese writes ";").
    head = [line for line in text.splitlines()[:HEADER_SEARCH_ROWS] if line.strip()]
    delimiter = max((",", ";", "\t"), key=lambda d: max((line.count(d) for line in head), default=0))
    try:
        table = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True))
    except csv.Error as exc:
        raise unreadable("unreadable-spreadsheet/csv", error=str(exc)) from None
    header = _Header()
    out: list[SheetRow] = []
    for number, record in enumerate(table, start=1):
        if header.columns is None:
            if any(v.strip() for v in record):
                header.offer(dict(enumerate(record, start=1)), number)
            continue
        columns = header.columns
        if number - header.row > limits.max_rows:
            raise too_large("spreadsheet-too-large/rows", limit=limits.max_rows, row=number)
        values = {columns[i]: v for i, v in enumerate(record, start=1) if i in columns}
        if any(v.strip() for v in values.values()):
            out.append(SheetRow(number, values))
    columns = header.found("CSV")
    return Upload(CSV, "CSV", {key: str(i) for i, key in columns.items()}, out)
