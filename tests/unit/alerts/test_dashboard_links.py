"""Links only where something is: notifications link to Grafana only when DX_PUBLIC_DASHBOARD_URL is set."""

from __future__ import annotations

from datetime import timedelta

import pytest
from alerts_factory import T0, make_alert, make_flush
from pydantic import ValidationError

from services.alerts.alert import NotifyReason
from services.alerts.alertmanager import alertmanager_payload
from services.alerts.messages import dashboard_url, render_digest
from services.alerts.settings import AlertsSettings

PUBLIC = "https://dashboard.dx.quangninh.gov.vn"


def _digest(public_url: str | None, n: int = 1, limit: int = 50):
    alerts = [
        make_alert(unit=f"QN-X-{i:03d}", unit_name=f"Xã {i}", reason=NotifyReason.FIRST_NOTIFICATION) for i in range(n)
    ]
    return render_digest(make_flush(T0), alerts, public_url=public_url, limit=limit)


@pytest.mark.parametrize("unset", [None, ""], ids=["none", "empty"])
def test_no_setting_no_link_anywhere(unset) -> None:
    m = _digest(unset, n=3, limit=1)  # one unit detailed, the rest summarised
    assert "http" not in m.body and "Bảng theo dõi" not in m.body
    assert "Còn 2 chỉ tiêu khác" in m.body
    assert all(a["dashboard_url"] is None for a in m.payload["alerts"])
    [posted] = alertmanager_payload([make_alert()], T0, timedelta(minutes=1), unset)
    assert "generatorURL" not in posted
    assert dashboard_url(unset, "QN-P-HONGGAI") is None and dashboard_url(unset) is None


def test_with_the_setting_every_link_points_there() -> None:
    m = _digest(PUBLIC + "/", n=3, limit=1)
    assert f"Bảng theo dõi: {PUBLIC}/d/dx-unit-detail?var-unit=QN-X-000" in m.body
    assert f"Xem đầy đủ trên bảng theo dõi: {PUBLIC}/d/dx-alerts" in m.body
    assert m.payload["alerts"][0]["dashboard_url"] == f"{PUBLIC}/d/dx-unit-detail?var-unit=QN-X-000"
    [posted] = alertmanager_payload([make_alert()], T0, timedelta(minutes=1), PUBLIC)
    assert posted["generatorURL"] == f"{PUBLIC}/d/dx-unit-detail?var-unit=QN-P-HONGGAI"


def test_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DX_PUBLIC_DASHBOARD_URL", raising=False)
    assert AlertsSettings().public_dashboard_url is None
    monkeypatch.setenv("DX_PUBLIC_DASHBOARD_URL", "")
    assert AlertsSettings().public_dashboard_url is None
    monkeypatch.setenv("DX_PUBLIC_DASHBOARD_URL", PUBLIC)
    assert AlertsSettings().public_dashboard_url == PUBLIC


@pytest.mark.parametrize("bad", ["grafana:3000", "dashboard.example.vn", "ftp://x.vn", "https://"])
def test_setting_must_be_a_web_address(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv("DX_PUBLIC_DASHBOARD_URL", bad)
    with pytest.raises(ValidationError, match="DX_PUBLIC_DASHBOARD_URL"):
        AlertsSettings()
