"""The README's configuration table is exactly what the settings classes define."""

from __future__ import annotations

from pathlib import Path

from dxmon.config_doc import markdown_table, variables

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_table() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("<!-- config-table:start -->\n") + len("<!-- config-table:start -->\n")
    return text[start : text.index("<!-- config-table:end -->")]


def test_readme_configuration_table_matches_the_settings_classes():
    assert readme_table() == markdown_table(), "README out of date: run `python -m dxmon.config_doc`"


def test_every_variable_is_described():
    assert [v.name for v in variables() if not v.description] == []


def test_the_core_variables_are_there():
    names = {v.name for v in variables()}
    assert {"DX_NATS_URL", "DX_DATABASE_URL", "DX_INGEST_PORT", "DX_MAX_BATCH_REPORTS"} <= names
