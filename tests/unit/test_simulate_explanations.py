"""The demo's lagging indicators carry an explanation (Nguyên nhân, giải pháp); nothing else does."""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from datetime import date

from dxmon.catalog import Catalog
from dxmon.contracts import ReportIn
from dxmon.simulate import EXPLANATIONS, generate, lagging, profile_of

START, END, SEED = date(2025, 1, 1), date(2025, 12, 31), 7


def test_only_lagging_indicators_are_explained_each_with_one_reason(catalog: Catalog) -> None:
    simulated = generate(catalog, START, END, seed=SEED)
    reasons: dict[tuple[str, str], set[str]] = defaultdict(set)
    lagging_pairs = set()
    for unit in catalog.units.values():
        applicable = [i for i in catalog.indicators.values() if unit.level in i.applies_to]
        lagging_pairs |= {
            (unit.code, code) for code in lagging(unit, applicable, profile_of(unit.code, SEED), SEED, END)
        }
    for s in simulated:
        explanation = s.body.get("explanation")
        assert (explanation is not None) == ((s.unit, s.indicator) in lagging_pairs), (s.unit, s.indicator)
        if explanation is not None:
            reasons[(s.unit, s.indicator)].add(explanation)
            assert ReportIn.model_validate(s.body).explanation == explanation  # already as the contract stores it
    assert reasons and all(len(texts) == 1 for texts in reasons.values())
    used = set().union(*reasons.values())
    assert len(used) >= 3 and used <= set(EXPLANATIONS)  # the demo shows more than one reason
    assert all(unicodedata.is_normalized("NFC", text) for text in EXPLANATIONS)
