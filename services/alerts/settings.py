"""AlertsSettings: every knob of the alerts service, read from ``DX_``-prefixed environment variables.

Durations are in seconds so one unit holds everywhere; the README's configuration table lists them.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from dxmon.settings import DatabaseSettings, NatsSettings

MIN_TOKEN_CHARS = 24
_TOKEN_NAME = re.compile(r"[\w.@-]{1,64}")
HOUR = 3600.0
DAY = 24 * HOUR


class AlertsSettings(NatsSettings, DatabaseSettings):
    """Alerts: evaluation schedule, lifecycle, delivery and the optional outputs."""

    # hide_input_in_errors: a refused DX_ALERTS_API_TOKENS must not be echoed into logs.
    model_config = SettingsConfigDict(
        env_prefix="DX_", env_file=".env", extra="ignore", env_ignore_empty=True, hide_input_in_errors=True
    )

    alerts_host: str = Field(
        "127.0.0.1", description="Address the alerts service (health, metrics, silences API) listens on"
    )
    alerts_port: int = Field(9103, description="Port of the alerts service")
    alerts_api_tokens: SecretStr | None = Field(
        None,
        description="Who may use the HTTP API's /v1 routes: comma-separated name:token pairs; the name is "
        "recorded as created_by. Required unless DX_ALERTS_HOST is a loopback address",
    )
    alerts_instance: str | None = Field(
        None, description="Name of this instance in the leader lease (default: host name and process id)"
    )
    alerts_full_interval_seconds: float = Field(
        900, gt=0, description="A full evaluation pass runs at start and then this often"
    )
    alerts_flush_interval_seconds: float = Field(
        30, gt=0, description="How often alert changes are grouped into digests (one per recipient per flush)"
    )
    alerts_repeat_interval_seconds: float = Field(
        7 * DAY, gt=0, description="A recipient is reminded of still-firing alerts after this long"
    )
    alerts_escalate_after_seconds: float = Field(
        30 * DAY,
        gt=0,
        description="A unit behind for longer than this is also reported to its parent unit's subscribers",
    )
    alerts_incremental_debounce_seconds: float = Field(
        0.5, ge=0, description="dx.stored notices arriving within this window are evaluated together"
    )
    alerts_lease_renew_seconds: float = Field(
        3, gt=0, lt=5, description="Leader lease renewal period (the dx_leases bucket expires a lease after 10 s)"
    )
    alerts_outbox_poll_seconds: float = Field(1, gt=0, description="Longest wait between two looks at the outbox")
    alerts_retry_initial_seconds: float = Field(5, gt=0, description="First retry delay of a failed delivery")
    alerts_retry_max_seconds: float = Field(900, gt=0, description="Longest delay between two delivery attempts")
    alerts_max_attempts: int = Field(12, ge=1, description="Delivery attempts before a notification is given up")
    alerts_send_timeout_seconds: float = Field(20, gt=0, description="Longest wait for one channel to accept a message")
    public_dashboard_url: str | None = Field(
        None,
        description="Grafana address as staff reach it, e.g. https://dashboard.dx.quangninh.gov.vn; "
        "notifications link to its dashboards (unset: no links)",
    )
    # Same variables as `dxmon grafana push` (dxmon.grafana_push.GrafanaSettings), same default.
    grafana_url: str = Field("http://127.0.0.1:3000", description="Grafana API base URL (alert annotations)")
    grafana_token: SecretStr | None = Field(
        None, description="Grafana service-account token; when set, every alert state change becomes an annotation"
    )
    alertmanager_url: str | None = Field(
        None, description="Prometheus Alertmanager base URL to forward alerts to (unset: not forwarded)"
    )
    alertmanager_resend_seconds: float = Field(
        60, gt=0, description="Firing alerts are re-sent to Alertmanager this often (it expires silent alerts)"
    )

    @field_validator("public_dashboard_url")
    @classmethod
    def _absolute_http_url(cls, url: str | None) -> str | None:
        # A link staff click must be a full web address; "grafana:3000" would reach nobody.
        if url is not None and (urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc):
            raise ValueError("DX_PUBLIC_DASHBOARD_URL must be an http(s) address, e.g. https://dashboard.example.vn")
        return url

    @model_validator(mode="after")
    def _retry_bounds(self) -> AlertsSettings:
        if self.alerts_retry_max_seconds < self.alerts_retry_initial_seconds:
            raise ValueError("DX_ALERTS_RETRY_MAX_SECONDS must be at least DX_ALERTS_RETRY_INITIAL_SECONDS")
        return self

    @model_validator(mode="after")
    def _api_tokens(self) -> AlertsSettings:
        tokens = self.api_tokens()  # raises on a malformed value
        if not tokens and not is_loopback(self.alerts_host):
            # Silences and acks mute notifications: never open to a network by default.
            raise ValueError(
                f"DX_ALERTS_API_TOKENS must be set when the API listens on {self.alerts_host} "
                "(not a loopback address); see deploy/README.md"
            )
        return self

    def api_tokens(self) -> dict[str, str]:
        """api_tokens maps each bearer token of DX_ALERTS_API_TOKENS to the name it acts as."""
        raw = self.alerts_api_tokens.get_secret_value() if self.alerts_api_tokens else ""
        out: dict[str, str] = {}
        for pair in filter(None, (p.strip() for p in raw.split(","))):
            name, sep, token = pair.partition(":")
            if not sep or not _TOKEN_NAME.fullmatch(name):
                raise ValueError("DX_ALERTS_API_TOKENS: each entry is name:token (name of letters, digits, . @ _ -)")
            if len(token) < MIN_TOKEN_CHARS:
                raise ValueError(
                    f"DX_ALERTS_API_TOKENS: the token of {name} is shorter than {MIN_TOKEN_CHARS} characters"
                )
            if token in out:
                raise ValueError(f"DX_ALERTS_API_TOKENS: {name} and {out[token]} share a token")
            out[token] = name
        return out


def is_loopback(host: str) -> bool:
    """is_loopback: only this machine can reach ``host`` (127.0.0.0/8, ::1 or localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name may resolve anywhere
