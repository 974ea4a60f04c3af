"""OutcomesRepository: an operator's lock and reopen of a milestone outcome, and the audit of every change.

The evaluation (``progress_repository.evaluate``) decides outcomes: provisional until the cut-off, then
final, frozen by an automatic lock (action ``auto-lock``). An operator may

- **reopen** a final outcome: it becomes provisional again, recomputed from everything in force by
  each evaluation, and is never locked automatically again;
- **lock** an outcome: it is frozen with the value in force at the deadline at that moment (this is
  also how a province that starts using dx-monitor after a deadline back-fills its history).

Every operator's change is a row of ``outcome_changes`` (who, when, why, the outcome before and after),
written in the same transaction as the change. An automatic lock is not a row each (one cut-off locks
every unit's outcome at once): the first full evaluation after a cut-off records it in
``outcome_cutoffs``, which the view ``milestone_outcomes`` applies to every outcome of that day still
provisional (migration 0016); a lock written with a changed outcome is stored on it
(``auto_locked_at``). ``changes`` lists either beside the rows — by dx-monitor, at that time, the
outcome as locked (the row as it is, or as the next operator's change found it), and no "before" (the
provisional figures it replaced came from the same reports). An operator's reopen or lock writes the
time of an automatic lock into the row, so the audit keeps it. Outcomes are read from the view and
written to the table (``milestone_outcome_rows``); they exist once an evaluation has seen the
milestone pass.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg

from dxmon.catalog import Milestone
from dxmon.progress import Status, judge
from dxmon.store.evaluation_sql import AUTO_LOCK_BY, AUTO_LOCK_REASON

MAX_REASON = 2000


class OutcomeError(ValueError):
    """OutcomeError: the request cannot be carried out; the message says why, in Vietnamese."""


@dataclass(frozen=True)
class OutcomeChange:
    """OutcomeChange: one audited change (``before`` is None for the first automatic lock of a new row)."""

    unit: str
    indicator: str
    target_set: str
    deadline: date
    action: str
    by: str
    reason: str
    at: datetime
    before: dict[str, Any] | None
    after: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "indicator": self.indicator,
            "target_set": self.target_set,
            "deadline": self.deadline.isoformat(),
            "action": self.action,
            "by": self.by,
            "reason": self.reason,
            "at": self.at.isoformat(),
            "before": self.before,
            "after": self.after,
        }


def _snapshot(row: asyncpg.Record) -> dict[str, Any]:
    observed = row["deciding_observed_at"]
    return {
        "status": row["status"],
        "value": row["value"],
        "final": row["final"],
        "reopened": row["reopened"],
        "deciding_observed_at": observed.isoformat() if observed else None,
    }


def _check_text(name: str, text: str) -> str:
    text = text.strip()
    if not text:
        raise OutcomeError(f"cần ghi {name}")
    if len(text) > MAX_REASON or "\x00" in text:
        raise OutcomeError(f"{name} dài quá {MAX_REASON} ký tự hoặc chứa ký tự không hợp lệ")
    return text


async def _outcome_row(
    conn: asyncpg.Connection, unit: str, indicator: str, target_set: str, deadline: date
) -> asyncpg.Record:
    row = await conn.fetchrow(
        # The outcome as readers see it (a cut-off's lock applied), its stored row locked.
        "SELECT v.* FROM milestone_outcome_rows r"
        " JOIN milestone_outcomes v USING (unit, indicator, milestone, target_set)"
        " WHERE r.unit = $1 AND r.indicator = $2 AND r.target_set = $3 AND r.milestone = $4 FOR UPDATE OF r",
        unit,
        indicator,
        target_set,
        deadline,
    )
    if row is None:
        raise OutcomeError(
            f"chưa có kết quả của chỉ tiêu {indicator} tại đơn vị {unit} (bộ chỉ tiêu {target_set}, thời hạn "
            f"{deadline:%d/%m/%Y}): kiểm tra mã, thời hạn, hoặc chờ lần đánh giá đầu tiên sau thời hạn"
        )
    return row


async def _audit(
    conn: asyncpg.Connection,
    row: asyncpg.Record,
    action: str,
    by: str,
    reason: str,
    at: datetime,
    before: dict[str, Any],
    after: dict[str, Any],
) -> None:
    await conn.execute(
        "INSERT INTO outcome_changes (unit, indicator, target_set, deadline, action, by, reason, at, before, after)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10::jsonb)",
        row["unit"],
        row["indicator"],
        row["target_set"],
        row["milestone"],
        action,
        by,
        reason,
        at,
        json.dumps(before),
        json.dumps(after),
    )


async def reopen(
    conn: asyncpg.Connection,
    unit: str,
    indicator: str,
    target_set: str,
    deadline: date,
    *,
    reason: str,
    by: str,
    at: datetime,
) -> dict[str, Any]:
    """reopen makes a final outcome provisional again (recomputed by every evaluation, never auto-locked)."""
    reason, by = _check_text("lý do", reason), _check_text("người thực hiện", by)
    async with conn.transaction():
        row = await _outcome_row(conn, unit, indicator, target_set, deadline)
        if row["reopened"]:
            raise OutcomeError("kết quả này đã được mở lại; khóa lại bằng `dxmon outcomes lock`")
        if not row["final"]:
            raise OutcomeError("kết quả này còn tạm tính (chưa chốt số liệu): không có gì để mở lại")
        before = _snapshot(row)
        updated = await conn.fetchrow(
            "UPDATE milestone_outcome_rows SET final = false, reopened = true, locked_by = NULL, lock_reason = NULL,"
            " revised_value = NULL, revised_at = NULL, evaluated_at = $5, auto_locked_at = $6"
            " WHERE unit = $1 AND indicator = $2 AND target_set = $3 AND milestone = $4 RETURNING *",
            unit,
            indicator,
            target_set,
            deadline,
            at,
            row["auto_locked_at"],  # a cut-off's lock, kept for the audit once the row no longer takes it
        )
        after = _snapshot(updated)
        await _audit(conn, row, "reopen", by, reason, at, before, after)
    return after


async def lock(
    conn: asyncpg.Connection,
    unit: str,
    indicator: str,
    target_set: str,
    deadline: date,
    *,
    reason: str,
    by: str,
    at: datetime,
) -> dict[str, Any]:
    """lock freezes the outcome with the value in force at the end of the deadline day, now."""
    reason, by = _check_text("lý do", reason), _check_text("người thực hiện", by)
    async with conn.transaction():
        row = await _outcome_row(conn, unit, indicator, target_set, deadline)
        in_force = await conn.fetchrow(
            "SELECT value, observed_at FROM period_values WHERE unit = $1 AND indicator = $2 AND category = ''"
            " AND observed_at < (($3::date + 1)::timestamp AT TIME ZONE 'Asia/Ho_Chi_Minh')"
            " ORDER BY observed_at DESC LIMIT 1",
            unit,
            indicator,
            deadline,
        )
        value = in_force["value"] if in_force else None
        status: Status = judge(value, Milestone(deadline, row["target"], row["comparator"], (), False))
        before = _snapshot(row)
        updated = await conn.fetchrow(
            "UPDATE milestone_outcome_rows SET status = $5, value = $6, deciding_observed_at = $7, final = true,"
            " reopened = false, locked_by = $8, lock_reason = $9, revised_value = NULL, revised_at = NULL,"
            " evaluated_at = $10, auto_locked_at = $11"
            " WHERE unit = $1 AND indicator = $2 AND target_set = $3 AND milestone = $4 RETURNING *",
            unit,
            indicator,
            target_set,
            deadline,
            status.value,
            value,
            in_force["observed_at"] if in_force else None,
            by,
            reason,
            at,
            row["auto_locked_at"],
        )
        after = _snapshot(updated)
        await _audit(conn, row, "lock", by, reason, at, before, after)
    return after


async def changes(
    conn: asyncpg.Connection, unit: str | None = None, target_set: str | None = None, indicator: str | None = None
) -> list[OutcomeChange]:
    """changes lists every audited change, oldest first, optionally for one unit, target set or indicator
    (automatic locks derived from the outcomes: module docstring)."""
    rows = await conn.fetch(
        "SELECT * FROM outcome_changes WHERE ($1::text IS NULL OR unit = $1) AND ($2::text IS NULL OR target_set = $2)"
        " AND ($3::text IS NULL OR indicator = $3) ORDER BY at, id",
        unit,
        target_set,
        indicator,
    )
    found = [
        (
            r["at"],
            r["id"],
            OutcomeChange(
                r["unit"],
                r["indicator"],
                r["target_set"],
                r["deadline"],
                r["action"],
                r["by"],
                r["reason"],
                r["at"],
                json.loads(r["before"]) if r["before"] else None,
                json.loads(r["after"]),
            ),
        )
        for r in rows
    ]
    for o in await conn.fetch(_AUTO_LOCKS, unit, target_set, indicator):
        # The outcome as locked: what the first operator's change after the lock found, else the row now.
        after = json.loads(o["reopened_from"]) if o["reopened_from"] else _snapshot(o)
        change = OutcomeChange(
            o["unit"],
            o["indicator"],
            o["target_set"],
            o["milestone"],
            "auto-lock",
            AUTO_LOCK_BY,
            AUTO_LOCK_REASON,
            o["auto_locked_at"],
            None,
            after,
        )
        found.append((o["auto_locked_at"], 0, change))
    return [c for _, _, c in sorted(found, key=lambda f: (f[0], f[1]))]


_AUTO_LOCKS = """
SELECT o.*, (SELECT c.before FROM outcome_changes c
             WHERE c.unit = o.unit AND c.indicator = o.indicator AND c.deadline = o.milestone
               AND c.target_set = o.target_set AND c.action IN ('reopen', 'lock') AND c.at >= o.auto_locked_at
             ORDER BY c.at, c.id LIMIT 1) AS reopened_from
FROM milestone_outcomes o
WHERE o.auto_locked_at IS NOT NULL AND ($1::text IS NULL OR o.unit = $1) AND ($2::text IS NULL OR o.target_set = $2)
  AND ($3::text IS NULL OR o.indicator = $3)
"""
