"""Auth: who is sending (a bearer key) and how much it may send (a token bucket per key).

Checking the key and its scope is ``dxmon.intake``'s (the entry service shares it); this module applies
them to a request with the ingest's key ring and counts each refusal, and adds the per-key rate limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request

from dxmon.intake import authenticate
from dxmon.keys import Authenticated
from dxmon.problems import Problem, say


async def caller(request: Request) -> Authenticated:
    """caller is the FastAPI dependency naming the key of ``Authorization: Bearer …``.

    401 without a valid key; 503 (retry) until the key ring has loaded; each refusal is counted in
    ``dx_ingest_auth_failures_total`` by reason.
    """
    state = request.app.state
    return authenticate(
        state.keyring,
        request.headers.get("authorization"),
        bus_status=state.bus.status,
        on_refused=state.metrics.count_auth_failure,
    )


@dataclass
class RateLimiter:
    """RateLimiter is a token bucket per key, counting reports (not requests); 0 disables it."""

    per_second: float
    burst_seconds: float = 10.0
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def wait_seconds(self, key_id: str, reports: int, now: float) -> float:
        """wait_seconds takes ``reports`` tokens and returns 0, or how long to wait before retrying."""
        if self.per_second <= 0:
            return 0.0
        capacity = self.per_second * self.burst_seconds
        tokens, last = self._buckets.get(key_id, (capacity, now))
        tokens = min(capacity, tokens + (now - last) * self.per_second)
        # A batch larger than the bucket could never gather enough tokens: it passes once the bucket is
        # full and leaves the bucket in debt, so the long-run rate still holds.
        needed = min(reports, capacity)
        if needed > tokens:
            self._buckets[key_id] = (tokens, now)
            return (needed - tokens) / self.per_second
        self._buckets[key_id] = (tokens - reports, now)
        return 0.0

    def admit(self, key_id: str, reports: int, now: float) -> None:
        """admit takes the tokens of ``reports`` reports or refuses them all (429 with Retry-After)."""
        wait = self.wait_seconds(key_id, reports, now)
        if wait > 0:
            raise rate_limited(self.per_second, wait)


def rate_limited(per_second: float, wait: float) -> Problem:
    retry_after = max(1, round(wait + 0.5))
    return Problem(
        429,
        "rate-limited",
        "Too many reports for this key",
        say("rate-limited", limit=f"{per_second:g}", retry_after=retry_after),
        headers={"Retry-After": str(retry_after)},
    )
