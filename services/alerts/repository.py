"""Repository: every SQL statement of the alerts service, parameterised, taking domain arguments.

Functions take an asyncpg connection; the caller owns the transaction. Tables are created by
``dxmon/store/migrations/0003_alerts.sql``; progress statuses are read from ``progress_current``.
One file over 400 lines on purpose: it is the service's whole SQL surface, reviewed in one place.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from dxmon.progress import Tolerance
from services.alerts.alert import (
    FAR_BEHIND,
    SEVERE_PERIODS,
    Acknowledgement,
    Alert,
    Channel,
    FinalOutcome,
    Kind,
    Severity,
    Silence,
    State,
    Subscription,
)
from services.alerts.messages import Message
from services.alerts.notify.dedup_stage import LogEntry

# ───────────────────────────── lifecycle ─────────────────────────────


@dataclass(frozen=True)
class AlertChange:
    """AlertChange is one state change written by ``sync_alerts`` (also a row of ``alert_events``)."""

    event_id: int
    fingerprint: str
    unit: str
    indicator: str
    kind: Kind
    state: State


# $1 now, $2 SEVERE_PERIODS, $3 units (NULL = all), $4 FAR_BEHIND, $5/$6 the tolerance (points, relative).
# Alerts are raised only for units that exist on the evaluation day: a unit that ceased keeps its final status
# in progress_current (history for dashboards) but nobody is left to act on it.
# CTEs all see the table as it was before the statement, so `previous` tells new episodes apart.
_SYNC = """
WITH desired AS (
    SELECT left(md5(concat_ws('|', p.unit, p.indicator, s.kind)), 16) AS fingerprint,
           p.unit, p.indicator, s.kind,
           -- The severity table (alert.py): long or far behind, or long unreported, is critical.
           CASE WHEN s.kind = 'behind' AND (
                         p.status_since <= $1::timestamptz - make_interval(months => $2::int * c.months)
                      OR (CASE WHEN i.direction = 'higher_is_better' THEN p.expected - p.value
                               ELSE p.value - p.expected END)
                         >= $4::double precision * (CASE WHEN i.measure IN ('ratio', 'percent')
                                                         THEN $5::double precision
                                                         ELSE $6::double precision * abs(p.expected) END))
                THEN 'critical'
                WHEN s.kind = 'overdue' AND p.overdue_since
                         <= ($1::timestamptz AT TIME ZONE 'Asia/Ho_Chi_Minh')::date
                            - make_interval(months => ($2::int - 1) * c.months)
                THEN 'critical'
                ELSE 'warning' END AS severity,
           p.value, p.expected, p.target, p.milestone,
           -- when the problem began: an unreported period from the day it counted as missing
           CASE WHEN s.kind = 'overdue' THEN (p.overdue_since::timestamp AT TIME ZONE 'Asia/Ho_Chi_Minh')
                ELSE p.status_since END AS status_since
    FROM progress_current p
    -- Live problems only, two judgements, two possible alerts: a result that can still be put right
    -- (behind, at risk: a milestone is ahead), and reporting missing on a target still ahead (kind
    -- 'overdue'). An outcome (met or missed) is history: it lives in milestone_outcomes and the
    -- scorecard, never as a live alert.
    CROSS JOIN LATERAL (VALUES (CASE WHEN p.status IN ('behind', 'at_risk') THEN p.status END),
                               (CASE WHEN p.reporting = 'missing' AND p.cutoff IS NULL THEN 'overdue' END))
        AS s(kind)
    JOIN indicators i ON i.code = p.indicator
    CROSS JOIN LATERAL (SELECT CASE i.cadence WHEN 'monthly' THEN 1 WHEN 'quarterly' THEN 3 ELSE 12 END AS months) c
    JOIN units u ON u.code = p.unit
    WHERE s.kind IS NOT NULL AND ($3::text[] IS NULL OR p.unit = ANY($3::text[]))
      AND (u.valid_to IS NULL OR u.valid_to >= ($1::timestamptz AT TIME ZONE 'Asia/Ho_Chi_Minh')::date)
),
previous AS (
    SELECT a.fingerprint, a.state FROM alerts a JOIN desired d USING (fingerprint)
),
upserted AS (
    INSERT INTO alerts AS a (fingerprint, unit, indicator, kind, severity, state, starts_at, ends_at,
                             status_since, value, expected, target, milestone, updated_at)
    SELECT fingerprint, unit, indicator, kind, severity, 'firing', $1, NULL,
           status_since, value, expected, target, milestone, $1
    FROM desired
    ON CONFLICT (fingerprint) DO UPDATE SET
        state = 'firing',
        starts_at = CASE WHEN a.state = 'resolved' THEN EXCLUDED.starts_at ELSE a.starts_at END,
        ends_at = NULL,
        status_since = EXCLUDED.status_since, value = EXCLUDED.value, expected = EXCLUDED.expected,
        target = EXCLUDED.target, milestone = EXCLUDED.milestone, severity = EXCLUDED.severity,
        updated_at = EXCLUDED.updated_at
    WHERE a.state = 'resolved'
       OR (a.status_since, a.value, a.expected, a.target, a.milestone, a.severity) IS DISTINCT FROM
          (EXCLUDED.status_since, EXCLUDED.value, EXCLUDED.expected, EXCLUDED.target, EXCLUDED.milestone,
           EXCLUDED.severity)
    RETURNING a.*
),
fired AS (
    SELECT up.* FROM upserted up LEFT JOIN previous p USING (fingerprint)
    WHERE p.state IS DISTINCT FROM 'firing'
),
gone AS MATERIALIZED (  -- the few that resolve, found first: joining inside the UPDATE plans badly
    SELECT a.fingerprint, a.unit, a.indicator FROM alerts a
    WHERE a.state = 'firing'
      AND ($3::text[] IS NULL OR a.unit = ANY($3::text[]))
      AND NOT EXISTS (SELECT 1 FROM desired d WHERE d.fingerprint = a.fingerprint)
),
resolved AS (
    -- A resolution carries the figures that resolved it (the corrected value, the expected value
    -- and target of the day), not those of the last time it fired; kept when the row is gone.
    UPDATE alerts a SET state = 'resolved', ends_at = $1, updated_at = $1,
        value = CASE WHEN p.unit IS NULL THEN a.value ELSE p.value END,
        expected = CASE WHEN p.unit IS NULL THEN a.expected ELSE p.expected END,
        target = CASE WHEN p.unit IS NULL THEN a.target ELSE p.target END,
        milestone = CASE WHEN p.unit IS NULL THEN a.milestone ELSE p.milestone END
    FROM gone g LEFT JOIN progress_current p ON p.unit = g.unit AND p.indicator = g.indicator
    WHERE a.fingerprint = g.fingerprint
    RETURNING a.*
)
INSERT INTO alert_events (fingerprint, unit, indicator, kind, severity, state, at, starts_at,
                          value, expected, target, milestone)
