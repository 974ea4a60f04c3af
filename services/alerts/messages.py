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
from dxmon.formatting import format_date, format_duration, format_moment, format_number, format_value
from services.alerts.alert import Alert, FinalOutcome, Flush, Kind, NotifyReason, Severity

PAYLOAD_VERSION = "dx-alerts/1"
# A digest details this many alerts (news first) and counts the rest per unit and notice, with a
# link to the dashboards: a province-wide subscription may cover thousands, which no one reads.
MAX_DETAILED = 20
SUBJECT_PREFIX = "[Chuyển đổi số Quảng Ninh]"
UNIT_DASHBOARD_UID = "dx-unit-detail"
_SENDER = "Hệ thống giám sát chuyển đổi số tỉnh Quảng Ninh (Nghị quyết 09-NQ/TU)"
_FOOTER = ["", "—", "Thư tự động từ hệ thống dx-monitor; vui lòng không trả lời thư này."]
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


def period_label(a: Alert | FinalOutcome) -> str | None:
    """period_label names the period the value is for: "tháng 02/2026", "quý I/2026", "năm 2025"."""
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
    text = sep.join(
        (
            f"{words.CURRENT_VALUE}: {format_value(a.value, a.measure)}"
            + (f" ({words.REPORTING_PERIOD.lower()} {period})" if period else ""),
            f"{words.EXPECTED}: {format_value(a.expected, a.measure)}",
            f"{words.TARGET}: {format_value(a.target, a.measure)}",
        )
    )
    source = f", {words.TARGET_SET.lower()} {a.target_set}" if a.target_set else ""
    return text + (f" ({words.DEADLINE.lower()} {format_date(a.milestone)}{source})" if a.milestone else "")


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
        NotifyReason.REPEAT_INTERVAL_ELAPSED, 0
    )
    units = {a.unit_name for a in alerts}
    where = units.pop() if len(units) == 1 else f"{format_number(len(units))} đơn vị"
    return (
        f"{SUBJECT_PREFIX} {format_number(len(alerts))} {words.INDICATORS_LOWER}: "
        f"{_count_text({r: n for r, n in counts.items() if n})} – {where}"
    )


def _notify_type(alerts: Sequence[Alert]) -> str:
    firing = [a for a in alerts if a.firing]
    if not firing:
        return "success"
    return "failure" if any(a.severity is Severity.CRITICAL for a in firing) else "warning"


