"""Vietnamese rendering: diacritics, number and date conventions, subjects, links, payload."""

from __future__ import annotations

from datetime import timedelta

import pytest

from alerts_factory import DAY, HOUR, T0, make_alert, make_flush
from services.alerts.alert import Kind, NotifyReason, State
from services.alerts.messages import (
    dashboard_url,
    format_duration,
    format_number,
    format_value,
    render_digest,
)

PUBLIC = "https://grafana.quangninh.example"


@pytest.mark.parametrize(
    ("x", "want"),
    [
        pytest.param(45.2, "45,2", id="decimal-comma"),
        pytest.param(80.0, "80", id="whole-number"),
        pytest.param(1250.5, "1.250,5", id="thousands-dot"),
        pytest.param(2219, "2.219", id="thousands-whole"),
        pytest.param(99.96, "100", id="rounds-to-whole"),
    ],
)
def test_format_number(x, want) -> None:
    assert format_number(x) == want


@pytest.mark.parametrize(
    ("x", "measure", "want"),
    [
        pytest.param(62.8, "ratio", "62,8%", id="ratio"),
        pytest.param(3, "rank", "hạng 3", id="rank"),
        pytest.param(1, "boolean", "Đạt", id="boolean-true"),
        pytest.param(0, "boolean", "Chưa đạt", id="boolean-false"),
        pytest.param(500, "count", "500", id="count"),
        pytest.param(None, "ratio", "chưa có số liệu", id="missing"),
    ],
)
def test_format_value(x, measure, want) -> None:
    assert format_value(x, measure) == want


@pytest.mark.parametrize(
    ("d", "want"),
    [
        pytest.param(timedelta(minutes=20), "dưới 1 giờ", id="minutes"),
        pytest.param(5 * HOUR, "5 giờ", id="hours"),
        pytest.param(12 * DAY + 3 * HOUR, "12 ngày", id="days"),
    ],
)
def test_format_duration(d, want) -> None:
    assert format_duration(d) == want


def test_single_alert_digest_has_everything_staff_need() -> None:
    alert = make_alert(reason=NotifyReason.FIRST_NOTIFICATION, starts_at=T0 - 12 * DAY)
    m = render_digest(make_flush(T0), [alert], public_url=PUBLIC)
    assert m.subject == "[Chuyển đổi số Quảng Ninh] Chậm tiến độ: Phường Hồng Gai – DG-04"
    for fragment in (
        "Kính gửi cán bộ phụ trách",
        "■ Phường Hồng Gai (QN-P-HONGGAI)",
        "[Mới] Chậm tiến độ — DG-04 Tỷ lệ hồ sơ xử lý hoàn toàn trực tuyến",
        "Giá trị hiện tại: 45,2% | Kỳ vọng theo lộ trình: 60% | Mục tiêu: 80% (hạn 31/12/2030)",
        "Tình trạng kéo dài 12 ngày (từ 17/02/2026)",
        f"Bảng theo dõi: {PUBLIC}/d/dx-unit-detail?var-unit=QN-P-HONGGAI",
    ):
        assert fragment in m.body, fragment
    assert m.notify_type == "warning"


def test_mixed_digest_subject_counts_and_orders() -> None:
    alerts = [
        make_alert(indicator="DG-09", state=State.RESOLVED, ends_at=T0, reason=NotifyReason.RESOLVED),
        make_alert(indicator="DG-04", reason=NotifyReason.FIRST_NOTIFICATION),
        make_alert(indicator="DG-17", kind=Kind.MISSED, reason=NotifyReason.STILL_FIRING),
    ]
    m = render_digest(make_flush(T0 + HOUR), alerts, public_url=PUBLIC)
    assert m.subject == "[Chuyển đổi số Quảng Ninh] 2 chỉ tiêu cần chú ý (1 mới), 1 chỉ tiêu đã khắc phục – Phường Hồng Gai"
    body = m.body
    assert body.index("Chậm tiến độ") < body.index("Không đạt") < body.index("Đã khắc phục (")
    assert "Mức độ: Nghiêm trọng" in body and "[Chưa khắc phục]" in body
    assert m.notify_type == "failure"  # a missed milestone is critical
    assert [a["indicator"] for a in m.payload["alerts"]] == ["DG-04", "DG-17", "DG-09"]
    assert m.payload["reason"] == "first notification" and m.payload["status"] == "firing"


def test_resolved_only_digest() -> None:
    a = make_alert(state=State.RESOLVED, starts_at=T0, ends_at=T0 + 3 * DAY, reason=NotifyReason.RESOLVED)
    m = render_digest(make_flush(T0 + 3 * DAY), [a], public_url=PUBLIC)
    assert m.subject == "[Chuyển đổi số Quảng Ninh] Đã khắc phục: Phường Hồng Gai – DG-04"
    assert "Đã khắc phục lúc 04/03/2026 09:00 (giờ Việt Nam), sau 3 ngày." in m.body
    assert m.notify_type == "success" and m.payload["status"] == "resolved"


def test_escalated_alert_says_so() -> None:
    m = render_digest(make_flush(), [make_alert(escalated=True, reason=NotifyReason.FIRST_NOTIFICATION)],
                      public_url=PUBLIC)
    assert "Báo cáo vượt cấp" in m.body
    assert m.payload["alerts"][0]["escalated"] is True


def test_dashboard_url_quotes_the_code() -> None:
    assert dashboard_url("http://g/", "QN-P-HONGGAI") == "http://g/d/dx-unit-detail?var-unit=QN-P-HONGGAI"


def test_milestone_is_optional() -> None:
    m = render_digest(make_flush(), [make_alert(milestone=None, target=None)], public_url=PUBLIC)
    [line] = [x for x in m.body.splitlines() if "Mục tiêu:" in x]
    assert line.endswith("Mục tiêu: chưa có số liệu")
    assert "(hạn" not in m.body


def test_a_huge_digest_details_the_news_and_counts_the_rest() -> None:
    old = [make_alert(unit=f"QN-X-{i:04d}", unit_name=f"Xã {i}", reason=NotifyReason.STILL_FIRING) for i in range(120)]
    new = make_alert(unit="QN-X-9999", unit_name="Xã mới", kind=Kind.MISSED, reason=NotifyReason.FIRST_NOTIFICATION)
    m = render_digest(make_flush(), [*old, new], public_url=PUBLIC, limit=10)
    assert m.subject == "[Chuyển đổi số Quảng Ninh] 121 chỉ tiêu cần chú ý (1 mới) – 121 đơn vị"
    assert "■ Xã mới (QN-X-9999)" in m.body  # the news is never cut
    assert m.body.count("■ ") == 10
    assert f"… và 111 cảnh báo khác (vẫn tiếp diễn), xem trên bảng theo dõi: {PUBLIC}/d/dx-alerts" in m.body
    assert m.payload["total"] == 121 and len(m.payload["alerts"]) == 10
