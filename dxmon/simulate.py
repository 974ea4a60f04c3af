"""Simulate: realistic monthly/quarterly/yearly reports for Quảng Ninh's units, posted over the real API.

Each unit gets a profile chosen deterministically from its code and the seed:

- ``on_track`` (about 55%): values move along the glide path toward the target, with noise;
- ``behind`` (about 30%): values progress at roughly half the needed pace;
- ``silent`` (about 15%): reports like ``behind`` but stops ~4 months before the end (overdue).

Units report only while they exist (old districts and communes until 2025-06-30, the 54 new
communes from 2025-07-01), and only indicators that apply to their level. A share of batches is
posted twice to show that resubmissions are recognised as duplicates and never double-counted.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import httpx

from dxmon.catalog import Catalog, Direction, Indicator, Measure, Period, Unit

PROFILES = ("on_track", "behind", "silent")


@dataclass(frozen=True)
class SimulatedReport:
    unit: str
    indicator: str
    period_end: date
    body: dict


@dataclass
class SimulationResult:
    """SimulationResult: what was posted and what ingest answered."""

    posted: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    requests: int = 0


def profile_of(unit: str, seed: int) -> str:
    h = int(hashlib.sha256(f"{seed}:{unit}".encode()).hexdigest()[:8], 16) % 100
    return "on_track" if h < 55 else "behind" if h < 85 else "silent"


def period_ends(start: date, end: date, period: Period) -> Iterator[date]:
    """period_ends yields the last day of every month/quarter/year ending within [start, end]."""
    months = {Period.MONTHLY: 1, Period.QUARTERLY: 3, Period.YEARLY: 12}[period]
    y, m = start.year, start.month
    while True:
        last = (date(y + (m // 12), m % 12 + 1, 1) - timedelta(days=1))
        if last > end:
            return
        if last >= start and m % months == 0:
            yield last
        m += 1
        if m > 12:
            y, m = y + 1, 1


def _value(indicator: Indicator, unit: Unit, d: date, profile: str, rng: random.Random) -> dict:
    target = indicator.target_for(unit.level)
    goal = target.milestones[-1].value if target and target.milestones else 90.0
    base = (target.baseline.value if target and target.baseline else None)
    # Progress 0 → 1 across 2024-01 .. 2025-12; behind units move at half the pace.
    t = min(1.0, max(0.0, (d - date(2024, 1, 1)).days / 730))
    pace = 1.0 if profile == "on_track" else 0.5
    if indicator.measure in (Measure.RATIO, Measure.PERCENT):
        start = base if base is not None else max(0.0, goal * 0.5)
        if indicator.direction is Direction.LOWER_IS_BETTER:
            pct = start - (start - goal) * t * pace
        else:
            pct = start + (goal - start) * t * pace * 1.05
        pct = min(100.0, max(0.0, pct + rng.uniform(-2, 2)))
        if indicator.measure is Measure.RATIO:
            denominator = rng.randint(80, 4000)
            return {"numerator": round(denominator * pct / 100), "denominator": denominator}
        return {"value": round(pct, 2)}
    if indicator.measure is Measure.BOOLEAN:
        return {"value": 1 if rng.random() < (0.4 + 0.6 * t * pace) else 0}
    if indicator.measure is Measure.RANK:
        start = base if base is not None else 10
        return {"value": max(1, round(start - (start - goal) * t * pace + rng.uniform(-1, 1)))}
    start = base if base is not None else goal * 0.3
    return {"value": max(0, round(start + (goal - start) * t * pace * rng.uniform(0.9, 1.1)))}


def generate(catalog: Catalog, start: date, end: date, seed: int = 1) -> list[SimulatedReport]:
    """generate builds every report the simulated agencies would send between ``start`` and ``end``."""
    rng = random.Random(seed)
    silent_from = end - timedelta(days=120)
    out: list[SimulatedReport] = []
    for unit in sorted(catalog.units.values(), key=lambda u: u.code):
        profile = profile_of(unit.code, seed)
        for indicator in sorted(catalog.indicators.values(), key=lambda i: i.code):
            if unit.level not in indicator.applies_to:
                continue
            # An indicator with categories is reported once per category; its total is their sum.
            categories = [{"category": c.code} for c in indicator.categories] or [{}]
            for d in period_ends(start, end, indicator.cadence.period):
                if not unit.active_on(d) or (profile == "silent" and d >= silent_from):
                    continue
                for category in categories:
                    body = {
                        "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                        "unit": unit.code,
                        "indicator": indicator.code,
                        **category,
                        "observed_at": d.isoformat(),
                        "source": "dxmon-simulate",
                        **_value(indicator, unit, d, profile, rng),
                    }
                    out.append(SimulatedReport(unit.code, indicator.code, d, body))
    return out


def post_all(
    reports: list[SimulatedReport], url: str, token: str, *, batch: int = 500, resubmit_every: int = 10,
    progress=None,
) -> SimulationResult:
    """post_all sends the reports in batches; every ``resubmit_every``-th batch is sent twice."""
    result = SimulationResult()
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        for i in range(0, len(reports), batch):
            chunk = [r.body for r in reports[i:i + batch]]
            sends = 2 if resubmit_every and (i // batch) % resubmit_every == resubmit_every - 1 else 1
            for _ in range(sends):
                answer = client.post("/v1/reports", json=chunk)
                result.requests += 1
                result.posted += len(chunk)
                if answer.status_code == 202:
                    data = answer.json()
                    result.accepted += data["accepted"]
                    result.duplicates += data["duplicates"]
                else:
                    result.rejected += len(chunk)
                    raise RuntimeError(f"ingest answered {answer.status_code}: {answer.text[:500]}")
            if progress is not None:
                progress(len(chunk))
    return result
