"""``dxmon keys`` as a person runs it (a process, 80 columns) against a real NATS: user text is never
read as markup, and key ids are shown whole so they can be pasted into ``keys revoke``."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from dxmon.bus import connect, ensure_topology
from dxmon.settings import NatsSettings
from tests.unit.test_cli_output import table_columns

pytestmark = pytest.mark.integration


@pytest.fixture
async def migrated(nats_url: str) -> str:
    """migrated: a NATS server with the streams and buckets, as after `dxmon migrate`."""
    settings = NatsSettings(nats_url=nats_url)
    nc = await connect(settings, "test-migrate")
    try:
        await ensure_topology(nc.jetstream(), settings)
    finally:
        await nc.close()
    return nats_url


def dxmon(nats_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DX_NATS_URL": nats_url, "COLUMNS": "80", "TERM": "dumb"}
    return subprocess.run(
        [sys.executable, "-m", "dxmon", "keys", *args], env=env, capture_output=True, text=True, timeout=60
    )


async def test_brackets_in_names_are_kept_and_ids_are_whole(migrated: str):
    nats_url = migrated
    agency = "Phòng [/] VH [cũ] — Sở Văn hoá, Thể thao và Du lịch tỉnh Quảng Ninh [bold]"
    created = dxmon(
        nats_url,
        "create",
        "--agency",
        agency,
        "--units",
        "QN-HALONG,QN",
        "--with-descendants",
        "--label",
        "hệ thống [red]báo cáo[/red]",
    )
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    shown = re.fullmatch(r"dxk_([0-9a-f]{16})_\S+", token)  # the token is shown once, whole
    assert shown, token
    key_id = shown.group(1)
    assert agency in " ".join(created.stdout.split())

    listed = dxmon(nats_url, "list")
    assert listed.returncode == 0, listed.stderr
    assert all(len(line) <= 80 for line in listed.stdout.splitlines())
    assert re.search(rf"\b{key_id}\b", listed.stdout), listed.stdout  # on one line, not cut with "…"
    columns = table_columns(listed.stdout)
    assert columns[1] == agency.replace(" ", "")  # wrapped over lines, every bracket kept
    assert columns[2] == "QN-HALONG,QN" and columns[5] == "hệthống[red]báocáo[/red]"

    revoked = dxmon(nats_url, "revoke", key_id)
    assert revoked.returncode == 0, revoked.stderr
    assert key_id not in dxmon(nats_url, "list").stdout


async def test_errors_quote_user_text_as_is(migrated: str):
    nats_url = migrated
    refused = dxmon(nats_url, "create", "--agency", "Sở [x]", "--units", "QN-[/]")
    assert refused.returncode == 2
    assert "QN-[/]" in refused.stdout + refused.stderr
    missing = dxmon(nats_url, "revoke", "[/]")
    assert missing.returncode == 1 and "[/]" in missing.stdout + missing.stderr
