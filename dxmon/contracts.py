"""Contracts: the report (v1) agencies send, the event ingest publishes, and the subjects they travel on.

A report is one measurement of one indicator for one unit for one period. Shape checks live here
(types, codes, timestamps, finite numbers); checks that need the programme catalog live in
``dxmon.validation``. Both are pure: no I/O.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from uuid import UUID
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, Strict
from pydantic_core import PydanticCustomError

SCHEMA_VERSION = 1
LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
CODE_PATTERN = r"^[A-Z0-9_-]{1,64}$"
CATEGORY_PATTERN = r"^[a-z0-9_]{1,32}$"

REPORTS_STREAM = "DX_REPORTS"
REPORTS_SUBJECTS = "dx.reports.v1.>"
DEADLETTER_STREAM = "DX_DEADLETTER"
DEADLETTER_SUBJECTS = "dx.deadletter.v1.>"
ALERTS_STREAM = "DX_ALERTS"
ALERTS_SUBJECTS = "dx.alerts.v1.>"
KEYS_BUCKET = "dx_keys"
LEASES_BUCKET = "dx_leases"


def report_subject(unit: str, indicator: str) -> str:
    """report_subject names where one report travels: ``dx.reports.v1.<unit>.<indicator>``."""
    return f"dx.reports.v1.{unit}.{indicator}"


def stored_subject(unit: str) -> str:
    """stored_subject is published (core NATS) after a unit's reports are committed."""
    return f"dx.stored.v1.{unit}"


def message_id(agency: str, report: ReportIn) -> str:
    """message_id is a report's ``Nats-Msg-Id``: JetStream's deduplication is per agency, event id and content.

    The same report resent by its agency within the stream's duplicate window is answered
    "duplicate"; the same event id from another agency is another report; the same id with other
    content reaches the aggregator, which refuses it (dead letter ``event-id-reused``).
    """
    content: tuple[object, ...] = (
        agency,
        report.unit,
        report.indicator,
        report.category or "",
        report.observed_at.timestamp(),
        report.value,
        report.numerator,
        report.denominator,
        report.note,
        report.source,
    )
    if report.explanation is not None:
        # Appended only when present, so the ids of reports without one are what they were before it existed.
        content += (report.explanation,)
    digest = hashlib.sha256(repr(content).encode()).hexdigest()[:32]
    return f"{report.event_id}:{digest}"


def deadletter_subject(reason: str) -> str:
    return f"dx.deadletter.v1.{reason}"


_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def end_of_local_day(d: date) -> datetime:
    """end_of_local_day is the last microsecond of ``d`` in Asia/Ho_Chi_Minh (what a bare date means)."""
    return datetime.combine(d + timedelta(days=1), time(0), LOCAL_TZ) - timedelta(microseconds=1)


def _parse_observed_at(raw: Any) -> Any:
    # Only strings are accepted: epoch numbers are ambiguous (seconds? milliseconds?).
    if isinstance(raw, str):
        raw = _datetime_from_text(raw)
    elif not isinstance(raw, datetime):
        raise PydanticCustomError("timestamp_type", "observed_at must be an ISO 8601 string")
    offset = raw.utcoffset()
    if offset is None:
        raise PydanticCustomError("missing_timezone", "timestamp has no UTC offset; add e.g. +07:00 or Z")
    if not 1 < raw.year < 9999:
        # Validation and the store convert to UTC and to local time, and validation takes the end of
        # the local day; all must exist. Only the first and last year can overflow, so the common case
        # skips this (it is on ingest's hot path).
        try:
            raw.astimezone(UTC)
            end_of_local_day(raw.astimezone(LOCAL_TZ).date())
        except OverflowError:
            raise PydanticCustomError(
                "timestamp_invalid", "timestamp is out of range: {value}", {"value": str(raw)[:40]}
            ) from None
    # JSON writes offsets as ±hh:mm, so an offset with seconds (e.g. +05:30:15, or the local mean time
    # of a bare date before 1911) would shift the instant between ingest and the store: keep it in UTC.
    return raw.astimezone(UTC) if offset % timedelta(minutes=1) else raw


def _datetime_from_text(raw: str) -> datetime:
    text = raw.strip()
    try:
        if _DATE_ONLY.match(text):
            return end_of_local_day(date.fromisoformat(text))
        return datetime.fromisoformat(text)
    except ValueError:
        raise PydanticCustomError(
            "timestamp_invalid", "not an ISO 8601 date or date-time: {value}", {"value": raw[:40]}
        ) from None
    except OverflowError:  # the day after 9999-12-31
        raise PydanticCustomError(
            "timestamp_invalid", "timestamp is out of range: {value}", {"value": raw[:40]}
        ) from None


def _storable_text(text: str) -> str:
    # PostgreSQL text cannot hold U+0000; refuse it here rather than fail in the aggregator's write.
    if "\x00" in text:
        raise PydanticCustomError("invalid_character", "text cannot contain the NUL character (U+0000)")
    return text


