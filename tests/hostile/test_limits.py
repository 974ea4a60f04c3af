"""Limits and abuse against ``dxmon serve ingest`` as a process, with small limits so each is reached fast.

    DX_MAX_BODY_BYTES=16384, DX_MAX_BATCH_REPORTS=20, DX_RATE_LIMIT_PER_SECOND=10 (bucket of 100)
    --header-timeout 1 --read-timeout 1.5 --keep-alive 1 --max-header-bytes 8192

Each test names the limit and the exact counts it checked; "stored" is the growth of DX_REPORTS'
stream sequence, so a refused request that stored anything would show.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time

import httpx
import pytest

from tests.conftest import _reset_nats
from tests.hostile.hostile_support import (
    Stack,
    assert_no_leak,
    metric,
    post_head,
    raw_request,
    read_until_closed,
    scrape,
    start_stack,
    stream_state,
)
from tests.pipeline import report

pytestmark = pytest.mark.integration

MAX_BODY, MAX_BATCH, RATE = 16384, 20, 10
HEADER_TIMEOUT, READ_TIMEOUT, KEEP_ALIVE, MAX_HEADER = 1.0, 1.5, 1.0, 8192


@pytest.fixture(scope="module")
async def stack(tmp_path_factory, nats_server_url, catalog):
    await _reset_nats(nats_server_url)
    s = await start_stack(
        tmp_path_factory.mktemp("limits"),
        nats_server_url,
        catalog,
        ingest_env={
            "DX_MAX_BODY_BYTES": str(MAX_BODY),
            "DX_MAX_BATCH_REPORTS": str(MAX_BATCH),
            "DX_RATE_LIMIT_PER_SECOND": str(RATE),
        },
        ingest_args=[
            "--header-timeout",
            str(HEADER_TIMEOUT),
            "--read-timeout",
            str(READ_TIMEOUT),
            "--keep-alive",
            str(KEEP_ALIVE),
            "--max-header-bytes",
            str(MAX_HEADER),
        ],
    )
    yield s
    s.stop()


async def stored(stack: Stack) -> int:
    return (await stream_state(stack.nats_url)).last_seq


async def fresh_token(stack: Stack, agency: str) -> str:
    """fresh_token: a key of its own, so one test's reports do not spend another's rate-limit bucket."""
    _, token = await stack.setup.create_key(agency, ["QN"], with_descendants=True)
    async with stack.client(token) as client:
        for _ in range(50):  # the KV watch delivers the new key within milliseconds
            if (
                await client.post("/v1/reports", content=b"", headers={"Content-Type": "application/json"})
            ).status_code == 400:
                return token
            await asyncio.sleep(0.05)
    raise AssertionError("new key never became valid")


def padded(reports: list[dict], size: int) -> bytes:
    """padded: a JSON array of ``reports`` padded with trailing whitespace (valid JSON) to exactly ``size`` bytes."""
    body = json.dumps(reports).encode()
    assert len(body) <= size
    return body + b" " * (size - len(body))


async def test_body_and_batch_limits_are_exact(stack: Stack) -> None:
    """Limits DX_MAX_BATCH_REPORTS (20) and DX_MAX_BODY_BYTES (16384): the limit itself passes, one more is 413.

    Counts: 20 (JSON array) + 20 (NDJSON) + 1 (body of exactly 16384 bytes) stored = 41; the 21-report
    array, the 21-line NDJSON, the 16385-byte body (with and without Content-Length) store nothing.
    """
    token = await fresh_token(stack, "Sở Thông tin và Truyền thông")
    ndjson = {"Content-Type": "application/x-ndjson"}
    before = await stored(stack)
    async with stack.client(token) as client:
        at_limit = await client.post("/v1/reports", json=[report(day="2025-10-31") for _ in range(MAX_BATCH)])
        over = await client.post("/v1/reports", json=[report(day="2025-10-31") for _ in range(MAX_BATCH + 1)])

        def lines(n: int) -> str:
            return "\n".join(json.dumps(report(day="2025-10-31")) for _ in range(n))

        nd_at = await client.post("/v1/reports", content=lines(MAX_BATCH), headers=ndjson)
        nd_over = await client.post("/v1/reports", content=lines(MAX_BATCH + 1), headers=ndjson)
        exact = await client.post(
            "/v1/reports",
            content=padded([report(day="2025-10-31")], MAX_BODY),
            headers={"Content-Type": "application/json"},
        )
        one_more = await client.post(
            "/v1/reports",
            content=padded([report(day="2025-10-31")], MAX_BODY + 1),
            headers={"Content-Type": "application/json"},
        )

        async def chunks():  # no Content-Length: the limit must hold while the body streams in
            body = padded([report(day="2025-10-31")], MAX_BODY + 1)
            for i in range(0, len(body), 4096):
                yield body[i : i + 4096]

        chunked = await client.post("/v1/reports", content=chunks(), headers={"Content-Type": "application/json"})
    assert [at_limit.status_code, nd_at.status_code, exact.status_code] == [202, 202, 202]
    assert at_limit.json()["accepted"] == nd_at.json()["accepted"] == MAX_BATCH
    assert [(r.status_code, r.json()["reason"]) for r in (over, nd_over, one_more, chunked)] == [
        (413, "batch-too-large"),
        (413, "batch-too-large"),
        (413, "body-too-large"),
        (413, "body-too-large"),
    ]
    assert chunked.request.headers["transfer-encoding"] == "chunked"
    assert await stored(stack) - before == 2 * MAX_BATCH + 1


async def test_rate_limit_answers_429_with_retry_after_per_key(stack: Stack) -> None:
    """Limit DX_RATE_LIMIT_PER_SECOND=10 (bucket of 100 reports per key).

    Counts: key A posts 100 (202), then single reports until one is 429 with Retry-After 1 (the bucket
    refills 10 a second while the 100 are posted, so on a slow machine a few more get through) while key B
    still gets 202; after Retry-After seconds key A gets 202 again. Stored: 100 + the extra ones + 1 + 1;
    the 429 stored nothing.
    """
    a, b = await fresh_token(stack, "UBND phường Hồng Gai"), await fresh_token(stack, "UBND phường Bãi Cháy")
    before = await stored(stack)
    metrics_before = await scrape(stack.url)
    async with stack.client(a) as client_a, stack.client(b) as client_b:
        for i in range(0, 100, MAX_BATCH):
            full = await client_a.post("/v1/reports", json=[report(day="2025-11-30") for _ in range(MAX_BATCH)])
            assert full.status_code == 202, (i, full.text)
        limited = await client_a.post("/v1/reports", json=report(day="2025-11-30"))
        extra = 0
        while limited.status_code == 202 and extra < 50:  # tokens refilled while the 100 were posted
            extra += 1
            limited = await client_a.post("/v1/reports", json=report(day="2025-11-30"))
        other = await client_b.post("/v1/reports", json=report(unit="QN-P-BAICHAY", day="2025-11-30"))
        await asyncio.sleep(int(limited.headers["retry-after"]))
        again = await client_a.post("/v1/reports", json=report(day="2025-11-30"))
    assert limited.status_code == 429 and limited.json()["reason"] == "rate-limited"
    assert limited.headers["retry-after"] == "1" and extra < 50
    assert other.status_code == 202 and again.status_code == 202, (other.text, again.text)
    assert await stored(stack) - before == 102 + extra
    metrics_after = await scrape(stack.url)
    name = "dx_ingest_requests_total"
    assert (
        metric(metrics_after, name, status="429", reason="rate-limited")
        - metric(metrics_before, name, status="429", reason="rate-limited")
        == 1
    )


async def test_client_stalling_in_the_body_gets_408_and_others_are_served(stack: Stack) -> None:
    """Limit --read-timeout 1.5: a client that sends headers and 12 of 500 body bytes, then stalls.

    Checked: it gets 408 request-timeout (problem+json) and its connection is closed within
    1.5–3.5 s; meanwhile 10 other reports are accepted, each in under a second; stored = 10.
    """
    before = await stored(stack)
    sent = time.monotonic()  # before sending: the server's read timeout may start before sendall returns
    sock = raw_request(stack.ingest_port, post_head(stack.setup.token, 500), b'[{"event_id"')
    stalled = asyncio.create_task(asyncio.to_thread(read_until_closed, sock, 10))
    latencies = []
    async with stack.client() as client:
        for _ in range(10):
            started = time.monotonic()
            assert (await client.post("/v1/reports", json=report(day="2025-08-31"))).status_code == 202
            latencies.append(time.monotonic() - started)
    answer, closed_at = await stalled
    sock.close()
    elapsed = closed_at - sent
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b'"reason":"request-timeout"' in answer and b"application/problem+json" in answer
    assert READ_TIMEOUT <= elapsed < READ_TIMEOUT + 2, elapsed
    assert max(latencies) < 1.0, latencies
    assert await stored(stack) - before == 10


async def test_silent_dripping_and_idle_connections_are_cut_and_others_served(stack: Stack) -> None:
    """Limits --header-timeout 1 and --keep-alive 1, against 100 connections that never send a byte,
    one that drips a header byte every 0.1 s (a slowloris), and one kept alive after a response.

    Checked: all 100 silent ones and the dripping one get 408 and are closed within 1–3 s of opening;
    the idle kept-alive one is closed 1–3 s after its 200; 20 requests from a normal client during
    the attack all succeed.
    """
    opened = time.monotonic()
    silent = [socket.create_connection(("127.0.0.1", stack.ingest_port)) for _ in range(100)]
    drip = socket.create_connection(("127.0.0.1", stack.ingest_port))
    finished = threading.Event()  # the slowloris sent its whole header (it should be cut long before)

    def slowloris() -> None:
        for byte in b"GET /healthz HTTP/1.1\r\nHost: ingest\r\nX-Slow: " + b"a" * 200:
            try:
                drip.send(bytes([byte]))
            except OSError:
                return
            time.sleep(0.1)
        finished.set()

    threading.Thread(target=slowloris, daemon=True).start()
    idle = raw_request(stack.ingest_port, "GET /healthz HTTP/1.1\nHost: ingest\n\n")
    idle_sent = time.monotonic()
    idle_task = asyncio.create_task(asyncio.to_thread(read_until_closed, idle, 10))
    silent_tasks = [asyncio.create_task(asyncio.to_thread(read_until_closed, s, 10)) for s in silent]
    drip_task = asyncio.create_task(asyncio.to_thread(read_until_closed, drip, 10))
    async with httpx.AsyncClient(base_url=stack.url, timeout=5) as client:
        served = [(await client.get("/healthz")).status_code for _ in range(20)]
    silent_answers = await asyncio.gather(*silent_tasks)
    drip_answer, drip_closed = await drip_task
    idle_answer, idle_closed = await idle_task
    for s in (*silent, drip, idle):
        s.close()
    assert served == [200] * 20
    assert [a.startswith(b"HTTP/1.1 408") for a, _ in silent_answers] == [True] * 100
    closed = [t - opened for _, t in silent_answers]
    # The server's timer starts a moment before the client's clock reads "opened": allow it 50 ms early.
    early = 0.05
    assert HEADER_TIMEOUT - early <= min(closed) and max(closed) < HEADER_TIMEOUT + 2, (min(closed), max(closed))
    assert drip_answer.startswith(b"HTTP/1.1 408") and not finished.is_set()
    assert HEADER_TIMEOUT - early <= drip_closed - opened < HEADER_TIMEOUT + 2
    assert idle_answer.startswith(b"HTTP/1.1 200")
    assert KEEP_ALIVE - early <= idle_closed - idle_sent < KEEP_ALIVE + 2


async def test_oversized_headers_get_431_and_the_connection_is_closed(stack: Stack) -> None:
    """Limit --max-header-bytes 8192: 6 KB of headers pass (200); 64 KB get 431 and the connection closes."""
    started = time.monotonic()
    fits = raw_request(
        stack.ingest_port, "GET /healthz HTTP/1.1\nHost: ingest\nConnection: close\n" + "X-Pad: " + "a" * 6000 + "\n\n"
    )
    too_big = raw_request(
        stack.ingest_port,
        "GET /healthz HTTP/1.1\nHost: ingest\n" + "".join(f"X-Pad-{i}: {'a' * 1000}\n" for i in range(64)),
    )
    (ok, _), (refused, refused_at) = await asyncio.gather(
        asyncio.to_thread(read_until_closed, fits, 5), asyncio.to_thread(read_until_closed, too_big, 5)
    )
    fits.close()
    too_big.close()
    assert ok.startswith(b"HTTP/1.1 200")
    assert refused.startswith(b"HTTP/1.1 431") and refused_at - started < HEADER_TIMEOUT


async def test_failed_authentication_is_counted_exactly_and_reveals_nothing(stack: Stack) -> None:
    """Metric dx_ingest_auth_failures_total: 4 requests without usable credentials → missing +4;
    5 with a wrong, unknown, revoked or garbled key → invalid +5; nothing stored.

    A wrong secret for a key id that exists is answered exactly like a key id that does not exist
    (no oracle for valid ids; the comparison itself is hmac.compare_digest).
    """
    key_id, revoked = await stack.setup.create_key("Sở Tài chính", ["QN-SO-TAICHINH"])
    await stack.setup.revoke(key_id)
    real = stack.setup.token
    real_id = real.split("_")[1]
    wrong_secret = f"dxk_{real_id}_{'A' * 43}"
    unknown_id = f"dxk_{'f' * 16}_{'A' * 43}"
    missing = [
        {},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer"},
        {"Authorization": f"Token {real}"},
    ]
    invalid = [wrong_secret, unknown_id, revoked, "not-a-key", real + "x"]
    before_metrics, before = await scrape(stack.url), await stored(stack)
    answers = {}
    async with httpx.AsyncClient(base_url=stack.url, timeout=10) as client:
        for headers in missing:
            r = await client.post("/v1/reports", json=report(), headers=headers)
            assert (r.status_code, r.json()["reason"]) == (401, "missing-credentials")
        for token in invalid:
            r = await client.post("/v1/reports", json=report(), headers={"Authorization": f"Bearer {token}"})
            assert (r.status_code, r.json()["reason"]) == (401, "invalid-credentials")
            answers[token] = (r.json(), r.headers["www-authenticate"])
            assert_no_leak(r.text, real, token, where="401 answer")
    after = await scrape(stack.url)
    family = "dx_ingest_auth_failures_total"
    assert metric(after, family, reason="missing") - metric(before_metrics, family, reason="missing") == 4
    assert metric(after, family, reason="invalid") - metric(before_metrics, family, reason="invalid") == 5
    assert answers[wrong_secret] == answers[unknown_id]
    assert await stored(stack) == before


async def test_no_stack_trace_or_key_in_any_answer_or_log_line(stack: Stack) -> None:
    """Hostile requests: malformed, deeply nested and huge-number JSON, invalid UTF-8, a BOM, smuggling
    headers, unknown paths and methods, a client vanishing mid-body, over-long headers, the key in the
    URL. Checked: every answer < 500 without a stack trace or the key; the whole ingest log (every
    test of this module ran against the same process) has no "Traceback" and no key material.
    """
    token = stack.setup.token
    json_ct = {"Content-Type": "application/json"}
    bodies = [
        b'{"event_id": ',
        b"[" * 8000 + b"]" * 8000,
        b'{"value": 1e999}',
        b'["\xff\xfe\xfa"]',
        b"\xef\xbb\xbf" + json.dumps(report()).encode(),
        json.dumps({"note": token}).encode(),
        b'{"unit": "' + b"A" * 15_000 + b'"}',
    ]
    answers = []
    async with stack.client() as client:
        for body in bodies:
            answers.append(await client.post("/v1/reports", content=body, headers=json_ct))
        answers.append(await client.put("/v1/reports", json=report()))
        answers.append(await client.get("/v1/reports/../../etc/passwd"))
        answers.append(await client.post(f"/v1/reports?key={token}", json=[report(unit="QN-NOWHERE")]))
    for raw in (
        post_head(token, 40) + "Transfer-Encoding: chunked\n\n0\n\n",  # Content-Length and chunked at once
        "GET /healthz HTTP/1.1\nHost: ingest\nBad Header Name: x\n\n",
        "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\n\n",  # a TLS hello on the plain port
    ):
        sock = raw_request(stack.ingest_port, raw)
        data, _ = read_until_closed(sock, 3)
        sock.close()
        assert not data or data.split(b" ", 2)[1] < b"500", data[:100]
        assert_no_leak(data.decode(errors="replace"), token, where="raw answer")
    gone = raw_request(stack.ingest_port, post_head(token, 1000), b'[{"event_id": "')
    await asyncio.sleep(0.2)
    gone.close()  # vanishes mid-body
    await asyncio.sleep(0.3)
    for answer in answers:
        assert answer.status_code < 500, answer.text[:300]
        assert_no_leak(answer.text, token, where=f"{answer.request.method} answer")
    assert [a.status_code for a in answers] == [400, 400, 422, 400, 400, 422, 422, 405, 404, 422]
    metrics = await scrape(stack.url)
    assert metric(metrics, "dx_ingest_requests_total", status="499", reason="client-disconnected") == 1
    assert metric(metrics, "dx_ingest_requests_total", status="500", reason="internal-error") == 0
    assert_no_leak(stack.ingest.log.read_text(errors="replace"), token, where="ingest log")
