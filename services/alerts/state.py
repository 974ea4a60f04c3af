"""State: what the alerts app built, shared by its lifespan, HTTP routes, subscriber and tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from faststream.nats import NatsBroker

from dxmon.catalog import Catalog
from dxmon.keys import KeyRing
from services.alerts.metrics import Metrics
from services.alerts.scheduler import Scheduler
from services.alerts.settings import AlertsSettings


@dataclass
class Service:
    """Service holds what the lifespan built; routes read it from ``app.state.service``."""

    settings: AlertsSettings
    catalog: Catalog
    metrics: Metrics
    clock: Callable[[], datetime]
    broker: NatsBroker
    tokens: dict[str, str]  # bearer token → the name it acts as (DX_ALERTS_API_TOKENS)
    pool: asyncpg.Pool | None = None
    keyring: KeyRing | None = None  # agency keys (dx_keys, read-only): a unit's own official report
    scheduler: Scheduler | None = None
    task: asyncio.Task[None] | None = None
    accepting: bool = False
