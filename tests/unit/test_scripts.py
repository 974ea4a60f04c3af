"""scripts/dev.sh installs only what running the stack needs; scripts/test.sh adds the test tools and
runs the hygiene checks (ruff, mypy) before pytest.

The scripts run in a copy of the repository whose .venv holds stand-ins that record how they were
called, so nothing is installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RECORD = 'echo "$(basename "$0") $*" >> "$(dirname "$0")/../calls"\n'


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "scripts", tmp_path / "scripts")
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for tool in ("python", "uv", "dxmon", "pytest", "ruff", "mypy"):
        (bin_dir / tool).write_text("#!/bin/sh\n" + RECORD)
        (bin_dir / tool).chmod(0o755)
    return tmp_path


def run_script(repo: Path, script: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    # A database URL stands for "PostgreSQL is there", so the embedded wheel is never added here.
    environ = {k: v for k, v in os.environ.items() if k != "DX_EXTRAS"} | {"DX_TEST_DATABASE_URL": "postgresql://x"}
    return subprocess.run(
        ["bash", str(repo / "scripts" / script), *args], env=environ | env, capture_output=True, text=True, timeout=60
    )


def run(repo: Path, script: str, *args: str, **env: str) -> list[str]:
    run_script(repo, script, *args, **env).check_returncode()
    return (repo / ".venv" / "calls").read_text().splitlines()


def test_dev_installs_no_test_tools(repo: Path):
    calls = run(repo, "dev.sh")
    assert calls == ["uv pip install --python .venv/bin/python -q -e .", "dxmon dev"]


def test_test_installs_the_test_tools(repo: Path):
    calls = run(repo, "test.sh")
    assert calls[0] == "uv pip install --python .venv/bin/python -q -e .[test]"


def test_test_runs_the_hygiene_checks_before_pytest(repo: Path):
    calls = run(repo, "test.sh", "tests/unit")
    # The stand-ins record "name arguments", so mypy (no arguments) is "mypy ".
    assert calls[1:] == ["ruff check .", "ruff format --check .", "mypy ", "pytest tests/unit"]


def test_test_fails_without_running_pytest_when_a_check_fails(repo: Path):
    (repo / ".venv" / "bin" / "ruff").write_text("#!/bin/sh\n" + RECORD + 'test "$1" != format\n')
    result = run_script(repo, "test.sh")
    assert result.returncode == 1
    assert "hygiene check failed: ruff format --check" in result.stderr
    calls = (repo / ".venv" / "calls").read_text().splitlines()
    assert calls[1:] == ["ruff check .", "ruff format --check .", "mypy "]


def test_extras_can_be_chosen(repo: Path):
    assert run(repo, "dev.sh", DX_EXTRAS="test")[0].endswith("-e .[test]")