SELECT fingerprint, unit, indicator, kind, severity, state, $1, starts_at, value, expected, target, milestone
FROM (SELECT * FROM fired UNION ALL SELECT * FROM resolved) AS c
ORDER BY state, unit, indicator, kind
RETURNING id, fingerprint, unit, indicator, kind, state
"""


async def sync_alerts(conn: asyncpg.Connection, now: datetime, units: Sequence[str] | None = None) -> list[AlertChange]:
    """sync_alerts makes ``alerts`` follow ``progress_current`` and returns the state changes.

    A live problem (behind, at risk, reporting missing on a target still ahead) fires its alert, with
    the severity of the table in alert.py (a new episode when it was resolved); a firing alert whose
    problem is gone resolves. With ``units`` only those units are
    looked at (incremental evaluation). Each change is also appended to ``alert_events``.
    """
    tolerance = Tolerance()
    rows = await conn.fetch(
        _SYNC,
        now,
        SEVERE_PERIODS,
        list(units) if units is not None else None,
        FAR_BEHIND,
        tolerance.points,
        tolerance.relative,
    )
    return [
        AlertChange(r["id"], r["fingerprint"], r["unit"], r["indicator"], Kind(r["kind"]), State(r["state"]))
        for r in rows
    ]


async def count_firing(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT count(*) FROM alerts WHERE state = 'firing'")


# ───────────────────────────── flush ─────────────────────────────

_ALERT_COLUMNS = """
    a.fingerprint, a.unit, a.indicator, a.kind, a.state, a.starts_at, a.ends_at, a.status_since,
    a.value, a.expected, a.target, a.milestone,
    coalesce(u.name_vi, a.unit) AS unit_name, coalesce(i.name_vi, '') AS indicator_name,
    coalesce(i.pillar, '') AS pillar, coalesce(i.measure, '') AS measure,
    p.last_observed_at AS observed_at, coalesce(i.cadence, '') AS cadence, a.severity,
    CASE WHEN p.milestone = a.milestone THEN p.target_set END AS target_set
