"""Catalog rules beyond the schemas: codes, units (parents, validity spans, successors, history, GSO
codes), indicators (measures, cadence, acting levels, categories), target sets and targets (levels,
windows, cut-offs, milestones, baselines), and source keys.

Each rule adds ``Problem``s with the file and line of the offending item to a ``Collector``, so an
editor sees every problem in one pass. About 400 lines in one file on purpose: the rules share their
helpers and are read side by side when a new field or rule is added.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from types import MappingProxyType
from typing import Any

from dxmon.catalog.loading import Collector, Item, Located
from dxmon.catalog.model import (
    ACTING_LEVELS,
    PARENT_LEVELS,
    PROGRAMME_SET,
    UNIT_TYPES,
    Direction,
    Level,
    Measure,
    MeasuredOn,
)
from dxmon.catalog.schemas import IndicatorIn, TargetBody, TargetSetIn, UnitIn
from dxmon.contracts import CATEGORY_PATTERN as CONTRACT_CATEGORY_PATTERN

TARGET_SETS_FILE = "target_sets.yaml"
CODE_PATTERN = re.compile(r"^[A-Z0-9_-]+$")
CATEGORY_PATTERN = re.compile(CONTRACT_CATEGORY_PATTERN)  # lowercase, unlike codes


def check_code(code: str, kind: str, line: int, out: Collector) -> None:
    if not CODE_PATTERN.match(code):
        why = "contains non-ASCII characters" if not code.isascii() else "may only use A-Z, 0-9, '-' and '_'"
        out.add(line, f"{kind} code {code!r} {why} (must match {CODE_PATTERN.pattern})")


def check_duplicates(items: list[Item], kind: str, out: Collector) -> None:
    first_line: dict[str, int] = {}
    for item in items:
        code = item.model.code
        if code in first_line:
            out.add(item.line("code"), f"duplicate {kind} code {code!r} (first defined on line {first_line[code]})")
        else:
            first_line[code] = item.line("code")


def check_source_keys(node: Any, sources: Mapping[str, str], out: Collector, line: int = 1) -> None:
    """Every value under a key named ``source`` or ``*_source`` must name an entry of ``sources``."""
    if isinstance(node, Located):
        for key, value in node.items():
            key_line = node.key_lines.get(key, line)
            if isinstance(key, str) and (key == "source" or key.endswith("_source")):
                keys = [value] if isinstance(value, str) else value if isinstance(value, list) else []
                for source in keys:
                    if isinstance(source, str) and source not in sources:
                        out.add(key_line, f"unknown source key {source!r} (not in sources)")
            else:
                check_source_keys(value, sources, out, key_line)
    elif isinstance(node, list):
        for element in node:
            check_source_keys(element, sources, out, line)


def check_units(items: list[Item], out: Collector) -> None:
    """Unit rules that need more than one field: codes, parents, validity spans, successors, history, GSO."""
    by_code: dict[str, UnitIn] = {}
    for item in items:
        by_code.setdefault(item.model.code, item.model)
    for item in items:
        u: UnitIn = item.model
        label = f"unit {u.code}"
        check_code(u.code, "unit", item.line("code"), out)
        if u.type not in UNIT_TYPES[u.level]:
            allowed = ", ".join(sorted(UNIT_TYPES[u.level]))
            out.add(item.line("type"), f"{label}: type {u.type!r} is not a {u.level.value} type ({allowed})")
        span_ok = u.valid_to is None or u.valid_to >= u.valid_from
        if not span_ok:
            out.add(item.line("valid_to"), f"{label}: valid_to {u.valid_to} is before valid_from {u.valid_from}")
        _check_parent(item, by_code, span_ok, out)
        _check_successors(item, by_code, out)
        previous: date | None = None
        for index, state in enumerate(u.history):
            line = item.line("history", index)
            if previous is not None and state.until <= previous:
                out.add(line, f"{label}: history must be sorted by 'until'")
            if state.until < u.valid_from or (u.valid_to is not None and state.until >= u.valid_to):
                out.add(line, f"{label}: history 'until' {state.until} is outside the unit's validity")
            if state.type not in UNIT_TYPES[u.level]:
                out.add(line, f"{label}: history type {state.type!r} is not a {u.level.value} type")
            previous = state.until
        district = u.main_predecessor_district
        if district is not None and (district not in by_code or by_code[district].level is not Level.DISTRICT):
            out.add(
                item.line("main_predecessor_district"),
                f"{label}: main_predecessor_district {district!r} is not a known district",
            )
        elif district is not None and u.code not in {ref.code for ref in by_code[district].successors}:
            out.add(
                item.line("main_predecessor_district"),
                f"{label}: main_predecessor_district {district} does not list {u.code} among its successors",
            )
    _check_district_successors(items, by_code, out)
    _check_gso_overlaps(items, out)


def _check_district_successors(items: list[Item], by_code: Mapping[str, UnitIn], out: Collector) -> None:
    """A ceased district's successors are the units that took over its communes on its last day.

    A successor is full only when the whole district went to it (every commune entirely, and to it alone).
    """
    for item in items:
        d: UnitIn = item.model
        if d.level is not Level.DISTRICT or d.valid_to is None:
            continue
        communes = [c for c in by_code.values() if c.parent == d.code and _active(c, d.valid_to)]
        taken = {ref.code for c in communes for ref in c.successors}
        listed = {ref.code: ref for ref in d.successors}
        label, line = f"unit {d.code}", item.line("successors") if d.successors else item.line("valid_to")
        if taken and not listed:
            out.add(
                line,
                f"{label}: a district that ceased on {d.valid_to} needs successors (the units that took over its "
                "communes)",
            )
            continue
        missing, extra = sorted(taken - set(listed)), sorted(set(listed) - taken)
        if missing:
            out.add(line, f"{label}: successors lack {', '.join(missing)}, which took over its communes")
        if extra:
            out.add(line, f"{label}: successors {', '.join(extra)} took over none of its communes")
        whole = [
            code
            for code in taken
            if all(
                len(c.successors) == 1 and c.successors[0].code == code and not c.successors[0].partial
                for c in communes
            )
        ]
        for code, ref in listed.items():
            if not ref.partial and code not in whole and code in taken:
                out.add(line, f"{label}: successor {code} took over only part of the district (partial: true)")
            elif ref.partial and code in whole:
                out.add(line, f"{label}: successor {code} took over the whole district (not partial)")


def _check_parent(item: Item, by_code: Mapping[str, UnitIn], span_ok: bool, out: Collector) -> None:
    u: UnitIn = item.model
    label = f"unit {u.code}"
    line = item.line("parent")
    if u.level is Level.PROVINCE:
        if u.parent is not None:
            out.add(line, f"{label}: a province has no parent (parent: null)")
        return
    if u.parent is None:
        out.add(line, f"{label}: a {u.level.value} needs a parent")
        return
    parent = by_code.get(u.parent)
    if parent is None:
        out.add(line, f"{label}: parent {u.parent!r} is not a known unit")
        return
    if parent.level not in PARENT_LEVELS[u.level]:
        out.add(line, f"{label}: a {u.level.value} cannot have a {parent.level.value} ({u.parent}) as parent")
    # The parent must exist on every day the child does, or the hierarchy has holes.
    starts_late = parent.valid_from > u.valid_from
    ends_early = parent.valid_to is not None and (u.valid_to is None or parent.valid_to < u.valid_to)
    if span_ok and (starts_late or ends_early):
        out.add(line, f"{label}: parent {u.parent} ({_span(parent)}) is not valid over the whole of {_span(u)}")


def _check_successors(item: Item, by_code: Mapping[str, UnitIn], out: Collector) -> None:
    u: UnitIn = item.model
    label = f"unit {u.code}"
    if not u.successors:
        return
    if u.valid_to is None:
        out.add(item.line("successors"), f"{label}: has successors but no valid_to")
        return
    takeover = u.valid_to + timedelta(days=1)
    seen: set[str] = set()
    for index, ref in enumerate(u.successors):
        line = item.line("successors", index)
        successor = by_code.get(ref.code)
        if ref.code in seen:
            out.add(line, f"{label}: successor {ref.code} listed twice")
        seen.add(ref.code)
        if ref.code == u.code:
            out.add(line, f"{label}: a unit cannot succeed itself")
        elif successor is None:
            out.add(line, f"{label}: successor {ref.code!r} is not a known unit")
        elif not _active(successor, takeover):
            out.add(
                line,
                f"{label}: successor {ref.code} ({_span(successor)}) is not valid on {takeover}, the day after "
                f"{u.code} ends",
            )


def _check_gso_overlaps(items: list[Item], out: Collector) -> None:
    # GSO codes are reused by later units (a merged unit often keeps a predecessor's code), so they only
    # need to be unique among units valid at the same time.
    by_gso: dict[str, list[Item]] = {}
    for item in items:
        if item.model.gso is not None:
            by_gso.setdefault(item.model.gso, []).append(item)
    for gso, group in by_gso.items():
        for i, later in enumerate(group):
            for earlier in group[:i]:
                a, b = earlier.model, later.model
                if max(a.valid_from, b.valid_from) <= min(a.valid_to or date.max, b.valid_to or date.max):
                    out.add(
                        later.line("gso"), f"unit {b.code}: gso {gso!r} is also used by {a.code} over overlapping dates"
                    )


def _active(u: UnitIn, d: date) -> bool:
    return u.valid_from <= d and (u.valid_to is None or d <= u.valid_to)


def _span(u: UnitIn) -> str:
    return f"{u.valid_from} → {u.valid_to or 'open'}"


def check_indicators(items: list[Item], unit_codes: set[str] | None, out: Collector) -> None:
    """Indicator rules beyond the schema: codes, measures, cadence, acting levels, observation units."""
    for item in items:
        ind: IndicatorIn = item.model
        label = f"indicator {ind.code}"
        check_code(ind.code, "indicator", item.line("code"), out)
        if len(set(ind.applies_to)) != len(ind.applies_to):
            out.add(item.line("applies_to"), f"{label}: applies_to lists a level twice")
        idle = _idle_levels(ind, ind.applies_to)
        if idle:
            out.add(
                item.line("applies_to"),
                f"{label}: applies_to {idle}, which cannot act on an indicator measured on "
                f"{_MEASURED_ON_WORDS[ind.measured_on]}",
            )
        if ind.measure is Measure.RATIO:
            for part in ("numerator", "denominator"):
                if not (getattr(ind, part) or "").strip():
                    out.add(item.line("measure"), f"{label}: a ratio indicator needs a {part} description")
        if ind.measure is Measure.RANK and ind.direction is not Direction.LOWER_IS_BETTER:
            out.add(item.line("direction"), f"{label}: a rank is lower_is_better")
        if ind.cadence.grace_days < ind.cadence.timely_days:
            out.add(item.line("cadence"), f"{label}: cadence grace_days must be >= timely_days")
        if len(ind.target) > 1:
            for t_index, target in enumerate(ind.target):
                if target.applies_to is None:
                    out.add(
                        item.line("target", t_index), f"{label}: with several targets each needs its own applies_to"
                    )
        _check_categories(item, out)
        if unit_codes is not None:
            for index, obs in enumerate(ind.reference_observations):
                if obs.unit is not None and obs.unit not in unit_codes:
                    out.add(
                        item.line("reference_observations", index),
                        f"{label}: observation unit {obs.unit!r} is not a known unit",
                    )


def _check_categories(item: Item, out: Collector) -> None:
    ind: IndicatorIn = item.model
    label = f"indicator {ind.code}"
    codes = [c.code for c in ind.categories]
    if codes and ind.measure not in (Measure.RATIO, Measure.COUNT):
        # A total sums its categories: parts of ratios, or counts; a percentage or rank cannot be summed.
        out.add(item.line("categories"), f"{label}: only ratio and count indicators can have categories")
    for index, code in enumerate(codes):
        if not CATEGORY_PATTERN.match(code):
            out.add(
                item.line("categories", index), f"{label}: category code {code!r} must match {CATEGORY_PATTERN.pattern}"
            )
        if codes.index(code) != index:
            out.add(item.line("categories", index), f"{label}: category {code!r} is listed twice")
    for index, obs in enumerate(ind.reference_observations):
        if obs.category is not None and obs.category not in codes:
            out.add(
                item.line("reference_observations", index),
                f"{label}: observation category {obs.category!r} is not one of its categories",
            )


_MEASURED_ON_WORDS: Mapping[MeasuredOn, str] = MappingProxyType(
    {
        MeasuredOn.UNIT: "each unit's own work",
        MeasuredOn.PROVINCE_CATALOGUE: "the province's catalogue of procedures",
    }
)


def _idle_levels(ind: IndicatorIn, levels: Iterable[Level]) -> str:
    """The levels among ``levels`` that cannot act on ``ind`` (comma-separated; '' when all can)."""
    return ", ".join(
        sorted({level.value for level in levels} - {level.value for level in ACTING_LEVELS[ind.measured_on]})
    )


def check_target_sets(items: list[Item], out: Collector) -> None:
    """Target set rules beyond the schema: codes, windows, cut-off, continuation."""
    by_code = {item.model.code: item.model for item in items}
    for item in items:
        ts: TargetSetIn = item.model
        check_code(ts.code, "target set", item.line("code"), out)
        if ts.applies_to < ts.applies_from:
            out.add(
                item.line("applies_to"),
                f"target set {ts.code}: applies_to {ts.applies_to} is before applies_from {ts.applies_from}",
            )
        if ts.cutoff is not None and ts.cutoff < ts.applies_from:
            out.add(
                item.line("cutoff"),
                f"target set {ts.code}: cutoff {ts.cutoff} is before applies_from {ts.applies_from}",
            )
        if ts.continues is not None:
            earlier = by_code.get(ts.continues)
            if earlier is None:
                out.add(item.line("continues"), f"target set {ts.code}: continues unknown target set {ts.continues!r}")
            elif earlier.applies_to >= ts.applies_from:
                out.add(
                    item.line("continues"),
                    f"target set {ts.code}: continues {ts.continues}, which applies until "
                    f"{earlier.applies_to}, not before {ts.applies_from}",
                )


@dataclass
class _TargetRef:
    """One target wherever it is written (under an indicator, or under its set), with what checks it."""

    target: TargetBody
    indicator: IndicatorIn
    set_code: str
    item: Item  # the indicator's or the set's item, for line numbers
    loc: tuple[Any, ...]  # where the target sits inside ``item``
    out: Collector

    def line(self, *loc: Any) -> int:
        return self.item.line(*self.loc, *loc)

    @property
    def label(self) -> str:
        return f"indicator {self.indicator.code}, target set {self.set_code}"


def target_refs(
    ind_items: list[Item], set_items: list[Item], ind_out: Collector, sets_out: Collector
) -> list[_TargetRef]:
    """Every target of both files, each tied to its indicator and set; a set target on an unknown indicator is a
    problem."""
    refs = []
    for item in ind_items:
        for t_index, target in enumerate(item.model.target):
            refs.append(
                _TargetRef(target, item.model, target.target_set or PROGRAMME_SET, item, ("target", t_index), ind_out)
            )
    indicators = {item.model.code: item.model for item in ind_items}
    for item in set_items:
        for t_index, target in enumerate(item.model.targets):
            indicator = indicators.get(target.indicator)
            if indicator is None:
                sets_out.add(
                    item.line("targets", t_index, "indicator"),
                    f"target set {item.model.code}: indicator {target.indicator!r} is not in indicators.yaml",
                )
            else:
                refs.append(_TargetRef(target, indicator, item.model.code, item, ("targets", t_index), sets_out))
    return refs


def check_targets(refs: list[_TargetRef], sets: Mapping[str, TargetSetIn] | None) -> None:
    """Target rules: levels, acting levels, set (known, window, cut-off), milestones, baseline, duplicates.

    ``sets`` is None when target_sets.yaml did not load; the rules that need a set are skipped then.
    """
    claimed: dict[tuple[str, str, Level], _TargetRef] = {}
    continuing: dict[tuple[str, str, Level], _TargetRef] = {}  # (indicator, continued set, level)
    for ref in refs:
        ind, target, label = ref.indicator, ref.target, ref.label
        indicator_levels = set(ind.applies_to)
        levels = set(target.applies_to) if target.applies_to is not None else indicator_levels
        if not levels <= indicator_levels:
            extra = ", ".join(sorted(level.value for level in levels - indicator_levels))
            ref.out.add(ref.line("applies_to"), f"{label}: target applies_to {extra} but the indicator does not")
        idle = _idle_levels(ind, levels)
        if idle:
            ref.out.add(
                ref.line("applies_to") if target.applies_to is not None else ref.line(),
                f"{label}: target applies to {idle}, which cannot act on an indicator measured on "
                f"{_MEASURED_ON_WORDS[ind.measured_on]}",
            )
        for level in sorted(levels):
            first = claimed.setdefault((ind.code, ref.set_code, level), ref)
            if first is not ref:
                where = "" if first.out is not ref.out else f" (line {first.line()})"
                ref.out.add(
                    ref.line("applies_to") if target.applies_to is not None else ref.line(),
                    f"{label}: level {level.value} has more than one target in this set{where}",
                )
        target_set = None
        if sets is not None:
            target_set = sets.get(ref.set_code)
            if target_set is None:
                ref.out.add(
                    ref.line("target_set"), f"{label}: unknown target set {ref.set_code!r} (not in {TARGET_SETS_FILE})"
                )
            elif target_set.continues is not None:
                # target_for follows one continuation per level: two would make it ambiguous.
                for level in sorted(levels):
                    first = continuing.setdefault((ind.code, target_set.continues, level), ref)
                    if first is not ref:
                        ref.out.add(
                            ref.line("applies_to") if target.applies_to is not None else ref.line(),
                            f"{label}: level {level.value} is already continued from {target_set.continues} "
                            f"by set {first.set_code}",
                        )
        _check_milestones(ref, target_set)
        if target.baseline is not None:
            b_line = ref.line("baseline")
            problem = _value_problem(ind.measure, target.baseline.value)
            if problem:
                ref.out.add(b_line, f"{label}: baseline value {problem}")
            last = max(m.deadline for m in target.milestones)
            if target.baseline.date >= last:
                ref.out.add(
                    b_line, f"{label}: baseline date {target.baseline.date} is not before the last milestone ({last})"
                )


def _check_milestones(ref: _TargetRef, target_set: TargetSetIn | None) -> None:
    ind, label = ref.indicator, ref.label
    previous: date | None = None
    for m_index, milestone in enumerate(ref.target.milestones):
        m_line = ref.line("milestones", m_index)
        if previous is not None and milestone.deadline <= previous:
            ref.out.add(
                m_line,
                f"{label}: milestones must be sorted by deadline, strictly ({milestone.deadline} after {previous})",
            )
        previous = milestone.deadline
        if milestone.source is None and not milestone.inferred:
            ref.out.add(m_line, f"{label}: a milestone needs a source or inferred: true")
        problem = _value_problem(ind.measure, milestone.value)
        if problem:
            ref.out.add(m_line, f"{label}: milestone value {problem}")
        if not _comparator_fits(milestone.comparator, ind.direction):
            ref.out.add(m_line, f"{label}: comparator {milestone.comparator!r} contradicts {ind.direction.value}")
        if target_set is None:
            continue
        if not target_set.applies_from <= milestone.deadline <= target_set.applies_to:
            ref.out.add(
                m_line,
                f"{label}: milestone deadline {milestone.deadline} is outside the set's window "
                f"{target_set.applies_from} → {target_set.applies_to}",
            )
        if target_set.cutoff is not None and target_set.cutoff < milestone.deadline:
            ref.out.add(
                m_line,
                f"{label}: the set's cutoff {target_set.cutoff} is before the milestone deadline {milestone.deadline}",
            )


def _value_problem(measure: Measure, value: Any) -> str | None:
    """Why ``value`` cannot be a target/baseline of ``measure`` (None when it can)."""
    if measure is Measure.BOOLEAN:
        return None if isinstance(value, bool) else f"{value!r} must be true or false"
    if isinstance(value, bool):
        return f"{value!r} must be a number for a {measure.value} indicator"
    if measure in (Measure.PERCENT, Measure.RATIO) and not 0 <= value <= 100:
        return f"{value!r} is outside 0..100 (percent)"
    if measure is Measure.COUNT and value < 0:
        return f"{value!r} cannot be negative"
    if measure is Measure.RANK and (value < 1 or value != int(value)):
        return f"{value!r} must be a whole rank starting at 1"
    return None


def _comparator_fits(comparator: str, direction: Direction) -> bool:
    if comparator == "==":
        return True
    return comparator.startswith(">") == (direction is Direction.HIGHER_IS_BETTER)
