"""Several alerts instances: only the lease holder notifies; when it dies another takes over."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import nats
import pytest
from alerts_fixtures import (
    INDICATOR,
    UNIT,
    Clock,
    T,
    fall_behind,
    fast_settings,
    recover,
    subscribe,
    wait_for,
)

from dxmon.contracts import LEASES_BUCKET
from services.alerts.lease import LEASE_KEY

pytestmark = pytest.mark.integration


async def start_pair(make_engine, settings):
    """start_pair runs instance a until it holds the lease, then instance b beside it."""
    a = await make_engine(settings, Clock(T), "alerts-a")
    b = await make_engine(settings, Clock(T), "alerts-b")
    run_a = asyncio.create_task(a.scheduler.run())
    await wait_for(lambda: a.scheduler.lease.held, 5, "a to take the lease")
    return a, b, run_a, asyncio.create_task(b.scheduler.run())


async def test_only_the_leader_notifies_and_a_killed_leader_hands_over(
    database_url, bus, catalog, receiver, make_engine
) -> None:
    await subscribe(database_url, catalog, (UNIT, f"{receiver.url}/hook"))
    await fall_behind(database_url)
    a, b, run_a, run_b = await start_pair(make_engine, fast_settings(database_url, bus))
    try:
        await wait_for(lambda: len(receiver.requests) >= 1, 10, "the first digest")
        await asyncio.sleep(1.5)  # both instances keep running several flush periods
        assert len(receiver.requests) == 1
        assert not b.scheduler.lease.held and b.scheduler.passes == 0

        # Kill a: its task ends without releasing the lease, as a crashed process would.
        run_a.cancel()
        killed = time.monotonic()
        await recover(database_url, T + timedelta(seconds=1))
        took = await wait_for(lambda: b.scheduler.lease.held, 20, "b to take over")
        assert took < 14  # bucket TTL (10 s) + one renewal period, with a margin
        await wait_for(lambda: len(receiver.requests) >= 2, 10, "the resolved notice from b")
        await asyncio.sleep(0.5)
        bodies = receiver.bodies("/hook")
        assert [x["status"] for x in bodies] == ["firing", "resolved"]  # b did not repeat a's digest
        assert bodies[1]["alerts"][0]["indicator"] == INDICATOR
        print(f"handover after kill: {time.monotonic() - killed:.1f}s")
    finally:
        b.scheduler.stop()
        await run_b
        if not run_a.done():
            run_a.cancel()
        await asyncio.gather(run_a, return_exceptions=True)


async def test_a_stopped_leader_releases_the_lease_at_once(database_url, bus, make_engine) -> None:
    a, b, run_a, run_b = await start_pair(make_engine, fast_settings(database_url, bus))
    try:
        await asyncio.sleep(0.6)
        assert not b.scheduler.lease.held
        a.scheduler.stop()
        await run_a
        took = await wait_for(lambda: b.scheduler.lease.held, 5, "b to take over")
        assert took < 2  # released, so no TTL to wait for
        nc = await nats.connect(bus)
        kv = await nc.jetstream().key_value(LEASES_BUCKET)
        assert (await kv.get(LEASE_KEY)).value == b"alerts-b"
        await nc.close()
    finally:
        b.scheduler.stop()
        await run_b