"""
# The period of the value comes from the evaluation the figures were copied from.
_ALERT_FROM = """
FROM alerts a
LEFT JOIN units u ON u.code = a.unit
LEFT JOIN indicators i ON i.code = a.indicator
LEFT JOIN progress_current p ON p.unit = a.unit AND p.indicator = a.indicator
"""


def _alert(r: asyncpg.Record) -> Alert:
    return Alert(
        fingerprint=r["fingerprint"],
        unit=r["unit"],
        indicator=r["indicator"],
        kind=Kind(r["kind"]),
        state=State(r["state"]),
        starts_at=r["starts_at"],
        ends_at=r["ends_at"],
        status_since=r["status_since"],
        value=r["value"],
        expected=r["expected"],
        target=r["target"],
        milestone=r["milestone"],
        unit_name=r["unit_name"],
        indicator_name=r["indicator_name"],
        pillar=r["pillar"],
        measure=r["measure"],
        observed_at=r["observed_at"],
        cadence=r["cadence"],
        severity=Severity(r["severity"]),
        target_set=r["target_set"],
    )


async def flush_alerts(conn: asyncpg.Connection) -> list[Alert]:
    """flush_alerts: firing alerts, plus resolved ones some channel was told fired (resolution pending)."""
    rows = await conn.fetch(
        f"SELECT {_ALERT_COLUMNS} {_ALERT_FROM} WHERE a.state = 'firing' OR EXISTS ("
        " SELECT 1 FROM notification_log n WHERE n.fingerprint = a.fingerprint AND n.state = 'firing')"
        " ORDER BY a.unit, a.indicator, a.kind"
    )
    return [_alert(r) for r in rows]


async def forward_alerts(conn: asyncpg.Connection, resolved_since: datetime) -> list[Alert]:
    """forward_alerts: firing alerts and those resolved since ``resolved_since`` (for Alertmanager)."""
    rows = await conn.fetch(
        f"SELECT {_ALERT_COLUMNS} {_ALERT_FROM} WHERE a.state = 'firing' OR a.ends_at >= $1 ORDER BY a.fingerprint",
        resolved_since,
    )
    return [_alert(r) for r in rows]


async def subscriptions(conn: asyncpg.Connection) -> list[Subscription]:
    rows = await conn.fetch(
        "SELECT s.id, s.unit, s.with_descendants, s.pillars, s.min_severity, c.id AS channel_id, c.url"
        " FROM subscriptions s JOIN channels c ON c.id = s.channel_id ORDER BY s.id"
    )
    return [
        Subscription(
            r["id"],
            r["unit"],
            r["with_descendants"],
            tuple(r["pillars"]),
            Severity(r["min_severity"]),
            Channel(r["channel_id"], r["url"]),
        )
        for r in rows
    ]


async def active_silences(conn: asyncpg.Connection, now: datetime) -> list[Silence]:
    rows = await conn.fetch(
        "SELECT id, unit, indicator, starts_at, ends_at, reason, created_by FROM silences"
        " WHERE starts_at <= $1 AND ends_at > $1 ORDER BY id",
        now,
    )
    return [Silence(**dict(r)) for r in rows]


async def active_acks(conn: asyncpg.Connection, now: datetime) -> list[Acknowledgement]:
    rows = await conn.fetch("SELECT fingerprint, until, reason, created_by FROM acknowledgements WHERE until > $1", now)
    return [Acknowledgement(**dict(r)) for r in rows]


async def notification_log(
    conn: asyncpg.Connection, channel_ids: Sequence[int], fingerprints: Sequence[str]
) -> dict[int, dict[str, LogEntry]]:
    """notification_log: what each channel was last told about each of ``fingerprints``."""
    rows = await conn.fetch(
        "SELECT channel_id, fingerprint, state, starts_at, notified_at FROM notification_log"
        " WHERE channel_id = ANY($1::bigint[]) AND fingerprint = ANY($2::text[])",
        list(channel_ids),
        list(fingerprints),
    )
    log: dict[int, dict[str, LogEntry]] = {}
    for r in rows:
        log.setdefault(r["channel_id"], {})[r["fingerprint"]] = LogEntry(
            State(r["state"]), r["starts_at"], r["notified_at"]
        )
    return log


@dataclass(frozen=True)
class OutboxItem:
    """OutboxItem is one digest to put in the outbox."""

    channel_id: int
    created_at: datetime
    reason: str
    message: Message


@dataclass(frozen=True)
class LogRecord:
    """LogRecord is one notification-log row to write."""

    channel_id: int
    fingerprint: str
    state: State
    starts_at: datetime
    notified_at: datetime


async def write_flush(conn: asyncpg.Connection, items: Sequence[OutboxItem], records: Sequence[LogRecord]) -> None:
    """write_flush stores a flush's digests and notification-log rows (call inside one transaction)."""
    if items:
        await conn.executemany(
            "INSERT INTO outbox (channel_id, created_at, reason, subject, body, notify_type, payload, next_attempt_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $2)",
            [
                (
                    i.channel_id,
                    i.created_at,
                    i.reason,
                    i.message.subject,
                    i.message.body,
                    i.message.notify_type,
                    json.dumps(i.message.payload, ensure_ascii=False),
                )
                for i in items
            ],
        )
    if records:
        # One set-based statement: a province-wide flush may log tens of thousands of rows.
        await conn.execute(
            "INSERT INTO notification_log (channel_id, fingerprint, state, starts_at, notified_at)"
            " SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[])"
            " ON CONFLICT (channel_id, fingerprint) DO UPDATE SET"
            " state = EXCLUDED.state, starts_at = EXCLUDED.starts_at, notified_at = EXCLUDED.notified_at",
            [r.channel_id for r in records],
            [r.fingerprint for r in records],
            [r.state.value for r in records],
            [r.starts_at for r in records],
            [r.notified_at for r in records],
        )


