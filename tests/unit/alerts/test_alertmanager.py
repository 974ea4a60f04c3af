"""Alertmanager v2 payload and the outbox backoff schedule (pure parts of the delivery side)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from alerts_factory import DAY, HOUR, T0, make_alert
from services.alerts.alert import Kind, State
from services.alerts.alertmanager import alertmanager_payload
from services.alerts.outbox import Backoff


def test_firing_alert_is_posted_with_a_future_end() -> None:
    [body] = alertmanager_payload([make_alert(kind=Kind.MISSED)], T0, timedelta(minutes=1), "http://g")
    assert body["labels"] == {
        "alertname": "DxTargetMissed", "unit": "QN-P-HONGGAI", "indicator": "DG-04", "kind": "missed",
        "severity": "critical", "pillar": "digital_government", "source": "dx-monitor",
    }
    assert body["startsAt"] == "2026-03-01T02:00:00Z"
    assert body["endsAt"] == "2026-03-01T02:04:00Z"
    assert body["generatorURL"] == "http://g/d/dx-unit-detail?var-unit=QN-P-HONGGAI"
    assert body["annotations"]["summary"].startswith("Không đạt: Phường Hồng Gai")


def test_resolved_alert_carries_its_real_end() -> None:
    [body] = alertmanager_payload([make_alert(state=State.RESOLVED, ends_at=T0 + DAY)], T0 + DAY + HOUR,
                                  timedelta(minutes=1), "http://g")
    assert body["endsAt"] == "2026-03-02T02:00:00Z"


@pytest.mark.parametrize(
    ("attempts", "seconds"),
    [pytest.param(1, 5, id="first-retry"), pytest.param(2, 10, id="doubles"), pytest.param(4, 40, id="fourth"),
     pytest.param(10, 60, id="capped")],
)
def test_backoff(attempts, seconds) -> None:
    assert Backoff(5, 60).delay(attempts) == timedelta(seconds=seconds)
