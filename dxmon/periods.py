"""periods: which reporting period (kỳ báo cáo) an instant belongs to, its code and its Vietnamese label.

Every report belongs to exactly one period of its indicator's cadence, whatever the instant inside
it: the value in force for a period is the latest report *received* for it, so a correction sent as
"2026-09-30T23:59:59+07:00" replaces one sent as "2026-09-30". Periods are local calendar periods in
Asia/Ho_Chi_Minh: 2026-09-30T23:30:00Z is already 1 October locally, hence in the fourth quarter.

A programme may instead use the reporting window of Nghị định 09/2019/NĐ-CP (chế độ báo cáo của cơ
quan hành chính nhà nước, Điều 12): a month's figures run from the 15th of the previous month to the
14th; a quarter from the 15th of the month before it to the 14th of its last month; six months from
15/12 of the previous year to 14/6 (and 15/6 to 14/12); a year from 15/12 of the previous year to
14/12. Such a period is named after the month, quarter or year it reports on.

Pure: no I/O, no clock. Periods are ``(start, end)`` local dates, both inclusive.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from dxmon.contracts import LOCAL_TZ

MONTHLY, QUARTERLY, HALF_YEARLY, YEARLY = "monthly", "quarterly", "half_yearly", "yearly"
_MONTHS = {MONTHLY: 1, QUARTERLY: 3, HALF_YEARLY: 6, YEARLY: 12}
ND09_FIRST_DAY = 15  # Nghị định 09/2019: the window opens on the 15th of the previous month
_ROMAN = ("I", "II", "III", "IV")


class ReportingWindow(StrEnum):
    """ReportingWindow: how a programme cuts time into periods (catalog ``programme.reporting_window``)."""

    CALENDAR = "calendar"  # calendar months, quarters, halves, years (the default)
    ND09 = "nd09"  # Nghị định 09/2019: 15th of the previous month → 14th


@dataclass(frozen=True, order=True)
class ReportingPeriod:
    """ReportingPeriod: one period of a cadence; ``start`` and ``end`` are local dates, both inclusive.

    ``year`` and ``index`` name the period (month 1–12, quarter 1–4, half 1–2, year 1); with the NĐ 09
    window they name the month/quarter/year reported on, not the calendar month of ``start``.
    """

    start: date
    end: date
    cadence: str
    year: int
    index: int

    @property
    def code(self) -> str:
        """code is ``YYYY-MM``, ``YYYY-Qn``, ``YYYY-Hn`` or ``YYYY``."""
        if self.cadence == MONTHLY:
            return f"{self.year:04d}-{self.index:02d}"
        if self.cadence == QUARTERLY:
            return f"{self.year:04d}-Q{self.index}"
        if self.cadence == HALF_YEARLY:
            return f"{self.year:04d}-H{self.index}"
        return f"{self.year:04d}"

    @property
    def label_vi(self) -> str:
        """label_vi is how people read the period: "tháng 11/2026", "quý III/2026", "năm 2025"."""
        if self.cadence == MONTHLY:
            return f"tháng {self.index}/{self.year}"
        if self.cadence == QUARTERLY:
            return f"quý {_ROMAN[self.index - 1]}/{self.year}"
        if self.cadence == HALF_YEARLY:
            return f"6 tháng {'đầu' if self.index == 1 else 'cuối'} năm {self.year}"
        return f"năm {self.year}"


def local_date(instant: datetime | date) -> date:
    """local_date is the Asia/Ho_Chi_Minh calendar day of an instant (a bare date is that day)."""
    if isinstance(instant, datetime):
        if instant.utcoffset() is None:
            raise ValueError("an instant needs a UTC offset")
        return instant.astimezone(LOCAL_TZ).date()
    return instant


def period_of(
    instant: datetime | date, cadence: str, window: ReportingWindow | str = ReportingWindow.CALENDAR
) -> ReportingPeriod:
    """period_of returns the period of ``cadence`` that holds ``instant`` (a local date or an aware datetime)."""
    months = _months(cadence)
    d = local_date(instant)
    year, month = d.year, d.month
    if ReportingWindow(window) is ReportingWindow.ND09 and d.day >= ND09_FIRST_DAY:
        # From the 15th on, a day counts towards the next month's report.
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    index = (month - 1) // months + 1
    return period_numbered(year, index, cadence, window)


def period_numbered(
    year: int, index: int, cadence: str, window: ReportingWindow | str = ReportingWindow.CALENDAR
) -> ReportingPeriod:
    """period_numbered builds period ``index`` (month, quarter, half; 1 for a year) of ``year``."""
    months = _months(cadence)
    if not 1 <= index <= 12 // months:
        raise ValueError(f"{cadence} period {index} does not exist")
    first_month = (index - 1) * months + 1
    last_month = first_month + months - 1
    if ReportingWindow(window) is ReportingWindow.ND09:
        start_y, start_m = (year - 1, 12) if first_month == 1 else (year, first_month - 1)
        start = date(start_y, start_m, ND09_FIRST_DAY)
        end = date(year, last_month, ND09_FIRST_DAY - 1)
    else:
        start = date(year, first_month, 1)
        end = _month_end(year, last_month)
    return ReportingPeriod(start, end, cadence, year, index)


def period_starting(
    start: date, cadence: str, window: ReportingWindow | str = ReportingWindow.CALENDAR
) -> ReportingPeriod:
    """period_starting is the period whose first day is ``start`` (as stored in ``period_start``)."""
    found = period_of(start, cadence, window)
    if found.start != start:
        raise ValueError(f"{start} is not the first day of a {cadence} period")
    return found


def _months(cadence: str) -> int:
    try:
        return _MONTHS[str(cadence)]
    except KeyError:
        raise ValueError(f"unknown cadence {cadence!r}") from None


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])  # also for December 9999
