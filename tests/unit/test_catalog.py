"""Tests for dxmon.catalog: the shipped catalog, its queries, and problems reported for broken catalogs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import pytest

from dxmon.catalog import (
    Catalog,
    CatalogError,
    Direction,
    Level,
    Measure,
    MeasuredOn,
    Period,
    Problem,
    check,
    default_catalog_dir,
)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def active_count(catalog: Catalog, day: str, level: Level) -> int:
    return sum(1 for u in catalog.units_active_on(date.fromisoformat(day)) if u.level is level)


# ───────────────────────────── the shipped catalog ─────────────────────────────


def test_shipped_catalog_has_no_problems() -> None:
    assert [str(p) for p in check()] == []


def test_shipped_catalog_sizes(catalog: Catalog) -> None:
    assert len(catalog.indicators) == 47
    assert len(catalog.units) == 270
    assert Counter(i.pillar.value for i in catalog.indicators.values()) == {
        "digital_government": 21,
        "digital_economy": 13,
        "digital_society": 13,
    }


@pytest.mark.parametrize(
    ("day", "level", "expected"),
    [
        pytest.param("2022-01-01", Level.COMMUNE, 177, id="communes-2022"),
        pytest.param("2024-10-31", Level.COMMUNE, 177, id="communes-before-nq1199"),
        pytest.param("2024-11-01", Level.COMMUNE, 171, id="communes-after-nq1199"),
        pytest.param("2025-06-30", Level.COMMUNE, 171, id="communes-last-day-of-districts"),
        pytest.param("2025-07-01", Level.COMMUNE, 54, id="communes-two-tier"),
        pytest.param("2025-06-30", Level.DISTRICT, 13, id="districts-last-day"),
        pytest.param("2025-07-01", Level.DISTRICT, 0, id="districts-abolished"),
        pytest.param("2025-02-28", Level.DEPARTMENT, 20, id="departments-before-merger"),
        pytest.param("2025-03-01", Level.DEPARTMENT, 14, id="departments-after-merger"),
        pytest.param("2025-07-01", Level.PROVINCE, 1, id="province"),
        pytest.param("2021-12-31", Level.COMMUNE, 0, id="before-window"),
    ],
)
def test_unit_counts_by_date(catalog: Catalog, day: str, level: Level, expected: int) -> None:
    assert active_count(catalog, day, level) == expected


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        pytest.param("2024-10-31", {"phuong": 72, "thi_tran": 7, "xa": 98}, id="177-split"),
        pytest.param("2024-11-01", {"phuong": 73, "thi_tran": 7, "xa": 91}, id="171-split"),
        pytest.param("2025-07-01", {"phuong": 30, "xa": 22, "dac_khu": 2}, id="54-split"),
    ],
)
def test_commune_types_by_date(catalog: Catalog, day: str, expected: dict[str, int]) -> None:
    d = date.fromisoformat(day)
    types = Counter(u.type_on(d) for u in catalog.units_active_on(d) if u.level is Level.COMMUNE)
    assert types == expected


def test_communes_per_district_match_nq1199(catalog: Catalog) -> None:
    d = date(2025, 6, 30)
    per_district = Counter(u.parent for u in catalog.units_active_on(d) if u.level is Level.COMMUNE)
    assert per_district == {
        "QN-HALONG": 32,
        "QN-CAMPHA": 15,
        "QN-MONGCAI": 16,
        "QN-UONGBI": 10,
        "QN-DONGTRIEU": 19,
        "QN-QUANGYEN": 19,
        "QN-VANDON": 12,
        "QN-TIENYEN": 11,
        "QN-HAIHA": 11,
        "QN-DAMHA": 9,
        "QN-BINHLIEU": 7,
        "QN-BACHE": 7,
        "QN-COTO": 3,
    }


def test_absorbed_commune_successors(catalog: Catalog) -> None:
    # Phường Yết Kiêu merged into Trần Hưng Đạo (NQ 1199), which became part of Phường Hồng Gai (NQ 1679).
    yet_kieu = catalog.units["QN-HALONG-P-YETKIEU"]
    assert yet_kieu.gso == "06682"
    assert yet_kieu.valid_to == date(2024, 10, 31)
    assert yet_kieu.successors == ("QN-HALONG-P-TRANHUNGDAO",)
    assert catalog.final_successors("QN-HALONG-P-YETKIEU") == ["QN-P-HONGGAI"]
    assert "QN-HALONG-P-YETKIEU" in catalog.predecessors("QN-HALONG-P-TRANHUNGDAO")


def test_newly_formed_commune_and_partial_split(catalog: Catalog) -> None:
    hai_hoa = catalog.units["QN-CAMPHA-X-HAIHOA"]
    assert hai_hoa.valid_from == date(2024, 11, 1)
    assert sorted(catalog.predecessors("QN-CAMPHA-X-HAIHOA")) == ["QN-CAMPHA-X-CAMHAI", "QN-CAMPHA-X-CONGHOA"]
    # Xã Hải Hòa was split between two 2025 communes.
    assert set(hai_hoa.successors) == {"QN-X-HAIHOA", "QN-X-HAILANG"}
    assert hai_hoa.partial_successors == {"QN-X-HAIHOA", "QN-X-HAILANG"}
    assert sorted(catalog.final_successors("QN-CAMPHA-X-CAMHAI")) == ["QN-X-HAIHOA", "QN-X-HAILANG"]
    assert sorted(catalog.predecessors("QN-X-QUANGLA")) == [
        "QN-HALONG",
        "QN-HALONG-X-BANGCA",
        "QN-HALONG-X-DANCHU",
        "QN-HALONG-X-QUANGLA",
        "QN-HALONG-X-TANDAN",
    ]  # the district too: it took over part of Hạ Long's territory


def test_every_old_commune_leads_to_a_2025_unit(catalog: Catalog) -> None:
    after = date(2025, 7, 1)
    for unit in catalog.units_active_on(date(2025, 6, 30)):
        if unit.level is Level.COMMUNE:
            finals = catalog.final_successors(unit.code)
            assert finals, unit.code
            assert all(catalog.units[f].active_on(after) for f in finals), unit.code


def test_unit_without_successors_has_no_final_successors(catalog: Catalog) -> None:
    assert catalog.final_successors("QN-P-HONGGAI") == []


def test_every_ceased_district_has_successors(catalog: Catalog) -> None:
    districts = [u for u in catalog.units.values() if u.level is Level.DISTRICT]
    assert len(districts) == 13
    for district in districts:
        assert district.valid_to == date(2025, 6, 30)
        assert district.successors, district.code
        assert all(catalog.units[s].active_on(date(2025, 7, 1)) for s in district.successors), district.code
        # The district's successors are exactly the units that took over its communes on its last day.
        communes = [c for c in catalog.children(district.code) if c.active_on(district.valid_to)]
        assert set(district.successors) == {s for c in communes for s in c.successors}, district.code


def test_district_successors_full_or_partial(catalog: Catalog) -> None:
    co_to = catalog.units["QN-COTO"]  # three communes, all into Đặc khu Cô Tô
    assert co_to.successors == ("QN-DK-COTO",) and co_to.partial_successors == frozenset()
    ha_long = catalog.units["QN-HALONG"]
    assert "QN-P-HONGGAI" in ha_long.successors and "QN-P-HONGGAI" in ha_long.partial_successors
    assert "QN-HALONG" in catalog.predecessors("QN-P-HONGGAI")
    # Every 2025 unit's main predecessor district lists it.
    for unit in catalog.units_active_on(date(2025, 7, 1)):
        if unit.level is Level.COMMUNE:
            assert any(
                unit.code in catalog.units[p].successors
                for p in catalog.predecessors(unit.code)
                if catalog.units[p].level is Level.DISTRICT
            ), unit.code


def test_department_merger(catalog: Catalog) -> None:
    tttt = catalog.units["QN-SO-TTTT"]
    assert tttt.valid_to == date(2025, 2, 28)
    assert set(tttt.successors) == tttt.partial_successors == {"QN-SO-KHCN", "QN-SO-VHTTDL"}
    assert catalog.units["QN-SO-KHCN"].valid_to is None  # a code reused in both eras continues
    assert sorted(catalog.predecessors("QN-SO-NNMT")) == ["QN-SO-NNPTNT", "QN-SO-TNMT"]


def test_descendants_and_children(catalog: Catalog) -> None:
    halong = catalog.descendants("QN-HALONG")
    assert {"QN-HALONG-P-HONGGAI", "QN-HALONG-X-QUANGLA", "QN-HALONG-P-YETKIEU"} <= halong
    assert len(halong) == 33  # 32 communes from 2024-11-01 plus Yết Kiêu
    assert "QN-P-HONGGAI" not in halong  # 2025 units sit directly under the province
    assert catalog.descendants("QN") == set(catalog.units) - {"QN"}
    children = {u.code for u in catalog.children("QN")}
    assert {"QN-HALONG", "QN-SO-KHCN", "QN-P-HONGGAI"} <= children
    assert catalog.children("QN-HALONG-P-HONGGAI") == []


def test_unknown_code_raises_key_error(catalog: Catalog) -> None:
    with pytest.raises(KeyError):
        catalog.children("QN-NOWHERE")
    with pytest.raises(KeyError):
        catalog.final_successors("QN-NOWHERE")


def test_active_on_is_inclusive(catalog: Catalog) -> None:
    district = catalog.units["QN-HALONG"]
    assert district.active_on(date(2022, 1, 1))
    assert district.active_on(date(2025, 6, 30))
    assert not district.active_on(date(2025, 7, 1))
    assert catalog.units["QN"].active_on(date(2099, 1, 1))


def test_renamed_units_keep_their_old_names(catalog: Catalog) -> None:
    dong_trieu = catalog.units["QN-DONGTRIEU"]
    assert dong_trieu.name_on(date(2024, 10, 31)) == "Thị xã Đông Triều"
    assert dong_trieu.name_on(date(2024, 11, 1)) == "Thành phố Đông Triều"
    binh_duong = catalog.units["QN-DONGTRIEU-P-BINHDUONG"]
    assert (binh_duong.type_on(date(2023, 1, 1)), binh_duong.type_on(date(2025, 1, 1))) == ("xa", "phuong")


def test_unit_codes_are_subject_safe(catalog: Catalog) -> None:
    for code in [*catalog.units, *catalog.indicators]:
        assert code.isascii() and "." not in code and " " not in code


def test_indicator_fields(catalog: Catalog) -> None:
    dg01 = catalog.indicators["DG-01"]
    assert dg01.measure is Measure.RATIO and dg01.numerator and dg01.denominator
    assert catalog.indicators["DG-06"].target is None
    assert (dg01.cadence.period, dg01.cadence.timely_days, dg01.cadence.grace_days) == (Period.MONTHLY, 5, 10)
    de01 = catalog.indicators["DE-01"]
    assert (de01.cadence.period, de01.cadence.timely_days, de01.cadence.grace_days) == (Period.YEARLY, 60, 90)
    assert de01.applies_to == {Level.PROVINCE}
    dti = catalog.indicators["DG-15"]
    assert dti.direction is Direction.LOWER_IS_BETTER
    assert dti.target is not None and dti.target.milestones[0].comparator == "<="


def test_target_with_baseline_and_2030_milestone(catalog: Catalog) -> None:
    target = catalog.indicators["DE-01"].target
    assert target is not None and target.baseline is not None and target.target_set == "NQ09"
    assert (target.baseline.value, target.baseline.date) == (7.1, date(2024, 12, 31))
    # The evaluation's path: NQ 09 by 2025, then its 2030 orientation (set NQ09-2030, which continues NQ09).
    assert [(m.deadline.year, m.value) for m in target.milestones] == [(2025, 20.0), (2030, 30.0)]
    assert target.applies_to == {Level.PROVINCE}
    later = {t.target_set: t for t in catalog.indicators["DE-01"].targets_for(Level.PROVINCE)}
    assert [(m.deadline.year, m.value) for m in later["NQ09"].milestones] == [(2025, 20.0)]
    assert [(m.deadline.year, m.value) for m in later["NQ09-2030"].milestones] == [(2030, 30.0)]
    assert later["NQ09-2030"].baseline is None  # the evaluation starts from the unit's final 2025 value
    assert later["DH16"].baseline is not None and later["DH16"].baseline.value == 7.1


def test_target_sets(catalog: Catalog) -> None:
    nq09 = catalog.target_set("NQ09")
    assert (nq09.applies_from, nq09.applies_to, nq09.binding) == (date(2022, 2, 5), date(2025, 12, 31), True)
    assert nq09.document.startswith("Nghị quyết 09-NQ/TU")
    assert not catalog.target_set("QD411-QG").binding  # national aggregates: reference only
    assert catalog.target_set("QD749").binding  # assigns DG-14 targets to provinces and communes
    with pytest.raises(KeyError):
        catalog.target_set("NQ99")
    assert [s.code for s in catalog.active_target_sets(date(2025, 6, 30))] == ["NQ09", "NQ57-QG"]
    in_2026 = {s.code for s in catalog.active_target_sets(date(2026, 6, 30))}
    assert "NQ09" not in in_2026 and {"NQ09-2030", "DH16", "CT2026-BCDTW", "QD411-QG"} <= in_2026
    assert "CT2026-BCDTW" not in {s.code for s in catalog.active_target_sets(date(2027, 1, 1))}
    starts = [s.applies_from for s in catalog.active_target_sets(date(2026, 6, 30))]
    assert starts == sorted(starts)
    # Every target names a known set, and every milestone lies in its set's window.
    for target in catalog.targets():
        ts = catalog.target_set(target.target_set)
        assert all(ts.applies_from <= m.deadline <= ts.applies_to for m in target.milestones), target
    # Reference sets only apply to the province.
    for target in catalog.targets():
        if not catalog.target_set(target.target_set).binding:
            assert target.applies_to == {Level.PROVINCE}, target


def test_targets_for_spans_sets_in_order(catalog: Catalog) -> None:
    dg14 = catalog.indicators["DG-14"]
    commune = dg14.targets_for(Level.COMMUNE)
    assert [t.target_set for t in commune] == ["NQ09", "NQ09-2030", "CT2026-BCDTW", "QD749"]
    assert [t.milestones[-1].value for t in commune] == [60.0, 100.0, 100.0, 70.0]
    path = dg14.target_for(Level.COMMUNE)  # NQ 09's target continued by NQ09-2030's
    assert path is not None and path.milestones == commune[0].milestones + commune[1].milestones
    assert dg14.targets_for(Level.DISTRICT) == [dg14.target_for(Level.DISTRICT)]  # the district level ended in 2025
    province = dg14.target_for(Level.PROVINCE)
    assert province is not None
    assert [m.deadline.year for m in province.milestones] == [2025]  # QD749 does not continue NQ09


def test_level_four_target_is_on_full_process_services(catalog: Catalog) -> None:
    # QĐ 749's "80% of online public services at level 4": level 4 is toàn trình (DG-01), not DG-02.
    dg01 = catalog.indicators["DG-01"].target_for(Level.PROVINCE)
    assert dg01 is not None and dg01.milestones[0].value == 80.0 and dg01.milestones[0].source == ("N749A",)
    assert catalog.indicators["DG-02"].target is None


def test_procedure_catalogue_indicators_apply_to_the_province(catalog: Catalog) -> None:
    on_catalogue = {code for code, i in catalog.indicators.items() if i.measured_on is MeasuredOn.PROVINCE_CATALOGUE}
    assert on_catalogue == {"DG-01", "DG-02", "DG-17"}
    for code in on_catalogue:
        indicator = catalog.indicators[code]
        assert indicator.applies_to == {Level.PROVINCE}
        assert all(t.applies_to == {Level.PROVINCE} for t in indicator.all_targets)


def test_yearly_milestones_are_sorted(catalog: Catalog) -> None:
    for target in catalog.targets():
        deadlines = [m.deadline for m in target.milestones]
        assert deadlines == sorted(deadlines) and deadlines
    dg09 = catalog.indicators["DG-09"].target
    assert dg09 is not None
    assert [m.deadline.year for m in dg09.milestones] == [2023, 2025]
    assert [m.inferred for m in dg09.milestones] == [False, True]


def test_level_specific_targets(catalog: Catalog) -> None:
    dg14 = catalog.indicators["DG-14"]
    assert len(dg14.targets) == 4
    assert dg14.target is dg14.targets[0]
    by_level = {level: dg14.target_for(level) for level in Level}
    commune, district = by_level[Level.COMMUNE], by_level[Level.DISTRICT]
    assert commune is not None and commune.milestones[0].value == 60.0
    assert district is not None and district.milestones[0].value == 80.0
    covered = [level for t in dg14.targets for level in t.applies_to]
    assert sorted(covered) == sorted(set(covered))  # disjoint
    assert sum(1 for t in catalog.targets() if t.indicator == "DG-14" and t.target_set == "NQ09") == 4


def test_boolean_milestone_is_one(catalog: Catalog) -> None:
    target = catalog.indicators["DG-18"].target
    assert target is not None and target.milestones[0].value == 1.0


def test_default_dir_honours_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DX_CATALOG_DIR", raising=False)
    assert default_catalog_dir() == Path(__file__).resolve().parents[2] / "catalog"
    monkeypatch.setenv("DX_CATALOG_DIR", str(tmp_path))
    assert default_catalog_dir() == tmp_path


def test_problem_str() -> None:
    assert str(Problem("catalog/units.yaml", 12, "bad")) == "catalog/units.yaml:12: bad"


# ───────────────────────────── broken mini-catalogs ─────────────────────────────

MINI_UNITS = """\
schema: dx-catalog/1
sources:
  S1: "source one"
