"""catalog: the programme (indicators, targets, reporting units) loaded from the YAML files in ``catalog/``.

The YAML files are the source of truth. ``Catalog.load`` returns immutable objects only when the files
pass every check; ``check`` lists every problem, each with the file and line of the offending item, so
an editor can fix them all in one pass. Nothing here does I/O except reading the two YAML files.

Run ``python -m dxmon.catalog check [DIR]`` to check a catalog directory from the shell.
"""

from __future__ import annotations

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
class Target:
    """Target: milestones (sorted by deadline, at least one) for the levels in ``applies_to``."""

    indicator: str
    baseline: Baseline | None
    milestones: tuple[Milestone, ...]
    applies_to: frozenset[Level]


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

    ``targets`` holds every target (their ``applies_to`` sets are disjoint); ``target`` is the first of
    them, which is the only one for all indicators whose target does not differ by level. Use
    ``target_for(level)`` when evaluating a unit.
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
    categories: tuple[Category, ...] = ()
    observations: tuple[Observation, ...] = ()

    def category(self, code: str) -> Category | None:
        """category returns the category ``code`` of this indicator, or None when it has none such."""
        return next((c for c in self.categories if c.code == code), None)

    def target_for(self, level: Level) -> Target | None:
        """target_for returns the target that applies to ``level``, or None when there is none."""
        return next((t for t in self.targets if level in t.applies_to), None)


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
    reporting_window: ReportingWindow = ReportingWindow.CALENDAR
    _children: Mapping[str, tuple[str, ...]] = field(init=False, repr=False)
    _predecessors: Mapping[str, tuple[str, ...]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Read-only views, and indexes built once so the queries stay cheap.
        units = dict(self.units)
        object.__setattr__(self, "indicators", MappingProxyType(dict(self.indicators)))
        object.__setattr__(self, "units", MappingProxyType(units))
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
        """load reads ``indicators.yaml`` and ``units.yaml`` from ``directory`` (default: ``default_catalog_dir()``).

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
        """targets returns every target of every indicator, in indicator order."""
        return [t for indicator in self.indicators.values() for t in indicator.targets]


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


class _TargetIn(_Model):
    applies_to: list[Level] | None = None
    baseline: _BaselineIn | None = None
    baseline_note: str | None = None
    milestones: Annotated[list[_MilestoneIn], Field(min_length=1)]
    note: str | None = None


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
    _check_gso_overlaps(items, out)


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
    """Indicator rules beyond the schema: codes, measures, cadence, targets, observation units."""
    for item in items:
        ind: _IndicatorIn = item.model
        label = f"indicator {ind.code}"
        _check_code(ind.code, "indicator", item.line("code"), out)
        if len(set(ind.applies_to)) != len(ind.applies_to):
            out.add(item.line("applies_to"), f"{label}: applies_to lists a level twice")
        if ind.measure is Measure.RATIO:
            for part in ("numerator", "denominator"):
                if not (getattr(ind, part) or "").strip():
                    out.add(item.line("measure"), f"{label}: a ratio indicator needs a {part} description")
        if ind.measure is Measure.RANK and ind.direction is not Direction.LOWER_IS_BETTER:
            out.add(item.line("direction"), f"{label}: a rank is lower_is_better")
        if ind.cadence.grace_days < ind.cadence.timely_days:
            out.add(item.line("cadence"), f"{label}: cadence grace_days must be >= timely_days")
        _check_targets(item, out)
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


def _check_targets(item: _Item, out: _Collector) -> None:
    ind: _IndicatorIn = item.model
    label = f"indicator {ind.code}"
    indicator_levels = set(ind.applies_to)
    claimed: dict[Level, int] = {}
    for t_index, target in enumerate(ind.target):
        t_loc: tuple[Any, ...] = ("target", t_index)
        levels = set(target.applies_to) if target.applies_to is not None else indicator_levels
        if target.applies_to is not None and not levels <= indicator_levels:
            extra = ", ".join(sorted(level.value for level in levels - indicator_levels))
            out.add(item.line(*t_loc, "applies_to"), f"{label}: target applies_to {extra} but the indicator does not")
        if len(ind.target) > 1 and target.applies_to is None:
            out.add(item.line(*t_loc), f"{label}: with several targets each needs its own applies_to")
        for level in levels:
            if level in claimed and claimed[level] != t_index:
                out.add(item.line(*t_loc, "applies_to"), f"{label}: level {level.value} has more than one target")
            claimed.setdefault(level, t_index)
        previous: date | None = None
        for m_index, milestone in enumerate(target.milestones):
            m_line = item.line(*t_loc, "milestones", m_index)
            if previous is not None and milestone.deadline <= previous:
                out.add(m_line, f"{label}: milestones must be sorted by deadline, strictly ({milestone.deadline} after {previous})")
            previous = milestone.deadline
            if milestone.source is None and not milestone.inferred:
                out.add(m_line, f"{label}: a milestone needs a source or inferred: true")
            problem = _value_problem(ind.measure, milestone.value)
            if problem:
                out.add(m_line, f"{label}: milestone value {problem}")
            if not _comparator_fits(milestone.comparator, ind.direction):
                out.add(m_line, f"{label}: comparator {milestone.comparator!r} contradicts {ind.direction.value}")
        if target.baseline is not None:
            b_line = item.line(*t_loc, "baseline")
            problem = _value_problem(ind.measure, target.baseline.value)
            if problem:
                out.add(b_line, f"{label}: baseline value {problem}")
            last = max(m.deadline for m in target.milestones)
            if target.baseline.date >= last:
                out.add(b_line, f"{label}: baseline date {target.baseline.date} is not before the last milestone ({last})")


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
    window = ReportingWindow.CALENDAR
    ind_doc = _read(directory / INDICATORS_FILE, ind_out)
    if ind_doc is not None:
        allowed = {"schema", "programme", "sources", "indicators"}
        sources, raw_indicators = _header(ind_doc, ind_out, "indicators", allowed)
        programme = ind_doc.get("programme")
        if isinstance(programme, _Located):
            programme_items = _validate_items([programme], _ProgrammeIn, "programme", ind_out, programme.line)
            if programme_items:
                window = programme_items[0].model.reporting_window
        elif "programme" in ind_doc:
            ind_out.add(ind_doc.key_lines["programme"], "programme must be a mapping")
        ind_items = _validate_items(raw_indicators, _IndicatorIn, "indicator", ind_out, ind_doc.key_lines.get("indicators", 1))
        _check_duplicates(ind_items, "indicator", ind_out)
        # Observation units are only checked against a units file that itself loaded.
        unit_codes = {item.model.code for item in unit_items} if units_doc is not None else None
        _check_indicators(ind_items, unit_codes, ind_out)
        _check_source_keys(ind_doc.get("programme"), sources, ind_out)
        _check_source_keys(ind_doc.get("indicators"), sources, ind_out)

    problems.sort(key=lambda p: (p.file, p.line))
    if problems:
        return None, problems
    units = {item.model.code: _build_unit(item.model) for item in unit_items}
    indicators = {item.model.code: _build_indicator(item.model) for item in ind_items}
    return Catalog(indicators=indicators, units=units, reporting_window=window), []


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


def _build_indicator(ind: _IndicatorIn) -> Indicator:
    levels = frozenset(ind.applies_to)
    targets = tuple(
        Target(
            indicator=ind.code,
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
            applies_to=frozenset(t.applies_to) if t.applies_to is not None else levels,
        )
        for t in ind.target
    )
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
        target=targets[0] if targets else None,
        numerator=ind.numerator,
        denominator=ind.denominator,
        targets=targets,
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
