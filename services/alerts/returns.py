"""Returns: a unit's period returned by an approver (data approval) is told to the unit's subscribers, once.

    approval_decisions (returned, no approval_notices row) ──Router.covering(unit)──▶ one notice per channel
                                                                 outbox + approval_notices (the flush's transaction)

The same path as the "final outcomes" notices (``dispatch.py``): the flush reads the returns nobody was
told about, queues one notice per (channel, return) and records them as told in its one transaction,
so a restart sends nothing twice. Routing: the subscriptions covering the unit (the unit, or an
ancestor taken with its descendants); a return counts as a warning for ``min_severity``; a return
of one indicator follows the subscription's pillars, a return of the whole period reaches them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from dxmon import words
from dxmon.formatting import format_moment
from dxmon.store.approvals_repository import parse_period
from services.alerts.alert import Severity
from services.alerts.messages import _FOOTER, _SENDER, PAYLOAD_VERSION, SUBJECT_PREFIX, Message, dashboard_url

RETURN_TYPE = "approval_returned"  # the webhook payload's ``type``
RETURN_REASON = "approval returned"  # the outbox row's reason
RETURN_SEVERITY = Severity.WARNING


@dataclass(frozen=True)
class ReturnedPeriod:
    """ReturnedPeriod: one return decision not yet told (``indicator`` '' = the whole period)."""

    decision_id: int
    unit: str
    unit_name: str
    period: str
    indicator: str
    indicator_name: str | None
    pillar: str | None
    comment: str
    by: str
    at: datetime


_UNTOLD = """
SELECT d.id AS decision_id, d.unit, coalesce(u.name_vi, d.unit) AS unit_name, d.period, d.indicator,
       i.name_vi AS indicator_name, i.pillar, d.comment, d.by, d.at
FROM approval_decisions d
LEFT JOIN units u ON u.code = d.unit
LEFT JOIN indicators i ON i.code = d.indicator
WHERE d.decision = 'returned' AND NOT EXISTS (SELECT 1 FROM approval_notices n WHERE n.decision_id = d.id)
ORDER BY d.id
"""


async def untold(conn: asyncpg.Connection) -> list[ReturnedPeriod]:
    """untold: the returns the unit's subscribers have not been told about, oldest first."""
    return [ReturnedPeriod(**dict(r)) for r in await conn.fetch(_UNTOLD)]


async def mark_told(conn: asyncpg.Connection, returns: Sequence[ReturnedPeriod], at: datetime) -> None:
    """mark_told records the returns as told (call in the transaction that queues their notices)."""
    if returns:
        await conn.execute(
            "INSERT INTO approval_notices (decision_id, announced_at) SELECT unnest($1::bigint[]), $2"
            " ON CONFLICT DO NOTHING",
            [r.decision_id for r in returns],
            at,
        )


def render_return(now: datetime, r: ReturnedPeriod, *, public_url: str | None) -> Message:
    """render_return: "Báo cáo tháng 11/2026 của Phường Hồng Gai bị trả lại: <comment>"."""
    period = parse_period(None, r.period).label_vi
    what = f"Báo cáo {period} của {r.unit_name} ({r.unit})"
    scope = (
        f"{words.INDICATOR.lower()} {r.indicator} {r.indicator_name or ''}".rstrip()
        if r.indicator
        else f"mọi {words.INDICATORS_LOWER} của kỳ"
    )
    # One line, whatever the comment: its line breaks must not reach a mail header.
    subject = f"{SUBJECT_PREFIX} {what} bị {words.APPROVAL['returned'].lower()}: {' '.join(r.comment.split())}"
    body = [
        f"{words.GREETING}: cán bộ phụ trách,",
        "",
        f"{_SENDER} thông báo: {what} bị {words.APPROVAL['returned'].lower()} ({scope}).",
        f"Ý kiến: {r.comment}",
        f"Người trả lại: {r.by}, {format_moment(r.at)}.",
        "",
        "Đề nghị đơn vị kiểm tra, sửa và gửi lại số liệu; số liệu gửi lại sẽ ở trạng thái "
        f"{words.APPROVAL['submitted']}.",
    ]
    if link := dashboard_url(public_url, r.unit):
        body.append(f"Bảng theo dõi: {link}")
    body += _FOOTER
    text = "\n".join(body)
    payload: dict[str, Any] = {
        "version": PAYLOAD_VERSION,
        "type": RETURN_TYPE,
        "subject": subject,
        "text": text,
        "reason": RETURN_REASON,
        "sent_for": now.isoformat(),
        "unit": r.unit,
        "unit_name": r.unit_name,
        "period": r.period,
        "period_label": period,
        "indicator": r.indicator or None,
        "approval": "returned",
        "comment": r.comment,
        "by": r.by,
        "at": r.at.isoformat(),
        "dashboard_url": dashboard_url(public_url, r.unit),
    }
    return Message(subject=subject, body=text, notify_type="warning", payload=payload)


def takes(min_severity: Severity, pillars: Sequence[str], r: ReturnedPeriod) -> bool:
    """takes: a subscription hears of a return at warning level; one indicator's return follows its pillars."""
    return RETURN_SEVERITY.rank >= min_severity.rank and (not pillars or r.pillar is None or r.pillar in pillars)