units:
  - {code: QN, name_vi: "Tỉnh Quảng Ninh", level: province, type: tinh, parent: null, valid_from: 2022-01-01, valid_to: null, source: S1}
  - {code: QN-A, name_vi: "Huyện A", level: district, type: huyen, parent: QN, valid_from: 2022-01-01, valid_to: 2025-06-30, successors: [{code: QN-X-NEW, partial: true}], source: S1}
  - {code: QN-A-X1, name_vi: "Xã Một", level: commune, type: xa, parent: QN-A, valid_from: 2022-01-01, valid_to: 2024-10-31, successors: [QN-A-X2], source: S1}
  - {code: QN-A-X2, name_vi: "Xã Hai", level: commune, type: xa, parent: QN-A, valid_from: 2022-01-01, valid_to: 2025-06-30, successors: [{code: QN-X-NEW, partial: true}], source: S1}
  - {code: QN-X-NEW, name_vi: "Xã Mới", level: commune, type: xa, parent: QN, valid_from: 2025-07-01, valid_to: null, gso: "00001", source: S1}
  - {code: QN-SO-A, name_vi: "Sở A", level: department, type: so, parent: QN, valid_from: 2022-01-01, valid_to: null, source: S1}
"""  # noqa: E501 - catalog YAML, one unit a line as in catalog/units.yaml; the tests edit these lines whole

MINI_INDICATORS = """\
schema: dx-catalog/1
programme:
  code: NQ09
  name_vi: "Nghị quyết 09-NQ/TU"
  issued: 2022-02-05
  counts: {targets: 20, source: S1}
