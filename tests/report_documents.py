"""Reading the report's documents back (python-docx, openpyxl, poppler), for the unit and golden tests."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path

from docx import Document
from openpyxl import load_workbook

from dxmon import words
from dxmon.formatting import format_number
from dxmon.progress import STATUS_LABELS, Status
from dxmon.report.docx_writer import ANNEX_HEADERS, MEASURE_UNITS, RANKING_HEADERS
from dxmon.report.target_sets import set_milestones
from dxmon.simulate import seed_simulated

ARTIFACTS = Path(__file__).parent / "artifacts"  # gitignored: what a reviewer looks at after a run


def docx_tables(docx: bytes) -> dict[tuple[str, ...], list[list[str]]]:
    """docx_tables: every table of the document by its header row, as cell texts (merged cells once)."""
    doc = Document(io.BytesIO(docx))
    tables = {}
    for table in doc.tables:
        rows = []
        for row in table.rows:
            cells, seen = [], set()
            for cell in row.cells:
                if id(cell._tc) not in seen:
                    seen.add(id(cell._tc))
                    cells.append(cell.text)
            rows.append(cells)
        tables[tuple(rows[0])] = rows[1:]
    return tables


def docx_annex(docx: bytes) -> dict[str, list[str]]:
    """docx_annex: the annex's numbered rows by indicator code (pillar heading rows left out)."""
    rows = docx_tables(docx)[ANNEX_HEADERS]
    return {r[1].split(".", 1)[0]: r for r in rows if r[0].isdigit()}


async def set_outcomes(conn, catalog, unit: str, target_set: str = "NQ09") -> dict:
    """set_outcomes: the evaluation's outcome of the set's last milestone, per indicator of ``unit``, read
    straight from the store (every milestone of the set has passed: the last one stands)."""
    rows = await conn.fetch("SELECT * FROM milestone_outcomes WHERE unit = $1 AND target_set = $2", unit, target_set)
    chosen = catalog.units[unit]
    wanted = {}
    for ind in catalog.indicators.values():
        if (ms := set_milestones(catalog, target_set, ind, chosen.level)) and chosen.valid_from <= ms[-1].deadline:
            wanted[ind.code] = ms[-1].deadline
    by_key = {(r["indicator"], r["milestone"]): r for r in rows}
    return {code: by_key[(code, deadline)] for code, deadline in wanted.items()}


def label(outcome) -> str:
    qualifier = words.FINAL if outcome["final"] and not outcome["reopened"] else words.PROVISIONAL
    return f"{STATUS_LABELS[Status(outcome['status'])]} ({qualifier})"


def check_annex(annex: dict[str, list[str]], expected: dict, catalog) -> None:
    """check_annex: the annex has one row per expected outcome, each with its target, value and result."""
    assert set(annex) == set(expected)
    for code, outcome in expected.items():
        cells = annex[code]
        ind = catalog.indicators[code]
        assert cells[2] == MEASURE_UNITS[ind.measure.value], code
        assert cells[3].startswith(f"{'≥' if outcome['comparator'] == '>=' else cells[3][0]} "), code
        if ind.measure.value != "boolean":
            assert format_number(outcome["target"]) in cells[3], code
        value = outcome["value"]
        shown = (
            "Chưa có số liệu"
            if value is None
            else ("Có" if value >= 1 else "Chưa")
            if ind.measure.value == "boolean"
            else format_number(value)
        )
        assert cells[4] == shown, (code, cells, dict(outcome))
        assert cells[5] == label(outcome), code


def docx_ranking(docx: bytes) -> list[list[str]]:
    return docx_tables(docx).get(RANKING_HEADERS, [])


def docx_text(docx: bytes) -> str:
    doc = Document(io.BytesIO(docx))
    cells = [c.text for t in doc.tables for r in t.rows for c in r.cells]
    return "\n".join([p.text for p in doc.paragraphs] + cells)


def xlsx_sheets(xlsx: bytes) -> dict[str, list[tuple]]:
    wb = load_workbook(io.BytesIO(xlsx))
    return {ws.title: list(ws.iter_rows(values_only=True)) for ws in wb.worksheets}


def pdf_text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, check=True, text=True).stdout


def pdf_fonts(pdf: Path) -> list[tuple[str, bool]]:
    """pdf_fonts: (font name without subset prefix, embedded) per font, from ``pdffonts``."""
    out = subprocess.run(["pdffonts", str(pdf)], capture_output=True, check=True, text=True).stdout
    fonts = []
    for line in out.splitlines()[2:]:
        parts = line.split()
        # name type [type…] encoding emb sub uni object ID: emb is the 5th field from the end
        fonts.append((re.sub(r"^[A-Z]{6}\+", "", parts[0]), parts[-5] == "yes"))
    return fonts


def page_one_png(pdf: Path, out: Path, dpi: int = 80) -> Path:
    """page_one_png renders the first page with pdftoppm; returns the PNG's path."""
    subprocess.run(
        ["pdftoppm", "-png", "-r", str(dpi), "-f", "1", "-l", "1", "-singlefile", str(pdf), str(out.with_suffix(""))],
        check=True,
    )
    return out


def poppler_missing() -> str | None:
    missing = [t for t in ("soffice", "pdftotext", "pdffonts", "pdftoppm") if shutil.which(t) is None]
    return ", ".join(missing) or None


async def seed_and_evaluate(url: str, catalog, start, end, as_of) -> None:
    """seed_and_evaluate: ``seed_simulated`` into the database at ``url``, then one evaluation pass."""
    import asyncpg

    from dxmon.store.progress_repository import evaluate

    conn = await asyncpg.connect(url)
    try:
        await seed_simulated(conn, catalog, start, end)
        await evaluate(conn, catalog, as_of)
    finally:
        await conn.close()
