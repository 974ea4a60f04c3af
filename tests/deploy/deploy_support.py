"""Helpers shared by the deployment tests (plain functions; the fixtures are in conftest.py)."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import subprocess
import sys
import sysconfig
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from dxmon import devstack
from dxmon.bus import connect
from dxmon.catalog import Catalog
from dxmon.cli.dev import Service
from dxmon.keys import KeyStore
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


def container_env(**values: str) -> dict[str, str]:
    """container_env: this process's environment minus every DX_/PG variable, plus ``values``.

    A container sees only what the compose file gives it; so do the services the tests start.
    """
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DX_", "PG"))}
    return {**clean, **values}


def run_dxmon(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    """run_dxmon runs a one-shot ``dxmon`` command (as the compose file's migrate step does)."""
    dxmon = Path(sysconfig.get_path("scripts")) / "dxmon"
    return subprocess.run([str(dxmon), *args], env=container_env(**env), capture_output=True, text=True,
                          timeout=timeout, cwd=DEPLOY)


async def wait_for(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    """wait_for polls ``check`` until it is true; fails the test with ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


@dataclass(frozen=True)
class Pipeline:
    """Pipeline: running ingest and aggregator services and an API key accepted by ingest."""

    ingest_url: str
    token: str
    aggregator_metrics_url: str


@asynccontextmanager
async def pipeline(nats_url: str, passwords: dict[str, str], database_url: str, catalog: Catalog, logs: Path,
                   **extra_env: str) -> AsyncIterator[Pipeline]:
    """pipeline starts aggregator then ingest as the compose file does, each with its own NATS user
    and the aggregator with its own database login (made by `dxmon db create-users`); stops them after.
    """
    suffix = secrets.token_hex(3)  # roles are server-wide: fresh names per use
    db_passwords = {svc: secrets.token_urlsafe(24) for svc in ("aggregator", "alerts", "grafana")}
    users = {"DX_DATABASE_URL": database_url}
    for svc, password in db_passwords.items():
        users |= {f"DX_{svc.upper()}_DB_USER": f"dx_{svc}_{suffix}", f"DX_{svc.upper()}_DB_PASSWORD": password}
    done = run_dxmon("db", "create-users", env=users)
    assert done.returncode == 0, done.stderr

    admin = await connect(nats_settings(nats_url, "admin", passwords), "dxmon-keys")
    _, token = await (await KeyStore.open(admin.jetstream(), catalog)).create("test", ["QN"], with_descendants=True)
    await admin.close()

    def nats_env(user: str) -> dict[str, str]:
        return {"DX_NATS_URL": nats_url, "DX_NATS_USER": user, "DX_NATS_PASSWORD": passwords[user], **extra_env}

    ingest_port, aggregator_port = devstack.free_port(), devstack.free_port()
    serve = [sys.executable, "-c", "from dxmon.cli import main; main()", "serve"]
    aggregator = Service(
        "aggregator", [*serve, "aggregator", "--host", "127.0.0.1", "--port", str(aggregator_port)],
        f"http://127.0.0.1:{aggregator_port}/readyz", logs / "aggregator.log",
        # The password travels as PGPASSWORD, never inside DX_DATABASE_URL, as in the compose file.
        container_env(**nats_env("aggregator"), PGPASSWORD=db_passwords["aggregator"],
                      DX_DATABASE_URL=login_url(database_url, f"dx_aggregator_{suffix}")),
    )
    ingest = Service(
        "ingest", [*serve, "ingest", "--host", "127.0.0.1", "--port", str(ingest_port)],
        f"http://127.0.0.1:{ingest_port}/readyz", logs / "ingest.log", container_env(**nats_env("ingest")),
    )
    started: list[Service] = []
    try:
        for svc in (aggregator, ingest):  # sinks first, as the compose file's depends_on orders them
            svc.start()
            started.append(svc)
            await asyncio.to_thread(svc.wait_ready, 60)
        yield Pipeline(f"http://127.0.0.1:{ingest_port}", token, f"http://127.0.0.1:{aggregator_port}/metrics")
    finally:
        for svc in reversed(started):
            svc.stop()


def login_url(url: str, user: str, password: str | None = None) -> str:
    """login_url is ``url`` with another user and password (URL-safe passwords only)."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    userinfo = f"{user}:{password}" if password is not None else user
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{host}"))
