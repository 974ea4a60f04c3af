"""target_sets: which milestones a target set (Bộ chỉ tiêu) holds, its title, and the catalog's source texts.

Until target sets are in the catalog, the only set is NQ09: the milestones due by the end of 2025, the
resolution's horizon. ``set_milestones`` is the one place that decides it; once the catalog knows
target sets it becomes ``catalog.target_set(code)``'s milestones for the target.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path

import yaml

from dxmon.catalog import INDICATORS_FILE, Catalog, Milestone, Target, default_catalog_dir

NQ09_HORIZON = date(2025, 12, 31)
# The note of a milestone the catalog marks ``inferred`` without a source: said as it is.
INFERRED = "SUY-RA"
INFERRED_TEXT = ("Mục tiêu suy ra khi lập danh mục, chưa tìm thấy văn bản nguồn "
                 "(catalog/indicators.yaml, inferred: true)")
KNOWN_SETS = ("NQ09",)


class UnknownTargetSet(ValueError):
    """UnknownTargetSet: no target set has this code; the message lists the known ones."""


def check_target_set(code: str) -> str:
    """check_target_set returns ``code`` when it names a known set, else raises UnknownTargetSet."""
    if code not in KNOWN_SETS:
        raise UnknownTargetSet(f"không có bộ chỉ tiêu {code[:40]!r}: chọn một trong {', '.join(KNOWN_SETS)}")
    return code


def set_milestones(catalog: Catalog, code: str, target: Target) -> tuple[Milestone, ...]:
    """set_milestones: the milestones of ``target`` that belong to the target set ``code``."""
    check_target_set(code)
    return tuple(m for m in target.milestones if m.deadline <= NQ09_HORIZON)


@lru_cache(maxsize=4)
def _indicators_doc(directory: Path) -> dict:
    return yaml.safe_load((directory / INDICATORS_FILE).read_text(encoding="utf-8")) or {}


def set_title(code: str, directory: Path | None = None) -> str:
    """set_title: the document the set comes from, as the catalog's programme names it."""
    check_target_set(code)
    programme = _indicators_doc(directory or default_catalog_dir()).get("programme") or {}
    return str(programme.get("name_vi") or code)


def source_texts(directory: Path | None = None) -> dict[str, str]:
    """source_texts: the catalog's ``sources`` map (key → document or URL), for the report's footnotes."""
    texts = _indicators_doc(directory or default_catalog_dir()).get("sources") or {}
    return {**{str(k): str(v) for k, v in texts.items()}, INFERRED: INFERRED_TEXT}
