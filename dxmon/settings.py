"""Settings: every knob of dx-monitor, read from ``DX_``-prefixed environment variables.

One class per concern; services combine the ones they need. The README's configuration table is
checked against these classes by ``tests/unit/test_config_doc.py``. Where a value comes from, first
match wins: arguments, ``DX_`` variables, ``.env``, a ``dxmon dev`` running from the current
directory (``.dx/dev.json``: its NATS and database URLs), the defaults.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from dxmon.dev_state import dev_state_settings

_CONFIG = SettingsConfigDict(env_prefix="DX_", env_file=".env", extra="ignore", env_ignore_empty=True)


class DevStackSource(PydanticBaseSettingsSource):
    """DevStackSource supplies the server URLs of a ``dxmon dev`` running from the current directory."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        self.values = dev_state_settings()

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in self.values.items() if k in self.settings_cls.model_fields}


class DxSettings(BaseSettings):
    """DxSettings: ``DX_`` variables, then .env, then a running dev stack's state (.dx/dev.json), then defaults."""

    model_config = _CONFIG

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ):
        return init_settings, env_settings, dotenv_settings, DevStackSource(settings_cls), file_secret_settings


class NatsSettings(DxSettings):
    """Where the message bus is and how long to wait for it."""

    model_config = _CONFIG

    nats_url: str = Field("nats://127.0.0.1:4222", description="NATS server URL(s), comma-separated for a cluster")
    nats_user: str | None = Field(None, description="NATS user name (when the server requires one)")
    nats_password: SecretStr | None = Field(None, description="NATS password")
    stream_replicas: int = Field(1, ge=1, le=5, description="JetStream replicas for the streams (3 on a cluster)")
    reports_max_age_days: float = Field(
        30, gt=0, description="Longest time a report may wait unstored in DX_REPORTS (JetStream drops older backlog)"
    )
    reports_max_bytes: int = Field(
        10 * 1024**3, description="Upper bound of DX_REPORTS on disk; when full, ingest answers 503 (nothing dropped)"
    )
    ack_wait_seconds: float = Field(
        30, gt=0, description="A report fetched by an aggregator that crashed is redelivered after this long"
    )
    dedup_window_seconds: float = Field(
        3600, gt=0, description="JetStream duplicate window: resubmissions within it are answered 'duplicate'"
    )


class DatabaseSettings(DxSettings):
    """Where the time-series database is."""

    model_config = _CONFIG

    database_url: str = Field(
        "postgresql://postgres@127.0.0.1:5432/dxmon", description="PostgreSQL/TimescaleDB URL used by the service"
    )
    require_timescale: bool = Field(
        False, description="Fail the migration loudly when the TimescaleDB extension is not available (production)"
    )
