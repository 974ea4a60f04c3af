"""EntrySettings: every knob of the entry service, read from ``DX_``-prefixed environment variables."""

from __future__ import annotations

from pydantic import Field

from dxmon.settings import NatsSettings

MEBIBYTE = 1024 * 1024


class EntrySettings(NatsSettings):
    """Entry: spreadsheet templates and imports (and the data-entry page) for people who don't write JSON."""

    entry_host: str = Field("127.0.0.1", description="Address the entry service (templates, imports, page) listens on")
    entry_port: int = Field(8081, description="Port of the entry service")
    entry_database_url: str = Field(
        "postgresql://postgres@127.0.0.1:5432/dxmon",
        description="Database URL of the entry service: a read-only user (member of dx_reader); every session "
        "is also opened read-only, so the service can never write whatever the user may do",
    )
    entry_db_pool_size: int = Field(5, ge=1, le=100, description="Most database connections the entry service holds")
    entry_max_upload_bytes: int = Field(
        5 * MEBIBYTE, gt=0, description="Largest uploaded spreadsheet (XLSX or CSV) in bytes (413 beyond)"
    )
    entry_max_unpacked_bytes: int = Field(
        50 * MEBIBYTE, gt=0, description="Largest total size of an XLSX's parts once unzipped (413 beyond: zip bombs)"
    )
    entry_max_rows: int = Field(10_000, gt=0, description="Most data rows in one uploaded spreadsheet (413 beyond)")
    entry_max_periods: int = Field(24, gt=0, description="Most periods one template may cover (--to)")
    # The same variables as ingest's (IngestSettings): reports take the same path whichever door they use.
    publish_timeout_seconds: float = Field(
        5.0, gt=0, description="How long ingest and the entry service wait for JetStream to store a report"
    )
    future_skew_seconds: int = Field(
        300, ge=0, description="Clock skew tolerated before 'observed_at' counts as future (ingest and entry)"
    )