# ───────────────────────────── final outcomes ─────────────────────────────

# Final outcomes not announced as they are now: never announced, or an operator's lock changed the
# status or value since (a lock that changes neither is not news). Reopened ones are provisional.
_UNANNOUNCED = """
SELECT o.unit, o.indicator, o.target_set, o.milestone, o.status, o.value, o.target, o.cutoff,
       o.deciding_observed_at AS observed_at,
       coalesce(u.name_vi, o.unit) AS unit_name, coalesce(i.name_vi, '') AS indicator_name,
       coalesce(i.pillar, '') AS pillar, coalesce(i.measure, '') AS measure, coalesce(i.cadence, '') AS cadence
FROM milestone_outcomes o
LEFT JOIN units u ON u.code = o.unit
LEFT JOIN indicators i ON i.code = o.indicator
WHERE o.final AND NOT o.reopened
  AND (o.announced_at IS NULL OR (o.status, o.value) IS DISTINCT FROM (o.announced_status, o.announced_value))
ORDER BY o.target_set, o.milestone, o.unit, o.indicator
"""


async def unannounced_outcomes(conn: asyncpg.Connection) -> list[FinalOutcome]:
    """unannounced_outcomes: final outcomes to announce, as they are now."""
    return [FinalOutcome(**dict(r)) for r in await conn.fetch(_UNANNOUNCED)]


async def mark_announced(conn: asyncpg.Connection, outcomes: Sequence[FinalOutcome], at: datetime) -> None:
    """mark_announced records the outcomes as announced (call in the enqueue's transaction).

    What was announced is recorded as it was read, not as the row is now: an operator's lock that
    commits between the read and this update is then news for the next flush (no row locks, which
    would contend with the evaluation's writes).
    """
    if outcomes:
        await conn.execute(
            "UPDATE milestone_outcome_rows o"
            " SET announced_at = $6, announced_status = k.status, announced_value = k.value"
            " FROM unnest($1::text[], $2::text[], $3::date[], $4::text[], $5::float8[], $7::text[])"
            "  AS k(unit, indicator, milestone, status, value, target_set)"
            " WHERE o.unit = k.unit AND o.indicator = k.indicator AND o.milestone = k.milestone"
            "   AND o.target_set = k.target_set",
            [o.unit for o in outcomes],
            [o.indicator for o in outcomes],
            [o.milestone for o in outcomes],
            [o.status for o in outcomes],
            [o.value for o in outcomes],
            at,
            [o.target_set for o in outcomes],
        )


# ───────────────────────────── outbox ─────────────────────────────


@dataclass(frozen=True)
class Pending:
    """Pending is one undelivered digest with its channel."""

    id: int
    channel: Channel
    message: Message
    attempts: int
    next_attempt_at: datetime


