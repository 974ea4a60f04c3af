"""Optional outputs, contract-tested against local HTTP receivers (no Grafana or Alertmanager here)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from alerts_fixtures import (
    INDICATOR,
    UNIT,
    Clock,
    T,
    cycle,
    fall_behind,
    fast_settings,
    recover,
    silence,
    wait_for,
)

from dxmon import words

pytestmark = pytest.mark.integration


async def test_grafana_annotation_per_state_change(database_url, bus, receiver, make_engine) -> None:
    await fall_behind(database_url)
    settings = fast_settings(database_url, bus, grafana_url=receiver.url, grafana_token="glsa_test_token")
    engine = await make_engine(settings, Clock(T))
    await cycle(engine, T)
    await cycle(engine, T + timedelta(minutes=5))  # nothing changed: no second annotation
    back = T + timedelta(days=1)
    await recover(database_url, back)
    await cycle(engine, back, units=[UNIT])
    [req, resolved] = [r for r in receiver.requests if r.path == "/api/annotations"]
    assert req.headers["Authorization"] == "Bearer glsa_test_token"
    body = req.body
    assert body["time"] == int(T.timestamp() * 1000)
    assert set(body["tags"]) == {"dx-monitor", "alert", "firing", "behind", UNIT, INDICATOR}
    assert body["text"].startswith("Chậm tiến độ: Phường Hồng Gai (QN-P-HONGGAI) – DG-14")
    assert f"{words.CURRENT_VALUE}: 50%" in body["text"]
    # The resolution's annotation carries the figures that resolved it.
    assert resolved.body["time"] == int(back.timestamp() * 1000) and "resolved" in resolved.body["tags"]
    assert f"{words.CURRENT_VALUE}: 95% (kỳ báo cáo quý IV/2025)" in resolved.body["text"]


async def test_grafana_down_is_retried_later(database_url, bus, receiver, make_engine) -> None:
    receiver.script = [503]
    await fall_behind(database_url)
    settings = fast_settings(database_url, bus, grafana_url=receiver.url, grafana_token="glsa_test_token")
    engine = await make_engine(settings, Clock(T))
    await cycle(engine, T)
    await cycle(engine, T + timedelta(minutes=1))
    assert [r.status for r in receiver.requests] == [503, 200]


async def test_alertmanager_gets_firing_alerts_again_and_again_then_the_resolution(
    database_url, bus, receiver, make_engine
) -> None:
    await fall_behind(database_url)
    settings = fast_settings(database_url, bus, alertmanager_url=receiver.url, alertmanager_resend_seconds=0.3)
    clock = Clock(T)
    engine = await make_engine(settings, clock)
    run = asyncio.create_task(engine.scheduler.run())

    def posts() -> list:
        return receiver.bodies("/api/v2/alerts")

    try:
        await wait_for(lambda: len(posts()) >= 3, 10, "three posts while firing")
        for body in posts()[:3]:
            [alert] = body
            assert alert["labels"]["alertname"] == "DxUnitBehind" and alert["labels"]["unit"] == UNIT
            assert datetime.fromisoformat(alert["endsAt"]) > datetime.fromisoformat(alert["startsAt"])
        await recover(database_url, clock())
        engine.scheduler.request([UNIT])

        def resolved() -> list:
            """resolved: alerts posted with an end already past on arrival (not firing ones expired since)."""
            return [
                a
                for r in receiver.requests
                if r.path == "/api/v2/alerts"
                for a in r.body
                if datetime.fromisoformat(a["endsAt"]) <= clock.base + timedelta(seconds=r.at - clock.started)
            ]

        await wait_for(resolved, 10, "the resolution")
        assert resolved()[0]["annotations"]["description"].startswith(f"{words.CURRENT_VALUE}: 95%")
    finally:
        engine.scheduler.stop()
        await run


async def test_muted_alerts_are_held_back_when_alertmanager_silences_cannot_be_set(
    database_url, bus, catalog, receiver, make_engine
) -> None:
    """The receiver has no silences API (GET answers 501): a silenced alert must not reach Alertmanager."""
    await fall_behind(database_url)
    await silence(database_url, catalog, UNIT, T)
    settings = fast_settings(database_url, bus, alertmanager_url=receiver.url, alertmanager_resend_seconds=0.3)
    engine = await make_engine(settings, Clock(T))
    run = asyncio.create_task(engine.scheduler.run())

    def failed() -> float:
        return (
            engine.metrics.registry.get_sample_value("dx_alerts_alertmanager_posts_total", {"outcome": "failed"}) or 0
        )

    try:
        await wait_for(lambda: failed() >= 3, 10, "three attempts to set the silences")
    finally:
        engine.scheduler.stop()
        await run
    assert receiver.bodies("/api/v2/alerts") == []