sources:
  S1: "source one"
indicators:
  - code: DG-01
    pillar: digital_government
    name_vi: "Tỷ lệ hồ sơ"
    name_en: "Share of dossiers"
    measure: ratio
    direction: higher_is_better
    applies_to: [province, district, commune]
    numerator: "số hồ sơ trực tuyến"
    denominator: "tổng số hồ sơ"
    nq09_link: none
    cadence: {period: monthly, timely_days: 5, grace_days: 10, inferred: true}
    target:
      baseline: {value: 40, date: 2023-12-31, source: S1}
      milestones:
        - {deadline: 2024-12-31, value: 60, comparator: ">=", source: S1}
        - {deadline: 2025-12-31, value: 80, comparator: ">=", source: S1}
    reference_observations:
      - {unit: QN-A, period_end: 2024-03-31, value: 50, source: S1}
  - code: DE-01
    pillar: digital_economy
    name_vi: "Tỷ trọng kinh tế số"
    name_en: "Digital economy share of GRDP"
    measure: percent
    direction: higher_is_better
    applies_to: [province]
    nq09_link: confirmed
    cadence: {period: yearly, timely_days: 60, grace_days: 90, inferred: true}
    target:
      milestones:
        - {deadline: 2025-12-31, value: 20, source: S1}
