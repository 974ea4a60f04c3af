"""ApprovalsRepository: data approval of a unit's periods (DHIS2-style), when the catalog's
``programme.approval`` is on.

    reports stored ──▶ submitted (Chờ phê duyệt) ──approve──▶ approved (Đã phê duyệt)
          ▲                 │  ▲                                 │
          │                 │  └──────────── return ─────────────┘
          │                 └──return (comment)──▶ returned (Trả lại) ──▶ notice to the unit's subscribers
          └── a report of the value stored after the decision (a correction): submitted again

- A **unit-period** is one unit's reporting period of one cadence (``2026-11``, ``2026-Q3``, ``2026``).
  Nothing is submitted by hand: a value in force is *submitted* as soon as a report of it is stored,
  and stays so until a decision covers it (no aggregator change: the state is derived, in SQL,
  by ``dx_approval_states`` of migration 0010, which the dashboards call too).
- A **decision** approves or returns the whole unit-period (indicator ``''``) or one indicator of it.
  A value's approval is the latest decision covering it — unless a report of the value was stored
  after that decision, which makes it submitted again (the approver has not seen it).
- **Who**: a key with the approver role for the unit or its parent (``dxmon.keys.approval_scope``,
  checked by the entry service's route), or an operator with ``dxmon approvals`` (``--by``).
- A return needs a comment. A decision that would change nothing (approving what is all approved,
  returning what is all returned) is refused; an approver may change their mind otherwise.
- **Audit**: every decision is a new row of ``approval_decisions`` (who, which key, when, what, why),
  never updated or deleted (a trigger refuses it), decisions on one unit-period are serialised.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg

from dxmon.catalog import Catalog
from dxmon.contracts import _INVISIBLE as INVISIBLE_CHARACTERS
from dxmon.periods import HALF_YEARLY, MONTHLY, QUARTERLY, YEARLY, ReportingPeriod, period_numbered, period_starting
from dxmon.problems import Problem, Text, say

APPROVED, RETURNED, SUBMITTED = "approved", "returned", "submitted"
DECISIONS = (APPROVED, RETURNED)
MAX_COMMENT = 2000
_PERIOD_CODE = re.compile(r"([0-9]{4})(?:-([0-9]{2})|-Q([1-4])|-H([12]))?")  # ASCII digits only


class ApprovalError(ValueError):
    """ApprovalError: the decision cannot be taken. ``reason`` is the contract's code, ``text`` says why
    (``str()`` in Vietnamese, for the CLI); ``problem()`` is the HTTP refusal with its ``status``."""

    def __init__(self, status: int, reason: str, text: Text) -> None:
        super().__init__(text.vi)
        self.status, self.reason, self.text = status, reason, text

    def problem(self) -> Problem:
        return Problem(self.status, self.reason, "Approval refused", self.text)


@dataclass(frozen=True)
class Decision:
    """Decision: one audited approval or return (``indicator`` '' = the whole unit-period)."""

    id: int
    unit: str
    period: str
    period_start: date
    period_end: date
    indicator: str
    decision: str
    comment: str
    by: str
    key_id: str | None
    at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "unit": self.unit,
            "period": self.period,
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "indicator": self.indicator or None,
            "decision": self.decision,
            "comment": self.comment,
            "by": self.by,
            "key_id": self.key_id,
            "at": self.at.isoformat(),
        }


@dataclass(frozen=True)
class ValueApproval:
    """ValueApproval: the approval of one value in force (the indicator's total for one period)."""

    unit: str
    indicator: str
    period_start: date
    period_end: date
    approval: str
    decided_at: datetime | None
    decided_by: str | None
    comment: str | None


@dataclass(frozen=True)
class UnitPeriod:
    """UnitPeriod: one unit's period and its approval: submitted when any value waits, else returned when
    any value was returned, else approved; ``counts`` per approval of its values."""

    unit: str
    period: ReportingPeriod
    approval: str
    counts: dict[str, int]
    values: tuple[ValueApproval, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "period": self.period.code,
            "period_label": self.period.label_vi,
            "period_start": self.period.start.isoformat(),
            "period_end": self.period.end.isoformat(),
            "approval": self.approval,
            "counts": self.counts,
            "indicators": [
                {
                    "indicator": v.indicator,
                    "approval": v.approval,
                    "comment": v.comment or None,
                    "decided_by": v.decided_by,
                    "decided_at": v.decided_at.isoformat() if v.decided_at else None,
                }
                for v in self.values
            ],
        }


def parse_period(catalog: Catalog | None, code: str) -> ReportingPeriod:
    """parse_period reads ``2026-11``, ``2026-Q3``, ``2026-H1`` or ``2026`` as a period of the programme's
    window (calendar periods without a catalog: the code and label do not depend on the window)."""
    m = _PERIOD_CODE.fullmatch(code.strip())
    if m is None:
        raise ApprovalError(422, "invalid-period", say("invalid-period", period=code))
    year, month, quarter, half = m.groups()
    cadence, index = (
        (MONTHLY, int(month))
        if month
        else (QUARTERLY, int(quarter))
        if quarter
        else (HALF_YEARLY, int(half))
        if half
        else (YEARLY, 1)
    )
    try:
        return period_numbered(int(year), index, cadence, catalog.reporting_window if catalog else "calendar")
    except ValueError:
        raise ApprovalError(422, "invalid-period", say("invalid-period/none", period=code)) from None


def _check_text(field: str, text: str, required: str | None) -> str:
    """_check_text: ``text`` as the report contract keeps an explanation (no invisible control characters,
    NFC, one line-break convention, trimmed); refused when empty and ``required`` (its reason), or too long."""
    if found := INVISIBLE_CHARACTERS.search(text):
        character = f"U+{ord(found.group()):04X}"
        raise ApprovalError(
            422, "invalid-character", say("invalid-character/control", character=character).prefixed(f"{field}: ")
        )
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n")).strip()
    if required and not text:
        raise ApprovalError(422, required, say(required))
    if len(text) > MAX_COMMENT:
        raise ApprovalError(422, "too-long", say("too-long", max_length=MAX_COMMENT).prefixed(f"{field}: "))
    return text


def _decision(row: asyncpg.Record) -> Decision:
    return Decision(
        row["id"],
        row["unit"],
        row["period"],
        row["period_start"],
        row["period_end"],
        row["indicator"],
        row["decision"],
        row["comment"],
        row["by"],
        row["key_id"],
        row["at"],
    )


def _value(row: asyncpg.Record) -> ValueApproval:
    return ValueApproval(
        row["unit"],
        row["indicator"],
        row["period_start"],
        row["period_end"],
        row["approval"],
        row["decided_at"],
        row["decided_by"],
        row["comment"],
    )


async def value_states(conn: asyncpg.Connection, units: Sequence[str], as_of: datetime) -> list[ValueApproval]:
    """value_states: the approval of every value in force of ``units`` as of ``as_of`` (decisions taken and
    reports stored by then), whether or not the programme has approval on (callers decide that)."""
    rows = await conn.fetch(
        "SELECT s.* FROM unnest($1::text[]) AS u(code), LATERAL dx_approval_states(u.code, $2) s"
        " ORDER BY s.unit, s.period_start, s.period_end, s.indicator",
        list(units),
        as_of,
    )
    return [_value(r) for r in rows]


def unit_periods(catalog: Catalog, values: Sequence[ValueApproval]) -> list[UnitPeriod]:
    """unit_periods groups values by unit and period (newest period first within a unit)."""
    groups: dict[tuple[str, date, date], list[ValueApproval]] = defaultdict(list)
    cadence: dict[tuple[str, date, date], str] = {}
    for v in values:
        key = (v.unit, v.period_start, v.period_end)
        groups[key].append(v)
        if v.indicator in catalog.indicators:
            cadence[key] = catalog.indicators[v.indicator].cadence.period.value
    found = []
    for key in sorted(groups, key=lambda k: (k[0], -k[1].toordinal(), k[2])):
        if key not in cadence:  # only indicators the catalog no longer has: nothing to decide on
            continue
        members = groups[key]
        counts = Counter(v.approval for v in members)
        state = SUBMITTED if counts[SUBMITTED] else RETURNED if counts[RETURNED] else APPROVED
        period = period_starting(key[1], cadence[key], catalog.reporting_window)
        found.append(
            UnitPeriod(key[0], period, state, {s: counts[s] for s in (SUBMITTED, APPROVED, RETURNED)}, tuple(members))
        )
    return found


async def decide(
    conn: asyncpg.Connection,
    catalog: Catalog,
    unit: str,
    period: str,
    decision: str,
    *,
    by: str,
    at: datetime,
    indicator: str = "",
    comment: str = "",
    key_id: str | None = None,
) -> Decision:
    """decide records an approval or a return of ``unit``'s ``period`` (one ``indicator``, or all of them).

    The caller has checked who may decide (the entry route: the key's approval scope; the CLI: an
    operator). Raises ApprovalError, with the reason in Vietnamese, when the decision cannot be taken.
    """
    if decision not in DECISIONS:
        raise ValueError(f"decision must be one of {DECISIONS}")  # a caller's bug, not a person's input
    if not catalog.approval:
        raise ApprovalError(409, "approval-off", say("approval-off"))
    if unit not in catalog.units:
        raise ApprovalError(422, "unknown-unit", say("unknown-unit", unit=unit))
    indicator = indicator.strip()
    if indicator and indicator not in catalog.indicators:
        raise ApprovalError(422, "unknown-indicator", say("unknown-indicator", indicator=indicator))
    chosen = parse_period(catalog, period)
    comment = _check_text("comment", comment, "comment-required" if decision == RETURNED else None)
    by = _check_text("by", by, "decided-by-required")
    async with conn.transaction():
        # One decision at a time per unit-period: the state checked below is the state decided on.
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext($1))", f"dx-approval:{unit}:{chosen.start}:{chosen.end}"
        )
        covered = [
            v
            for v in await value_states(conn, [unit], at)
            if (v.period_start, v.period_end) == (chosen.start, chosen.end)
            and (not indicator or v.indicator == indicator)
        ]
        what = {
            "what_vi": f"{catalog.units[unit].name_vi} ({unit}), {chosen.label_vi}"
            + (f", chỉ tiêu {indicator}" if indicator else ""),
            "what": f"{unit}, {chosen.code}" + (f", indicator {indicator}" if indicator else ""),
        }
        if not covered:
            raise ApprovalError(409, "nothing-to-approve", say("nothing-to-approve", **what))
        if all(v.approval == decision for v in covered):
            raise ApprovalError(409, "already-decided", say(f"already-decided/{decision}", **what))
        row = await conn.fetchrow(
            "INSERT INTO approval_decisions (unit, period, period_start, period_end, indicator, decision, comment,"
            " by, key_id, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING *",
            unit,
            chosen.code,
            chosen.start,
            chosen.end,
            indicator,
            decision,
            comment,
            by,
            key_id,
            at,
        )
    return _decision(row)


async def decisions(
    conn: asyncpg.Connection, units: Sequence[str] | None = None, period: ReportingPeriod | None = None
) -> list[Decision]:
    """decisions: the audit, oldest first, optionally of some units and one period."""
    rows = await conn.fetch(
        "SELECT * FROM approval_decisions WHERE ($1::text[] IS NULL OR unit = ANY ($1))"
        " AND ($2::date IS NULL OR (period_start = $2 AND period_end = $3)) ORDER BY at, id",
        list(units) if units is not None else None,
        period.start if period else None,
        period.end if period else None,
    )
    return [_decision(r) for r in rows]
