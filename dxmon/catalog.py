"""catalog: the programme (indicators, target sets, targets, reporting units) loaded from ``catalog/``.

The YAML files are the source of truth. ``Catalog.load`` returns immutable objects only when the files
pass every check; ``check`` lists every problem, each with the file and line of the offending item, so
an editor can fix them all in one pass. Nothing here does I/O except reading the three YAML files.

Run ``python -m dxmon.catalog check [DIR]`` to check a catalog directory from the shell.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from dxmon.contracts import CATEGORY_PATTERN as CONTRACT_CATEGORY_PATTERN
from dxmon.periods import ReportingPeriod, ReportingWindow, period_of

SCHEMA = "dx-catalog/1"
INDICATORS_FILE = "indicators.yaml"
UNITS_FILE = "units.yaml"
TARGET_SETS_FILE = "target_sets.yaml"
# The set of the programme's own targets (indicators.yaml `target:` entries without a `target_set`).
PROGRAMME_SET = "NQ09"
CODE_PATTERN = re.compile(r"^[A-Z0-9_-]+$")
CATEGORY_PATTERN = re.compile(CONTRACT_CATEGORY_PATTERN)  # lowercase, unlike codes


# ───────────────────────────── public model ─────────────────────────────


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
UNIT_TYPES: Mapping[Level, frozenset[str]] = MappingProxyType({
    Level.PROVINCE: frozenset({"tinh"}),
    Level.DEPARTMENT: frozenset({"so", "van_phong", "thanh_tra", "ban"}),
    Level.DISTRICT: frozenset({"thanh_pho", "thi_xa", "huyen"}),
    Level.COMMUNE: frozenset({"phuong", "thi_tran", "xa", "dac_khu"}),
})

# Which levels a unit's parent may have.
PARENT_LEVELS: Mapping[Level, frozenset[Level]] = MappingProxyType({
    Level.PROVINCE: frozenset(),
    Level.DEPARTMENT: frozenset({Level.PROVINCE}),
    Level.DISTRICT: frozenset({Level.PROVINCE}),
    Level.COMMUNE: frozenset({Level.DISTRICT, Level.PROVINCE}),
})

COMPARATORS = (">=", ">", "<=", "<", "==")


class MeasuredOn(StrEnum):
    """What an indicator's value is measured on, which decides the levels that can act on it."""

    UNIT = "unit"  # each unit's own work (its dossiers, its staff, its territory)
    PROVINCE_CATALOGUE = "province_catalogue"  # the province's catalogue of administrative procedures


# Levels that can change an indicator's value: a target for any other level asks for what it cannot do.
ACTING_LEVELS: Mapping[MeasuredOn, frozenset[Level]] = MappingProxyType({
    MeasuredOn.UNIT: frozenset(Level),
    MeasuredOn.PROVINCE_CATALOGUE: frozenset({Level.PROVINCE}),
})


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
        """target_for returns the programme's target for ``level`` (NQ 09 to 2025, then its 2030 orientation), or None."""
        return next((t for t in self.targets if level in t.applies_to), None)

    def targets_for(self, level: Level) -> list[Target]:
        """targets_for returns the targets of every set that apply to ``level``, ordered by set ``applies_from``."""
        return [t for t in self.all_targets if level in t.applies_to]


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

        ``directory`` defaults to ``default_catalog_dir()``.

        Raises CatalogError listing every problem when the files do not pass ``check``.
        """
        catalog, problems = _load(directory)
        if problems or catalog is None:
            raise CatalogError(problems)
        return catalog

    def period_of(self, indicator: str, instant: datetime | date) -> ReportingPeriod:
        """period_of is the reporting period of ``indicator``'s cadence (and the programme's window) holding ``instant``."""
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


def default_catalog_dir() -> Path:
    """default_catalog_dir is $DX_CATALOG_DIR when set, else the repository's ``catalog/`` directory."""
    configured = os.environ.get("DX_CATALOG_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[1] / "catalog"


def check(directory: Path | None = None) -> list[Problem]:
    """check returns every problem in the catalog at ``directory`` (sorted by file and line); [] when valid."""
    return _load(directory)[1]


# ───────────────────────────── YAML with line numbers ─────────────────────────────


class _Located(dict):
    """A YAML mapping that remembers its own start line and the line of each key (1-based)."""

    line: int = 1
    key_lines: dict[Any, int]


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that builds _Located mappings and records duplicate keys instead of silently keeping the last."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicate_keys: list[tuple[int, Any]] = []


def _construct_located_mapping(loader: _LineLoader, node: yaml.MappingNode) -> _Located:
    loader.flatten_mapping(node)
    mapping = _Located()
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in mapping:
            loader.duplicate_keys.append((key_node.start_mark.line + 1, key))
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.key_lines[key] = key_node.start_mark.line + 1
    return mapping


def _construct_timestamp(loader: _LineLoader, node: yaml.ScalarNode) -> Any:
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError:
        # An impossible date such as 2022-13-01: keep the text so the schema reports it with its line.
        return loader.construct_scalar(node)


_LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_located_mapping)
_LineLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)


