"""Admin: the checked operations behind the CLI and the HTTP API (subscriptions, silences, acks).

Both front ends call these, so a unit code, pillar, duration or channel URL is validated in one
place and refused with the same message wherever it comes from.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from datetime import datetime, timedelta

import asyncpg

from dxmon.catalog import Catalog, Pillar
from services.alerts import repository as repo
from services.alerts.alert import Severity
from services.alerts.channels import validate_url

_DURATION = re.compile(r"(\d{1,9})\s*([wdhms])")
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_FINGERPRINT = re.compile(r"[0-9a-f]{1,64}")

# Longest silence and acknowledgement: a mute must be looked at again, not forgotten. A unit that
# needs longer (e.g. dissolved) belongs in the catalog (valid_to), not in a silence.
MAX_SILENCE = timedelta(days=90)
MAX_ACK = timedelta(days=30)
MAX_REASON_CHARS = 1000
MAX_NAME_CHARS = 100


class AdminError(ValueError):
    """AdminError: a request that cannot be carried out; the message says why, for a person."""


class UnknownAlertError(AdminError):
    """UnknownAlertError: no alert has the given fingerprint."""


def parse_duration(text: str, longest: timedelta = MAX_SILENCE) -> timedelta:
    """parse_duration reads ``90m``, ``2h``, ``1d12h`` or ``2w`` (weeks, days, hours, minutes, seconds).

    Anything longer than ``longest`` is refused (the caps are documented in services/alerts/README.md).
    """
    compact = text.strip().lower().replace(" ", "")
    parts = _DURATION.findall(compact)
    if not compact or len(compact) > 40 or "".join(n + u for n, u in parts) != compact:
        raise AdminError(f"invalid duration {text[:40]!r}: use e.g. 30m, 2h, 1d12h or 2w")
    total = sum(int(n) * _UNIT_SECONDS[u] for n, u in parts)  # at most 40 chars of 9-digit parts: no overflow
    if total <= 0:
        raise AdminError("a duration must be longer than zero")
    if total > longest.total_seconds():
        raise AdminError(f"a duration may be at most {longest.days} days (got {compact})")
    return timedelta(seconds=total)


def check_text(field: str, text: str, limit: int) -> str:
    """check_text strips ``text`` and refuses control characters (NUL cannot be stored) and excess length."""
    if len(text) > limit:
        raise AdminError(f"{field} is too long: at most {limit} characters")
    if any(unicodedata.category(c) == "Cc" for c in text):
        raise AdminError(f"{field} contains a control character (e.g. NUL or a line break)")
    return text.strip()


def check_unit(catalog: Catalog, unit: str) -> None:
    if unit not in catalog.units:
        raise AdminError(f"unknown unit {unit[:64]!r}: not in the catalog (see GET /v1/catalog/units on ingest)")


def check_indicator(catalog: Catalog, indicator: str) -> None:
    if indicator not in catalog.indicators:
        raise AdminError(f"unknown indicator {indicator[:64]!r}: not in the catalog")


async def add_subscription(
    conn: asyncpg.Connection,
    catalog: Catalog,
    *,
    unit: str,
    with_descendants: bool,
    pillars: Sequence[str],
    min_severity: str,
    channel: str,
) -> int:
    """add_subscription validates and stores a subscription; returns its id."""
    check_unit(catalog, unit)
    known = {p.value for p in Pillar}
    bad = [p for p in pillars if p not in known]
    if bad:
        raise AdminError(f"unknown pillar {bad[0]!r}: choose from {', '.join(sorted(known))}")
    try:
        severity = Severity(min_severity)
    except ValueError:
        raise AdminError(f"unknown severity {min_severity!r}: choose warning or critical") from None
    try:
        validate_url(channel)
    except ValueError as exc:
        raise AdminError(f"invalid channel URL: {exc}") from None
    return await repo.add_subscription(conn, unit, with_descendants, pillars, severity, channel)


async def add_silence(
    conn: asyncpg.Connection,
    catalog: Catalog,
    *,
    unit: str,
    indicator: str | None,
    duration: str,
    reason: str,
    created_by: str,
    now: datetime,
) -> tuple[int, datetime]:
    """add_silence mutes a unit (or one of its indicators) from ``now`` for ``duration``."""
    check_unit(catalog, unit)
    if indicator is not None:
        check_indicator(catalog, indicator)
    reason = check_text("reason", reason, MAX_REASON_CHARS)
    created_by = check_text("created_by", created_by, MAX_NAME_CHARS)
    if not reason:
        raise AdminError("a silence needs a reason (who is handling it and why)")
    ends_at = now + parse_duration(duration, MAX_SILENCE)
    return await repo.add_silence(conn, unit, indicator, now, ends_at, reason, created_by), ends_at


async def acknowledge(
    conn: asyncpg.Connection, *, fingerprint: str, duration: str, reason: str, created_by: str, now: datetime
) -> datetime:
    """acknowledge stops reminders of one alert until ``now + duration``; its resolution is still sent."""
    reason = check_text("reason", reason, MAX_REASON_CHARS)
    created_by = check_text("created_by", created_by, MAX_NAME_CHARS)
    until = now + parse_duration(duration, MAX_ACK)
    # A fingerprint is 16 hex digits (repository.sync_alerts); anything else names no alert.
    if not _FINGERPRINT.fullmatch(fingerprint) or not await repo.acknowledge(
        conn, fingerprint, until, reason, created_by
    ):
        raise UnknownAlertError(f"no alert with fingerprint {fingerprint[:64]!r} (see `dxmon alerts list`)")
    return until
