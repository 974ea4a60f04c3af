"""Routes: the aggregator's only HTTP surface — /healthz, /readyz, /metrics and /ping."""

from __future__ import annotations

import json
from typing import Any

from faststream.asgi import AsgiResponse, get, make_ping_asgi
from faststream.nats import NatsBroker
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from dxmon.bus import broker_connected
from dxmon.store.health import schema_ready
from services.aggregator.state import Aggregator

JSON = {"content-type": "application/json"}


def ops_routes(broker: NatsBroker, state: Aggregator) -> list[tuple[str, Any]]:
    """ops_routes: the health and metrics routes, as ``AsgiFastStream(asgi_routes=…)`` takes them."""

    @get
    async def healthz(scope: Any) -> AsgiResponse:
        return AsgiResponse(b'{"status": "ok"}', headers=JSON)

    @get
    async def readyz(scope: Any) -> AsgiResponse:
        checks = {
            "nats": broker_connected(broker),
            "database": await schema_ready(state.writer.pool, "reports"),
            "consuming": state.loop.consuming,
        }
        ready = all(checks.values())
        body = json.dumps({"ready": ready, **checks}).encode()
        return AsgiResponse(body, status_code=200 if ready else 503, headers=JSON)

    @get
    async def metrics(scope: Any) -> AsgiResponse:
        return AsgiResponse(generate_latest(state.metrics.registry), headers={"content-type": CONTENT_TYPE_LATEST})

    return [("/healthz", healthz), ("/readyz", readyz), ("/metrics", metrics),
            ("/ping", make_ping_asgi(broker, timeout=5.0))]
