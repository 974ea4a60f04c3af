"""Tests for the report contract (dxmon.contracts) and its refusals (dxmon.problems): pure, no I/O.

Every refusal is asserted by its machine-readable ``reason`` and the field it names, because those
are what an agency's system acts on; messages are prose and only spot-checked.
"""

from __future__ import annotations

import json
import unicodedata
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from dxmon.contracts import (
    CODE_PATTERN,
    LOCAL_TZ,
    ReportIn,
    ReportReceived,
    deadletter_subject,
    end_of_local_day,
    report_subject,
    stored_subject,
)
from dxmon.problems import PROBLEM_TYPE_BASE, Issue, Problem, Text, issues_from_validation_error, negotiate_language

EVENT_ID = "0b4c2b1e-5a3a-4f57-9a51-0d6f1f8c7e21"
DROP = object()  # marks a field to leave out of the body


def body(**changes: Any) -> dict[str, Any]:
    """body is a valid ratio report for a new commune, with ``changes`` applied (DROP removes a field)."""
    base: dict[str, Any] = {
        "event_id": EVENT_ID,
        "unit": "QN-P-HONGGAI",
        "indicator": "DG-04",
        "observed_at": "2025-09-30T23:59:59+07:00",
        "numerator": 628,
        "denominator": 1000,
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not DROP}


def refusals(raw: bytes | str) -> list[tuple[str, str | None]]:
    """refusals validates a JSON document as ReportIn and returns its (reason, field) pairs."""
    with pytest.raises(ValidationError) as caught:
        ReportIn.model_validate_json(raw)
    return [(i.reason, i.field) for i in issues_from_validation_error(caught.value)]


# ───────────────────────────── observed_at ─────────────────────────────


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("2025-09-30", datetime(2025, 9, 30, 16, 59, 59, 999999, UTC), id="bare-date-is-end-of-local-day"),
        pytest.param(" 2025-09-30 ", datetime(2025, 9, 30, 16, 59, 59, 999999, UTC), id="bare-date-trimmed"),
        pytest.param("2024-02-29", datetime(2024, 2, 29, 16, 59, 59, 999999, UTC), id="bare-leap-day"),
        pytest.param("2025-12-31", datetime(2025, 12, 31, 16, 59, 59, 999999, UTC), id="bare-year-end"),
        pytest.param("2025-09-30T23:59:59+07:00", datetime(2025, 9, 30, 16, 59, 59, tzinfo=UTC), id="local-offset"),
        pytest.param("2025-09-30T10:00:00Z", datetime(2025, 9, 30, 10, tzinfo=UTC), id="zulu"),
        pytest.param("2025-09-30T10:00:00-05:30", datetime(2025, 9, 30, 15, 30, tzinfo=UTC), id="negative-offset"),
        pytest.param(
            "2025-09-30T10:00:00.123456+00:00", datetime(2025, 9, 30, 10, 0, 0, 123456, UTC), id="microseconds"
        ),
        pytest.param("2025-09-30 10:00+07:00", datetime(2025, 9, 30, 3, tzinfo=UTC), id="space-separator"),
        pytest.param(
            "2025-09-30T10:00:00+05:30:15", datetime(2025, 9, 30, 4, 29, 45, tzinfo=UTC), id="offset-with-seconds"
        ),
    ],
)
def test_observed_at_accepted(raw: str, expected: datetime) -> None:
    report = ReportIn.model_validate_json(json.dumps(body(observed_at=raw)))
    assert report.observed_at == expected
    assert report.observed_at.utcoffset() is not None


def test_bare_date_is_the_last_microsecond_of_that_day_in_ho_chi_minh_city() -> None:
    observed = ReportIn.model_validate_json(json.dumps(body(observed_at="2025-06-30"))).observed_at
    assert observed.astimezone(LOCAL_TZ).date() == date(2025, 6, 30)
    assert (observed + timedelta(microseconds=1)).astimezone(LOCAL_TZ) == datetime(2025, 7, 1, tzinfo=LOCAL_TZ)
    assert observed.utcoffset() == timedelta(hours=7)


