"""Formatting: numbers, values, dates and times as people read them, in one place for every output.

The CLI, digests and the alerts' annotations all use these, so a time reads the same everywhere:
``06/12/2026 12:17 (giờ Việt Nam)`` — dates dd/mm/yyyy, times in Asia/Ho_Chi_Minh with the zone
named, numbers with a decimal comma and a thousands dot (the glossary's "Dates and numbers").
Pure functions.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from dxmon import words
from dxmon.contracts import LOCAL_TZ

# "giờ Việt Nam": tables name the zone once, in a heading or caption, instead of in every cell.
LOCAL_TIME = words.LOCAL_TIME_SUFFIX.strip("()")
# A target's comparator as people write it: "≥ 80%".
COMPARATOR_SIGNS = {">=": "≥", ">": ">", "<=": "≤", "<": "<", "==": "="}


def format_number(x: float) -> str:
    """format_number writes ``1250.5`` as ``1.250,5`` (at most one decimal, none when whole)."""
    rounded = round(x, 1)
    whole = rounded == int(rounded)
    text = f"{rounded:,.0f}" if whole else f"{rounded:,.1f}"
    return text.replace(",", "\0").replace(".", ",").replace("\0", ".")


def format_value(x: float | None, measure: str) -> str:
    """format_value writes a value of an indicator of ``measure`` (a Measure's value) for a person."""
    if x is None:
        return words.RESULT["no_data"].lower()
    if measure == "boolean":
        return words.RESULT["met"] if x >= 1 else words.NOT_YET_MET
    if measure == "rank":
        return f"hạng {format_number(x)}"
    if measure in ("ratio", "percent"):
        return f"{format_number(x)}%"
    return format_number(x)


def format_date(d: date | datetime) -> str:
    """format_date writes the local calendar day as dd/mm/yyyy (a datetime is first put in Vietnam time)."""
    if isinstance(d, datetime):
        d = d.astimezone(LOCAL_TZ).date()
    return d.strftime("%d/%m/%Y")


def format_moment(t: datetime, *, zone: bool = True) -> str:
    """format_moment writes an instant as ``dd/mm/yyyy HH:MM (giờ Việt Nam)``, whatever zone ``t`` is in.

    ``zone=False`` leaves the suffix out, for tables that name the zone once in a heading or caption.
    """
    local = t.astimezone(LOCAL_TZ).strftime("%d/%m/%Y %H:%M")
    return f"{local} {words.LOCAL_TIME_SUFFIX}" if zone else local


def format_duration(d: timedelta) -> str:
    """format_duration says how long in days, or hours under a day."""
    if d >= timedelta(days=1):
        return f"{d.days} ngày"
    hours = int(d.total_seconds() // 3600)
    return f"{hours} giờ" if hours >= 1 else "dưới 1 giờ"


# How a target's comparator reads before its value: "≥ 80%" (the CLI's status and the official report).
COMPARATOR_SIGNS = {">=": "≥", ">": ">", "<=": "≤", "<": "<", "==": "="}
