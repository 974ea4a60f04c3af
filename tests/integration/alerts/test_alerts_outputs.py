"""Optional outputs, contract-tested against local HTTP receivers (no Grafana or Alertmanager here)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from alerts_fixtures import INDICATOR, UNIT, Clock, T, cycle, fall_behind, fast_settings, recover, wait_for

pytestmark = pytest.mark.integration


async def test_grafana_annotation_per_state_change(database_url, bus, receiver, make_engine) -> None:
    await fall_behind(database_url)
    settings = fast_settings(database_url, bus, grafana_url=receiver.url, grafana_token="glsa_test_token")
    engine = await make_engine(settings, Clock(T))
    await cycle(engine, T)
    await cycle(engine, T + timedelta(minutes=5))  # nothing changed: no second annotation
    [req] = [r for r in receiver.requests if r.path == "/api/annotations"]
    assert req.headers["Authorization"] == "Bearer glsa_test_token"
    body = req.body
    assert body["time"] == int(T.timestamp() * 1000)
    assert set(body["tags"]) == {"dx-monitor", "alert", "firing", "behind", UNIT, INDICATOR}
    assert body["text"].startswith("Chậm tiến độ: Phường Hồng Gai (QN-P-HONGGAI) – DG-14")
    assert "Giá trị 50%" in body["text"]


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
    posts = lambda: receiver.bodies("/api/v2/alerts")  # noqa: E731
    try:
        await wait_for(lambda: len(posts()) >= 3, 10, "three posts while firing")
        for body in posts()[:3]:
            [alert] = body
            assert alert["labels"]["alertname"] == "DxUnitBehind" and alert["labels"]["unit"] == UNIT
            assert datetime.fromisoformat(alert["endsAt"]) > datetime.fromisoformat(alert["startsAt"])
        await recover(database_url, clock())
        engine.scheduler.request([UNIT])

        def resolved() -> bool:
            return any(datetime.fromisoformat(a["endsAt"]) <= clock() for body in posts() for a in body)

        await wait_for(resolved, 10, "the resolution")
    finally:
        engine.scheduler.stop()
        await run
