"""The compose files are valid Compose and follow the deployment's rules (no Docker engine needed).

Validation uses the Compose specification's JSON schema (vendored in compose_spec/, see SOURCE.md)
on the project as Compose would build it: interpolated with a filled-in .env, override merged.
The rules are checked service by service; whether the wiring *works* is proven by the tests that
run the same commands and environments (test_nats_permissions, test_nats_cluster).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from compose_model import ComposeModel, InterpolationError, load_yaml
from deploy_support import CLUSTER_FILE, COMPOSE_FILE, DEPLOY, ROOT, deploy_values

SCHEMA = json.loads((Path(__file__).parent / "compose_spec" / "compose-spec.json").read_text())
PROJECTS = {"single": (COMPOSE_FILE,), "cluster": (COMPOSE_FILE, CLUSTER_FILE)}
SECRET = re.compile(r"PASSWORD|TOKEN|SECRET")
STATE_PATHS = ("/var/lib/postgresql/data", "/data", "/var/lib/grafana")


def project(name: str, **overrides: str) -> dict[str, Any]:
    return ComposeModel.load(*PROJECTS[name], env=deploy_values(**overrides)).data


def is_one_shot(svc: dict[str, Any]) -> bool:
    return svc.get("restart") == "no"


def services(name: str) -> list[Any]:
    return [pytest.param(name, s, id=f"{name}-{s}") for s in project(name)["services"]]


ALL_SERVICES = services("single") + services("cluster")


@pytest.mark.parametrize("name", PROJECTS)
def test_project_matches_the_compose_specification(name: str):
    jsonschema.Draft202012Validator(SCHEMA).validate(project(name))


def test_schema_check_catches_mistakes():
    broken = project("single")
    broken["services"]["ingest"]["restart"] = ["always"]  # a list where a string belongs
    broken["services"]["ingest"]["helthcheck"] = {}  # a misspelt key
    errors = list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(broken))
    assert len(errors) >= 2


def test_every_secret_is_required():
    """Leaving a password out of .env stops `docker compose` with a message, never runs unprotected."""
    for key in deploy_values():
        if key.endswith("_PASSWORD") and key != "DX_NATS_CLUSTER_PASSWORD":
            with pytest.raises(InterpolationError, match=key):
                project("single", **{key: ""})
    with pytest.raises(InterpolationError, match="DX_NATS_CLUSTER_PASSWORD"):
        project("cluster", DX_NATS_CLUSTER_PASSWORD="")


@pytest.mark.parametrize(("name", "service"), ALL_SERVICES)
def test_service_has_restart_policy_and_healthcheck(name: str, service: str):
    svc = project(name)["services"][service]
    assert svc.get("restart") in ("unless-stopped", "no")
    check = svc["healthcheck"]
    if is_one_shot(svc):
        assert check == {"disable": True}  # a one-shot is judged by its exit code
    else:
        assert not check.get("disable") and check["test"][0] in ("CMD", "CMD-SHELL")


@pytest.mark.parametrize(("name", "service"), ALL_SERVICES)
def test_dependencies_wait_for_health_or_completion(name: str, service: str):
    p = project(name)
    for dep, rule in p["services"][service].get("depends_on", {}).items():
        target = p["services"][dep]
        if is_one_shot(target):
            assert rule["condition"] == "service_completed_successfully", dep
        else:
            assert rule["condition"] == "service_healthy", dep
            assert not target["healthcheck"].get("disable"), dep


@pytest.mark.parametrize("name", PROJECTS)
def test_application_services_start_after_their_infrastructure(name: str):
    p = project(name)["services"]
    nodes = [s for s in p if s.startswith("nats")]
    for svc in ("migrate", "ingest", "aggregator", "alerts", "entry"):
        deps = p[svc]["depends_on"]
        assert all(n in deps for n in nodes), svc
    for svc in ("migrate", "aggregator", "alerts", "grafana", "entry"):
        assert "timescaledb" in p[svc]["depends_on"], svc
    for svc in ("ingest", "aggregator", "alerts", "grafana", "entry"):
        assert "migrate" in p[svc]["depends_on"], svc


@pytest.mark.parametrize(("name", "service"), ALL_SERVICES)
def test_state_lives_in_named_volumes(name: str, service: str):
    p = project(name)
    for volume in p["services"][service].get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith((".", "/")):
            assert target not in STATE_PATHS, f"{service} keeps {target} in a bind mount"
            assert (DEPLOY / source).resolve().exists(), f"{service} mounts missing {source}"
        else:
            assert source in p["volumes"], f"{service} uses undeclared volume {source}"


@pytest.mark.parametrize(("name", "service"), ALL_SERVICES)
def test_images_are_pinned_and_dx_containers_hardened(name: str, service: str):
    svc = project(name)["services"][service]
    if "build" in svc:
        assert svc["build"]["dockerfile"] == "deploy/Dockerfile"
        assert svc["read_only"] is True and svc["cap_drop"] == ["ALL"]
        assert "no-new-privileges:true" in svc["security_opt"]
    else:
        image, _, tag = svc["image"].rpartition(":")
        assert image and re.search(r"\d+\.\d+", tag) and tag != "latest", svc["image"]


@pytest.mark.parametrize(("name", "service"), ALL_SERVICES)
def test_shell_commands_parse(name: str, service: str):
    svc = project(name)["services"][service]
    if svc.get("entrypoint") == ["sh", "-c"]:
        done = subprocess.run(["sh", "-n", "-c", svc["command"][0]], capture_output=True, text=True, timeout=10)
        assert done.returncode == 0, done.stderr


def test_timescaledb_is_postgres_16_or_newer_and_required():
    p = project("single")
    tag = p["services"]["timescaledb"]["image"].split(":")[1]
    assert int(re.search(r"pg(\d+)", tag)[1]) >= 16
    assert p["services"]["migrate"]["environment"]["DX_REQUIRE_TIMESCALE"] == "true"


RAW_FILES = [COMPOSE_FILE, CLUSTER_FILE]


def _env_entries(node: Any, path: str = ""):
    """_env_entries yields (where, key, raw value) for every environment mapping in a raw compose file."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "environment" and isinstance(v, dict):
                for ek, ev in v.items():
                    yield f"{path}.{k}", ek, ev
            else:
                yield from _env_entries(v, f"{path}.{k}")
    elif isinstance(node, list):
        for item in node:
            yield from _env_entries(item, path)


