"""The report's pure parts: periods, the milestone a period judges, the rows taken from the evaluation, counts."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from dxmon.catalog import Catalog, Level
from dxmon.contracts import LOCAL_TZ
from dxmon.progress import Status
from dxmon.report.model import PeriodError, Rates, Report, ReportPeriod, UnitShare, milestone_for, rank
from dxmon.report.repository import issuer_of, unit_rows
from dxmon.report.target_sets import UnknownTargetSet, outcome_sets, set_milestones, source_texts


@pytest.mark.parametrize(
    ("text", "start", "end", "label"),
    [
        pytest.param("2025", date(2025, 1, 1), date(2025, 12, 31), "năm 2025", id="year"),
        pytest.param("2025-Q3", date(2025, 7, 1), date(2025, 9, 30), "quý III/2025", id="quarter"),
        pytest.param("2025-q4", date(2025, 10, 1), date(2025, 12, 31), "quý IV/2025", id="quarter-lower-case"),
        pytest.param("2025-H1", date(2025, 1, 1), date(2025, 6, 30), "6 tháng đầu năm 2025", id="first-half"),
        pytest.param("2025-H2", date(2025, 7, 1), date(2025, 12, 31), "6 tháng cuối năm 2025", id="second-half"),
        pytest.param("2024-02", date(2024, 2, 1), date(2024, 2, 29), "tháng 2/2024", id="leap-february"),
        pytest.param("2025-12", date(2025, 12, 1), date(2025, 12, 31), "tháng 12/2025", id="december"),
    ],
)
def test_periods(text, start, end, label) -> None:
    period = ReportPeriod.parse(text)
    assert (period.start, period.end, period.label) == (start, end, label)


@pytest.mark.parametrize(
    "text",
    ["2025-13", "2025-Q5", "2025-H3", "2025-1", "25", "abc", "", "1999", "2025-00", "2025-Q1; DROP TABLE reports"],
)
def test_bad_periods_are_refused_with_the_accepted_forms(text) -> None:
    with pytest.raises(PeriodError, match="YYYY-Q1…Q4"):
        ReportPeriod.parse(text)


@pytest.mark.parametrize(
    ("period", "expected"),
    [
        pytest.param("2023", date(2023, 12, 31), id="the-milestone-of-the-year"),
        pytest.param("2024-Q1", date(2025, 12, 31), id="the-next-milestone"),
        pytest.param("2026", date(2025, 12, 31), id="all-passed-the-last-stands"),
    ],
)
def test_milestone_for(period, expected) -> None:
    assert milestone_for([date(2025, 12, 31), date(2023, 12, 31)], ReportPeriod.parse(period)) == expected
    assert milestone_for([], ReportPeriod.parse(period)) is None


def test_a_sets_milestones_are_the_catalogs(catalog: Catalog) -> None:
    de01 = catalog.indicators["DE-01"]
    de01_target = de01.target_for(Level.PROVINCE)
    assert de01_target is not None
    assert [m.deadline for m in de01_target.milestones] == [
        date(2025, 12, 31),
        date(2030, 12, 31),
    ]  # the path
    assert [m.deadline for m in set_milestones(catalog, "NQ09", de01, Level.PROVINCE)] == [date(2025, 12, 31)]
    assert [m.deadline for m in set_milestones(catalog, "NQ09-2030", de01, Level.PROVINCE)] == [date(2030, 12, 31)]
    # A set that ends in 2026, with commune targets; a level or indicator it gives no target has none.
    assert catalog.target_set("CT2026-BCDTW").applies_to == date(2026, 12, 31)
    dg14 = catalog.indicators["DG-14"]
    assert [m.deadline for m in set_milestones(catalog, "CT2026-BCDTW", dg14, Level.COMMUNE)] == [date(2026, 12, 31)]
    assert set_milestones(catalog, "CT2026-BCDTW", de01, Level.PROVINCE) == ()
    assert set_milestones(catalog, "NQ09-2030", dg14, Level.DEPARTMENT) == ()
    with pytest.raises(UnknownTargetSet, match="NQ09-2030"):  # the message lists the catalog's sets
        set_milestones(catalog, "NQ57", de01, Level.PROVINCE)


def test_a_set_ending_in_2026_reports_its_own_milestones(catalog: Catalog) -> None:
    commune = next(u for u in catalog.units_active_on(date(2026, 6, 30)) if u.level is Level.COMMUNE)
    y2026 = date(2026, 12, 31)
    outcomes = {(commune.code, "DG-14", y2026): {**_outcome("met", 100.0, final=True), "target": 100.0}}
    rows = unit_rows(catalog, commune, "CT2026-BCDTW", ReportPeriod.parse("2026"), outcomes, {})
    expected = {
        i.code
        for i in catalog.indicators.values()
        if any(t.target_set == "CT2026-BCDTW" for t in i.targets_for(Level.COMMUNE))
    }
    assert {r.indicator for r in rows} == expected == {"DG-14", "DG-20"}
    assert {r.deadline for r in rows} == {y2026}
    by_code = {r.indicator: r for r in rows}
    assert (by_code["DG-14"].result, by_code["DG-14"].final) == (Status.MET, True)
    assert by_code["DG-20"].result is None  # nothing evaluated for it
    assert all(r.sources and r.sources[0].startswith("BCDTW26") for r in rows)
    assert {"BCDTW26_VNN", "BCDTW26_TN"} <= set(source_texts())  # target_sets.yaml's sources, for the notes


def test_current_results_are_the_sets_own(catalog: Catalog) -> None:
    qn = catalog.units["QN"]
    y2030 = date(2030, 12, 31)
    current = {("QN", "DE-01", "NQ09-2030"): _current("behind", 9.0, y2030)}  # towards NQ09-2030's 30 % by 2030
    period = ReportPeriod.parse("2026")
    [continued] = [r for r in unit_rows(catalog, qn, "NQ09-2030", period, {}, current) if r.indicator == "DE-01"]
    assert (continued.result, continued.value, continued.deadline) == (Status.BEHIND, 9.0, y2030)
    # DH16 also wants DE-01 by 2030; without a judgement against DH16 no result is borrowed from another set.
    [other] = [r for r in unit_rows(catalog, qn, "DH16", period, {}, current) if r.indicator == "DE-01"]
    assert (other.result, other.value, other.deadline) == (None, None, y2030)
    assert outcome_sets(catalog, "NQ09-2030") == ("NQ09-2030", "NQ09")
    assert outcome_sets(catalog, "DH16") == ("DH16",) and outcome_sets(catalog, "NQ09") == ("NQ09",)


def _outcome(status: str, value: float, *, final: bool, reopened: bool = False) -> dict:
    return {"status": status, "value": value, "final": final, "reopened": reopened, "target": 80.0, "comparator": ">="}


def _current(status: str, value: float, milestone: date, **kw) -> dict:
    return {
        "status": status,
        "value": value,
        "milestone": milestone,
        "deciding_value": kw.get("deciding"),
        "cutoff": kw.get("cutoff"),
        "provisional": kw.get("provisional", False),
        "final": kw.get("final", False),
    }


def test_rows_take_the_outcome_then_the_current_result(catalog: Catalog) -> None:
    qn = catalog.units["QN"]
    y2025 = date(2025, 12, 31)
    outcomes = {
        ("QN", "DG-01", y2025): _outcome("exceeded", 91.0, final=True),
        ("QN", "DG-04", y2025): _outcome("missed", 70.0, final=True, reopened=True),
    }
    current = {
        ("QN", "DG-01", "QD749-QG"): _current("on_track", 95.0, date(2030, 12, 31)),  # not this report's
        ("QN", "DE-01", "NQ09"): _current("behind", 3.0, y2025),
        ("QN", "DG-03", "NQ09"): _current(
            "met", 70.0, date(2023, 12, 31), deciding=65.0, cutoff=date(2024, 1, 31), final=True
        ),
    }
    rows = {r.indicator: r for r in unit_rows(catalog, qn, "NQ09", ReportPeriod.parse("2025"), outcomes, current)}
    assert len(rows) == sum(
        1
        for i in catalog.indicators.values()
        if (t := i.target_for(Level.PROVINCE)) and any(m.deadline <= y2025 for m in t.milestones)
    )
    dg02, dg04, de01, dg03 = rows["DG-01"], rows["DG-04"], rows["DE-01"], rows["DG-03"]
    assert (dg02.result, dg02.value, dg02.final, dg02.result_label) == (
        Status.EXCEEDED,
        91.0,
        True,
        "Vượt (Chính thức)",
    )
    # An operator reopened it: provisional again.
    assert (dg04.result, dg04.provisional, dg04.final, dg04.result_label) == (
        Status.MISSED,
        True,
        False,
        "Không đạt (Tạm tính)",
    )
    assert (de01.result, de01.value, de01.result_label) == (Status.BEHIND, 3.0, "Chậm tiến độ")
    # A decided milestone shows the deciding value, not the latest one.
    assert (dg03.value, dg03.deadline, dg03.final) == (65.0, date(2023, 12, 31), True)
    assert rows["DS-01"].result is None and rows["DS-01"].result_label == "Chưa có số liệu"
    assert all(r.sources for r in rows.values())


def test_a_commune_created_after_a_milestone_is_not_judged_on_it(catalog: Catalog) -> None:
    new = next(u for u in catalog.units.values() if u.level is Level.COMMUNE and u.valid_from == date(2025, 7, 1))
    rows = unit_rows(catalog, new, "NQ09", ReportPeriod.parse("2025"), {}, {})
    assert rows and all(r.deadline >= new.valid_from for r in rows)
    assert "DG-03" not in {r.indicator for r in rows}  # due 31/12/2023
    assert issuer_of(new, date(2025, 12, 31)) == f"UBND {new.name_vi}".upper()
    assert issuer_of(catalog.units["QN"], date(2025, 12, 31)) == "SỞ KHOA HỌC VÀ CÔNG NGHỆ"


def report_with(catalog: Catalog, outcomes: dict, current: dict) -> Report:
    rows = unit_rows(catalog, catalog.units["QN"], "NQ09", ReportPeriod.parse("2025"), outcomes, current)
    return Report(
        target_set="NQ09",
        set_title="Nghị quyết 09-NQ/TU",
        period=ReportPeriod.parse("2025"),
        unit="QN",
        unit_name="Tỉnh Quảng Ninh",
        issuer="SỞ KHOA HỌC VÀ CÔNG NGHỆ",
        evaluated_at=datetime(2026, 2, 1, 9, tzinfo=LOCAL_TZ),
        rows=tuple(rows),
        ranking=rank([UnitShare("A", "Xã A", 1, 4), UnitShare("B", "Xã B", 3, 4), UnitShare("C", "Xã C", 2, 4)]),
        rates=Rates(expected=200, actual=150, on_time=120),
        sources=source_texts(),
    )


def test_summary_counts_add_up(catalog: Catalog) -> None:
    y2025 = date(2025, 12, 31)
    report = report_with(
        catalog,
        {
            ("QN", "DG-01", y2025): _outcome("exceeded", 91.0, final=True),
            ("QN", "DG-04", y2025): _outcome("met", 80.0, final=False),
        },
        {("QN", "DE-01", "NQ09"): _current("behind", 3.0, y2025)},
    )
    assert report.met == 2
    assert sum(c.total for c in report.by_pillar) == len(report.rows)
    assert sum(c.met for c in report.by_pillar) == report.met
    assert sum(n for _, n in report.by_result) == len(report.rows)
    assert (report.rates.reporting_rate, report.rates.on_time_rate) == (75.0, 60.0)
    assert Rates(0, 0, 0).reporting_rate is None
    assert [s.unit for s in report.ranking] == ["B", "C", "A"]
    # Every source a row names has one note, numbered in order of first use, with the catalog's text.
    notes = report.footnotes()
    assert {k for r in report.rows for k in r.sources} == {k for k, _ in notes}
    assert all(text != key for key, text in notes)
    first = report.rows[0]
    assert report.footnote_numbers(first)[0] == 1