def _line_of(raw: Any, loc: Iterable[Any], default: int) -> int:
    """Line of the deepest node along ``loc`` (a pydantic error location) inside the raw YAML tree."""
    line = default
    node = raw
    for key in loc:
        if isinstance(node, list) and isinstance(key, int):
            if not 0 <= key < len(node):
                break
            node = node[key]
        elif isinstance(node, _Located) and key in node:
            line = node.key_lines.get(key, line)
            node = node[key]
        elif isinstance(key, int):
            continue  # a single mapping that the model wrapped into a one-item list
        else:
            break
        if isinstance(node, _Located):
            line = node.line
    return line


# ───────────────────────────── schema (pydantic) ─────────────────────────────


def _to_date(value: Any) -> Any:
    # YAML gives date objects for unquoted ISO dates; accept quoted ones too, but never datetimes or numbers.
    if isinstance(value, datetime):
        raise ValueError("expected a date (YYYY-MM-DD), got a date and time")
    if isinstance(value, date):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(f"expected a date (YYYY-MM-DD), got {value!r}")


def _to_tuple(value: Any) -> Any:
    return (value,) if isinstance(value, str) else value


def _number_or_bool(value: Any) -> Any:
    if isinstance(value, bool | int | float) and value == value and value not in (float("inf"), float("-inf")):
        return value
    raise ValueError(f"expected a number or true/false, got {value!r}")


def _wrap_successor(value: Any) -> Any:
    return {"code": value} if isinstance(value, str) else value


def _wrap_target(value: Any) -> Any:
    return [value] if isinstance(value, dict) else value


