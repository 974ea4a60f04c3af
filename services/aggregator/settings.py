"""AggregatorSettings: the aggregator's knobs, read from ``DX_``-prefixed environment variables."""

from __future__ import annotations

from pydantic import Field

from dxmon.settings import DatabaseSettings, NatsSettings


class AggregatorSettings(NatsSettings, DatabaseSettings):
    """Aggregator: stream to database."""

    aggregator_batch_size: int = Field(1000, gt=0, description="Most reports written per database transaction")
    aggregator_batch_timeout_seconds: float = Field(
        0.1, gt=0, description="Longest wait to fill a batch before writing what has arrived"
    )
    aggregator_host: str = Field(
        "127.0.0.1", description="Address the aggregator's /healthz, /readyz and /metrics listen on"
    )
    aggregator_metrics_port: int = Field(9102, description="Port of the aggregator's /healthz, /readyz and /metrics")
