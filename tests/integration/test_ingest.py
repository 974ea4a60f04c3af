"""Ingest against a real NATS server: PubAck before 202, duplicates, keys, scope, outages."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid

import httpx
import nats
import pytest

from dxmon import devstack
from dxmon.contracts import KEYS_BUCKET, REPORTS_STREAM, ReportIn, ReportReceived, message_id
from dxmon.keys import ApiKey, hash_secret
from services.ingest.app import create_app
from services.ingest.settings import IngestSettings
from tests.pipeline import Pipeline, Served, report

pytestmark = pytest.mark.integration


async def stream_messages(nats_url: str) -> int:
    nc = await nats.connect(nats_url)
    try:
        return (await nc.jetstream().stream_info(REPORTS_STREAM)).state.messages
    finally:
        await nc.close()


async def test_single_report_is_in_the_stream_when_202_is_answered(ingest_only: Pipeline):
    body = report(note="Phường Hồng Gai — báo cáo tháng 9")
    async with httpx.AsyncClient(base_url=ingest_only.ingest_url, headers=ingest_only.headers) as client:
        answer = await client.post("/v1/reports", json=body)
    assert answer.status_code == 202, answer.text
    assert answer.json() == {
        "accepted": 1,
        "duplicates": 0,
        "results": [{"event_id": body["event_id"], "status": "accepted"}],
    }
    nc = await nats.connect(ingest_only.nats_url)
    try:
        msg = await nc.jetstream().get_last_msg(REPORTS_STREAM, f"dx.reports.v1.{body['unit']}.{body['indicator']}")
    finally:
        await nc.close()
    assert msg.headers is not None and msg.data is not None  # ingest publishes every report with its id header
    # Deduplication is per agency, event id and content (see contracts.message_id).
    assert msg.headers["Nats-Msg-Id"] == message_id("test agency", ReportIn.model_validate(body))
    assert msg.headers["Nats-Msg-Id"].startswith(body["event_id"] + ":")
    event = ReportReceived.model_validate_json(msg.data)
    assert str(event.event_id) == body["event_id"]
    assert event.note == body["note"] and event.agency == "test agency" and event.numerator == 40


async def test_resubmission_is_answered_as_duplicate_and_stored_once(ingest_only: Pipeline):
    batch = [report(day=f"2026-{m:02d}-28") for m in range(1, 6)]
    async with httpx.AsyncClient(base_url=ingest_only.ingest_url, headers=ingest_only.headers) as client:
        first = await client.post("/v1/reports", json=batch)
        again = await client.post("/v1/reports", json=batch[:2] + [report(day="2026-07-28")])
    assert first.status_code == 202, first.text
    assert first.json()["accepted"] == 5
    assert again.status_code == 202
    assert again.json()["accepted"] == 1 and again.json()["duplicates"] == 2
    assert [r["status"] for r in again.json()["results"]] == ["duplicate", "duplicate", "accepted"]
    assert await stream_messages(ingest_only.nats_url) == 6


async def test_ndjson_batch_is_accepted(ingest_only: Pipeline):
    lines = [report(day=f"2026-0{m}-28") for m in (1, 2, 3)]
    body = "\n".join(json.dumps(x) for x in lines) + "\n"
    async with httpx.AsyncClient(base_url=ingest_only.ingest_url, headers=ingest_only.headers) as client:
        answer = await client.post("/v1/reports", content=body, headers={"Content-Type": "application/x-ndjson"})
    assert answer.status_code == 202 and answer.json()["accepted"] == 3


@pytest.mark.parametrize(
    ("authorization", "status", "reason"),
    [
        pytest.param(None, 401, "missing-credentials", id="no-key"),
        pytest.param("Basic dXNlcjpwYXNz", 401, "missing-credentials", id="wrong-scheme"),
        pytest.param("Bearer dxk_0123456789abcdef_" + "A" * 43, 401, "invalid-credentials", id="unknown-key"),
        pytest.param("Bearer not-a-key", 401, "invalid-credentials", id="garbage"),
    ],
)
async def test_requests_without_a_valid_key_are_refused(ingest_only: Pipeline, authorization, status, reason):
    headers = {"Authorization": authorization} if authorization else {}
    async with httpx.AsyncClient(base_url=ingest_only.ingest_url, headers=headers) as client:
        answer = await client.post("/v1/reports", json=report())
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["reason"] == reason
    assert await stream_messages(ingest_only.nats_url) == 0


async def test_district_key_covers_its_communes_but_not_others(ingest_only: Pipeline):
    _, token = await ingest_only.create_key("UBND TP Hạ Long", ["QN-HALONG"], with_descendants=True)
    await asyncio.sleep(0.3)  # the KV watch delivers the new key
    own = report(unit="QN-HALONG-P-HONGGAI", day="2025-03-31")
    other = report(unit="QN-MONGCAI-P-TRANPHU", day="2025-03-31")
    async with httpx.AsyncClient(
        base_url=ingest_only.ingest_url, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        ok = await client.post("/v1/reports", json=own)
        refused = await client.post("/v1/reports", json=[report(unit="QN-HALONG-P-HONGGAI", day="2025-04-30"), other])
    assert ok.status_code == 202, ok.text
    assert refused.status_code == 403
    assert refused.json()["reason"] == "outside-key-scope"
    assert "QN-MONGCAI-P-TRANPHU" in refused.json()["detail"]
    assert await stream_messages(ingest_only.nats_url) == 1  # the refused batch published nothing


async def test_revoked_key_stops_working_without_restart(ingest_only: Pipeline):
    key_id, token = await ingest_only.create_key("Sở Y tế", ["QN-SO-YTE"])
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=ingest_only.ingest_url, headers=headers) as client:
        for _ in range(50):
            answer = await client.post("/v1/reports", json=report(unit="QN-SO-YTE", indicator="DG-04"))
            if answer.status_code == 202:
                break
            await asyncio.sleep(0.1)
        assert answer.status_code == 202, answer.text
        await ingest_only.revoke(key_id)
        for _ in range(50):
            answer = await client.post("/v1/reports", json=report(unit="QN-SO-YTE", indicator="DG-04"))
            if answer.status_code == 401:
                break
            await asyncio.sleep(0.1)
    assert answer.status_code == 401
    assert answer.json()["reason"] == "invalid-credentials"


async def test_nats_down_means_503_never_202_and_recovery_afterwards(tmp_path, catalog):
    """Fault: NATS stopped while an agency posts. Every answer is 503 + Retry-After; after restart, 202."""
    server = devstack.nats_server(tmp_path / "nats").start()
    p = Pipeline(server.url, "postgresql://unused/never", catalog)
    try:
        await p.setup()
        p.ingest_settings = p.ingest_settings.model_copy(update={"publish_timeout_seconds": 1.0})
        await p.start_ingest()
        accepted_ids: list[str] = []
        async with httpx.AsyncClient(base_url=p.ingest_url, headers=p.headers, timeout=10) as client:
            first = report(day="2026-01-31")
            assert (await client.post("/v1/reports", json=first)).status_code == 202
            accepted_ids.append(first["event_id"])
            server.stop()
            statuses = []
            for m in range(2, 6):
                answer = await client.post("/v1/reports", json=report(day=f"2026-0{m}-28"))
                statuses.append(answer.status_code)
                if answer.status_code == 503:
                    assert answer.headers["retry-after"] == "5"
                    assert answer.json()["reason"] == "bus-unavailable"
            assert statuses == [503, 503, 503, 503]
            readiness = await client.get("/readyz")
            assert readiness.status_code == 503
            server.start()
            for _ in range(100):
                retry = report(day="2026-06-30")
                answer = await client.post("/v1/reports", json=retry)
                if answer.status_code == 202:
                    accepted_ids.append(retry["event_id"])
                    break
                await asyncio.sleep(0.2)
            assert answer.status_code == 202, answer.text
        # Everything answered 202 is in the stream; reports answered 503 may or may not be (the client
        # retries them; dedup makes that safe) — but nothing accepted is missing.
        nc = await nats.connect(server.url)
        try:
            js = nc.jetstream()
            ids = set()
            sub = await js.pull_subscribe("dx.reports.v1.>", durable=None, stream=REPORTS_STREAM)
            msgs = await sub.fetch(50, timeout=2)
            ids = {m.headers["Nats-Msg-Id"].split(":")[0] for m in msgs}
        finally:
            await nc.close()
        assert set(accepted_ids) <= ids
    finally:
        await p.stop()
        server.stop()


async def test_catalog_and_health_endpoints(ingest_only: Pipeline):
    async with httpx.AsyncClient(base_url=ingest_only.ingest_url) as client:
        units = (await client.get("/v1/catalog/units")).json()
        indicators = (await client.get("/v1/catalog/indicators")).json()
        targets = (await client.get("/v1/catalog/targets")).json()
        ready = await client.get("/readyz")
        metrics = await client.get("/metrics")
        docs = await client.get("/openapi.json")
    halong = next(u for u in units if u["code"] == "QN-HALONG")
    assert halong["valid_to"] == "2025-06-30" and halong["level"] == "district"
    assert len([u for u in units if u["level"] == "commune" and u["valid_from"] >= "2025-07-01"]) == 54
    assert {"DG-04", "DE-01"} <= {i["code"] for i in indicators}
    by_code = {i["code"]: i for i in indicators}
    assert by_code["DG-01"]["categories"] == [
        {"code": "province", "name_vi": "Cấp tỉnh"},
        {"code": "district", "name_vi": "Cấp huyện"},
        {"code": "commune", "name_vi": "Cấp xã"},
    ]
    assert by_code["DG-04"]["categories"] == []
    assert "category" in docs.json()["components"]["schemas"]["ReportIn"]["properties"]
    assert any(t["indicator"] == "DE-01" and t["milestones"][-1]["value"] == 30 for t in targets)  # set NQ09-2030
    assert ready.status_code == 200 and ready.json()["ready"] is True
    assert "dx_ingest_requests_total" in metrics.text
    assert "ReportIn" in docs.json()["components"]["schemas"]


async def test_catalog_target_sets_and_the_set_of_each_target(ingest_only: Pipeline):
    async with httpx.AsyncClient(base_url=ingest_only.ingest_url) as client:
        sets_answer = await client.get("/v1/catalog/target-sets")
        targets = (await client.get("/v1/catalog/targets")).json()
        docs = (await client.get("/openapi.json")).json()
    assert sets_answer.status_code == 200
    sets = {s["code"]: s for s in sets_answer.json()}
    assert sets["NQ09"] == {
        "code": "NQ09",
        "title_vi": sets["NQ09"]["title_vi"],
        "document": "Nghị quyết 09-NQ/TU ngày 05/02/2022",
        "applies_from": "2022-02-05",
        "applies_to": "2025-12-31",
        "binding": True,
        "cutoff": None,
        "continues": None,
    }
    assert "09-NQ/TU" in sets["NQ09"]["title_vi"]
    assert sets["QD411-QG"]["binding"] is False and sets["NQ09-2030"]["binding"] is True
    assert sets["NQ09-2030"]["continues"] == "NQ09"
    assert all(
        set(s) == {"code", "title_vi", "document", "applies_from", "applies_to", "binding", "cutoff", "continues"}
        for s in sets.values()
    )
    # Every target names a listed set; NQ 09's DE-01 target stops at 2025, its 2030 orientation is another set.
    assert {t["target_set"] for t in targets} == set(sets)
    de01 = {t["target_set"]: t for t in targets if t["indicator"] == "DE-01"}
    assert [m["deadline"] for m in de01["NQ09"]["milestones"]] == ["2025-12-31"]
    assert de01["NQ09-2030"]["milestones"] == [{"deadline": "2030-12-31", "value": 30.0, "comparator": ">="}]
    assert de01["DH16"]["baseline"] == {"value": 7.1, "date": "2024-12-31"}
    level4 = next(t for t in targets if t["indicator"] == "DG-01" and t["target_set"] == "NQ09")
    assert level4["applies_to"] == ["province"] and level4["milestones"][0]["value"] == 80.0
    assert "/v1/catalog/target-sets" in docs["paths"]


async def test_event_id_reused_in_one_batch_is_a_duplicate_of_itself(ingest_only: Pipeline):
    event_id = str(uuid.uuid4())
    batch = [report(event_id=event_id), report(event_id=event_id)]
    async with httpx.AsyncClient(base_url=ingest_only.ingest_url, headers=ingest_only.headers) as client:
        answer = await client.post("/v1/reports", json=batch)
    assert answer.status_code == 202
    assert [r["status"] for r in answer.json()["results"]] == ["accepted", "duplicate"]


async def test_unusable_key_entry_is_skipped_and_revocation_keeps_working(ingest_only: Pipeline, caplog):
    """A dx_keys entry whose scope names a unit this catalog lacks (renamed, or written by a newer CLI)
    with descendants used to stop the key watch: revocations were no longer seen, and a new ingest
    never finished loading keys. Now that entry alone is refused, logged once and counted."""
    caplog.set_level(logging.ERROR, logger="dxmon.keys")
    bad_id = "badbadbadbad0001"
    entry = ApiKey(
        key_id=bad_id,
        agency="Sở cũ",
        units=("QN-SO-DA-DOI-TEN",),
        with_descendants=True,
        secret_sha256=hash_secret("x" * 43),
        created_at="2026-01-01T00:00:00+00:00",
    )
    nc = await nats.connect(ingest_only.nats_url)
    try:
        await (await nc.jetstream().key_value(KEYS_BUCKET)).put(bad_id, entry.to_json())
    finally:
        await nc.close()
    key_id, token = await ingest_only.create_key("Sở Y tế", ["QN-SO-YTE"])
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=ingest_only.ingest_url, headers=headers) as client:
        answer = await _post_until(client, 202)
        await ingest_only.revoke(key_id)
        answer = await _post_until(client, 401)
        assert answer.json()["reason"] == "invalid-credentials"
        ready = await client.get("/readyz")
        metrics = (await client.get("/metrics")).text
        refused = await client.post(
            "/v1/reports", json=report(), headers={"Authorization": f"Bearer dxk_{bad_id}_{'x' * 43}"}
        )
    assert ready.status_code == 200
    assert "dx_ingest_key_entries_skipped 1.0" in metrics
    assert refused.status_code == 401  # the unusable key itself is refused, not half-accepted
    logged = [r.getMessage() for r in caplog.records if bad_id in r.getMessage()]
    assert len(logged) == 1 and "QN-SO-DA-DOI-TEN" in logged[0], logged
    assert not [r for r in caplog.records if "key watch failed" in r.getMessage()]

    # An ingest started now loads every other key and is ready.
    fresh = Served(create_app(ingest_only.ingest_settings, ingest_only.catalog), devstack.free_port())
    await fresh.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{fresh.port}", headers=ingest_only.headers) as client:
            assert (await client.get("/readyz")).status_code == 200
            answer = await client.post("/v1/reports", json=report())
        assert answer.status_code == 202, answer.text
    finally:
        await fresh.stop()


async def _post_until(client: httpx.AsyncClient, status: int) -> httpx.Response:
    for _ in range(50):
        answer = await client.post("/v1/reports", json=report(unit="QN-SO-YTE", indicator="DG-04"))
        if answer.status_code == status:
            break
        await asyncio.sleep(0.1)
    assert answer.status_code == status, answer.text
    return answer


async def test_valid_key_is_told_to_retry_while_keys_are_not_loaded(tmp_path, catalog, monkeypatch):
    """Ingest started while NATS is unreachable cannot judge any key: 503 + Retry-After (a client
    told 401 stops retrying), /readyz 503 with the reason; once NATS is up the same key is accepted."""
    # Start-up waits this long for a first connection before serving; NATS is down here, so not 5 s.
    monkeypatch.setattr("services.ingest.publish.FIRST_CONNECT_WAIT_SECONDS", 0.2)
    port = devstack.free_port()
    p = Pipeline(f"nats://127.0.0.1:{port}", "postgresql://unused/never", catalog)
    p.ingest_settings = IngestSettings(nats_url=p.nats_url)
    server = devstack.nats_server(tmp_path / "nats", port)
    await p.start_ingest()
    try:
        token = "dxk_0123456789abcdef_" + "A" * 43
        async with httpx.AsyncClient(base_url=p.ingest_url, timeout=10) as client:
            answer = await client.post("/v1/reports", json=report(), headers={"Authorization": f"Bearer {token}"})
            ready = await client.get("/readyz")
            missing = await client.post("/v1/reports", json=report())
            assert answer.status_code == 503, answer.text
            assert answer.headers["retry-after"] == "5"
            assert answer.json()["reason"] == "bus-unavailable"
            assert ready.status_code == 503
            assert ready.json()["ready"] is False and "NATS" in ready.json()["detail"]
            assert missing.status_code == 401  # no key at all is still the client's mistake

            server.start()
            await p.setup()  # streams, buckets and a key, as `dxmon migrate` and `dxmon keys create` do
            for _ in range(100):
                answer = await client.post("/v1/reports", json=report(), headers=p.headers)
                if answer.status_code == 202:
                    break
                assert answer.status_code == 503, answer.text
                await asyncio.sleep(0.2)
            assert answer.status_code == 202, answer.text
            assert (await client.get("/readyz")).status_code == 200
    finally:
        await p.stop()
        server.stop()
