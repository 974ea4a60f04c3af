"""Routes: the aggregator's only HTTP surface — /healthz, /readyz, /metrics (the service kit's) and /ping."""

from __future__ import annotations

from typing import Any

from faststream.asgi import make_ping_asgi
from faststream.nats import NatsBroker

from dxmon.bus import broker_connected
from dxmon.service_kit import OPS_PATHS, Readiness, ops_app
from dxmon.store.health import schema_ready
from services.aggregator.state import Aggregator


async def readiness(broker: NatsBroker, state: Aggregator) -> Readiness:
    """readiness: NATS connected, the schema present and the consume loop running."""
    facts = {
        "nats": broker_connected(broker),
        "database": await schema_ready(state.writer.pool, "reports"),
        "consuming": state.loop.consuming,
    }
    return Readiness(all(facts.values()), facts)


def ops_routes(broker: NatsBroker, state: Aggregator) -> list[tuple[str, Any]]:
    """ops_routes: the health and metrics routes, as ``AsgiFastStream(asgi_routes=…)`` takes them."""
    ops = ops_app("dx-monitor aggregator (operations)", lambda: readiness(broker, state), state.metrics.registry)
    return [(path, ops) for path in OPS_PATHS] + [("/ping", make_ping_asgi(broker, timeout=5.0))]
