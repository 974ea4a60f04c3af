"""The committed provisioning files are exactly what the dashboard code generates, and are well-formed.

Fix a drift failure with ``dxmon grafana build`` and commit the result.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from grafana import build
from grafana.build import flat_panels
from grafana.dashboards.panels import DATASOURCE_TYPE, DATASOURCE_UID

EXPECTED = {
    "dx-overview": "Tổng quan chuyển đổi số",
    "dx-unit-detail": "Chi tiết đơn vị",
    "dx-alerts": "Cảnh báo",
    "dx-pipeline": "Vận hành hệ thống",
}
BUILTINS = {"__interval", "__interval_ms", "__from", "__to", "__range", "__range_s", "__range_ms"}
VARIABLE_REF = re.compile(r"\$(\w+)|\[\[(\w+?)(?::\w+)?\]\]|\$\{(\w+)(?:\.[^:^}]+)?(?::[^}]+)?\}", re.ASCII)


def test_regenerating_changes_no_committed_byte(tmp_path: Path) -> None:
    written = build.write(tmp_path)
    for path in written:
        rel = path.relative_to(tmp_path)
        committed = build.PROVISIONING_DIR / rel
        assert committed.exists(), f"{rel} is not committed: run `dxmon grafana build`"
        assert committed.read_bytes() == path.read_bytes(), f"{rel} drifted from the code: run `dxmon grafana build`"
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    committed_files = sorted(
        p.relative_to(build.PROVISIONING_DIR) for p in build.PROVISIONING_DIR.rglob("*") if p.is_file()
    )
    assert committed_files == generated, "stale files in grafana/provisioning: run `dxmon grafana build`"


def test_output_is_deterministic_and_ends_with_a_newline() -> None:
    first, second = build.render(), build.render()
    assert first == second
    assert all(text.endswith("\n") and not text.endswith("\n\n") for text in first.values())


def test_write_removes_stale_dashboards(tmp_path: Path) -> None:
    stale = tmp_path / "dashboards" / "renamed-away.json"
    stale.parent.mkdir(parents=True)
    stale.write_text("{}\n")
    build.write(tmp_path)
    assert not stale.exists()


@pytest.fixture(scope="module")
def dashboards() -> dict[str, dict[str, Any]]:
    return build.dashboards()


def test_four_dashboards_with_fixed_uids_and_vietnamese_titles(dashboards: dict[str, dict[str, Any]]) -> None:
    assert {uid: d["title"] for uid, d in dashboards.items()} == EXPECTED
    for d in dashboards.values():
        assert d["timezone"] == "Asia/Ho_Chi_Minh"
        assert d["editable"] is False


def test_every_query_uses_the_provisioned_datasource(dashboards: dict[str, dict[str, Any]]) -> None:
    for uid, d in dashboards.items():
        for p in flat_panels(d):
            if p["type"] in ("row", "text"):
                continue
            assert p["datasource"] == {"type": DATASOURCE_TYPE, "uid": DATASOURCE_UID}, (uid, p["title"])
            assert p["targets"], (uid, p["title"])
            for t in p["targets"]:
                assert t["datasource"]["uid"] == DATASOURCE_UID
                assert t["format"] in ("time_series", "table") and t["rawSql"].strip()
        for v in d["templating"].get("list", []):
            assert v["datasource"]["uid"] == DATASOURCE_UID and v["query"].strip()


def test_panel_ids_and_titles_are_unique_and_the_grid_is_24_wide(dashboards: dict[str, dict[str, Any]]) -> None:
    for uid, d in dashboards.items():
        ids = [p["id"] for p in flat_panels(d)]
        assert len(ids) == len(set(ids)), uid
        titles = [p["title"] for p in flat_panels(d)]
        assert len(titles) == len(set(titles)), f"{uid}: two panels share a title"
        for p in flat_panels(d):
            g = p["gridPos"]
            assert 0 <= g["x"] and g["x"] + g["w"] <= 24 and g["h"] > 0, (uid, p["title"], g)


def test_every_variable_a_query_uses_is_defined(dashboards: dict[str, dict[str, Any]]) -> None:
    for uid, d in dashboards.items():
        defined = {v["name"] for v in d["templating"].get("list", [])} | BUILTINS
        sqls = [v["query"] for v in d["templating"].get("list", [])]
        sqls += [t["rawSql"] for p in flat_panels(d) for t in p.get("targets", [])]
        sqls += [tag for a in d.get("annotations", {}).get("list", []) for tag in a.get("target", {}).get("tags", [])]
        for sql in sqls:
            for m in VARIABLE_REF.finditer(sql):
                name = m.group(1) or m.group(2) or m.group(3)
                # $__timeFilter(…) and friends are macros, expanded by the datasource after variables.
                is_macro = m.group(1) and sql[m.end() : m.end() + 1] == "("
                assert is_macro or name in defined, f"{uid}: ${name} is not a variable of the dashboard"


def test_unit_names_link_to_the_unit_dashboard(dashboards: dict[str, dict[str, Any]]) -> None:
    behind = next(p for p in flat_panels(dashboards["dx-overview"]) if p["title"] == "Đơn vị chậm nhất")
    links = [
        link
        for o in behind["fieldConfig"]["overrides"]
        if o["matcher"] == {"id": "byName", "options": "Đơn vị"}
        for prop in o["properties"]
        if prop["id"] == "links"
        for link in prop["value"]
    ]
    assert links and links[0]["url"].startswith("/d/dx-unit-detail?var-unit=${__data.fields.unit}")
    assert "unit" in behind["targets"][0]["rawSql"]


def test_unit_page_shows_the_alerts_services_annotations_for_that_unit(dashboards: dict[str, dict[str, Any]]) -> None:
    (query,) = dashboards["dx-unit-detail"]["annotations"]["list"]
    assert query["datasource"]["type"] == "grafana" and query["enable"] is True
    # services/alerts/emit.py tags each annotation dx-monitor, alert, state, kind, unit code, indicator code.
    assert query["target"] == {
        "type": "tags",
        "tags": ["dx-monitor", "alert", "$unit"],
        "matchAny": False,
        "limit": 200,
    }


def test_provisioning_reads_credentials_from_the_environment() -> None:
    files = build.render()
    datasource = files["datasources/dx-monitor.yaml"]
    assert "user: ${DX_GRAFANA_DB_USER}" in datasource
    assert "password: ${DX_GRAFANA_DB_PASSWORD}" in datasource
    assert "timescaledb: true" in datasource
    assert "type: grafana-postgresql-datasource" in datasource and f"uid: {DATASOURCE_UID}" in datasource
    provider = files["dashboards/provider.yaml"]
    assert "folderUid: dx-monitor" in provider and "type: file" in provider


def test_committed_json_parses_to_the_built_models(dashboards: dict[str, dict[str, Any]]) -> None:
    for uid, model in dashboards.items():
        committed = json.loads((build.PROVISIONING_DIR / "dashboards" / f"{uid}.json").read_text(encoding="utf-8"))
        assert committed == model