IsoDate = Annotated[date, BeforeValidator(_to_date)]
SourceKeys = Annotated[tuple[str, ...], BeforeValidator(_to_tuple), Field(min_length=1)]
Value = Annotated[Any, AfterValidator(_number_or_bool)]
Text = Annotated[str, Field(min_length=1)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _SuccessorIn(_Model):
    code: str
    partial: bool = False


class _StateIn(_Model):
    until: IsoDate
    name_vi: Text
    type: Text
    source: SourceKeys


class _UnitIn(_Model):
    code: str
    name_vi: Text
    level: Level
    type: Text
    parent: str | None
    valid_from: IsoDate
    valid_to: IsoDate | None
    gso: str | None = None
    gso_inferred: bool = False
    gso_note: str | None = None
    tms: str | None = None
    main_predecessor_district: str | None = None
    history: list[_StateIn] = []
    successors: list[Annotated[_SuccessorIn, BeforeValidator(_wrap_successor)]] = []
    successors_source: SourceKeys | None = None
    successors_inferred: bool = False
    successors_note: str | None = None
    source: SourceKeys
    inferred: bool = False
    code_inferred: bool = False
    note: str | None = None


class _CadenceIn(_Model):
    period: Period
    timely_days: Annotated[int, Field(strict=True, ge=0)]
    grace_days: Annotated[int, Field(strict=True, ge=0)]
    inferred: bool
    period_inferred: bool = False
    note: str | None = None


class _BaselineIn(_Model):
    value: Value
    date: IsoDate
    source: SourceKeys
    inferred: bool = False
    note: str | None = None


class _MilestoneIn(_Model):
    deadline: IsoDate
    value: Value
    comparator: Literal[">=", ">", "<=", "<", "=="] = ">="
    source: SourceKeys | None = None
    inferred: bool = False
    note: str | None = None


class _TargetBody(_Model):
    applies_to: list[Level] | None = None
    baseline: _BaselineIn | None = None
    baseline_note: str | None = None
    milestones: Annotated[list[_MilestoneIn], Field(min_length=1)]
    note: str | None = None


class _TargetIn(_TargetBody):
    """A target under an indicator in indicators.yaml; without ``target_set`` it is the programme's."""

    target_set: str | None = None


class _SetTargetIn(_TargetBody):
    """A target listed under its set in target_sets.yaml."""

    indicator: str


class _TargetSetIn(_Model):
    code: str
    title_vi: Text
    document: Text
    issued_by: str | None = None
    applies_from: IsoDate
    applies_to: IsoDate
    binding: bool
    cutoff: IsoDate | None = None
    continues: str | None = None
    source: SourceKeys
    inferred: bool = False
    note: str | None = None
    targets: list[_SetTargetIn] = []


class _ObservationIn(BaseModel):
    # Documentary figures from the research: free-form, but dates, sources, units and figures are still checked.
    model_config = ConfigDict(extra="allow", frozen=True)
    period_end: IsoDate
    source: SourceKeys
    unit: str | None = None
    level: Level | None = None
    category: str | None = None
    scope: str | None = None
    value: Annotated[float, Field(allow_inf_nan=False)] | None = None
    numerator: Annotated[float, Field(allow_inf_nan=False, ge=0)] | None = None
    denominator: Annotated[float, Field(allow_inf_nan=False, gt=0)] | None = None


class _CategoryIn(_Model):
    code: str
    name_vi: Text


class _IndicatorIn(_Model):
    code: str
    pillar: Pillar
    name_vi: Text
    name_en: Text
    measure: Measure
    direction: Direction
    applies_to: Annotated[list[Level], Field(min_length=1)]
    numerator: str | None = None
    denominator: str | None = None
    definition_source: SourceKeys | None = None
    definition_inferred: bool = False
    nq09_link: Literal["confirmed", "implementing_plan", "national", "none"]
    measured_on: MeasuredOn = MeasuredOn.UNIT
    cadence: _CadenceIn
    part_of: str | None = None
    note: str | None = None
    target: Annotated[list[_TargetIn], BeforeValidator(_wrap_target)] = []
    categories: list[_CategoryIn] = []
    reference_observations: list[_ObservationIn] = []


class _ProgrammeIn(_Model):
    code: Text
    name_vi: Text
    issued: IsoDate
    counts: dict[str, Any]
    review_2024_03_19: dict[str, Any] | None = None
    implementing_documents: list[dict[str, Any]] = []
    # Nghị định 09/2019's window (15th → 14th) or calendar periods; see dxmon/periods.py.
    reporting_window: ReportingWindow = ReportingWindow.CALENDAR
    # DHIS2-style data approval of each unit's periods (dxmon/store/approvals_repository.py).
    approval: bool = False
    note: str | None = None


# ───────────────────────────── checking ─────────────────────────────


@dataclass
class _Item:
    """A validated list item together with its raw YAML (for line numbers)."""

    model: Any
    raw: _Located

    def line(self, *loc: Any) -> int:
        return _line_of(self.raw, loc, self.raw.line)


class _Collector:
    """Collects problems for one file."""

    def __init__(self, path: Path, problems: list[Problem]) -> None:
        self.file = str(path)
        self.problems = problems

    def add(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.file, line, message))


