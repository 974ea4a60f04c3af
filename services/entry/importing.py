"""Importing: rows of an uploaded sheet into reports, each new, corrected, unchanged, ignored or refused.

    Upload ─check_rows──▶ per row: cells → ReportIn (the contract) → check_report (the catalog rules)
                                  → the key's scope → Candidate | Refusal (sheet, row, column, reason)
           ─decide──────▶ against the values in force (read-only database): new / corrected / unchanged,
                          and each report's event id, derived from what it says and what it replaces

A row with no value, numerator, denominator or explanation is *ignored* (a template lists every
indicator; a unit fills what it has). The reasons are the JSON contract's, from the same code
(``dxmon.validation``, ``dxmon.problems``); a few exist only for spreadsheets (a period code, a
formula never calculated, an ambiguous number, a duplicated row).

Event ids are uuid5 of (unit, indicator, category, period, the row's content, the event id of the
value in force it replaces): uploading the same file twice gives the same ids (JetStream and the
aggregator store nothing twice, and the second import finds every row *unchanged*), while going
back to an earlier value (A → B → A) is a new report, never mistaken for a replay of the first A.
Pure: no I/O.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from pydantic import ValidationError

from dxmon import words
from dxmon.catalog import Catalog
from dxmon.contracts import ReportIn
from dxmon.periods import ReportingPeriod
from dxmon.problems import Issue, Text, issues_from_validation_error, say
from dxmon.store.entry_repository import InForce, Key
from dxmon.validation import check_report
from services.entry.reading import NO_CACHED_VALUE, Percent, Upload
from services.entry.sheet import COLUMN, FIELD_COLUMN, parse_period

ENTRY_NAMESPACE = uuid.UUID("5d1c2f0e-8a4b-4e0a-9f62-3b7d1c0e2a91")  # fixed forever: ids must stay derivable
_PLACEHOLDER = uuid.UUID(int=0)
NEW, CORRECTED, UNCHANGED = "new", "corrected", "unchanged"
_NUMBER = re.compile(r"^[+-]?\d+(?:[.,]\d+)?$")
_GROUPED = re.compile(r"^[+-]?[1-9]\d{0,2}[.,]\d{3}$")  # "1.000": a thousand, or one? Refused, not guessed.
_SPACES = re.compile(r"[\s\u00a0\u202f]")


@dataclass(frozen=True)
class Refusal:
    """Refusal: why one cell (or row) cannot be imported, where the sender finds it."""

    sheet: str
    row: int
    column: str | None  # the column's letter (XLSX) or number (CSV); None for the whole row
    header: str | None
    reason: str
    message: Text

    def to_json(self, language: str = "vi") -> dict[str, Any]:
        return {
            "sheet": self.sheet,
            "row": self.row,
            "column": self.column,
            "header": self.header,
            "reason": self.reason,
            "message": self.message.in_language(language),
        }


@dataclass(frozen=True)
class Candidate:
    """Candidate: a row that passed every check, as a report (its event id is set by ``decide``)."""

    row: int
    report: ReportIn
    key: Key
    period: str  # its code, e.g. 2026-11


@dataclass(frozen=True)
class Decided:
    """Decided: a candidate with its status against the value in force and its derived event id."""

    row: int
    candidate: ReportIn  # as checked, with a placeholder event id
    status: str
    period: str
    event_id: uuid.UUID

    @property
    def report(self) -> ReportIn:
        """report is the report to publish, with its derived event id (built only when published)."""
        return self.candidate.model_copy(update={"event_id": self.event_id})


@dataclass
class Checked:
    """Checked: an upload's rows after every check, before the database is asked anything."""

    upload: Upload
    candidates: list[Candidate] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    ignored: int = 0

    @property
    def refused_rows(self) -> int:
        return len({r.row for r in self.refusals})


# ───────────────────────────── cells ─────────────────────────────


class CellError(Exception):
    """CellError: a cell that cannot be read as what its column needs."""

    def __init__(self, reason: str, message: Text) -> None:
        super().__init__(reason)
        self.reason = reason
        self.message = message


def _shown(value: Any) -> str:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)[:40]


