"""Scale-out: a 3-node NATS cluster from deploy/nats/cluster.conf keeps every report, exactly once.

Three nats-server processes on 127.0.0.1 run the project's cluster file (routes authenticated with
the cluster password); ``dxmon migrate``'s topology step declares every stream and bucket at
replicas 3. The real ingest and aggregator, connected to all three nodes, carry reports from HTTP
to PostgreSQL while the node leading DX_REPORTS is killed (SIGKILL) and later started again.
Reports refused during the failover (503) are resent with the same event ids, as agencies do.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest
from deploy_support import DEPLOY, nats_process, nats_settings, pipeline, violations, wait_for

from dxmon import devstack
from dxmon.bus import AGGREGATOR_DURABLE, connect, ensure_topology
from dxmon.catalog import Catalog
from dxmon.contracts import ALERTS_STREAM, DEADLETTER_STREAM, KEYS_BUCKET, LEASES_BUCKET, REPORTS_STREAM

pytestmark = pytest.mark.integration

NODES = 3
BATCHES = 30
BATCH_SIZE = 10


@pytest.fixture
def cluster(tmp_path: Path, nats_passwords: dict[str, str], monkeypatch: pytest.MonkeyPatch):
    """cluster: three nodes from the project's cluster config on free loopback ports."""
    route_ports = [devstack.free_port() for _ in range(NODES)]
    password = nats_passwords["cluster"]
    # Secret (holds the route password): through the environment, as the compose file passes it.
    monkeypatch.setenv("DX_NATS_ROUTES", "[" + ", ".join(
        f"nats-route://route:{password}@127.0.0.1:{p}" for p in route_ports) + "]")
    nodes = [
        nats_process(DEPLOY / "nats" / "cluster.conf", tmp_path / f"n{i + 1}", name=f"n{i + 1}",
                     env={"DX_NATS_CLUSTER_LISTEN": f"127.0.0.1:{port}"})
        for i, port in enumerate(route_ports)
    ]
    try:
        for node in nodes:
            node.start()
        yield nodes
    finally:
        for node in nodes:
            node.stop()


async def declare_topology(url: str, passwords: dict[str, str]) -> None:
    """declare_topology is `dxmon migrate`'s NATS step at replicas 3, retried until JetStream has a leader."""
    settings = nats_settings(url, "admin", passwords, stream_replicas=3)
    last: Exception | None = None
    for _ in range(60):
        nc = await connect(settings, "dxmon-migrate")
        try:
            await ensure_topology(nc.jetstream(timeout=5), settings)
            return
        except Exception as exc:  # noqa: BLE001 - "JetStream not ready" until the meta leader is elected
            last = exc
        finally:
            await nc.close()
        await asyncio.sleep(0.5)
    raise AssertionError(f"streams could not be declared on the cluster: {last}")


def reports_for(batch: int) -> list[dict]:
    first = date(2024, 1, 1)
    return [
        {"event_id": str(uuid.uuid4()), "unit": "QN", "indicator": "DG-04",
         "observed_at": (first + timedelta(days=batch * BATCH_SIZE + i)).isoformat(),
         "numerator": 500 + i, "denominator": 1000}
        for i in range(BATCH_SIZE)
    ]


async def post_until_accepted(http: httpx.AsyncClient, token: str, reports: list[dict]) -> int:
    """post_until_accepted resends the same reports until ingest answers 202; returns the attempts made."""
    for attempt in range(1, 61):
        try:
            r = await http.post("/v1/reports", json=reports, headers={"Authorization": f"Bearer {token}"})
            if r.status_code == 202:
                body = r.json()
                assert body["accepted"] + body["duplicates"] == len(reports)
                return attempt
            assert r.status_code == 503, r.text  # the bus is failing over: retry, never a 5xx of another kind
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.5)
    raise AssertionError("ingest never accepted the batch")


async def test_reports_survive_a_node_kill_and_are_stored_once(cluster, nats_passwords: dict[str, str],
                                                                database_url: str, catalog: Catalog, tmp_path: Path):
    urls = ",".join(node.url for node in cluster)
    await declare_topology(urls, nats_passwords)

    admin = await connect(nats_settings(urls, "admin", nats_passwords), "check")
    js = admin.jetstream(timeout=5)
    for stream in (REPORTS_STREAM, DEADLETTER_STREAM, ALERTS_STREAM, f"KV_{KEYS_BUCKET}", f"KV_{LEASES_BUCKET}"):
        info = await js.stream_info(stream)
        assert info.config.num_replicas == 3, stream
        assert len(info.cluster.replicas) == 2, stream  # a leader and two followers

    attempts = []
    async with pipeline(urls, nats_passwords, database_url, catalog, tmp_path, DX_PUBLISH_TIMEOUT_SECONDS="2") as p:
        async with httpx.AsyncClient(base_url=p.ingest_url, timeout=15) as http:
            leader_name = (await js.stream_info(REPORTS_STREAM)).cluster.leader
            victim = next(node for node in cluster if node.name == leader_name)
            for batch in range(BATCHES):
                if batch == BATCHES // 3:
                    victim.kill()  # no goodbye: the stream leader vanishes mid-load
                if batch == 2 * BATCHES // 3:
                    victim.start()
                attempts.append(await post_until_accepted(http, p.token, reports_for(batch)))

            expected = BATCHES * BATCH_SIZE
            conn = await asyncpg.connect(database_url)
            try:
                await wait_for(lambda: _stored(conn, expected), 60, f"{expected} reports in the database")
                rows, distinct = await conn.fetchrow("SELECT count(*), count(DISTINCT event_id) FROM reports")
            finally:
                await conn.close()

    await wait_for(lambda: _caught_up(js, victim.name), 30, f"{victim.name} to rejoin as a current replica")
    info = await js.stream_info(REPORTS_STREAM)
    consumer = await js.consumer_info(REPORTS_STREAM, AGGREGATOR_DURABLE)
    await admin.close()
    assert (rows, distinct) == (expected, expected)  # nothing lost, nothing doubled in the database
    assert info.state.last_seq == expected  # resent reports were deduplicated by JetStream, not stored twice
    assert consumer.num_pending == 0 and consumer.num_ack_pending == 0
    assert info.config.num_replicas == 3
    refused = [v for node in cluster for v in violations(node.log_path)]
    assert refused == [], "a service needed a subject its NATS user may not use"
    print(f"cluster: {expected} reports, {sum(attempts)} posts for {BATCHES} batches, node {victim.name} killed")


async def _caught_up(js, node: str) -> bool:
    cluster = (await js.stream_info(REPORTS_STREAM)).cluster
    peers = {cluster.leader: True} | {r.name: bool(r.current) for r in cluster.replicas}
    return node in peers and all(peers.values())


async def _stored(conn: asyncpg.Connection, n: int) -> bool:
    return await conn.fetchval("SELECT count(*) FROM reports") >= n
