"""What the CLI prints: user and catalog text is never read as Rich markup, and ids are never cut."""

from __future__ import annotations

import io
import re
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from rich.console import Console

from dxmon.catalog import Catalog
from dxmon.cli import dev, plain_console
from dxmon.cli.keys import key_table
from dxmon.cli.status import Stored, status_table, unit_lines
from dxmon.contracts import LOCAL_TZ
from dxmon.keys import ApiKey
from dxmon.store.progress_repository import UnitDistribution

NAMES = ["Phòng [/] VH", "Sở Văn hoá [cũ]", "[bold]Ban[/bold] [red]", "Xã [link=x]Ba Chẽ"]


def rendered(renderable, console: Console | None = None, width: int = 80) -> str:
    console = console or plain_console()
    out = io.StringIO()
    console.file, console.width = out, width  # as on an 80-column terminal
    console.print(renderable)
    return out.getvalue()


def squeezed(text: str) -> str:
    """squeezed: the printed characters without spaces, borders or line breaks (wrapping moves them)."""
    return re.sub(r"[\s│┃┏┓┗┛┡┩└┘━─┳┻╇┴┬]", "", text)


def test_key_list_keeps_brackets_and_whole_ids_at_80_columns():
    keys = [
        ApiKey(
            key_id=f"a56ea1207f3c9d1{i}",
            agency=name,
            units=("QN-HALONG", "QN-CAMPHA", "QN-SO-VHTTDL"),
            with_descendants=True,
            secret_sha256="0" * 64,
            created_at="2026-01-01T00:00:00+00:00",
            label=name,
        )
        for i, name in enumerate(NAMES)
    ]
    text = rendered(key_table(keys))
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text
    for key in keys:
        assert re.search(rf"│ {key.key_id} │", text), text  # whole, on one line, pasteable
        columns = table_columns(rendered(key_table([key])))
        assert columns[1] == columns[5] == squeezed(key.agency)
        assert columns[2] == "QN-HALONG,QN-CAMPHA,QN-SO-VHTTDL"


def table_columns(text: str) -> list[str]:
    """table_columns joins each column's text over its lines (spaces dropped: wrapping moves them)."""
    columns: list[str] = []
    for line in text.splitlines():
        if line.startswith("│"):
            cells = [squeezed(c) for c in line.split("│")[1:-1]]
            columns = [a + b for a, b in zip(columns, cells, strict=True)] if columns else cells
    return columns


def test_status_table_prints_catalog_names_as_they_are(catalog: Catalog):
    unit = replace(catalog.units["QN-P-HONGGAI"], name_vi="Phường Hồng Gai [cũ]", history=())
    as_of = datetime(2026, 1, 1, tzinfo=LOCAL_TZ)
    lines = unit_lines(catalog, unit, Stored({}, {}), as_of, live=False)
    text = rendered(status_table(catalog, unit, lines, as_of), Console(), 200)
    assert "Phường Hồng Gai [cũ]" in text


def test_dev_summary_prints_unit_names_as_they_are(monkeypatch, tmp_path: Path):
    out = io.StringIO()
    monkeypatch.setattr(dev.console, "file", out)
    monkeypatch.setattr(dev.console, "width", 200)
    worst = [{"unit": "QN-X", "name_vi": name, "behind": 1, "missing": 0, "tracked": 3} for name in NAMES]
    spread = UnitDistribution(fine=3, behind=len(worst), silent=0, worst=worst)
    dev.print_summary(
        {"reports": 1, "periods": 1, "dead_letters": 0, "by_level": [], "lag": None, "distribution": spread},
        "http://127.0.0.1:8080",
        tmp_path,
        ["Cảnh báo [mới]: Xã [x]"],
    )
    for name in [*NAMES, "Cảnh báo [mới]: Xã [x]"]:
        assert name in out.getvalue()
