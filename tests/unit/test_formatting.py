"""Formatting: one way to write numbers, dates and times for people (dxmon.formatting)."""

from __future__ import annotations

import typing
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from dxmon.catalog.schemas import MilestoneIn
from dxmon.formatting import COMPARATOR_SIGNS, LOCAL_TIME, format_date, format_moment


@pytest.mark.parametrize(
    ("t", "want"),
    [
        pytest.param(datetime(2026, 12, 6, 5, 17, tzinfo=UTC), "06/12/2026 12:17 (giờ Việt Nam)", id="utc"),
        pytest.param(
            datetime(2026, 12, 31, 17, 30, tzinfo=UTC),
            "01/01/2027 00:30 (giờ Việt Nam)",
            id="utc-evening-is-next-day-in-vietnam",
        ),
        pytest.param(
            datetime(2026, 12, 6, 12, 17, tzinfo=timezone(timedelta(hours=7))),
            "06/12/2026 12:17 (giờ Việt Nam)",
            id="already-local",
        ),
        pytest.param(
            datetime(2026, 12, 6, 6, 17, tzinfo=timezone(timedelta(hours=1))),
            "06/12/2026 12:17 (giờ Việt Nam)",
            id="other-zone",
        ),
    ],
)
def test_format_moment_is_vietnam_time_with_the_zone_named(t: datetime, want: str) -> None:
    assert format_moment(t) == want


def test_tables_name_the_zone_once() -> None:
    assert format_moment(datetime(2026, 12, 6, 5, 17, tzinfo=UTC), zone=False) == "06/12/2026 12:17"
    assert LOCAL_TIME == "giờ Việt Nam"


def test_format_date() -> None:
    assert format_date(date(2026, 3, 1)) == "01/03/2026"
    assert format_date(datetime(2026, 2, 28, 18, 0, tzinfo=UTC)) == "01/03/2026"  # 01:00 on 1 March in Hạ Long


def test_every_comparator_the_catalog_accepts_has_a_sign() -> None:
    accepted = set(typing.get_args(MilestoneIn.model_fields["comparator"].annotation))
    assert accepted and set(COMPARATOR_SIGNS) == accepted
    assert COMPARATOR_SIGNS[">="] == "≥" and COMPARATOR_SIGNS["<="] == "≤"
