"""Admin input checks shared by the CLI and the HTTP API."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.alerts.admin import MAX_ACK, MAX_SILENCE, AdminError, check_text, parse_duration


@pytest.mark.parametrize(
    ("text", "want"),
    [
        pytest.param("2h", timedelta(hours=2), id="hours"),
        pytest.param("30m", timedelta(minutes=30), id="minutes"),
        pytest.param("1d12h", timedelta(days=1, hours=12), id="combined"),
        pytest.param("2w", timedelta(weeks=2), id="weeks"),
        pytest.param(" 24H ", timedelta(hours=24), id="case-and-spaces"),
    ],
)
def test_parse_duration(text, want) -> None:
    assert parse_duration(text) == want


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("2", id="no-unit"),
        pytest.param("2y", id="unknown-unit"),
        pytest.param("0h", id="zero"),
        pytest.param("-2h", id="negative"),
        pytest.param("2h foo", id="trailing"),
    ],
)
def test_parse_duration_refuses(text) -> None:
    with pytest.raises(AdminError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "longest"),
    [
        pytest.param("1000000w", MAX_SILENCE, id="overflowing-weeks"),
        pytest.param("9" * 5000 + "s", MAX_SILENCE, id="thousands-of-digits"),
        pytest.param("91d", MAX_SILENCE, id="silence-over-90-days"),
        pytest.param("31d", MAX_ACK, id="ack-over-30-days"),
        pytest.param("500w", MAX_ACK, id="ack-500-weeks"),
    ],
)
def test_parse_duration_caps(text, longest) -> None:
    with pytest.raises(AdminError):
        parse_duration(text, longest)


def test_parse_duration_accepts_the_caps_themselves() -> None:
    assert parse_duration("90d", MAX_SILENCE) == MAX_SILENCE
    assert parse_duration("30d", MAX_ACK) == MAX_ACK


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("a\x00b", id="nul"),
        pytest.param("a\nb", id="newline"),
        pytest.param("\x1b[31m", id="escape"),
        pytest.param("x" * 1001, id="too-long"),
    ],
)
def test_check_text_refuses(text) -> None:
    with pytest.raises(AdminError):
        check_text("reason", text, 1000)


def test_check_text_keeps_vietnamese() -> None:
    assert check_text("reason", "  Đang rà soát số liệu  ", 1000) == "Đang rà soát số liệu"
