"""Router: subscriptions × the unit tree × pillars × severity × escalation (table-driven)."""

from __future__ import annotations

import pytest
from alerts_factory import DAY, T0, make_alert, make_subscription

from services.alerts.alert import Kind, Severity, State
from services.alerts.dispatch import Router

# A small tree: province → district → commune, plus a department.
PARENTS = {"QN": None, "QN-HALONG": "QN", "QN-HALONG-P-HONGGAI": "QN-HALONG", "QN-SO-KHCN": "QN"}
COMMUNE = "QN-HALONG-P-HONGGAI"
ESCALATE = 30 * DAY


def route(subs, alert, now=T0 + DAY):
    groups = Router(subs, PARENTS, ESCALATE).route([alert], now)
    return {ch.id: [(a.fingerprint == alert.fingerprint, a.escalated) for a in alerts] for ch, alerts in groups.items()}


@pytest.mark.parametrize(
    ("subs", "alert", "want"),
    [
        pytest.param([make_subscription(COMMUNE, 1)], make_alert(COMMUNE), {1: [(True, False)]}, id="own-unit"),
        pytest.param([make_subscription("QN-HALONG", 1)], make_alert(COMMUNE), {}, id="parent-without-descendants"),
        pytest.param(
            [make_subscription("QN", 1, with_descendants=True)],
            make_alert(COMMUNE),
            {1: [(True, False)]},
            id="grandparent-with-descendants",
        ),
        pytest.param(
            [make_subscription("QN-SO-KHCN", 1, with_descendants=True)], make_alert(COMMUNE), {}, id="other-subtree"
        ),
        pytest.param(
            [make_subscription(COMMUNE, 1, pillars=["digital_economy"])], make_alert(COMMUNE), {}, id="other-pillar"
        ),
        pytest.param(
            [make_subscription(COMMUNE, 1, pillars=["digital_government", "digital_economy"])],
            make_alert(COMMUNE),
            {1: [(True, False)]},
            id="listed-pillar",
        ),
        pytest.param(
            [make_subscription(COMMUNE, 1, min_severity=Severity.CRITICAL)],
            make_alert(COMMUNE),
            {},
            id="below-min-severity",
        ),
        pytest.param(
            [make_subscription(COMMUNE, 1, min_severity=Severity.CRITICAL)],
            make_alert(COMMUNE, kind=Kind.MISSED),
            {1: [(True, False)]},
            id="critical-passes",
        ),
        pytest.param(
            [make_subscription(COMMUNE, 1), make_subscription("QN", 1, with_descendants=True, sub_id=9)],
            make_alert(COMMUNE),
            {1: [(True, False)]},
            id="one-alert-once-per-channel",
        ),
    ],
)
def test_route(subs, alert, want) -> None:
    assert route(subs, alert) == want


@pytest.mark.parametrize(
    ("alert", "now", "want"),
    [
        pytest.param(
            make_alert(COMMUNE, starts_at=T0), T0 + ESCALATE - DAY, {2: [(True, False)]}, id="behind-not-long-enough"
        ),
        pytest.param(
            make_alert(COMMUNE, starts_at=T0),
            T0 + ESCALATE,
            {2: [(True, False)], 1: [(True, True)]},
            id="behind-long-enough-goes-to-parent",
        ),
        pytest.param(
            make_alert(COMMUNE, starts_at=T0, status_since=T0 - ESCALATE),
            T0 + DAY,
            {2: [(True, False)], 1: [(True, True)]},
            id="status-older-than-the-alert",
        ),
        pytest.param(
            make_alert(COMMUNE, kind=Kind.OVERDUE, starts_at=T0),
            T0 + ESCALATE,
            {2: [(True, False)]},
            id="overdue-does-not-escalate",
        ),
        pytest.param(
            make_alert(COMMUNE, state=State.RESOLVED, starts_at=T0, ends_at=T0 + DAY),
            T0 + DAY,
            {2: [(True, False)], 1: [(True, True)]},
            id="resolution-follows-to-parent",
        ),
    ],
)
def test_escalation(alert, now, want) -> None:
    subs = [make_subscription("QN-HALONG", 1), make_subscription(COMMUNE, 2)]
    assert route(subs, alert, now) == want


def test_direct_route_wins_over_escalation_on_the_same_channel() -> None:
    subs = [make_subscription("QN-HALONG", 1), make_subscription(COMMUNE, 1, sub_id=5)]
    assert route(subs, make_alert(COMMUNE, starts_at=T0), T0 + ESCALATE) == {1: [(True, False)]}
