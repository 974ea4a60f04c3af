"""The image definition (deploy/Dockerfile), its pinned dependencies and its health probe.

No Docker engine here, so the image is never built by the tests: the Dockerfile is read and its
rules checked, the lock file is checked against pyproject.toml, and healthcheck.py (which the
image runs every few seconds) is run against a real local HTTP server.
"""

from __future__ import annotations

import fnmatch
import http.server
import re
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator

import pytest
from deploy_support import DEPLOY, ROOT
from packaging.requirements import Requirement
from packaging.version import Version

DOCKERFILE = (DEPLOY / "Dockerfile").read_text()
LOCK = (DEPLOY / "requirements.lock").read_text()


def instructions() -> list[tuple[str, str]]:
    """instructions: (INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", "\n".join(ln for ln in DOCKERFILE.splitlines() if not ln.lstrip().startswith("#")))
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1]) for ln in text.splitlines() if ln.strip()]


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (op, _) in enumerate(steps) if op == "FROM")
    return steps[last_from:]


def test_runs_as_an_unprivileged_user():
    users = [args for op, args in final_stage() if op == "USER"]
    assert users, "the final stage must switch away from root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    assert re.search(rf"useradd [^\n]*--uid {user}\b", DOCKERFILE)


def test_has_a_healthcheck_and_runs_dxmon():
    stage = dict(final_stage())
    assert "/app/healthcheck.py" in stage["HEALTHCHECK"]
    assert stage["ENTRYPOINT"] == '["dxmon"]'
    assert "DX_CATALOG_DIR=/app/catalog" in stage["ENV"]  # the installed package finds the catalog


def test_base_images_are_slim_and_pinned():
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE, re.MULTILINE)[1]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", base)
    assert all(args.split()[0] == "${PYTHON_IMAGE}" for op, args in instructions() if op == "FROM")


def test_dependencies_come_only_from_the_hashed_lock():
    installs = [args for op, args in instructions() if op == "RUN" and "pip install" in args]
    assert any("--require-hashes" in i and "-r /tmp/requirements.lock" in i for i in installs)
    assert all("--no-deps" in i for i in installs)  # nothing resolved at build time


def test_copied_sources_exist_and_pass_the_dockerignore():
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    patterns = [p.strip() for p in ignore if p.strip() and not p.startswith("#")]
    sources = []
    for op, args in instructions():
        if op == "COPY" and "--from=" not in args:
            sources += args.split()[:-1]
    assert sources
    for src in sources:
        assert (ROOT / src).exists(), src
        included = False
        for p in patterns:  # last match wins, as in .dockerignore
            negate = p.startswith("!")
            pattern = p.lstrip("!").removesuffix("/**")
            if fnmatch.fnmatch(src, pattern) or src == pattern or src.startswith(pattern + "/"):
                included = negate
        assert included, f"{src} is excluded from the build context"


def test_the_final_stage_can_make_the_reports_pdf():
    """The alerts service converts the report to PDF with LibreOffice (dxmon.report.pdf): the image carries the
    packages scripts/bootstrap.sh installs for the tests (poppler only reads PDFs back, in the tests), no
    recommended extras, and no apt lists left behind. The image itself is not built here (no Docker)."""
    installs = [args for op, args in final_stage() if op == "RUN" and "apt-get install" in args]
    assert len(installs) == 1, installs
    wanted = re.search(r'report_packages="([^"]+)"', (ROOT / "scripts" / "bootstrap.sh").read_text())[1].split()
    assert set(installs[0].split()) >= {*wanted} - {"poppler-utils"} and "--no-install-recommends" in installs[0]
    assert installs[0].rstrip().endswith("rm -rf /var/lib/apt/lists/*")
    steps = final_stage()
    assert steps.index(("RUN", installs[0])) < next(i for i, (op, _) in enumerate(steps) if op == "USER")


def locked() -> dict[str, Version]:
    return {m[1].lower(): Version(m[2]) for m in re.finditer(r"^([A-Za-z0-9_.\-]+)==(\S+) \\$", LOCK, re.MULTILINE)}


def test_lock_pins_every_package_with_hashes():
    entries = re.split(r"\n(?=[A-Za-z0-9])", LOCK.split("\n", 1)[1].strip())
    packages = [e for e in entries if not e.startswith("#")]
    assert len(packages) == len(locked()) > 20
    for entry in packages:
        assert "--hash=sha256:" in entry, entry.splitlines()[0]


def test_lock_satisfies_pyproject_and_holds_no_test_tools():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = locked()
    for spec in project["dependencies"]:
        req = Requirement(spec)
        name = req.name.lower()
        assert name in pins, f"{name} is missing from deploy/requirements.lock: regenerate it (deploy/README.md)"
        assert req.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]} does not satisfy {spec}"
    runtime = {Requirement(spec).name.lower() for spec in project["dependencies"]}
    for spec in project["optional-dependencies"]["test"]:
        name = Requirement(spec).name.lower()
        assert name in runtime or name not in pins, f"test tool {spec} would ship in the image"


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # http.server's naming
        status = 200 if self.path == "/readyz" else 503
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b'{"ready": true}' if status == 200 else b'{"ready": false, "database": false}')

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)  # quick shutdown()
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.parametrize(
    ("path", "code", "seen"),
    [
        pytest.param("/readyz", 0, "200", id="ready"),
        pytest.param("/other", 1, "503", id="not-ready"),
    ],
)
def test_healthcheck_exit_code_follows_the_answer(http_server: str, path: str, code: int, seen: str):
    done = subprocess.run(
        [sys.executable, str(DEPLOY / "healthcheck.py"), http_server + path], capture_output=True, text=True, timeout=10
    )
    assert done.returncode == code
    assert seen in done.stdout


def test_healthcheck_fails_when_nothing_listens():
    from dxmon.devstack import free_port

    done = subprocess.run(
        [sys.executable, str(DEPLOY / "healthcheck.py"), f"http://127.0.0.1:{free_port()}/healthz", "1"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert done.returncode == 1
    assert "ConnectionRefused" in done.stdout or "URLError" in done.stdout
