"""End to end: every bad input of the report contract is refused with its reason, nothing stored.

One stack (ingest and aggregator as processes) serves all cases; after each, the stream and the
database must still be empty.
"""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import httpx
import nats
import pytest

from dxmon.contracts import REPORTS_STREAM
from tests.conftest import _reset_nats
from tests.e2e.test_pipeline import start_stack, stop_stack
from tests.hostile.hostile_support import drop_database
from tests.pipeline import report

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
async def stack(tmp_path_factory, nats_server_url, pg_admin_url, catalog):
    await _reset_nats(nats_server_url)
    s = await start_stack(
        tmp_path_factory.mktemp("bad-input"), nats_server_url, catalog, private_pg=False, admin_url=pg_admin_url
    )
    yield s
    await stop_stack(s)
    await drop_database(pg_admin_url, s["db"])


BAD_INPUTS = [
    pytest.param({"json": report(unit="QN-NOWHERE")}, 422, "unknown-unit", id="unknown-unit"),
    pytest.param({"json": report(indicator="XX-99")}, 422, "unknown-indicator", id="unknown-indicator"),
    pytest.param(
        {"json": report(unit="QN", indicator="DE-12", value=1, day="2025-09-30")},
        422,
        "indicator-not-applicable",
        id="indicator-not-for-level",
    ),
    pytest.param(
        {"json": report(numerator=101, denominator=100)},
        422,
        "numerator-exceeds-denominator",
        id="numerator-over-denominator",
    ),
    pytest.param(
        {"json": report(unit="QN", indicator="DE-06", value=-3, day="2025-12-31")},
        422,
        "negative-value",
        id="negative-count",
    ),
    pytest.param(
        {
            "content": '{"event_id": "%s", "unit": "QN", "indicator": "DE-01", "observed_at": "2025-12-31",'
            ' "value": NaN}',
            "headers": {"Content-Type": "application/json"},
        },
        422,
        "invalid-number",
        id="nan",
    ),
    pytest.param(
        {
            "content": '{"event_id": "%s", "unit": "QN", "indicator": "DE-01", "observed_at": "2025-12-31",'
            ' "value": Infinity}',
            "headers": {"Content-Type": "application/json"},
        },
        422,
        "invalid-number",
        id="infinity",
    ),
    pytest.param({"json": report(day="2099-01-31")}, 422, "future-observation", id="future-period"),
    pytest.param({"json": report(day="9999-12-31T10:00:00+07:00")}, 422, "invalid-timestamp", id="far-future-local"),
    pytest.param({"json": report(day="9999-12-31T00:00:00Z")}, 422, "invalid-timestamp", id="far-future-utc"),
    pytest.param({"json": report(indicator="DG-01")}, 422, "category-required", id="category-required"),
    pytest.param({"json": report(indicator="DG-01", category="ward")}, 422, "unknown-category", id="unknown-category"),
    pytest.param({"json": report(category="province")}, 422, "unknown-category", id="category-on-plain-indicator"),
    pytest.param({"json": report(numerator=None, denominator=100)}, 422, "ratio-needs-parts", id="one-part-alone"),
    pytest.param({"json": report(day="2025-09-30T12:00:00")}, 422, "missing-timezone", id="missing-timezone"),
    pytest.param({"json": report(numerator="40")}, 422, "invalid-field", id="wrong-type"),
    pytest.param({"json": report(unit="QN-HALONG", day="2025-09-30")}, 422, "unit-not-valid-on-date", id="unit-ceased"),
    pytest.param(
        {"content": "x" * (5 * 1024 * 1024), "headers": {"Content-Type": "application/json"}},
        413,
        "body-too-large",
        id="oversize-body",
    ),
    pytest.param(
        {"content": "unit=QN", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
        415,
        "unsupported-media-type",
        id="wrong-content-type",
    ),
    pytest.param(
        {"content": '{"event_id": ', "headers": {"Content-Type": "application/json"}},
        400,
        "malformed-json",
        id="malformed-json",
    ),
]


@pytest.mark.parametrize(("request_kwargs", "status", "reason"), BAD_INPUTS)
async def test_bad_input_is_refused_with_its_reason_and_nothing_is_stored(
    stack, nats_server_url, request_kwargs, status, reason
):
    kwargs = dict(request_kwargs)
    if "content" in kwargs and "%s" in kwargs["content"]:
        kwargs["content"] = kwargs["content"] % uuid.uuid4()
    good = report(day="2025-12-31")
    async with httpx.AsyncClient(base_url=stack["url"], headers=stack["setup"].headers, timeout=30) as client:
        answer = await client.post("/v1/reports", **kwargs)
        # A batch with one bad item is refused whole: the good item beside it is not stored either.
        if "json" in kwargs:
            whole = await client.post("/v1/reports", json=[good, kwargs["json"]])
            assert whole.status_code == status
    assert answer.status_code == status, answer.text
    problem = answer.json()
    assert answer.headers["content-type"] == "application/problem+json"
    reasons = {e["reason"] for e in problem.get("errors", [])} | {problem["reason"]}
    assert reason in reasons, problem
    nc = await nats.connect(nats_server_url)
    try:
        assert (await nc.jetstream().stream_info(REPORTS_STREAM)).state.messages == 0
    finally:
        await nc.close()
    conn = await asyncpg.connect(stack["db"])
    try:
        assert await conn.fetchval("SELECT count(*) FROM reports") == 0
    finally:
        await conn.close()


async def test_key_of_another_unit_is_refused_with_403(stack):
    _, token = await stack["setup"].create_key("Sở Y tế", ["QN-SO-YTE"])
    await asyncio.sleep(0.5)
    async with httpx.AsyncClient(base_url=stack["url"], headers={"Authorization": f"Bearer {token}"}) as client:
        answer = await client.post("/v1/reports", json=report(unit="QN-P-HONGGAI", day="2025-12-31"))
    assert answer.status_code == 403
    assert answer.json()["reason"] == "outside-key-scope"
