"""store_reports against a model: random reports in random batches, replays and reused ids included.

The model is the contract in a few lines of Python: per (unit, indicator, category, period) the report
last in stream order is in force; the total of an indicator with categories sums its categories'
values in force (ratios by parts, percent-only members left out and flagged); every (agency, event_id)
is stored once; the same id with other content is refused.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest

from dxmon.contracts import LOCAL_TZ, ReportReceived

pytestmark = pytest.mark.integration

T0 = datetime(2026, 1, 1, tzinfo=UTC)
UNITS = ["QN", "QN-P-HONGGAI"]
CATEGORIES = ["province", "district", "commune"]


def random_report(rng: random.Random, seq: int) -> ReportReceived:
    indicator = rng.choice(["DG-01", "DG-04"])
    month = rng.randint(1, 3)
    # Any instant of the month, sometimes written in UTC right at a local boundary.
    day = rng.randint(1, 28)
    observed = datetime(2026, month, day, rng.randint(0, 23), tzinfo=LOCAL_TZ)
    if rng.random() < 0.2:
        observed = datetime(2026, month, 1, tzinfo=LOCAL_TZ).astimezone(UTC)  # local midnight, the 1st
    den = float(rng.randint(1, 500))
    figures = (
        {"value": round(rng.uniform(0, 100), 1)}
        if rng.random() < 0.25
        else {"numerator": float(rng.randint(0, int(den))), "denominator": den}
    )
    return ReportReceived(
        event_id=uuid.uuid4(),
        unit=rng.choice(UNITS),
        indicator=indicator,
        category=rng.choice(CATEGORIES) if indicator == "DG-01" else None,
        observed_at=observed,
        received_at=T0 + timedelta(minutes=rng.randint(0, 10_000)),  # clocks say nothing about order
        agency=rng.choice(["A", "B"]),
        key_id="k" * 16,
        **figures,
    )


def model(stored: list[tuple[int, ReportReceived]]) -> dict[tuple, dict]:
    cells: dict[tuple, list[tuple[int, ReportReceived]]] = defaultdict(list)
    for seq, e in stored:
        start = e.observed_at.astimezone(LOCAL_TZ).date().replace(day=1)
        cells[(e.unit, e.indicator, e.category or "", start)].append((seq, e))
    out = {}
    for key, reports in cells.items():
        seq, e = max(reports, key=lambda r: r[0])
        if e.value is not None:
            value = e.value
        else:
            assert e.numerator is not None and e.denominator is not None  # a report without a value has both counts
            value = 100 * e.numerator / e.denominator
        out[key] = {
            "value": value,
            "numerator": e.numerator,
            "denominator": e.denominator,
            "percent_only": e.numerator is None,
            "includes_percent_only": False,
            "event_id": e.event_id,
            "reports": len(reports),
            "stream_seq": seq,
        }
    totals: dict[tuple, list[dict]] = defaultdict(list)
    for (unit, indicator, category, start), row in out.items():
        if category:
            totals[(unit, indicator, "", start)].append(row)
    for key, members in totals.items():
        counted = [m for m in members if not m["percent_only"]]
        num = sum(m["numerator"] for m in counted) if counted else None
        den = sum(m["denominator"] for m in counted) if counted else None
        # den is set only with counted members, and then so is num.
        value = 100 * num / den if num is not None and den else sum(m["value"] for m in members) / len(members)
        last = max(members, key=lambda m: m["stream_seq"])
        out[key] = {
            "value": value,
            "numerator": num,
            "denominator": den,
            "percent_only": not counted,
            "includes_percent_only": len(counted) < len(members),
            "event_id": last["event_id"],
            "reports": sum(m["reports"] for m in members),
            "stream_seq": last["stream_seq"],
        }
    return out


@pytest.mark.parametrize("seed", range(6))
async def test_store_matches_the_model(database_url: str, catalog, seed: int):
    from dxmon.store.reports_repository import store_reports

    rng = random.Random(seed)
    stream: list[ReportReceived] = []
    for seq in range(1, 121):
        if stream and rng.random() < 0.15:
            earlier = rng.choice(stream)
            if rng.random() < 0.5:
                stream.append(earlier.model_copy(update={"received_at": T0}))  # a replay
            else:  # the agency reuses the id for other content
                stream.append(earlier.model_copy(update={"note": f"khác {seq}"}))
        else:
            stream.append(random_report(rng, seq))
    seqs = list(range(1, len(stream) + 1))
    expected_stored: dict[tuple, tuple[int, ReportReceived]] = {}
    expected_reused = set()
    for seq, e in zip(seqs, stream, strict=True):
        identity = (e.agency, e.event_id)
        if identity not in expected_stored:
            expected_stored[identity] = (seq, e)
        elif expected_stored[identity][1].note != e.note:
            expected_reused.add(seq)
    reused = set()
    conn = await asyncpg.connect(database_url)
    try:
        # Batches of random size, each once, then the whole stream again (redelivery): nothing changes.
        for replay in (False, True):
            i = 0
            while i < len(stream):
                n = rng.randint(1, 30)
                async with conn.transaction():
                    result = await store_reports(conn, stream[i : i + n], T0, catalog, seqs[i : i + n])
                if not replay:
                    reused |= {seqs[i + k] for k in result.reused}
                else:
                    assert result.stored == 0
                i += n
        rows = await conn.fetch("SELECT * FROM period_values")
        latest = await conn.fetch("SELECT * FROM latest_values")
        count = await conn.fetchval("SELECT count(*) FROM reports")
    finally:
        await conn.close()
    assert reused == expected_reused
    assert count == len(expected_stored)
    want = model(list(expected_stored.values()))
    got = {(r["unit"], r["indicator"], r["category"], r["period_start"]): r for r in rows}
    assert set(got) == set(want)
    for key, w in want.items():
        g = got[key]
        assert g["value"] == pytest.approx(w["value"]), key
        for field in (
            "numerator",
            "denominator",
            "percent_only",
            "includes_percent_only",
            "event_id",
            "reports",
            "stream_seq",
        ):
            assert g[field] == w[field], (key, field)
    newest: dict[tuple[str, str, str], tuple[date, uuid.UUID]] = {}
    for (unit, indicator, category, start), w in want.items():
        if (unit, indicator, category) not in newest or start > newest[(unit, indicator, category)][0]:
            newest[(unit, indicator, category)] = (start, w["event_id"])
    assert {(r["unit"], r["indicator"], r["category"]): (r["period_start"], r["event_id"]) for r in latest} == newest


async def test_two_aggregators_writing_two_categories_of_one_period_keep_the_total(database_url: str, catalog):
    """Two transactions at once, each with one category of QN's DG-01 for March 2026: the total sums both."""
    from dxmon.store.reports_repository import store_reports

    def part(category: str, numerator: float, denominator: float) -> ReportReceived:
        return ReportReceived(
            event_id=uuid.uuid4(),
            unit="QN",
            indicator="DG-01",
            category=category,
            observed_at=datetime(2026, 3, 31, tzinfo=LOCAL_TZ),
            numerator=numerator,
            denominator=denominator,
            received_at=T0,
            agency="A",
            key_id="k" * 16,
        )

    first, second = await asyncpg.connect(database_url), await asyncpg.connect(database_url)
    try:
        tx1, tx2 = first.transaction(), second.transaction()
        await tx1.start()
        await tx2.start()
        await store_reports(first, [part("province", 628, 1000)], T0, catalog, [1])
        # The second writes its category, then waits for the first's lock on the period's total …
        # (another minute of ingest_minutely: its row lock would otherwise serialise the two early)
        pending = asyncio.create_task(
            store_reports(second, [part("district", 97, 200)], T0 + timedelta(minutes=2), catalog, [2])
        )
        await asyncio.sleep(0.5)
        assert not pending.done()
        await tx1.commit()
        await pending  # … and recomputes it once the first has committed.
        await tx2.commit()
        total = await first.fetchrow("SELECT numerator, denominator, reports FROM period_values WHERE category = ''")
        assert tuple(total) == (725, 1200, 2)
        assert await first.fetchval("SELECT numerator FROM latest_values WHERE category = ''") == 725
    finally:
        await first.close()
        await second.close()
