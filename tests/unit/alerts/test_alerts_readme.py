"""services/alerts/README.md documents every setting and metric the service has (and no others)."""

from __future__ import annotations

import re
from pathlib import Path

from dxmon.settings import DatabaseSettings, NatsSettings
from services.alerts.metrics import Metrics
from services.alerts.settings import AlertsSettings

README = (Path(__file__).parents[3] / "services" / "alerts" / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    return README.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_configuration_table_matches_the_settings_class() -> None:
    inherited = set(NatsSettings.model_fields) | set(DatabaseSettings.model_fields)
    own = {f"DX_{name.upper()}" for name in AlertsSettings.model_fields if name not in inherited}
    documented = set(re.findall(r"^\| `(DX_[A-Z_]+)` \|", section("Configuration"), re.M))
    assert documented == own


def test_metrics_table_matches_the_registry() -> None:
    names = {m.name for m in Metrics().registry.collect()}
    # Counters are collected without their _total suffix.
    documented = {re.sub(r"_total$", "", n) for n in re.findall(r"`(dx_alerts_[a-z_]+)`", section("Metrics"))}
    assert documented == names
