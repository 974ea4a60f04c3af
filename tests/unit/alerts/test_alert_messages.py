"""Vietnamese rendering: diacritics, number and date conventions, subjects, links, payload."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from alerts_factory import DAY, HOUR, T0, make_alert, make_flush

from dxmon import words
from dxmon.formatting import format_duration, format_number, format_value
from services.alerts.alert import Kind, NotifyReason, Severity, State
from services.alerts.messages import (
    KIND_LABEL,
    MAX_DETAILED,
    REASON_LABEL,
    SEVERITY_LABEL,
    dashboard_url,
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
    alert = make_alert(reason=NotifyReason.FIRST_NOTIFICATION, starts_at=T0 - 12 * DAY, target_set="NQ09-2030")
    m = render_digest(make_flush(T0), [alert], public_url=PUBLIC)
    assert m.subject == f"[Chuyển đổi số Quảng Ninh] {KIND_LABEL[Kind.BEHIND]}: Phường Hồng Gai – DG-04"
    for fragment in (
        f"{words.GREETING}: cán bộ phụ trách",
        "■ Phường Hồng Gai (QN-P-HONGGAI)",
        f"[{REASON_LABEL[NotifyReason.FIRST_NOTIFICATION]}] {KIND_LABEL[Kind.BEHIND]} — DG-04 "
        "Tỷ lệ hồ sơ xử lý hoàn toàn trực tuyến",
        f"{words.CURRENT_VALUE}: 45,2% | {words.EXPECTED}: 60% | {words.TARGET}: 80% (thời hạn 31/12/2030, "
        "bộ chỉ tiêu NQ09-2030)",
        f"Mức độ: {SEVERITY_LABEL[Severity.WARNING]}. Tình trạng kéo dài 12 ngày (từ 17/02/2026)",
        f"Bảng theo dõi: {PUBLIC}/d/dx-unit-detail?var-unit=QN-P-HONGGAI",
    ):
        assert fragment in m.body, fragment
    assert m.notify_type == "warning"


def test_subject_counts_new_resolved_and_open_truthfully_and_news_come_first() -> None:
    alerts = [
        make_alert(indicator="DG-17", kind=Kind.MISSED, reason=NotifyReason.STILL_FIRING),
        make_alert(indicator="DG-11", reason=NotifyReason.REPEAT_INTERVAL_ELAPSED),
        make_alert(indicator="DG-09", state=State.RESOLVED, ends_at=T0, reason=NotifyReason.RESOLVED),
        make_alert(indicator="DG-04", reason=NotifyReason.FIRST_NOTIFICATION),
    ]
    m = render_digest(make_flush(T0 + HOUR), alerts, public_url=PUBLIC)
    open_ = REASON_LABEL[NotifyReason.STILL_FIRING].lower()
    assert m.subject == (
        f"[Chuyển đổi số Quảng Ninh] 4 chỉ tiêu: 1 mới, 1 {words.NOTICE['resolved'].lower()}, "
        f"2 {open_} – Phường Hồng Gai"
    )
    assert [a["indicator"] for a in m.payload["alerts"]] == ["DG-04", "DG-09", "DG-11", "DG-17"]
    assert m.payload["counts"] == {
        "first notification": 1,
        "resolved": 1,
        "repeat interval elapsed": 1,
        "still firing": 1,
    }
    body = m.body
    assert body.index("DG-04") < body.index("DG-09") < body.index("DG-11") < body.index("DG-17")
    assert f"[{REASON_LABEL[NotifyReason.RESOLVED]}] {KIND_LABEL[Kind.BEHIND]} — DG-09" in body
    assert f"Mức độ: {SEVERITY_LABEL[Severity.CRITICAL]}" in body
    assert m.notify_type == "failure"  # a missed milestone is critical
    assert m.payload["reason"] == "first notification" and m.payload["status"] == "firing"


def test_within_a_notice_critical_then_oldest_first() -> None:
    alerts = [
        make_alert(indicator="DG-01", starts_at=T0 - DAY, reason=NotifyReason.STILL_FIRING),
        make_alert(indicator="DG-02", starts_at=T0 - 9 * DAY, reason=NotifyReason.STILL_FIRING),
        make_alert(indicator="DG-03", kind=Kind.MISSED, milestone=date(2025, 12, 31), reason=NotifyReason.STILL_FIRING),
    ]
    m = render_digest(make_flush(T0), alerts, public_url=PUBLIC)
    assert [a["indicator"] for a in m.payload["alerts"]] == ["DG-03", "DG-02", "DG-01"]


def test_a_missed_deadline_runs_from_the_deadline_not_from_when_the_service_looked() -> None:
    looked = T0 + 280 * DAY  # 06/12/2026: the service first evaluated years after the 2023 deadline
    missed = make_alert(
        kind=Kind.MISSED,
        milestone=date(2023, 12, 31),
        starts_at=looked,
        status_since=looked,
        reason=NotifyReason.FIRST_NOTIFICATION,
    )
    m = render_digest(make_flush(looked), [missed], public_url=PUBLIC)
    assert "Tình trạng kéo dài 1070 ngày (từ 31/12/2023)" in m.body
    assert "dưới 1 giờ" not in m.body
    assert m.payload["alerts"][0]["since"] == "2023-12-31T23:59:59.999999+07:00"


def test_other_statuses_run_from_the_first_evaluation_that_found_them() -> None:
    behind = make_alert(starts_at=T0, status_since=T0 - 40 * DAY, reason=NotifyReason.FIRST_NOTIFICATION)
    m = render_digest(make_flush(T0), [behind], public_url=PUBLIC)
    assert "Tình trạng kéo dài 40 ngày (từ 20/01/2026)" in m.body


def test_resolved_only_digest() -> None:
    a = make_alert(state=State.RESOLVED, starts_at=T0, ends_at=T0 + 3 * DAY, reason=NotifyReason.RESOLVED, value=85.0)
    m = render_digest(make_flush(T0 + 3 * DAY), [a], public_url=PUBLIC)
    assert m.subject == f"[Chuyển đổi số Quảng Ninh] {words.NOTICE['resolved']}: Phường Hồng Gai – DG-04"
    assert f"{words.NOTICE['resolved']} lúc 04/03/2026 09:00 (giờ Việt Nam), sau 3 ngày." in m.body
    assert f"{words.CURRENT_VALUE}: 85%" in m.body
    assert m.notify_type == "success" and m.payload["status"] == "resolved"


def test_escalation_in_plain_words() -> None:
    a = make_alert(escalated=True, starts_at=T0 - 35 * DAY, reason=NotifyReason.FIRST_NOTIFICATION)
    m = render_digest(make_flush(), [a], public_url=PUBLIC)
    assert "Chuyển cấp trên theo dõi: chưa khắc phục sau 35 ngày." in m.body
    assert m.payload["alerts"][0]["escalated"] is True
    done = make_alert(escalated=True, state=State.RESOLVED, ends_at=T0, reason=NotifyReason.RESOLVED)
    assert "Chuyển cấp trên theo dõi: đã khắc phục." in render_digest(make_flush(), [done], public_url=PUBLIC).body


@pytest.mark.parametrize(
    ("cadence", "observed", "want"),
    [
        pytest.param("monthly", "2026-02-28", "tháng 02/2026", id="month"),
        pytest.param("quarterly", "2026-09-30", "quý III/2026", id="quarter"),
        pytest.param("yearly", "2025-12-31", "năm 2025", id="year"),
    ],
)
def test_a_value_names_its_period(cadence, observed, want) -> None:
    from dxmon.contracts import end_of_local_day

    a = make_alert(
        observed_at=end_of_local_day(date.fromisoformat(observed)),
        cadence=cadence,
        reason=NotifyReason.RESOLVED,
        state=State.RESOLVED,
        ends_at=T0,
    )
    m = render_digest(make_flush(), [a], public_url=None)
    assert f"{words.CURRENT_VALUE}: 45,2% ({words.REPORTING_PERIOD.lower()} {want}) |" in m.body
    assert m.payload["alerts"][0]["period"] == want


def test_no_public_address_no_links() -> None:
    m = render_digest(make_flush(), [make_alert(reason=NotifyReason.FIRST_NOTIFICATION)], public_url=None)
    assert "http" not in m.body and "Bảng theo dõi" not in m.body
    assert m.payload["alerts"][0]["dashboard_url"] is None


def test_dashboard_url_quotes_the_code() -> None:
    assert dashboard_url("http://g/", "QN-P-HONGGAI") == "http://g/d/dx-unit-detail?var-unit=QN-P-HONGGAI"


def test_milestone_is_optional() -> None:
    m = render_digest(make_flush(), [make_alert(milestone=None, target=None)], public_url=PUBLIC)
    [line] = [x for x in m.body.splitlines() if "Mục tiêu:" in x]
    assert line.endswith("Mục tiêu: chưa có số liệu")
    assert "(hạn" not in m.body


def test_the_572_item_digest_details_20_and_counts_the_rest_per_unit_and_notice() -> None:
    """The issue's digest: 572 new alerts over 67 units; most are warnings, a few missed milestones."""
    alerts = [
        make_alert(
            unit=f"QN-X-{i % 67:04d}",
            unit_name=f"Xã {i % 67}",
            indicator=f"DG-{i // 67:02d}",
            kind=Kind.MISSED if i % 50 == 0 else Kind.BEHIND,
            starts_at=T0 - (i % 30) * DAY,
            reason=NotifyReason.FIRST_NOTIFICATION,
        )
        for i in range(572)
    ]
    m = render_digest(make_flush(T0), alerts, public_url=PUBLIC)
    assert m.subject == "[Chuyển đổi số Quảng Ninh] 572 chỉ tiêu: 572 mới – 67 đơn vị"
    detailed = [line for line in m.body.splitlines() if line.startswith("  • [")]
    assert len(detailed) == MAX_DETAILED == 20
    assert sum(KIND_LABEL[Kind.MISSED] in line for line in detailed) == 12  # every critical one is detailed
    assert f"Còn 552 chỉ tiêu khác (552 {REASON_LABEL[NotifyReason.FIRST_NOTIFICATION].lower()}):" in m.body
    per_unit = re.findall(r"^  • Xã \d+ \(QN-X-\d{4}\): (\d+) mới$", m.body, re.M)
    assert sum(int(n) for n in per_unit) == 552
    assert f"Xem đầy đủ trên bảng theo dõi: {PUBLIC}/d/dx-alerts" in m.body
    assert REASON_LABEL[NotifyReason.STILL_FIRING] not in m.body  # nothing here is "still open": all are new
    assert m.payload["total"] == 572 and len(m.payload["alerts"]) == 20


def test_a_huge_digest_details_the_news_and_counts_the_rest() -> None:
    old = [make_alert(unit=f"QN-X-{i:04d}", unit_name=f"Xã {i}", reason=NotifyReason.STILL_FIRING) for i in range(120)]
    new = make_alert(unit="QN-X-9999", unit_name="Xã mới", kind=Kind.MISSED, reason=NotifyReason.FIRST_NOTIFICATION)
    m = render_digest(make_flush(), [*old, new], public_url=PUBLIC, limit=10)
    open_ = REASON_LABEL[NotifyReason.STILL_FIRING].lower()
    assert m.subject == f"[Chuyển đổi số Quảng Ninh] 121 chỉ tiêu: 1 mới, 120 {open_} – 121 đơn vị"
    assert m.body.index("■ Xã mới (QN-X-9999)") < m.body.index("■ Xã 0 (QN-X-0000)")  # the news is never cut
    assert m.body.count("■ ") == 10
    assert f"Còn 111 chỉ tiêu khác (111 {open_}):" in m.body
    assert m.payload["total"] == 121 and len(m.payload["alerts"]) == 10
