"""Helpers for the alerts integration tests: a real SMTP sink, a scriptable HTTP receiver, seeding
through the pipeline's own write path, the engine composed as the service does, and the scenario
(a commune falls behind on DG-14, then recovers) shared by the test modules.
"""

from __future__ import annotations

import asyncio
import email
import http.server
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email import policy
from typing import Any

import asyncpg
import nats
from aiosmtpd.controller import Controller
from nats.aio.client import Client

from dxmon.catalog import Catalog
from dxmon.contracts import ALERTS_STREAM, ReportReceived, end_of_local_day
from dxmon.devstack import free_port
from dxmon.store.reports_repository import store_reports
from services.alerts import admin
from services.alerts.metrics import Metrics
from services.alerts.scheduler import Scheduler
from services.alerts.settings import AlertsSettings

# ───────────────────────────── SMTP sink ─────────────────────────────


@dataclass
class Mail:
    to: list[str]
    subject: str
    body: str
    at: float


class SmtpSink:
    """SmtpSink is a real SMTP server (aiosmtpd) on a free port that keeps every message."""

    def __init__(self) -> None:
        self.messages: list[Mail] = []
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd hook name
        msg = email.message_from_bytes(envelope.content, policy=policy.default)
        part = msg.get_body(preferencelist=("plain",)) or msg
        self.messages.append(Mail(list(envelope.rcpt_tos), str(msg["Subject"]), part.get_content(), time.monotonic()))
        return "250 OK"

    def url(self, to: str) -> str:
        return f"mailto://127.0.0.1:{self.port}?from=dx-monitor@example.vn&to={to}&mode=insecure"

    def to(self, address: str) -> list[Mail]:
        return [m for m in self.messages if address in m.to]


# ───────────────────────────── HTTP receiver ─────────────────────────────


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: object
    at: float
    status: int


@dataclass
class Receiver:
    """Receiver records every request; it answers the statuses in ``script`` first, then 200."""

    port: int = 0
    script: list[int] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def bodies(self, path: str | None = None, status: int | None = None) -> list:
        return [
            r.body for r in self.requests if (path is None or r.path == path) and (status is None or r.status == status)
        ]


def start_receiver() -> tuple[Receiver, http.server.ThreadingHTTPServer]:
    """start_receiver serves a Receiver on a free port in a thread; shut the server down after."""
    rec = Receiver()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # http.server hook name
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw or b"null")
            except ValueError:
                body = raw.decode("utf-8", "replace")
            status = rec.script.pop(0) if rec.script else 200
            rec.requests.append(Request("POST", self.path, dict(self.headers), body, time.monotonic(), status))
            payload = b'{"id": 1, "message": "ok"}' if status < 300 else b'{"message": "try later"}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()  # quick shutdown()
    return rec, server


# ───────────────────────────── data ─────────────────────────────


def report(
    unit: str,
    indicator: str,
    observed: date,
    *,
    numerator: float | None = None,
    denominator: float | None = None,
    value: float | None = None,
    received: datetime | None = None,
) -> ReportReceived:
    observed_at = end_of_local_day(observed)
    return ReportReceived(
        event_id=uuid.uuid4(),
        unit=unit,
        indicator=indicator,
        observed_at=observed_at,
        value=value,
        numerator=numerator,
        denominator=denominator,
        received_at=received or observed_at.astimezone(UTC),
        agency="test",
        key_id="test",
    )


async def seed(database_url: str, reports: list[ReportReceived], committed_at: datetime) -> None:
    """seed stores reports through the aggregator's own write path."""
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            await store_reports(conn, reports, committed_at)
    finally:
        await conn.close()


# ───────────────────────────── the engine ─────────────────────────────


class Clock:
    """Clock is the injected clock: real time shifted by ``offset``, which a test may jump forward."""

    def __init__(self, start: datetime) -> None:
        self.base = start
        self.started = time.monotonic()

    def __call__(self) -> datetime:
        return self.base + timedelta(seconds=time.monotonic() - self.started)

    def set(self, moment: datetime) -> None:
        self.base, self.started = moment, time.monotonic()


