"""Simulate: realistic monthly/quarterly/yearly reports for Quảng Ninh's units, posted over the real API.

Each unit gets a profile chosen deterministically from its code and the seed — the default scenario
is a believable province, not an alarm (README, "Demo data"):

- ``on_track`` (about 75%): values follow the target's glide path a little ahead of it, with noise;
- ``behind`` (about 20%): like ``on_track``, but about a third of its indicators (chosen per unit)
  lag well below the glide path (behind, or at risk where the trend says so) — always including one
  with a milestone still ahead at the end, since only those can read as behind rather than missed;
  their reports carry an explanation (Nguyên nhân, giải pháp), one plausible reason per unit and indicator;
- ``silent`` (about 5%): like ``on_track`` but stops reporting ~4 months before the end.

Values are read off the catalog's glide path (``dxmon.progress.calendar``), so every target set's
milestones, baselines and tolerances give the statuses the profile means.

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
from datetime import date, datetime, timedelta

import httpx

from dxmon.catalog import Catalog, Direction, Indicator, Measure, Period, Target, Unit
from dxmon.progress import Anchor, TrendRule, calendar, glide_path, restart_day

# How far a lagging indicator sits below the glide path: beyond the default tolerance (5 points for
# ratios and percents, 5 % of the expected value for counts), so it reads as behind, not as noise —
# half of them a little (Cần chú ý), half far (more than twice the tolerance: Nghiêm trọng).
LAG_POINTS = (8.0, 14.0)
LAG_RELATIVE = (0.08, 0.15)
# What a commune or department writes when an indicator lags (Nguyên nhân, giải pháp).
EXPLANATIONS = (
    "Hạ tầng mạng tại một số thôn chưa bảo đảm; đã đề nghị doanh nghiệp viễn thông hoàn thành trong quý tới.",
    "Cán bộ phụ trách mới được bố trí, chưa thành thạo phần mềm; đơn vị đã cử tham gia lớp tập huấn của tỉnh.",
    "Người dân còn quen nộp hồ sơ trực tiếp; đang tăng cường tuyên truyền và hướng dẫn tại bộ phận một cửa.",
    "Thiết bị tại bộ phận một cửa đã xuống cấp; đơn vị đã lập dự toán mua sắm bổ sung trong năm.",
    "Dữ liệu sau sắp xếp đơn vị hành chính chưa được chuẩn hóa; đang rà soát, cập nhật theo hướng dẫn của Sở.",
)


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


def _bucket(key: str) -> int:
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 100


def profile_of(unit: str, seed: int) -> str:
    h = _bucket(f"{seed}:{unit}")
    return "on_track" if h < 75 else "behind" if h < 95 else "silent"


def lagging(unit: Unit, indicators: list[Indicator], profile: str, seed: int, end: date) -> set[str]:
    """lagging: the indicators a ``behind`` unit lags on — about a third (the same ones every run), and at
    least one whose target still has a milestone after ``end`` (communes have few since NQ 09 ended)."""
    if profile != "behind":
        return set()
    bucket = {i.code: _bucket(f"{seed}:{unit.code}:{i.code}") for i in indicators}
    chosen = {code for code, b in bucket.items() if b < 33}
    ahead = [
        i.code
        for i in indicators
        if (t := i.target_for(unit.level)) is not None and t.milestones and t.milestones[-1].deadline > end
    ]
    if ahead and chosen.isdisjoint(ahead):
        chosen.add(min(ahead, key=bucket.__getitem__))
    return chosen


def explanation_for(unit: str, indicator: str, seed: int) -> str:
    """explanation_for: the reason a unit gives for a lagging indicator (the same one every period)."""
    return EXPLANATIONS[_bucket(f"{seed}:{unit}:{indicator}:why") % len(EXPLANATIONS)]


def period_ends(start: date, end: date, period: Period) -> Iterator[date]:
    """period_ends yields the last day of every month/quarter/year ending within [start, end]."""
    months = {Period.MONTHLY: 1, Period.QUARTERLY: 3, Period.YEARLY: 12}[period]
    y, m = start.year, start.month
    while True:
        last = date(y + (m // 12), m % 12 + 1, 1) - timedelta(days=1)
        if last > end:
            return
        if last >= start and m % months == 0:
            yield last
        m += 1
        if m > 12:
            y, m = y + 1, 1


def _value(
    catalog: Catalog, indicator: Indicator, unit: Unit, d: date, first: date, lagging: bool, rng: random.Random
) -> dict:
    """_value: the unit's figure for the period ending ``d``, on (or, lagging, well below) the glide path.

    A target without a baseline is followed from the unit's own first period (``first``), or from where it
    stood when the target's set began, the way the evaluation anchors it. A steady margin (per unit and
    indicator) keeps the trend as straight as the path.
    """
    better = 1.0 if indicator.direction is Direction.HIGHER_IS_BETTER else -1.0
    if indicator.measure is Measure.BOOLEAN:
        return {"value": 0 if lagging else 1}
    pair = random.Random(f"{unit.code}:{indicator.code}")
    margin = pair.uniform(1.0, 3.0)
    far = pair.random() < 0.5
    lag_points, lag_relative = LAG_POINTS[far], LAG_RELATIVE[far]

    def off_path(on_path: float) -> float:
        """Where the unit stands against a path value: a steady margin above it, or lagging below."""
        if indicator.measure in (Measure.RATIO, Measure.PERCENT):
            return on_path + better * (-lag_points if lagging else margin)
        if indicator.measure is Measure.RANK:
            return on_path * (1 + lag_relative) if lagging else on_path
        return on_path * (1 - better * lag_relative if lagging else 1 + better * margin / 100)

    def path_of(target: Target, day: date) -> float | None:
        """The value the evaluation expects on ``day`` on the way to ``target``."""
        cal = calendar(target, indicator.measure, indicator.direction, indicator.cadence, day, TrendRule())
        path = cal.expected
        on_path = target is indicator.target_for(unit.level)
        if path is None and cal.upcoming is not None:
            own = Anchor(first, _start_value(indicator, cal.upcoming.value))
            # Off the programme's path the evaluation starts from what the unit had reached when the
            # target's set began (dxmon.progress.evaluate, own_from).
            own_set = catalog.target_sets.get(target.target_set)
            begins = own_set.applies_from if own_set is not None else first
            if not on_path and begins > first and (reached := steady(begins - timedelta(days=1))) is not None:
                own = Anchor(begins - timedelta(days=1), off_path(reached))
            path = glide_path(own, cal.upcoming, day, indicator.direction)
        # Past NQ 09 the evaluation restarts the path from what the unit reached (dxmon.progress.restart_day):
        # follow that path, so a lagging unit keeps lagging on it (and a steady one keeps its margin).
        restart = restart_day(indicator, unit.level) if on_path else None
        if (
            path is not None
            and restart is not None
            and cal.upcoming is not None
            and cal.anchor is not None
            and cal.anchor.day == restart
            and day > restart
        ):
            reached = off_path(cal.anchor.value)  # the path stands at NQ 09's target on its deadline
            path = glide_path(Anchor(restart, reached), cal.upcoming, day, indicator.direction)
        return path

    def steady(day: date) -> float | None:
        """The path a unit follows on ``day``: the evaluation shows the target it stands worst against
        (dxmon.progress.evaluate_judged), so the most demanding of the targets ahead (in 2026 a commune's
        DG-14 answers to CT2026-BCDTW's 100 % by the end of the year beside NQ09-2030's 100 % by 2030)."""
        judged = catalog.judged_targets(indicator, unit.level, day)
        targets = [t for t in judged if t.milestones[-1].deadline >= day] or judged[:1]
        paths = [p for t in targets if (p := path_of(t, day)) is not None]
        return (max if better > 0 else min)(paths) if paths else None

    path = steady(d)
    if indicator.measure in (Measure.RATIO, Measure.PERCENT):
        pct = path if path is not None else 60.0
        pct += better * (-lag_points if lagging else margin + rng.uniform(-0.15, 0.15))
        pct = min(100.0, max(0.0, pct))
        if indicator.measure is Measure.RATIO:
            denominator = rng.randint(1000, 4000)  # large enough that rounding the count is no noise
            return {"numerator": round(denominator * pct / 100), "denominator": denominator}
        return {"value": round(pct, 2)}
    if indicator.measure is Measure.RANK:
        rank = path if path is not None else 10.0
        return {"value": max(1, round(rank * (1 + lag_relative)) if lagging else int(rank))}
    count = path if path is not None else 100.0
    factor = 1 - better * lag_relative if lagging else 1 + better * margin / 100
    return {"value": max(0, round(count * factor))}


def _start_value(indicator: Indicator, goal: float) -> float:
    """_start_value: where a unit without a baseline starts (half-way to a higher goal, twice a lower one)."""
    return goal * 0.5 if indicator.direction is Direction.HIGHER_IS_BETTER else goal * 2


def generate(catalog: Catalog, start: date, end: date, seed: int = 1) -> list[SimulatedReport]:
    """generate builds every report the simulated agencies would send between ``start`` and ``end``."""
    rng = random.Random(seed)
    silent_from = end - timedelta(days=120)
    out: list[SimulatedReport] = []
    for unit in sorted(catalog.units.values(), key=lambda u: u.code):
        profile = profile_of(unit.code, seed)
        reported = [i for i in sorted(catalog.indicators.values(), key=lambda i: i.code) if unit.level in i.applies_to]
        lag = lagging(unit, reported, profile, seed, end)
        for indicator in reported:
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
                        **_value(catalog, indicator, unit, d, max(start, unit.valid_from), indicator.code in lag, rng),
                    }
                    if indicator.code in lag:
                        body["explanation"] = explanation_for(unit.code, indicator.code, seed)
                        # Other content needs another event id: a state seeded before explanations existed
                        # takes these as corrections (the same figure, explained), not as ids reused.
                        digest = hashlib.sha256(f"{body['event_id']}:explained".encode()).digest()
                        body["event_id"] = str(uuid.UUID(bytes=digest[:16], version=4))
                    out.append(SimulatedReport(unit.code, indicator.code, d, body))
    return out


def post_all(
    reports: list[SimulatedReport],
    url: str,
    token: str,
    *,
    batch: int = 500,
    resubmit_every: int = 10,
    progress=None,
) -> SimulationResult:
    """post_all sends the reports in batches; every ``resubmit_every``-th batch is sent twice."""
    result = SimulationResult()
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        for i in range(0, len(reports), batch):
            chunk = [r.body for r in reports[i : i + batch]]
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


async def seed_simulated(conn, catalog: Catalog, start: date, end: date, *, late_every: int = 7) -> int:
    """seed_simulated stores the simulator's reports for [start, end] (every ``late_every``-th 40 days late)
    straight into the database at ``conn``, as the aggregator would (the report golden tests and
    bench/bench_report.py).

    Returns how many reports were stored. The caller evaluates.
    """
    from dxmon.contracts import LOCAL_TZ, ReportReceived, end_of_local_day
    from dxmon.store.reports_repository import store_reports  # asyncpg: only for those who store

    events = [
        ReportReceived(
            **{**s.body, "event_id": uuid.UUID(s.body["event_id"]), "observed_at": end_of_local_day(s.period_end)},
            received_at=end_of_local_day(s.period_end) + timedelta(days=40 if n % late_every == 0 else 2),
            agency="demo",
            key_id="k",
        )
        for n, s in enumerate(generate(catalog, start, end, seed=1))
    ]
    for first in range(0, len(events), 5000):
        async with conn.transaction():
            await store_reports(conn, events[first : first + 5000], datetime.now(LOCAL_TZ))
    return len(events)
