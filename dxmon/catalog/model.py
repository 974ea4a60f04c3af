"""The catalog's public model: levels, measures, indicators, targets and target sets, units, and the
``Catalog`` that holds them with its queries over the unit hierarchy and history.

Everything here is immutable and does no I/O; ``Catalog.load`` reads and checks the files through
``dxmon.catalog.build``. At about 400 lines it stays one file on purpose: the value objects and the
``Catalog`` built from them are read together.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType

from dxmon.periods import ReportingPeriod, ReportingWindow, period_of

# The set of the programme's own targets (indicators.yaml `target:` entries without a `target_set`).
PROGRAMME_SET = "NQ09"


class Level(StrEnum):
    PROVINCE = "province"
    DEPARTMENT = "department"
    DISTRICT = "district"
    COMMUNE = "commune"


class Pillar(StrEnum):
    DIGITAL_GOVERNMENT = "digital_government"
    DIGITAL_ECONOMY = "digital_economy"
    DIGITAL_SOCIETY = "digital_society"


class Measure(StrEnum):
    RATIO = "ratio"
    PERCENT = "percent"
    COUNT = "count"
    BOOLEAN = "boolean"
    RANK = "rank"


class Direction(StrEnum):
    HIGHER_IS_BETTER = "higher_is_better"
    LOWER_IS_BETTER = "lower_is_better"


class Period(StrEnum):
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"


# Unit types allowed per level; a type outside its level's set is a data-entry slip.
UNIT_TYPES: Mapping[Level, frozenset[str]] = MappingProxyType(
    {
        Level.PROVINCE: frozenset({"tinh"}),
        Level.DEPARTMENT: frozenset({"so", "van_phong", "thanh_tra", "ban"}),
        Level.DISTRICT: frozenset({"thanh_pho", "thi_xa", "huyen"}),
        Level.COMMUNE: frozenset({"phuong", "thi_tran", "xa", "dac_khu"}),
    }
)

# Which levels a unit's parent may have.
PARENT_LEVELS: Mapping[Level, frozenset[Level]] = MappingProxyType(
    {
        Level.PROVINCE: frozenset(),
        Level.DEPARTMENT: frozenset({Level.PROVINCE}),
        Level.DISTRICT: frozenset({Level.PROVINCE}),
        Level.COMMUNE: frozenset({Level.DISTRICT, Level.PROVINCE}),
    }
)


class MeasuredOn(StrEnum):
    """What an indicator's value is measured on, which decides the levels that can act on it."""

    UNIT = "unit"  # each unit's own work (its dossiers, its staff, its territory)
    PROVINCE_CATALOGUE = "province_catalogue"  # the province's catalogue of administrative procedures


# Levels that can change an indicator's value: a target for any other level asks for what it cannot do.
ACTING_LEVELS: Mapping[MeasuredOn, frozenset[Level]] = MappingProxyType(
    {
        MeasuredOn.UNIT: frozenset(Level),
        MeasuredOn.PROVINCE_CATALOGUE: frozenset({Level.PROVINCE}),
    }
)


@dataclass(frozen=True)
class Cadence:
    """Cadence: how often a value is due, and how many days after the period end it is on time or overdue."""

    period: Period
    timely_days: int
    grace_days: int
    inferred: bool


@dataclass(frozen=True)
class Milestone:
    """Milestone: by ``deadline`` the value must satisfy ``value <comparator>`` (booleans are 1.0/0.0)."""

    deadline: date
    value: float
    comparator: str
    source: tuple[str, ...]
    inferred: bool


@dataclass(frozen=True)
class Baseline:
    """Baseline: the starting point of a target's glide path."""

    value: float
    date: date
    source: tuple[str, ...]
    inferred: bool


