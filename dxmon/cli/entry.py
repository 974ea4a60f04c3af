"""``dxmon template`` and ``dxmon import``: the entry service's templates and imports from a terminal.

Both talk HTTP to the entry service with an agency's key, exactly as the page and other programs do:

    dxmon template QN-P-ANSINH --period 2026-11 [--to 2026-12] [--out mau.xlsx]
    dxmon import mau.xlsx --dry-run        # check only: nothing is sent
    dxmon import mau.xlsx                  # send (only when no row is refused)

The key is ``--key`` or DX_API_KEY; the service is ``--url`` or DX_ENTRY_URL (a ``dxmon dev`` running
from this directory provides it).
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any

import httpx
import typer
from pydantic import Field
from rich.table import Table

from dxmon import words
from dxmon.cli import error_text, plain_console
from dxmon.settings import DxSettings

console = plain_console()
errors = plain_console(stderr=True)
TIMEOUT_SECONDS = 300.0  # a 10,000-row import is checked and published within this
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class EntryClientSettings(DxSettings):
    """Where ``dxmon template`` and ``dxmon import`` find the entry service."""

    entry_url: str = Field(
        "http://127.0.0.1:8081", description="Entry service base URL used by `dxmon template` and `dxmon import`"
    )


def _headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key.strip()}", "Accept-Language": "vi"}


def _fail(response: httpx.Response) -> None:
    """_fail prints a problem+json answer (Vietnamese detail and each issue) and exits 1."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    errors.print(error_text(f"{response.status_code} {body.get('detail') or body.get('title') or response.text[:200]}"))
    for issue in body.get("errors") or []:
        errors.print(f"  {issue.get('field') or ''} {issue.get('message', '')}".rstrip())
    raise typer.Exit(1)


def _request(method: str, url: str, **kwargs: Any) -> httpx.Response:
    try:
        return httpx.request(method, url, timeout=TIMEOUT_SECONDS, **kwargs)
    except httpx.HTTPError as exc:
        errors.print(
            error_text(
                f"không kết nối được dịch vụ nhập liệu {url} ({type(exc).__name__}); kiểm tra --url hoặc DX_ENTRY_URL"
            )
        )
        raise typer.Exit(1) from None


def print_summary(body: dict[str, Any]) -> None:
    """print_summary writes the import summary in Vietnamese: counts, then every refused cell."""
    counts = body["counts"]
    head = "Kiểm tra thử (chưa gửi)" if body["dry_run"] else "Đã gửi"
    console.print(f"{head}: " + ", ".join(f"{counts[k]} {words.IMPORT_ROW[k]}" for k in words.IMPORT_ROW))
    if body.get("published"):
        p = body["published"]
        console.print(f"JetStream đã lưu {p['accepted']} báo cáo ({p['duplicates']} đã có từ trước)")
    if body["refused"]:
        table = Table("Trang", "Dòng", "Cột", "Lý do", title="Các dòng bị từ chối")
        for r in body["refused"]:
            column = f"{r['column']} ({r['header']})" if r.get("column") else ""
            table.add_row(r["sheet"], str(r["row"]), column, r["message"])
        console.print(table)


def register(cli) -> None:
    @cli.app.command("template")
    def template(
        unit: str = typer.Argument(..., help="Unit code (Mã ĐVHC), e.g. QN-P-ANSINH"),
        period: str = typer.Option(..., "--period", help="Period: 2026-11 (month), 2026-Q4, 2026-H1 or 2026"),
        to: str = typer.Option(None, "--to", help="Last period of a range (same kind as --period)"),
        out: Path = typer.Option(
            None, "--out", help="File to write (.xlsx or .csv; default mau-nhap-lieu_UNIT_PERIOD.xlsx)"
        ),
        key: str = typer.Option(..., "--key", envvar="DX_API_KEY", help="The agency's API key"),
        url: str = typer.Option(None, "--url", help="Entry service URL (default DX_ENTRY_URL)"),
    ) -> None:
        """Download the spreadsheet template of a unit for a period (or a range of periods)."""
        kind = out.suffix.lower().lstrip(".") if out is not None else "xlsx"
        if kind not in ("xlsx", "csv"):
            errors.print(error_text("--out phải là tệp .xlsx hoặc .csv"))
            raise typer.Exit(2)
        base = (url or EntryClientSettings().entry_url).rstrip("/")
        params = {"period": period, **({"to": to} if to else {})}
        response = _request("GET", f"{base}/v1/templates/{unit}.{kind}", params=params, headers=_headers(key))
        if response.status_code != 200:
            _fail(response)
        target = out or Path(f"mau-nhap-lieu_{unit}_{period}" + (f"_{to}" if to else "") + f".{kind}")
        target.write_bytes(response.content)
        console.print(f"đã lưu mẫu nhập liệu vào {target}", soft_wrap=True)

    @cli.app.command("import")
    def import_file(
        file: Path = typer.Argument(
            ..., exists=True, dir_okay=False, readable=True, help="Filled template (.xlsx or .csv)"
        ),
        dry_run: bool = typer.Option(False, "--dry-run", help="Check only: send nothing, print what would happen"),
        key: str = typer.Option(..., "--key", envvar="DX_API_KEY", help="The agency's API key"),
        url: str = typer.Option(None, "--url", help="Entry service URL (default DX_ENTRY_URL)"),
    ) -> None:
        """Import a filled template: every row checked like a report; sent only when no row is refused."""
        base = (url or EntryClientSettings().entry_url).rstrip("/")
        media_type = (
            XLSX_TYPE
            if file.suffix.lower() in (".xlsx", ".xlsm")
            else (mimetypes.guess_type(file.name)[0] or "application/octet-stream")
        )
        response = _request(
            "POST",
            f"{base}/v1/imports",
            params={"dry_run": str(dry_run).lower()},
            headers=_headers(key),
            files={"file": (file.name, file.read_bytes(), media_type)},
        )
        body = response.json() if response.headers.get("content-type", "").endswith("json") else {}
        if response.status_code == 422 and "summary" in body:
            print_summary(body["summary"])
            errors.print(error_text(body.get("detail", "")))
            raise typer.Exit(1)
        if response.status_code not in (200, 202):
            _fail(response)
        print_summary(body)
        if body["refused"]:
            raise typer.Exit(1)
