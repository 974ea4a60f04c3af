"""`dxmon template` and `dxmon import` against a running entry service, as an agency's clerk runs them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dxmon.cli import build
from tests.integration.entry.entry_files import fill

pytestmark = pytest.mark.integration
UNIT = "QN-P-ANSINH"


async def dxmon(*args: str, env: dict[str, str]):
    # In a thread: the CLI's HTTP calls are synchronous and the service runs on this test's event loop.
    return await asyncio.to_thread(CliRunner().invoke, build(), list(args), env={"COLUMNS": "200", **env})


async def test_template_then_dry_run_then_import(entry, tmp_path: Path) -> None:
    env = {"DX_API_KEY": entry.pipeline.token, "DX_ENTRY_URL": entry.url}
    out = tmp_path / "mau.xlsx"
    got = await dxmon("template", UNIT, "--period", "2026-09", "--out", str(out), env=env)
    assert got.exit_code == 0, got.output
    assert f"đã lưu mẫu nhập liệu vào {out}" in got.output

    filled = tmp_path / "da-dien.xlsx"
    filled.write_bytes(
        fill(
            out.read_bytes(),
            {
                ("DG-04", "", "2026-09"): {"numerator": 7, "denominator": 10},
                ("DG-05", "", "2026-09"): {"numerator": 11, "denominator": 10},
            },
        )
    )
    refused = await dxmon("import", str(filled), "--dry-run", env=env)
    assert refused.exit_code == 1
    assert "Kiểm tra thử (chưa gửi): 1 mới, 0 điều chỉnh, 0 không đổi" in refused.output
    assert "tử số 11 lớn hơn mẫu số 10" in refused.output and "Số liệu" in refused.output

    filled.write_bytes(fill(out.read_bytes(), {("DG-04", "", "2026-09"): {"numerator": 7, "denominator": 10}}))
    sent = await dxmon("import", str(filled), env=env)
    assert sent.exit_code == 0, sent.output
    assert "Đã gửi: 1 mới" in sent.output and "JetStream đã lưu 1 báo cáo" in sent.output
    await entry.pipeline.wait_drained()
    assert await entry.pipeline.fetchval("SELECT value FROM period_values WHERE unit = $1", UNIT) == 70.0

    csv_out = tmp_path / "mau.csv"
    got = await dxmon("template", UNIT, "--period", "2026-07", "--to", "2026-09", "--out", str(csv_out), env=env)
    assert got.exit_code == 0, got.output
    assert csv_out.read_bytes().startswith(b"\xef\xbb\xbf")
    assert b"2026-07" in csv_out.read_bytes() and b"2026-Q3" in csv_out.read_bytes()


async def test_a_wrong_key_or_no_service_says_so(entry, tmp_path: Path) -> None:
    bad = await dxmon(
        "template",
        UNIT,
        "--period",
        "2026-09",
        "--out",
        str(tmp_path / "x.xlsx"),
        env={"DX_API_KEY": "dxk_0000000000000000_" + "a" * 43, "DX_ENTRY_URL": entry.url},
    )
    assert bad.exit_code == 1 and "khóa API không đúng hoặc đã bị thu hồi" in bad.output
    down = await dxmon(
        "template", UNIT, "--period", "2026-09", "--url", "http://127.0.0.1:9", env={"DX_API_KEY": entry.pipeline.token}
    )
    assert down.exit_code == 1 and "không kết nối được dịch vụ nhập liệu" in down.output
