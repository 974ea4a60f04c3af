"""The alerts API's access settings: no open API on a network, tokens named and long enough."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from services.alerts.settings import AlertsSettings, is_loopback

TOKEN = "k" * 32


def settings(**values) -> AlertsSettings:
    return AlertsSettings(_env_file=None, **values)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "alerts.example.vn"])
def test_refuses_a_network_address_without_tokens(host) -> None:
    with pytest.raises(ValidationError, match="DX_ALERTS_API_TOKENS must be set"):
        settings(alerts_host=host)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_may_run_without_tokens(host) -> None:
    assert is_loopback(host)
    assert settings(alerts_host=host).api_tokens() == {}


def test_tokens_map_to_names() -> None:
    s = settings(alerts_host="0.0.0.0", alerts_api_tokens=f"tuan:{TOKEN}, lan.nguyen@sở-tt:{'m' * 24}")
    assert s.api_tokens() == {TOKEN: "tuan", "m" * 24: "lan.nguyen@sở-tt"}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param(TOKEN, "name:token", id="no-name"),
        pytest.param(f"a b:{TOKEN}", "name:token", id="space-in-name"),
        pytest.param("tuan:short", "shorter than 24", id="short-token"),
        pytest.param(f"tuan:{TOKEN},lan:{TOKEN}", "share a token", id="shared-token"),
    ],
)
def test_malformed_tokens_are_refused(value, message) -> None:
    with pytest.raises(ValidationError, match=message):
        settings(alerts_api_tokens=value)


def test_a_refused_token_is_never_echoed() -> None:
    with pytest.raises(ValidationError) as refused:
        settings(alerts_api_tokens="tuan:short-secret-value")
    assert "short-secret-value" not in str(refused.value)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        pytest.param({"DX_ALERTS_HOST": "0.0.0.0"}, "DX_ALERTS_API_TOKENS must be set", id="network-without-tokens"),
        pytest.param({"DX_ALERTS_API_TOKENS": "tuan:short-secret-value"}, "shorter than 24", id="short-token"),
    ],
)
def test_serve_alerts_refuses_to_start(env, message, tmp_path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DX_")}
    done = subprocess.run(
        [sys.executable, "-m", "dxmon", "serve", "alerts"],
        env={**clean, **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and message in done.stderr
    assert "short-secret-value" not in done.stdout + done.stderr and "Traceback" not in done.stderr


def test_serve_alerts_with_host_option_is_checked_too(tmp_path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DX_")}
    done = subprocess.run(
        [sys.executable, "-m", "dxmon", "serve", "alerts", "--host", "0.0.0.0"],
        env=clean,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "DX_ALERTS_API_TOKENS must be set" in done.stderr
