"""The outbox's retry schedule: how long a failed delivery waits before its next attempt."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.alerts.outbox import Backoff


@pytest.mark.parametrize(
    ("attempts", "seconds"),
    [
        pytest.param(1, 5, id="first-retry"),
        pytest.param(2, 10, id="doubles"),
        pytest.param(4, 40, id="fourth"),
        pytest.param(10, 60, id="capped"),
        pytest.param(5000, 60, id="many-attempts-still-capped"),
    ],
)
def test_backoff(attempts: int, seconds: float) -> None:
    assert Backoff(5, 60).delay(attempts) == timedelta(seconds=seconds)


def test_backoff_follows_its_settings() -> None:
    backoff = Backoff(initial=2, maximum=900, factor=3)
    assert [backoff.delay(n).total_seconds() for n in range(1, 8)] == [2, 6, 18, 54, 162, 486, 900]
