"""``dxmon status UNIT`` shows each indicator's explanation (Nguyên nhân, giải pháp): a table of its own under
the status table, and ``explanation`` in each JSON entry. It follows the store's rule as of ``--as-of``,
from the reports received by then: a correction without one keeps it, an empty one withdraws it."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime

import asyncpg
import pytest
from typer.testing import CliRunner

from dxmon.cli import build
from dxmon.contracts import LOCAL_TZ, ReportReceived, end_of_local_day
from dxmon.store.reports_repository import store_reports

pytestmark = pytest.mark.integration

UNIT = "QN-P-HONGGAI"
WHY = "Một số thôn chưa có cáp quang; đã đề nghị nhà mạng hoàn thành trong quý IV."


def received(
    unit: str,
    indicator: str,
    day: date,
    on: date,
    numerator: float,
    explanation: str | None,
    category: str | None = None,
) -> ReportReceived:
    return ReportReceived(
        event_id=uuid.uuid4(),
        unit=unit,
        indicator=indicator,
        observed_at=end_of_local_day(day),
        received_at=datetime(on.year, on.month, on.day, 9, tzinfo=LOCAL_TZ),
        agency="test",
        key_id="k" * 16,
        numerator=numerator,
        denominator=100.0,
        category=category,
        explanation=explanation,
    )


@pytest.fixture
async def dxmon(database_url: str, catalog, monkeypatch: pytest.MonkeyPatch):
    oct31 = date(2026, 10, 31)
    events = [
        received(UNIT, "DG-04", oct31, date(2026, 11, 2), 40, WHY),
        received(UNIT, "DG-04", oct31, date(2026, 11, 5), 42, None),  # the figure corrected, nothing said
        received(UNIT, "DG-04", oct31, date(2026, 11, 10), 42, ""),  # withdrawn
        received("QN", "DG-01", oct31, date(2026, 11, 2), 60, "Đã tập huấn cán bộ tỉnh.", "province"),
        received("QN", "DG-01", oct31, date(2026, 11, 2), 30, "Xã mới sáp nhập,\nchưa đủ thiết bị.", "commune"),
        received("QN", "DG-01", oct31, date(2026, 11, 2), 50, None, "district"),
    ]
    conn = await asyncpg.connect(database_url)
    try:
        for seq, e in enumerate(events, 1):  # one commit each, in stream order
            async with conn.transaction():
                await store_reports(conn, [e], e.received_at, catalog, [seq])
    finally:
        await conn.close()
    monkeypatch.setenv("DX_DATABASE_URL", database_url)
    monkeypatch.setenv("COLUMNS", "250")
    app, runner = build(), CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == 0, result.output
        return result.output

    return run


def entries(document: dict, indicator: str) -> list[dict]:
    found = [e for e in document["indicators"] if e["indicator"] == indicator]
    assert found, indicator
    return found


@pytest.mark.parametrize(
    ("as_of", "value", "explanation"),
    [
        pytest.param("2026-11-01", None, None, id="nothing-received-yet"),
        pytest.param("2026-11-03", 40.0, WHY, id="as-first-sent"),
        pytest.param("2026-11-06", 42.0, WHY, id="figure-corrected-explanation-kept"),
        pytest.param("2026-11-11", 42.0, None, id="withdrawn"),
    ],
)
def test_status_json_gives_the_explanation_in_force_as_of(dxmon, as_of: str, value, explanation) -> None:
    document = json.loads(dxmon("status", UNIT, "--format", "json", "--as-of", as_of))
    for entry in entries(document, "DG-04"):  # one per target set judging it: the same period, the same reason
        assert (entry["current_value"], entry["explanation"]) == (value, explanation)
    assert all(e["explanation"] is None for e in document["indicators"] if e["indicator"] != "DG-04")


def test_status_table_lists_explanations_under_the_table(dxmon) -> None:
    out = dxmon("status", UNIT, "--as-of", "2026-11-06")
    head, _, explanations = out.partition("Nguyên nhân, giải pháp")
    assert "DG-04" in head and explanations, out
    rows = [line for line in explanations.splitlines() if "DG-04" in line]
    assert len(rows) == 1 and "2026-10" in rows[0] and "Một số thôn chưa có cáp quang" in rows[0]
    assert " ".join(explanations.split()).count("Một số thôn chưa có cáp quang") == 1
    # Withdrawn: no explanation table at all.
    assert "Nguyên nhân, giải pháp" not in dxmon("status", UNIT, "--as-of", "2026-11-11")


def test_an_indicator_by_category_shows_each_categorys_explanation_labelled(dxmon) -> None:
    document = json.loads(dxmon("status", "QN", "--format", "json", "--as-of", "2026-11-03"))
    for entry in entries(document, "DG-01"):
        assert entry["explanation"] == "Cấp tỉnh: Đã tập huấn cán bộ tỉnh.\nCấp xã: Xã mới sáp nhập,\nchưa đủ thiết bị."
    out = dxmon("status", "QN", "--as-of", "2026-11-03")
    _, _, explanations = out.partition("Nguyên nhân, giải pháp")
    assert "Cấp tỉnh: Đã tập huấn cán bộ tỉnh." in explanations and "Cấp xã: Xã mới sáp nhập," in explanations
