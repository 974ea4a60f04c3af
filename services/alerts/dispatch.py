"""Dispatch: routes alerts to channels through subscriptions, then runs one flush of the pipeline.

    alerts (firing + resolutions pending) ──Router──▶ {channel: alerts} ──fanout──▶ pipeline per channel
                                                                                      │ digests, log rows
                                                              one transaction ◀──────┘ (outbox + nflog)

Routing rules (data, not code): a subscription covers its unit, and with ``with_descendants`` every
unit below it in the catalog tree; it only takes alerts of its pillars (all when none are given)
and at or above its minimum severity. A unit behind for longer than the escalation delay is also
routed to the subscriptions of its parent unit, marked as escalated.

Final outcomes (a milestone's result after the cut-off, or an operator's lock) are not alerts: each
is announced once, in one "final outcomes" notice per channel, target set and deadline, routed by the
same rules at severity warning, and marked announced in the flush's transaction. An outcome whose
cut-off ended more than ``NEWS_HORIZON`` ago is history (a back-fill): marked, never sent. A unit's
period returned by an approver (data approval) is told the same way, once, to the subscriptions that
cover the unit (``returns.py``).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from functools import partial

import asyncpg

from services.alerts import repository as repo
from services.alerts import returns
from services.alerts.alert import ESCALATING_KINDS, Alert, Channel, FinalOutcome, Flush, Severity, Subscription
from services.alerts.messages import OUTCOMES_REASON, Message, render_digest, render_outcomes
from services.alerts.metrics import Metrics
from services.alerts.notify.dedup_stage import LogEntry
from services.alerts.notify.pipeline import build_pipeline, fanout

log = logging.getLogger("dx.alerts.dispatch")

_MAX_DEPTH = 16  # the unit tree is 4 levels deep; a guard against a cycle in a bad catalog
# A final outcome is news for this long after its cut-off ended; older ones are history, not sent.
NEWS_HORIZON = timedelta(days=30)
# Subscriptions' min_severity sees a final outcome as a warning: one notice, nothing to act on at once.
OUTCOME_SEVERITY = Severity.WARNING


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
        chain: list[str] = []
        current = self.parent_of.get(unit)
        while current is not None and len(chain) < _MAX_DEPTH:
            chain.append(current)
            current = self.parent_of.get(current)
        return chain

    def covering(self, unit: str) -> list[Subscription]:
        """covering: the subscriptions of ``unit``, and of its ancestors taken with their descendants."""
        direct = list(self.by_unit.get(unit, ()))
        for ancestor in self.ancestors(unit):
            direct += [s for s in self.by_unit.get(ancestor, ()) if s.with_descendants]
        return direct

    def route_outcomes(self, outcomes: Sequence[FinalOutcome]) -> dict[tuple[Channel, str, date], list[FinalOutcome]]:
        """route_outcomes groups final outcomes per (channel, target set, deadline): one notice each."""
        groups: dict[tuple[Channel, str, date], dict[tuple[str, str], FinalOutcome]] = defaultdict(dict)
        for o in outcomes:
            for s in self.covering(o.unit):
                if _takes(s, OUTCOME_SEVERITY, o.pillar):
                    groups[(s.channel, o.target_set, o.milestone)][(o.unit, o.indicator)] = o
        return {key: list(by_pair.values()) for key, by_pair in groups.items()}

    def escalates(self, alert: Alert, now: datetime) -> bool:
        """escalates: the alert also goes to the parent unit (resolutions follow, for those told)."""
        if alert.kind not in ESCALATING_KINDS:
            return False
        return not alert.firing or now - alert.since() >= self.escalate_after

    def route(self, alerts: Sequence[Alert], now: datetime) -> dict[Channel, list[Alert]]:
        """route returns each channel's alerts, each alert at most once per channel (direct wins)."""
        groups: dict[Channel, dict[str, Alert]] = defaultdict(dict)
        for a in alerts:
            for s in self.covering(a.unit):
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
    return _takes(s, a.severity, a.pillar)