EXPLANATION_MAX_LENGTH = 2000
# Control characters a person cannot see: C0/C1 controls (tab and line breaks excepted), lone surrogates,
# and the bidirectional embedding/override/isolate marks that can make shown text differ from stored text.
_INVISIBLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")


def _explanation_text(text: str) -> str:
    # People type explanations in spreadsheets and forms: composed (NFC) Vietnamese, one line-break
    # convention, no surrounding blanks; then the length people see is the length that counts.
    found = _INVISIBLE.search(text)
    if found:
        raise PydanticCustomError(
            "control_character",
            "text cannot contain the control character {character}",
            {"character": f"U+{ord(found.group()):04X}"},
        )
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n")).strip()
    if len(text) > EXPLANATION_MAX_LENGTH:
        raise PydanticCustomError(
            "string_too_long",
            "String should have at most {max_length} characters",
            {"max_length": EXPLANATION_MAX_LENGTH},
        )
    return text


ObservedAt = Annotated[datetime, BeforeValidator(_parse_observed_at)]
Number = Annotated[float, Strict()]
Code = Annotated[str, Strict(), Field(pattern=CODE_PATTERN)]


class ReportIn(BaseModel):
    """ReportIn is one report as an agency sends it (contract v1)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    event_id: UUID = Field(description="Sender-chosen UUID; the idempotency key (retries never double-count)")
    unit: Code = Field(description="Unit code from the catalog", examples=["QN-P-HONGGAI"])
    indicator: Code = Field(description="Indicator code from the catalog", examples=["DG-04"])
    observed_at: ObservedAt = Field(
        description="Moment the value describes (ISO 8601 with offset; a bare date = that day's end in "
        "Asia/Ho_Chi_Minh)",
        examples=["2025-09-30T23:59:59+07:00", "2025-09-30"],
    )
    category: Annotated[str, Strict(), Field(pattern=CATEGORY_PATTERN)] | None = Field(
        None,
        description="The indicator's category, required for an indicator that has categories "
        "(GET /v1/catalog/indicators lists them), refused for the others",
        examples=["province"],
    )
    value: Number | None = Field(
        None,
        description="The measured value; for a ratio indicator, a published percentage (0–100) "
        "when the source gives no counts",
    )
    numerator: Number | None = Field(None, description="Ratio indicators: the part (e.g. 628)")
    denominator: Number | None = Field(None, description="Ratio indicators: the whole (e.g. 1000)")
    note: Annotated[str, Strict(), Field(max_length=2000), AfterValidator(_storable_text)] | None = Field(
        None, description="Free text"
    )
    source: Annotated[str, Strict(), Field(max_length=200), AfterValidator(_storable_text)] | None = Field(
        None, description="Sending system"
    )
    explanation: Annotated[str, Strict(), AfterValidator(_explanation_text)] | None = Field(
        None,
        description="Nguyên nhân, giải pháp: why the value is what it is and what is being done, in "
        f"Vietnamese (at most {EXPLANATION_MAX_LENGTH} characters after normalisation to NFC; line breaks "
        "allowed, other control characters refused; surrounding blanks trimmed). Shown with the period's value "
        "in the status, the unit dashboard and the official report. A correction without this field keeps the "
        "period's explanation; an empty string withdraws it",
        examples=["Một số thôn chưa có cáp quang; đã đề nghị nhà mạng hoàn thành trong quý IV."],
    )


class ReportReceived(ReportIn):
    """ReportReceived is a report accepted by ingest, as published on ``DX_REPORTS``."""

    received_at: datetime
    agency: str
    key_id: str
    schema_version: int = SCHEMA_VERSION


class ReportStored(BaseModel):
    """ReportStored tells alerts that a unit's reports were committed (``dx.stored.v1.<unit>``)."""

    unit: str
    indicators: list[str]
    stored: int
    committed_at: datetime


def alert_subject(kind: str, unit: str) -> str:
    """alert_subject names where an alert state change travels: ``dx.alerts.v1.<kind>.<unit>``."""
    return f"dx.alerts.v1.{kind}.{unit}"


class AlertChanged(BaseModel):
    """AlertChanged is published on DX_ALERTS each time an alert fires or resolves (contract v1)."""

    event_id: int = Field(description="Increasing id of the change; also the JetStream message id suffix")
    fingerprint: str
    unit: str
    unit_name: str
    indicator: str
    indicator_name: str
    pillar: str
    kind: str = Field(description="behind, at_risk, missed or overdue")
    severity: str = Field(description="warning or critical")
    state: str = Field(description="firing or resolved")
    at: datetime = Field(description="Evaluation time at which the change was seen")
    starts_at: datetime
    value: float | None
    observed_at: datetime | None = Field(None, description="End of the period the value is for")
    expected: float | None
    target: float | None
    milestone: str | None
