"""catalog: the programme (indicators, target sets, targets, reporting units) loaded from ``catalog/``.

The YAML files are the source of truth. ``Catalog.load`` returns immutable objects only when the files
pass every check; ``check`` lists every problem, each with the file and line of the offending item, so
an editor can fix them all in one pass. Nothing here does I/O except reading the three YAML files.
Check a catalog directory from the shell with ``dxmon catalog check [--dir DIR]``.

The package, by concern:
    model      the public model (levels, measures, indicators, targets, units) and ``Catalog``
    loading    the YAML loader that keeps line numbers, and the per-file problem collector
    schemas    the input schemas of the YAML items (pydantic)
    checks     the rules beyond the schemas
    build      read → check → build: ``load_catalog``, ``check``, ``default_catalog_dir``
Everything public is re-exported here: ``from dxmon.catalog import Catalog, Level, ...``.
"""

from dxmon.catalog.build import INDICATORS_FILE, UNITS_FILE, check, default_catalog_dir
from dxmon.catalog.checks import CATEGORY_PATTERN, CODE_PATTERN, TARGET_SETS_FILE
from dxmon.catalog.loading import SCHEMA
from dxmon.catalog.model import (
    ACTING_LEVELS,
    PARENT_LEVELS,
    PROGRAMME_SET,
    UNIT_TYPES,
    Baseline,
    Cadence,
    Catalog,
    CatalogError,
    Category,
    Direction,
    Indicator,
    Level,
    Measure,
    MeasuredOn,
    Milestone,
    Observation,
    Period,
    Pillar,
    Problem,
    Target,
    TargetSet,
    Unit,
    UnitState,
)

__all__ = [
    "ACTING_LEVELS",
    "CATEGORY_PATTERN",
    "CODE_PATTERN",
    "INDICATORS_FILE",
    "PARENT_LEVELS",
    "PROGRAMME_SET",
    "SCHEMA",
    "TARGET_SETS_FILE",
    "UNITS_FILE",
    "UNIT_TYPES",
    "Baseline",
    "Cadence",
    "Catalog",
    "CatalogError",
    "Category",
    "Direction",
    "Indicator",
    "Level",
    "Measure",
    "MeasuredOn",
    "Milestone",
    "Observation",
    "Period",
    "Pillar",
    "Problem",
    "Target",
    "TargetSet",
    "Unit",
    "UnitState",
    "check",
    "default_catalog_dir",
]
