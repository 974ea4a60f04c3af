"""Dispatch: routes alerts to channels through subscriptions, then runs one flush of the pipeline.

    alerts (firing + resolutions pending) ──Router──▶ {channel: alerts} ──fanout──▶ pipeline per channel
                                                                                      │ digests, log rows
                                                              one transaction ◀──────┘ (outbox + nflog)

Routing rules (data, not code): a subscription covers its unit, and with ``with_descendants`` every
unit below it in the catalog tree; it only takes alerts of its pillars (all when none are given)
and at or above its minimum severity. A unit behind for longer than the escalation delay is also
routed to the subscriptions of its parent unit, marked as escalated.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial

import asyncpg

from services.alerts import repository as repo
from services.alerts.alert import ESCALATING_KINDS, Alert, Channel, Flush, Subscription
from services.alerts.messages import Message, render_digest
from services.alerts.metrics import Metrics
from services.alerts.notify.dedup_stage import LogEntry
from services.alerts.notify.pipeline import build_pipeline, fanout

log = logging.getLogger("dx.alerts.dispatch")

_MAX_DEPTH = 16  # the unit tree is 4 levels deep; a guard against a cycle in a bad catalog


class Router:
    """Router maps alerts to the channels that must hear about them; pure, no I/O."""

    def __init__(
        self, subscriptions: Sequence[Subscription], parent_of: Mapping[str, str | None], escalate_after: timedelta
    ) -> None:
        self.by_unit: dict[str, list[Subscription]] = defaultdict(list)
        for s in subscriptions:
            self.by_unit[s.unit].append(s)
        self.parent_of = parent_of
        self.escalate_after = escalate_after

    def ancestors(self, unit: str) -> list[str]:
        chain, current = [], self.parent_of.get(unit)
        while current is not None and len(chain) < _MAX_DEPTH:
            chain.append(current)
            current = self.parent_of.get(current)
        return chain

    def escalates(self, alert: Alert, now: datetime) -> bool:
        """escalates: the alert also goes to the parent unit (resolutions follow, for those told)."""
        if alert.kind not in ESCALATING_KINDS:
            return False
        return not alert.firing or now - alert.since() >= self.escalate_after

    def route(self, alerts: Sequence[Alert], now: datetime) -> dict[Channel, list[Alert]]:
        """route returns each channel's alerts, each alert at most once per channel (direct wins)."""
        groups: dict[Channel, dict[str, Alert]] = defaultdict(dict)
        for a in alerts:
            direct = list(self.by_unit.get(a.unit, ()))
            for ancestor in self.ancestors(a.unit):
                direct += [s for s in self.by_unit.get(ancestor, ()) if s.with_descendants]
            for s in direct:
                if _accepts(s, a):
                    groups[s.channel][a.fingerprint] = a
            parent = self.parent_of.get(a.unit)
            if parent is not None and self.escalates(a, now):
                escalated = replace(a, escalated=True)
                for s in self.by_unit.get(parent, ()):
                    if not s.with_descendants and _accepts(s, a):
                        groups[s.channel].setdefault(a.fingerprint, escalated)
        return {channel: list(by_fp.values()) for channel, by_fp in groups.items()}


def _accepts(s: Subscription, a: Alert) -> bool:
    return a.severity.rank >= s.min_severity.rank and (not s.pillars or a.pillar in s.pillars)


@dataclass
class FlushLog:
    """FlushLog is the notification log as one flush sees it: read from a snapshot, written on commit."""

    snapshot: dict[int, dict[str, LogEntry]]
    records: list[repo.LogRecord] = field(default_factory=list)

    def entries(self, receiver_id: int) -> Mapping[str, LogEntry]:
        return self.snapshot.get(receiver_id, {})

    async def record(self, flush: Flush, alerts: Sequence[Alert]) -> None:
        self.records += [
            repo.LogRecord(flush.receiver.id, a.fingerprint, a.state, a.starts_at, flush.now) for a in alerts
        ]


@dataclass
class FlushOutbox:
    """FlushOutbox collects a flush's digests; they are written with the log in one transaction."""

    items: list[repo.OutboxItem] = field(default_factory=list)

    async def enqueue(self, flush: Flush, message: Message) -> None:
        reason = message.payload.get("reason", "")
        self.items.append(repo.OutboxItem(flush.receiver.id, flush.now, reason, message))


class Dispatcher:
    """Dispatcher runs flushes: route, pipeline per channel, then commit digests and log together.

    Only the lease holder calls ``flush``, and never concurrently with itself.
    """

    def __init__(
        self, pool: asyncpg.Pool, parent_of: Mapping[str, str | None], metrics: Metrics, *,
        repeat_interval: timedelta, escalate_after: timedelta, public_url: str | None,
    ) -> None:
        self.pool = pool
        self.parent_of = parent_of
        self.metrics = metrics
        self.repeat_interval = repeat_interval
        self.escalate_after = escalate_after
        self.render = partial(render_digest, public_url=public_url)

    async def flush(self, now: datetime) -> int:
        """flush notifies every channel whose alerts changed and returns how many digests were queued."""
        async with self.pool.acquire() as conn, conn.transaction():
            alerts = await repo.flush_alerts(conn)
            router = Router(await repo.subscriptions(conn), self.parent_of, self.escalate_after)
            groups = router.route(alerts, now)
            if not groups:
                return 0
            nflog = FlushLog(await repo.notification_log(conn, [c.id for c in groups], [a.fingerprint for a in alerts]))
            outbox = FlushOutbox()
            pipeline = build_pipeline(
                silences=await repo.active_silences(conn, now), acks=await repo.active_acks(conn, now),
                nflog=nflog, outbox=outbox, render=self.render, metrics=self.metrics,
            )
            work = [
                (Flush(f"channel:{channel.id}", channel, now, self.repeat_interval), group)
                for channel, group in sorted(groups.items(), key=lambda kv: kv[0].id)
            ]
            failed = set()
            for flush, exc in await fanout(pipeline, work):
                log.error("flush failed for channel %d: %s", flush.receiver.id, exc, exc_info=exc)
                failed.add(flush.receiver.id)
            # A channel whose chain broke half-way keeps neither digest nor log: the next flush redoes it.
            outbox.items = [i for i in outbox.items if i.channel_id not in failed]
            nflog.records = [r for r in nflog.records if r.channel_id not in failed]
            await repo.write_flush(conn, outbox.items, nflog.records)
        for item in outbox.items:
            log.info("digest queued for channel %d (%s)", item.channel_id, item.reason)
        return len(outbox.items)