async def pending_outbox(conn: asyncpg.Connection, limit: int = 500) -> list[Pending]:
    """pending_outbox: undelivered digests, oldest first within each channel."""
    rows = await conn.fetch(
        "SELECT o.id, o.channel_id, c.url, o.subject, o.body, o.notify_type, o.payload, o.attempts, o.next_attempt_at"
        " FROM outbox o JOIN channels c ON c.id = o.channel_id"
        " WHERE o.state = 'pending' ORDER BY o.channel_id, o.id LIMIT $1",
        limit,
    )
    return [
        Pending(
            r["id"],
            Channel(r["channel_id"], r["url"]),
            Message(r["subject"], r["body"], r["notify_type"], json.loads(r["payload"])),
            r["attempts"],
            r["next_attempt_at"],
        )
        for r in rows
    ]


async def record_attempt(
    conn: asyncpg.Connection,
    outbox_id: int,
    attempt: int,
    at: datetime,
    outcome: str,
    error: str | None,
    duration_ms: float,
    next_attempt_at: datetime | None,
) -> None:
    """record_attempt logs one delivery attempt and moves the digest on (delivered, failed, or retry later)."""
    await conn.execute(
        "WITH attempt AS ("
        "  INSERT INTO delivery_attempts (outbox_id, attempt, at, outcome, error, duration_ms)"
        "  VALUES ($1, $2, $3, $4, $5, $6))"
        " UPDATE outbox SET attempts = $2, last_error = $5,"
        "  state = CASE $4 WHEN 'delivered' THEN 'delivered' WHEN 'failed' THEN 'failed' ELSE 'pending' END,"
        "  next_attempt_at = coalesce($7, next_attempt_at),"
        "  finished_at = CASE WHEN $4 = 'retry' THEN NULL ELSE $3 END"
        " WHERE id = $1",
        outbox_id,
        attempt,
        at,
        outcome,
        error,
        duration_ms,
        next_attempt_at,
    )


