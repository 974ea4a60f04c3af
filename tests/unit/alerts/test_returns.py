"""The notice of a returned period: one line of subject whatever the comment, and who is told."""

from __future__ import annotations

from datetime import datetime

import pytest

from dxmon.contracts import LOCAL_TZ
from services.alerts.alert import Severity
from services.alerts.returns import ReturnedPeriod, render_return, takes

AT = datetime(2026, 11, 3, 9, 30, tzinfo=LOCAL_TZ)


def returned(
    indicator: str = "", pillar: str | None = None, comment: str = "Mẫu số chưa đúng", period: str = "2026-Q3"
) -> ReturnedPeriod:
    return ReturnedPeriod(
        7,
        "QN-P-HONGGAI",
        "Phường Hồng Gai",
        period,
        indicator,
        "Tỷ lệ hồ sơ" if indicator else None,
        pillar,
        comment,
        "Sở KH&CN",
        AT,
    )


def test_subject_is_one_line_and_names_the_period() -> None:
    message = render_return(AT, returned(comment="Dòng một\nBcc: ai@example.com\r\n  dòng ba"), public_url=None)
    assert message.subject == (
        "[Chuyển đổi số Quảng Ninh] Báo cáo quý III/2026 của Phường Hồng Gai (QN-P-HONGGAI) "
        "bị trả lại: Dòng một Bcc: ai@example.com dòng ba"
    )
    assert "\n" not in message.subject and "mọi chỉ tiêu của kỳ" in message.body
    assert "Bảng theo dõi" not in message.body  # no public address, no link


def test_body_and_payload_of_one_indicator() -> None:
    message = render_return(
        AT, returned("DG-04", "digital_government", period="2026-10"), public_url="https://grafana.example"
    )
    assert "chỉ tiêu DG-04 Tỷ lệ hồ sơ" in message.body and "Sở KH&CN, 03/11/2026 09:30" in message.body
    assert "https://grafana.example/d/dx-unit-detail?var-unit=QN-P-HONGGAI" in message.body
    assert {k: message.payload[k] for k in ("type", "period", "period_label", "indicator", "comment")} == {
        "type": "approval_returned",
        "period": "2026-10",
        "period_label": "tháng 10/2026",
        "indicator": "DG-04",
        "comment": "Mẫu số chưa đúng",
    }


@pytest.mark.parametrize(
    ("min_severity", "pillars", "r", "told"),
    [
        pytest.param(Severity.WARNING, (), returned(), True, id="every-pillar"),
        pytest.param(Severity.CRITICAL, (), returned(), False, id="critical-only"),
        pytest.param(
            Severity.WARNING, ("digital_economy",), returned("DG-04", "digital_government"), False, id="other-pillar"
        ),
        pytest.param(Severity.WARNING, ("digital_economy",), returned(), True, id="whole-period-reaches-all"),
    ],
)
def test_who_is_told(min_severity: Severity, pillars: tuple[str, ...], r: ReturnedPeriod, told: bool) -> None:
    assert takes(min_severity, pillars, r) is told