def fast_settings(database_url: str, nats_url: str, **overrides: Any) -> AlertsSettings:
    """fast_settings: the service's settings with intervals short enough for tests."""
    values: dict[str, Any] = dict(
        database_url=database_url,
        nats_url=nats_url,
        public_dashboard_url="http://grafana.test",
        alerts_full_interval_seconds=3600,
        alerts_flush_interval_seconds=0.3,
        alerts_incremental_debounce_seconds=0.05,
        alerts_lease_renew_seconds=0.5,
        alerts_outbox_poll_seconds=0.1,
        alerts_retry_initial_seconds=0.3,
        alerts_retry_max_seconds=2,
        alerts_max_attempts=5,
        alerts_send_timeout_seconds=5,
        alerts_repeat_interval_seconds=7 * 86400,
        alerts_escalate_after_seconds=30 * 86400,
    )
    values.update(overrides)
    return AlertsSettings(_env_file=None, **values)


@dataclass
class Engine:
    """Engine is one alerts instance's scheduler with the connections it owns."""

    scheduler: Scheduler
    pool: asyncpg.Pool
    nc: Client
    metrics: Metrics
    clock: Clock
    closed: bool = False

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            await self.pool.close()
            await self.nc.close()


async def alert_events(nats_url: str) -> list[dict]:
    """alert_events reads every message on DX_ALERTS, in order."""
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    info = await js.stream_info(ALERTS_STREAM)
    out = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        if info.state.messages == 0:
            break
        msg = await js.get_msg(ALERTS_STREAM, seq)
        assert msg.data is not None  # every alert event has a body
        out.append({"subject": msg.subject, **json.loads(msg.data)})
    await nc.close()
    return out


# ───────────────────────────── the scenario ─────────────────────────────

UNIT, OTHER, INDICATOR = "QN-P-HONGGAI", "QN-P-HALONG", "DG-14"
T = datetime(2026, 3, 10, 3, 0, tzinfo=UTC)  # 10:00 in Hạ Long


async def subscribe(database_url: str, catalog: Catalog, *subs: tuple[str, str]) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        for unit, url in subs:
            await admin.add_subscription(
                conn, catalog, unit=unit, with_descendants=False, pillars=[], min_severity="warning", channel=url
            )
    finally:
        await conn.close()


async def silence(database_url: str, catalog: Catalog, unit: str, now: datetime) -> None:
    """silence mutes every alert of ``unit`` for two hours from ``now``, as `dxmon alerts silence` does."""
    conn = await asyncpg.connect(database_url)
    try:
        await admin.add_silence(
            conn,
            catalog,
            unit=unit,
            indicator=None,
            duration="2h",
            reason="đang rà soát số liệu",
            created_by="test",
            now=now,
        )
    finally:
        await conn.close()


async def fall_behind(database_url: str) -> None:
    """fall_behind: 50% of work files processed online in Q4/2025, against ~61.5% expected on 10/03/2026.

    The figure came in on 02/02/2026, after NQ 09's cut-off for 2025 (30/01/2026): the 2025 outcome is
    final with nothing received by then (Không đạt, no value), so the 2030 path does not restart from the
    unit's own value (dxmon.progress.restart_day) and runs from NQ 09's 60% (31/12/2025) to its 2030
    orientation's 100% (31/12/2030).
    """
    late = datetime(2026, 2, 2, 3, 0, tzinfo=UTC)
    await seed(
        database_url, [report(UNIT, INDICATOR, date(2025, 12, 31), numerator=50, denominator=100, received=late)], T
    )


async def recover(database_url: str, at: datetime) -> None:
    """recover: a correction for the same month (latest received wins) puts the unit above the path."""
    await seed(
        database_url, [report(UNIT, INDICATOR, date(2025, 12, 31), numerator=95, denominator=100, received=at)], at
    )


async def cycle(engine: Engine, now: datetime, units=None) -> int:
    """cycle runs one round as the scheduler does: evaluate, emit, flush, deliver."""
    s = engine.scheduler
    engine.clock.set(now)
    await s.evaluator.run_pass(now, units)
    await s.emitter.emit_pending()
    queued = await s.dispatcher.flush(now)
    await s.outbox.deliver_due()
    return queued


async def wait_for(predicate, timeout: float, what: str) -> float:
    """wait_for polls ``predicate`` and returns how long it took."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)
    return time.monotonic() - started
