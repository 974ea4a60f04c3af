"""`dxmon subscriptions …` and `dxmon alerts …` against a real database: clear errors, redacted URLs."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from alerts_fixtures import T, fall_behind
from typer.testing import CliRunner

from dxmon.cli import build
from dxmon.contracts import LOCAL_TZ
from dxmon.store.progress_repository import evaluate
from services.alerts import repository as repo

pytestmark = pytest.mark.integration

TELEGRAM = "tgram://123456789:SECRETTOKEN/-1001234567"


@pytest.fixture
def dxmon(database_url: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DX_DATABASE_URL", database_url)
    app, runner = build(), CliRunner()

    def run(*args: str):
        return runner.invoke(app, list(args))

    return run


def test_subscriptions_add_list_remove(dxmon) -> None:
    added = dxmon(
        "subscriptions",
        "add",
        "--unit",
        "QN-P-HONGGAI",
        "--channel",
        TELEGRAM,
        "--pillar",
        "digital_government",
        "--min-severity",
        "critical",
    )
    assert added.exit_code == 0, added.output
    assert "Đã thêm đăng ký nhận cảnh báo số 1." in added.output
    assert (
        dxmon(
            "subscriptions",
            "add",
            "--unit",
            "QN",
            "--with-descendants",
            "--channel",
            "mailto://smtp.example.vn?user=u&pass=p&to=lanhdao@example.vn",
        ).exit_code
        == 0
    )
    listed = dxmon("subscriptions", "list")
    assert listed.exit_code == 0
    assert "QN-P-HONGGAI" in listed.output and "tgram://…" in listed.output and "Nghiêm trọng" in listed.output
    assert "SECRETTOKEN" not in listed.output and "pass=p" not in listed.output
    assert dxmon("subscriptions", "remove", "1").exit_code == 0
    assert "QN-P-HONGGAI" not in dxmon("subscriptions", "list").output
    gone = dxmon("subscriptions", "remove", "1")
    assert gone.exit_code == 2 and "lỗi: không có đăng ký số 1" in gone.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--unit", "QN-NOWHERE", "--channel", TELEGRAM], "unknown unit 'QN-NOWHERE'", id="unknown-unit"),
        pytest.param(["--unit", "QN", "--channel", "carrier-pigeon://roof"], "invalid channel URL", id="bad-url"),
        pytest.param(
            ["--unit", "QN", "--channel", TELEGRAM, "--pillar", "space"], "unknown pillar 'space'", id="bad-pillar"
        ),
        pytest.param(
            ["--unit", "QN", "--channel", TELEGRAM, "--min-severity", "info"],
            "unknown severity 'info'",
            id="bad-severity",
        ),
    ],
)
def test_subscriptions_add_refuses_with_a_clear_error(dxmon, args, message) -> None:
    result = dxmon("subscriptions", "add", *args)
    assert result.exit_code == 2
    assert message in result.output


@pytest.fixture
async def behind(database_url: str, catalog) -> str:
    """behind: one firing alert (QN-P-HONGGAI behind on DG-14); returns its fingerprint."""
    await fall_behind(database_url)
    conn = await asyncpg.connect(database_url)
    try:
        await evaluate(conn, catalog, T)
        [change] = await repo.sync_alerts(conn, T)
        return change.fingerprint
    finally:
        await conn.close()


def test_alerts_list_and_ack(dxmon, behind) -> None:
    listed = dxmon("alerts", "list", "--state", "firing")
    assert listed.exit_code == 0 and behind in listed.output and "QN-P-HONGGAI" in listed.output
    assert dxmon("alerts", "list", "--state", "resolved").output.strip() == "Không có cảnh báo nào."
    acked = dxmon("alerts", "ack", behind, "--for", "24h", "--reason", "đã giao xử lý")
    assert acked.exit_code == 0, acked.output
    assert f"Cảnh báo {behind}: đã tiếp nhận, không nhắc lại đến" in acked.output
    assert "(giờ Việt Nam)" in acked.output


def test_alerts_silence_and_errors(dxmon) -> None:
    made = dxmon(
        "alerts", "silence", "--unit", "QN-P-HONGGAI", "--indicator", "DG-14", "--for", "2h", "--reason", "đang rà soát"
    )
    assert made.exit_code == 0 and "Tạm dừng thông báo số 1 đến" in made.output
    bad = dxmon("alerts", "silence", "--unit", "QN-P-HONGGAI", "--for", "soon", "--reason", "x")
    assert bad.exit_code == 2 and "invalid duration 'soon'" in bad.output
    unknown = dxmon("alerts", "ack", "deadbeef", "--for", "24h")
    assert unknown.exit_code == 2 and "no alert with fingerprint 'deadbeef'" in unknown.output
    assert dxmon("alerts", "list", "--state", "sleeping").exit_code == 2


LOCAL_MOMENT = re.compile(r"(\d{2}/\d{2}/\d{4} \d{2}:\d{2}) \(giờ Việt Nam\)")


def _block(output: str, fingerprint: str) -> str:
    """_block is the part of `alerts list` output about one alert (blocks are separated by a blank line)."""
    [block] = [b for b in output.split("\n\n") if b.startswith(fingerprint)]
    return block


def _local(t: datetime) -> datetime:
    return t.astimezone(LOCAL_TZ).replace(second=0, microsecond=0, tzinfo=None)


def test_silence_prints_vietnam_time_with_the_zone_named(dxmon) -> None:
    before = datetime.now(UTC)
    made = dxmon("alerts", "silence", "--unit", "QN-P-HONGGAI", "--for", "2h", "--reason", "đang rà soát")
    after = datetime.now(UTC)
    assert made.exit_code == 0, made.output
    [printed] = LOCAL_MOMENT.findall(made.output)
    shown = datetime.strptime(printed, "%d/%m/%Y %H:%M")
    # Vietnam time (UTC+7), not UTC: the end is two hours after now as read on a clock in Hạ Long.
    assert _local(before + timedelta(hours=2)) <= shown <= _local(after + timedelta(hours=2))


def test_silences_list_and_remove_and_alerts_list_says_what_is_muted(dxmon, behind, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # one line per row, so the assertions read rows
    quiet = dxmon("alerts", "list")
    assert quiet.exit_code == 0 and "Tạm dừng thông báo đến" not in quiet.output and "Đã tiếp nhận" not in quiet.output

    assert dxmon("alerts", "silences", "list").output.strip() == "Không có lệnh tạm dừng thông báo nào."
    made = dxmon(
        "alerts",
        "silence",
        "--unit",
        "QN-P-HONGGAI",
        "--indicator",
        "DG-14",
        "--for",
        "2h",
        "--reason",
        "đang rà soát số liệu",
    )
    assert made.exit_code == 0, made.output
    other = dxmon("alerts", "silence", "--unit", "QN-P-BAICHAY", "--for", "1d", "--reason", "cả đơn vị")
    assert other.exit_code == 0, other.output

    listed = dxmon("alerts", "silences", "list")
    assert listed.exit_code == 0, listed.output
    [mine] = [line for line in listed.output.splitlines() if "QN-P-HONGGAI" in line]
    assert mine.split()[0] == "1" and "DG-14" in mine and "đang rà soát số liệu" in mine and "Đang hiệu lực" in mine
    [whole] = [line for line in listed.output.splitlines() if "QN-P-BAICHAY" in line]
    assert "Tất cả chỉ tiêu" in whole
    assert "giờ Việt Nam" in listed.output

    assert dxmon("alerts", "ack", behind, "--for", "24h").exit_code == 0
    block = _block(dxmon("alerts", "list").output, behind)
    assert "Chậm tiến độ — Phường Hồng Gai (QN-P-HONGGAI) · DG-14" in block
    assert "Số liệu hiện hành: 50% · Mức cần đạt theo tiến độ:" in block and "Mục tiêu: 100%" in block
    assert "Từ 10/03/2026 10:00 (giờ Việt Nam)" in block  # the alert started at 03:00 UTC
    assert re.search(r"Tạm dừng thông báo đến \d\d/\d\d/\d{4} \d\d:\d\d \(giờ Việt Nam\)", block)
    assert re.search(r"Đã tiếp nhận, không nhắc lại đến \d\d/\d\d/\d{4} \d\d:\d\d \(giờ Việt Nam\)", block)

    removed = dxmon("alerts", "silences", "remove", "1")
    assert removed.exit_code == 0 and "Đã kết thúc lệnh tạm dừng thông báo số 1." in removed.output
    block = _block(dxmon("alerts", "list").output, behind)
    assert "Tạm dừng thông báo" not in block and "Đã tiếp nhận" in block
    assert "QN-P-HONGGAI" not in dxmon("alerts", "silences", "list").output
    ended = dxmon("alerts", "silences", "list", "--ended")
    assert "QN-P-HONGGAI" in ended.output and "Đã hết hạn" in ended.output

    again = dxmon("alerts", "silences", "remove", "1")
    assert again.exit_code == 2 and "không có lệnh tạm dừng thông báo số 1 đang hoặc sắp có hiệu lực" in again.output
    assert dxmon("alerts", "silences", "remove", "999").exit_code == 2
