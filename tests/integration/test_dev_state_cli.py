"""`dxmon status` run where `dxmon dev` runs reaches the dev stack's database (no DX_ variables set)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dxmon import devstack

pytestmark = pytest.mark.integration


def dxmon(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DX_")}
    return subprocess.run(
        [sys.executable, "-m", "dxmon", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_status_uses_the_dev_stack_of_its_directory(database_url: str, tmp_path: Path) -> None:
    # The pid in the state file must run: this test's own process stands in for `dxmon dev`.
    devstack.write_dev_state(tmp_path / devstack.DEV_STATE_FILE, {"database_url": database_url})
    done = dxmon(tmp_path, "status", "QN-P-HONGGAI")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Hồng Gai" in done.stdout
