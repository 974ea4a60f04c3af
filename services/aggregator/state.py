"""State: what the aggregator app built, shared by its lifespan, health routes and tests."""

from __future__ import annotations

from dataclasses import dataclass

from services.aggregator.handlers import BatchLoop
from services.aggregator.metrics import Metrics
from services.aggregator.settings import AggregatorSettings
from services.aggregator.writer import Writer


@dataclass(frozen=True)
class Aggregator:
    """Aggregator: the settings, metrics, writer and loop of one aggregator app."""

    settings: AggregatorSettings
    metrics: Metrics
    writer: Writer
    loop: BatchLoop