@given(st.dates(min_value=date(1950, 1, 1), max_value=date(2100, 12, 31)))
def test_end_of_local_day_is_just_before_the_next_local_midnight(d: date) -> None:
    end = end_of_local_day(d)
    assert end.astimezone(LOCAL_TZ).date() == d
    assert (end + timedelta(microseconds=1)).astimezone(LOCAL_TZ).time() == datetime.min.time()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        pytest.param("2025-09-30T10:00:00", "missing-timezone", id="missing-timezone"),
        pytest.param("2025-09-30T10:00", "missing-timezone", id="missing-timezone-no-seconds"),
        pytest.param(1759251599, "invalid-timestamp", id="epoch-seconds-number"),
        pytest.param(1759251599000, "invalid-timestamp", id="epoch-millis-number"),
        pytest.param(None, "invalid-timestamp", id="null"),
        pytest.param(["2025-09-30"], "invalid-timestamp", id="array"),
        pytest.param("", "invalid-timestamp", id="empty-string"),
        pytest.param("30/09/2025", "invalid-timestamp", id="vietnamese-day-first-format"),
        pytest.param("2025-02-30", "invalid-timestamp", id="no-such-day"),
        pytest.param("2025-13-01T00:00:00+07:00", "invalid-timestamp", id="no-such-month"),
        pytest.param("2025-09-30T10:00:00+25:00", "invalid-timestamp", id="offset-beyond-24h"),
        pytest.param("9999-12-31", "invalid-timestamp", id="bare-date-out-of-range"),
        pytest.param("9999-12-31T23:00:00-12:00", "invalid-timestamp", id="local-time-out-of-range"),
        pytest.param("9999-12-31T10:00:00+07:00", "invalid-timestamp", id="last-local-day-has-no-end"),
        pytest.param("9999-12-31T00:00:00Z", "invalid-timestamp", id="last-local-day-utc"),
        pytest.param("0001-01-01T00:00:00+07:00", "invalid-timestamp", id="utc-out-of-range"),
    ],
)
def test_observed_at_refused(raw: Any, reason: str) -> None:
    assert refusals(json.dumps(body(observed_at=raw))) == [(reason, "observed_at")]


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("2025-09-30T10:00:00+05:30:15", id="offset-with-seconds"),
        pytest.param("1905-06-30", id="bare-date-in-local-mean-time"),  # Asia/Ho_Chi_Minh was +07:06:40
    ],
)
def test_sub_minute_offsets_keep_their_instant_through_json(raw: str) -> None:
    # JSON writes offsets as ±hh:mm; before the fix the published event was off by the lost seconds.
    report = ReportIn.model_validate_json(json.dumps(body(observed_at=raw)))
    again = ReportIn.model_validate_json(report.model_dump_json())
    assert again.observed_at == report.observed_at
    assert report.observed_at.utcoffset() == timedelta(0)


def test_python_callers_get_the_same_timestamp_rules() -> None:
    # ReportReceived is built in Python from a ReportIn; a naive datetime must not slip in that way.
    with pytest.raises(ValidationError) as caught:
        ReportIn.model_validate(body(observed_at=datetime(2025, 9, 30, 10)))
    assert [(i.reason, i.field) for i in issues_from_validation_error(caught.value)] == [
        ("missing-timezone", "observed_at")
    ]
    aware = datetime(2025, 9, 30, 10, tzinfo=LOCAL_TZ)
    assert ReportIn.model_validate(body(observed_at=aware)).observed_at == aware
    with pytest.raises(ValidationError):
        ReportIn.model_validate(body(observed_at=date(2025, 9, 30)))  # only strings get the bare-date rule


# ───────────────────────────── shape refusals ─────────────────────────────