@dataclass(frozen=True)
class TargetSet:
    """TargetSet: the targets of one issuing document, in force from ``applies_from`` to ``applies_to``.

    ``binding`` sets oblige the province's units (the province's own documents, and national decisions
    that assign a target to provinces); the others are references (national aggregates no province
    controls), shown beside the binding ones and never alerted on. ``cutoff`` is the day (chốt số liệu)
    after which the set's outcomes are final, when the set names one. ``continues`` names the set whose
    document this one carries on past its end (NQ09-2030 is NQ 09's orientation to 2030).
    """

    code: str
    title_vi: str
    document: str
    applies_from: date
    applies_to: date
    binding: bool
    cutoff: date | None
    source: tuple[str, ...]
    inferred: bool
    continues: str | None = None

    def active_on(self, d: date) -> bool:
        """active_on is True when ``applies_from <= d <= applies_to``."""
        return self.applies_from <= d <= self.applies_to


@dataclass(frozen=True)
class Target:
    """Target: milestones (sorted by deadline, at least one) for the levels in ``applies_to``, in ``target_set``."""

    indicator: str
    baseline: Baseline | None
    milestones: tuple[Milestone, ...]
    applies_to: frozenset[Level]
    target_set: str = PROGRAMME_SET


@dataclass(frozen=True)
class Category:
    """Category: one part an indicator is disaggregated into (e.g. DG-01 by competence level)."""

    code: str
    name_vi: str


@dataclass(frozen=True)
class Observation:
    """Observation: a documentary figure from the research (``reference_observations``).

    Only those with a ``category`` (or on an indicator without categories) and a unit can be loaded as
    reports (``dxmon catalog load-observations``); the others describe a level or the whole country.
    """

    period_end: date
    source: tuple[str, ...]
    unit: str | None
    level: Level | None
    category: str | None
    value: float | None
    numerator: float | None
    denominator: float | None
    scope: str | None


@dataclass(frozen=True)
class Indicator:
    """Indicator: one measurable thing units report.

    ``targets`` is the programme's path as the evaluation reads it through ``target_for(level)``: NQ 09's
    target for each level group, continued by the milestones of the set that carries NQ 09 on to 2030
    (``TargetSet.continues``); their ``applies_to`` sets are disjoint. ``target`` is the first of them,
    the only one for all indicators whose target does not differ by level. ``all_targets`` holds the
    targets of every set as written, ordered by the set's ``applies_from``; ``targets_for(level)`` picks
    from those.
    ``measured_on`` says what the value is measured on (see ``ACTING_LEVELS``).
    """

    code: str
    pillar: Pillar
    name_vi: str
    name_en: str
    measure: Measure
    direction: Direction
    applies_to: frozenset[Level]
    cadence: Cadence
    target: Target | None
    numerator: str | None
    denominator: str | None
    targets: tuple[Target, ...] = ()
    all_targets: tuple[Target, ...] = ()
    measured_on: MeasuredOn = MeasuredOn.UNIT
    categories: tuple[Category, ...] = ()
    observations: tuple[Observation, ...] = ()

    def category(self, code: str) -> Category | None:
        """category returns the category ``code`` of this indicator, or None when it has none such."""
        return next((c for c in self.categories if c.code == code), None)

    def target_for(self, level: Level) -> Target | None:
        """target_for returns the programme's target for ``level`` (NQ 09 to 2025, then its 2030 orientation),
        or None."""
        return next((t for t in self.targets if level in t.applies_to), None)

    def targets_for(self, level: Level) -> list[Target]:
        """targets_for returns the targets of every set that apply to ``level``, ordered by set ``applies_from``."""
        return [t for t in self.all_targets if level in t.applies_to]

    def milestone_set(self, level: Level, milestone: Milestone) -> str:
        """milestone_set names the target set that gives ``milestone`` of the programme's path at ``level``."""
        return next((t.target_set for t in self.targets_for(level) if milestone in t.milestones), PROGRAMME_SET)

    def set_of(self, level: Level, target: Target, milestone: Milestone) -> str:
        """set_of names the target set that gives ``milestone`` of ``target`` at ``level``: the programme's path
        spans sets (NQ 09, then NQ09-2030), any other target belongs to its own."""
        return self.milestone_set(level, milestone) if target is self.target_for(level) else target.target_set


@dataclass(frozen=True)
class UnitState:
    """UnitState: the name and type a unit had up to and including ``until`` (before a rename)."""

    until: date
    name_vi: str
    type: str


