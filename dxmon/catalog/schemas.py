"""Input schemas: the shape of each item of the catalog's YAML files (pydantic, unknown fields refused).

These models only say what may be written; the rules between fields and items are in
``dxmon.catalog.checks``, and the immutable model built from valid input in ``dxmon.catalog.build``.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from dxmon.catalog.model import Direction, Level, Measure, MeasuredOn, Period, Pillar
from dxmon.periods import ReportingWindow


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


class SuccessorIn(_Model):
    code: str
    partial: bool = False


class StateIn(_Model):
    until: IsoDate
    name_vi: Text
    type: Text
    source: SourceKeys


class UnitIn(_Model):
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
    history: list[StateIn] = []
    successors: list[Annotated[SuccessorIn, BeforeValidator(_wrap_successor)]] = []
    successors_source: SourceKeys | None = None
    successors_inferred: bool = False
    successors_note: str | None = None
    source: SourceKeys
    inferred: bool = False
    code_inferred: bool = False
    note: str | None = None


class CadenceIn(_Model):
    period: Period
    timely_days: Annotated[int, Field(strict=True, ge=0)]
    grace_days: Annotated[int, Field(strict=True, ge=0)]
    inferred: bool
    period_inferred: bool = False
    note: str | None = None


class BaselineIn(_Model):
    value: Value
    date: IsoDate
    source: SourceKeys
    inferred: bool = False
    note: str | None = None


class MilestoneIn(_Model):
    deadline: IsoDate
    value: Value
    comparator: Literal[">=", ">", "<=", "<", "=="] = ">="
    source: SourceKeys | None = None
    inferred: bool = False
    note: str | None = None


class TargetBody(_Model):
    applies_to: list[Level] | None = None
    baseline: BaselineIn | None = None
    baseline_note: str | None = None
    milestones: Annotated[list[MilestoneIn], Field(min_length=1)]
    note: str | None = None


class TargetIn(TargetBody):
    """A target under an indicator in indicators.yaml; without ``target_set`` it is the programme's."""

    target_set: str | None = None


class SetTargetIn(TargetBody):
    """A target listed under its set in target_sets.yaml."""

    indicator: str


class TargetSetIn(_Model):
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
    targets: list[SetTargetIn] = []


class ObservationIn(BaseModel):
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


class CategoryIn(_Model):
    code: str
    name_vi: Text


class IndicatorIn(_Model):
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
    cadence: CadenceIn
    part_of: str | None = None
    note: str | None = None
    target: Annotated[list[TargetIn], BeforeValidator(_wrap_target)] = []
    categories: list[CategoryIn] = []
    reference_observations: list[ObservationIn] = []


class ProgrammeIn(_Model):
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
