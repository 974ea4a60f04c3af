"""Scale-out: the cluster variant (docker-compose.cluster.yml) keeps every report, exactly once.

The three NATS nodes run as the override file defines them (deploy/nats/cluster.conf, routes
authenticated with the cluster password, each node's environment from the compose files) on
127.0.0.1. The compose project's migrate step declares every stream and bucket at replicas 3;
the real ingest and aggregator, given all three nodes, carry reports from HTTP to PostgreSQL
while the node leading DX_REPORTS is killed (SIGKILL) and later started again. Reports refused
during the failover (503) are resent with the same event ids, as agencies do.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta
from pathlib import Path

import asyncpg
import httpx
import nats
import pytest
from compose_model import ComposeModel
from deploy_support import (
    CLUSTER_FILE,
    COMPOSE_FILE,
    Local,
    nats_node,
    nats_settings,
    pipeline,
    services_local,
    violations,
    wait_for,
    wait_healthy,
)

from dxmon import devstack
from dxmon.bus import AGGREGATOR_DURABLE, connect
from dxmon.contracts import ALERTS_STREAM, DEADLETTER_STREAM, KEYS_BUCKET, LEASES_BUCKET, REPORTS_STREAM

pytestmark = pytest.mark.integration

NODES = ("nats", "nats-2", "nats-3")
BATCHES = 30
BATCH_SIZE = 10


@pytest.fixture
async def cluster(tmp_path: Path, values: dict[str, str]):
    """cluster: the override file's three NATS nodes on free loopback ports.

    Yields the servers by server name (the --name of each node's compose command) and the mapping
    of the compose client addresses (nats:4222, …) to this machine.
    """
    model = ComposeModel.load(COMPOSE_FILE, CLUSTER_FILE, env=values)
    route = {name: f"127.0.0.1:{devstack.free_port()}" for name in NODES}
    client = {f"{name}:4222": f"127.0.0.1:{devstack.free_port()}" for name in NODES}
    nodes, monitors = {}, []
    for name in NODES:
        # Each node listens for routes on its own port and reaches the others at theirs.
        local = Local(hosts={f"{n}:6222": route[n] for n in NODES} | {"0.0.0.0:6222": route[name]})
        server, monitor = nats_node(
            model, name, tmp_path / name, local, client_port=int(client[f"{name}:4222"].rsplit(":", 1)[1])
        )
        command = model.services[name]["command"]
        nodes[command[command.index("--name") + 1]] = server
        monitors.append(monitor)
    try:
        for node in nodes.values():
            node.start()
        await wait_healthy(monitors)  # as `depends_on: condition: service_healthy` does
        yield nodes, client
    finally:
        for node in nodes.values():
            node.stop()


def reports_for(batch: int) -> list[dict]:
    first = date(2024, 1, 1)
    return [
        {
            "event_id": str(uuid.uuid4()),
            "unit": "QN",
            "indicator": "DG-04",
            "observed_at": (first + timedelta(days=batch * BATCH_SIZE + i)).isoformat(),
            "numerator": 500 + i,
            "denominator": 1000,
        }
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


async def test_reports_survive_a_node_kill_and_are_stored_once(
    cluster, values: dict[str, str], nats_passwords: dict[str, str], database_url: str, tmp_path: Path
):
    nodes, client_hosts = cluster
    db_values, local = services_local(client_hosts, database_url)
    # Short publish timeout and ack wait: failover answers come quickly, and acks lost with the
    # killed node come back as redeliveries within the test (they must change nothing).
    model = ComposeModel.load(
        COMPOSE_FILE,
        CLUSTER_FILE,
        env={**values, **db_values, "DX_PUBLISH_TIMEOUT_SECONDS": "2", "DX_ACK_WAIT_SECONDS": "3"},
    )
    urls = local.value(model.environment("ingest")["DX_NATS_URL"])
    assert urls.count("127.0.0.1") == 3

    attempts = []
    async with pipeline(model, local, tmp_path / "compose", services=("aggregator", "ingest")) as p:
        admin = await connect(nats_settings(urls, "admin", nats_passwords), "check")
        js = admin.jetstream(timeout=5)
        for stream in (REPORTS_STREAM, DEADLETTER_STREAM, ALERTS_STREAM, f"KV_{KEYS_BUCKET}", f"KV_{LEASES_BUCKET}"):
            info = await js.stream_info(stream)  # declared by the compose migrate step
            assert info.config.num_replicas == 3, stream
            assert info.cluster is not None and info.cluster.replicas is not None, stream  # a clustered stream
            assert len(info.cluster.replicas) == 2, stream  # a leader and two followers

        async with httpx.AsyncClient(base_url=p.ingest_url, timeout=15) as http:
            cluster_info = (await js.stream_info(REPORTS_STREAM)).cluster
            assert cluster_info is not None and cluster_info.leader is not None  # a replicated stream has a leader
            leader = cluster_info.leader
            victim = nodes[leader]
            for batch in range(BATCHES):
                if batch == BATCHES // 3:
                    victim.kill()  # no goodbye: the stream leader vanishes mid-load
                if batch == 2 * BATCHES // 3:
                    victim.start()
                attempts.append(await post_until_accepted(http, p.token, reports_for(batch)))

        expected = BATCHES * BATCH_SIZE
        await wait_for(lambda: _drained(js), 60, "the aggregator to ack every report")
        conn = await asyncpg.connect(database_url)
        try:
            rows, distinct = await conn.fetchrow("SELECT count(*), count(DISTINCT event_id) FROM reports")
        finally:
            await conn.close()

    await wait_for(lambda: _caught_up(js, leader), 30, f"{leader} to rejoin as a current replica")
    info = await js.stream_info(REPORTS_STREAM)
    await admin.close()
    assert (rows, distinct) == (expected, expected)  # nothing lost, nothing doubled in the database
    assert info.state.last_seq == expected  # resent reports were deduplicated by JetStream, not stored twice
    assert info.config.num_replicas == 3
    refused = [v for node in nodes.values() for v in violations(node.log_path)]
    assert refused == [], "a service needed a subject its NATS user may not use"
    print(f"cluster: {expected} reports, {sum(attempts)} posts for {BATCHES} batches, {leader} killed and back")


async def _caught_up(js, node: str) -> bool:
    try:
        cluster = (await js.stream_info(REPORTS_STREAM)).cluster
    except (nats.errors.TimeoutError, nats.js.errors.APIError):
        return False
    peers = {cluster.leader: True} | {r.name: bool(r.current) for r in cluster.replicas}
    return node in peers and all(peers.values())


async def _drained(js) -> bool:
    try:
        consumer = await js.consumer_info(REPORTS_STREAM, AGGREGATOR_DURABLE)
    except (nats.errors.TimeoutError, nats.js.errors.APIError):
        return False  # the consumer's leader is being elected after the restart
    return consumer.num_pending == 0 and consumer.num_ack_pending == 0
