"""MuteStage with the two Muters: silences (unit or unit+indicator, time-boxed) and acknowledgements."""

from __future__ import annotations

import pytest
from alerts_factory import DAY, HOUR, T0, counter_value, make_alert, make_flush

from services.alerts.alert import Acknowledgement, Silence, State
from services.alerts.metrics import Metrics
from services.alerts.notify.mute_stage import Acknowledger, MuteStage, Silencer, SuppressedReason

UNIT_SILENCE = Silence(1, "QN-P-HONGGAI", None, T0, T0 + 2 * HOUR, "đang xử lý")
INDICATOR_SILENCE = Silence(2, "QN-P-HONGGAI", "DG-09", T0, T0 + 2 * HOUR, "đang xử lý")


@pytest.mark.parametrize(
    ("silence", "alert", "now", "muted"),
    [
        pytest.param(UNIT_SILENCE, make_alert(), T0 + HOUR, True, id="unit-silence-covers-indicator"),
        pytest.param(UNIT_SILENCE, make_alert(unit="QN-P-HALONG"), T0 + HOUR, False, id="other-unit"),
        pytest.param(UNIT_SILENCE, make_alert(), T0 - HOUR, False, id="not-started-yet"),
        pytest.param(UNIT_SILENCE, make_alert(), T0 + 2 * HOUR, False, id="expired-at-end"),
        pytest.param(UNIT_SILENCE, make_alert(state=State.RESOLVED), T0 + HOUR, True, id="resolution-muted-too"),
        pytest.param(INDICATOR_SILENCE, make_alert(indicator="DG-09"), T0 + HOUR, True, id="indicator-silence"),
        pytest.param(INDICATOR_SILENCE, make_alert(indicator="DG-04"), T0 + HOUR, False, id="indicator-silence-other"),
    ],
)
def test_silencer(silence, alert, now, muted) -> None:
    assert Silencer([silence]).mutes(alert, now) is muted


ACK = Acknowledgement(make_alert().fingerprint, T0 + DAY, "đã giao cán bộ xử lý")


@pytest.mark.parametrize(
    ("alert", "now", "muted"),
    [
        pytest.param(make_alert(), T0 + HOUR, True, id="acked-firing"),
        pytest.param(make_alert(), T0 + DAY, False, id="ack-expired"),
        pytest.param(make_alert(state=State.RESOLVED), T0 + HOUR, False, id="resolution-still-announced"),
        pytest.param(make_alert(indicator="DG-09"), T0 + HOUR, False, id="other-fingerprint"),
    ],
)
def test_acknowledger(alert, now, muted) -> None:
    assert Acknowledger([ACK]).mutes(alert, now) is muted


async def test_mute_stage_filters_and_counts_by_reason() -> None:
    metrics = Metrics()
    stage = MuteStage(Silencer([INDICATOR_SILENCE]), SuppressedReason.SILENCE, metrics)
    kept = await stage.exec(make_flush(T0 + HOUR), [make_alert(indicator="DG-09"), make_alert(indicator="DG-04")])
    assert [a.indicator for a in kept] == ["DG-04"]
    assert counter_value(metrics, "dx_alerts_notifications_suppressed_total", reason="silence") == 1
    assert counter_value(metrics, "dx_alerts_notifications_suppressed_total", reason="ack") == 0
