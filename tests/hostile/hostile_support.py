"""Helpers for the hostile-input, fault and load tests: the services as processes with chosen limits,
exact counters (stream sequence, rows, metrics), raw sockets for misbehaving clients, log checks.

Every count these tests assert is read from the system itself: JetStream's stream sequence (it
only grows, so consumed messages still count), the ``reports`` table, ``dead_letters``, and the
services' own ``/metrics``.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import nats
from prometheus_client.parser import text_string_to_metric_families

from dxmon import devstack
from dxmon.catalog import Catalog
from dxmon.contracts import DEADLETTER_STREAM, REPORTS_STREAM
from dxmon.keys import parse_token
from services.ingest.settings import IngestSettings
from tests.e2e.test_pipeline import Proc, wait_drained  # noqa: F401 - re-exported for the hostile tests
from tests.pipeline import Pipeline

# ───────────────────────────── the stack ─────────────────────────────


@dataclass
class Stack:
    """Stack is ingest (and optionally the aggregator) as ``dxmon serve`` processes on one NATS server."""

    tmp: Path
    nats_url: str
    database_url: str
    setup: Pipeline
    ingest: Proc
    ingest_port: int
    aggregator: Proc | None = None
    aggregator_port: int = 0
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ingest_port}"

    @property
    def aggregator_url(self) -> str:
        return f"http://127.0.0.1:{self.aggregator_port}"

    @property
    def headers(self) -> dict[str, str]:
        return self.setup.headers

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.AsyncClient:
        """client talks to ingest with the all-QN key (or ``token``)."""
        headers = {"Authorization": f"Bearer {token or self.setup.token}"}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=kwargs.pop("timeout", 30), **kwargs)

    def stop(self) -> None:
        self.ingest.stop()
        if self.aggregator is not None:
            self.aggregator.stop()


async def start_stack(
    tmp: Path,
    nats_url: str,
    catalog: Catalog,
    *,
    database_url: str = "postgresql://unused/never",
    aggregator: bool = False,
    ingest_env: dict[str, str] | None = None,
    ingest_args: list[str] | None = None,
    aggregator_env: dict[str, str] | None = None,
    nats_settings: dict[str, Any] | None = None,
) -> Stack:
    """start_stack declares the streams (with ``nats_settings`` overrides), makes a key for all of QN and
    starts ingest (and the aggregator) as processes, waiting until they are ready.

    The aggregator consumer's ack wait is 3 s unless overridden, so messages held by a killed
    aggregator come back quickly.
    """
    tmp.mkdir(parents=True, exist_ok=True)
    setup = Pipeline(nats_url, database_url, catalog)
    setup.ingest_settings = IngestSettings(nats_url=nats_url, **{"ack_wait_seconds": 3, **(nats_settings or {})})
    await setup.setup()
    env = {
        **os.environ,
        "DX_NATS_URL": nats_url,
        "DX_DATABASE_URL": database_url,
        "DX_AGGREGATOR_BATCH_TIMEOUT_SECONDS": "0.05",
    }
    ingest_port = devstack.free_port()
    ingest = Proc(
        "ingest",
        ["ingest", "--port", str(ingest_port), *(ingest_args or [])],
        {**env, **(ingest_env or {})},
        tmp / "ingest.log",
        f"http://127.0.0.1:{ingest_port}/readyz",
    )
    stack = Stack(tmp, nats_url, database_url, setup, ingest, ingest_port, env=env)
    if aggregator:
        stack.aggregator_port = devstack.free_port()
        stack.aggregator = Proc(
            "aggregator",
            ["aggregator", "--host", "127.0.0.1", "--port", str(stack.aggregator_port)],
            {**env, **(aggregator_env or {})},
            tmp / "aggregator.log",
            f"{stack.aggregator_url}/readyz",
        )
        stack.aggregator.start()
    ingest.start()
    try:
        if stack.aggregator is not None:
            await stack.aggregator.ready()
        await ingest.ready()
    except BaseException:
        stack.stop()
        raise
    return stack


async def drop_database(admin_url: str, database_url: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{database_url.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await conn.close()


def private_nats(tmp: Path, config: str = "") -> devstack.LocalServer:
    """private_nats starts a nats-server of the test's own (it may be stopped, killed or filled)."""
    conf = None
    if config:
        conf = tmp / "nats.conf"
        tmp.mkdir(parents=True, exist_ok=True)
        conf.write_text(config)
    return devstack.nats_server(tmp / "nats", config=conf).start()


# ───────────────────────────── counting ─────────────────────────────


