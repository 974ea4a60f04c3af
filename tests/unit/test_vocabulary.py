"""One vocabulary: nothing a person reads uses a term the glossary retired (tests/unit/retired_terms.py).

Scanned: every string of the provisioned dashboards, the alerts' label dicts, every string constant
of the CLI, every refusal message in both languages, and what a few CLI commands print without a
server. Also: every refusal reason has a Vietnamese and an English message, and RETIRED is the
glossary's retired column.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from dxmon import words
from dxmon.catalog import Catalog
from dxmon.problems import _PYDANTIC_REASONS, MESSAGES, placeholders, say
from dxmon.progress import STATUS_LABELS
from tests.unit import retired_terms

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((REPO / "grafana" / "provisioning" / "dashboards").glob("*.json"))
VIETNAMESE_LETTERS = set("ăâđêôơưáàảãạấầẩẫậắằẳẵặéèẻẽẹếềểễệíìỉĩịóòỏõọốồổỗộớờởỡợúùủũụứừửữựýỳỷỹỵ")


def strings_in(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """strings_in yields (path, text) for every string inside a JSON document."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from strings_in(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from strings_in(value, f"{path}[{i}]")
    elif isinstance(node, str):
        yield path, node


def string_constants(source: Path) -> Iterator[tuple[int, str]]:
    """string_constants yields (line, text) for every string literal of a module, f-string parts included."""
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


def retired(found: list[tuple[str, str]]) -> list[str]:
    return [
        f"{where}: {retired_terms.retired_terms_in(text)} in {text[:120]!r}"
        for where, text in found
        if retired_terms.retired_terms_in(text)
    ]


# ───────────────────────────── the scanner itself ─────────────────────────────


@pytest.mark.parametrize(
    ("text", "found"),
    [
        pytest.param("Chậm so với lộ trình", ["Chậm so với lộ trình"], id="retired-status"),
        pytest.param("Chỉ số DTI của tỉnh", [], id="index-name-allowed"),
        pytest.param("Chỉ số của các đơn vị", ["Chỉ số"], id="indicator-called-index"),
        pytest.param("Mức cần đạt theo tiến độ", [], id="current-term"),
        pytest.param("giá trị kỳ vọng", ["kỳ vọng"], id="lower-case"),
    ],
)
def test_retired_terms_in(text: str, found: list[str]) -> None:
    assert retired_terms.retired_terms_in(text) == found


# ───────────────────────────── what people read ─────────────────────────────


def test_dashboards_use_no_retired_term() -> None:
    assert DASHBOARDS, "no provisioned dashboards found"
    found = [(f"{f.name}{path}", text) for f in DASHBOARDS for path, text in strings_in(json.loads(f.read_text()))]
    assert retired(found) == []


def test_alert_labels_use_no_retired_term() -> None:
    # Only the label dicts: the digest's sentences are the alerts module's own (see its tests).
    from services.alerts import messages

    labels = [
        *messages.KIND_LABEL.values(),
        *messages.SEVERITY_LABEL.values(),
        *messages.REASON_LABEL.values(),
        messages.RESOLVED_LABEL,
    ]
    assert retired([("label", text) for text in labels]) == []
    assert set(labels) <= set(words.RESULT.values()) | set(words.REPORTING.values()) | set(
        words.SEVERITY.values()
    ) | set(words.NOTICE.values())


def test_status_labels_are_the_glossary_terms() -> None:
    assert retired([(str(s), label) for s, label in STATUS_LABELS.items()]) == []
    assert set(STATUS_LABELS.values()) <= set(words.RESULT.values()) | set(words.REPORTING.values())


@pytest.mark.parametrize("module", sorted((REPO / "dxmon" / "cli").glob("*.py")), ids=lambda p: p.name)
def test_cli_strings_use_no_retired_term(module: Path) -> None:
    assert retired([(f"{module.name}:{line}", text) for line, text in string_constants(module)]) == []


def _fill(key: str) -> dict[str, str]:
    return {name: "X" for name in placeholders(key)}


def test_refusal_messages_use_no_retired_term() -> None:
    rendered = [(f"{key}/{lang}", getattr(say(key, **_fill(key)), lang)) for key in MESSAGES for lang in ("vi", "en")]
    assert retired(rendered) == []


@pytest.mark.parametrize("key", sorted(MESSAGES))
def test_every_refusal_message_is_vietnamese_and_english(key: str) -> None:
    text = say(key, **_fill(key))
    assert VIETNAMESE_LETTERS & set(text.vi.lower()), f"{key}: Vietnamese message without diacritics: {text.vi!r}"
    assert text.en.strip() and not VIETNAMESE_LETTERS & set(text.en.lower()), f"{key}: {text.en!r}"
    assert text.vi != text.en


def _refusal_calls() -> Iterator[tuple[str, ast.Call]]:
    sources = [*sorted((REPO / "dxmon").glob("*.py")), *sorted((REPO / "services" / "ingest").glob("*.py"))]
    for source in sources:
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("Issue", "Problem"):
                yield f"{source.relative_to(REPO)}:{node.lineno}", node


