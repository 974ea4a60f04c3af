"""Messages: renders a recipient's digest in Vietnamese (subject, plain-text body, JSON payload).

Pure functions: the flush's ``now`` is the only time used, numbers follow Vietnamese conventions
(``45,2%``, ``1.250``), dates are shown as dd/mm/yyyy in Asia/Ho_Chi_Minh.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from dxmon import words
from dxmon.contracts import LOCAL_TZ
# The formatters live in the core (the CLI uses them too); importers of this module keep finding them here.
from dxmon.formatting import format_date, format_duration, format_moment, format_number, format_value  # noqa: F401
from services.alerts.alert import Alert, Flush, Kind, NotifyReason, Severity

PAYLOAD_VERSION = "dx-alerts/1"
# A digest details this many alerts (news first) and counts the rest per unit and notice, with a
# link to the dashboards: a province-wide subscription may cover thousands, which no one reads.
MAX_DETAILED = 20
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


def notice(a: Alert) -> NotifyReason:
    """notice is what the digest tells about ``a``: new, reminder, still open or resolved."""
    if a.reason is not None:
        return a.reason
    return NotifyReason.STILL_FIRING if a.firing else NotifyReason.RESOLVED


_QUARTER = ("I", "II", "III", "IV")


def period_label(a: Alert) -> str | None:
    """period_label names the period the alert's value is for: "tháng 02/2026", "quý I/2026", "năm 2025"."""
    if a.observed_at is None:
        return None
    d = a.observed_at.astimezone(LOCAL_TZ).date()
    if a.cadence == "monthly":
        return f"tháng {d:%m/%Y}"
    if a.cadence == "quarterly":
        return f"quý {_QUARTER[(d.month - 1) // 3]}/{d.year}"
    if a.cadence == "yearly":
        return f"năm {d.year}"
    return format_date(d)


def figures(a: Alert, sep: str = " | ") -> str:
    """figures: the value (with its period), expected value and target (with the deadline), in the glossary's words.

    The one wording of an alert's numbers: digests, Alertmanager and Grafana annotations all use it.
    """
    period = period_label(a)
    text = sep.join((
        f"{words.CURRENT_VALUE}: {format_value(a.value, a.measure)}"
        + (f" ({words.REPORTING_PERIOD.lower()} {period})" if period else ""),
        f"{words.EXPECTED}: {format_value(a.expected, a.measure)}",
        f"{words.TARGET}: {format_value(a.target, a.measure)}",
    ))
    return text + (f" ({words.DEADLINE.lower()} {format_date(a.milestone)})" if a.milestone else "")


def escalation_line(a: Alert, now: datetime) -> str:
    """escalation_line: "Chuyển cấp trên theo dõi: chưa khắc phục sau N ngày" (or that it was resolved)."""
    if a.firing:
        return f"{words.ESCALATED}: {words.NOTICE['open'].lower()} sau {format_duration(now - a.since())}."
    return f"{words.ESCALATED}: {words.NOTICE['resolved'].lower()}."


def _alert_lines(a: Alert, now: datetime) -> list[str]:
    head = f"  • [{REASON_LABEL[notice(a)]}] {KIND_LABEL[a.kind]} — {a.indicator} {a.indicator_name}"
    since = a.since()
    if a.firing:
        when = (
            f"    Mức độ: {SEVERITY_LABEL[a.severity]}. Tình trạng kéo dài {format_duration(now - since)} "
            f"(từ {format_date(since)})."
        )
    else:
        ended = a.ends_at or now
        when = f"    {RESOLVED_LABEL} lúc {format_moment(ended)}, sau {format_duration(ended - since)}."
    lines = [head, "    " + figures(a), when]
    if a.escalated:
        lines.append("    " + escalation_line(a, now))
    return lines


def _counts(alerts: Sequence[Alert]) -> dict[NotifyReason, int]:
    counts = dict.fromkeys(_NEWS_ORDER, 0)
    for a in alerts:
        counts[notice(a)] += 1
    return {r: n for r, n in counts.items() if n}


def _count_text(counts: dict[NotifyReason, int]) -> str:
    return ", ".join(f"{format_number(n)} {REASON_LABEL[r].lower()}" for r, n in counts.items())


