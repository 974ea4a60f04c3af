"""Admin input checks shared by the CLI and the HTTP API."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.alerts.admin import AdminError, parse_duration


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


@pytest.mark.parametrize("text", [
    pytest.param("", id="empty"), pytest.param("2", id="no-unit"), pytest.param("2y", id="unknown-unit"),
    pytest.param("0h", id="zero"), pytest.param("-2h", id="negative"), pytest.param("2h foo", id="trailing"),
])
def test_parse_duration_refuses(text) -> None:
    with pytest.raises(AdminError):
        parse_duration(text)
