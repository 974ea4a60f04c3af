"""Fixtures for the deployment tests: servers run from the files in ``deploy/``, as the containers do.

- ``secured_nats``: a nats-server started from ``deploy/nats/nats.conf`` (users, subject permissions,
  passwords from the environment), its streams and buckets declared by the admin user.
- ``pg_admin_url`` (overrides the root fixture for this directory): a PostgreSQL that checks
  passwords (SCRAM) for every user but the superuser, like the TimescaleDB image does, so the
  service logins created by ``dxmon db create-users`` are really authenticated.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from deploy_support import DEPLOY, NATS_USERS, nats_process, nats_settings, violations
from dxmon import devstack
from dxmon.bus import connect, ensure_topology
from dxmon.settings import NatsSettings


@pytest.fixture(scope="session")
def nats_passwords() -> Iterator[dict[str, str]]:
    """nats_passwords: fresh passwords per session, exported the way compose passes them to nats-server."""
    passwords = {user: secrets.token_hex(16) for user in (*NATS_USERS, "cluster")}
    with pytest.MonkeyPatch.context() as mp:
        for user, password in passwords.items():
            mp.setenv(f"DX_NATS_{user.upper()}_PASSWORD", password)
        yield passwords


@dataclass
class SecuredNats:
    """SecuredNats is a running server from deploy/nats/nats.conf and the passwords of its users."""

    server: devstack.LocalServer
    passwords: dict[str, str]

    @property
    def url(self) -> str:
        return self.server.url

    def settings(self, user: str, **extra) -> NatsSettings:
        return nats_settings(self.url, user, self.passwords, **extra)

    def violations(self) -> list[tuple[str, str, str]]:
        return violations(self.server.log_path)


@pytest.fixture
async def secured_nats(tmp_path: Path, nats_passwords: dict[str, str]) -> AsyncIterator[SecuredNats]:
    """secured_nats: the single-node config with streams, consumer and buckets declared by admin."""
    server = nats_process(DEPLOY / "nats" / "nats.conf", tmp_path / "nats").start()
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
        f.write("local all postgres trust\n"
                "host all postgres 127.0.0.1/32 trust\n"
                "local all all scram-sha-256\n"
                "host all all 127.0.0.1/32 scram-sha-256\n")
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)
