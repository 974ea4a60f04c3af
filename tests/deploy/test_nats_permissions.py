"""NATS least privilege with the project's own config (deploy/nats/nats.conf + auth.conf).

1. The real services, started as the containers start them (``dxmon serve …`` with only their own
   DX_ variables), carry reports from HTTP to the database while nats-server logs no refusal.
2. Each service user trying something outside its job is refused by the server (table below).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import httpx
import nats
import pytest
from deploy_support import login_url, run_dxmon
from nats.js.api import ConsumerConfig

from dxmon import devstack
from dxmon.bus import connect
from dxmon.catalog import Catalog
from dxmon.cli.dev import Service
from dxmon.contracts import DEADLETTER_STREAM, KEYS_BUCKET, LEASES_BUCKET, REPORTS_STREAM
from dxmon.keys import KeyStore

pytestmark = pytest.mark.integration


def service_env(**values: str) -> dict[str, str]:
    """service_env: the process environment minus any DX_/PG variable, plus ``values`` (as in a container)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DX_", "PG"))}
    return {**clean, **values}


def dxmon_argv(*args: str) -> list[str]:
    return [sys.executable, "-c", "from dxmon.cli import main; main()", *args]


async def wait_for(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


async def test_services_run_with_exactly_their_permissions(secured_nats, database_url: str, catalog: Catalog,
                                                           tmp_path: Path):
    nats_env = lambda user: {"DX_NATS_URL": secured_nats.url, "DX_NATS_USER": user,  # noqa: E731
                             "DX_NATS_PASSWORD": secured_nats.passwords[user]}
    # The database side as in the compose file: the migration ran as admin, the aggregator logs in as its user.
    password = secrets.token_urlsafe(24)
    users = run_dxmon("db", "create-users", env={
        "DX_DATABASE_URL": database_url, "DX_AGGREGATOR_DB_USER": f"dx_agg_{secrets.token_hex(3)}",
        "DX_AGGREGATOR_DB_PASSWORD": password, "DX_ALERTS_DB_USER": f"dx_alr_{secrets.token_hex(3)}",
        "DX_ALERTS_DB_PASSWORD": secrets.token_urlsafe(24), "DX_GRAFANA_DB_USER": f"dx_gra_{secrets.token_hex(3)}",
        "DX_GRAFANA_DB_PASSWORD": secrets.token_urlsafe(24)})
    assert users.returncode == 0, users.stderr
    aggregator_user = users.stderr.split("database user ", 2)[1].split(":")[0]
    aggregator_url = login_url(database_url, aggregator_user, "x").replace(":x@", "@")  # password via PGPASSWORD

    admin = await connect(secured_nats.settings("admin"), "dxmon-keys")
    _, token = await (await KeyStore.open(admin.jetstream(), catalog)).create("test", ["QN"], with_descendants=True)
    await admin.close()

    # alerts' side of the bus: hears stored notices (the alerts service subscribes the same way).
    alerts = await connect(secured_nats.settings("alerts"), "dx-alerts")
    notices = await alerts.subscribe("dx.stored.v1.>")

    ingest_port, aggregator_port = devstack.free_port(), devstack.free_port()
    ingest = Service("ingest", dxmon_argv("serve", "ingest", "--host", "127.0.0.1", "--port", str(ingest_port)),
                     f"http://127.0.0.1:{ingest_port}/readyz", tmp_path / "ingest.log", service_env(**nats_env("ingest")))
    aggregator = Service(
        "aggregator", dxmon_argv("serve", "aggregator", "--host", "127.0.0.1", "--port", str(aggregator_port)),
        f"http://127.0.0.1:{aggregator_port}/readyz", tmp_path / "aggregator.log",
        service_env(**nats_env("aggregator"), DX_DATABASE_URL=aggregator_url, PGPASSWORD=password),
    )
    started = []
    try:
        for svc in (aggregator, ingest):  # sinks first, as in the compose file's depends_on
            svc.start()
            started.append(svc)
            await asyncio.to_thread(svc.wait_ready, 60)
        reports = [{"event_id": str(uuid.uuid4()), "unit": "QN", "indicator": "DG-04",
                    "observed_at": f"2025-0{m}-28", "numerator": 600 + m, "denominator": 1000} for m in range(1, 4)]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ingest_port}", timeout=10) as http:
            response = await http.post("/v1/reports", json=reports, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 202, response.text
        assert response.json()["accepted"] == 3

        conn = await asyncpg.connect(database_url)
        try:
            await wait_for(lambda: _count(conn), 30, "3 stored reports")
            stored_by = await conn.fetchval("SELECT count(DISTINCT event_id) FROM reports")
        finally:
            await conn.close()
        assert stored_by == 3
        notice = await notices.next_msg(timeout=10)
        assert notice.subject == "dx.stored.v1.QN"

        # A poison message (only the admin can put one there) exercises the dead-letter publish.
        admin = await connect(secured_nats.settings("admin"), "test")
        await admin.jetstream().publish("dx.reports.v1.QN.DG-04", b"not a report", stream=REPORTS_STREAM)
        dead = lambda: _messages(admin, DEADLETTER_STREAM, 1)  # noqa: E731
        await wait_for(dead, 30, "the poison message in DX_DEADLETTER")
        await admin.close()
    finally:
        for svc in reversed(started):
            svc.stop()
        await alerts.close()
    assert secured_nats.violations() == [], "a service needed a subject its NATS user may not use"


async def _messages(nc: nats.NATS, stream: str, n: int) -> bool:
    return (await nc.jetstream().stream_info(stream)).state.messages == n


async def _count(conn: asyncpg.Connection) -> bool:
    return await conn.fetchval("SELECT count(*) FROM reports") == 3


# Each forbidden action is one call a compromised or buggy service might make, and the subject the
# server must refuse. Requests that are refused simply get no answer, so they time out quickly here.
Action = Callable[[nats.NATS, object], Awaitable[object]]
FORBIDDEN: list = [
    # ingest: may only publish reports and read the key bucket.
    ("ingest", "consume-reports", lambda nc, js: js.pull_subscribe_bind("aggregator", REPORTS_STREAM),
     "Publish", "$JS.API.CONSUMER.MSG.NEXT.DX_REPORTS.aggregator"),
    ("ingest", "subscribe-reports", lambda nc, js: nc.subscribe("dx.reports.v1.>"), "Subscription", "dx.reports.v1.>"),
    ("ingest", "create-consumer", lambda nc, js: js.add_consumer(REPORTS_STREAM, ConsumerConfig(durable_name="spy")),
     "Publish", "$JS.API.CONSUMER.DURABLE.CREATE.DX_REPORTS.spy"),
    ("ingest", "forge-stored-notice", lambda nc, js: nc.publish("dx.stored.v1.QN", b"{}"), "Publish", "dx.stored.v1.QN"),
    ("ingest", "publish-alert", lambda nc, js: nc.publish("dx.alerts.v1.behind.QN", b"{}"),
     "Publish", "dx.alerts.v1.behind.QN"),
    ("ingest", "write-key", lambda nc, js: nc.publish(f"$KV.{KEYS_BUCKET}.forged", b"{}"),
     "Publish", f"$KV.{KEYS_BUCKET}.forged"),
    ("ingest", "delete-stream", lambda nc, js: js.delete_stream(REPORTS_STREAM),
     "Publish", "$JS.API.STREAM.DELETE.DX_REPORTS"),
    # aggregator: may only consume reports and publish stored notices and dead letters.
    ("aggregator", "forge-report", lambda nc, js: nc.publish("dx.reports.v1.QN.DG-04", b"{}"),
     "Publish", "dx.reports.v1.QN.DG-04"),
    ("aggregator", "publish-alert", lambda nc, js: nc.publish("dx.alerts.v1.behind.QN", b"{}"),
     "Publish", "dx.alerts.v1.behind.QN"),
    ("aggregator", "read-keys", lambda nc, js: js.key_value(KEYS_BUCKET), "Publish", "$JS.API.STREAM.INFO.KV_dx_keys"),
    ("aggregator", "delete-consumer", lambda nc, js: js.delete_consumer(REPORTS_STREAM, "aggregator"),
     "Publish", "$JS.API.CONSUMER.DELETE.DX_REPORTS.aggregator"),
    ("aggregator", "purge-dead-letters", lambda nc, js: js.purge_stream(DEADLETTER_STREAM),
     "Publish", "$JS.API.STREAM.PURGE.DX_DEADLETTER"),
    # alerts: may only hear stored notices, publish alert events and hold its lease.
    ("alerts", "consume-reports", lambda nc, js: js.pull_subscribe_bind("aggregator", REPORTS_STREAM),
     "Publish", "$JS.API.CONSUMER.MSG.NEXT.DX_REPORTS.aggregator"),
    ("alerts", "forge-report", lambda nc, js: nc.publish("dx.reports.v1.QN.DG-04", b"{}"),
     "Publish", "dx.reports.v1.QN.DG-04"),
    ("alerts", "forge-stored-notice", lambda nc, js: nc.publish("dx.stored.v1.QN", b"{}"), "Publish", "dx.stored.v1.QN"),
    ("alerts", "read-keys", lambda nc, js: js.key_value(KEYS_BUCKET), "Publish", "$JS.API.STREAM.INFO.KV_dx_keys"),
    ("alerts", "delete-lease-bucket", lambda nc, js: js.delete_key_value(LEASES_BUCKET),
     "Publish", "$JS.API.STREAM.DELETE.KV_dx_leases"),
]


@pytest.mark.parametrize(
    ("user", "action", "kind", "subject"),
    [pytest.param(user, action, kind, subject, id=f"{user}-{name}") for user, name, action, kind, subject in FORBIDDEN],
)
async def test_service_users_are_refused_outside_their_job(secured_nats, user: str, action: Action, kind: str,
                                                           subject: str):
    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))

    nc = await nats.connect(secured_nats.url, user=user, password=secured_nats.passwords[user], error_cb=on_error,
                            max_reconnect_attempts=0)
    js = nc.jetstream(timeout=1)
    told = lambda: _told(errors, subject)  # noqa: E731
    try:
        try:
            result = await action(nc, js)
            if hasattr(result, "fetch"):  # a bound pull subscription: asking for messages is the refused part
                with pytest.raises(nats.errors.TimeoutError):
                    await result.fetch(1, timeout=1)
        except (nats.errors.TimeoutError, TimeoutError, nats.js.errors.NotFoundError):
            pass  # refused requests get no answer
        await wait_for(told, 5, f"the client to be told {subject} is refused")
    finally:
        await nc.close()
    await wait_for(lambda: _logged(secured_nats, (user, kind, subject)), 5, f"{kind} violation for {subject} logged")

    # Nothing a refused call asked for happened: the topology the admin declared is intact.
    admin = await connect(secured_nats.settings("admin"), "check")
    ajs = admin.jetstream()
    assert (await ajs.consumer_info(REPORTS_STREAM, "aggregator")).name == "aggregator"
    assert [c.name for c in await ajs.consumers_info(REPORTS_STREAM)] == ["aggregator"]
    await ajs.key_value(LEASES_BUCKET)
    await admin.close()


async def _told(errors: list[str], subject: str) -> bool:
    return any(subject.lower() in e.lower() for e in errors)


async def _logged(secured_nats, violation: tuple[str, str, str]) -> bool:
    return violation in secured_nats.violations()