# New and resolved first (they are news), then reminders, then what is still open.
_NEWS_ORDER = {
    NotifyReason.FIRST_NOTIFICATION: 0,
    NotifyReason.RESOLVED: 1,
    NotifyReason.REPEAT_INTERVAL_ELAPSED: 2,
    NotifyReason.STILL_FIRING: 3,
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
        "fingerprint": a.fingerprint,
        "unit": a.unit,
        "unit_name": a.unit_name,
        "indicator": a.indicator,
        "indicator_name": a.indicator_name,
        "pillar": a.pillar,
        "kind": a.kind.value,
        "severity": a.severity.value,
        "state": a.state.value,
        "reason": notice(a).value,
        "escalated": a.escalated,
        "since": a.since().isoformat(),
        "starts_at": a.starts_at.isoformat(),
        "ends_at": a.ends_at.isoformat() if a.ends_at else None,
        "value": a.value,
        "period": period_label(a),
        "observed_at": a.observed_at.isoformat() if a.observed_at else None,
        "expected": a.expected,
        "target": a.target,
        "milestone": a.milestone.isoformat() if a.milestone else None,
        "target_set": a.target_set,
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
        f"{_SENDER} thông báo tình hình các chỉ tiêu lúc {format_moment(flush.now)}:",
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
    body += _FOOTER
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


# ───────────────────────────── final outcomes ─────────────────────────────

OUTCOMES_TYPE = "final_outcomes"  # the webhook payload's ``type``: not a digest of alerts
OUTCOMES_REASON = "final outcomes"  # the outbox row's reason
OUTCOME_ORDER = ("exceeded", "met", "missed")


def _outcome_counts(outcomes: Sequence[FinalOutcome]) -> dict[str, int]:
    counts = dict.fromkeys(OUTCOME_ORDER, 0)
    for o in outcomes:
        counts[o.status] += 1
    return counts


def _outcome_count_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{words.RESULT[s]} {format_number(counts[s])}" for s in OUTCOME_ORDER)


def outcome_figures(o: FinalOutcome, sep: str = " | ") -> str:
    """outcome_figures: the deciding value (with its period), target, deadline and "Chính thức"."""
    period = period_label(o)
    return sep.join(
        (
            f"{words.DECIDING_VALUE}: {format_value(o.value, o.measure)}"
            + (f" ({words.REPORTING_PERIOD.lower()} {period})" if period else ""),
            f"{words.TARGET}: {format_value(o.target, o.measure)}",
            f"{words.DEADLINE}: {format_date(o.milestone)}",
            words.FINAL + (f" ({words.CUTOFF.lower()} {format_date(o.cutoff)})" if o.cutoff else ""),
        )
    )


def outcomes_subject(outcomes: Sequence[FinalOutcome]) -> str:
    """outcomes_subject: "… Kết quả chính thức Bộ chỉ tiêu NQ09 – thời hạn 31/12/2025: 12/20 chỉ tiêu đạt"."""
    first = outcomes[0]
    achieved = sum(o.achieved for o in outcomes)
    return (
        f"{SUBJECT_PREFIX} {words.FINAL_OUTCOMES} {words.TARGET_SET} {first.target_set} – "
        f"{words.DEADLINE.lower()} {format_date(first.milestone)}: {format_number(achieved)}/"
        f"{format_number(len(outcomes))} {words.INDICATORS_LOWER} {words.RESULT['met'].lower()}"
    )


def _outcome_payload(o: FinalOutcome, public_url: str | None) -> dict[str, Any]:
    return {
        "unit": o.unit,
        "unit_name": o.unit_name,
        "indicator": o.indicator,
        "indicator_name": o.indicator_name,
        "pillar": o.pillar,
        "status": o.status,
        "final": True,
        "value": o.value,
        "period": period_label(o),
        "observed_at": o.observed_at.isoformat() if o.observed_at else None,
        "target": o.target,
        "deadline": o.milestone.isoformat(),
        "cutoff": o.cutoff.isoformat() if o.cutoff else None,
        "dashboard_url": dashboard_url(public_url, o.unit),
    }


def render_outcomes(
    now: datetime, outcomes: Sequence[FinalOutcome], *, public_url: str | None, limit: int = MAX_DETAILED
) -> Message:
    """render_outcomes: one recipient's notice of the final outcomes of one target set and deadline.

    Sent once per outcome (the dispatcher marks them announced). Per unit: the counts (Vượt / Đạt /
    Không đạt), then the missed ones detailed with their deciding value — at most ``limit`` in all,
    units with the most missed first; the rest are counted per unit. The subject counts all of them.
    """
    keys = {(o.target_set, o.milestone) for o in outcomes}
    if len(keys) != 1:
        raise ValueError(f"one notice is for one target set and deadline, got {sorted(keys)}")
    units: dict[str, list[FinalOutcome]] = {}
    for o in sorted(outcomes, key=lambda o: (o.unit, o.indicator)):
        units.setdefault(o.unit, []).append(o)
    order = sorted(units, key=lambda u: (-sum(not o.achieved for o in units[u]), u))
    missed = [o for u in order for o in units[u] if not o.achieved]
    shown = missed[:limit]
    shown_ids = {id(o) for o in shown}
    first = outcomes[0]
    subject = outcomes_subject(outcomes)
    totals = _outcome_counts(outcomes)
    body = [
        f"{words.GREETING}: cán bộ phụ trách,",
        "",
        f"{_SENDER} thông báo {words.FINAL_OUTCOMES.lower()} (sau {words.CUTOFF.lower()}) của "
        f"{words.TARGET_SET} {first.target_set}, {words.DEADLINE.lower()} {format_date(first.milestone)}: "
        f"{format_number(sum(o.achieved for o in outcomes))}/{format_number(len(outcomes))} "
        f"{words.INDICATORS_LOWER} {words.RESULT['met'].lower()} ({_outcome_count_text(totals)}).",
    ]
    for unit in order:
        items = units[unit]
        body += ["", f"■ {items[0].unit_name} ({unit}): {_outcome_count_text(_outcome_counts(items))}"]
        detailed = [o for o in items if id(o) in shown_ids]
        for o in detailed:
            body += [f"  • {words.RESULT[o.status]} — {o.indicator} {o.indicator_name}", "    " + outcome_figures(o)]
        if hidden := sum(not o.achieved for o in items) - len(detailed):
            body.append(
                f"  Còn {format_number(hidden)} {words.INDICATORS_LOWER} "
                f"{words.RESULT['missed'].lower()} khác (xem {words.SCORECARD})."
            )
        if missed_here := [o for o in items if not o.achieved]:
            if link := dashboard_url(public_url, missed_here[0].unit):
                body.append(f"  Bảng theo dõi: {link}")
    body += ["", f"Các kết quả trên được lưu vào {words.SCORECARD} của bộ chỉ tiêu và sẽ không được thông báo lại."]
    body += _FOOTER
    text = "\n".join(body)
    payload = {
        "version": PAYLOAD_VERSION,
        "type": OUTCOMES_TYPE,
        "subject": subject,
        "text": text,
        "reason": OUTCOMES_REASON,
        "sent_for": now.isoformat(),
        "target_set": first.target_set,
        "deadline": first.milestone.isoformat(),
        "total": len(outcomes),
        "achieved": sum(o.achieved for o in outcomes),
        "counts": totals,
        "units": [{"unit": u, "unit_name": units[u][0].unit_name, "counts": _outcome_counts(units[u])} for u in order],
        "outcomes": [_outcome_payload(o, public_url) for o in shown],
    }
    return Message(subject=subject, body=text, notify_type="warning" if missed else "success", payload=payload)
