"""target_sets: what a target set (Bộ chỉ tiêu) gives the report — its milestones per indicator and level,
its title, which stored results judge it, and the catalog's source texts.

The catalog decides everything here: a target belongs to the set it is written under
(``Target.target_set``), and each set is in force from ``applies_from`` to ``applies_to`` with every
milestone inside that window (``python -m dxmon.catalog check`` refuses one outside). So NQ09 holds the
milestones up to 31/12/2025, NQ09-2030 those to 2030, CT2026-BCDTW those of 2026 — no year is written
here.

The evaluation judges the programme's path: NQ09 continued, level by level, by the set that continues
it (``Indicator.target_for``). Its current results (``progress_current``) therefore stand for NQ09 and
that continuing set only, and its outcomes are stored under NQ09 (``milestone_outcomes.target_set``,
the column's default) until the evaluation stores each set's own code; ``outcome_sets`` names both.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

from dxmon.catalog import (
    INDICATORS_FILE,
    PROGRAMME_SET,
    TARGET_SETS_FILE,
    Catalog,
    Indicator,
    Level,
    Milestone,
    Target,
    TargetSet,
    default_catalog_dir,
)

# The note of a milestone the catalog marks ``inferred`` without a source: said as it is.
INFERRED = "SUY-RA"
INFERRED_TEXT = (
    "Mục tiêu suy ra khi lập danh mục, chưa tìm thấy văn bản nguồn (catalog/indicators.yaml, inferred: true)"
)


class UnknownTargetSet(ValueError):
    """UnknownTargetSet: the catalog has no target set by this code; the message lists the known ones."""


def check_target_set(catalog: Catalog, code: str) -> TargetSet:
    """check_target_set returns the catalog's set ``code``, else raises UnknownTargetSet."""
    try:
        return catalog.target_set(code)
    except KeyError:
        raise UnknownTargetSet(
            f"không có bộ chỉ tiêu {code[:40]!r}: chọn một trong {', '.join(catalog.target_sets)}"
        ) from None


def set_target(indicator: Indicator, level: Level, code: str) -> Target | None:
    """set_target: the target the set ``code`` gives ``indicator`` at ``level``, as the catalog writes it."""
    return next((t for t in indicator.targets_for(level) if t.target_set == code), None)


def set_milestones(catalog: Catalog, code: str, indicator: Indicator, level: Level) -> tuple[Milestone, ...]:
    """set_milestones: the milestones the set ``code`` gives ``indicator`` at ``level`` (none: not in the set)."""
    check_target_set(catalog, code)
    target = set_target(indicator, level, code)
    return target.milestones if target else ()


def on_programme_path(catalog: Catalog, code: str) -> bool:
    """on_programme_path: True for NQ09 and the set that continues it, the ones the evaluation judges now."""
    return code == PROGRAMME_SET or check_target_set(catalog, code).continues == PROGRAMME_SET


def outcome_sets(catalog: Catalog, code: str) -> tuple[str, ...]:
    """outcome_sets: the ``milestone_outcomes.target_set`` values that may hold the set's outcomes, own first."""
    if code != PROGRAMME_SET and on_programme_path(catalog, code):
        return code, PROGRAMME_SET
    return (code,)


def set_title(catalog: Catalog, code: str) -> str:
    """set_title: the set's title as the catalog gives it (target_sets.yaml ``title_vi``)."""
    return check_target_set(catalog, code).title_vi


@lru_cache(maxsize=8)
def _sources(path: Path) -> dict:
    return (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("sources") or {}


def source_texts(directory: Path | None = None) -> dict[str, str]:
    """source_texts: the catalog's ``sources`` maps (key → document or URL) of both files, for the footnotes."""
    directory = directory or default_catalog_dir()
    texts = {**_sources(directory / INDICATORS_FILE), **_sources(directory / TARGET_SETS_FILE)}
    return {**{str(k): str(v) for k, v in texts.items()}, INFERRED: INFERRED_TEXT}