@dataclass(frozen=True)
class Unit:
    """Unit: a reporting unit valid from ``valid_from`` to ``valid_to`` inclusive (None = still valid).

    ``successors`` took over on ``valid_to`` + 1 day; ``partial_successors`` are those that took over
    only part of this unit. ``name_vi``/``type`` are the latest; ``history`` holds earlier ones.
    """

    code: str
    name_vi: str
    level: Level
    type: str
    parent: str | None
    valid_from: date
    valid_to: date | None
    successors: tuple[str, ...]
    partial_successors: frozenset[str]
    gso: str | None
    history: tuple[UnitState, ...] = ()

    def active_on(self, d: date) -> bool:
        """active_on is True when ``valid_from <= d <= valid_to`` (an open ``valid_to`` never ends)."""
        return self.valid_from <= d and (self.valid_to is None or d <= self.valid_to)

    def name_on(self, d: date) -> str:
        """name_on returns the unit's Vietnamese name as it was on ``d``."""
        return next((s.name_vi for s in self.history if d <= s.until), self.name_vi)

    def type_on(self, d: date) -> str:
        """type_on returns the unit's type (phuong, xa, …) as it was on ``d``."""
        return next((s.type for s in self.history if d <= s.until), self.type)


@dataclass(frozen=True)
class Problem:
    """Problem: one thing wrong in a catalog file; ``str()`` gives ``file:line: message``."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class CatalogError(Exception):
    """CatalogError: the catalog failed its checks; ``problems`` lists all of them."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        shown = "\n".join(str(p) for p in self.problems[:20])
        more = f"\n… and {len(self.problems) - 20} more" if len(self.problems) > 20 else ""
        super().__init__(f"{len(self.problems)} catalog problem(s):\n{shown}{more}")