NAN_BODY = json.dumps(body()).replace('"numerator": 628', '"numerator": NaN')
INF_BODY = json.dumps(body()).replace('"denominator": 1000', '"denominator": Infinity')
NEG_INF_BODY = json.dumps(body(numerator=DROP, denominator=DROP, value=0)).replace('"value": 0', '"value": -Infinity')
HUGE_BODY = json.dumps(body()).replace('"denominator": 1000', '"denominator": 1e400')


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(NAN_BODY, [("invalid-number", "numerator")], id="nan"),
        pytest.param(INF_BODY, [("invalid-number", "denominator")], id="infinity"),
        pytest.param(NEG_INF_BODY, [("invalid-number", "value")], id="negative-infinity"),
        pytest.param(HUGE_BODY, [("invalid-number", "denominator")], id="overflows-to-infinity"),
        pytest.param(json.dumps(body(numerator="628")), [("invalid-field", "numerator")], id="number-as-string"),
        pytest.param(json.dumps(body(numerator=True)), [("invalid-field", "numerator")], id="boolean-as-number"),
        pytest.param(json.dumps(body(value=[1])), [("invalid-field", "value")], id="array-as-number"),
        pytest.param(json.dumps(body(value={"v": 1})), [("invalid-field", "value")], id="object-as-number"),
        pytest.param(json.dumps(body(note=5)), [("invalid-field", "note")], id="number-as-note"),
        pytest.param(json.dumps(body(unit=5)), [("invalid-field", "unit")], id="number-as-unit"),
        pytest.param(json.dumps(body(unit="qn-p-honggai")), [("invalid-code", "unit")], id="lowercase-code"),
        pytest.param(json.dumps(body(unit="QN.P.HONGGAI")), [("invalid-code", "unit")], id="dot-breaks-nats-subject"),
        pytest.param(json.dumps(body(unit="QN-P-HONGGAI\n")), [("invalid-code", "unit")], id="trailing-newline"),
        pytest.param(json.dumps(body(unit="QN P")), [("invalid-code", "unit")], id="space-in-code"),
        pytest.param(json.dumps(body(unit="QN-P-HẠLONG")), [("invalid-code", "unit")], id="diacritics-in-code"),
        pytest.param(json.dumps(body(unit="QN-*")), [("invalid-code", "unit")], id="nats-wildcard"),
        pytest.param(json.dumps(body(unit="")), [("invalid-code", "unit")], id="empty-code"),
        pytest.param(json.dumps(body(indicator="D" * 65)), [("invalid-code", "indicator")], id="code-too-long"),
        pytest.param(json.dumps(body(event_id="report-1")), [("invalid-event-id", "event_id")], id="event-id-not-uuid"),
        pytest.param(json.dumps(body(event_id=12345)), [("invalid-event-id", "event_id")], id="event-id-number"),
        pytest.param(json.dumps(body(event_id=DROP)), [("missing-field", "event_id")], id="missing-event-id"),
        pytest.param(json.dumps(body(observed_at=DROP)), [("missing-field", "observed_at")], id="missing-observed-at"),
        pytest.param(
            json.dumps(body(unit=DROP, indicator=DROP)),
            [("missing-field", "unit"), ("missing-field", "indicator")],
            id="missing-codes",
        ),
        pytest.param(json.dumps(body(period="2025-09")), [("unknown-field", "period")], id="extra-field"),
        pytest.param(
            json.dumps(body(received_at="2025-10-01T00:00:00Z")),
            [("unknown-field", "received_at")],
            id="sender-cannot-set-received-at",
        ),
        pytest.param(json.dumps(body(note="x" * 2001)), [("too-long", "note")], id="note-too-long"),
        pytest.param(json.dumps(body(source="s" * 201)), [("too-long", "source")], id="source-too-long"),
        pytest.param(json.dumps(body(note="a\u0000b")), [("invalid-character", "note")], id="nul-in-note"),
        pytest.param(json.dumps(body(source="\u0000")), [("invalid-character", "source")], id="nul-in-source"),
        pytest.param(json.dumps(body(category="Province")), [("invalid-code", "category")], id="category-uppercase"),
        pytest.param(json.dumps(body(category="")), [("invalid-code", "category")], id="category-empty"),
        pytest.param(json.dumps(body(category=1)), [("invalid-field", "category")], id="category-number"),
        pytest.param("[]", [("not-an-object", None)], id="array-not-object"),
        pytest.param('"report"', [("not-an-object", None)], id="string-not-object"),
        pytest.param("null", [("not-an-object", None)], id="null-not-object"),
    ],
)
def test_shape_refused_with_reason_and_field(raw: str, expected: list[tuple[str, str | None]]) -> None:
    assert refusals(raw) == expected