@pytest.mark.parametrize("path", RAW_FILES, ids=lambda p: p.name)
def test_no_secret_is_written_in_the_compose_files(path: Path):
    entries = list(_env_entries(load_yaml(path)))
    assert entries
    for where, key, value in entries:
        if SECRET.search(key):
            assert value in ("", None) or re.fullmatch(r"\$\{[A-Z0-9_]+(:?[-?][^}]*)?\}", str(value)), (where, key)
    # Route credentials only by reference, inside DX_NATS_ROUTES.
    assert not re.search(r"//route:(?!\$\{DX_NATS_CLUSTER_PASSWORD\}@)", path.read_text())


@pytest.mark.parametrize("name", PROJECTS)
def test_no_superuser_or_admin_credentials_at_runtime(name: str):
    values = deploy_values()
    for service, svc in project(name)["services"].items():
        if is_one_shot(svc) or "build" not in svc:
            continue
        env = svc["environment"]
        assert env["DX_NATS_USER"] not in ("admin", ""), service
        assert env["DX_NATS_PASSWORD"] != values["DX_NATS_ADMIN_PASSWORD"], service
        for url in (env[k] for k in ("DX_DATABASE_URL", "DX_ENTRY_DATABASE_URL") if k in env):
            named = re.match(r"postgresql://([^@:/]+)@", url)
            assert named, f"{service}: no user in {url}"
            user = named[1]
            assert user not in (values["POSTGRES_USER"], "postgres"), service
            assert env["PGPASSWORD"] != values["POSTGRES_PASSWORD"], service
    # Each service its own NATS user and database login.
    p = project(name)["services"]
    assert len({p[s]["environment"]["DX_NATS_USER"] for s in ("ingest", "aggregator", "alerts", "entry")}) == 4
    assert p["aggregator"]["environment"]["DX_DATABASE_URL"] != p["alerts"]["environment"]["DX_DATABASE_URL"]


