"""The report's ``explanation`` (Nguyên nhân, giải pháp): optional free text, normalised the way people
read it (NFC, one line-break convention, trimmed), at most 2,000 characters, no invisible control
characters. Refusals are asserted by reason and field, and the Vietnamese message is checked once."""

from __future__ import annotations

import json
import unicodedata
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from dxmon.contracts import EXPLANATION_MAX_LENGTH, ReportIn, ReportReceived, message_id
from dxmon.problems import issues_from_validation_error
from tests.unit.test_contracts import body, refusals

WHY = "Một số thôn chưa có cáp quang;\nđã đề nghị nhà mạng hoàn thành trong quý IV."


def test_explanation_is_optional_and_accepted() -> None:
    assert ReportIn.model_validate(body()).explanation is None
    assert ReportIn.model_validate(body(explanation=None)).explanation is None
    assert ReportIn.model_validate_json(json.dumps(body(explanation=WHY))).explanation == WHY


def test_nfd_is_stored_as_nfc() -> None:
    # A Mac or an old input method sends decomposed letters; search, length and display then agree.
    nfd = unicodedata.normalize("NFD", WHY)
    assert nfd != WHY
    assert ReportIn.model_validate_json(json.dumps(body(explanation=nfd))).explanation == WHY


def test_line_breaks_are_unified_and_blanks_trimmed() -> None:
    sent = "  \r\nDòng 1\r\nDòng 2\rDòng 3\n\tthụt lề  \n"
    assert ReportIn.model_validate(body(explanation=sent)).explanation == "Dòng 1\nDòng 2\nDòng 3\n\tthụt lề"


def test_empty_or_blank_explanation_is_the_empty_string() -> None:
    # The empty string is meaningful: it withdraws the period's explanation (see README).
    assert ReportIn.model_validate(body(explanation="")).explanation == ""
    assert ReportIn.model_validate(body(explanation=" \n\t ")).explanation == ""


def test_length_is_counted_after_normalisation() -> None:
    # "ệ" decomposed is three code points; what counts is the one character a person sees.
    nfd = unicodedata.normalize("NFD", "ệ") * EXPLANATION_MAX_LENGTH
    assert len(nfd) == 3 * EXPLANATION_MAX_LENGTH
    assert ReportIn.model_validate(body(explanation=nfd)).explanation == "ệ" * EXPLANATION_MAX_LENGTH


def test_too_long_is_refused_with_the_limit() -> None:
    raw = json.dumps(body(explanation="ệ" * (EXPLANATION_MAX_LENGTH + 1)))
    assert refusals(raw) == [("too-long", "explanation")]
    with pytest.raises(ValidationError) as caught:
        ReportIn.model_validate_json(raw)
    (issue,) = issues_from_validation_error(caught.value)
    assert issue.message.vi == "explanation: dài quá 2000 ký tự"


@pytest.mark.parametrize(
    ("text", "character"),
    [
        pytest.param("a\x00b", "U+0000", id="nul"),
        pytest.param("chuông\x07", "U+0007", id="bell"),
        pytest.param("esc\x1b[31m", "U+001B", id="terminal-escape"),
        pytest.param("del\x7f", "U+007F", id="delete"),
        pytest.param("nel\x85", "U+0085", id="c1-next-line"),
        pytest.param("trang\x0cmới", "U+000C", id="form-feed"),
        pytest.param("abc\u202edcba", "U+202E", id="right-to-left-override"),
        pytest.param("\u2066cô lập\u2069", "U+2066", id="bidi-isolate"),
    ],
)
def test_control_characters_are_refused_naming_the_character(text: str, character: str) -> None:
    raw = json.dumps(body(explanation=text))
    assert refusals(raw) == [("invalid-character", "explanation")]
    with pytest.raises(ValidationError) as caught:
        ReportIn.model_validate_json(raw)
    (issue,) = issues_from_validation_error(caught.value)
    assert issue.message.vi == (
        f"explanation: văn bản không được chứa ký tự điều khiển {character}; "
        "chỉ nhận chữ, dấu câu, dấu tab và xuống dòng"
    )
    assert character in issue.message.en


def test_a_lone_surrogate_from_a_python_caller_is_refused() -> None:
    # JSON cannot carry one (the parser refuses it), but a spreadsheet reader hands Python strings over.
    assert [(i.reason, i.field) for i in _issues(body(explanation="a\ud800"))] == [("invalid-character", "explanation")]


def test_wrong_type_is_refused() -> None:
    assert refusals(json.dumps(body(explanation=42))) == [("invalid-field", "explanation")]
    assert refusals(json.dumps(body(explanation=["a"]))) == [("invalid-field", "explanation")]


def test_explanation_travels_in_the_published_event() -> None:
    report = ReportIn.model_validate(body(explanation=unicodedata.normalize("NFD", WHY)))
    event = ReportReceived(**report.model_dump(), received_at=datetime.now(UTC), agency="UBND", key_id="k")
    assert ReportReceived.model_validate_json(event.model_dump_json()).explanation == WHY


def test_message_id_covers_the_explanation_and_is_unchanged_without_one() -> None:
    plain = ReportIn.model_validate(body())
    explained = ReportIn.model_validate(body(explanation=WHY))
    withdrawn = ReportIn.model_validate(body(explanation=""))
    ids = {message_id("UBND", r) for r in (plain, explained, withdrawn)}
    assert len(ids) == 3  # another explanation is other content, never a JetStream duplicate
    # Reports without an explanation keep the id they had before the field existed (a resend across the
    # upgrade is still a duplicate): the digest of the same tuple the old code hashed.
    assert message_id("UBND", plain) == _message_id_before_explanations("UBND", plain)


def _message_id_before_explanations(agency: str, report: ReportIn) -> str:
    import hashlib

    content = (
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
    return f"{report.event_id}:{hashlib.sha256(repr(content).encode()).hexdigest()[:32]}"


def _issues(raw: dict) -> list:
    with pytest.raises(ValidationError) as caught:
        ReportIn.model_validate(raw)
    return issues_from_validation_error(caught.value)


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(blacklist_categories=["Cs"]), max_size=300))
def test_any_text_is_refused_or_stored_normalised_and_stable(text: str) -> None:
    # The aggregator validates the published event again: what ingest stored must come back unchanged.
    try:
        first = ReportIn.model_validate(body(explanation=text)).explanation
    except ValidationError as err:
        assert {i.reason for i in issues_from_validation_error(err)} == {"invalid-character"}
        bidi = {*range(0x202A, 0x202F), *range(0x2066, 0x206A)}
        assert any((unicodedata.category(c) == "Cc" and c not in "\t\n\r") or ord(c) in bidi for c in text)
        return
    assert first is not None and unicodedata.is_normalized("NFC", first) and first == first.strip()
    assert "\r" not in first
    assert ReportIn.model_validate(body(explanation=first)).explanation == first
