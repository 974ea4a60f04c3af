"""Helpers shared by the deployment tests (plain functions; the fixtures are in conftest.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sysconfig
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from dxmon import devstack
from dxmon.settings import NatsSettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
NATS_USERS = ("admin", "ingest", "aggregator", "alerts")


def nats_settings(url: str, user: str, passwords: dict[str, str], **extra) -> NatsSettings:
    """nats_settings: what a service reads from DX_NATS_URL / DX_NATS_USER / DX_NATS_PASSWORD."""
    return NatsSettings(nats_url=url, nats_user=user, nats_password=passwords[user], **extra)


def nats_process(config: Path, data_dir: Path, *, name: str | None = None, env: dict[str, str] | None = None,
                 port: int | None = None) -> devstack.LocalServer:
    """nats_process describes nats-server run from a project config on 127.0.0.1 with free ports.

    Only the client and monitoring ports and the store directory are given on the command line;
    everything else comes from the file. ``env`` holds per-process, non-secret variables (passed
    through ``env`` so that each node of a cluster can differ); secrets come from os.environ.
    """
    port = port or devstack.free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [devstack.find_nats_server(), "-c", str(config), "-a", "127.0.0.1", "-p", str(port),
            "-m", str(devstack.free_port()), "--store_dir", str(data_dir / "jetstream")]
    if name:
        argv += ["--name", name]
    if env:
        argv = ["env", *(f"{k}={v}" for k, v in env.items()), *argv]
    return devstack.LocalServer(name or "nats-server", argv, port, f"nats://127.0.0.1:{port}", data_dir / "nats.log")


_VIOLATION = re.compile(r'"\$G/user:(?P<user>[^"]+)" - (?P<kind>Publish|Subscription) Violation - Subject "(?P<subject>[^"]+)"')


def violations(log_path: Path) -> list[tuple[str, str, str]]:
    """violations lists (user, Publish|Subscription, subject) for every refusal nats-server logged."""
    text = log_path.read_text(errors="replace") if log_path.exists() else ""
    return [(m["user"], m["kind"], m["subject"]) for m in _VIOLATION.finditer(text)]


def run_dxmon(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    """run_dxmon runs the ``dxmon`` CLI as the containers do, with only the given DX_/PG variables."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DX_", "PG"))}
    dxmon = Path(sysconfig.get_path("scripts")) / "dxmon"
    return subprocess.run([str(dxmon), *args], env={**clean, **env}, capture_output=True, text=True,
                          timeout=timeout, cwd=DEPLOY)


def login_url(url: str, user: str, password: str) -> str:
    """login_url is ``url`` with another user and password (URL-safe passwords only)."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{host}"))