def test_every_bad_field_is_listed_at_once() -> None:
    raw = json.dumps(body(unit="bad unit", observed_at="2025-09-30T10:00", numerator="1", extra=1))
    assert sorted(refusals(raw)) == sorted(
        [
            ("invalid-code", "unit"),
            ("missing-timezone", "observed_at"),
            ("invalid-field", "numerator"),
            ("unknown-field", "extra"),
        ]
    )


def test_whole_numbers_are_accepted_as_numbers() -> None:
    report = ReportIn.model_validate_json(json.dumps(body(numerator=628, denominator=1000)))
    assert (report.numerator, report.denominator) == (628.0, 1000.0)
    assert isinstance(report.numerator, float)


def test_optional_fields_default_to_none_and_may_be_null() -> None:
    report = ReportIn.model_validate_json(json.dumps(body(note=None, value=None)))
    assert (report.value, report.note, report.source) == (None, None, None)
    assert report.event_id == UUID(EVENT_ID)


def test_report_is_immutable() -> None:
    report = ReportIn.model_validate(body())
    with pytest.raises(ValidationError):
        report.numerator = 1  # type: ignore[misc]  # assigning to the frozen model is the point of the test


def test_code_pattern_is_a_nats_subject_token() -> None:
    assert CODE_PATTERN == r"^[A-Z0-9_-]{1,64}$"
    assert report_subject("QN-P-HONGGAI", "DG-04") == "dx.reports.v1.QN-P-HONGGAI.DG-04"
    assert stored_subject("QN") == "dx.stored.v1.QN"
    assert deadletter_subject("invalid") == "dx.deadletter.v1.invalid"


# ───────────────────────────── free text: Vietnamese and hostile input ─────────────────────────────

HA_LONG = "Thành phố Hạ Long: 628/1000 thủ tục đủ điều kiện, đã số hoá hồ sơ"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(unicodedata.normalize("NFC", HA_LONG), id="vietnamese-nfc"),
        pytest.param(unicodedata.normalize("NFD", HA_LONG), id="vietnamese-nfd"),
        pytest.param("Ho\u00e0 ho\u0061\u0300", id="mixed-nfc-nfd"),
        pytest.param("tab\tcr\rlf\nbell\x07esc\x1bdel\x7fnel\x85ls\u2028ps\u2029", id="control-characters"),
        pytest.param("'); DROP TABLE reports; --", id="sql-injection-text"),
        pytest.param("1' OR '1'='1' /* \\ \" */", id="sql-quotes-and-backslashes"),
        pytest.param("<script>alert('x')</script>", id="html"),
        pytest.param("📈 tăng 5%  \u200b\ufeff", id="emoji-zero-width-bom"),
        pytest.param("עברית العربية", id="right-to-left"),
        pytest.param("", id="empty"),
    ],
)
def test_free_text_is_kept_byte_for_byte(text: str) -> None:
    for ensure_ascii in (True, False):
        raw = json.dumps(body(note=text, source=text[:200]), ensure_ascii=ensure_ascii).encode()
        report = ReportIn.model_validate_json(raw)
        assert report.note is not None and report.note.encode() == text.encode()
        assert report.source is not None and report.source.encode() == text[:200].encode()
    # ... and through the event ingest publishes.
    received = ReportReceived(**report.model_dump(), received_at=datetime.now(UTC), agency="UBND", key_id="k")
    again = ReportReceived.model_validate_json(received.model_dump_json())
    assert again.note is not None and again.note.encode() == text.encode()


def test_nfc_and_nfd_are_not_normalised() -> None:
    nfc, nfd = unicodedata.normalize("NFC", "Hạ Long"), unicodedata.normalize("NFD", "Hạ Long")
    assert nfc != nfd
    assert ReportIn.model_validate(body(note=nfc)).note == nfc
    assert ReportIn.model_validate(body(note=nfd)).note == nfd