@pytest.mark.parametrize(
    ("service", "port"),
    [("ingest", "8080"), ("aggregator", "DX_AGGREGATOR_METRICS_PORT"), ("alerts", "DX_ALERTS_PORT"), ("entry", "8081")],
)
def test_health_checks_probe_the_port_the_service_listens_on(service: str, port: str):
    svc = project("single")["services"][service]
    listening = port if port.isdigit() else svc["environment"][port]
    if service in ("ingest", "entry"):
        assert svc["command"][svc["command"].index("--port") + 1] == listening
    assert svc["healthcheck"]["test"][-1].startswith(f"http://127.0.0.1:{listening}/")


def test_grafana_gets_every_variable_its_provisioning_reads():
    grafana = project("single")["services"]["grafana"]
    mount = next(v for v in grafana["volumes"] if v.endswith(":/etc/grafana/provisioning:ro"))
    provisioning = (DEPLOY / mount.split(":")[0]).resolve()
    assert provisioning == ROOT / "grafana" / "provisioning"
    used = set()
    for f in provisioning.rglob("*.yaml"):
        used |= set(re.findall(r"\$\{?(DX_[A-Z0-9_]+)", f.read_text()))
    assert used, "the datasource takes its login from the environment"
    assert used <= set(grafana["environment"]), used - set(grafana["environment"])
    ds = [yaml.safe_load(f.read_text()) for f in (provisioning / "datasources").glob("*.yaml")]
    assert {d["uid"] for doc in ds for d in doc["datasources"]} == {"dx-tsdb"}


@pytest.mark.parametrize("name", PROJECTS)
def test_nats_nodes_get_every_variable_their_config_reads(name: str):
    p = project(name)["services"]
    for service in (s for s in p if s.startswith("nats")):
        command = p[service]["command"]
        config = DEPLOY / "nats" / Path(command[command.index("-c") + 1]).name
        text = config.read_text() + (DEPLOY / "nats" / "auth.conf").read_text()
        lines = [line.split("#", 1)[0] for line in text.splitlines()]  # comments mention variables too
        needed = set(re.findall(r"\$(DX_[A-Z0-9_]+)", "\n".join(lines)))
        assert "DX_NATS_ADMIN_PASSWORD" in needed
        assert needed <= set(p[service]["environment"]), (service, needed - set(p[service]["environment"]))


def test_cluster_runs_three_nodes_and_scales_the_services():
    p = project("cluster")["services"]
    names = [p[s]["command"][p[s]["command"].index("--name") + 1] for s in p if s.startswith("nats")]
    assert sorted(names) == ["nats-1", "nats-2", "nats-3"]
    for svc in ("migrate", "ingest", "aggregator", "alerts", "demo-setup"):
        assert p[svc]["environment"]["DX_NATS_URL"].count("nats://") == 3, svc
    assert p["migrate"]["environment"]["DX_STREAM_REPLICAS"] == "3"
    assert int(p["ingest"]["deploy"]["replicas"]) > 1 and int(p["aggregator"]["deploy"]["replicas"]) > 1
    assert int(p["alerts"]["deploy"]["replicas"]) == 2  # one evaluates, one waits for the lease
    assert p["ingest"]["ports"] == ["127.0.0.1:8080-8082:8080"]  # !override: one host port per replica


def published(p: dict[str, Any]) -> dict[str, list[str]]:
    """published: each service's published ports, as Compose reads them (host address first)."""
    return {name: [str(port) for port in svc.get("ports", [])] for name, svc in p["services"].items()}


