"""Tests for services.ingest.auth: the caller of a request (its bearer key, refusals counted) and the
per-key rate limit (a token bucket counting reports)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.requests import Request

from dxmon.problems import Problem, Text
from services.ingest.auth import RateLimiter, caller
from services.ingest.metrics import Metrics
from tests.unit.ingest.fakes import TOKEN, FakeKeyRing, authenticated

CALLER = authenticated("QN-P-HONGGAI")


def request(authorization: str | None, keyring: FakeKeyRing, metrics: Metrics) -> Request:
    """request has what ``caller`` reads: the header and the app's key ring, bus status and metrics."""
    state = SimpleNamespace(keyring=keyring, bus=SimpleNamespace(status="loading keys"), metrics=metrics)
    headers = [] if authorization is None else [(b"authorization", authorization.encode())]
    return Request({"type": "http", "headers": headers, "app": SimpleNamespace(state=state)})


def failures(metrics: Metrics) -> dict[str, float]:
    return {
        s.labels["reason"]: s.value
        for m in metrics.auth_failures.collect()
        for s in m.samples
        if s.name.endswith("_total")
    }


# ───────────────────────────── caller ─────────────────────────────


async def test_caller_is_the_key_of_the_bearer_token() -> None:
    metrics = Metrics()
    assert await caller(request(f"Bearer {TOKEN}", FakeKeyRing({TOKEN: CALLER}), metrics)) is CALLER
    assert failures(metrics) == {}


@pytest.mark.parametrize(
    ("authorization", "loaded", "status", "counted"),
    [
        (None, True, 401, "missing"),
        ("Bearer dxk_ffffffffffffffff_" + "x" * 43, True, 401, "invalid"),
        (f"Bearer {TOKEN}", False, 503, "keys-not-loaded"),
    ],
)
async def test_each_refused_caller_is_counted_by_reason(authorization, loaded, status, counted) -> None:
    metrics = Metrics()
    with pytest.raises(Problem) as caught:
        await caller(request(authorization, FakeKeyRing({TOKEN: CALLER}, loaded=loaded), metrics))
    assert caught.value.status == status
    assert failures(metrics) == {counted: 1.0}
    if status == 503:
        detail = caught.value.detail
        assert isinstance(detail, Text) and "loading keys" in detail.en  # the bus status says why


# ───────────────────────────── RateLimiter (per key) ─────────────────────────────


def test_admit_refuses_with_retry_after_rounded_up() -> None:
    limiter = RateLimiter(per_second=10, burst_seconds=1)  # bucket of 10 reports
    limiter.admit("k", 10, 0.0)
    with pytest.raises(Problem) as caught:
        limiter.admit("k", 10, 0.0)  # 1 s to refill
    p = caught.value
    assert (p.status, p.reason, p.headers) == (429, "rate-limited", {"Retry-After": "2"})
    assert isinstance(p.detail, Text) and "10" in p.detail.en
    limiter.admit("k", 10, 1.0)  # after the wait it passes


def test_rate_limiter_disabled_at_zero() -> None:
    limiter = RateLimiter(0)
    assert all(limiter.wait_seconds("k", 10**6, t) == 0 for t in (0.0, 0.0, 1.0))


def test_rate_limiter_allows_a_burst_then_refills() -> None:
    limiter = RateLimiter(per_second=10, burst_seconds=10)  # bucket of 100 reports
    assert limiter.wait_seconds("k", 60, 0.0) == 0
    assert limiter.wait_seconds("k", 40, 0.0) == 0
    assert limiter.wait_seconds("k", 5, 0.0) == pytest.approx(0.5)
    assert limiter.wait_seconds("k", 5, 0.0) == pytest.approx(0.5)  # a refusal takes nothing
    assert limiter.wait_seconds("k", 5, 0.5) == 0
    assert limiter.wait_seconds("other", 100, 0.5) == 0  # buckets are per key
    assert limiter.wait_seconds("k", 100, 1000.0) == 0  # refill stops at the bucket size ...
    assert limiter.wait_seconds("k", 1, 1000.0) == pytest.approx(0.1)  # ... so no credit piles up


def test_rate_limiter_lets_a_batch_bigger_than_the_bucket_through_once_full() -> None:
    limiter = RateLimiter(per_second=10, burst_seconds=10)
    assert limiter.wait_seconds("k", 500, 0.0) == 0  # before: 40 s, then 40 s again, forever
    assert limiter.wait_seconds("k", 10, 1.0) == pytest.approx(40.0)  # the debt is paid back first
    assert limiter.wait_seconds("k", 10, 41.0) == 0


@settings(max_examples=200, deadline=None)
@given(
    rate=st.sampled_from([0.5, 1.0, 10.0, 250.0]),
    requests=st.lists(st.tuples(st.floats(0, 5), st.integers(1, 3000)), min_size=1, max_size=60),
)
def test_rate_limiter_never_admits_more_than_burst_plus_rate(rate: float, requests: list[tuple[float, int]]) -> None:
    limiter = RateLimiter(per_second=rate, burst_seconds=10)
    capacity = rate * 10
    now, admitted, largest = 0.0, 0, 0
    for gap, reports in requests:
        now += gap
        wait = limiter.wait_seconds("k", reports, now)
        if wait == 0:
            admitted += reports
            largest = max(largest, reports)
        else:
            # Coming back after the advertised wait always succeeds.
            assert limiter.wait_seconds("k", reports, now + wait + 1e-6) == 0
            admitted += reports
            largest = max(largest, reports)
            now += wait + 1e-6
        assert admitted <= capacity + rate * now + max(0.0, largest - capacity) + 1e-6