"""

MINI_SETS = """\
schema: dx-catalog/1
sources:
  S1: "source one"
target_sets:
  - code: NQ09
    title_vi: "Nghị quyết 09-NQ/TU"
    document: "Nghị quyết 09-NQ/TU ngày 05/02/2022"
    applies_from: 2022-02-05
    applies_to: 2025-12-31
    binding: true
    source: S1
  - code: KH-2030
    title_vi: "Kế hoạch 2026–2030"
    document: "Kế hoạch 1/KH-UBND ngày 02/01/2026"
    applies_from: 2026-01-01
    applies_to: 2030-12-31
    binding: true
    cutoff: 2031-03-31
    continues: NQ09
    source: S1
    targets:
      - indicator: DE-01
        applies_to: [province]
        milestones:
          - {deadline: 2030-12-31, value: 30, comparator: ">=", source: S1}
  - code: QG-2030
    title_vi: "Mục tiêu quốc gia"
    document: "Quyết định 2/QĐ-TTg"
    applies_from: 2026-01-01
    applies_to: 2030-12-31
    binding: false
    source: S1
    targets:
      - {indicator: DG-01, applies_to: [province], milestones: [{deadline: 2030-12-31, value: 100, source: S1}]}
"""

U, IND, T = "units.yaml", "indicators.yaml", "target_sets.yaml"
SO = '  - {code: QN-SO-A, name_vi: "Sở A", level: department, type: so, parent: QN, valid_from: 2022-01-01, valid_to: null, source: S1}\n'  # noqa: E501 - a units.yaml line, matched whole
M1 = '        - {deadline: 2024-12-31, value: 60, comparator: ">=", source: S1}\n'
M2 = '        - {deadline: 2025-12-31, value: 80, comparator: ">=", source: S1}\n'
DE_M = "        - {deadline: 2025-12-31, value: 20, source: S1}\n"
T_M = '          - {deadline: 2030-12-31, value: 30, comparator: ">=", source: S1}\n'
QG_T = (
    "      - {indicator: DG-01, applies_to: [province], milestones: [{deadline: 2030-12-31, value: 100, source: S1}]}\n"
)
DISTRICT = "huyen, parent: QN, valid_from: 2022-01-01, valid_to: 2025-06-30, successors: [{code: QN-X-NEW, partial: true}], source: S1}\n"  # noqa: E501 - the tail of a units.yaml line, matched whole
CATALOGUE = ("    nq09_link: none\n", "    nq09_link: none\n    measured_on: province_catalogue\n")


def so(**changes: str) -> str:
    """The department line of MINI_UNITS with fields replaced, marked as the line a problem must point at."""
    line = SO.rstrip("\n")
    for key, value in changes.items():
        line = line.replace(f"{key}: {_field(SO, key)}", f"{key}: {value}")
    return line + "  #!\n"


def _field(line: str, key: str) -> str:
    return line.split(f"{key}: ", 1)[1].split(",", 1)[0].split("}", 1)[0]


BROKEN = [
    # units.yaml
    pytest.param(
        U,
        [(SO, '  - {code: QN-SO-A, name_vi: "Sở A" level: department}  #!\n')],
        "YAML syntax error",
        id="unit-yaml-syntax",
    ),
    pytest.param(
        U, [(SO, so(valid_from="2022-01-01, colour: red"))], "unknown field 'colour'", id="unit-unknown-field"
    ),
    pytest.param(
        U, [(SO, so(source="S1").replace(", source: S1", ""))], "missing field 'source'", id="unit-missing-field"
    ),
    pytest.param(U, [(SO, so(level="county"))], "level", id="unit-bad-level"),
    pytest.param(U, [(SO, so(code="QN-SỞ-A"))], "non-ASCII", id="unit-code-non-ascii"),
    pytest.param(U, [(SO, so(code="qn so a"))], "must match", id="unit-code-invalid"),
    pytest.param(U, [(SO, so(code="QN-A"))], "duplicate unit code 'QN-A'", id="unit-duplicate-code"),
    pytest.param(U, [(SO, so(code="QN-SO-A, code: QN-SO-B"))], "duplicate key 'code'", id="unit-duplicate-key"),
    pytest.param(U, [(SO, so(parent="QN-B"))], "parent 'QN-B' is not a known unit", id="unit-parent-unknown"),
    pytest.param(U, [(SO, so(parent="QN-A"))], "cannot have a district", id="unit-parent-wrong-level"),
    pytest.param(
        U,
        [
            (
                "parent: QN-A, valid_from: 2022-01-01, valid_to: 2025-06-30, successors: [{code: QN-X-NEW, partial: "
                "true}], source: S1}\n",
                "parent: QN-A, valid_from: 2022-01-01, valid_to: 2025-12-31, source: S1}  #!\n",
            )
        ],
        "is not valid over the whole",
        id="unit-parent-span",
    ),
    pytest.param(U, [(SO, so(valid_to="2021-12-31"))], "is before valid_from", id="unit-valid-to-before-from"),
    pytest.param(U, [(SO, so(valid_from="2022-13-01"))], "expected a date", id="unit-bad-date"),
    pytest.param(U, [(SO, so(type="huyen"))], "is not a department type", id="unit-type-level"),
    pytest.param(U, [(SO, so(source="S9"))], "unknown source key 'S9'", id="unit-unknown-source"),
    pytest.param(U, [(SO, so(source="[S1, S9]"))], "unknown source key 'S9'", id="unit-unknown-source-in-list"),
    pytest.param(
        U,
        [(SO, so(valid_to="2024-12-31, successors: [QN-NOPE]"))],
        "successor 'QN-NOPE' is not a known unit",
        id="unit-successor-unknown",
    ),
    pytest.param(
        U,
        [(SO, so(valid_to="2024-10-31, successors: [QN-X-NEW]"))],
        "is not valid on 2024-11-01",
        id="unit-successor-starts-late",
    ),
    pytest.param(
        U,
        [(SO, so(valid_to="null, successors: [QN-X-NEW]"))],
        "has successors but no valid_to",
        id="unit-successor-on-open-unit",
    ),
    pytest.param(U, [(SO, so(valid_to='null, gso: "00001"'))], "also used by QN-X-NEW", id="unit-gso-overlap"),
    pytest.param(
        U,
        [(DISTRICT, "huyen, parent: QN, valid_from: 2022-01-01, valid_to: 2025-06-30, source: S1}  #!\n")],
        "a district that ceased on 2025-06-30 needs successors",
        id="unit-district-without-successors",
    ),
    pytest.param(
        U,
        [(DISTRICT, DISTRICT.replace("{code: QN-X-NEW, partial: true}", "QN-X-NEW").rstrip() + "  #!\n")],
        "successor QN-X-NEW took over only part of the district",
        id="unit-district-successor-not-partial",
    ),
    pytest.param(
        U,
        [
            (
                DISTRICT,
                DISTRICT.replace("{code: QN-X-NEW, partial: true}", "{code: QN-X-NEW, partial: true}, QN-SO-A").rstrip()
                + "  #!\n",
            )
        ],
        "successors QN-SO-A took over none of its communes",
        id="unit-district-extra-successor",
    ),
    # indicators.yaml
    pytest.param(IND, [("    measure: percent\n", "    measure: share  #!\n")], "measure", id="ind-bad-measure"),
    pytest.param(
        IND,
        [('    numerator: "số hồ sơ trực tuyến"\n', ""), ("    measure: ratio\n", "    measure: ratio  #!\n")],
        "needs a numerator",
        id="ind-ratio-without-numerator",
    ),
    pytest.param(
        IND,
        [("    nq09_link: none\n", ""), ("  - code: DG-01\n", "  - code: DG-01  #!\n")],
        "missing field 'nq09_link'",
        id="ind-missing-field",
    ),
    pytest.param(IND, [("  - code: DE-01\n", "  - code: DE 01  #!\n")], "must match", id="ind-code-invalid"),
    pytest.param(
        IND, [("  - code: DE-01\n", "  - code: DG-01  #!\n")], "duplicate indicator code", id="ind-duplicate-code"
    ),
    pytest.param(
        IND, [(DE_M, DE_M.replace("20,", "120,").rstrip() + "  #!\n")], "outside 0..100", id="ind-percent-range"
    ),
    pytest.param(
        IND,
        [(M2, M2.replace("2025-12-31", "2023-12-31").rstrip() + "  #!\n")],
        "must be sorted",
        id="ind-milestones-unsorted",
    ),
    pytest.param(
        IND,
        [(M2, M2.replace("2025-12-31", '"end of 2025"').rstrip() + "  #!\n")],
        "expected a date",
        id="ind-deadline-not-date",
    ),
    pytest.param(
        IND,
        [(M1, M1.replace('">="', '"<="').rstrip() + "  #!\n")],
        "contradicts higher_is_better",
        id="ind-comparator-direction",
    ),
    pytest.param(IND, [(M1, M1.replace('">="', '"~"').rstrip() + "  #!\n")], "comparator", id="ind-comparator-unknown"),
    pytest.param(
        IND,
        [(M1, M1.replace("source: S1", "source: S9").rstrip() + "  #!\n")],
        "unknown source key 'S9'",
        id="ind-unknown-source",
    ),
    pytest.param(
        IND,
        [(M1, M1.replace(", source: S1", "").rstrip() + "  #!\n")],
        "needs a source or inferred",
        id="ind-milestone-unsourced",
    ),
    pytest.param(
        IND,
        [("    target:\n      baseline:", "    target:\n      applies_to: [department]  #!\n      baseline:")],
        "the indicator does not",
        id="ind-target-levels-not-subset",
    ),
    pytest.param(
        IND,
        [
            ("    measure: percent\n", "    measure: rank\n"),
            (
                "    direction: higher_is_better\n    applies_to: [province]\n",
                "    direction: higher_is_better  #!\n    applies_to: [province]\n",
            ),
        ],
        "a rank is lower_is_better",
        id="ind-rank-direction",
    ),
    pytest.param(
        IND,
        [
            ("    cadence: {period: yearly, timely_days: 60,", "    cadence: {period: weekly, timely_days: 60,"),
            ("grace_days: 90, inferred: true}\n", "grace_days: 90, inferred: true}  #!\n"),
        ],
        "period",
        id="ind-cadence-period",
    ),
    pytest.param(
        IND,
        [("grace_days: 90, inferred: true}\n", "grace_days: 30, inferred: true}  #!\n")],
        "grace_days must be >= timely_days",
        id="ind-cadence-grace",
    ),
    pytest.param(
        IND,
        [
            ("      - {unit: QN-A,", "      - {unit: QN-NOPE,"),
            (
                "period_end: 2024-03-31, value: 50, source: S1}\n",
                "period_end: 2024-03-31, value: 50, source: S1}  #!\n",
            ),
        ],
        "observation unit 'QN-NOPE'",
        id="ind-observation-unit",
    ),
    pytest.param(
        IND,
        [
            (
                "      baseline: {value: 40, date: 2023-12-31, source: S1}\n",
                "      baseline: {value: 40, date: 2026-12-31, source: S1}  #!\n",
            )
        ],
        "not before the last milestone",
        id="ind-baseline-after-milestones",
    ),
    pytest.param(
        IND,
        [
            (
                "    nq09_link: none\n",
                '    nq09_link: none\n    categories: [{code: Province, name_vi: "Cấp tỉnh"}]  #!\n',
            )
        ],
        "must match",
        id="ind-category-code",
    ),
    pytest.param(
        IND,
        [
            (
                "    nq09_link: none\n",
                "    nq09_link: none\n    categories:\n      - {code: a, name_vi: A}\n"
                "      - {code: a, name_vi: B}  #!\n",
            )
        ],
        "listed twice",
        id="ind-category-twice",
    ),
    pytest.param(
        IND,
        [
            ("      - {unit: QN-A,", "      - {category: ward, unit: QN-A,"),
            (
                "period_end: 2024-03-31, value: 50, source: S1}\n",
                "period_end: 2024-03-31, value: 50, source: S1}  #!\n",
            ),
        ],
        "observation category 'ward'",
        id="ind-observation-category",
    ),
    pytest.param(
        IND,
        [
            (
                "    cadence: {period: yearly, timely_days: 60,",
                "    categories:  #!\n      - {code: a, name_vi: A}\n    cadence: {period: yearly, timely_days: 60,",
            )
        ],
        "only ratio and count indicators",
        id="ind-category-on-percent",
    ),
    pytest.param(
        IND,
        [("  issued: 2022-02-05\n", "  issued: 2022-02-05\n  reporting_window: weekly  #!\n")],
        "reporting_window",
        id="ind-programme-window",
    ),
    pytest.param(
        IND, [("sources:\n", "extra: 1  #!\nsources:\n")], "unknown top-level field 'extra'", id="ind-unknown-top-level"
    ),
    pytest.param(IND, [("  issued: 2022-02-05\n", "  issued: soon  #!\n")], "expected a date", id="ind-programme-date"),
    pytest.param(
        IND,
        [('    name_en: "Digital economy share of GRDP"\n', '    name_en: "Digital economy share of GRDP" x  #!\n')],
        "YAML syntax error",
        id="ind-yaml-syntax",
    ),
    # target sets (either file)
    pytest.param(
        IND,
        [("    target:\n      baseline:", "    target:\n      target_set: NQ99  #!\n      baseline:")],
        "unknown target set 'NQ99'",
        id="set-unknown",
    ),
    pytest.param(
        IND,
        [(M2, M2.replace("2025-12-31", "2026-12-31").rstrip() + "  #!\n")],
        "milestone deadline 2026-12-31 is outside the set's window 2022-02-05 → 2025-12-31",
        id="set-milestone-after-window",
    ),
    pytest.param(
        T,
        [(T_M, T_M.replace("2030-12-31", "2025-12-31").rstrip() + "  #!\n")],
        "outside the set's window 2026-01-01 → 2030-12-31",
        id="set-milestone-before-window",
    ),
    pytest.param(
        T,
        [("    cutoff: 2031-03-31\n", "    cutoff: 2030-06-30\n"), (T_M, T_M.rstrip() + "  #!\n")],
        "the set's cutoff 2030-06-30 is before the milestone deadline 2030-12-31",
        id="set-cutoff-before-deadline",
    ),
    pytest.param(
        T,
        [("    cutoff: 2031-03-31\n", "    cutoff: 2025-03-31  #!\n")],
        "cutoff 2025-03-31 is before applies_from",
        id="set-cutoff-before-window",
    ),
    pytest.param(
        T,
        [
            (
                T_M,
                T_M
                + "      - indicator: DE-01\n        applies_to: [province]  #!\n        milestones:\n"
                + T_M.replace("30,", "35,"),
            )
        ],
        "level province has more than one target in this set",
        id="set-duplicate-target",
    ),
    pytest.param(
        T,
        [(QG_T, QG_T.replace("DG-01", "DE-99").rstrip() + "  #!\n")],
        "indicator 'DE-99' is not in indicators.yaml",
        id="set-target-unknown-indicator",
    ),
    pytest.param(
        T,
        [("    applies_to: 2030-12-31\n    binding: false\n", "    applies_to: 2025-12-31  #!\n    binding: false\n")],
        "applies_to 2025-12-31 is before applies_from 2026-01-01",
        id="set-window-reversed",
    ),
    pytest.param(
        T,
        [("  - code: QG-2030\n", "  - code: KH-2030  #!\n")],
        "duplicate target set code 'KH-2030'",
        id="set-duplicate-code",
    ),
    pytest.param(
        T,
        [("    continues: NQ09\n", "    continues: NQ99  #!\n")],
        "continues unknown target set 'NQ99'",
        id="set-continues-unknown",
    ),
    pytest.param(
        T,
        [("    continues: NQ09\n", "    continues: QG-2030  #!\n")],
        "continues QG-2030, which applies until 2030-12-31, not before 2026-01-01",
        id="set-continues-overlapping",
    ),
    pytest.param(
        T,
        [
            ("    binding: false\n", "    binding: false\n    continues: NQ09\n"),
            (QG_T, QG_T.replace("DG-01", "DE-01").rstrip() + "  #!\n"),
        ],
        "level province is already continued from NQ09 by set KH-2030",
        id="set-two-continuations",
    ),
    pytest.param(
        T,
        [("    binding: false\n", ""), ("  - code: QG-2030\n", "  - code: QG-2030  #!\n")],
        "missing field 'binding'",
        id="set-missing-binding",
    ),
    pytest.param(
        T,
        [(QG_T, QG_T.replace("source: S1", "source: S9").rstrip() + "  #!\n")],
        "unknown source key 'S9'",
        id="set-unknown-source",
    ),
    pytest.param(
        T,
        [(QG_T, QG_T.replace("[province]", "[department]").rstrip() + "  #!\n")],
        "target applies_to department but the indicator does not",
        id="set-target-level-not-of-indicator",
    ),
    # a level that cannot act on the indicator
    pytest.param(
        IND,
        [
            CATALOGUE,
            ("    applies_to: [province, district, commune]\n", "    applies_to: [province, district, commune]  #!\n"),
        ],
        "applies_to commune, district, which cannot act on an indicator measured on the province's catalogue of "
        "procedures",
        id="ind-catalogue-indicator-at-communes",
    ),
    pytest.param(
        IND,
        [
            CATALOGUE,
            (
                "      baseline: {value: 40, date: 2023-12-31, source: S1}\n",
                "      baseline: {value: 40, date: 2023-12-31, source: S1}  #!\n",
            ),
        ],
        "target applies to commune, district, which cannot act",
        id="ind-catalogue-target-at-communes",
    ),
    pytest.param(
        IND,
        [CATALOGUE, ("    target:\n      baseline:", "    target:\n      applies_to: [commune]  #!\n      baseline:")],
        "target set NQ09: target applies to commune, which cannot act",
        id="ind-catalogue-target-applies-to-commune",
    ),
]


def write_mini(directory: Path, file: str | None = None, edits: Sequence[tuple[str, str]] = ()) -> None:
    """Write the mini catalog to ``directory``, applying ``edits`` (old → new, each old exactly once) to ``file``."""
    texts = {U: MINI_UNITS, IND: MINI_INDICATORS, T: MINI_SETS}
    for old, new in edits:
        assert file is not None, "edits apply to a named file"
        assert texts[file].count(old) == 1, old
        texts[file] = texts[file].replace(old, new)
    for name, text in texts.items():
        (directory / name).write_text(text, encoding="utf-8")


def test_mini_catalog_is_valid(tmp_path: Path) -> None:
    write_mini(tmp_path)
    assert [str(p) for p in check(tmp_path)] == []
    catalog = Catalog.load(tmp_path)
    assert catalog.final_successors("QN-A-X1") == ["QN-X-NEW"]
    assert catalog.units["QN-A-X2"].partial_successors == {"QN-X-NEW"}
    assert catalog.descendants("QN-A") == {"QN-A-X1", "QN-A-X2"}
    assert [t.target_set for t in catalog.indicators["DE-01"].all_targets] == ["NQ09", "KH-2030"]
    # target_for follows NQ 09 into the set that continues it; baseline and set stay NQ 09's.
    path = catalog.indicators["DE-01"].target_for(Level.PROVINCE)
    assert path is not None and path.target_set == "NQ09" and path.baseline is None
    assert [(m.deadline.year, m.value) for m in path.milestones] == [(2025, 20.0), (2030, 30.0)]
    dg01 = catalog.indicators["DG-01"].target_for(Level.PROVINCE)
    assert dg01 is not None and dg01.milestones[-1].deadline.year == 2025  # QG-2030 does not continue
    assert catalog.target_set("KH-2030").cutoff == date(2031, 3, 31)
    assert [t.target_set for t in catalog.indicators["DG-01"].targets_for(Level.PROVINCE)] == ["NQ09", "QG-2030"]
    assert catalog.indicators["DG-01"].targets_for(Level.DISTRICT)[0].target_set == "NQ09"


@pytest.mark.parametrize(("file", "edits", "expected"), BROKEN)
def test_broken_catalog_points_at_file_and_line(
    tmp_path: Path, file: str, edits: list[tuple[str, str]], expected: str
) -> None:
    write_mini(tmp_path, file, edits)
    text = (tmp_path / file).read_text(encoding="utf-8")
    line = next(n for n, content in enumerate(text.splitlines(), start=1) if "#!" in content)
    problems = check(tmp_path)
    hits = [p for p in problems if Path(p.file).name == file and p.line == line and expected in p.message]
    assert hits, f"expected {file}:{line}: …{expected}…, got:\n" + "\n".join(map(str, problems))
    with pytest.raises(CatalogError) as raised:
        Catalog.load(tmp_path)
    assert raised.value.problems == problems


def test_all_problems_are_reported(tmp_path: Path) -> None:
    write_mini(tmp_path, U, [(SO, so(level="county", source="S9"))])
    (tmp_path / IND).write_text(MINI_INDICATORS.replace(DE_M, DE_M.replace("20,", "120,")), encoding="utf-8")
    problems = check(tmp_path)
    messages = "\n".join(map(str, problems))
    assert "level" in messages and "unknown source key 'S9'" in messages and "outside 0..100" in messages
    assert {Path(p.file).name for p in problems} == {U, IND}


def test_missing_target_sets_file_is_a_problem(tmp_path: Path) -> None:
    write_mini(tmp_path)
    (tmp_path / T).unlink()
    assert [(Path(p.file).name, p.line, p.message) for p in check(tmp_path)] == [(T, 1, "file not found")]


def test_missing_file_is_a_problem(tmp_path: Path) -> None:
    write_mini(tmp_path)
    (tmp_path / U).unlink()
    problems = check(tmp_path)
    assert [(Path(p.file).name, p.line, p.message) for p in problems] == [(U, 1, "file not found")]


def test_dxmon_catalog_check_flags_a_target_for_a_level_that_cannot_act(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from dxmon.cli import build

    write_mini(tmp_path, IND, [CATALOGUE])  # DG-01 measured on the province's catalogue, asked of communes
    result = CliRunner().invoke(build(), ["catalog", "check", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "DG-01, target set NQ09: target applies to commune, district, which cannot act" in result.output
    write_mini(tmp_path)
    result = CliRunner().invoke(build(), ["catalog", "check", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "3 target sets" in result.output


def test_categories_and_reporting_window(tmp_path: Path, catalog: Catalog) -> None:
    # Shipped: DG-01/DG-02 by competence level; calendar periods for Quảng Ninh.
    assert [c.code for c in catalog.indicators["DG-01"].categories] == ["province", "district", "commune"]
    commune = catalog.indicators["DG-02"].category("commune")
    assert commune is not None and commune.name_vi == "Cấp xã"
    assert catalog.indicators["DG-04"].categories == ()
    assert catalog.reporting_window == "calendar"
    assert catalog.period_of("DG-01", date(2026, 11, 20)).code == "2026-11"
    # A programme that declares Nghị định 09/2019's window cuts months on the 15th.
    write_mini(tmp_path, IND, [("  issued: 2022-02-05\n", "  issued: 2022-02-05\n  reporting_window: nd09\n")])
    nd09 = Catalog.load(tmp_path)
    assert nd09.reporting_window == "nd09"
    assert nd09.period_of("DG-01", date(2026, 11, 20)).code == "2026-12"
    assert nd09.period_of("DE-01", date(2026, 12, 15)).code == "2027"


def test_candidate_targets_are_every_binding_target_ahead_nearest_first(catalog: Catalog) -> None:
    dg14 = catalog.indicators["DG-14"]
    # A commune in 2026 answers for DG-14 to CT2026-BCDTW (100 % by 31/12/2026), to the programme's path
    # (NQ09-2030, 100 % by 2030) and to QĐ 749 (70 % by 2030): every one is judged, the nearest first.
    in_2026 = catalog.candidate_targets(dg14, Level.COMMUNE, date(2026, 12, 6))
    assert [t.target_set for t in in_2026] == ["CT2026-BCDTW", "NQ09", "QD749"]
    assert in_2026[1] is dg14.target_for(Level.COMMUNE)
    # Once CT2026-BCDTW's deadline has passed it is no longer a candidate (its outcome is in the scorecard).
    assert [t.target_set for t in catalog.candidate_targets(dg14, Level.COMMUNE, date(2027, 1, 1))] == [
        "NQ09",
        "QD749",
    ]
    # Nothing ahead: one candidate, the programme's path (its last outcome).
    assert catalog.candidate_targets(dg14, Level.DISTRICT, date(2026, 12, 6)) == [dg14.target_for(Level.DISTRICT)]