def _read(path: Path, out: _Collector) -> _Located | None:
    """Parse one YAML file; report unreadable files, syntax errors and duplicate keys."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        out.add(1, "file not found")
        return None
    except (OSError, UnicodeDecodeError) as exc:
        out.add(1, f"cannot read file: {exc}")
        return None
    loader = _LineLoader(text)
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else 1
        out.add(line, f"YAML syntax error: {getattr(exc, 'problem', None) or exc}")
        return None
    finally:
        loader.dispose()
    for line, key in loader.duplicate_keys:
        out.add(line, f"duplicate key {key!r} in the same mapping")
    if not isinstance(data, _Located):
        out.add(1, "expected a mapping at the top level (schema, sources, …)")
        return None
    return data


def _header(doc: _Located, out: _Collector, list_key: str, allowed: set[str]) -> tuple[dict[str, str], list[Any]]:
    """Check the top-level keys; return the sources map and the raw item list."""
    for key in doc:
        if key not in allowed:
            out.add(doc.key_lines[key], f"unknown top-level field {key!r}")
    for key in sorted(allowed):
        if key not in doc:
            out.add(1, f"missing top-level field {key!r}")
    if "schema" in doc and doc["schema"] != SCHEMA:
        out.add(doc.key_lines["schema"], f"schema must be {SCHEMA!r}, got {doc['schema']!r}")
    sources: dict[str, str] = {}
    raw_sources = doc.get("sources")
    if isinstance(raw_sources, _Located):
        for key, value in raw_sources.items():
            if not isinstance(key, str) or not isinstance(value, str) or not value.strip():
                out.add(raw_sources.key_lines[key], f"source {key!r} must map a key to a non-empty description")
            else:
                sources[key] = value
    elif "sources" in doc:
        out.add(doc.key_lines["sources"], "sources must be a mapping of key → URL/description")
    items = doc.get(list_key, [])
    if not isinstance(items, list):
        out.add(doc.key_lines[list_key], f"{list_key} must be a list")
        items = []
    return sources, items


def _validate_items(raw_items: list[Any], model: type[BaseModel], kind: str, out: _Collector, default_line: int) -> list[_Item]:
    """Validate each list item on its own, so one bad item does not hide the problems of the others."""
    items = []
    for index, raw in enumerate(raw_items):
        if not isinstance(raw, _Located):
            out.add(default_line, f"{kind} #{index + 1}: expected a mapping, got {raw!r}")
            continue
        label = f"{kind} {raw['code']}" if isinstance(raw.get("code"), str) else f"{kind} #{index + 1}"
        try:
            items.append(_Item(model.model_validate(raw), raw))
        except ValidationError as exc:
            for error in exc.errors():
                out.add(_line_of(raw, error["loc"], raw.line), f"{label}: {_describe(error)}")
    return items


def _describe(error: Mapping[str, Any]) -> str:
    loc = [str(part) for part in error["loc"] if not isinstance(part, int)]
    where = ".".join(loc)
    if error["type"] == "missing":
        return f"missing field {where!r}"
    if error["type"] == "extra_forbidden":
        return f"unknown field {where!r}"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] in ("enum", "literal_error"):
        message += f" (got {error['input']!r})"
    return f"{where}: {message}" if where else message


def _check_code(code: str, kind: str, line: int, out: _Collector) -> None:
    if not CODE_PATTERN.match(code):
        why = "contains non-ASCII characters" if not code.isascii() else "may only use A-Z, 0-9, '-' and '_'"
        out.add(line, f"{kind} code {code!r} {why} (must match {CODE_PATTERN.pattern})")


def _check_duplicates(items: list[_Item], kind: str, out: _Collector) -> None:
    first_line: dict[str, int] = {}
    for item in items:
        code = item.model.code
        if code in first_line:
            out.add(item.line("code"), f"duplicate {kind} code {code!r} (first defined on line {first_line[code]})")
        else:
            first_line[code] = item.line("code")


def _check_source_keys(node: Any, sources: Mapping[str, str], out: _Collector, line: int = 1) -> None:
    """Every value under a key named ``source`` or ``*_source`` must name an entry of ``sources``."""
    if isinstance(node, _Located):
        for key, value in node.items():
            key_line = node.key_lines.get(key, line)
            if isinstance(key, str) and (key == "source" or key.endswith("_source")):
                keys = [value] if isinstance(value, str) else value if isinstance(value, list) else []
                for source in keys:
                    if isinstance(source, str) and source not in sources:
                        out.add(key_line, f"unknown source key {source!r} (not in sources)")
            else:
                _check_source_keys(value, sources, out, key_line)
    elif isinstance(node, list):
        for element in node:
            _check_source_keys(element, sources, out, line)


def _check_units(items: list[_Item], out: _Collector) -> None:
    """Unit rules that need more than one field: codes, parents, validity spans, successors, history, GSO."""
    by_code: dict[str, _UnitIn] = {}
    for item in items:
        by_code.setdefault(item.model.code, item.model)
    for item in items:
        u: _UnitIn = item.model
        label = f"unit {u.code}"
        _check_code(u.code, "unit", item.line("code"), out)
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
            out.add(item.line("main_predecessor_district"), f"{label}: main_predecessor_district {district!r} is not a known district")
        elif district is not None and u.code not in {ref.code for ref in by_code[district].successors}:
            out.add(item.line("main_predecessor_district"), f"{label}: main_predecessor_district {district} does not list {u.code} among its successors")
    _check_district_successors(items, by_code, out)
    _check_gso_overlaps(items, out)


def _check_district_successors(items: list[_Item], by_code: Mapping[str, _UnitIn], out: _Collector) -> None:
    """A ceased district's successors are the units that took over its communes on its last day.

    A successor is full only when the whole district went to it (every commune entirely, and to it alone).
    """
    for item in items:
        d: _UnitIn = item.model
        if d.level is not Level.DISTRICT or d.valid_to is None:
            continue
        communes = [c for c in by_code.values() if c.parent == d.code and _active(c, d.valid_to)]
        taken = {ref.code for c in communes for ref in c.successors}
        listed = {ref.code: ref for ref in d.successors}
        label, line = f"unit {d.code}", item.line("successors") if d.successors else item.line("valid_to")
        if taken and not listed:
            out.add(line, f"{label}: a district that ceased on {d.valid_to} needs successors (the units that took over its communes)")
            continue
        missing, extra = sorted(taken - set(listed)), sorted(set(listed) - taken)
        if missing:
            out.add(line, f"{label}: successors lack {', '.join(missing)}, which took over its communes")
        if extra:
            out.add(line, f"{label}: successors {', '.join(extra)} took over none of its communes")
        whole = [code for code in taken if all(
            len(c.successors) == 1 and c.successors[0].code == code and not c.successors[0].partial for c in communes)]
        for code, ref in listed.items():
            if not ref.partial and code not in whole and code in taken:
                out.add(line, f"{label}: successor {code} took over only part of the district (partial: true)")
            elif ref.partial and code in whole:
                out.add(line, f"{label}: successor {code} took over the whole district (not partial)")


def _check_parent(item: _Item, by_code: Mapping[str, _UnitIn], span_ok: bool, out: _Collector) -> None:
    u: _UnitIn = item.model
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


def _check_successors(item: _Item, by_code: Mapping[str, _UnitIn], out: _Collector) -> None:
    u: _UnitIn = item.model
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
            out.add(line, f"{label}: successor {ref.code} ({_span(successor)}) is not valid on {takeover}, the day after {u.code} ends")


def _check_gso_overlaps(items: list[_Item], out: _Collector) -> None:
    # GSO codes are reused by later units (a merged unit often keeps a predecessor's code), so they only
    # need to be unique among units valid at the same time.
    by_gso: dict[str, list[_Item]] = {}
    for item in items:
        if item.model.gso is not None:
            by_gso.setdefault(item.model.gso, []).append(item)
    for gso, group in by_gso.items():
        for i, later in enumerate(group):
            for earlier in group[:i]:
                a, b = earlier.model, later.model
                if max(a.valid_from, b.valid_from) <= min(a.valid_to or date.max, b.valid_to or date.max):
                    out.add(later.line("gso"), f"unit {b.code}: gso {gso!r} is also used by {a.code} over overlapping dates")


def _active(u: _UnitIn, d: date) -> bool:
    return u.valid_from <= d and (u.valid_to is None or d <= u.valid_to)


def _span(u: _UnitIn) -> str:
    return f"{u.valid_from} → {u.valid_to or 'open'}"


def _check_indicators(items: list[_Item], unit_codes: set[str] | None, out: _Collector) -> None:
    """Indicator rules beyond the schema: codes, measures, cadence, acting levels, observation units."""
    for item in items:
        ind: _IndicatorIn = item.model
        label = f"indicator {ind.code}"
        _check_code(ind.code, "indicator", item.line("code"), out)
        if len(set(ind.applies_to)) != len(ind.applies_to):
            out.add(item.line("applies_to"), f"{label}: applies_to lists a level twice")
        idle = _idle_levels(ind, ind.applies_to)
        if idle:
            out.add(item.line("applies_to"), f"{label}: applies_to {idle}, which cannot act on an indicator measured on {_MEASURED_ON_WORDS[ind.measured_on]}")
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
                    out.add(item.line("target", t_index), f"{label}: with several targets each needs its own applies_to")
        _check_categories(item, out)
        if unit_codes is not None:
            for index, obs in enumerate(ind.reference_observations):
                if obs.unit is not None and obs.unit not in unit_codes:
                    out.add(item.line("reference_observations", index), f"{label}: observation unit {obs.unit!r} is not a known unit")


def _check_categories(item: _Item, out: _Collector) -> None:
    ind: _IndicatorIn = item.model
    label = f"indicator {ind.code}"
    codes = [c.code for c in ind.categories]
    if codes and ind.measure not in (Measure.RATIO, Measure.COUNT):
        # A total sums its categories: parts of ratios, or counts; a percentage or rank cannot be summed.
        out.add(item.line("categories"), f"{label}: only ratio and count indicators can have categories")
    for index, code in enumerate(codes):
        if not CATEGORY_PATTERN.match(code):
            out.add(item.line("categories", index), f"{label}: category code {code!r} must match {CATEGORY_PATTERN.pattern}")
        if codes.index(code) != index:
            out.add(item.line("categories", index), f"{label}: category {code!r} is listed twice")
    for index, obs in enumerate(ind.reference_observations):
        if obs.category is not None and obs.category not in codes:
            out.add(item.line("reference_observations", index), f"{label}: observation category {obs.category!r} is not one of its categories")


_MEASURED_ON_WORDS: Mapping[MeasuredOn, str] = MappingProxyType({
    MeasuredOn.UNIT: "each unit's own work",
    MeasuredOn.PROVINCE_CATALOGUE: "the province's catalogue of procedures",
})


def _idle_levels(ind: _IndicatorIn, levels: Iterable[Level]) -> str:
    """The levels among ``levels`` that cannot act on ``ind`` (comma-separated; '' when all can)."""
    return ", ".join(sorted({level.value for level in levels} - {level.value for level in ACTING_LEVELS[ind.measured_on]}))


def _check_target_sets(items: list[_Item], out: _Collector) -> None:
    """Target set rules beyond the schema: codes, windows, cut-off, continuation."""
    by_code = {item.model.code: item.model for item in items}
    for item in items:
        ts: _TargetSetIn = item.model
        _check_code(ts.code, "target set", item.line("code"), out)
        if ts.applies_to < ts.applies_from:
            out.add(item.line("applies_to"), f"target set {ts.code}: applies_to {ts.applies_to} is before applies_from {ts.applies_from}")
        if ts.cutoff is not None and ts.cutoff < ts.applies_from:
            out.add(item.line("cutoff"), f"target set {ts.code}: cutoff {ts.cutoff} is before applies_from {ts.applies_from}")
        if ts.continues is not None:
            earlier = by_code.get(ts.continues)
            if earlier is None:
                out.add(item.line("continues"), f"target set {ts.code}: continues unknown target set {ts.continues!r}")
            elif earlier.applies_to >= ts.applies_from:
                out.add(item.line("continues"), f"target set {ts.code}: continues {ts.continues}, which applies until "
                                                f"{earlier.applies_to}, not before {ts.applies_from}")


@dataclass
class _TargetRef:
    """One target wherever it is written (under an indicator, or under its set), with what checks it."""

    target: _TargetBody
    indicator: _IndicatorIn
    set_code: str
    item: _Item  # the indicator's or the set's item, for line numbers
    loc: tuple[Any, ...]  # where the target sits inside ``item``
    out: _Collector

    def line(self, *loc: Any) -> int:
        return self.item.line(*self.loc, *loc)

    @property
    def label(self) -> str:
        return f"indicator {self.indicator.code}, target set {self.set_code}"


def _target_refs(ind_items: list[_Item], set_items: list[_Item], ind_out: _Collector, sets_out: _Collector) -> list[_TargetRef]:
    """Every target of both files, each tied to its indicator and set; a set target on an unknown indicator is a problem."""
    refs = []
    for item in ind_items:
        for t_index, target in enumerate(item.model.target):
            refs.append(_TargetRef(target, item.model, target.target_set or PROGRAMME_SET, item, ("target", t_index), ind_out))
    indicators = {item.model.code: item.model for item in ind_items}
    for item in set_items:
        for t_index, target in enumerate(item.model.targets):
            indicator = indicators.get(target.indicator)
            if indicator is None:
                sets_out.add(item.line("targets", t_index, "indicator"),
                             f"target set {item.model.code}: indicator {target.indicator!r} is not in indicators.yaml")
            else:
                refs.append(_TargetRef(target, indicator, item.model.code, item, ("targets", t_index), sets_out))
    return refs


def _check_targets(refs: list[_TargetRef], sets: Mapping[str, _TargetSetIn] | None) -> None:
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
            ref.out.add(ref.line("applies_to") if target.applies_to is not None else ref.line(),
                        f"{label}: target applies to {idle}, which cannot act on an indicator measured on {_MEASURED_ON_WORDS[ind.measured_on]}")
        for level in sorted(levels):
            first = claimed.setdefault((ind.code, ref.set_code, level), ref)
            if first is not ref:
                where = "" if first.out is not ref.out else f" (line {first.line()})"
                ref.out.add(ref.line("applies_to") if target.applies_to is not None else ref.line(),
                            f"{label}: level {level.value} has more than one target in this set{where}")
        target_set = None
        if sets is not None:
            target_set = sets.get(ref.set_code)
            if target_set is None:
                ref.out.add(ref.line("target_set"), f"{label}: unknown target set {ref.set_code!r} (not in {TARGET_SETS_FILE})")
            elif target_set.continues is not None:
                # target_for follows one continuation per level: two would make it ambiguous.
                for level in sorted(levels):
                    first = continuing.setdefault((ind.code, target_set.continues, level), ref)
                    if first is not ref:
                        ref.out.add(ref.line("applies_to") if target.applies_to is not None else ref.line(),
                                    f"{label}: level {level.value} is already continued from {target_set.continues} "
                                    f"by set {first.set_code}")
        _check_milestones(ref, target_set)
        if target.baseline is not None:
            b_line = ref.line("baseline")
            problem = _value_problem(ind.measure, target.baseline.value)
            if problem:
                ref.out.add(b_line, f"{label}: baseline value {problem}")
            last = max(m.deadline for m in target.milestones)
            if target.baseline.date >= last:
                ref.out.add(b_line, f"{label}: baseline date {target.baseline.date} is not before the last milestone ({last})")


def _check_milestones(ref: _TargetRef, target_set: _TargetSetIn | None) -> None:
    ind, label = ref.indicator, ref.label
    previous: date | None = None
    for m_index, milestone in enumerate(ref.target.milestones):
        m_line = ref.line("milestones", m_index)
        if previous is not None and milestone.deadline <= previous:
            ref.out.add(m_line, f"{label}: milestones must be sorted by deadline, strictly ({milestone.deadline} after {previous})")
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
            ref.out.add(m_line, f"{label}: milestone deadline {milestone.deadline} is outside the set's window "
                                f"{target_set.applies_from} → {target_set.applies_to}")
        if target_set.cutoff is not None and target_set.cutoff < milestone.deadline:
            ref.out.add(m_line, f"{label}: the set's cutoff {target_set.cutoff} is before the milestone deadline {milestone.deadline}")


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


# ───────────────────────────── building ─────────────────────────────


def _load(directory: Path | None) -> tuple[Catalog | None, list[Problem]]:
    """Read, check and (when there are no problems) build the catalog at ``directory``."""
    directory = Path(directory) if directory is not None else default_catalog_dir()
    problems: list[Problem] = []

    units_out = _Collector(directory / UNITS_FILE, problems)
    unit_items: list[_Item] = []
    units_doc = _read(directory / UNITS_FILE, units_out)
    if units_doc is not None:
        sources, raw_units = _header(units_doc, units_out, "units", {"schema", "sources", "units"})
        unit_items = _validate_items(raw_units, _UnitIn, "unit", units_out, units_doc.key_lines.get("units", 1))
        _check_duplicates(unit_items, "unit", units_out)
        _check_units(unit_items, units_out)
        _check_source_keys(units_doc.get("units"), sources, units_out)

    ind_out = _Collector(directory / INDICATORS_FILE, problems)
    ind_items: list[_Item] = []
    window, approval = ReportingWindow.CALENDAR, False
    ind_doc = _read(directory / INDICATORS_FILE, ind_out)
    if ind_doc is not None:
        allowed = {"schema", "programme", "sources", "indicators"}
        sources, raw_indicators = _header(ind_doc, ind_out, "indicators", allowed)
        programme = ind_doc.get("programme")
        if isinstance(programme, _Located):
            programme_items = _validate_items([programme], _ProgrammeIn, "programme", ind_out, programme.line)
            if programme_items:
                window = programme_items[0].model.reporting_window
                approval = programme_items[0].model.approval
        elif "programme" in ind_doc:
            ind_out.add(ind_doc.key_lines["programme"], "programme must be a mapping")
        ind_items = _validate_items(raw_indicators, _IndicatorIn, "indicator", ind_out, ind_doc.key_lines.get("indicators", 1))
        _check_duplicates(ind_items, "indicator", ind_out)
        # Observation units are only checked against a units file that itself loaded.
        unit_codes = {item.model.code for item in unit_items} if units_doc is not None else None
        _check_indicators(ind_items, unit_codes, ind_out)
        _check_source_keys(ind_doc.get("programme"), sources, ind_out)
        _check_source_keys(ind_doc.get("indicators"), sources, ind_out)

    sets_out = _Collector(directory / TARGET_SETS_FILE, problems)
    set_items: list[_Item] = []
    sets_doc = _read(directory / TARGET_SETS_FILE, sets_out)
    if sets_doc is not None:
        sources, raw_sets = _header(sets_doc, sets_out, "target_sets", {"schema", "sources", "target_sets"})
        set_items = _validate_items(raw_sets, _TargetSetIn, "target set", sets_out, sets_doc.key_lines.get("target_sets", 1))
        _check_duplicates(set_items, "target set", sets_out)
        _check_target_sets(set_items, sets_out)
        _check_source_keys(sets_doc.get("target_sets"), sources, sets_out)
    # Set codes are only checked against a target sets file that itself loaded.
    sets_in = {item.model.code: item.model for item in set_items} if sets_doc is not None else None
    _check_targets(_target_refs(ind_items, set_items, ind_out, sets_out), sets_in)

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
    return Catalog(indicators=indicators, units=units, target_sets=target_sets, reporting_window=window,
                   approval=approval), []


def _build_target_set(ts: _TargetSetIn) -> TargetSet:
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


def _build_unit(u: _UnitIn) -> Unit:
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


def _build_target(t: _TargetBody, indicator: str, target_set: str, default_levels: frozenset[Level]) -> Target:
    return Target(
        indicator=indicator,
        baseline=None if t.baseline is None else Baseline(
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


def _build_indicator(ind: _IndicatorIn, set_targets: list[Target], target_sets: Mapping[str, TargetSet]) -> Indicator:
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
            Observation(period_end=o.period_end, source=o.source, unit=o.unit, level=o.level, category=o.category,
                        value=o.value, numerator=o.numerator, denominator=o.denominator, scope=o.scope)
            for o in ind.reference_observations
        ),
    )


def _main(argv: list[str]) -> int:
    """Command-line entry: ``python -m dxmon.catalog check [DIR]``; exit status 1 when there are problems."""
    if not argv or argv[0] != "check" or len(argv) > 2:
        print("usage: python -m dxmon.catalog check [DIR]", file=sys.stderr)
        return 2
    directory = Path(argv[1]) if len(argv) == 2 else None
    problems = check(directory)
    for problem in problems:
        print(problem)
    shown = directory or default_catalog_dir()
    print(f"{shown}: {len(problems)} problem(s)" if problems else f"{shown}: catalog OK", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
