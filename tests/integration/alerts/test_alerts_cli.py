"""`dxmon subscriptions …` and `dxmon alerts …` against a real database: clear errors, redacted URLs."""

from __future__ import annotations

import asyncpg
import pytest
from typer.testing import CliRunner

from alerts_fixtures import T, fall_behind
from dxmon.cli import build
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
    added = dxmon("subscriptions", "add", "--unit", "QN-P-HONGGAI", "--channel", TELEGRAM, "--pillar",
                  "digital_government", "--min-severity", "critical")
    assert added.exit_code == 0, added.output
    assert "subscription 1 added" in added.output
    assert dxmon("subscriptions", "add", "--unit", "QN", "--with-descendants", "--channel",
                 "mailto://smtp.example.vn?user=u&pass=p&to=lanhdao@example.vn").exit_code == 0
    listed = dxmon("subscriptions", "list")
    assert listed.exit_code == 0
    assert "QN-P-HONGGAI" in listed.output and "tgram://…" in listed.output and "critical" in listed.output
    assert "SECRETTOKEN" not in listed.output and "pass=p" not in listed.output
    assert dxmon("subscriptions", "remove", "1").exit_code == 0
    assert "QN-P-HONGGAI" not in dxmon("subscriptions", "list").output
    gone = dxmon("subscriptions", "remove", "1")
    assert gone.exit_code == 2 and "no subscription 1" in gone.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--unit", "QN-NOWHERE", "--channel", TELEGRAM], "unknown unit 'QN-NOWHERE'", id="unknown-unit"),
        pytest.param(["--unit", "QN", "--channel", "carrier-pigeon://roof"], "invalid channel URL", id="bad-url"),
        pytest.param(["--unit", "QN", "--channel", TELEGRAM, "--pillar", "space"], "unknown pillar 'space'",
                     id="bad-pillar"),
        pytest.param(["--unit", "QN", "--channel", TELEGRAM, "--min-severity", "info"], "unknown severity 'info'",
                     id="bad-severity"),
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
    assert dxmon("alerts", "list", "--state", "resolved").output.strip() == "no alerts"
    acked = dxmon("alerts", "ack", behind, "--for", "24h", "--reason", "đã giao xử lý")
    assert acked.exit_code == 0 and f"alert {behind} acknowledged until" in acked.output


def test_alerts_silence_and_errors(dxmon) -> None:
    made = dxmon("alerts", "silence", "--unit", "QN-P-HONGGAI", "--indicator", "DG-14", "--for", "2h",
                 "--reason", "đang rà soát")
    assert made.exit_code == 0 and "silence 1 until" in made.output
    bad = dxmon("alerts", "silence", "--unit", "QN-P-HONGGAI", "--for", "soon", "--reason", "x")
    assert bad.exit_code == 2 and "invalid duration 'soon'" in bad.output
    unknown = dxmon("alerts", "ack", "deadbeef", "--for", "24h")
    assert unknown.exit_code == 2 and "no alert with fingerprint 'deadbeef'" in unknown.output
    assert dxmon("alerts", "list", "--state", "sleeping").exit_code == 2
