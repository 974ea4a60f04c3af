"""DedupStage: table of needs_update decisions, then the group rule (whole digest or nothing)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from alerts_factory import DAY, HOUR, T0, FakeLog, make_alert, make_flush

from services.alerts.alert import NotifyReason, State
from services.alerts.notify.dedup_stage import DedupStage, LogEntry, needs_update

REPEAT = 7 * DAY
FIRING = make_alert()
RESOLVED = make_alert(state=State.RESOLVED, ends_at=T0 + DAY)


@pytest.mark.parametrize(
    ("alert", "entry", "now", "want"),
    [
        pytest.param(FIRING, None, T0, NotifyReason.FIRST_NOTIFICATION, id="firing-never-notified"),
        pytest.param(FIRING, LogEntry(State.FIRING, T0, T0), T0 + HOUR, None, id="firing-already-notified"),
        pytest.param(FIRING, LogEntry(State.FIRING, T0, T0), T0 + REPEAT - HOUR, None, id="firing-before-repeat"),
        pytest.param(
            FIRING,
            LogEntry(State.FIRING, T0, T0),
            T0 + REPEAT,
            NotifyReason.REPEAT_INTERVAL_ELAPSED,
            id="firing-repeat-elapsed",
        ),
        pytest.param(
            FIRING,
            LogEntry(State.RESOLVED, T0 - DAY, T0 - HOUR),
            T0 + HOUR,
            NotifyReason.FIRST_NOTIFICATION,
            id="fires-again-after-notified-resolution",
        ),
        pytest.param(
            FIRING,
            LogEntry(State.FIRING, T0 - 2 * DAY, T0 - DAY),
            T0 + HOUR,
            NotifyReason.FIRST_NOTIFICATION,
            id="new-episode-resolution-never-sent",
        ),
        pytest.param(
            RESOLVED, LogEntry(State.FIRING, T0, T0), T0 + DAY, NotifyReason.RESOLVED, id="resolved-after-firing-notice"
        ),
        pytest.param(RESOLVED, None, T0 + DAY, None, id="resolved-never-told-it-fired"),
        pytest.param(
            RESOLVED, LogEntry(State.RESOLVED, T0, T0 + DAY), T0 + 2 * DAY, None, id="resolution-already-sent"
        ),
    ],
)
def test_needs_update(alert, entry, now, want) -> None:
    assert needs_update(alert, entry, now, REPEAT) == want


async def test_nothing_changed_sends_nothing() -> None:
    a, b = make_alert(indicator="DG-04"), make_alert(indicator="DG-09")
    log = FakeLog({1: {a.fingerprint: LogEntry(State.FIRING, T0, T0), b.fingerprint: LogEntry(State.FIRING, T0, T0)}})
    assert await DedupStage(log).exec(make_flush(T0 + HOUR), [a, b]) == []


async def test_one_new_alert_sends_the_whole_picture() -> None:
    old, new = make_alert(indicator="DG-04"), make_alert(indicator="DG-09")
    gone = make_alert(indicator="DG-10", state=State.RESOLVED, ends_at=T0 + HOUR)
    never_told = make_alert(indicator="DG-17", state=State.RESOLVED, ends_at=T0 + HOUR)
    log = FakeLog(
        {1: {old.fingerprint: LogEntry(State.FIRING, T0, T0), gone.fingerprint: LogEntry(State.FIRING, T0, T0)}}
    )
    out = await DedupStage(log).exec(make_flush(T0 + HOUR), [old, new, gone, never_told])
    reasons = {a.indicator: a.reason for a in out}
    assert reasons == {
        "DG-04": NotifyReason.STILL_FIRING,
        "DG-09": NotifyReason.FIRST_NOTIFICATION,
        "DG-10": NotifyReason.RESOLVED,
    }


async def test_log_is_per_recipient() -> None:
    a = make_alert()
    log = FakeLog({1: {a.fingerprint: LogEntry(State.FIRING, T0, T0)}})
    assert await DedupStage(log).exec(make_flush(T0 + HOUR, channel_id=1), [a]) == []
    out = await DedupStage(log).exec(make_flush(T0 + HOUR, channel_id=2), [a])
    assert [x.reason for x in out] == [NotifyReason.FIRST_NOTIFICATION]


async def test_repeat_interval_comes_from_the_flush() -> None:
    a = make_alert()
    log = FakeLog({1: {a.fingerprint: LogEntry(State.FIRING, T0, T0)}})
    out = await DedupStage(log).exec(make_flush(T0 + 2 * HOUR, repeat=timedelta(hours=2)), [a])
    assert [x.reason for x in out] == [NotifyReason.REPEAT_INTERVAL_ELAPSED]