def test_note_length_counts_code_points() -> None:
    assert ReportIn.model_validate(body(note="ệ" * 2000)).note == "ệ" * 2000  # 6000 UTF-8 bytes, still fine
    with pytest.raises(ValidationError):
        ReportIn.model_validate(body(note="ệ" * 2001))


def test_lone_surrogate_escape_is_malformed_json() -> None:
    # PostgreSQL cannot store a lone surrogate either; the JSON parser refuses it before the contract.
    with pytest.raises(ValidationError) as caught:
        ReportIn.model_validate_json('{"note": "\\ud800"}')
    assert [e["type"] for e in caught.value.errors()] == ["json_invalid"]


def test_nul_refusal_message_names_the_character() -> None:
    with pytest.raises(ValidationError) as caught:
        ReportIn.model_validate(body(note="x\x00"))
    (issue,) = issues_from_validation_error(caught.value, index=3)
    assert issue == Issue(
        "invalid-character",
        Text(
            "note: văn bản không được chứa ký tự NUL (U+0000)", "note: text cannot contain the NUL character (U+0000)"
        ),
        "note",
        3,
    )


# ───────────────────────────── round trip (hypothesis) ─────────────────────────────

CODES = st.from_regex(r"\A[A-Z0-9_-]{1,64}\Z")
NUMBERS = st.none() | st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**53), 2**53)
TEXT = st.none() | st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=200)
OFFSETS = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
TIMESTAMPS = st.one_of(
    # st.timezones() includes historical zones whose local mean time has offsets in seconds.
    st.datetimes(
        datetime(1850, 1, 1), datetime(2200, 1, 1), timezones=OFFSETS | st.just(LOCAL_TZ) | st.timezones()
    ).map(lambda d: d.isoformat()),
    st.dates(date(1900, 1, 1), date(2200, 1, 1)).map(date.isoformat),
)


@settings(max_examples=150, deadline=None)
@given(
    event_id=st.uuids(),
    unit=CODES,
    indicator=CODES,
    observed_at=TIMESTAMPS,
    value=NUMBERS,
    numerator=NUMBERS,
    denominator=NUMBERS,
    note=TEXT,
    source=TEXT.map(lambda s: s and s[:200]),
    received_at=st.datetimes(timezones=st.just(UTC)),
)
def test_valid_report_round_trips_through_the_published_event(
    event_id: UUID,
    unit: str,
    indicator: str,
    observed_at: str,
    value: Any,
    numerator: Any,
    denominator: Any,
    note: str | None,
    source: str | None,
    received_at: datetime,
) -> None:
    sent = dict(
        event_id=str(event_id),
        unit=unit,
        indicator=indicator,
        observed_at=observed_at,
        value=value,
        numerator=numerator,
        denominator=denominator,
        note=note,
        source=source,
    )
    report = ReportIn.model_validate_json(json.dumps(sent, ensure_ascii=False))
    assert ReportIn.model_validate_json(report.model_dump_json()) == report

    event = ReportReceived(
        **report.model_dump(), received_at=received_at, agency="Sở Khoa học và Công nghệ", key_id="0123456789abcdef"
    )
    again = ReportReceived.model_validate_json(event.model_dump_json())
    assert again == event
    # Equal instants are not enough: the offset the agency wrote survives too.
    assert again.observed_at.utcoffset() == report.observed_at.utcoffset()
    assert again.note == note and again.source == source
    assert again.schema_version == 1


# ───────────────────────────── problems: pydantic errors → RFC 9457 ─────────────────────────────


def test_batch_errors_carry_the_item_index_plus_offset() -> None:
    from pydantic import TypeAdapter

    with pytest.raises(ValidationError) as caught:
        TypeAdapter(list[ReportIn]).validate_python([body(), body(unit="x"), body(value="v")])
    issues = issues_from_validation_error(caught.value, index_offset=100, batch=True)
    assert [(i.reason, i.index, i.field) for i in issues] == [
        ("invalid-code", 101, "unit"),
        ("invalid-field", 102, "value"),
    ]
    assert issues[0].message.en.startswith("unit: ") and issues[0].message.vi.startswith("unit: ")
    assert issues[1].message.vi == "value: phải là một số"


