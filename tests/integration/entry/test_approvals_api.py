"""Data approval over HTTP on the entry service, end to end: reports posted to ingest are stored by the
aggregator (submitted), an approver key approves, returns with a comment (the alerts flush queues the
notice), the unit corrects through ingest (submitted again), the approver approves; the audit says who,
which key, when and what. Refusals: no key 401, a reporter key 403, an approver outside its scope 403.

The entry service runs with least privilege, as ``dxmon db create-users`` makes its login: a member of
``dx_reader`` and ``dx_approver``, read-only sessions for its reads, decisions through a pool of their own.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from dxmon import devstack
from dxmon.bus import connect
from dxmon.catalog import Catalog
from dxmon.keys import APPROVER, KeyStore
from services.alerts.alert import Severity
from services.alerts.dispatch import Dispatcher
from services.alerts.metrics import Metrics
from services.alerts.outbox import Backoff, OutboxWorker
from services.alerts.repository import add_subscription
from services.entry.app import create_app
from tests.integration.alerts.alerts_fixtures import start_receiver
from tests.integration.entry.conftest import entry_settings
from tests.pipeline import Pipeline, Served, report

pytestmark = pytest.mark.integration

UNIT = "QN-P-HONGGAI"


async def login_in(admin_url: str, database_url: str, groups: str) -> str:
    """login_in creates a LOGIN member of ``groups`` (trust auth on the throwaway server) and returns its URL."""
    name = f"dxt_entry_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE ROLE "{name}" LOGIN IN ROLE {groups}')  # names are ours, not input
    finally:
        await conn.close()
    scheme, rest = database_url.split("://", 1)
    return f"{scheme}://{name}@{rest.split('@', 1)[1]}"


async def approver_key(pipeline: Pipeline, catalog: Catalog, agency: str, units: list[str]) -> tuple[str, str]:
    assert pipeline.ingest_settings is not None  # Pipeline.setup fills it
    nc = await connect(pipeline.ingest_settings, "test-keys")
    try:
        key, token = await (await KeyStore.open(nc.jetstream(), catalog)).create(agency, units, role=APPROVER)
        return key.key_id, token
    finally:
        await nc.close()


@pytest.fixture
async def approving_entry(
    pipeline: Pipeline, catalog: Catalog, pg_admin_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[str]:
    monkeypatch.delenv("DX_APPROVALS_DATABASE_URL", raising=False)
    login = await login_in(pg_admin_url, pipeline.database_url, "dx_reader, dx_approver")
    settings = entry_settings(pipeline, entry_database_url=login)
    served = Served(create_app(settings, dataclasses.replace(catalog, approval=True)), devstack.free_port())
    await served.start()
    yield f"http://127.0.0.1:{served.port}"
    await served.stop()


async def post_reports(pipeline: Pipeline, *bodies: dict) -> None:
    async with httpx.AsyncClient(base_url=pipeline.ingest_url, headers=pipeline.headers, timeout=30) as http:
        answer = await http.post("/v1/reports", json=list(bodies))
        assert answer.status_code == 202, answer.text
    await pipeline.wait_drained()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def october(http: httpx.AsyncClient, token: str) -> dict:
    listed = await http.get("/v1/approvals", params={"unit": UNIT}, headers=bearer(token))
    assert listed.status_code == 200, listed.text
    [found] = [p for p in listed.json() if p["period"] == "2026-10"]
    return found


async def test_approve_return_correct_approve_over_http(
    pipeline: Pipeline, catalog: Catalog, approving_entry: str
) -> None:
    key_id, token = await approver_key(pipeline, catalog, "Sở Khoa học và Công nghệ", ["QN"])
    await post_reports(
        pipeline,
        report(UNIT, "DG-04", "2026-10-31", numerator=60, denominator=100),
        report(UNIT, "DG-05", "2026-10-31", numerator=70, denominator=100),
    )
    async with httpx.AsyncClient(base_url=approving_entry, timeout=30) as http:
        first = await october(http, token)
        assert (first["approval"], first["period_label"], first["counts"]) == (
            "submitted",
            "tháng 10/2026",
            {"submitted": 2, "approved": 0, "returned": 0},
        )

        approved = await http.post(f"/v1/approvals/{UNIT}/2026-10/approve", headers=bearer(token))
        assert approved.status_code == 201, approved.text
        assert (approved.json()["by"], approved.json()["key_id"]) == ("Sở Khoa học và Công nghệ", key_id)
        assert (await october(http, token))["approval"] == "approved"
        again = await http.post(f"/v1/approvals/{UNIT}/2026-10/approve", headers=bearer(token))
        assert (again.status_code, again.json()["reason"]) == (409, "already-decided")
        assert again.headers["content-type"] == "application/problem+json"

        no_comment = await http.post(
            f"/v1/approvals/{UNIT}/2026-10/return", json={"indicator": "DG-04"}, headers=bearer(token)
        )
        assert (no_comment.status_code, no_comment.json()["reason"]) == (422, "comment-required")
        returned = await http.post(
            f"/v1/approvals/{UNIT}/2026-10/return",
            headers=bearer(token),
            json={"indicator": "DG-04", "comment": "Mẫu số chưa khớp với hệ thống"},
        )
        assert returned.status_code == 201, returned.text
        states = {v["indicator"]: v["approval"] for v in (await october(http, token))["indicators"]}
        assert states == {"DG-04": "returned", "DG-05": "approved"}

        # The alerts service tells the unit's subscribers once: flush (outbox), then delivery to their webhook.
        receiver, server = start_receiver()
        admin = await asyncpg.connect(pipeline.database_url)
        pool = await asyncpg.create_pool(pipeline.database_url, min_size=1, max_size=2)
        try:
            await add_subscription(admin, UNIT, False, [], Severity.WARNING, f"{receiver.url}/honggai")
            await add_subscription(admin, "QN-P-UONGBI", False, [], Severity.WARNING, f"{receiver.url}/uongbi")
            dispatcher = Dispatcher(
                pool,
                {u.code: u.parent for u in catalog.units.values()},
                Metrics(),
                repeat_interval=timedelta(days=7),
                escalate_after=timedelta(days=30),
                public_url=None,
            )
            await dispatcher.flush(datetime.now(UTC))
            await dispatcher.flush(datetime.now(UTC))
            worker = OutboxWorker(
                pool, Metrics(), lambda: datetime.now(UTC), backoff=Backoff(1, 1), max_attempts=1, send_timeout=5
            )
            await worker.deliver_due()
        finally:
            await pool.close()
            await admin.close()
            server.shutdown()
        [told] = receiver.bodies()
        assert [r.path for r in receiver.requests] == ["/honggai"]
        assert told["subject"] == (
            "[Chuyển đổi số Quảng Ninh] Báo cáo tháng 10/2026 của Phường Hồng Gai "
            "(QN-P-HONGGAI) bị trả lại: Mẫu số chưa khớp với hệ thống"
        )
        assert (told["type"], told["indicator"], told["by"]) == (
            "approval_returned",
            "DG-04",
            "Sở Khoa học và Công nghệ",
        )

        # The unit corrects DG-04 through ingest: submitted again, then approved.
        await post_reports(pipeline, report(UNIT, "DG-04", "2026-10-31", numerator=65, denominator=100))
        states = {v["indicator"]: v["approval"] for v in (await october(http, token))["indicators"]}
        assert states == {"DG-04": "submitted", "DG-05": "approved"}
        final = await http.post(
            f"/v1/approvals/{UNIT}/2026-10/approve", json={"comment": "Đã kiểm tra"}, headers=bearer(token)
        )
        assert final.status_code == 201, final.text
        assert (await october(http, token))["approval"] == "approved"

        audit = await http.get("/v1/approvals/decisions", params={"unit": UNIT}, headers=bearer(token))
        assert audit.status_code == 200, audit.text
        assert [(d["decision"], d["indicator"], d["comment"], d["by"], d["key_id"]) for d in audit.json()] == [
            ("approved", None, "", "Sở Khoa học và Công nghệ", key_id),
            ("returned", "DG-04", "Mẫu số chưa khớp với hệ thống", "Sở Khoa học và Công nghệ", key_id),
            ("approved", None, "Đã kiểm tra", "Sở Khoa học và Công nghệ", key_id),
        ]
        times = [d["at"] for d in audit.json()]
        assert times == sorted(times)


async def test_who_may_decide(pipeline: Pipeline, catalog: Catalog, approving_entry: str) -> None:
    _, neighbour = await approver_key(pipeline, catalog, "UBND phường Uông Bí", ["QN-P-UONGBI"])
    _, own = await approver_key(pipeline, catalog, "UBND phường Hồng Gai", [UNIT])
    await post_reports(pipeline, report(UNIT, "DG-04", "2026-10-31", numerator=60, denominator=100))
    url = f"/v1/approvals/{UNIT}/2026-10/approve"
    async with httpx.AsyncClient(base_url=approving_entry, timeout=30) as http:
        missing = await http.post(url)
        assert (missing.status_code, missing.json()["reason"]) == (401, "missing-credentials")
        wrong = await http.post(url, headers=bearer("dxk_0123456789abcdef_" + "x" * 43))
        assert (wrong.status_code, wrong.json()["reason"]) == (401, "invalid-credentials")
        reporter = await http.post(url, headers=bearer(pipeline.token))  # covers QN and all below: still a reporter
        assert (reporter.status_code, reporter.json()["reason"]) == (403, "not-an-approver")
        assert (await http.get("/v1/approvals", headers=bearer(pipeline.token))).status_code == 403
        outside = await http.post(url, headers=bearer(neighbour))
        assert (outside.status_code, outside.json()["reason"]) == (403, "outside-approval-scope")
        listed = await http.get("/v1/approvals", params={"unit": UNIT}, headers=bearer(neighbour))
        assert (listed.status_code, listed.json()["reason"]) == (403, "outside-approval-scope")
        assert await pipeline.fetchval("SELECT count(*) FROM approval_decisions") == 0

        unknown = await http.get("/v1/approvals", params={"unit": "QN-NOPE"}, headers=bearer(own))
        assert (unknown.status_code, unknown.json()["reason"]) == (422, "unknown-unit")
        bad = await http.post(f"/v1/approvals/{UNIT}/2026-13/approve", headers=bearer(own))
        assert (bad.status_code, bad.json()["reason"]) == (422, "invalid-period")
        junk = await http.post(url, content=b"[1]", headers=bearer(own))
        assert (junk.status_code, junk.json()["reason"]) == (422, "not-an-object")
        extra = await http.post(url, json={"decided_by": "someone else"}, headers=bearer(own))
        assert (extra.status_code, extra.json()["reason"]) == (422, "unknown-field")

        # A body over the limit is refused as it arrives (declared or not), never held whole.
        async def chunks():
            for _ in range(100):
                yield b" " * 4096  # 400 kB of whitespace, no Content-Length

        huge = await http.post(url, content=chunks(), headers=bearer(own))
        assert (huge.status_code, huge.json()["reason"]) == (413, "body-too-large")
        declared = await http.post(url, content=b"{}" + b" " * 70_000, headers=bearer(own))
        assert (declared.status_code, declared.json()["reason"]) == (413, "body-too-large")
        english = await http.post(
            f"/v1/approvals/{UNIT}/2026-09/approve", headers={**bearer(own), "Accept-Language": "en"}
        )
        assert (english.status_code, english.json()["detail"]) == (
            409,
            "nothing is reported for QN-P-HONGGAI, 2026-09 yet",
        )
        ok = await http.post(url, headers=bearer(own))  # a unit's own approver key
        assert ok.status_code == 201, ok.text


async def test_approval_off_is_refused(entry) -> None:
    nc = await connect(entry.pipeline.ingest_settings, "test-keys")
    try:
        _, token = await (await KeyStore.open(nc.jetstream(), entry.pipeline.catalog)).create(
            "Sở KH&CN", ["QN"], role=APPROVER
        )
    finally:
        await nc.close()
    async with entry.client(token=token) as http:
        listed = await http.get("/v1/approvals")
        assert (listed.status_code, listed.json()["reason"]) == (409, "approval-off")
        decided = await http.post(f"/v1/approvals/{UNIT}/2026-10/approve")
        assert (decided.status_code, decided.json()["reason"]) == (409, "approval-off")
