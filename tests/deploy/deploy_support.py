"""Helpers shared by the deployment tests (plain functions; the fixtures are in conftest.py).

The tests run the deployment's own pieces as the compose file describes them, minus Docker:
commands, environment and health checks come from ``deploy/docker-compose*.yml`` (through
``compose_model``), and only the addresses are moved onto this machine (``Local``).
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shlex
import subprocess
import sysconfig
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
from compose_model import ComposeModel, read_env_file

from dxmon import devstack
from dxmon.cli.dev import Service
from dxmon.settings import NatsSettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE_FILE = DEPLOY / "docker-compose.yml"
CLUSTER_FILE = DEPLOY / "docker-compose.cluster.yml"
NATS_USERS = ("admin", "ingest", "aggregator", "alerts", "entry")
SCRIPTS = Path(sysconfig.get_path("scripts"))  # where this environment's `dxmon` is, like /opt/venv/bin


def deploy_values(**overrides: str) -> dict[str, str]:
    """deploy_values is deploy/.env as an operator fills it: .env.example with every password generated."""
    values = read_env_file(DEPLOY / ".env.example")
    for key, value in values.items():
        if key.endswith("_PASSWORD") and not value:
            values[key] = secrets.token_hex(16)
    values["DX_ALERTS_API_TOKENS"] = values["DX_ALERTS_API_TOKENS"] or f"vanhanh:{secrets.token_hex(24)}"
    values.update(overrides)
    return values


@dataclass
class Local:
    """Local maps the compose network's names onto this machine.

    ``hosts`` replaces host:port pairs inside values ("nats:4222" → "127.0.0.1:41234"); ``exact``
    replaces whole values or arguments ("8080" → a free port, "0.0.0.0" → "127.0.0.1");
    ``paths`` replaces container path prefixes ("/etc/nats" → deploy/nats).
    """

    hosts: dict[str, str] = field(default_factory=dict)
    exact: dict[str, str] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)

    def value(self, text: str) -> str:
        if text in self.exact:
            return self.exact[text]
        mapping = {**self.hosts, **self.paths}
        if not mapping:
            return text
        # One pass, longest names first: a replacement is never rewritten by a later one.
        pattern = "|".join(re.escape(k) for k in sorted(mapping, key=len, reverse=True))
        return re.sub(pattern, lambda m: mapping[m.group(0)], text)

    def env(self, env: dict[str, str]) -> dict[str, str]:
        return {k: self.value(v) for k, v in env.items()}

    def argv(self, argv: Sequence[str]) -> list[str]:
        return [self.value(a) for a in argv]


def container_env(**values: str) -> dict[str, str]:
    """container_env: this process's environment minus every DX_/PG variable, plus ``values``.

    A container sees only what the compose file gives it; so do the processes the tests start.
    Its PATH starts with this environment's scripts, as the image's starts with /opt/venv/bin.
    """
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DX_", "PG"))}
    clean["PATH"] = f"{SCRIPTS}{os.pathsep}{clean.get('PATH', '')}"
    return {**clean, **values}


def env_file_argv(env: dict[str, str], path: Path, argv: list[str]) -> list[str]:
    """env_file_argv runs ``argv`` with ``env`` read from a private file, never from the command line."""
    path.write_text("".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items()))
    path.chmod(0o600)
    return ["sh", "-c", '. "$0" && exec "$@"', str(path), *argv]


def nats_node(
    model: ComposeModel, service: str, data_dir: Path, local: Local, client_port: int | None = None
) -> tuple[devstack.LocalServer, int]:
    """nats_node describes nats-server as the compose service runs it (same command, config, environment).

    Returns the server and its monitoring port (the container's /healthz). Client and monitoring
    ports are moved to free ports on 127.0.0.1; the store directory to ``data_dir``.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    port, monitor = client_port or devstack.free_port(), devstack.free_port()
    paths = Local(
        hosts=local.hosts, exact=local.exact, paths={"/etc/nats": str(DEPLOY / "nats"), "/data": str(data_dir)}
    )
    argv = [
        devstack.find_nats_server(),
        *paths.argv(model.services[service]["command"]),
        "-a",
        "127.0.0.1",
        "-p",
        str(port),
        "-m",
        str(monitor),
    ]
    argv = env_file_argv(local.env(model.environment(service)), data_dir / "container.env", argv)
    server = devstack.LocalServer(service, argv, port, f"nats://127.0.0.1:{port}", data_dir / "nats.log")
    return server, monitor


async def wait_healthy(monitor_ports: Sequence[int], timeout: float = 60) -> None:
    """wait_healthy waits for every node's /healthz (what `depends_on: service_healthy` waits for)."""

    async def all_ok() -> bool:
        async with httpx.AsyncClient(timeout=2) as http:
            for port in monitor_ports:
                try:
                    if (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code != 200:
                        return False
                except httpx.HTTPError:
                    return False
        return True

    await wait_for(all_ok, timeout, "NATS /healthz on every node")


_VIOLATION = re.compile(
    r'"\$G/user:(?P<user>[^"]+)" - (?P<kind>Publish|Subscription) Violation - Subject "(?P<subject>[^"]+)"'
)


def violations(log_path: Path) -> list[tuple[str, str, str]]:
    """violations lists (user, Publish|Subscription, subject) for every refusal nats-server logged."""
    text = log_path.read_text(errors="replace") if log_path.exists() else ""
    return [(m["user"], m["kind"], m["subject"]) for m in _VIOLATION.finditer(text)]


def nats_settings(url: str, user: str, passwords: dict[str, str], **extra) -> NatsSettings:
    """nats_settings: what a service reads from DX_NATS_URL / DX_NATS_USER / DX_NATS_PASSWORD."""
    return NatsSettings(nats_url=url, nats_user=user, nats_password=passwords[user], **extra)


def run_dxmon(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    """run_dxmon runs one ``dxmon`` command with only the given DX_/PG variables."""
    return subprocess.run(
        ["dxmon", *args], env=container_env(**env), capture_output=True, text=True, timeout=timeout, cwd=DEPLOY
    )


async def wait_for(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    """wait_for polls ``check`` until it is true; fails the test with ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def login_url(url: str, user: str, password: str | None = None) -> str:
    """login_url is ``url`` with another user and password (URL-safe passwords only)."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    userinfo = f"{user}:{password}" if password is not None else user
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{host}"))


def database_local(database_url: str) -> tuple[dict[str, str], dict[str, str]]:
    """database_local: the values and host mapping that point compose's database at ``database_url``.

    Role names are server-wide, so each use gets fresh login names (set through .env, as an
    operator may). TimescaleDB is not available here: DX_REQUIRE_TIMESCALE is the one production
    setting turned off.
    """
    parts = urlsplit(database_url)
    suffix = secrets.token_hex(3)
    values = {
        "POSTGRES_USER": parts.username or "postgres",
        "POSTGRES_DB": parts.path.lstrip("/"),
        "DX_REQUIRE_TIMESCALE": "false",
        **{f"DX_{svc}_DB_USER": f"dx_{svc.lower()}_{suffix}" for svc in ("AGGREGATOR", "ALERTS", "GRAFANA", "ENTRY")},
    }
    return values, {"timescaledb:5432": f"{parts.hostname}:{parts.port}"}


SERVICE_PORTS = ("8080", "9101", "9102", "9103", "8081")  # ingest (API, metrics), aggregator, alerts, entry


def services_local(nats_hosts: dict[str, str], database_url: str) -> tuple[dict[str, str], Local]:
    """services_local: extra .env values and the address mapping for running the compose services here.

    NATS names go to ``nats_hosts``, the database to ``database_url``, and each service's fixed
    container port to a free port on 127.0.0.1 (in arguments, settings and health-check URLs).
    """
    db_values, db_hosts = database_local(database_url)
    exact, hosts = {"0.0.0.0": "127.0.0.1"}, {**nats_hosts, **db_hosts}
    for port in SERVICE_PORTS:
        free = str(devstack.free_port())
        exact[port] = free
        hosts[f"127.0.0.1:{port}"] = f"127.0.0.1:{free}"
    return db_values, Local(hosts, exact)


@dataclass(frozen=True)
class Pipeline:
    """Pipeline: the services of a compose project running here, and the demo key ingest accepts."""

    ingest_url: str
    token: str
    logs: Path


async def run_one_shot(model: ComposeModel, service: str, local: Local, logs: Path, timeout: float = 120) -> str:
    """run_one_shot runs a one-shot compose service's command with its environment; returns its output."""
    argv = local.argv(model.argv(service))
    env = container_env(**local.env(model.environment(service)))
    done = await asyncio.to_thread(
        subprocess.run, argv, env=env, capture_output=True, text=True, timeout=timeout, cwd=logs
    )
    (logs / f"{service}.log").write_text(done.stdout + done.stderr)
    assert done.returncode == 0, f"{service} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


@asynccontextmanager
async def pipeline(
    model: ComposeModel, local: Local, logs: Path, services: Sequence[str] = ("aggregator", "alerts", "ingest")
) -> AsyncIterator[Pipeline]:
    """pipeline runs the compose project's one-shots (migrate, demo-setup) then ``services`` in order,
    each with its compose command, environment and health check; stops them in reverse order.
    """
    logs.mkdir(parents=True, exist_ok=True)
    state = logs / "state"  # the demo-state volume
    state.mkdir(exist_ok=True)
    local = Local(local.hosts, local.exact, {**local.paths, "/var/lib/dxmon": str(state), "/tmp/": f"{logs}/"})
    await run_one_shot(model, "migrate", local, logs)
    await run_one_shot(model, "demo-setup", local, logs)
    token = (state / "demo-key").read_text().strip()

    started: list[Service] = []
    try:
        for name in services:  # sinks first, as depends_on orders them
            health = local.value(model.services[name]["healthcheck"]["test"][-1])
            svc = Service(
                name,
                local.argv(model.argv(name)),
                health,
                logs / f"{name}.log",
                container_env(**local.env(model.environment(name))),
            )
            svc.start()
            started.append(svc)
            await asyncio.to_thread(svc.wait_ready, 60)
        ingest_port = local.exact["8080"]
        yield Pipeline(f"http://127.0.0.1:{ingest_port}", token, logs)
    finally:
        for svc in reversed(started):
            svc.stop()
