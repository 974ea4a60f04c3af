"""The year end over HTTP (issue 9, "Must show"): reports go in through the real ingest app, JetStream
and the real aggregator; the alerts service's evaluator judges them; ``dxmon`` is run as a process.

Receipt times come from the ingest app's clock, which the test sets before each report: the system's
receipt time, not the agency's ``observed_at``, decides what counts before a cut-off. The scenario:

* DG-04 for QN (≥ 80 % by 31/12/2025, monthly, 10 days' grace: cut-off 10/01/2026). November at 78 %.
  As of 03/01/2026 the outcome is provisional ("missed" so far) and no alert is raised.
* December arrives within the grace, first at 79 %, then corrected to 82 % in the last second of
  the cut-off day with a hostile timestamp (another instant of December); a report stamped 31/12 in
  UTC but 01/01 in Vietnam belongs to January. After the cut-off the outcome is official:
  ``exceeded`` (82 beats an inclusive 80; issue 9 calls it "met").
* A correction received after the cut-off, again with another December timestamp, is a revision:
  shown (``revised_value``, ``revised_at``), never deciding.
* In 2026: DG-03's only target (≥ 60 % by 2023) is missed and counted in the NQ 09 scorecard, and
  raises no live alert; DE-06's 2030 glide path (NQ09-2030, no baseline of its own) starts from the
  unit's final 2025 value, not from the 2025 target, and a revision after the cut-off does not move it.
* An operator reopens and locks DG-04 with a reason; ``dxmon outcomes list`` says who and why.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from dxmon import devstack
from dxmon.catalog import Catalog
from dxmon.contracts import LOCAL_TZ
from tests.pipeline import Pipeline, Served, report

pytestmark = pytest.mark.e2e

UNIT = "QN"
DEADLINE_2025 = date(2025, 12, 31)
DEADLINE_2030 = date(2030, 12, 31)


def local(day: date, hour: int = 9, minute: int = 0, second: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=LOCAL_TZ)


@dataclass
class Clock:
    """Clock: the ingest app's receipt time, set by the test."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass
class YearEnd:
    pipeline: Pipeline
    clock: Clock
    pool: asyncpg.Pool

    async def send(self, received: datetime, indicator: str, observed_at: str, **fields: Any) -> None:
        """send posts one report over HTTP, received at ``received``, and waits until it is stored."""
        self.clock.now = received
        body = report(UNIT, indicator, observed_at, **fields)
        async with httpx.AsyncClient(
            base_url=self.pipeline.ingest_url, headers=self.pipeline.headers, timeout=30
        ) as client:
            answer = await client.post("/v1/reports", json=body)
        assert answer.status_code == 202, answer.text
        assert answer.json()["accepted"] == 1
        await self.pipeline.wait_drained()

    async def evaluate(self, now: datetime) -> None:
        """evaluate runs the alerts service's pass (evaluation and alert sync in one transaction)."""
        from services.alerts.evaluate import Evaluator
        from services.alerts.metrics import Metrics

        await Evaluator(self.pool, self.pipeline.catalog, Metrics()).run_pass(now)

    async def alerts(self, indicator: str) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT kind, severity, state FROM alerts WHERE unit = $1 AND indicator = $2", UNIT, indicator
        )
        return [dict(r) for r in rows]

    async def dxmon(self, *args: str) -> str:
        """dxmon runs the CLI as a process on the test database and returns its standard output."""
        env = {**os.environ, "DX_DATABASE_URL": self.pipeline.database_url, "COLUMNS": "250"}
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "dxmon",
            *args,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        assert proc.returncode == 0, f"dxmon {' '.join(args)}: {err.decode()}{out.decode()}"
        return out.decode()

    async def status(self, as_of: date | None = None) -> dict[str, Any]:
        args = ["status", UNIT, "--format", "json"] + (["--as-of", as_of.isoformat()] if as_of else [])
        return json.loads(await self.dxmon(*args))


def entry(document: dict[str, Any], indicator: str, target_set: str) -> dict[str, Any]:
    [found] = [e for e in document["indicators"] if (e["indicator"], e["target_set"]) == (indicator, target_set)]
    return found