def _subject(alerts: Sequence[Alert]) -> str:
    """_subject counts truthfully: new, resolved and still open (reminders are still open)."""
    if len(alerts) == 1:
        a = alerts[0]
        label = KIND_LABEL[a.kind] if a.firing else RESOLVED_LABEL
        return f"{SUBJECT_PREFIX} {label}: {a.unit_name} – {a.indicator}"
    counts = _counts(alerts)
    counts[NotifyReason.STILL_FIRING] = counts.get(NotifyReason.STILL_FIRING, 0) + counts.pop(
        NotifyReason.REPEAT_INTERVAL_ELAPSED, 0)
    units = {a.unit_name for a in alerts}
    where = units.pop() if len(units) == 1 else f"{format_number(len(units))} đơn vị"
    return (f"{SUBJECT_PREFIX} {format_number(len(alerts))} {words.INDICATORS_LOWER}: "
            f"{_count_text({r: n for r, n in counts.items() if n})} – {where}")


def _notify_type(alerts: Sequence[Alert]) -> str:
    firing = [a for a in alerts if a.firing]
    if not firing:
        return "success"
    return "failure" if any(a.severity is Severity.CRITICAL for a in firing) else "warning"


# New and resolved first (they are news), then reminders, then what is still open.
_NEWS_ORDER = {
    NotifyReason.FIRST_NOTIFICATION: 0, NotifyReason.RESOLVED: 1,
    NotifyReason.REPEAT_INTERVAL_ELAPSED: 2, NotifyReason.STILL_FIRING: 3,
}


def rank(alerts: Sequence[Alert]) -> list[Alert]:
    """rank orders alerts as a reader needs them: news first, then by severity, then the oldest problem."""
    return sorted(alerts, key=lambda a: (_NEWS_ORDER[notice(a)], -a.severity.rank, a.since(), a.unit, a.indicator))


def _by_unit(alerts: Sequence[Alert]) -> dict[str, list[Alert]]:
    """_by_unit groups ranked alerts by unit; units come in the order of their most pressing alert."""
    units: dict[str, list[Alert]] = {}
    for a in alerts:
        units.setdefault(a.unit, []).append(a)
    return units


def _alert_payload(a: Alert, public_url: str | None) -> dict[str, Any]:
    return {
        "fingerprint": a.fingerprint, "unit": a.unit, "unit_name": a.unit_name,
        "indicator": a.indicator, "indicator_name": a.indicator_name, "pillar": a.pillar,
        "kind": a.kind.value, "severity": a.severity.value, "state": a.state.value,
        "reason": notice(a).value, "escalated": a.escalated,
        "since": a.since().isoformat(),
        "starts_at": a.starts_at.isoformat(), "ends_at": a.ends_at.isoformat() if a.ends_at else None,
        "value": a.value, "period": period_label(a),
        "observed_at": a.observed_at.isoformat() if a.observed_at else None,
        "expected": a.expected, "target": a.target,
        "milestone": a.milestone.isoformat() if a.milestone else None,
        "dashboard_url": dashboard_url(public_url, a.unit) if public_url else None,
    }


def render_digest(
    flush: Flush, alerts: Sequence[Alert], *, public_url: str | None, limit: int = MAX_DETAILED
) -> Message:
    """render_digest turns one recipient's alerts into a Vietnamese digest, grouped by unit.

    At most ``limit`` alerts are detailed: new and resolved first, then by severity and age (see
    ``rank``). The rest are counted per unit and notice. The subject counts all of them. Links to
    the dashboards appear only when a public dashboard address is configured.
    """
    ranked = rank(alerts)
    shown, hidden = ranked[:limit], ranked[limit:]
    body = [
        f"{words.GREETING}: cán bộ phụ trách,",
        "",
        "Hệ thống giám sát chuyển đổi số tỉnh Quảng Ninh (Nghị quyết 09-NQ/TU) thông báo tình hình "
        f"các chỉ tiêu lúc {format_moment(flush.now)}:",
    ]
    for unit, items in _by_unit(shown).items():
        body += ["", f"■ {items[0].unit_name} ({unit})"]
        for a in items:
            body += _alert_lines(a, flush.now)
        if link := dashboard_url(public_url, unit):
            body.append(f"  Bảng theo dõi: {link}")
    if hidden:
        rest = f"Còn {format_number(len(hidden))} {words.INDICATORS_LOWER} khác ({_count_text(_counts(hidden))}):"
        body += ["", rest]
        for unit, items in _by_unit(hidden).items():
            body.append(f"  • {items[0].unit_name} ({unit}): {_count_text(_counts(items))}")
        if link := dashboard_url(public_url):
            body.append(f"  Xem đầy đủ trên bảng theo dõi: {link}")
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
        "counts": {r.value: n for r, n in _counts(alerts).items()},
        "alerts": [_alert_payload(a, public_url) for items in _by_unit(shown).values() for a in items],
    }
    return Message(subject=subject, body=text, notify_type=_notify_type(alerts), payload=payload)