@pytest.mark.parametrize("name", PROJECTS)
def test_ports_are_published_on_loopback_by_default(name: str):
    ports = published(project(name))
    assert {s for s, v in ports.items() if v} == {"ingest", "entry", "grafana", "mailpit"}  # nothing else, ever
    for service, entries in ports.items():
        for entry in entries:
            assert entry.startswith("127.0.0.1:"), (service, entry)


@pytest.mark.parametrize("name", PROJECTS)
def test_publishing_elsewhere_is_one_switch_and_never_exposes_mailpit(name: str):
    ports = published(project(name, DX_PUBLISH_ADDRESS="0.0.0.0"))
    assert all(e.startswith("0.0.0.0:") for s in ("ingest", "entry", "grafana") for e in ports[s])
    assert all(e.startswith("127.0.0.1:") for e in ports["mailpit"])  # every digest, no login


def test_the_alerts_api_needs_its_tokens():
    """The alerts service listens on the compose network, so it must have tokens (it refuses to start without)."""
    with pytest.raises(InterpolationError, match="DX_ALERTS_API_TOKENS"):
        project("single", DX_ALERTS_API_TOKENS="")
    env = project("single")["services"]["alerts"]["environment"]
    from services.alerts.settings import AlertsSettings

    settings = AlertsSettings(
        _env_file=None, alerts_host=env["DX_ALERTS_HOST"], alerts_api_tokens=env["DX_ALERTS_API_TOKENS"]
    )
    assert list(settings.api_tokens().values()) == ["vanhanh"]


def test_the_setup_line_fills_every_secret(tmp_path: Path):
    """The one-liner of .env.example (and deploy/README.md) generates every password and the API token."""
    text = (DEPLOY / ".env.example").read_text()
    header = "\n".join(line[1:] for line in text.splitlines() if line.startswith("#   "))
    command = header[header.index("awk") :].split("&& chmod")[0]
    assert command.strip().endswith(".env.example > .env")
    readme = (DEPLOY / "README.md").read_text()
    assert all(part.strip() in readme for part in command.split("\n")), "deploy/README.md shows the same line"
    to_stdout = command.strip().removesuffix("> .env")  # the test must not write deploy/.env
    done = subprocess.run(["sh", "-c", to_stdout], cwd=DEPLOY, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    (tmp_path / ".env").write_text(done.stdout)
    from compose_model import read_env_file

    values = read_env_file(tmp_path / ".env")
    secrets_ = {k: v for k, v in values.items() if SECRET.search(k) and k not in ("DX_GRAFANA_TOKEN",)}
    assert secrets_ and all(secrets_.values()), [k for k, v in secrets_.items() if not v]
    assert re.fullmatch(r"vanhanh:[0-9a-f]{48}", values["DX_ALERTS_API_TOKENS"])
    ComposeModel.load(COMPOSE_FILE, env=values)  # nothing left for Compose to demand


def test_the_proxy_example_terminates_tls_and_keeps_operational_routes_inside():
    caddy = (DEPLOY / "Caddyfile.example").read_text()
    sites = re.findall(r"^(\S+) \{", caddy, re.MULTILINE)
    assert sites and not any(site.startswith("http://") or ":" in site for site in sites)  # Caddy's automatic HTTPS
    assert re.search(r"@internal path /metrics /readyz /healthz\s+respond @internal 404", caddy)
    assert "Caddyfile.example" in (DEPLOY / "README.md").read_text()


@pytest.mark.parametrize("name", PROJECTS)
def test_metrics_ports_stay_on_the_compose_network(name: str):
    p = project(name)["services"]
    published = {str(port).rsplit(":", 1)[-1] for svc in p.values() for port in svc.get("ports", [])}
    ingest = p["ingest"]["environment"]
    assert ingest["DX_INGEST_METRICS_PORT"] not in published and ingest["DX_INGEST_METRICS_PORT"] != "8080"
    assert {
        p["aggregator"]["environment"]["DX_AGGREGATOR_METRICS_PORT"],
        p["alerts"]["environment"]["DX_ALERTS_PORT"],
    }.isdisjoint(published)
