"""Admin: the checked operations behind the CLI and the HTTP API (subscriptions, silences, acks).

Both front ends call these, so a unit code, pillar, duration or channel URL is validated in one
place and refused with the same message wherever it comes from.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta

import asyncpg

from dxmon.catalog import Catalog, Pillar
from services.alerts import repository as repo
from services.alerts.alert import Severity
from services.alerts.channels import validate_url

_DURATION = re.compile(r"(\d+)\s*([wdhms])")
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


class AdminError(ValueError):
    """AdminError: a request that cannot be carried out; the message says why, for a person."""


class UnknownAlertError(AdminError):
    """UnknownAlertError: no alert has the given fingerprint."""


def parse_duration(text: str) -> timedelta:
    """parse_duration reads ``90m``, ``2h``, ``1d12h`` or ``2w`` (weeks, days, hours, minutes, seconds)."""
    compact = text.strip().lower().replace(" ", "")
    parts = _DURATION.findall(compact)
    if not compact or "".join(n + u for n, u in parts) != compact:
        raise AdminError(f"invalid duration {text!r}: use e.g. 30m, 2h, 1d12h or 2w")
    total = sum(int(n) * _UNIT_SECONDS[u] for n, u in parts)
    if total <= 0:
        raise AdminError("a duration must be longer than zero")
    return timedelta(seconds=total)


def check_unit(catalog: Catalog, unit: str) -> None:
    if unit not in catalog.units:
        raise AdminError(f"unknown unit {unit!r}: not in the catalog (see GET /v1/catalog/units on ingest)")


def check_indicator(catalog: Catalog, indicator: str) -> None:
    if indicator not in catalog.indicators:
        raise AdminError(f"unknown indicator {indicator!r}: not in the catalog")


async def add_subscription(
    conn: asyncpg.Connection, catalog: Catalog, *, unit: str, with_descendants: bool, pillars: Sequence[str],
    min_severity: str, channel: str,
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
    conn: asyncpg.Connection, catalog: Catalog, *, unit: str, indicator: str | None, duration: str,
    reason: str, created_by: str, now: datetime,
) -> tuple[int, datetime]:
    """add_silence mutes a unit (or one of its indicators) from ``now`` for ``duration``."""
    check_unit(catalog, unit)
    if indicator is not None:
        check_indicator(catalog, indicator)
    if not reason.strip():
        raise AdminError("a silence needs a reason (who is handling it and why)")
    ends_at = now + parse_duration(duration)
    return await repo.add_silence(conn, unit, indicator, now, ends_at, reason.strip(), created_by), ends_at


async def acknowledge(
    conn: asyncpg.Connection, *, fingerprint: str, duration: str, reason: str, created_by: str, now: datetime
) -> datetime:
    """acknowledge stops reminders of one alert until ``now + duration``; its resolution is still sent."""
    until = now + parse_duration(duration)
    if not await repo.acknowledge(conn, fingerprint, until, reason.strip(), created_by):
        raise UnknownAlertError(f"no alert with fingerprint {fingerprint!r} (see `dxmon alerts list`)")
    return until