def test_every_reason_raised_has_messages_in_both_languages() -> None:
    """Every Issue/Problem built with a literal reason has a MESSAGES entry, and no message is a bare str."""
    reasons_with_messages = {key.split("/")[0] for key in MESSAGES}
    missing, untranslated = [], []
    for where, call in _refusal_calls():
        assert isinstance(call.func, ast.Name)  # _refusal_calls yields only calls of Issue or Problem by name
        reason_at, text_at = (
            (0, 1) if call.func.id == "Issue" else (1, 3)
        )  # Issue(reason, message), Problem(.., detail)
        reason = call.args[reason_at] if len(call.args) > reason_at else None
        if isinstance(reason, ast.Constant) and reason.value not in reasons_with_messages:
            missing.append(f"{where}: {reason.value!s}")
        text = (
            call.args[text_at]
            if len(call.args) > text_at
            else next((kw.value for kw in call.keywords if kw.arg in ("message", "detail")), None)
        )
        if isinstance(text, ast.JoinedStr) or (isinstance(text, ast.Constant) and isinstance(text.value, str)):
            untranslated.append(where)
    assert missing == [], "reasons without an entry in dxmon.problems.MESSAGES"
    assert untranslated == [], "messages written as a plain string: use dxmon.problems.say(...)"
    assert set(_PYDANTIC_REASONS.values()) <= reasons_with_messages


# ───────────────────────────── CLI output (no server needed) ─────────────────────────────


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["alerts", "--help"],
        ["alerts", "silences", "--help"],
        ["status", "--help"],
        ["keys", "--help"],
        ["subscriptions", "--help"],
    ],
    ids=lambda a: " ".join(a),
)
def test_cli_help_uses_no_retired_term(args: list[str]) -> None:
    from dxmon.cli import build

    result = CliRunner().invoke(build(), args)
    assert result.exit_code == 0, result.output
    assert retired([(" ".join(args), result.output)]) == []


def test_status_table_uses_the_glossary() -> None:
    """The `dxmon status` table as printed, for a unit with a value behind its glide path and gaps."""
    from dxmon.cli.status import Report, Stored, status_table, unit_lines

    catalog = Catalog.load()
    unit = catalog.units["QN-P-HONGGAI"]
    as_of = datetime(2026, 3, 10, 3, 0, tzinfo=UTC)
    observed = datetime(2026, 2, 27, 17, 0, tzinfo=UTC)
    november = datetime(2025, 11, 30, 12, 0, tzinfo=UTC)  # DG-04's due period (January) is unreported
    history = {
        "DG-14": [Report(observed, observed, "", None, 50.0, 100.0, 1)],
        "DG-04": [Report(november, november, "", None, 70.0, 100.0, 2)],
    }
    lines = unit_lines(catalog, unit, Stored(history, {}), as_of, live=False)
    console = Console(record=True, width=250)
    console.print(status_table(catalog, unit, lines, as_of))
    text = console.export_text()
    assert retired([("status", text)]) == []
    for term in (
        words.INDICATOR,
        words.EXPECTED,
        words.TARGET,
        words.CURRENT_VALUE,
        words.DECIDING_VALUE,
        words.REPORTING["missing"],
        words.RESULT["behind"],
    ):
        assert term in text, term
    assert "10/03/2026 10:00 (giờ Việt Nam)" in text  # 03:00 UTC, read in Hạ Long


# ───────────────────────────── RETIRED is the glossary's list ─────────────────────────────


def _glossary() -> Path | None:
    # CI has ../shared beside the clone; a git worktree's "beside" is its main checkout's.
    candidates = [REPO / ".." / "shared" / "reference" / "glossary.md"]
    dot_git = REPO / ".git"
    if dot_git.is_file():
        common = Path(dot_git.read_text().split("gitdir:", 1)[1].strip())
        main = next((p.parent for p in [common, *common.parents] if p.name == ".git"), None)
        if main is not None:
            candidates.append(main / ".." / "shared" / "reference" / "glossary.md")
    return next((c for c in candidates if c.is_file()), None)


def glossary_retired(text: str) -> list[tuple[str, bool]]:
    """glossary_retired: each retired term of the glossary's tables, and whether it is retired only in a context."""
    terms = []
    column = None
    for line in text.splitlines():
        if not line.startswith("|"):
            column = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if column is None:
            column = cells.index("retired") if "retired" in cells else -1
            continue
        if column < 0 or set(cells[0]) <= set("- ") or column >= len(cells):
            continue
        cell = cells[column]
        for entry in re.sub(r"\([^)]*\)", lambda m: "\0", cell).split(","):
            qualified = "\0" in entry or " when " in entry
            term = entry.replace("\0", "").split(" when ")[0].strip()
            if term:
                terms.append((term, qualified))
    return terms


def test_retired_matches_the_glossary() -> None:
    path = _glossary()
    if path is None:
        pytest.skip("shared/reference/glossary.md is not beside this checkout")
    listed = glossary_retired(path.read_text(encoding="utf-8"))
    assert len(listed) > 10, listed

    def covered(term: str) -> bool:
        return any(r in term for r in retired_terms.RETIRED)

    # Every term the glossary retires outright is caught by the scanner; a term retired only in some
    # context ("Cảnh báo (as a severity)", "Hạn (acceptable in tables)") cannot be, and is left out.
    assert [t for t, qualified in listed if not qualified and not covered(t)] == []
    # Every RETIRED entry comes from the glossary (possibly with its context, e.g. "Mức độ: Cảnh báo").
    assert [
        r for r in retired_terms.RETIRED if not any(t.lower() in r.lower() or r.lower() in t.lower() for t, _ in listed)
    ] == []


def test_glossary_parser_reads_qualifiers() -> None:
    table = (
        "| code | term | retired |\n| --- | --- | --- |\n| `met` | Đạt | Đã đạt, Đạt mục tiêu |\n"
        "| x | Vượt | Vượt mục tiêu (acceptable in prose) |\n| y | z | Giá trị hiện tại when it is old |\n"
    )
    assert glossary_retired(table) == [
        ("Đã đạt", False),
        ("Đạt mục tiêu", False),
        ("Vượt mục tiêu", True),
        ("Giá trị hiện tại", True),
    ]
