"""pdf: the Word document converted to PDF on the server by LibreOffice (``soffice --headless``).

LibreOffice (Debian: libreoffice-writer-nogui) lays the .docx out the way Word does and embeds the
fonts it used in the PDF. Times New Roman is not in Debian: fontconfig substitutes Liberation Serif
(fonts-liberation), which has the same metrics and every Vietnamese diacritic. Each conversion uses a
profile of its own, so two reports can be converted at once.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

CONVERT_TIMEOUT_SECONDS = 120


class ConversionError(RuntimeError):
    """ConversionError: the PDF could not be made; the message says why, for an operator."""


def soffice() -> str | None:
    """soffice: the LibreOffice executable on PATH, or None."""
    return shutil.which("soffice") or shutil.which("libreoffice")


def docx_to_pdf(docx: bytes) -> bytes:
    """docx_to_pdf converts .docx bytes to PDF bytes; raises ConversionError when LibreOffice is missing or fails."""
    exe = soffice()
    if exe is None:
        raise ConversionError("không tạo được PDF: máy chủ chưa cài LibreOffice (gói libreoffice-writer-nogui)")
    with tempfile.TemporaryDirectory(prefix="dx-report-") as tmp:
        work = Path(tmp)
        (work / "bao-cao.docx").write_bytes(docx)
        try:
            done = subprocess.run(
                [
                    exe,
                    f"-env:UserInstallation={(work / 'profile').as_uri()}",
                    "--headless",
                    "--norestore",
                    "--convert-to",
                    "pdf",
                    "--outdir",
                    str(work),
                    str(work / "bao-cao.docx"),
                ],
                capture_output=True,
                timeout=CONVERT_TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ConversionError(f"không tạo được PDF: LibreOffice quá {CONVERT_TIMEOUT_SECONDS} giây") from None
        pdf = work / "bao-cao.pdf"
        if done.returncode != 0 or not pdf.exists():
            detail = (done.stderr or done.stdout).decode(errors="replace").strip()[-300:]
            raise ConversionError(f"không tạo được PDF: LibreOffice trả về mã {done.returncode}: {detail}")
        return pdf.read_bytes()
