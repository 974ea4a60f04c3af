"""Loading a catalog directory: read the three YAML files, check them, and build the immutable model.

``load_catalog`` returns the ``Catalog`` only when the files pass every check, else every problem
sorted by file and line (``check``).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path

from dxmon.catalog.checks import (
    TARGET_SETS_FILE,
    check_duplicates,
    check_indicators,
    check_source_keys,
    check_target_sets,
    check_targets,
    check_units,
    target_refs,
)
from dxmon.catalog.loading import Collector, Item, Located, read_header, read_yaml, validate_items
from dxmon.catalog.model import (
    PROGRAMME_SET,
    Baseline,
    Cadence,
    Catalog,
    Category,
    Indicator,
    Level,
    Milestone,
    Observation,
    Problem,
    Target,
    TargetSet,
    Unit,
    UnitState,
)
from dxmon.catalog.schemas import IndicatorIn, ProgrammeIn, TargetBody, TargetSetIn, UnitIn
from dxmon.periods import ReportingWindow

INDICATORS_FILE = "indicators.yaml"
UNITS_FILE = "units.yaml"


def default_catalog_dir() -> Path:
    """default_catalog_dir is $DX_CATALOG_DIR when set, else the repository's ``catalog/`` directory."""
    configured = os.environ.get("DX_CATALOG_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / "catalog"


def check(directory: Path | None = None) -> list[Problem]:
    """check returns every problem in the catalog at ``directory`` (sorted by file and line); [] when valid."""
    return load_catalog(directory)[1]


def load_catalog(directory: Path | None) -> tuple[Catalog | None, list[Problem]]:
    """Read, check and (when there are no problems) build the catalog at ``directory``."""
    directory = Path(directory) if directory is not None else default_catalog_dir()
    problems: list[Problem] = []

    units_out = Collector(directory / UNITS_FILE, problems)
    unit_items: list[Item] = []
    units_doc = read_yaml(directory / UNITS_FILE, units_out)
    if units_doc is not None:
        sources, raw_units = read_header(units_doc, units_out, "units", {"schema", "sources", "units"})
        unit_items = validate_items(raw_units, UnitIn, "unit", units_out, units_doc.key_lines.get("units", 1))
        check_duplicates(unit_items, "unit", units_out)
        check_units(unit_items, units_out)
        check_source_keys(units_doc.get("units"), sources, units_out)

    ind_out = Collector(directory / INDICATORS_FILE, problems)
    ind_items: list[Item] = []
    window, approval = ReportingWindow.CALENDAR, False
    ind_doc = read_yaml(directory / INDICATORS_FILE, ind_out)
    if ind_doc is not None:
        allowed = {"schema", "programme", "sources", "indicators"}
        sources, raw_indicators = read_header(ind_doc, ind_out, "indicators", allowed)
        programme = ind_doc.get("programme")
        if isinstance(programme, Located):
            programme_items = validate_items([programme], ProgrammeIn, "programme", ind_out, programme.line)
            if programme_items:
                window = programme_items[0].model.reporting_window
                approval = programme_items[0].model.approval
        elif "programme" in ind_doc:
            ind_out.add(ind_doc.key_lines["programme"], "programme must be a mapping")
        ind_items = validate_items(
            raw_indicators, IndicatorIn, "indicator", ind_out, ind_doc.key_lines.get("indicators", 1)
        )
        check_duplicates(ind_items, "indicator", ind_out)
        # Observation units are only checked against a units file that itself loaded.
        unit_codes = {item.model.code for item in unit_items} if units_doc is not None else None
        check_indicators(ind_items, unit_codes, ind_out)
        check_source_keys(ind_doc.get("programme"), sources, ind_out)
        check_source_keys(ind_doc.get("indicators"), sources, ind_out)

    sets_out = Collector(directory / TARGET_SETS_FILE, problems)
    set_items: list[Item] = []
    sets_doc = read_yaml(directory / TARGET_SETS_FILE, sets_out)
    if sets_doc is not None:
        sources, raw_sets = read_header(sets_doc, sets_out, "target_sets", {"schema", "sources", "target_sets"})
        set_items = validate_items(
            raw_sets, TargetSetIn, "target set", sets_out, sets_doc.key_lines.get("target_sets", 1)
        )
        check_duplicates(set_items, "target set", sets_out)
        check_target_sets(set_items, sets_out)
        check_source_keys(sets_doc.get("target_sets"), sources, sets_out)
    # Set codes are only checked against a target sets file that itself loaded.
    sets_in = {item.model.code: item.model for item in set_items} if sets_doc is not None else None
    check_targets(target_refs(ind_items, set_items, ind_out, sets_out), sets_in)

    problems.sort(key=lambda p: (p.file, p.line))
    if problems:
        return None, problems
    units = {item.model.code: _build_unit(item.model) for item in unit_items}
    target_sets = {item.model.code: _build_target_set(item.model) for item in set_items}
    set_targets: dict[str, list[Target]] = {}
    for item in set_items:
        for t in item.model.targets:
            set_targets.setdefault(t.indicator, []).append(_build_target(t, t.indicator, item.model.code, frozenset()))
    indicators = {
        item.model.code: _build_indicator(item.model, set_targets.get(item.model.code, []), target_sets)
        for item in ind_items
    }
    return Catalog(
        indicators=indicators, units=units, target_sets=target_sets, reporting_window=window, approval=approval
    ), []


def _build_target_set(ts: TargetSetIn) -> TargetSet:
    return TargetSet(
        code=ts.code,
        title_vi=ts.title_vi,
        document=ts.document,
        applies_from=ts.applies_from,
        applies_to=ts.applies_to,
        binding=ts.binding,
        cutoff=ts.cutoff,
        source=ts.source,
        inferred=ts.inferred,
        continues=ts.continues,
    )


def _build_unit(u: UnitIn) -> Unit:
    return Unit(
        code=u.code,
        name_vi=u.name_vi,
        level=u.level,
        type=u.type,
        parent=u.parent,
        valid_from=u.valid_from,
        valid_to=u.valid_to,
        successors=tuple(ref.code for ref in u.successors),
        partial_successors=frozenset(ref.code for ref in u.successors if ref.partial),
        gso=u.gso,
        history=tuple(UnitState(s.until, s.name_vi, s.type) for s in u.history),
    )


def _build_target(t: TargetBody, indicator: str, target_set: str, default_levels: frozenset[Level]) -> Target:
    return Target(
        indicator=indicator,
        baseline=None
        if t.baseline is None
        else Baseline(
            value=float(t.baseline.value),
            date=t.baseline.date,
            source=t.baseline.source,
            inferred=t.baseline.inferred,
        ),
        milestones=tuple(
            Milestone(
                deadline=m.deadline,
                value=float(m.value),
                comparator=m.comparator,
                source=m.source or (),
                inferred=m.inferred,
            )
            for m in sorted(t.milestones, key=lambda m: m.deadline)
        ),
        applies_to=frozenset(t.applies_to) if t.applies_to is not None else default_levels,
        target_set=target_set,
    )


def _programme_path(targets: list[Target], target_sets: Mapping[str, TargetSet]) -> tuple[Target, ...]:
    """NQ 09's targets, each continued (level by level) by the target of the set that continues NQ 09."""
    own = [t for t in targets if t.target_set == PROGRAMME_SET]
    later = [t for t in targets if target_sets[t.target_set].continues == PROGRAMME_SET]
    path: list[Target] = []
    for t in own:
        # Split the levels by the later target that continues them (None: not continued).
        groups: dict[int | None, set[Level]] = {}
        for level in t.applies_to:
            index = next((i for i, c in enumerate(later) if level in c.applies_to), None)
            groups.setdefault(index, set()).add(level)
        for index, levels in sorted(groups.items(), key=lambda g: -1 if g[0] is None else g[0]):
            extra = later[index].milestones if index is not None else ()
            path.append(dataclasses.replace(t, milestones=t.milestones + extra, applies_to=frozenset(levels)))
    covered = {level for t in own for level in t.applies_to}
    for c in later:
        if c.applies_to - covered:
            path.append(dataclasses.replace(c, applies_to=c.applies_to - covered))
    return tuple(path)


def _build_indicator(ind: IndicatorIn, set_targets: list[Target], target_sets: Mapping[str, TargetSet]) -> Indicator:
    levels = frozenset(ind.applies_to)
    own = [_build_target(t, ind.code, t.target_set or PROGRAMME_SET, levels) for t in ind.target]
    # A set target without applies_to covers the indicator's levels, like one in indicators.yaml.
    listed = [t if t.applies_to else dataclasses.replace(t, applies_to=levels) for t in set_targets]
    order = {code: n for n, code in enumerate(target_sets)}
    every = sorted([*own, *listed], key=lambda t: (target_sets[t.target_set].applies_from, order[t.target_set]))
    programme = _programme_path(every, target_sets)
    c = ind.cadence
    return Indicator(
        code=ind.code,
        pillar=ind.pillar,
        name_vi=ind.name_vi,
        name_en=ind.name_en,
        measure=ind.measure,
        direction=ind.direction,
        applies_to=levels,
        cadence=Cadence(period=c.period, timely_days=c.timely_days, grace_days=c.grace_days, inferred=c.inferred),
        target=programme[0] if programme else None,
        numerator=ind.numerator,
        denominator=ind.denominator,
        targets=programme,
        all_targets=tuple(every),
        measured_on=ind.measured_on,
        categories=tuple(Category(code=c.code, name_vi=c.name_vi) for c in ind.categories),
        observations=tuple(
            Observation(
                period_end=o.period_end,
                source=o.source,
                unit=o.unit,
                level=o.level,
                category=o.category,
                value=o.value,
                numerator=o.numerator,
                denominator=o.denominator,
                scope=o.scope,
            )
            for o in ind.reference_observations
        ),
    )