@pytest.fixture
async def year_end(nats_url: str, database_url: str, catalog: Catalog) -> AsyncIterator[YearEnd]:
    """year_end: ingest (with the test's clock) and the aggregator on real NATS and PostgreSQL."""
    from services.ingest.app import create_app

    clock = Clock(local(date(2024, 1, 1)))
    pipeline = Pipeline(nats_url, database_url, catalog)
    await pipeline.setup()
    await pipeline.start_aggregator()
    pipeline.ingest = Served(create_app(pipeline.ingest_settings, catalog, clock=clock), devstack.free_port())
    await pipeline.ingest.start()
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        yield YearEnd(pipeline, clock, pool)
    finally:
        await pool.close()
        await pipeline.stop()


def test_the_scenario_matches_the_catalog(catalog: Catalog) -> None:
    """The figures below assume the catalog's targets; if these change, the scenario must be re-read."""
    dg04 = catalog.indicators["DG-04"]
    dg04_target = dg04.target_for(catalog.units[UNIT].level)
    assert dg04_target is not None
    [milestone] = dg04_target.milestones
    assert (milestone.deadline, milestone.value, milestone.comparator) == (DEADLINE_2025, 80, ">=")
    assert (dg04.cadence.period.value, dg04.cadence.grace_days) == ("monthly", 10)
    dg03_target = catalog.indicators["DG-03"].target_for(catalog.units[UNIT].level)
    assert dg03_target is not None
    [dg03] = dg03_target.milestones
    assert (dg03.deadline, dg03.value) == (date(2023, 12, 31), 60)
    de06 = {t.target_set: t for t in catalog.indicators["DE-06"].targets_for(catalog.units[UNIT].level)}
    assert [(m.deadline, m.value) for m in de06["NQ09"].milestones] == [(DEADLINE_2025, 50)]
    assert [(m.deadline, m.value) for m in de06["NQ09-2030"].milestones] == [(DEADLINE_2030, 500)]
    assert de06["NQ09-2030"].baseline is None  # so the glide path must start from the unit's 2025 value
    assert catalog.target_sets["NQ09-2030"].continues == "NQ09"


