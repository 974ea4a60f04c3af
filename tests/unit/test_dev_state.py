"""dxmon commands reach a running ``dxmon dev`` of the current directory, and the services' ports follow one rule."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dxmon import devstack
from dxmon.cli.dev import local_services
from dxmon.settings import DatabaseSettings, NatsSettings
from services.aggregator.settings import AggregatorSettings
from services.alerts.settings import AlertsSettings
from services.entry.settings import EntrySettings
from services.ingest.settings import IngestSettings

DEV = {"nats_url": "nats://127.0.0.1:14222", "database_url": "postgresql://postgres@127.0.0.1:15432/dxmon"}


@pytest.fixture
def in_dev_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """in_dev_dir: a fresh working directory, no DX_ server variables in the environment."""
    monkeypatch.chdir(tmp_path)
    for name in ("DX_NATS_URL", "DX_DATABASE_URL", "DX_AGGREGATOR_METRICS_PORT", "DX_ALERTS_PORT", "DX_ENTRY_PORT"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_commands_in_the_directory_use_the_running_stack(in_dev_dir: Path) -> None:
    devstack.write_dev_state(in_dev_dir / devstack.DEV_STATE_FILE, DEV)
    assert DatabaseSettings().database_url == DEV["database_url"]
    assert NatsSettings().nats_url == DEV["nats_url"]
    alerts = AlertsSettings()  # combines both
    assert (alerts.nats_url, alerts.database_url) == (DEV["nats_url"], DEV["database_url"])
    assert (in_dev_dir / devstack.DEV_STATE_FILE).stat().st_mode & 0o077 == 0


def test_explicit_settings_win(in_dev_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    devstack.write_dev_state(in_dev_dir / devstack.DEV_STATE_FILE, DEV)
    monkeypatch.setenv("DX_DATABASE_URL", "postgresql://elsewhere/dxmon")
    (in_dev_dir / ".env").write_text("DX_NATS_URL=nats://from-dotenv:4222\n")
    assert DatabaseSettings().database_url == "postgresql://elsewhere/dxmon"
    assert NatsSettings().nats_url == "nats://from-dotenv:4222"
    assert NatsSettings(nats_url="nats://init:4222").nats_url == "nats://init:4222"


def test_a_stack_that_died_is_ignored(in_dev_dir: Path) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    path = in_dev_dir / devstack.DEV_STATE_FILE
    path.parent.mkdir()
    path.write_text(json.dumps({"pid": int(gone.stdout), "settings": DEV}))
    assert DatabaseSettings().database_url == DatabaseSettings.model_fields["database_url"].default


@pytest.mark.parametrize("text", ["", "{", '{"pid": "x"}', '{"pid": 1, "settings": [1]}', "[]"])
def test_a_damaged_state_file_is_ignored(in_dev_dir: Path, text: str) -> None:
    path = in_dev_dir / devstack.DEV_STATE_FILE
    path.parent.mkdir()
    path.write_text(text)
    assert NatsSettings().nats_url == NatsSettings.model_fields["nats_url"].default


def test_other_directories_are_not_affected(in_dev_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    devstack.write_dev_state(in_dev_dir / devstack.DEV_STATE_FILE, DEV)
    (in_dev_dir / "sub").mkdir()
    monkeypatch.chdir(in_dev_dir / "sub")
    assert NatsSettings().nats_url == NatsSettings.model_fields["nats_url"].default


def test_stopping_removes_only_its_own_state(in_dev_dir: Path) -> None:
    path = in_dev_dir / devstack.DEV_STATE_FILE
    devstack.write_dev_state(path, DEV)
    devstack.remove_dev_state(path)
    assert not path.exists()
    path.write_text(json.dumps({"pid": 1, "settings": DEV}))  # another stack's
    devstack.remove_dev_state(path)
    assert path.exists()


def test_every_service_listens_on_loopback_by_default() -> None:
    defaults = [
        IngestSettings.model_fields["ingest_host"],
        AggregatorSettings.model_fields["aggregator_host"],
        AlertsSettings.model_fields["alerts_host"],
        EntrySettings.model_fields["entry_host"],
    ]
    assert [f.default for f in defaults] == ["127.0.0.1"] * 4


def test_dev_probes_each_service_where_its_settings_put_it(in_dev_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DX_AGGREGATOR_METRICS_PORT", "19102")
    monkeypatch.setenv("DX_ALERTS_PORT", "19103")
    monkeypatch.setenv("DX_ENTRY_PORT", "18081")
    services = local_services(in_dev_dir, {}, 18080, with_alerts=True)
    assert [s.name for s in services] == ["aggregator", "alerts", "ingest", "entry"]  # sinks first
    for svc, port in zip(services, ("19102", "19103", "18080", "18081"), strict=True):
        assert svc.health_url == f"http://127.0.0.1:{port}/readyz"
        assert svc.argv[-4:] == ["--host", "127.0.0.1", "--port", port]
