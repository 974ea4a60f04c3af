"""Periods: every instant falls in exactly one local period; codes and Vietnamese labels."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dxmon.contracts import LOCAL_TZ, end_of_local_day
from dxmon.periods import (
    HALF_YEARLY,
    MONTHLY,
    QUARTERLY,
    YEARLY,
    ReportingWindow,
    period_numbered,
    period_of,
    period_starting,
)

CADENCES = (MONTHLY, QUARTERLY, HALF_YEARLY, YEARLY)
WINDOWS = tuple(ReportingWindow)


def test_quarter_end_instants_share_one_period():
    # The case: a bare date and a later instant of the same local day are one period.
    bare = end_of_local_day(date(2026, 9, 30))
    later = datetime(2026, 9, 30, 23, 59, 59, tzinfo=timezone(timedelta(hours=7)))
    assert period_of(bare, QUARTERLY) == period_of(later, QUARTERLY)
    q3 = period_of(later, QUARTERLY)
    assert (q3.start, q3.end, q3.code, q3.label_vi) == (date(2026, 7, 1), date(2026, 9, 30), "2026-Q3", "quý III/2026")


def test_utc_instant_after_local_midnight_is_next_quarter():
    p = period_of(datetime(2026, 9, 30, 23, 30, tzinfo=UTC), QUARTERLY)
    assert p.code == "2026-Q4" and p.start == date(2026, 10, 1)
    assert period_of(datetime(2026, 9, 30, 16, 59, 59, tzinfo=UTC), QUARTERLY).code == "2026-Q3"
    assert period_of(datetime(2026, 9, 30, 17, 0, tzinfo=UTC), QUARTERLY).code == "2026-Q4"


def test_year_end_and_leap_february():
    assert period_of(date(2025, 12, 31), YEARLY).code == "2025"
    assert period_of(datetime(2025, 12, 31, 17, 0, tzinfo=UTC), YEARLY).code == "2026"
    feb = period_of(date(2028, 2, 29), MONTHLY)
    assert (feb.start, feb.end, feb.code) == (date(2028, 2, 1), date(2028, 2, 29), "2028-02")


@pytest.mark.parametrize(
    ("day", "cadence", "code", "label"),
    [
        (date(2026, 11, 3), MONTHLY, "2026-11", "tháng 11/2026"),
        (date(2026, 3, 9), MONTHLY, "2026-03", "tháng 3/2026"),
        (date(2026, 8, 1), QUARTERLY, "2026-Q3", "quý III/2026"),
        (date(2026, 2, 1), QUARTERLY, "2026-Q1", "quý I/2026"),
        (date(2026, 6, 30), HALF_YEARLY, "2026-H1", "6 tháng đầu năm 2026"),
        (date(2026, 7, 1), HALF_YEARLY, "2026-H2", "6 tháng cuối năm 2026"),
        (date(2025, 1, 1), YEARLY, "2025", "năm 2025"),
    ],
)
def test_codes_and_labels(day, cadence, code, label):
    p = period_of(day, cadence)
    assert (p.code, p.label_vi) == (code, label)


@pytest.mark.parametrize(
    ("day", "cadence", "code", "start", "end"),
    [
        # Month: 15th of the previous month to the 14th.
        (date(2026, 11, 14), MONTHLY, "2026-11", date(2026, 10, 15), date(2026, 11, 14)),
        (date(2026, 11, 15), MONTHLY, "2026-12", date(2026, 11, 15), date(2026, 12, 14)),
        (date(2026, 12, 15), MONTHLY, "2027-01", date(2026, 12, 15), date(2027, 1, 14)),
        # Quarter: 15th of the month before it to the 14th of its last month.
        (date(2026, 9, 14), QUARTERLY, "2026-Q3", date(2026, 6, 15), date(2026, 9, 14)),
        (date(2026, 9, 15), QUARTERLY, "2026-Q4", date(2026, 9, 15), date(2026, 12, 14)),
        (date(2025, 12, 20), QUARTERLY, "2026-Q1", date(2025, 12, 15), date(2026, 3, 14)),
        # Six months and year: from 15/12 of the previous year.
        (date(2026, 6, 14), HALF_YEARLY, "2026-H1", date(2025, 12, 15), date(2026, 6, 14)),
        (date(2026, 12, 14), YEARLY, "2026", date(2025, 12, 15), date(2026, 12, 14)),
        (date(2026, 12, 15), YEARLY, "2027", date(2026, 12, 15), date(2027, 12, 14)),
    ],
)
def test_nd09_window(day, cadence, code, start, end):
    p = period_of(day, cadence, ReportingWindow.ND09)
    assert (p.code, p.start, p.end) == (code, start, end)


def test_nd09_uses_local_day():
    # 14 Nov 17:30 UTC is 15 Nov 00:30 in Hà Nội: the December report's window.
    assert period_of(datetime(2026, 11, 14, 17, 30, tzinfo=UTC), MONTHLY, "nd09").code == "2026-12"


def test_last_representable_year():
    assert period_of(date(9999, 12, 31), YEARLY).end == date(9999, 12, 31)
    assert period_of(date(9999, 12, 31), MONTHLY).code == "9999-12"


def test_refusals():
    with pytest.raises(ValueError):
        period_of(datetime(2026, 1, 1), MONTHLY)  # naive: no offset
    with pytest.raises(ValueError):
        period_of(date(2026, 1, 1), "weekly")
    with pytest.raises(ValueError):
        period_numbered(2026, 5, QUARTERLY)
    with pytest.raises(ValueError):
        period_starting(date(2026, 1, 2), MONTHLY)


instants = st.datetimes(
    min_value=datetime(1990, 1, 2),
    max_value=datetime(2100, 12, 30),
    timezones=st.sampled_from([UTC, LOCAL_TZ, timezone(timedelta(hours=-11)), timezone(timedelta(hours=14))]),
)


@given(instants, st.sampled_from(CADENCES), st.sampled_from(WINDOWS))
def test_period_holds_its_instant_and_is_contiguous(instant, cadence, window):
    p = period_of(instant, cadence, window)
    local = instant.astimezone(LOCAL_TZ).date()
    assert p.start <= local <= p.end
    # The day after the end starts the next period; the day before the start ends the previous one.
    nxt = period_of(p.end + timedelta(days=1), cadence, window)
    prev = period_of(p.start - timedelta(days=1), cadence, window)
    assert nxt.start == p.end + timedelta(days=1) and prev.end == p.start - timedelta(days=1)
    assert nxt.code > p.code > prev.code
    # Any instant of the period's local days maps to the same period.
    assert period_of(end_of_local_day(p.end), cadence, window) == p
    assert period_of(datetime.combine(p.start, datetime.min.time(), LOCAL_TZ), cadence, window) == p
    assert period_starting(p.start, cadence, window) == p
    assert period_numbered(p.year, p.index, cadence, window) == p


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 1, 1)), st.sampled_from(WINDOWS))
def test_quarters_partition_years(day, window):
    q = period_of(day, QUARTERLY, window)
    months = [period_of(d, MONTHLY, window) for d in (q.start, q.end)]
    year = period_of(day, YEARLY, window)
    assert months[0].start == q.start and months[1].end == q.end
    assert year.start <= q.start and q.end <= year.end
    assert q.year == year.year
