"""The "final outcomes" notice (Kết quả chính thức): rendering (pure) and routing to subscriptions."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import pytest
from alerts_factory import make_subscription

from dxmon import words
from dxmon.contracts import end_of_local_day
from services.alerts.alert import FinalOutcome, Severity
from services.alerts.dispatch import NEWS_HORIZON, OUTCOME_SEVERITY, Router
from services.alerts.messages import OUTCOMES_TYPE, PAYLOAD_VERSION, render_outcomes
from tests.unit import retired_terms

NOW = datetime(2026, 1, 20, 2, 0, tzinfo=UTC)  # 09:00 in Hạ Long, five days after the cut-off
DEADLINE, CUTOFF = date(2025, 12, 31), date(2026, 1, 15)
PARENTS = {"QN": None, "QN-HALONG": "QN", "QN-HALONG-P-HONGGAI": "QN-HALONG", "QN-SO-KHCN": "QN"}


def outcome(
    unit: str = "QN-HALONG-P-HONGGAI",
    indicator: str = "DG-04",
    status: str = "missed",
    *,
    value: float | None = 72.5,
    **kw: Any,
) -> FinalOutcome:
    final = FinalOutcome(
        unit=unit,
        indicator=indicator,
        status=status,
        value=value,
        target_set="NQ09",
        milestone=DEADLINE,
        target=80.0,
        cutoff=CUTOFF,
        observed_at=end_of_local_day(date(2025, 12, 31)),
        unit_name="Phường Hồng Gai",
        indicator_name="Tỷ lệ hồ sơ xử lý hoàn toàn trực tuyến",
        pillar="digital_government",
        measure="ratio",
        cadence="monthly",
    )
    return replace(final, **kw)


def twenty() -> list[FinalOutcome]:
    """twenty: 12 achieved (5 exceeded, 7 met) and 8 missed across two units."""
    statuses = ["exceeded"] * 5 + ["met"] * 7 + ["missed"] * 8
    return [
        outcome(
            "QN-HALONG" if i % 2 else "QN-HALONG-P-HONGGAI",
            f"DG-{i:02d}",
            s,
            unit_name="Thành phố Hạ Long" if i % 2 else "Phường Hồng Gai",
        )
        for i, s in enumerate(statuses, start=1)
    ]


def test_subject_counts_what_was_met_in_the_glossary_words() -> None:
    message = render_outcomes(NOW, twenty(), public_url=None)
    assert message.subject == (
        "[Chuyển đổi số Quảng Ninh] Kết quả chính thức Bộ chỉ tiêu NQ09 – thời hạn 31/12/2025: 12/20 chỉ tiêu đạt"
    )
    assert message.notify_type == "warning"
    assert retired_terms.retired_terms_in(message.subject + message.body) == []


def test_body_counts_per_unit_and_details_the_missed_with_their_deciding_value() -> None:
    body = render_outcomes(NOW, twenty(), public_url=None).body
    # Odd numbers are Hạ Long: exceeded 1,3,5; met 7,9,11; missed 13,15,17,19.
    assert "■ Thành phố Hạ Long (QN-HALONG): Vượt 3, Đạt 3, Không đạt 4" in body
    assert "■ Phường Hồng Gai (QN-HALONG-P-HONGGAI): Vượt 2, Đạt 4, Không đạt 4" in body
    assert body.count("  • Không đạt — ") == 8
    assert "  • Không đạt — DG-13 Tỷ lệ hồ sơ xử lý hoàn toàn trực tuyến" in body
    assert (
        f"    {words.DECIDING_VALUE}: 72,5% (kỳ báo cáo tháng 12/2025) | {words.TARGET}: 80% | "
        f"{words.DEADLINE}: 31/12/2025 | {words.FINAL} (chốt số liệu 15/01/2026)"
    ) in body
    assert "DG-01 " not in body  # an achieved outcome is counted, not detailed
    assert "12/20 chỉ tiêu đạt (Vượt 5, Đạt 7, Không đạt 8)" in body
    assert f"được lưu vào {words.SCORECARD} của bộ chỉ tiêu và sẽ không được thông báo lại" in body


def test_a_unit_with_nothing_missed_is_counted_only() -> None:
    message = render_outcomes(
        NOW,
        [outcome(status="met", value=81.0), outcome(indicator="DG-02", status="exceeded")],
        public_url="http://grafana.test",
    )
    assert message.subject.endswith(": 2/2 chỉ tiêu đạt")
    assert message.notify_type == "success"
    assert "■ Phường Hồng Gai (QN-HALONG-P-HONGGAI): Vượt 1, Đạt 1, Không đạt 0" in message.body
    assert "•" not in message.body and "http://grafana.test" not in message.body


def test_at_most_20_missed_are_detailed_the_rest_counted_per_unit() -> None:
    many = [outcome("QN-A", f"A-{i:02d}", unit_name="Xã A") for i in range(15)]
    many += [outcome("QN-B", f"B-{i:02d}", unit_name="Xã B") for i in range(10)]
    many += [outcome("QN-B", "B-OK", "met", unit_name="Xã B")]
    message = render_outcomes(NOW, many, public_url=None)
    assert message.subject.endswith(": 1/26 chỉ tiêu đạt")
    assert message.body.count("  • Không đạt — ") == 20
    # Xã A has the most missed: first, all 15 detailed; Xã B gets 5 and counts the other 5.
    assert message.body.index("■ Xã A") < message.body.index("■ Xã B")
    assert "  Còn 5 chỉ tiêu không đạt khác (xem Kết quả thực hiện)." in message.body
    assert message.payload["total"] == 26 and len(message.payload["outcomes"]) == 20


def test_webhook_payload_has_its_own_type_and_the_counts() -> None:
    message = render_outcomes(NOW, twenty(), public_url="http://grafana.test")
    payload = json.loads(json.dumps(message.payload))  # what the webhook posts
    assert payload["version"] == PAYLOAD_VERSION and payload["type"] == OUTCOMES_TYPE == "final_outcomes"
    assert (payload["target_set"], payload["deadline"], payload["total"], payload["achieved"]) == (
        "NQ09",
        "2025-12-31",
        20,
        12,
    )
    assert payload["counts"] == {"exceeded": 5, "met": 7, "missed": 8}
    assert payload["subject"] == message.subject and payload["text"] == message.body
    first = payload["outcomes"][0]
    assert first["status"] == "missed" and first["final"] is True
    assert (first["value"], first["target"], first["period"], first["cutoff"]) == (
        72.5,
        80.0,
        "tháng 12/2025",
        "2026-01-15",
    )
    assert first["dashboard_url"].startswith("http://grafana.test/d/dx-unit-detail?var-unit=")
    assert {u["unit"]: u["counts"]["missed"] for u in payload["units"]} == {"QN-HALONG": 4, "QN-HALONG-P-HONGGAI": 4}


def test_values_without_data_and_other_measures_read_right() -> None:
    body = render_outcomes(
        NOW, [outcome(value=None, measure="count", target=1200.0, observed_at=None)], public_url=None
    ).body
    assert f"{words.DECIDING_VALUE}: chưa có số liệu | {words.TARGET}: 1.200 |" in body


def test_one_notice_is_for_one_target_set_and_deadline() -> None:
    with pytest.raises(ValueError):
        render_outcomes(NOW, [outcome(), outcome(indicator="DG-09", milestone=date(2030, 12, 31))], public_url=None)


def test_the_news_horizon_is_counted_from_the_end_of_the_cut_off_day() -> None:
    assert NEWS_HORIZON.days == 30
    assert outcome().cutoff_ended() == end_of_local_day(CUTOFF)
    assert outcome(cutoff=None).cutoff_ended() == end_of_local_day(DEADLINE)


def route(subs, outcomes):
    groups = Router(subs, PARENTS, NEWS_HORIZON).route_outcomes(outcomes)
    return {(ch.id, ts, d): sorted(o.indicator for o in group) for (ch, ts, d), group in groups.items()}


COMMUNE = "QN-HALONG-P-HONGGAI"


@pytest.mark.parametrize(
    ("subs", "want"),
    [
        pytest.param([make_subscription(COMMUNE, 1)], {(1, "NQ09", DEADLINE): ["DG-04"]}, id="own-unit"),
        pytest.param([make_subscription("QN-HALONG", 1)], {}, id="parent-without-descendants"),
        pytest.param(
            [make_subscription("QN", 1, with_descendants=True)],
            {(1, "NQ09", DEADLINE): ["DG-04"]},
            id="province-with-descendants",
        ),
        pytest.param([make_subscription("QN-SO-KHCN", 1, with_descendants=True)], {}, id="other-subtree"),
        pytest.param([make_subscription(COMMUNE, 1, pillars=["digital_economy"])], {}, id="other-pillar"),
        pytest.param(
            [make_subscription(COMMUNE, 1, min_severity=Severity.CRITICAL)], {}, id="a-final-outcome-is-a-warning"
        ),
        pytest.param(
            [make_subscription(COMMUNE, 1), make_subscription("QN", 1, with_descendants=True, sub_id=9)],
            {(1, "NQ09", DEADLINE): ["DG-04"]},
            id="once-per-channel",
        ),
    ],
)
def test_outcomes_are_routed_like_alerts(subs, want) -> None:
    assert OUTCOME_SEVERITY is Severity.WARNING
    assert route(subs, [outcome()]) == want


def test_one_group_per_channel_target_set_and_deadline() -> None:
    subs = [make_subscription("QN", 1, with_descendants=True), make_subscription(COMMUNE, 2)]
    outcomes = [outcome(), outcome("QN-HALONG", "DG-05"), outcome(indicator="DG-06", milestone=date(2025, 6, 30))]
    assert route(subs, outcomes) == {
        (1, "NQ09", DEADLINE): ["DG-04", "DG-05"],
        (1, "NQ09", date(2025, 6, 30)): ["DG-06"],
        (2, "NQ09", DEADLINE): ["DG-04"],
        (2, "NQ09", date(2025, 6, 30)): ["DG-06"],
    }
