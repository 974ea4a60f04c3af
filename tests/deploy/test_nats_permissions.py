"""NATS least privilege with the project's own config (deploy/nats/nats.conf + auth.conf).

1. The compose project runs here without Docker: its one-shots (migrate, demo-setup) and the real
   ingest, aggregator and alerts services, each with the command, environment and health check
   docker-compose.yml gives it, carry reports from HTTP to the database while nats-server logs
   no refusal.
2. Each service user trying something outside its job is refused by the server (table below).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from contextlib import suppress
from pathlib import Path

import asyncpg
import httpx
import nats
import pytest
from compose_model import ComposeModel
from deploy_support import COMPOSE_FILE, pipeline, services_local, wait_for
from nats.js.api import ConsumerConfig

from dxmon.bus import connect, connect_options
from dxmon.contracts import DEADLETTER_STREAM, KEYS_BUCKET, LEASES_BUCKET, REPORTS_STREAM
from dxmon.keys import KeyRing, KeyStore

pytestmark = pytest.mark.integration


async def test_services_run_with_exactly_their_permissions(
    secured_nats, values: dict[str, str], database_url: str, tmp_path: Path
):
    db_values, local = services_local({"nats:4222": secured_nats.address}, database_url)
    model = ComposeModel.load(COMPOSE_FILE, env={**values, **db_values})
    listener = await connect(secured_nats.settings("admin"), "test")
    notices = await listener.subscribe("dx.stored.v1.>")
    try:
        async with pipeline(
            model, local, tmp_path / "compose", services=("aggregator", "alerts", "ingest", "entry")
        ) as p:
            reports = [
                {
                    "event_id": str(uuid.uuid4()),
                    "unit": "QN",
                    "indicator": "DG-04",
                    "observed_at": f"2025-0{m}-28",
                    "numerator": 600 + m,
                    "denominator": 1000,
                }
                for m in range(1, 4)
            ]
            async with httpx.AsyncClient(base_url=p.ingest_url, timeout=10) as http:
                response = await http.post("/v1/reports", json=reports, headers={"Authorization": f"Bearer {p.token}"})
            assert response.status_code == 202, response.text
            assert response.json()["accepted"] == 3

            conn = await asyncpg.connect(database_url)
            try:
                await wait_for(lambda: _stored(conn, 3), 30, "3 stored reports")
            finally:
                await conn.close()
            notice = await notices.next_msg(timeout=10)
            assert notice.subject == "dx.stored.v1.QN"

            # The entry service publishes an import as its own user, reading the database as its own login.
            entry_url = f"http://127.0.0.1:{local.exact['8081']}"
            csv = ("Mã ĐVHC,Mã chỉ tiêu,Mã kỳ,Tử số,Mẫu số\r\nQN,DG-04,2025-04,640,1000\r\n").encode()
            async with httpx.AsyncClient(base_url=entry_url, timeout=30) as http:
                imported = await http.post(
                    "/v1/imports",
                    params={"dry_run": "false", "filename": "mau.csv"},
                    content=csv,
                    headers={"Authorization": f"Bearer {p.token}", "Content-Type": "text/csv"},
                )
            assert imported.status_code == 202, imported.text
            assert imported.json()["published"] == {"accepted": 1, "duplicates": 0}
            conn = await asyncpg.connect(database_url)
            try:
                await wait_for(lambda: _stored(conn, 4), 30, "the imported report stored")
            finally:
                await conn.close()

            # The alerts service holds the evaluator lease (KV create/renew under its own user).
            leases = await listener.jetstream().key_value(LEASES_BUCKET)
            await wait_for(lambda: _has_keys(leases), 30, "the alerts lease in dx_leases")

            # A poison message (only the admin can put one there) exercises the dead-letter publish.
            await listener.jetstream().publish("dx.reports.v1.QN.DG-04", b"not a report", stream=REPORTS_STREAM)
            await wait_for(lambda: _messages(listener, DEADLETTER_STREAM, 1), 30, "the poison message in DX_DEADLETTER")
    finally:
        await listener.close()
    assert secured_nats.violations() == [], "a service needed a subject its NATS user may not use"


async def _messages(nc: nats.NATS, stream: str, n: int) -> bool:
    return (await nc.jetstream().stream_info(stream)).state.messages == n


async def _stored(conn: asyncpg.Connection, n: int) -> bool:
    return await conn.fetchval("SELECT count(DISTINCT event_id) FROM reports") == n


# Each forbidden action is one call a compromised or buggy service might make, and the subject the
# server must refuse. Requests that are refused simply get no answer, so they time out quickly here.
Action = Callable[[nats.NATS, object], Awaitable[object]]
FORBIDDEN: list = [
    # ingest: may only publish reports and read the key bucket.
    (
        "ingest",
        "consume-reports",
        lambda nc, js: js.pull_subscribe_bind("aggregator", REPORTS_STREAM),
        "Publish",
        "$JS.API.CONSUMER.MSG.NEXT.DX_REPORTS.aggregator",
    ),
    ("ingest", "subscribe-reports", lambda nc, js: nc.subscribe("dx.reports.v1.>"), "Subscription", "dx.reports.v1.>"),
    (
        "ingest",
        "create-consumer",
        lambda nc, js: js.add_consumer(REPORTS_STREAM, ConsumerConfig(durable_name="spy")),
        "Publish",
        "$JS.API.CONSUMER.DURABLE.CREATE.DX_REPORTS.spy",
    ),
    (
        "ingest",
        "forge-stored-notice",
        lambda nc, js: nc.publish("dx.stored.v1.QN", b"{}"),
        "Publish",
        "dx.stored.v1.QN",
    ),
    (
        "ingest",
        "publish-alert",
        lambda nc, js: nc.publish("dx.alerts.v1.behind.QN", b"{}"),
        "Publish",
        "dx.alerts.v1.behind.QN",
    ),
    (
        "ingest",
        "write-key",
        lambda nc, js: nc.publish(f"$KV.{KEYS_BUCKET}.forged", b"{}"),
        "Publish",
        f"$KV.{KEYS_BUCKET}.forged",
    ),
    (
        "ingest",
        "delete-stream",
        lambda nc, js: js.delete_stream(REPORTS_STREAM),
        "Publish",
        "$JS.API.STREAM.DELETE.DX_REPORTS",
    ),
    # aggregator: may only consume reports and publish stored notices and dead letters.
    (
        "aggregator",
        "forge-report",
        lambda nc, js: nc.publish("dx.reports.v1.QN.DG-04", b"{}"),
        "Publish",
        "dx.reports.v1.QN.DG-04",
    ),
    (
        "aggregator",
        "publish-alert",
        lambda nc, js: nc.publish("dx.alerts.v1.behind.QN", b"{}"),
        "Publish",
        "dx.alerts.v1.behind.QN",
    ),
    ("aggregator", "read-keys", lambda nc, js: js.key_value(KEYS_BUCKET), "Publish", "$JS.API.STREAM.INFO.KV_dx_keys"),
    (
        "aggregator",
        "delete-consumer",
        lambda nc, js: js.delete_consumer(REPORTS_STREAM, "aggregator"),
        "Publish",
        "$JS.API.CONSUMER.DELETE.DX_REPORTS.aggregator",
    ),
    (
        "aggregator",
        "purge-dead-letters",
        lambda nc, js: js.purge_stream(DEADLETTER_STREAM),
        "Publish",
        "$JS.API.STREAM.PURGE.DX_DEADLETTER",
    ),
    # alerts: may only hear stored notices, publish alert events, hold its lease and read the key bucket.
    (
        "alerts",
        "consume-reports",
        lambda nc, js: js.pull_subscribe_bind("aggregator", REPORTS_STREAM),
        "Publish",
        "$JS.API.CONSUMER.MSG.NEXT.DX_REPORTS.aggregator",
    ),
    (
        "alerts",
        "forge-report",
        lambda nc, js: nc.publish("dx.reports.v1.QN.DG-04", b"{}"),
        "Publish",
        "dx.reports.v1.QN.DG-04",
    ),
    (
        "alerts",
        "forge-stored-notice",
        lambda nc, js: nc.publish("dx.stored.v1.QN", b"{}"),
        "Publish",
        "dx.stored.v1.QN",
    ),
    (
        "alerts",
        "write-key",
        lambda nc, js: nc.publish(f"$KV.{KEYS_BUCKET}.forged", b"{}"),
        "Publish",
        f"$KV.{KEYS_BUCKET}.forged",
    ),
    (
        "alerts",
        "purge-keys",
        lambda nc, js: js.purge_stream(f"KV_{KEYS_BUCKET}"),
        "Publish",
        f"$JS.API.STREAM.PURGE.KV_{KEYS_BUCKET}",
    ),
    (
        "alerts",
        "delete-key-bucket",
        lambda nc, js: js.delete_key_value(KEYS_BUCKET),
        "Publish",
        f"$JS.API.STREAM.DELETE.KV_{KEYS_BUCKET}",
    ),
    (
        "alerts",
        "delete-lease-bucket",
        lambda nc, js: js.delete_key_value(LEASES_BUCKET),
        "Publish",
        "$JS.API.STREAM.DELETE.KV_dx_leases",
    ),
    # No user may hear replies meant for another: key entries reach ingest on its inbox.
    ("alerts", "hear-every-inbox", lambda nc, js: nc.subscribe("_INBOX.>"), "Subscription", "_INBOX.>"),
    ("alerts", "hear-ingest-inbox", lambda nc, js: nc.subscribe("_INBOX.ingest.>"), "Subscription", "_INBOX.ingest.>"),
    ("alerts", "hear-default-inboxes", lambda nc, js: nc.subscribe("_INBOX.*.*"), "Subscription", "_INBOX.*.*"),
    (
        "alerts",
        "hear-key-writes",
        lambda nc, js: nc.subscribe(f"$KV.{KEYS_BUCKET}.>"),
        "Subscription",
        f"$KV.{KEYS_BUCKET}.>",
    ),
    (
        "aggregator",
        "hear-ingest-inbox",
        lambda nc, js: nc.subscribe("_INBOX.ingest.>"),
        "Subscription",
        "_INBOX.ingest.>",
    ),
    ("ingest", "hear-alerts-inbox", lambda nc, js: nc.subscribe("_INBOX.alerts.>"), "Subscription", "_INBOX.alerts.>"),
    # entry: the same job as ingest, on its own inboxes.
    (
        "entry",
        "consume-reports",
        lambda nc, js: js.pull_subscribe_bind("aggregator", REPORTS_STREAM),
        "Publish",
        "$JS.API.CONSUMER.MSG.NEXT.DX_REPORTS.aggregator",
    ),
    (
        "entry",
        "write-key",
        lambda nc, js: nc.publish(f"$KV.{KEYS_BUCKET}.forged", b"{}"),
        "Publish",
        f"$KV.{KEYS_BUCKET}.forged",
    ),
    ("entry", "hear-ingest-inbox", lambda nc, js: nc.subscribe("_INBOX.ingest.>"), "Subscription", "_INBOX.ingest.>"),
    ("ingest", "hear-entry-inbox", lambda nc, js: nc.subscribe("_INBOX.entry.>"), "Subscription", "_INBOX.entry.>"),
]


@pytest.mark.parametrize(
    ("user", "action", "kind", "subject"),
    [pytest.param(user, action, kind, subject, id=f"{user}-{name}") for user, name, action, kind, subject in FORBIDDEN],
)
async def test_service_users_are_refused_outside_their_job(
    secured_nats, user: str, action: Action, kind: str, subject: str
):
    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))

    # Replies come to the user's own inboxes, as for the services (dxmon.bus.inbox_prefix).
    nc = await nats.connect(
        secured_nats.url,
        user=user,
        password=secured_nats.passwords[user],
        error_cb=on_error,
        max_reconnect_attempts=0,
        inbox_prefix=f"_INBOX.{user}",
    )
    # A refused request is never answered: a short timeout (what is checked is the server's refusal,
    # below) keeps the 29 cases from waiting a second each.
    js = nc.jetstream(timeout=0.25)

    def told() -> Awaitable[bool]:
        return _told(errors, subject)

    try:
        try:
            result = await action(nc, js)
            if hasattr(result, "fetch"):  # a bound pull subscription: asking for messages is the refused part
                with pytest.raises(nats.errors.TimeoutError):
                    await result.fetch(1, timeout=0.25)
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


async def _has_keys(kv) -> bool:
    try:
        return bool(await kv.keys())
    except nats.js.errors.NoKeysError:
        return False


async def test_alerts_user_cannot_hear_the_key_entries_ingest_reads(secured_nats, catalog):
    """Ingest's key ring follows dx_keys as the ingest user while the alerts user listens on every
    subject it may, and tries the ones it may not: a key created meanwhile reaches ingest only."""
    ingest = await connect(secured_nats.settings("ingest"), "dx-ingest")
    ring = KeyRing(catalog)
    follow = asyncio.create_task(ring.follow(await ingest.jetstream().key_value(KEYS_BUCKET)))
    errors: list[str] = []
    heard: list[bytes] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))

    async def on_msg(msg) -> None:
        heard.append(msg.subject.encode() + b" " + msg.data)

    alerts_settings = secured_nats.settings("alerts")
    alerts = await nats.connect(
        **{**connect_options(alerts_settings, "dx-alerts"), "error_cb": on_error, "max_reconnect_attempts": 0}
    )
    admin = await connect(secured_nats.settings("admin"), "dxmon-keys")
    try:
        for subject in ("_INBOX.>", "_INBOX.ingest.>", "_INBOX.alerts.>", "dx.stored.v1.>", f"$KV.{KEYS_BUCKET}.>"):
            await alerts.subscribe(subject, cb=on_msg)
        await asyncio.wait_for(ring.loaded.wait(), 10)
        key, token = await KeyStore(await admin.jetstream().key_value(KEYS_BUCKET), catalog).create(
            "Sở Thông tin và Truyền thông", ["QN"]
        )
        await wait_for(lambda: _verified(ring, token), 10, "ingest's ring to see the new key")
        await alerts.flush()
        await asyncio.sleep(0.5)
        assert not [h for h in heard if key.secret_sha256.encode() in h or key.key_id.encode() in h], heard
        for refused in ("_INBOX.>", "_INBOX.ingest.>", f"$KV.{KEYS_BUCKET}.>"):
            await wait_for(lambda r=refused: _told(errors, r), 5, f"the alerts user to be refused {refused}")
    finally:
        follow.cancel()
        with suppress(asyncio.CancelledError):
            await follow
        for nc in (alerts, admin, ingest):
            await nc.close()
    # Ingest itself needed nothing outside its permissions to follow the bucket.
    assert not [v for v in secured_nats.violations() if v[0] == "ingest"]


async def test_alerts_user_follows_the_key_bucket(secured_nats, catalog):
    """The alerts service verifies agency keys for a unit's own report: its user follows dx_keys as ingest
    does (a key created, then revoked, is seen both times), needing nothing outside its permissions."""
    alerts = await connect(secured_nats.settings("alerts"), "dx-alerts")
    admin = await connect(secured_nats.settings("admin"), "dxmon-keys")
    ring = KeyRing(catalog)
    follow = asyncio.create_task(ring.follow(await alerts.jetstream().key_value(KEYS_BUCKET)))
    try:
        await asyncio.wait_for(ring.loaded.wait(), 10)
        store = KeyStore(await admin.jetstream().key_value(KEYS_BUCKET), catalog)
        key, token = await store.create("UBND phường Hồng Gai", ["QN-P-HONGGAI"])
        await wait_for(lambda: _verified(ring, token), 10, "the alerts ring to see the new key")
        assert await store.revoke(key.key_id)
        await wait_for(lambda: _revoked(ring, token), 10, "the alerts ring to drop the revoked key")
    finally:
        follow.cancel()
        with suppress(asyncio.CancelledError):
            await follow
        for nc in (alerts, admin):
            await nc.close()
    assert not [v for v in secured_nats.violations() if v[0] == "alerts"]


async def _revoked(ring: KeyRing, token: str) -> bool:
    return ring.verify(token) is None


async def _verified(ring: KeyRing, token: str) -> bool:
    return ring.verify(token) is not None


async def _told(errors: list[str], subject: str) -> bool:
    return any(subject.lower() in e.lower() for e in errors)


async def _logged(secured_nats, violation: tuple[str, str, str]) -> bool:
    return violation in secured_nats.violations()
