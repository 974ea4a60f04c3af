"""Fixtures for the deployment tests: servers run from the files in ``deploy/``, as the containers do.

- ``values``: the session's deploy/.env (.env.example with generated passwords).
- ``secured_nats``: nats-server as the compose `nats` service runs it (deploy/nats/nats.conf: users,
  subject permissions, passwords from the environment), streams and buckets declared by admin.
- ``pg_admin_url`` (overrides the root fixture for this directory): a PostgreSQL that checks
  passwords (SCRAM) for every user but the superuser, like the TimescaleDB image does, so the
  service logins created by ``dxmon db create-users`` are really authenticated. With
  DX_TEST_DATABASE_URL that server is used instead, and it must check passwords too.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from compose_model import ComposeModel
from deploy_support import COMPOSE_FILE, NATS_USERS, Local, deploy_values, nats_node, nats_settings, violations

from dxmon import devstack
from dxmon.bus import connect, ensure_topology
from dxmon.settings import NatsSettings


@pytest.fixture(scope="session")
def values() -> dict[str, str]:
    """values: one deploy/.env for the session (.env.example with generated passwords)."""
    return deploy_values()


@pytest.fixture(scope="session")
def nats_passwords(values: dict[str, str]) -> dict[str, str]:
    """nats_passwords: the NATS users' passwords by user name, as .env gives them to nats-server."""
    return {user: values[f"DX_NATS_{user.upper()}_PASSWORD"] for user in (*NATS_USERS, "cluster")}


@dataclass
class SecuredNats:
    """SecuredNats is the compose file's `nats` service running here, and its users' passwords."""

    server: devstack.LocalServer
    passwords: dict[str, str]

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def address(self) -> str:
        return self.url.removeprefix("nats://")

    def settings(self, user: str, **extra) -> NatsSettings:
        return nats_settings(self.url, user, self.passwords, **extra)

    def violations(self) -> list[tuple[str, str, str]]:
        return violations(self.server.log_path)


@pytest.fixture
async def secured_nats(
    tmp_path: Path, values: dict[str, str], nats_passwords: dict[str, str]
) -> AsyncIterator[SecuredNats]:
    """secured_nats: deploy/nats/nats.conf as the compose `nats` service runs it, streams declared by admin."""
    model = ComposeModel.load(COMPOSE_FILE, env=values)
    server, _ = nats_node(model, "nats", tmp_path / "nats", Local())
    server.start()
    try:
        secured = SecuredNats(server, nats_passwords)
        nc = await connect(secured.settings("admin"), "dxmon-migrate")
        await ensure_topology(nc.jetstream(), secured.settings("admin"))
        await nc.close()
        yield secured
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """pg_admin_url: superuser URL of a PostgreSQL that requires SCRAM passwords from everyone else."""
    if os.environ.get("DX_TEST_DATABASE_URL"):
        yield os.environ["DX_TEST_DATABASE_URL"]
        return
    # Outside pytest's basetemp: a pytest session starting meanwhile resets that tree to mode 0700,
    # which locks out the server when it runs as the postgres user (we are root).
    base = Path(tempfile.mkdtemp(prefix="dx-deploy-pg-"))
    server = devstack.postgres_server(base, durable=False)
    hba = server.argv[server.argv.index("-D") + 1] + "/pg_hba.conf"
    # Overwrite in place so the file keeps the server user's ownership.
    with open(hba, "w") as f:
        f.write(
            "local all postgres trust\n"
            "host all postgres 127.0.0.1/32 trust\n"
            "local all all scram-sha-256\n"
            "host all all 127.0.0.1/32 scram-sha-256\n"
        )
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)
