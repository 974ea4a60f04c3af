"""Messages: renders a recipient's digest in Vietnamese (subject, plain-text body, JSON payload).

Pure functions: the flush's ``now`` is the only time used, numbers follow Vietnamese conventions
(``45,2%``, ``1.250``), dates are shown as dd/mm/yyyy in Asia/Ho_Chi_Minh.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby
from typing import Any
from urllib.parse import quote

from dxmon import words
# The formatters live in the core (the CLI uses them too); importers of this module keep finding them here.
from dxmon.formatting import format_date, format_duration, format_moment, format_number, format_value  # noqa: F401
from services.alerts.alert import Alert, Flush, Kind, NotifyReason, Severity

PAYLOAD_VERSION = "dx-alerts/1"
# A digest details this many alerts (news first) and summarises the rest with a link to the
# dashboards: a province-wide subscription may cover thousands, which no one reads in a message.
MAX_DETAILED = 50
SUBJECT_PREFIX = "[Chuyển đổi số Quảng Ninh]"
UNIT_DASHBOARD_UID = "dx-unit-detail"
ALERTS_DASHBOARD_UID = "dx-alerts"

# The glossary's terms (dxmon.words), never spelled out here.
KIND_LABEL: dict[Kind, str] = {
    Kind.BEHIND: words.RESULT["behind"],
    Kind.AT_RISK: words.RESULT["at_risk"],
    Kind.MISSED: words.RESULT["missed"],
    Kind.OVERDUE: words.REPORTING["missing"],
}
RESOLVED_LABEL = words.NOTICE["resolved"]
SEVERITY_LABEL: dict[Severity, str] = {s: words.SEVERITY[s.value] for s in Severity}
REASON_LABEL: dict[NotifyReason, str] = {
    NotifyReason.FIRST_NOTIFICATION: words.NOTICE["new"],
    NotifyReason.REPEAT_INTERVAL_ELAPSED: words.NOTICE["reminder"],
    NotifyReason.STILL_FIRING: words.NOTICE["open"],
    NotifyReason.RESOLVED: RESOLVED_LABEL,
}


@dataclass(frozen=True)
class Message:
    """Message is one digest as channels send it: apprise uses subject/body, webhooks the payload."""

    subject: str
    body: str
    notify_type: str = "warning"  # apprise NotifyType value: info, success, warning, failure
    payload: dict[str, Any] = field(default_factory=dict)


def dashboard_url(public_url: str | None, unit: str | None = None) -> str | None:
    """dashboard_url links to the unit detail dashboard with ``unit`` preselected (the alerts one without).

    None without a public dashboard address (DX_PUBLIC_DASHBOARD_URL): a link to a Grafana nobody
    can reach is worse than none.
    """
    if not public_url:
        return None
    if unit is None:
        return f"{public_url.rstrip('/')}/d/{ALERTS_DASHBOARD_UID}"
    return f"{public_url.rstrip('/')}/d/{UNIT_DASHBOARD_UID}?var-unit={quote(unit, safe='')}"


def group_reason(alerts: Sequence[Alert]) -> NotifyReason:
    """group_reason is the most newsworthy reason in a digest (new beats reminder beats resolution)."""
    reasons = {a.reason for a in alerts}
    for r in (NotifyReason.FIRST_NOTIFICATION, NotifyReason.REPEAT_INTERVAL_ELAPSED, NotifyReason.RESOLVED):
        if r in reasons:
            return r
    return NotifyReason.STILL_FIRING


def _alert_lines(a: Alert, now: datetime) -> list[str]:
    label = KIND_LABEL[a.kind] if a.firing else f"{RESOLVED_LABEL} ({KIND_LABEL[a.kind].lower()})"
    reason = REASON_LABEL[a.reason] if a.reason else ""
    head = f"  • [{reason}] {label} — {a.indicator} {a.indicator_name}".replace("[] ", "")
    figures = (
        f"    Giá trị hiện tại: {format_value(a.value, a.measure)} | "
        f"Kỳ vọng theo lộ trình: {format_value(a.expected, a.measure)} | "
        f"Mục tiêu: {format_value(a.target, a.measure)}"
        + (f" (hạn {format_date(a.milestone)})" if a.milestone else "")
    )
    since = a.since()
    if a.firing:
        when = (
            f"    Mức độ: {SEVERITY_LABEL[a.severity]}. Tình trạng kéo dài {format_duration(now - since)} "
            f"(từ {format_date(since)})."
        )
    else:
        ended = a.ends_at or now
        when = f"    Đã khắc phục lúc {format_moment(ended)}, sau {format_duration(ended - since)}."
    lines = [head, figures, when]
    if a.escalated:
        lines.append("    Báo cáo vượt cấp: đơn vị trực thuộc chậm tiến độ quá thời hạn cho phép.")
    return lines


def _subject(alerts: Sequence[Alert]) -> str:
    if len(alerts) == 1:
        a = alerts[0]
        label = KIND_LABEL[a.kind] if a.firing else RESOLVED_LABEL
        return f"{SUBJECT_PREFIX} {label}: {a.unit_name} – {a.indicator}"
    firing = [a for a in alerts if a.firing]
    new = sum(1 for a in firing if a.reason is NotifyReason.FIRST_NOTIFICATION)
    resolved = len(alerts) - len(firing)
    parts = []
    if firing:
        parts.append(f"{format_number(len(firing))} chỉ tiêu cần chú ý" + (f" ({format_number(new)} mới)" if new else ""))
    if resolved:
        parts.append(f"{format_number(resolved)} chỉ tiêu đã khắc phục")
    units = {a.unit_name for a in alerts}
    where = f" – {units.pop()}" if len(units) == 1 else f" – {format_number(len(units))} đơn vị"
    return f"{SUBJECT_PREFIX} " + ", ".join(parts) + where


def _notify_type(alerts: Sequence[Alert]) -> str:
    firing = [a for a in alerts if a.firing]
    if not firing:
        return "success"
    return "failure" if any(a.severity is Severity.CRITICAL for a in firing) else "warning"


_NEWS_ORDER = {
    NotifyReason.FIRST_NOTIFICATION: 0, NotifyReason.RESOLVED: 1,
    NotifyReason.REPEAT_INTERVAL_ELAPSED: 2, NotifyReason.STILL_FIRING: 3, None: 4,
}


def _newsworthy(alerts: Sequence[Alert], limit: int) -> list[Alert]:
    """_newsworthy keeps the ``limit`` alerts a reader most needs: new, resolved, then critical first."""
    ranked = sorted(alerts, key=lambda a: (_NEWS_ORDER[a.reason], -a.severity.rank, a.unit, a.indicator))
    return ranked[:limit]


def _alert_payload(a: Alert, public_url: str | None) -> dict[str, Any]:
    return {
        "fingerprint": a.fingerprint, "unit": a.unit, "unit_name": a.unit_name,
        "indicator": a.indicator, "indicator_name": a.indicator_name, "pillar": a.pillar,
        "kind": a.kind.value, "severity": a.severity.value, "state": a.state.value,
        "reason": a.reason.value if a.reason else None, "escalated": a.escalated,
        "starts_at": a.starts_at.isoformat(), "ends_at": a.ends_at.isoformat() if a.ends_at else None,
        "value": a.value, "expected": a.expected, "target": a.target,
        "milestone": a.milestone.isoformat() if a.milestone else None,
        "dashboard_url": dashboard_url(public_url, a.unit),
    }


def render_digest(
    flush: Flush, alerts: Sequence[Alert], *, public_url: str | None, limit: int = MAX_DETAILED
) -> Message:
    """render_digest turns one recipient's alerts into a Vietnamese digest, grouped by unit.

    At most ``limit`` alerts are detailed (new and resolved ones first); the subject counts all of
    them and the body says how many more there are. Firing alerts come before resolved ones within a
    unit; units are in code order, so the same digest always renders the same way.
    """
    shown = _newsworthy(alerts, limit)
    ordered = sorted(shown, key=lambda a: (a.unit, not a.firing, a.kind.value, a.indicator))
    body = [
        "Kính gửi cán bộ phụ trách,",
        "",
        "Hệ thống giám sát chuyển đổi số tỉnh Quảng Ninh (Nghị quyết 09-NQ/TU) thông báo tình hình "
        f"các chỉ tiêu lúc {format_moment(flush.now)}:",
    ]
    for unit, group in groupby(ordered, key=lambda a: a.unit):
        items = list(group)
        body += ["", f"■ {items[0].unit_name} ({unit})"]
        for a in items:
            body += _alert_lines(a, flush.now)
        if link := dashboard_url(public_url, unit):
            body.append(f"  Bảng theo dõi: {link}")
    hidden = len(alerts) - len(shown)
    if hidden:
        link = dashboard_url(public_url)
        body += ["", f"… và {format_number(hidden)} cảnh báo khác (vẫn tiếp diễn)"
                     + (f", xem trên bảng theo dõi: {link}" if link else ".")]
    body += ["", "—", "Thư tự động từ hệ thống dx-monitor; vui lòng không trả lời thư này."]
    subject, text = _subject(alerts), "\n".join(body)
    payload = {
        "version": PAYLOAD_VERSION,
        "subject": subject,
        "text": text,
        "status": "firing" if any(a.firing for a in alerts) else "resolved",
        "reason": group_reason(alerts).value,
        "sent_for": flush.now.isoformat(),
        "total": len(alerts),
        "alerts": [_alert_payload(a, public_url) for a in ordered],
    }
    return Message(subject=subject, body=text, notify_type=_notify_type(alerts), payload=payload)