async def test_year_end_over_http(year_end: YearEnd) -> None:
    ye = year_end
    cutoff = date(2026, 1, 10)

    # 2023: DG-03 (≥ 60 % by 31/12/2023) missed; it must stay a past outcome in 2026.
    await ye.send(local(date(2024, 1, 5)), "DG-03", "2023-12-31", numerator=55, denominator=100)

    # November at 78 %, received on time.
    await ye.send(local(date(2025, 12, 5)), "DG-04", "2025-11-30", numerator=78, denominator=100)

    # 3 January: the deadline has passed, the cut-off has not — provisional, and no alert.
    early = entry(await ye.status(date(2026, 1, 3)), "DG-04", "NQ09")
    assert (early["result"], early["provisional"], early["final"]) == ("missed", True, False)
    assert (early["deciding_value"], early["deciding_period"], early["cutoff"]) == (78, "2025-11", cutoff.isoformat())
    await ye.evaluate(local(date(2026, 1, 3), 17))
    assert await ye.alerts("DG-04") == []
    row = await ye.pool.fetchrow(
        "SELECT status, provisional, final FROM progress_current WHERE unit = $1 AND indicator = 'DG-04'", UNIT
    )
    assert (row["status"], row["provisional"], row["final"]) == ("missed", True, False)

    # December within the grace: 79 % first, then 82 % in the last second of the cut-off day, sent with
    # another instant of December (its first) — the latest received of the period is in force.
    await ye.send(local(date(2026, 1, 5)), "DG-04", "2025-12-31", numerator=79, denominator=100)
    # 31/12 20:00 UTC is 01/01/2026 03:00 in Vietnam: January's report, not a correction of December.
    await ye.send(local(date(2026, 1, 9)), "DG-04", "2025-12-31T20:00:00Z", numerator=60, denominator=100)
    await ye.send(local(cutoff, 23, 59, 59), "DG-04", "2025-12-01T00:00:00+07:00", numerator=82, denominator=100)
    on_cutoff = entry(await ye.status(cutoff), "DG-04", "NQ09")
    assert (on_cutoff["result"], on_cutoff["provisional"], on_cutoff["final"]) == ("exceeded", True, False)
    assert (on_cutoff["deciding_value"], on_cutoff["deciding_period"]) == (82, "2025-12")
    assert (on_cutoff["current_value"], on_cutoff["current_period"]) == (60, "2026-01")
    periods = await ye.pool.fetch(
        "SELECT period_start, value FROM period_values WHERE unit = $1 AND indicator = "
        "'DG-04' AND category = '' ORDER BY period_start",
        UNIT,
    )
    assert [(r["period_start"], r["value"]) for r in periods] == [
        (date(2025, 11, 1), 78),
        (date(2025, 12, 1), 82),
        (date(2026, 1, 1), 60),
    ]

    # After the cut-off: the alerts service's pass locks the official outcome.
    await ye.evaluate(local(cutoff + timedelta(days=1), 7))
    official = entry(await ye.status(cutoff + timedelta(days=1)), "DG-04", "NQ09")
    assert (official["result"], official["provisional"], official["final"]) == ("exceeded", False, True)
    assert (official["deciding_value"], official["deciding_period"], official["revised_value"]) == (82, "2025-12", None)
    assert await ye.alerts("DG-04") == []

    # A correction after the cut-off, with yet another December instant (in UTC): a revision.
    revised_at = local(date(2026, 2, 1))
    await ye.send(revised_at, "DG-04", "2025-12-15T05:00:00Z", numerator=70, denominator=100)
    await ye.evaluate(local(date(2026, 2, 1), 10))
    revised = entry(await ye.status(date(2026, 2, 1)), "DG-04", "NQ09")
    assert (revised["result"], revised["final"], revised["deciding_value"]) == ("exceeded", True, 82)
    assert (revised["revised_value"], revised["current_period"]) == (70, "2026-01")
    assert datetime.fromisoformat(revised["revised_at"]) == revised_at
    stored = await ye.pool.fetchrow(
        "SELECT status, value, final, revised_value, revised_at FROM milestone_outcomes "
        "WHERE unit = $1 AND indicator = 'DG-04' AND milestone = $2",
        UNIT,
        DEADLINE_2025,
    )
    assert dict(stored) == {
        "status": "exceeded",
        "value": 82,
        "final": True,
        "revised_value": 70,
        "revised_at": revised_at,
    }
    assert await ye.alerts("DG-04") == []

    # 2026: NQ 09 has ended. Its scorecard counts DG-03's 2023 miss; no live alert for it.
    mid_2026 = date(2026, 6, 30)
    await ye.evaluate(local(mid_2026, 12))
    document = await ye.status(mid_2026)
    dg03 = entry(document, "DG-03", "NQ09")
    assert (dg03["result"], dg03["final"], dg03["deadline"]) == ("missed", True, "2023-12-31")
    [card] = [c for c in document["scorecards"] if c["target_set"] == "NQ09"]
    nq09 = [e for e in document["indicators"] if e["target_set"] == "NQ09"]
    for result in ("exceeded", "met", "missed", "no_data"):
        assert card[result] == sum(e["result"] == result for e in nq09), result
    assert card["missed"] >= 1 and card["exceeded"] >= 1 and card["total"] == len(nq09)
    assert await ye.alerts("DG-03") == []


