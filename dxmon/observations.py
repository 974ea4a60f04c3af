"""Observations: the catalog's seed figures (``reference_observations`` that name a ``category``) as reports.

``dxmon catalog load-observations`` publishes them to DX_REPORTS the way ingest publishes a report
(subject ``dx.reports.v1.<unit>.<indicator>``, the same ``Nats-Msg-Id``, PubAck awaited) after the
same catalog rules, so the aggregator stores them like any agency's report. Event ids are derived
from the content (uuid5), so running the command again stores nothing twice: within JetStream's
duplicate window the stream answers "duplicate"; later the aggregator recognises the same
(agency, event id, content) and stores nothing.

Which observations: those with a ``category`` (the unit defaults to the province, e.g. DG-01's
2024 figures by competence level: 628/1000, 97/200, 31/78 → total 756/1278). The others stay
documentary (a level's or the country's figure is no unit's report).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dxmon.catalog import Catalog, Level, Measure
from dxmon.contracts import ReportIn, ReportReceived, end_of_local_day, message_id, report_subject
from dxmon.problems import Issue
from dxmon.validation import check_report

AGENCY = "dxmon catalog"
KEY_ID = "catalog-observations"
# Fixed namespace: the same figure always gets the same event id.
NAMESPACE = uuid.UUID("5d0c1f0e-3b9a-4c8e-9a57-0a1c2e3f4d5b")


@dataclass(frozen=True)
class Seed:
    """Seed: one observation as a report, or why it cannot be one."""

    report: ReportIn
    issues: list[Issue]


def seed_reports(catalog: Catalog, now: datetime | None = None) -> list[Seed]:
    """seed_reports turns every observation with a category into a report checked against the catalog rules."""
    now = now or datetime.now(UTC)
    province = next((u.code for u in catalog.units.values() if u.level is Level.PROVINCE), None)
    seeds = []
    for indicator in catalog.indicators.values():
        for obs in indicator.observations:
            if obs.category is None:
                continue
            counts = indicator.measure is Measure.RATIO and obs.numerator is not None and obs.denominator is not None
            figures = {"numerator": obs.numerator, "denominator": obs.denominator} if counts else {"value": obs.value}
            content = {
                "unit": obs.unit or province,
                "indicator": indicator.code,
                "category": obs.category,
                "observed_at": end_of_local_day(obs.period_end).isoformat(),
                **figures,
                "source": "catalog: " + ", ".join(obs.source)[:190],
                "note": obs.scope,
            }
            event_id = uuid.uuid5(NAMESPACE, json.dumps(content, sort_keys=True, ensure_ascii=False))
            report = ReportIn.model_validate({"event_id": str(event_id), **content})
            seeds.append(Seed(report, check_report(report, catalog, now, timedelta(0))))
    return seeds


async def publish_seeds(js, reports: list[ReportIn], received_at: datetime, timeout: float = 10.0) -> list[bool]:
    """publish_seeds stores each report in DX_REPORTS (PubAck awaited); returns, per report, whether it was a
    duplicate."""
    duplicates = []
    for r in reports:
        event = ReportReceived(**r.model_dump(), received_at=received_at, agency=AGENCY, key_id=KEY_ID)
        ack = await js.publish(
            report_subject(r.unit, r.indicator),
            event.model_dump_json().encode(),
            headers={"Nats-Msg-Id": message_id(AGENCY, r)},
            timeout=timeout,
        )
        duplicates.append(bool(ack.duplicate))
    return duplicates