@dataclass(frozen=True, eq=False)
class Catalog:
    """Catalog: indicators and units by code (read-only), with queries over the unit hierarchy and history.

    Query methods raise KeyError for a code that is not in the catalog, so typos surface at once.
    Lists come back in catalog (file) order.
    """

    indicators: Mapping[str, Indicator]
    units: Mapping[str, Unit]
    target_sets: Mapping[str, TargetSet] = field(default_factory=dict)
    reporting_window: ReportingWindow = ReportingWindow.CALENDAR
    approval: bool = False  # programme.approval: unit-periods are approved or returned (approvals_repository)
    _children: Mapping[str, tuple[str, ...]] = field(init=False, repr=False)
    _predecessors: Mapping[str, tuple[str, ...]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Read-only views, and indexes built once so the queries stay cheap.
        units = dict(self.units)
        object.__setattr__(self, "indicators", MappingProxyType(dict(self.indicators)))
        object.__setattr__(self, "units", MappingProxyType(units))
        object.__setattr__(self, "target_sets", MappingProxyType(dict(self.target_sets)))
        children: dict[str, list[str]] = {code: [] for code in units}
        predecessors: dict[str, list[str]] = {code: [] for code in units}
        for unit in units.values():
            if unit.parent in children:
                children[unit.parent].append(unit.code)
            for successor in unit.successors:
                if successor in predecessors:
                    predecessors[successor].append(unit.code)
        object.__setattr__(self, "_children", MappingProxyType({k: tuple(v) for k, v in children.items()}))
        object.__setattr__(self, "_predecessors", MappingProxyType({k: tuple(v) for k, v in predecessors.items()}))

    @classmethod
    def load(cls, directory: Path | None = None) -> Catalog:
        """load reads ``indicators.yaml``, ``units.yaml`` and ``target_sets.yaml`` from ``directory``.

        ``directory`` defaults to ``default_catalog_dir()`` (in ``dxmon.catalog.build``).

        Raises CatalogError listing every problem when the files do not pass ``check``.
        """
        from dxmon.catalog.build import load_catalog  # build imports this module: load it on first use

        catalog, problems = load_catalog(directory)
        if problems or catalog is None:
            raise CatalogError(problems)
        return catalog

    def period_of(self, indicator: str, instant: datetime | date) -> ReportingPeriod:
        """period_of is the reporting period of ``indicator``'s cadence (and the programme's window) holding
        ``instant``."""
        return period_of(instant, self.indicators[indicator].cadence.period, self.reporting_window)

    def _unit(self, code: str) -> Unit:
        try:
            return self.units[code]
        except KeyError:
            raise KeyError(f"unit {code!r} is not in the catalog") from None

    def children(self, code: str) -> list[Unit]:
        """children returns the units whose parent is ``code``, over all time."""
        self._unit(code)
        return [self.units[c] for c in self._children[code]]

    def descendants(self, code: str) -> set[str]:
        """descendants returns the codes of every unit below ``code`` over all time (``code`` excluded)."""
        self._unit(code)
        found: set[str] = set()
        stack = list(self._children[code])
        while stack:
            child = stack.pop()
            if child not in found:
                found.add(child)
                stack.extend(self._children[child])
        return found

    def predecessors(self, code: str) -> list[str]:
        """predecessors returns the codes of units whose successors include ``code``."""
        self._unit(code)
        return list(self._predecessors[code])

    def final_successors(self, code: str) -> list[str]:
        """final_successors follows successor links from ``code`` to the units at the end of each chain.

        Those are units still valid or, when a chain ends in a unit without successors, the last known
        one. ``code`` itself is never included: a unit without successors gives an empty list.
        """
        start = self._unit(code)
        result: list[str] = []
        seen = {code}
        queue = list(start.successors)
        while queue:
            current = queue.pop(0)
            if current in seen or current not in self.units:
                continue
            seen.add(current)
            successors = self.units[current].successors
            if successors:
                queue.extend(successors)
            else:
                result.append(current)
        return result

    def units_active_on(self, d: date) -> list[Unit]:
        """units_active_on returns the units valid on day ``d``."""
        return [u for u in self.units.values() if u.active_on(d)]

    def targets(self) -> list[Target]:
        """targets returns every target of every set, in indicator order (then set ``applies_from``)."""
        return [t for indicator in self.indicators.values() for t in indicator.all_targets]

    def target_set(self, code: str) -> TargetSet:
        """target_set returns the set ``code``; KeyError when the catalog has none by that code."""
        try:
            return self.target_sets[code]
        except KeyError:
            raise KeyError(f"target set {code!r} is not in the catalog") from None

    def active_target_sets(self, day: date) -> list[TargetSet]:
        """active_target_sets returns the sets in force on ``day``, ordered by ``applies_from``."""
        return sorted((s for s in self.target_sets.values() if s.active_on(day)), key=lambda s: s.applies_from)

    def judged_targets(self, indicator: Indicator, level: Level, day: date) -> list[Target]:
        """judged_targets: the targets a unit at ``level`` answers for on ``day`` — the programme's path
        first, then those of every binding set that has begun (in set order). Reference sets are never
        judged (shown only)."""
        path = indicator.target_for(level)
        others = [
            t
            for t in indicator.targets_for(level)
            if (s := self.target_sets.get(t.target_set)) is not None
            and s.binding
            and s.applies_from <= day
            and (path is None or not set(t.milestones) <= set(path.milestones))
        ]
        return ([path] if path is not None else []) + others

    def candidate_targets(self, indicator: Indicator, level: Level, day: date) -> list[Target]:
        """candidate_targets: the targets a unit's progress on ``indicator`` may be judged against on ``day``
        (progress_current, dashboards, alerts); the evaluation judges the unit against each and shows the one
        it stands worst against (``dxmon.progress.evaluate_judged``).

        Every judged target with a milestone ahead, the nearest milestone first (the programme's path first
        on the same day): in 2026 a commune's DG-14 answers both to NQ09-2030 (100 % by 2030) and to
        CT2026-BCDTW (100 % by the end of 2026). With none ahead, one: the programme's path (its last
        outcome), else the binding set whose last milestone is the latest. ``dxmon status`` shows every
        set's line besides.
        """
        judged = self.judged_targets(indicator, level, day)
        path = indicator.target_for(level)
        ahead = [t for t in judged if t.milestones[-1].deadline >= day]
        if ahead:
            return sorted(
                ahead, key=lambda t: (next(m.deadline for m in t.milestones if m.deadline >= day), t is not path)
            )
        if judged and judged[0] is path:
            return [path]
        last = max(judged, key=lambda t: t.milestones[-1].deadline, default=None)
        return [] if last is None else [last]
