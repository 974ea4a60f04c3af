"""Settings: ingest's knobs, ``DX_`` variables on top of the NATS ones (the README's table lists them)."""

from __future__ import annotations

from pydantic import Field

from dxmon.settings import NatsSettings


class IngestSettings(NatsSettings):
    """Ingest HTTP API."""

    ingest_host: str = Field("127.0.0.1", description="Address the ingest API listens on")
    ingest_port: int = Field(8080, description="Port of the ingest API")
    ingest_metrics_port: int | None = Field(
        None,
        description="Serve ingest's /metrics on this port (same address) instead of the API's port; "
        "the compose file sets 9101, which it does not publish",
    )
    max_body_bytes: int = Field(4 * 1024 * 1024, gt=0, description="Largest accepted request body (413 beyond)")
    max_batch_reports: int = Field(5000, gt=0, description="Most reports in one request (413 beyond)")
    publish_timeout_seconds: float = Field(
        5.0, gt=0, description="How long ingest waits for JetStream to store a report"
    )
    future_skew_seconds: int = Field(
        300, ge=0, description="Clock skew tolerated before 'observed_at' counts as future"
    )
    rate_limit_per_second: float = Field(
        0, ge=0, description="Reports per second allowed per key (0 = unlimited); 429 + Retry-After beyond"
    )