def test_one_issue_per_item_field_and_reason() -> None:
    # "float | None" reports a bad value once per union member; the sender should see it once.
    with pytest.raises(ValidationError) as caught:
        ReportIn.model_validate(body(value="x", numerator="y"))
    assert [(i.reason, i.field) for i in issues_from_validation_error(caught.value)] == [
        ("invalid-field", "value"),
        ("invalid-field", "numerator"),
    ]


def test_issue_json_leaves_out_what_is_unknown() -> None:
    assert Issue("unknown-unit", Text("đơn vị X", "unit X")).to_json() == {
        "reason": "unknown-unit",
        "message": "đơn vị X",
    }
    assert Issue("unknown-unit", Text("đơn vị X", "unit X")).to_json("en") == {
        "reason": "unknown-unit",
        "message": "unit X",
    }
    assert Issue("missing-timezone", Text("m", "m"), "observed_at", 0, EVENT_ID).to_json() == {
        "reason": "missing-timezone",
        "message": "m",
        "index": 0,
        "field": "observed_at",
        "event_id": EVENT_ID,
    }


def test_problem_body_follows_rfc_9457() -> None:
    problem = Problem(
        422,
        "invalid-reports",
        "Invalid reports",
        Text("có 2 lỗi", "2 problem(s) found"),
        [Issue("unknown-unit", Text("đ", "u"), "unit", 0), Issue("negative-value", Text("g", "v"), "value", 1)],
    )
    assert problem.to_json("en") == {
        "type": PROBLEM_TYPE_BASE + "invalid-reports",
        "title": "Invalid reports",
        "status": 422,
        "reason": "invalid-reports",
        "detail": "2 problem(s) found",
        "errors": [
            {"reason": "unknown-unit", "message": "u", "index": 0, "field": "unit"},
            {"reason": "negative-value", "message": "v", "index": 1, "field": "value"},
        ],
    }
    # Vietnamese by default: only detail and messages change, never type, title or the reasons.
    vi = problem.to_json()
    assert vi["detail"] == "có 2 lỗi" and [e["message"] for e in vi["errors"]] == ["đ", "g"]
    assert {k: v for k, v in vi.items() if k not in ("detail", "errors")} == {
        k: v for k, v in problem.to_json("en").items() if k not in ("detail", "errors")
    }
    assert Problem(415, "unsupported-media-type", "Unsupported media type").to_json() == {
        "type": "https://dx-monitor.github.io/problems/unsupported-media-type",
        "title": "Unsupported media type",
        "status": 415,
        "reason": "unsupported-media-type",
    }
    assert isinstance(problem, Exception)


@pytest.mark.parametrize(
    ("header", "language"),
    [
        pytest.param(None, "vi", id="missing"),
        pytest.param("", "vi", id="empty"),
        pytest.param("vi", "vi", id="vi"),
        pytest.param("en", "en", id="en"),
        pytest.param("en-US", "en", id="en-US"),
        pytest.param("EN-gb;q=0.8", "en", id="case-and-quality"),
        pytest.param("vi;q=0.2, en", "en", id="english-preferred"),
        pytest.param("en;q=0.2, vi", "vi", id="vietnamese-preferred"),
        pytest.param("en;q=0", "vi", id="english-refused"),
        pytest.param("de, en;q=0.5", "en", id="english-as-fallback"),
        pytest.param("fr", "vi", id="unsupported"),
        pytest.param("*", "vi", id="any"),
        pytest.param("en;q=abc", "vi", id="bad-quality-ignored"),
        pytest.param(";;,,=", "vi", id="garbage"),
        pytest.param("x" * 5000, "vi", id="huge"),
    ],
)
def test_accept_language_negotiation(header: str | None, language: str) -> None:
    assert negotiate_language(header) == language
