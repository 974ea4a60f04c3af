"""Golden test of the official report on a seeded database: a year of simulated reports for the whole
province (54 communes after 1 July 2025), evaluated in SQL, then ``dxmon report`` as Word, Excel and PDF.

Every annex row must equal the evaluation's outcome for the set's milestone (result, value, target,
provisional or final), the summary must add up, and the PDF must hold the table with its diacritics in
an embedded font. Page 1 is rendered to tests/artifacts/report-page1.png for a person to look at.
The tests are synchronous because the CLI runs its own event loop.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime, time, timedelta
from pathlib import Path

import asyncpg
import pytest

from dxmon import words
from dxmon.catalog import Catalog, Level
from dxmon.contracts import LOCAL_TZ, ReportReceived, end_of_local_day
from dxmon.progress import STATUS_LABELS, Status
from dxmon.report.docx_writer import percent
from dxmon.report.model import PILLAR_LABELS, ReportPeriod
from dxmon.report.repository import build_report
from dxmon.simulate import explanation_for, lagging, profile_of
from dxmon.store.progress_repository import evaluate
from dxmon.store.reports_repository import explanation_text, store_reports
from tests.report_documents import (
    ARTIFACTS,
    check_annex,
    docx_annex,
    docx_ranking,
    docx_text,
    label,
    page_one_png,
    pdf_fonts,
    pdf_text,
    poppler_missing,
    seed_and_evaluate,
    set_outcomes,
    xlsx_sheets,
)

pytestmark = pytest.mark.integration

PROVISIONAL_PASS = datetime(2026, 1, 5, 9, tzinfo=LOCAL_TZ)  # the 2025 deadlines passed, no cut-off yet
COMMUNE = "QN-P-HONGGAI"


async def _seed(url: str, catalog: Catalog) -> None:
    await seed_and_evaluate(url, catalog, date(2025, 1, 1), date(2025, 12, 31), PROVISIONAL_PASS)


async def _pass(url: str, catalog: Catalog, when: datetime) -> None:
    conn = await asyncpg.connect(url)
    try:
        await evaluate(conn, catalog, when)
    finally:
        await conn.close()


async def _fetch(url: str, sql: str, *args) -> list[asyncpg.Record]:
    return await _with_connection(url, lambda conn: conn.fetch(sql, *args))


@pytest.fixture
def dxmon(database_url: str, monkeypatch: pytest.MonkeyPatch):
    from typer.testing import CliRunner

    from dxmon.cli import build

    monkeypatch.setenv("DX_DATABASE_URL", database_url)
    app, runner = build(), CliRunner()

    def run(*args: str):
        result = runner.invoke(app, list(args))
        assert result.exit_code == 0, result.output
        return result

    return run


def expected_rows(url: str, catalog: Catalog, unit: str) -> dict[str, asyncpg.Record]:
    return asyncio.run(_with_connection(url, lambda conn: set_outcomes(conn, catalog, unit)))


async def _with_connection(url: str, use):
    conn = await asyncpg.connect(url)
    try:
        return await use(conn)
    finally:
        await conn.close()


def test_province_report_golden(database_url: str, catalog: Catalog, dxmon, tmp_path: Path) -> None:
    asyncio.run(_seed(database_url, catalog))

    # 1. After the deadlines, before the cut-off: every 2025 result is provisional.
    dxmon("report", "--target-set", "NQ09", "--period", "2025", "--format", "docx", "--out", str(tmp_path / "p.docx"))
    early = docx_annex((tmp_path / "p.docx").read_bytes())
    expected = expected_rows(database_url, catalog, "QN")
    check_annex(early, expected, catalog)
    assert {c[5].split(" (")[-1] for code, c in early.items() if expected[code]["milestone"] == date(2025, 12, 31)} == {
        f"{words.PROVISIONAL})"
    }
    assert any(c[5].endswith(f"({words.FINAL})") for c in early.values())  # 2023 milestones: cut-off long past

    # 2. After the last cut-off (deadline + the indicator's grace days): final, still the evaluation's numbers.
    last_cutoff = max(date(2025, 12, 31) + timedelta(days=i.cadence.grace_days) for i in catalog.indicators.values())
    asyncio.run(_pass(database_url, catalog, datetime.combine(last_cutoff + timedelta(days=1), time(9), LOCAL_TZ)))
    out = dxmon("report", "--period", "2025", "--format", "docx", "--out", str(tmp_path / "f.docx"))
    docx = (tmp_path / "f.docx").read_bytes()
    expected = expected_rows(database_url, catalog, "QN")
    annex = docx_annex(docx)
    check_annex(annex, expected, catalog)
    assert {c[5].split(" (")[-1] for c in annex.values()} == {f"{words.FINAL})"}
    assert len({c[5].split(" (")[0] for c in annex.values()}) >= 2  # a real mix of results, not one label

    # The summary adds up: x/y overall and per pillar, from the outcomes themselves.
    met = {code for code, o in expected.items() if o["status"] in ("met", "exceeded")}
    text = docx_text(docx)
    assert f"Tỉnh Quảng Ninh: {len(met)}/{len(expected)} chỉ tiêu đạt" in text
    assert f"({len(met)}/{len(expected)} chỉ tiêu đạt, năm 2025)" in out.output
    for pillar, name in PILLAR_LABELS.items():
        codes = [c for c in expected if catalog.indicators[c].pillar is pillar]
        if codes:
            assert f"- {name}: {len(met & set(codes))}/{len(codes)} chỉ tiêu đạt." in text
    scope = ["QN", *catalog.descendants("QN")]
    [rates] = asyncio.run(
        _fetch(
            database_url,
            "SELECT sum(expected) e, sum(actual) a, sum(on_time) o FROM reporting_rates"
            " WHERE unit = ANY($1::text[]) AND period_end BETWEEN '2025-01-01' AND '2025-12-31'",
            scope,
        )
    )
    assert rates["o"] < rates["a"] <= rates["e"]  # some reports were late
    assert (
        f"Tỷ lệ báo cáo: {percent(100 * rates['a'] / rates['e'])} ({rates['a']}/{rates['e']} báo cáo); "
        f"Tỷ lệ báo cáo đúng hạn: {percent(100 * rates['o'] / rates['e'])} ({rates['o']}/{rates['e']})"
    ) in text

    # The ranking: every unit active at the year's end with targets (the 54 communes, the departments),
    # its share from its own outcomes, best first.
    ranking = docx_ranking(docx)
    active = [u for u in catalog.units_active_on(date(2025, 12, 31)) if u.level is not Level.PROVINCE]
    assert len(ranking) == len([u for u in active if any(i.target_for(u.level) for i in catalog.indicators.values())])
    assert sum(1 for u in active if u.level is Level.COMMUNE) == 54
    shares = [float(r[4].replace(".", "").replace(",", ".")) for r in ranking]
    assert shares == sorted(shares, reverse=True)
    names = {u.name_on(date(2025, 12, 31)): u.code for u in active}
    for row in (ranking[0], ranking[len(ranking) // 2], ranking[-1]):
        own = expected_rows(database_url, catalog, names[row[1]])
        assert (int(row[2]), int(row[3])) == (sum(o["status"] in ("met", "exceeded") for o in own.values()), len(own))

    # 3. Excel: the same rows, numbers as numbers.
    dxmon("report", "--period", "2025", "--format", "xlsx", "--out", str(tmp_path / "f.xlsx"))
    header, *rows = xlsx_sheets((tmp_path / "f.xlsx").read_bytes())["Phụ lục"]
    col = {name: i for i, name in enumerate(header)}
    assert {r[col["Mã"]] for r in rows} == set(expected)
    for r in rows:
        outcome = expected[r[col["Mã"]]]
        assert (r[col["Kết quả"]], r[col[words.TARGET]], r[col["Đánh giá"]]) == (
            outcome["value"],
            outcome["target"],
            label(outcome),
        )

    # 4. PDF: converted on the server, fonts embedded, the table and its diacritics intact.
    assert poppler_missing() is None, f"missing {poppler_missing()}: run scripts/bootstrap.sh as root (README, Test it)"
    dxmon("report", "--period", "2025", "--format", "pdf", "--out", str(tmp_path / "f.pdf"))
    pdf = tmp_path / "f.pdf"
    fonts = pdf_fonts(pdf)
    assert fonts and all(embedded for _, embedded in fonts), fonts
    assert {name.split("-")[0] for name, _ in fonts} == {"LiberationSerif"}, fonts  # no fallback font for a glyph
    body = pdf_text(pdf)
    for phrase in (
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "Quảng Ninh, ngày … tháng … năm …",
        "BÁO CÁO",
        "PHỤ LỤC",
        "Nguyên nhân,",
        "Đánh giá",
        "Chính quyền số",
        "Kinh tế số",
        "Xã hội số",
        f"Tỉnh Quảng Ninh: {len(met)}/{len(expected)} chỉ tiêu đạt",
        "Chính thức",
        "Tỷ lệ báo cáo đúng hạn",
    ):
        assert phrase in body, phrase
    for code in expected:
        assert code in body
    for cells in annex.values():
        assert cells[5].split(" (")[0] in body
    ARTIFACTS.mkdir(exist_ok=True)
    png = page_one_png(pdf, ARTIFACTS / "report-page1.png")
    assert png.stat().st_size > 10_000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_commune_reports_its_own_indicators(database_url: str, catalog: Catalog, dxmon, tmp_path: Path) -> None:
    asyncio.run(_seed(database_url, catalog))
    dxmon("report", "--period", "2025-H2", "--unit", COMMUNE, "--format", "docx", "--out", str(tmp_path / "c.docx"))
    docx = (tmp_path / "c.docx").read_bytes()
    check_annex(docx_annex(docx), expected_rows(database_url, catalog, COMMUNE), catalog)
    assert docx_ranking(docx) == []  # nothing below a commune
    text = docx_text(docx)
    assert f"UBND {catalog.units[COMMUNE].name_vi}".upper() in text
    assert "6 tháng cuối năm 2025" in text


def simulated_explanations(catalog: Catalog, unit: str, expected: dict[str, asyncpg.Record]) -> dict[str, str]:
    """What the Nguyên nhân, giải pháp column must say per indicator, from the simulator's own rules: a unit
    that is behind explains the indicators it lags on, every period, each category alike; no value, none."""
    chosen = catalog.units[unit]
    profile = profile_of(unit, 1)
    reported = [i for i in sorted(catalog.indicators.values(), key=lambda i: i.code) if chosen.level in i.applies_to]
    lag = lagging(chosen, reported, profile, 1, date(2025, 12, 31))
    out = {}
    for code, outcome in expected.items():
        ind, why = catalog.indicators[code], explanation_for(unit, code, 1)
        explained = code in lag and outcome["value"] is not None
        out[code] = explanation_text(ind, {c.code: why for c in ind.categories} or {"": why}) if explained else ""
    return out


def test_the_explanation_column_shows_the_units_own(database_url: str, catalog: Catalog, dxmon, tmp_path: Path) -> None:
    asyncio.run(_seed(database_url, catalog))
    behind = next(
        u.code
        for u in sorted(catalog.units_active_on(date(2025, 12, 31)), key=lambda u: u.code)
        if u.level is Level.COMMUNE and profile_of(u.code, 1) == "behind"
    )
    dxmon("report", "--period", "2025", "--unit", behind, "--format", "docx", "--out", str(tmp_path / "b.docx"))
    annex = docx_annex((tmp_path / "b.docx").read_bytes())
    expected = expected_rows(database_url, catalog, behind)
    wanted = simulated_explanations(catalog, behind, expected)
    assert {code: cells[6] for code, cells in annex.items()} == wanted
    assert any(wanted.values())  # the commune explained something
    dxmon("report", "--period", "2025", "--unit", behind, "--format", "xlsx", "--out", str(tmp_path / "b.xlsx"))
    header, *rows = xlsx_sheets((tmp_path / "b.xlsx").read_bytes())["Phụ lục"]
    col = {name: i for i, name in enumerate(header)}
    assert {r[col["Mã"]]: r[col[words.EXPLANATION]] or "" for r in rows} == wanted

    # The province's rows carry the province's own explanations (it gave none), never its communes'.
    assert profile_of("QN", 1) != "behind"
    dxmon("report", "--period", "2025", "--format", "docx", "--out", str(tmp_path / "p.docx"))
    assert {cells[6] for cells in docx_annex((tmp_path / "p.docx").read_bytes()).values()} == {""}


async def test_the_explanation_is_the_deciding_periods(database_url: str, catalog: Catalog) -> None:
    """Three quarters of DG-14, each explained differently: the 2025 milestone shows the explanation of the
    quarter that decided it (Q4 2025), the path to 2030 that of the latest quarter (Q1 2026)."""
    said = {
        date(2025, 9, 30): "Quý III: chưa có chữ ký số.",
        date(2025, 12, 31): "Quý IV: đang số hóa hồ sơ cũ.",
        date(2026, 3, 31): "Quý I/2026: đã cấp chữ ký số, tiếp tục số hóa.",
    }
    events = [
        ReportReceived(
            event_id=uuid.uuid4(),
            unit=COMMUNE,
            indicator="DG-14",
            observed_at=end_of_local_day(d),
            numerator=40 + n,
            denominator=100,
            explanation=text,
            received_at=end_of_local_day(d) + timedelta(days=3),
            agency="demo",
            key_id="k",
        )
        for n, (d, text) in enumerate(said.items())
    ]
    as_of = datetime(2026, 4, 20, 9, tzinfo=LOCAL_TZ)  # the 2025 milestone's cut-off has passed
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            await store_reports(conn, events, as_of)
        await evaluate(conn, catalog, as_of)
        nq09 = await build_report(
            conn, catalog, target_set="NQ09", period=ReportPeriod.parse("2026"), unit=COMMUNE, now=as_of
        )
        onward = await build_report(
            conn, catalog, target_set="NQ09-2030", period=ReportPeriod.parse("2026-Q1"), unit=COMMUNE, now=as_of
        )
    finally:
        await conn.close()
    [decided] = [r for r in nq09.rows if r.indicator == "DG-14"]
    assert (decided.deadline, decided.value, decided.final) == (date(2025, 12, 31), 41.0, True)
    assert decided.explanation == said[date(2025, 12, 31)]
    [latest] = [r for r in onward.rows if r.indicator == "DG-14"]
    assert (latest.deadline, latest.value) == (date(2030, 12, 31), 42.0)
    assert latest.explanation == said[date(2026, 3, 31)]
    assert all(r.explanation == "" for r in nq09.rows if r.indicator != "DG-14")


def test_a_set_ending_in_2030_reports_its_own_targets(
    database_url: str, catalog: Catalog, dxmon, tmp_path: Path
) -> None:
    """NQ09-2030 (the catalog's set carrying NQ 09 on to 2030): its targets only, each row the current result
    towards its 2030 milestone as the evaluation stored it, none of NQ 09's 2025 milestones."""
    asyncio.run(_seed(database_url, catalog))
    dxmon(
        "report", "--target-set", "NQ09-2030", "--period", "2026", "--format", "xlsx", "--out", str(tmp_path / "s.xlsx")
    )
    header, *rows = xlsx_sheets((tmp_path / "s.xlsx").read_bytes())["Phụ lục"]
    col = {name: i for i, name in enumerate(header)}
    wanted = {
        i.code
        for i in catalog.indicators.values()
        if any(t.target_set == "NQ09-2030" for t in i.targets_for(Level.PROVINCE))
    }
    assert {r[col["Mã"]] for r in rows} == wanted and len(wanted) >= 5
    current = {
        r["indicator"]: r for r in asyncio.run(_fetch(database_url, "SELECT * FROM progress_current WHERE unit = 'QN'"))
    }
    judged = 0
    for r in rows:
        assert r[col[words.DEADLINE]].date() == date(2030, 12, 31)
        c = current.get(r[col["Mã"]])
        if c is not None and c["milestone"] == date(2030, 12, 31):
            assert (r[col["Kết quả"]], r[col["Đánh giá"]]) == (c["value"], STATUS_LABELS[Status(c["status"])])
            judged += 1
    assert judged >= 3  # the simulator reports the province's indicators


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--period", "2025-13"], "YYYY-Q1", id="bad-period"),
        pytest.param(["--period", "2025", "--target-set", "NQ57"], "NQ09", id="unknown-set"),
        pytest.param(["--period", "2025", "--format", "odt"], "docx, xlsx or pdf", id="bad-format"),
        pytest.param(["--period", "2025", "--unit", "QN-NOWHERE"], "không có trong danh mục", id="unknown-unit"),
    ],
)
def test_bad_requests_are_refused(database_url: str, args, message, monkeypatch) -> None:
    from typer.testing import CliRunner

    from dxmon.cli import build

    monkeypatch.setenv("DX_DATABASE_URL", database_url)
    monkeypatch.setenv("COLUMNS", "250")
    result = CliRunner().invoke(build(), ["report", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
