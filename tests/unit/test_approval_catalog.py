"""The programme's ``approval`` setting: off unless the catalog says ``true``; anything else is a catalog problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from dxmon.catalog import Catalog, check
from dxmon.store.approvals_repository import ApprovalError, parse_period
from tests.unit.test_catalog import IND, write_mini

PROGRAMME = "  issued: 2022-02-05\n"


def test_shipped_catalog_and_default_are_off(tmp_path: Path, catalog: Catalog) -> None:
    assert catalog.approval is False
    write_mini(tmp_path)
    assert Catalog.load(tmp_path).approval is False


def test_approval_on(tmp_path: Path) -> None:
    write_mini(tmp_path, IND, [(PROGRAMME, PROGRAMME + "  approval: true\n")])
    assert Catalog.load(tmp_path).approval is True


def test_approval_must_be_a_yes_or_no(tmp_path: Path) -> None:
    write_mini(tmp_path, IND, [(PROGRAMME, PROGRAMME + "  approval: sometimes\n")])
    assert any("approval" in str(p) for p in check(tmp_path))


@pytest.mark.parametrize(
    ("code", "start", "end", "label"),
    [
        pytest.param("2026-11", "2026-11-01", "2026-11-30", "tháng 11/2026", id="month"),
        pytest.param("2026-Q3", "2026-07-01", "2026-09-30", "quý III/2026", id="quarter"),
        pytest.param("2026-H1", "2026-01-01", "2026-06-30", "6 tháng đầu năm 2026", id="half"),
        pytest.param("2025", "2025-01-01", "2025-12-31", "năm 2025", id="year"),
    ],
)
def test_period_codes(catalog: Catalog, code: str, start: str, end: str, label: str) -> None:
    period = parse_period(catalog, code)
    assert (period.code, str(period.start), str(period.end), period.label_vi) == (code, start, end, label)


@pytest.mark.parametrize("code", ["2026-00", "2026-13", "2026-Q5", "2026-H3", "26-11", "2026-11-01", "", "２０２６"])
def test_period_codes_refused(catalog: Catalog, code: str) -> None:
    with pytest.raises(ApprovalError) as refused:
        parse_period(catalog, code)
    assert (refused.value.status, refused.value.reason) == (422, "invalid-period")