def read_number(value: Any) -> float | None:
    """read_number: a cell as a number (None when empty), as people wrote it; CellError otherwise."""
    if value is None:
        return None
    if value is NO_CACHED_VALUE:
        raise CellError("formula-without-value", say("formula-without-value"))
    if isinstance(value, bool) or isinstance(value, datetime | date | time | timedelta):
        raise CellError("invalid-field", say("invalid-field/cell", got=_shown(value)))
    if isinstance(value, Percent):
        return round(float(value) * 100, 10)  # what the cell shows: 0.628 formatted as % is 62,8
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise CellError("invalid-number", say("invalid-number"))
        return float(value)
    text = _SPACES.sub("", str(value))
    if text == "":
        return None
    text = text.removesuffix("%")  # "62,8%" in a column of percentages means 62.8
    if _GROUPED.fullmatch(text):
        raise CellError("invalid-field", say("invalid-field/grouped", got=_shown(value)))
    if not _NUMBER.fullmatch(text):
        raise CellError("invalid-field", say("invalid-field/cell", got=_shown(value)))
    return float(text.replace(",", "."))


def read_text(value: Any) -> str | None:
    """read_text: a code or an explanation as text (None when empty); a whole number typed as 2026 reads "2026"."""
    if value is None or value is NO_CACHED_VALUE:
        return None if value is None else ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, datetime | date):
        return value.isoformat()[:10]
    text = str(value)
    return text if text.strip() else None


# ───────────────────────────── rows → reports ─────────────────────────────


def check_rows(
    upload: Upload, catalog: Catalog, scope: frozenset[str], now: datetime, future_skew: timedelta
) -> Checked:
    """check_rows checks every row the way ingest checks a report, and says where each problem is."""
    checked = Checked(upload)
    seen: dict[Key, int] = {}
    for sheet_row in upload.rows:
        cells = sheet_row.cells
        if all(read_text(cells.get(k)) is None for k in ("value", "numerator", "denominator", "explanation")):
            checked.ignored += 1
            continue
        refusals: list[Refusal] = []

        def refuse(
            column_key: str | None, reason: str, message: Text, row: int = sheet_row.row, into: list[Refusal] = refusals
        ) -> None:
            into.append(_refusal(upload, row, column_key, reason, message))

        fields: dict[str, Any] = {"event_id": _PLACEHOLDER}
        for name in ("unit", "indicator", "category"):
            text = read_text(cells.get(name))
            if text is not None:  # an empty code is left out: the contract then says what is missing
                fields[name] = text.strip()
        for name in ("value", "numerator", "denominator"):
            try:
                number = read_number(cells.get(name))
                if number is not None:
                    fields[name] = number
            except CellError as err:
                refuse(name, err.reason, err.message)
        explanation = read_text(cells.get("explanation"))
        if explanation is not None:
            fields["explanation"] = explanation
        if cells.get("explanation") is NO_CACHED_VALUE:
            refuse("explanation", "formula-without-value", say("formula-without-value"))
        period = _period(period_code(cells.get("period")), fields, catalog, refuse)
        if period is not None:
            fields["observed_at"] = period.end.isoformat()  # a bare date: the end of the period's last day
        if refusals or period is None:
            checked.refusals.extend(refusals)
            continue
        try:
            report = ReportIn.model_validate(fields)
        except ValidationError as err:
            for issue in issues_from_validation_error(err):
                refuse(FIELD_COLUMN.get(issue.field or ""), issue.reason, _unprefixed(issue))
            checked.refusals.extend(refusals)
            continue
        for issue in check_report(report, catalog, now, future_skew):
            refuse(FIELD_COLUMN.get(issue.field or ""), issue.reason, issue.message)
        if report.unit not in scope and report.unit in catalog.units:
            refuse("unit", "outside-key-scope", say("outside-key-scope/unit", unit=report.unit))
        key = (report.unit, report.indicator, report.category or "", period.start)
        if not refusals and key in seen:
            refuse(None, "duplicate-row", say("duplicate-row", row=seen[key]))
        if refusals:
            checked.refusals.extend(refusals)
            continue
        seen[key] = sheet_row.row
        checked.candidates.append(Candidate(sheet_row.row, report, key, period.code))
    return checked


_FIRST_OF_MONTH = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
_ISO_FIRST_OF_MONTH = re.compile(r"^(\d{4})-(\d{2})-01(?:[T ]00:00(?::00)?)?$")


def period_code(value: Any) -> str | None:
    """period_code reads a period cell, including a month code Excel turned into a date.

    A CSV opened and saved in Excel comes back with "2026-11" as the date 01/11/2026 (or 11/1/2026 with US
    settings, or a date cell): the first day of that month. Day 1 tells day and month apart, except for
    January, where both read 1.
    """
    if isinstance(value, datetime | date) and value.day == 1:
        return f"{value.year:04d}-{value.month:02d}"
    text = read_text(value)
    if text is None:
        return None
    text = text.strip()
    if m := _ISO_FIRST_OF_MONTH.fullmatch(text):
        return f"{m[1]}-{m[2]}"
    if (m := _FIRST_OF_MONTH.fullmatch(text)) and "1" in (m[1].lstrip("0"), m[2].lstrip("0")):
        month = int(m[2]) if int(m[1]) == 1 else int(m[1])
        if 1 <= month <= 12:
            return f"{m[3]}-{month:02d}"
    return text


