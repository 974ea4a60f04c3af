"""Alertmanager v2 payload and silences (pure parts of the forwarder)."""

from __future__ import annotations

from datetime import date, timedelta

from alerts_factory import DAY, HOUR, T0, make_alert

from dxmon import words
from services.alerts.alert import Acknowledgement, Kind, Silence, State
from services.alerts.alertmanager import ENDS_AFTER_RESENDS, alertmanager_payload, mirror_silences


def test_firing_alert_is_posted_with_a_future_end() -> None:
    [body] = alertmanager_payload([make_alert(kind=Kind.MISSED)], T0, timedelta(minutes=1), "http://g")
    assert body["labels"] == {
        "alertname": "DxTargetMissed",
        "unit": "QN-P-HONGGAI",
        "indicator": "DG-04",
        "kind": "missed",
        "severity": "critical",
        "pillar": "digital_government",
        "source": "dx-monitor",
    }
    assert body["startsAt"] == "2026-03-01T02:00:00Z"
    assert body["endsAt"] == "2026-03-01T02:04:00Z"
    assert body["generatorURL"] == "http://g/d/dx-unit-detail?var-unit=QN-P-HONGGAI"
    assert body["annotations"]["summary"].startswith("Không đạt: Phường Hồng Gai")
    assert body["annotations"]["description"].startswith(f"{words.CURRENT_VALUE}: 45,2%, {words.EXPECTED}: 60%")


def test_ends_at_survives_late_resends() -> None:
    """A re-send that comes one period late (or two) never lets the alert expire in Alertmanager."""
    assert ENDS_AFTER_RESENDS >= 3


def test_starts_at_is_when_the_problem_began() -> None:
    looked = T0 + 280 * DAY
    missed = make_alert(kind=Kind.MISSED, milestone=date(2023, 12, 31), starts_at=looked, status_since=looked)
    behind = make_alert(starts_at=looked, status_since=T0)
    [m, b] = alertmanager_payload([missed, behind], looked, timedelta(minutes=1), None)
    assert m["startsAt"] == "2023-12-31T23:59:59.999999+07:00"
    assert b["startsAt"] == "2026-03-01T02:00:00Z"
    assert "generatorURL" not in m  # no public dashboard address configured: no link


def test_resolved_alert_carries_its_real_end() -> None:
    [body] = alertmanager_payload(
        [make_alert(state=State.RESOLVED, ends_at=T0 + DAY)], T0 + DAY + HOUR, timedelta(minutes=1), "http://g"
    )
    assert body["endsAt"] == "2026-03-02T02:00:00Z"


def test_silences_and_acks_become_alertmanager_silences() -> None:
    firing = make_alert(indicator="DG-04")
    resolved = make_alert(indicator="DG-09", state=State.RESOLVED, ends_at=T0)
    silences = [
        Silence(7, "QN-P-HONGGAI", None, T0 - HOUR, T0 + DAY, "Đang sáp nhập", "an"),
        Silence(8, "QN-P-HONGGAI", "DG-11", T0 - DAY, T0 - HOUR, "Hết hạn", "an"),  # over: not mirrored
    ]
    acks = [
        Acknowledgement(firing.fingerprint, T0 + 2 * DAY, "Đang xử lý", "binh"),
        Acknowledgement(resolved.fingerprint, T0 + 2 * DAY, "Đang xử lý", "binh"),  # resolved: its end is news
    ]
    [silence, ack] = mirror_silences([firing, resolved], silences, acks, T0)
    assert silence.matchers == {"source": "dx-monitor", "unit": "QN-P-HONGGAI"}
    assert (silence.starts_at, silence.ends_at) == (T0 - HOUR, T0 + DAY)
    assert silence.body()["comment"] == f"{words.SILENCE}: Đang sáp nhập (an) [{silence.key}]"
    assert silence.body()["createdBy"] == "dx-monitor"
    assert ack.matchers == {"source": "dx-monitor", "unit": "QN-P-HONGGAI", "indicator": "DG-04", "kind": "behind"}
    assert ack.ends_at == T0 + 2 * DAY and words.ACKNOWLEDGED in ack.comment
    extended = mirror_silences([firing], [], [Acknowledgement(firing.fingerprint, T0 + 3 * DAY, "", "")], T0)
    assert extended[0].key != ack.key  # a changed end replaces the Alertmanager silence
