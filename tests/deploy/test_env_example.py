"""Every variable dx-monitor reads is offered in deploy/.env.example and documented in the README.

The variables are discovered from the code (``dxmon.config_doc``: every pydantic-settings class in
``dxmon`` and ``services``), so a new setting fails here until it is added to .env.example, passed
through the compose file when operators may set it, and listed in README.md's configuration table.
"""

from __future__ import annotations

import re

import pytest
from compose_model import load_yaml, read_env_file
from deploy_support import CLUSTER_FILE, COMPOSE_FILE, DEPLOY, ROOT

from dxmon.config_doc import variables

ENV_EXAMPLE = DEPLOY / ".env.example"
# Read by the compose file's own commands (demo-setup), not by a settings class.
COMPOSE_ONLY = {"DX_DEMO_CHANNEL"}


def offered() -> dict[str, bool]:
    """offered: every NAME in .env.example, True when assigned, False when listed commented out."""
    names: dict[str, bool] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        m = re.match(r"^(#\s*)?([A-Z][A-Z0-9_]*)=", line)
        if m:
            names[m[2]] = names.get(m[2], False) or not m[1]
    return names


def readme_table() -> set[str]:
    """readme_table: the first-column names (in backticks) of README.md's tables."""
    return set(re.findall(r"^\|\s*`([A-Z][A-Z0-9_]+)`\s*\|", (ROOT / "README.md").read_text(), re.MULTILINE))


SETTINGS = sorted(v.name for v in variables())


def test_settings_are_discovered():
    assert {"DX_NATS_URL", "DX_DATABASE_URL", "DX_AGGREGATOR_DB_PASSWORD", "DX_ALERTS_PORT"} <= set(SETTINGS)


@pytest.mark.parametrize("name", SETTINGS)
def test_every_setting_is_in_env_example(name: str):
    assert name in offered(), f"add {name} to deploy/.env.example (commented out if compose sets it)"


@pytest.mark.parametrize("name", SETTINGS)
def test_every_setting_is_in_the_readme_table(name: str):
    assert name in readme_table(), f"README.md's configuration table lacks {name}"


def test_every_assigned_variable_reaches_the_compose_project():
    """A variable set in .env that no compose file reads would be silently ignored."""
    text = COMPOSE_FILE.read_text() + CLUSTER_FILE.read_text()
    unused = [name for name, assigned in offered().items() if assigned and f"${{{name}" not in text]
    assert unused == []


def test_secrets_are_empty_in_the_example():
    values = read_env_file(ENV_EXAMPLE)
    secret = [k for k, v in values.items() if re.search(r"PASSWORD|TOKEN|SECRET", k) and v]
    assert secret == []
    assert sum(k.endswith("_PASSWORD") for k in values) >= 10


def test_compose_sets_only_real_settings():
    """A misspelt DX_ name in a service's environment would be ignored by pydantic-settings."""
    known = set(SETTINGS) | COMPOSE_ONLY
    for path in (COMPOSE_FILE, CLUSTER_FILE):
        for name, svc in load_yaml(path)["services"].items():
            if name in ("nats", "nats-2", "nats-3", "grafana"):
                continue  # their variables are read by nats-server and Grafana's provisioning
            env = svc.get("environment", {})
            unknown = [k for k in env if k.startswith("DX_") and k not in known]
            assert unknown == [], (path.name, name)