@pytest.mark.parametrize(
    "revised",
    [
        pytest.param(False, id="final-value"),
        pytest.param(True, id="revised-after-cutoff"),
    ],
)
async def test_2030_glide_path_starts_from_the_final_2025_value(year_end: YearEnd, revised: bool) -> None:
    """DE-06 (NQ09-2030: 500 by 2030, no baseline of its own) glides from the unit's final 2025 value.

    The rule: linear from (31/12/2025, the final 2025 value) to (31/12/2030, 500) — here 80 (the unit
    exceeded its 2025 target of 50), so the path must not start at 50. A correction of 2025 received
    after the cut-off (``revised``) is a revision, never deciding: the path still starts from 80.
    """
    ye = year_end
    # Yearly, 90 days' grace: final after 31/03/2026.
    await ye.send(local(date(2026, 1, 20)), "DE-06", "2025-12-31", value=80)
    if revised:
        await ye.send(local(date(2026, 5, 4)), "DE-06", "2025-06-30T10:00:00+07:00", value=120)
    mid_2026 = date(2026, 6, 30)
    await ye.evaluate(local(mid_2026, 12))
    document = await ye.status(mid_2026)
    final_2025 = entry(document, "DE-06", "NQ09")
    assert (final_2025["result"], final_2025["final"], final_2025["deciding_value"]) == ("exceeded", True, 80)
    assert final_2025["revised_value"] == (120 if revised else None)

    def glide(day: date) -> float:
        return 80 + (500 - 80) * (day - DEADLINE_2025).days / (DEADLINE_2030 - DEADLINE_2025).days

    # Both evaluations say so: ``dxmon status`` (dxmon.progress) and the stored one (progress_current).
    de06 = entry(document, "DE-06", "NQ09-2030")
    stored = await ye.pool.fetchrow(
        "SELECT day, expected, baseline, baseline_date FROM progress_current WHERE unit = $1 AND indicator = 'DE-06'",
        UNIT,
    )
    wrong = []
    if de06["expected"] != pytest.approx(glide(mid_2026)):
        wrong.append(f"dxmon status: expected {de06['expected']} on {mid_2026}, not {glide(mid_2026)}")
    if (stored["baseline"], stored["baseline_date"]) != (80, DEADLINE_2025) or stored["expected"] != pytest.approx(
        glide(stored["day"])
    ):
        wrong.append(
            f"progress_current: {dict(stored)}, not baseline 80 on {DEADLINE_2025} and expected {glide(stored['day'])}"
        )
    assert not wrong, "the 2030 glide path does not start from the unit's final 2025 value: " + "; ".join(wrong)


async def test_reopen_and_lock_are_audited(year_end: YearEnd) -> None:
    """An operator's reopen and lock (with a reason) change a final outcome; the audit shows who and why."""
    ye = year_end
    await ye.send(local(date(2026, 1, 5)), "DG-04", "2025-12-31", numerator=82, denominator=100)
    await ye.evaluate(local(date(2026, 1, 11), 7))
    await ye.send(local(date(2026, 2, 1)), "DG-04", "2025-12-20T10:00:00+07:00", numerator=70, denominator=100)
    await ye.evaluate(local(date(2026, 2, 1), 10))
    deadline = DEADLINE_2025.isoformat()

    said = await ye.dxmon(
        "outcomes",
        "reopen",
        UNIT,
        "DG-04",
        "--target-set",
        "NQ09",
        "--deadline",
        deadline,
        "--reason",
        "Sở TT&TT đề nghị rà soát số liệu tháng 12",
        "--by",
        "Nguyễn Văn A",
    )
    assert "Mở lại" in said
    reopened = entry(await ye.status(), "DG-04", "NQ09")
    assert (reopened["result"], reopened["provisional"], reopened["final"]) == ("missed", True, False)
    await ye.evaluate(datetime.now(LOCAL_TZ))  # an automatic pass never re-locks what an operator reopened
    assert entry(await ye.status(), "DG-04", "NQ09")["final"] is False

    await ye.dxmon(
        "outcomes",
        "lock",
        UNIT,
        "DG-04",
        "--target-set",
        "NQ09",
        "--deadline",
        deadline,
        "--reason",
        "Chốt theo số liệu đã rà soát",
        "--by",
        "Trần Thị B",
    )
    locked = entry(await ye.status(), "DG-04", "NQ09")
    assert (locked["result"], locked["final"], locked["deciding_value"], locked["revised_value"]) == (
        "missed",
        True,
        70,
        None,
    )
    assert await ye.alerts("DG-04") == []

    changes = [
        c
        for c in json.loads(await ye.dxmon("outcomes", "list", "--unit", UNIT, "--format", "json"))
        if c["indicator"] == "DG-04"
    ]
    assert [c["action"] for c in changes] == ["auto-lock", "reopen", "lock"]
    _, reopen, lock = changes
    assert (reopen["by"], reopen["reason"]) == ("Nguyễn Văn A", "Sở TT&TT đề nghị rà soát số liệu tháng 12")
    assert (reopen["before"]["status"], reopen["before"]["value"], reopen["after"]["final"]) == ("exceeded", 82, False)
    assert (lock["by"], lock["reason"]) == ("Trần Thị B", "Chốt theo số liệu đã rà soát")
    assert (lock["after"]["status"], lock["after"]["value"], lock["after"]["final"]) == ("missed", 70, True)
    assert (lock["target_set"], lock["deadline"]) == ("NQ09", deadline)
