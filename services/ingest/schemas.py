"""Schemas: what ingest answers — the 202 result and the catalog as JSON (problems: ``dxmon.service_kit``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from dxmon.catalog import Catalog


class ReportResult(BaseModel):
    event_id: str
    status: Literal["accepted", "duplicate"]


class IngestResult(BaseModel):
    """IngestResult: every report was stored by JetStream (accepted) or already had been (duplicate)."""

    accepted: int
    duplicates: int
    results: list[ReportResult]


def catalog_indicators(catalog: Catalog) -> list[dict[str, Any]]:
    return [
        {
            "code": i.code,
            "pillar": i.pillar.value,
            "name_vi": i.name_vi,
            "name_en": i.name_en,
            "measure": i.measure.value,
            "direction": i.direction.value,
            "applies_to": sorted(level.value for level in i.applies_to),
            "cadence": {
                "period": i.cadence.period.value,
                "timely_days": i.cadence.timely_days,
                "grace_days": i.cadence.grace_days,
            },
            "numerator": i.numerator,
            "denominator": i.denominator,
            # A report of an indicator with categories names one (``category``); totals sum them.
            "categories": [{"code": c.code, "name_vi": c.name_vi} for c in i.categories],
        }
        for i in sorted(catalog.indicators.values(), key=lambda i: i.code)
    ]


def catalog_units(catalog: Catalog) -> list[dict[str, Any]]:
    return [
        {
            "code": u.code,
            "name_vi": u.name_vi,
            "level": u.level.value,
            "type": u.type,
            "parent": u.parent,
            "valid_from": u.valid_from.isoformat(),
            "valid_to": u.valid_to.isoformat() if u.valid_to else None,
            "successors": list(u.successors),
        }
        for u in sorted(catalog.units.values(), key=lambda u: u.code)
    ]


def catalog_target_sets(catalog: Catalog) -> list[dict[str, Any]]:
    return [
        {
            "code": s.code,
            "title_vi": s.title_vi,
            "document": s.document,
            "applies_from": s.applies_from.isoformat(),
            "applies_to": s.applies_to.isoformat(),
            "binding": s.binding,
            "cutoff": s.cutoff.isoformat() if s.cutoff else None,
            "continues": s.continues,
        }
        for s in sorted(catalog.target_sets.values(), key=lambda s: (s.applies_from, s.code))
    ]


def catalog_targets(catalog: Catalog) -> list[dict[str, Any]]:
    return [
        {
            "indicator": t.indicator,
            "target_set": t.target_set,
            "applies_to": sorted(level.value for level in t.applies_to),
            "baseline": {"value": t.baseline.value, "date": t.baseline.date.isoformat()} if t.baseline else None,
            "milestones": [
                {"deadline": m.deadline.isoformat(), "value": m.value, "comparator": m.comparator} for m in t.milestones
            ],
        }
        for t in sorted(catalog.targets(), key=lambda t: t.indicator)
    ]
