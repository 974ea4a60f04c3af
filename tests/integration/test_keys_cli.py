"""`dxmon keys list` prints when each key was made in Vietnam time, the zone named once in the header."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from dxmon.cli import build
from dxmon.contracts import LOCAL_TZ
from tests.pipeline import Pipeline

pytestmark = pytest.mark.integration


@pytest.fixture
async def bus(nats_url: str, catalog) -> str:
    """bus: NATS with the key bucket (and the pipeline's own test key)."""
    await Pipeline(nats_url, "postgresql://unused/never", catalog).setup()
    return nats_url


def test_keys_list_shows_vietnam_time(bus: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DX_NATS_URL", bus)
    monkeypatch.setenv("COLUMNS", "200")
    app, runner = build(), CliRunner()
    before = datetime.now(UTC)
    made = runner.invoke(app, ["keys", "create", "--agency", "Sở Y tế", "--units", "QN-SO-YTE"])
    assert made.exit_code == 0, made.output
    listed = runner.invoke(app, ["keys", "list"])
    assert listed.exit_code == 0, listed.output
    assert "giờ Việt Nam" in listed.output
    [line] = [line for line in listed.output.splitlines() if "Sở Y tế" in line]
    [shown] = re.findall(r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}", line)
    local = datetime.strptime(shown, "%d/%m/%Y %H:%M").replace(tzinfo=LOCAL_TZ)
    # Seconds are dropped; the time read on a clock in Hạ Long, not UTC.
    assert before - timedelta(minutes=1) <= local <= datetime.now(UTC)
