"""Alert: the alerts service's vocabulary — kinds, severities, states, the alert itself and a flush.

An alert is identified by its fingerprint, derived from (unit, indicator, kind) by the database when
the alert is first raised. Everything here is plain data: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from dxmon.contracts import end_of_local_day


class Kind(StrEnum):
    """Kind is the progress status that raises an alert (the other statuses raise none)."""

    BEHIND = "behind"
    AT_RISK = "at_risk"
    MISSED = "missed"
    OVERDUE = "overdue"


class Severity(StrEnum):
    """Severity orders alerts for subscriptions' ``min_severity``."""

    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return 1 if self is Severity.CRITICAL else 0


# The severity table (services/alerts/README.md, "Severity"): an alert is Nghiêm trọng (critical) when
#   behind     it has been behind for at least SEVERE_PERIODS reporting periods of its indicator, or is
#              far behind: FAR_BEHIND × the tolerance below the glide path (10 percentage points for
#              ratios and percents, 10 % of the expected value for counts and ranks);
#   overdue    (reporting missing) SEVERE_PERIODS due periods in a row are unreported;
# and Cần chú ý (warning) otherwise — at_risk always. The sync decides it from the evaluation's figures
# (repository._SYNC) and stores it with the alert; --min-severity routes on it.
SEVERE_PERIODS = 2
FAR_BEHIND = 2.0

# Kinds reported to the parent unit's subscribers once they last longer than the escalation delay.
ESCALATING_KINDS = frozenset({Kind.BEHIND})


class State(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class NotifyReason(StrEnum):
    """NotifyReason says why a recipient is told about an alert in this flush."""

    FIRST_NOTIFICATION = "first notification"
    REPEAT_INTERVAL_ELAPSED = "repeat interval elapsed"
    STILL_FIRING = "still firing"  # sent along because another alert of the digest needed an update
    RESOLVED = "resolved"


@dataclass(frozen=True)
class Alert:
    """Alert is one (unit, indicator, kind) with its current state and the figures that raised it.

    ``starts_at`` is when the current (or last) firing episode began; ``status_since`` is when the
    progress evaluation first saw the status (it may precede ``starts_at`` when alerts started later).
    Neither is when the problem began for a missed milestone: see ``since``.
    Names and measure are copied from the catalog tables so rendering needs nothing else.
    """

    fingerprint: str
    unit: str
    indicator: str
    kind: Kind
    state: State
    starts_at: datetime
    ends_at: datetime | None = None
    status_since: datetime | None = None
    value: float | None = None
    expected: float | None = None
    target: float | None = None
    milestone: date | None = None
    unit_name: str = ""
    indicator_name: str = ""
    pillar: str = ""
    measure: str = ""
    observed_at: datetime | None = None  # end of the period the value is for
    cadence: str = ""  # the indicator's reporting period: monthly, quarterly, yearly
    escalated: bool = False
    reason: NotifyReason | None = None
    severity: Severity = Severity.WARNING  # decided by the sync (the severity table above)
    target_set: str | None = None  # the set of the target shown (dxmon.progress.evaluate_judged)

    @property
    def firing(self) -> bool:
        return self.state is State.FIRING

    def since(self) -> datetime:
        """since is when the problem began: the earliest evidence, never when the service first looked.

        A missed milestone began at the end of its deadline day (a 2023 deadline found missed today
        is years old); any other status began when an evaluation first found it (``status_since``),
        or when the alert fired if that is earlier.
        """
        start = self.starts_at
        if self.status_since is not None and self.status_since < start:
            start = self.status_since
        if self.kind is Kind.MISSED and self.milestone is not None:
            start = min(start, end_of_local_day(self.milestone))
        return start


@dataclass(frozen=True)
class Silence:
    """Silence mutes every alert of a unit (or of one indicator of it) from ``starts_at`` to ``ends_at``."""

    id: int
    unit: str
    indicator: str | None
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str = ""

    def matches(self, alert: Alert, now: datetime) -> bool:
        return (
            self.starts_at <= now < self.ends_at
            and alert.unit == self.unit
            and (self.indicator is None or alert.indicator == self.indicator)
        )


@dataclass(frozen=True)
class Acknowledgement:
    """Acknowledgement: someone took charge of one firing alert; reminders stop until ``until``."""

    fingerprint: str
    until: datetime
    reason: str
    created_by: str = ""


@dataclass(frozen=True)
class Channel:
    """Channel is one recipient: an apprise URL (mail, chat) or a plain JSON webhook."""

    id: int
    url: str


@dataclass(frozen=True)
class Subscription:
    """Subscription routes alerts of a unit (and optionally its descendants) to a channel.

    ``pillars`` empty means every pillar; alerts below ``min_severity`` are not routed.
    """

    id: int
    unit: str
    with_descendants: bool
    pillars: tuple[str, ...]
    min_severity: Severity
    channel: Channel


@dataclass(frozen=True)
class Flush:
    """Flush carries the facts of one notification round for one recipient, built once per tick.

    ``now`` is the only time stages may use (they never read the clock themselves), so a test can
    replay any moment.
    """

    group_key: str
    receiver: Channel
    now: datetime
    repeat_interval: timedelta


@dataclass(frozen=True)
class FinalOutcome:
    """FinalOutcome is a milestone's final outcome (after the cut-off or an operator's lock), to announce once.

    Not an alert: it never fires nor resolves, and lives in the scorecard once announced. ``value``
    is the deciding value (at the deadline), observed at ``observed_at``.
    """

    unit: str
    indicator: str
    target_set: str
    milestone: date
    status: str  # exceeded | met | missed
    value: float | None
    target: float
    cutoff: date | None = None
    observed_at: datetime | None = None
    unit_name: str = ""
    indicator_name: str = ""
    pillar: str = ""
    measure: str = ""
    cadence: str = ""

    @property
    def achieved(self) -> bool:
        return self.status in ("exceeded", "met")

    def cutoff_ended(self) -> datetime:
        """cutoff_ended is the end of the cut-off day (of the deadline day when none was recorded)."""
        return end_of_local_day(self.cutoff or self.milestone)