def _period(code: str | None, fields: dict[str, Any], catalog: Catalog, refuse) -> ReportingPeriod | None:
    # The period code stands for the contract's observed_at: it must name a period of the indicator's cadence.
    code = (code or "").strip()
    try:
        period = _parse_period(code, catalog.reporting_window, catalog)
    except ValueError:
        refuse("period", "invalid-period", say("invalid-period", period=code))
        return None
    indicator = catalog.indicators.get(fields.get("indicator") or "")
    if indicator is not None and indicator.cadence.period.value != period.cadence:
        cadence = indicator.cadence.period.value
        refuse(
            "period",
            "invalid-period",
            say(
                "invalid-period/cadence",
                indicator=indicator.code,
                period=code,
                cadence=cadence,
                cadence_vi=words.CADENCE[cadence],
            ),
        )
        return None
    return period


@lru_cache(maxsize=256)
def _parse_period(code: str, window: str, catalog: Catalog) -> ReportingPeriod:
    # A sheet names a few periods thousands of times; ``window`` keys the cache with the catalog's calendar.
    return parse_period(code, catalog)


def _unprefixed(issue: Issue) -> Text:
    # The sheet names the column; the contract's field name before the message would only confuse.
    prefix = f"{issue.field}: " if issue.field else ""
    return Text(issue.message.vi.removeprefix(prefix), issue.message.en.removeprefix(prefix))


def _refusal(upload: Upload, row: int, column_key: str | None, reason: str, message: Text) -> Refusal:
    return Refusal(
        upload.sheet,
        row,
        upload.columns.get(column_key or ""),
        COLUMN[column_key].header if column_key else None,
        reason,
        message,
    )


# ───────────────────────────── against the values in force ─────────────────────────────


def same_as(report: ReportIn, current: InForce) -> bool:
    """same_as: the report says what is already in force (an explanation left empty keeps the one in force)."""
    if report.numerator is not None or report.denominator is not None:
        same = not current.percent_only and (report.numerator, report.denominator) == (
            current.numerator,
            current.denominator,
        )
    else:
        same = report.value == current.value and (current.percent_only or current.numerator is None)
    if report.explanation is not None:
        same = same and (report.explanation or None) == (current.explanation or None)
    return same


def event_id(report: ReportIn, replaces: uuid.UUID | None) -> uuid.UUID:
    """event_id is derived from what the report says and the value in force it replaces (see the module doc)."""
    content = [
        report.unit,
        report.indicator,
        report.category or "",
        report.observed_at.date().isoformat(),
        report.value,
        report.numerator,
        report.denominator,
        report.explanation,
        str(replaces) if replaces else "",
    ]
    return uuid.uuid5(ENTRY_NAMESPACE, json.dumps(content, ensure_ascii=False))


def decide(candidates: list[Candidate], in_force: dict[Key, InForce]) -> list[Decided]:
    """decide gives each candidate its status and its event id."""
    out = []
    for c in candidates:
        current = in_force.get(c.key)
        if current is None:
            status = NEW
        else:
            status = UNCHANGED if same_as(c.report, current) else CORRECTED
        out.append(
            Decided(c.row, c.report, status, c.period, event_id(c.report, current.event_id if current else None))
        )
    return out


# ───────────────────────────── the summary ─────────────────────────────


def summary(
    checked: Checked,
    decided: list[Decided],
    *,
    dry_run: bool,
    language: str = "vi",
    published: dict[str, int] | None = None,
) -> dict[str, Any]:
    """summary is the import summary (DHIS2's spirit): counts, each refused cell, each row's status."""
    counts = {NEW: 0, CORRECTED: 0, UNCHANGED: 0}
    for d in decided:
        counts[d.status] += 1
    body: dict[str, Any] = {
        "dry_run": dry_run,
        "format": checked.upload.format,
        "sheet": checked.upload.sheet,
        "counts": {
            **counts,
            "ignored": checked.ignored,
            "refused": checked.refused_rows,
            "rows": len(checked.upload.rows),
        },
        "refused": [r.to_json(language) for r in checked.refusals],
        "rows": [
            {
                "row": d.row,
                "status": d.status,
                "unit": d.candidate.unit,
                "indicator": d.candidate.indicator,
                "category": d.candidate.category,
                "period": d.period,
                "event_id": str(d.event_id),
            }
            for d in decided
        ],
    }
    if published is not None:
        body["published"] = published
    return body