class SyncProbe:
    """SyncProbe reads JetStream and PostgreSQL from synchronous code (hypothesis and schemathesis drive
    plain functions) on an event loop of its own."""

    def __init__(self, nats_url: str, database_url: str | None = None) -> None:
        self.loop = asyncio.new_event_loop()
        self.nc = self.run(nats.connect(nats_url))
        self.js = self.nc.jetstream()
        self.db = self.run(asyncpg.connect(database_url)) if database_url else None

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def last_seq(self) -> int:
        """last_seq: how many reports DX_REPORTS has ever stored (consumed ones included)."""
        return self.run(self.js.stream_info(REPORTS_STREAM)).state.last_seq

    def fetchrow(self, sql: str, *args: Any) -> Any:
        assert self.db is not None
        return self.run(self.db.fetchrow(sql, *args))

    def fetchval(self, sql: str, *args: Any) -> Any:
        assert self.db is not None
        return self.run(self.db.fetchval(sql, *args))

    def close(self) -> None:
        if self.db is not None:
            self.run(self.db.close())
        self.run(self.nc.close())
        self.loop.close()


async def stream_state(nats_url: str, stream: str = REPORTS_STREAM) -> Any:
    """stream_state: JetStream's state of a stream (``last_seq`` counts every message ever stored)."""
    nc = await nats.connect(nats_url)
    try:
        return (await nc.jetstream().stream_info(stream)).state
    finally:
        await nc.close()


async def deadletter_count(nats_url: str) -> int:
    return (await stream_state(nats_url, DEADLETTER_STREAM)).messages


async def fetchval(database_url: str, sql: str, *args: Any) -> Any:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def stored_ids(database_url: str) -> list[str]:
    """stored_ids: every event id in ``reports`` (a list, so a doubled row would show)."""
    conn = await asyncpg.connect(database_url)
    try:
        return [r[0] for r in await conn.fetch("SELECT event_id::text FROM reports")]
    finally:
        await conn.close()


def metric(text: str, name: str, **labels: str) -> float:
    """metric reads one sample from a Prometheus exposition (0 when the labelled series is absent)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


async def scrape(url: str) -> str:
    async with httpx.AsyncClient(timeout=5) as client:
        return (await client.get(f"{url}/metrics")).text


# ───────────────────────────── misbehaving clients ─────────────────────────────


def raw_request(port: int, head: str, body: bytes = b"") -> socket.socket:
    """raw_request opens a connection and sends ``head`` (CRLF added) and ``body``, leaving it open."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(head.replace("\n", "\r\n").encode() + body)
    return sock


def read_until_closed(sock: socket.socket, timeout: float) -> tuple[bytes, float]:
    """read_until_closed reads until the server closes the connection; returns what came and when
    (``time.monotonic()``), or the time ``timeout`` ran out while it was still open."""
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return data, time.monotonic()


def post_head(token: str, length: int, content_type: str = "application/json") -> str:
    return (
        f"POST /v1/reports HTTP/1.1\nHost: ingest\nAuthorization: Bearer {token}\n"
        f"Content-Type: {content_type}\nContent-Length: {length}\n\n"
    )


# ───────────────────────────── logs ─────────────────────────────


def secret_pieces(token: str) -> set[str]:
    """secret_pieces: what must never be echoed or logged of a token (it whole, its secret, 12 chars of it)."""
    parts = parse_token(token)
    secret = parts[1] if parts else token
    return {token, secret, secret[:12], secret[-12:]}


def assert_no_leak(text: str, *tokens: str, where: str) -> None:
    """assert_no_leak: ``text`` holds no stack trace and no secret material of ``tokens``."""
    for marker in ("Traceback", 'File "/'):
        assert marker not in text, f"stack trace in {where}: " + text[max(0, text.index(marker) - 300) :][:3000]
    for token in tokens:
        for piece in secret_pieces(token):
            assert piece not in text, f"secret material {piece[:4]}… in {where}"


# ───────────────────────────── a notification channel ─────────────────────────────


@dataclass
class Delivery:
    path: str
    body: Any
    status: int


class Receiver:
    """Receiver is a webhook endpoint on a free port (in a thread). It records each POST and answers
    ``status()``; ``on_post`` runs first, before anything is answered (e.g. to kill the sender)."""

    def __init__(self, status: Any = lambda: 200, on_post: Any = None) -> None:
        self.deliveries: list[Delivery] = []
        self.status, self.on_post = status, on_post
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server hook name
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if len(raw) < length:
                    return  # the sender died mid-request: nothing was delivered
                body = json.loads(raw or b"null")
                if receiver.on_post is not None:
                    receiver.on_post(self.path, body)
                status = receiver.status()
                receiver.deliveries.append(Delivery(self.path, body, status))
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender is gone (killed on purpose)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()  # quick shutdown()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