async def count_pending(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT count(*) FROM outbox WHERE state = 'pending'")


# ───────────────────────────── events out ─────────────────────────────


@dataclass(frozen=True)
class AlertEvent:
    """AlertEvent is one row of ``alert_events`` with the names needed to describe it."""

    id: int
    alert: Alert
    at: datetime


async def alert_events(conn: asyncpg.Connection, *, unpublished: bool, limit: int = 500) -> list[AlertEvent]:
    """alert_events: state changes not yet on JetStream (``unpublished``) or not yet annotated in Grafana."""
    column = "published_at" if unpublished else "annotated_at"
    rows = await conn.fetch(
        "SELECT e.id, e.at, e.fingerprint, e.unit, e.indicator, e.kind, e.state, e.starts_at,"
        " CASE WHEN e.state = 'resolved' THEN e.at END AS ends_at, NULL::timestamptz AS status_since,"
        " e.value, e.expected, e.target, e.milestone,"
        " coalesce(u.name_vi, e.unit) AS unit_name, coalesce(i.name_vi, '') AS indicator_name,"
        " coalesce(i.pillar, '') AS pillar, coalesce(i.measure, '') AS measure,"
        " p.last_observed_at AS observed_at, coalesce(i.cadence, '') AS cadence, e.severity,"
        " CASE WHEN p.milestone = e.milestone THEN p.target_set END AS target_set"
        " FROM alert_events e LEFT JOIN units u ON u.code = e.unit LEFT JOIN indicators i ON i.code = e.indicator"
        " LEFT JOIN progress_current p ON p.unit = e.unit AND p.indicator = e.indicator"
        f" WHERE e.{column} IS NULL ORDER BY e.id LIMIT $1",
        limit,
    )
    return [AlertEvent(r["id"], _alert(r), r["at"]) for r in rows]


async def mark_events(conn: asyncpg.Connection, ids: Sequence[int], at: datetime, *, published: bool) -> None:
    column = "published_at" if published else "annotated_at"
    await conn.execute(f"UPDATE alert_events SET {column} = $2 WHERE id = ANY($1::bigint[])", list(ids), at)


# ───────────────────────────── administration (CLI, HTTP) ─────────────────────────────


async def add_subscription(
    conn: asyncpg.Connection,
    unit: str,
    with_descendants: bool,
    pillars: Sequence[str],
    min_severity: Severity,
    channel_url: str,
) -> int:
    """add_subscription stores a subscription (the channel is shared with others using the same URL)."""
    async with conn.transaction():
        channel_id = await conn.fetchval(
            "INSERT INTO channels (url) VALUES ($1) ON CONFLICT (url) DO UPDATE SET url = EXCLUDED.url RETURNING id",
            channel_url,
        )
        return await conn.fetchval(
            "INSERT INTO subscriptions (unit, with_descendants, pillars, min_severity, channel_id)"
            " VALUES ($1, $2, $3, $4, $5) RETURNING id",
            unit,
            with_descendants,
            sorted(set(pillars)),
            min_severity.value,
            channel_id,
        )


async def remove_subscription(conn: asyncpg.Connection, subscription_id: int) -> bool:
    return await conn.fetchval("DELETE FROM subscriptions WHERE id = $1 RETURNING true", subscription_id) is not None


async def list_alerts(conn: asyncpg.Connection, now: datetime, state: State | None = None) -> list[Mapping]:
    """list_alerts: alerts with names, newest change first, with what mutes them at ``now``.

    ``acked_until`` is the running acknowledgement's end; ``silenced_until`` the latest end of the
    silences running at ``now`` that match the alert (Silence.matches, in SQL).
    """
    return await conn.fetch(
        f"SELECT {_ALERT_COLUMNS}, k.until AS acked_until, k.reason AS ack_reason,"
        " (SELECT max(s.ends_at) FROM silences s WHERE s.unit = a.unit"
        "   AND (s.indicator IS NULL OR s.indicator = a.indicator) AND s.starts_at <= $2 AND s.ends_at > $2)"
        f" AS silenced_until {_ALERT_FROM}"
        " LEFT JOIN acknowledgements k ON k.fingerprint = a.fingerprint AND k.until > $2"
        " WHERE $1::text IS NULL OR a.state = $1 ORDER BY a.updated_at DESC, a.unit, a.indicator",
        state.value if state else None,
        now,
    )


async def list_silences(conn: asyncpg.Connection, now: datetime, *, ended: bool = False) -> list[Mapping]:
    """list_silences: silences running or yet to start at ``now`` (with ``ended``, past ones too), by end.

    Unit and indicator names come along for people; a silence of the whole unit has no indicator.
    """
    return await conn.fetch(
        "SELECT s.id, s.unit, coalesce(u.name_vi, s.unit) AS unit_name, s.indicator, i.name_vi AS indicator_name,"
        " s.starts_at, s.ends_at, s.reason, s.created_by"
        " FROM silences s LEFT JOIN units u ON u.code = s.unit LEFT JOIN indicators i ON i.code = s.indicator"
        " WHERE $2 OR s.ends_at > $1 ORDER BY s.ends_at DESC, s.id DESC",
        now,
        ended,
    )


async def add_silence(
    conn: asyncpg.Connection,
    unit: str,
    indicator: str | None,
    starts_at: datetime,
    ends_at: datetime,
    reason: str,
    created_by: str,
) -> int:
    return await conn.fetchval(
        "INSERT INTO silences (unit, indicator, starts_at, ends_at, reason, created_by)"
        " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        unit,
        indicator,
        starts_at,
        ends_at,
        reason,
        created_by,
    )


async def expire_silence(conn: asyncpg.Connection, silence_id: int, now: datetime) -> bool:
    return (
        await conn.fetchval(
            "UPDATE silences SET ends_at = greatest(starts_at + interval '1 microsecond', $2)"
            " WHERE id = $1 AND ends_at > $2 RETURNING true",
            silence_id,
            now,
        )
        is not None
    )


async def acknowledge(
    conn: asyncpg.Connection, fingerprint: str, until: datetime, reason: str, created_by: str
) -> bool:
    """acknowledge records (or extends) an acknowledgement; False when no such alert exists."""
    return (
        await conn.fetchval(
            "INSERT INTO acknowledgements (fingerprint, until, reason, created_by)"
            " SELECT fingerprint, $2, $3, $4 FROM alerts WHERE fingerprint = $1"
            " ON CONFLICT (fingerprint) DO UPDATE SET until = EXCLUDED.until, reason = EXCLUDED.reason,"
            " created_by = EXCLUDED.created_by, created_at = now()"
            " RETURNING true",
            fingerprint,
            until,
            reason,
            created_by,
        )
        is not None
    )