def _takes(s: Subscription, severity: Severity, pillar: str) -> bool:
    return severity.rank >= s.min_severity.rank and (not s.pillars or pillar in s.pillars)


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
        self,
        pool: asyncpg.Pool,
        parent_of: Mapping[str, str | None],
        metrics: Metrics,
        *,
        repeat_interval: timedelta,
        escalate_after: timedelta,
        public_url: str | None,
    ) -> None:
        self.pool = pool
        self.parent_of = parent_of
        self.metrics = metrics
        self.repeat_interval = repeat_interval
        self.escalate_after = escalate_after
        self.public_url = public_url
        self.render = partial(render_digest, public_url=public_url)
        self.render_outcomes = partial(render_outcomes, public_url=public_url)

    async def flush(self, now: datetime) -> int:
        """flush notifies every channel whose alerts changed, announces new final outcomes, and returns
        how many digests and notices were queued (all in one transaction: a restart sends nothing twice)."""
        async with self.pool.acquire() as conn, conn.transaction():
            router = Router(await repo.subscriptions(conn), self.parent_of, self.escalate_after)
            items, records = await self._digests(conn, router, now)
            outcomes = await repo.unannounced_outcomes(conn)
            try:
                notices = self._notices(router, outcomes, now)
            except Exception:  # a notice that cannot be rendered must not hold the alerts back
                log.exception("final-outcome notices not rendered; retried at the next flush")
                notices, outcomes = [], []
            returned = await returns.untold(conn)  # periods returned by an approver (data approval)
            try:
                notices += self._return_notices(router, returned, now)
            except Exception:  # like the outcome notices: never hold the alerts back
                log.exception("notices of returned periods not rendered; retried at the next flush")
                returned = []
            await repo.write_flush(conn, items + notices, records)
            await repo.mark_announced(conn, outcomes, now)
            await returns.mark_told(conn, returned, now)
        for item in items + notices:
            log.info("digest queued for channel %d (%s)", item.channel_id, item.reason)
        return len(items) + len(notices)

    async def _digests(
        self, conn: asyncpg.Connection, router: Router, now: datetime
    ) -> tuple[list[repo.OutboxItem], list[repo.LogRecord]]:
        """_digests runs the pipeline for every channel whose alerts need telling."""
        alerts = await repo.flush_alerts(conn)
        groups = router.route(alerts, now)
        if not groups:
            return [], []
        nflog = FlushLog(await repo.notification_log(conn, [c.id for c in groups], [a.fingerprint for a in alerts]))
        outbox = FlushOutbox()
        pipeline = build_pipeline(
            silences=await repo.active_silences(conn, now),
            acks=await repo.active_acks(conn, now),
            nflog=nflog,
            outbox=outbox,
            render=self.render,
            metrics=self.metrics,
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
        return (
            [i for i in outbox.items if i.channel_id not in failed],
            [r for r in nflog.records if r.channel_id not in failed],
        )

    def _return_notices(
        self, router: Router, returned: Sequence[returns.ReturnedPeriod], now: datetime
    ) -> list[repo.OutboxItem]:
        """_return_notices: one notice per channel covering the unit of each returned period."""
        items = []
        for r in returned:
            channels = {s.channel for s in router.covering(r.unit) if returns.takes(s.min_severity, s.pillars, r)}
            message = returns.render_return(now, r, public_url=self.public_url)
            items += [
                repo.OutboxItem(c.id, now, returns.RETURN_REASON, message) for c in sorted(channels, key=lambda c: c.id)
            ]
        return items

    def _notices(self, router: Router, outcomes: Sequence[FinalOutcome], now: datetime) -> list[repo.OutboxItem]:
        """_notices: one "final outcomes" notice per channel, target set and deadline, for the news.

        The news is told to whoever covers its unit (possibly nobody); the history is passed over.
        The caller marks every one of ``outcomes`` announced with the notices.
        """
        news = [o for o in outcomes if now - o.cutoff_ended() <= NEWS_HORIZON]
        if len(news) < len(outcomes):
            log.info(
                "%d final outcomes older than %s marked announced without a notice",
                len(outcomes) - len(news),
                NEWS_HORIZON,
            )
        groups = router.route_outcomes(news)
        return [
            repo.OutboxItem(channel.id, now, OUTCOMES_REASON, self.render_outcomes(now, group))
            for (channel, _, _), group in sorted(groups.items(), key=lambda kv: (kv[0][0].id, kv[0][1], kv[0][2]))
        ]
