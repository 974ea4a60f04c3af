"""report: the official report (Báo cáo kết quả) as Word, Excel and PDF.

    stored evaluation ──▶ repository.build_report ──▶ model.Report ──▶ docx_writer / xlsx_writer
    (progress_current,                                 (plain data)      └──▶ pdf (LibreOffice)
     milestone_outcomes, reporting_rates)

``model`` is pure data, ``repository`` holds the only SQL, the writers only lay the data out.
``render`` is what the CLI (``dxmon report``) and the HTTP API (``GET /v1/exports/report``) call.
"""

from __future__ import annotations

from dxmon.report.model import Report

FORMATS = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


def render(report: Report, fmt: str) -> bytes:
    """render lays the report out as ``fmt`` (docx, xlsx or pdf); raises ValueError for another format."""
    from dxmon.report.docx_writer import render_docx

    if fmt == "docx":
        return render_docx(report)
    if fmt == "xlsx":
        from dxmon.report.xlsx_writer import render_xlsx

        return render_xlsx(report)
    if fmt == "pdf":
        from dxmon.report.pdf import docx_to_pdf

        return docx_to_pdf(render_docx(report))
    raise ValueError(f"định dạng không hỗ trợ {fmt[:20]!r}: chọn docx, xlsx hoặc pdf")


def file_name(report: Report, fmt: str) -> str:
    """file_name: bao-cao-<set>-<unit>-<period>.<fmt> (ASCII, safe in a Content-Disposition header)."""
    return f"bao-cao-{report.target_set}-{report.unit}-{report.period.code}.{fmt}"
