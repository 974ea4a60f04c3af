"""Alerts (Cảnh báo): what is firing now, what fired and resolved, and who silenced or acknowledged what.

Reads the alerts service's state (``alerts``, ``alert_events``, ``silences``, ``acknowledgements``).
A silence matches a unit and one indicator or all of them while ``starts_at <= now < ends_at``; an
acknowledgement holds one alert until ``until`` — the same rules services/alerts applies before
notifying, so the dashboard shows exactly what is muted. Channel URLs (secrets) are never read:
the Grafana role cannot.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import stat, table, timeseries
from grafana_foundation_sdk.models import common

from dxmon import words
from grafana.dashboards.panels import (
    ALERT_STATE_COLORS,
    ALERT_STATE_LABELS,
    LEVEL_LABELS,
    REPORTING_LABELS,
    SEVERITY_COLORS,
    SEVERITY_LABELS,
    STATUS_LABELS,
    Sql,
    alert_annotations,
    default_dashboard,
    default_stat,
    default_table,
    default_timeseries,
    fixed_colors,
    labels_sql,
    labels_variable,
    level_variable,
    mapped_column,
    pillar_variable,
    status_column,
    thresholds,
    unit_link_columns,
    with_columns,
)

UID = "dx-alerts"
# Alert kinds: results that can still be put right, and 'overdue' = reporting missing ('missed' is kept
# for the history of alerts raised before outcomes stopped being live alerts).
KIND_LABELS = {**{k: STATUS_LABELS[k] for k in ("behind", "at_risk", "missed")}, "overdue": REPORTING_LABELS["missing"]}


def _in_scope(alias: str) -> str:
    """_in_scope: rows of alerts/alert_events ``alias`` in the selected levels, pillars and kinds.

    Semi-joins keep the wide names out until the few rows a table shows are chosen.
    """
    return (
        f"{alias}.kind IN ($kind)"
        f" AND {alias}.unit IN (SELECT code FROM units WHERE level IN ($level))"
        f" AND {alias}.indicator IN (SELECT code FROM indicators WHERE pillar IN ($pillar))"
    )


_SILENCED = (
    "EXISTS (SELECT 1 FROM silences s WHERE s.unit = a.unit AND (s.indicator IS NULL OR s.indicator = a.indicator)"
    " AND s.starts_at <= now() AND s.ends_at > now())"
)
_ACKNOWLEDGED = "EXISTS (SELECT 1 FROM acknowledgements k WHERE k.fingerprint = a.fingerprint AND k.until > now())"


def kind_variable() -> dash.QueryVariable:
    return labels_variable("kind", "Loại cảnh báo", KIND_LABELS)


def _count_stat(title: str, condition: str, description: str, color: str) -> stat.Panel:
    return default_stat(
        title,
        Sql.table(
            f"""
            SELECT count(*) AS "Cảnh báo"
            FROM alerts a
            WHERE a.state = 'firing' AND {_in_scope("a")}{condition}
            """
        ),
        description=description,
        unit="short",
    ).thresholds(thresholds((None, "green"), (1, color)))


def firing_stat() -> stat.Panel:
    return _count_stat("Cảnh báo đang mở", "", "Cảnh báo đang mở (chưa kết thúc) theo các bộ lọc đang chọn.", "orange")


def critical_stat() -> stat.Panel:
    return _count_stat(
        "Nghiêm trọng",
        " AND a.severity = 'critical'",
        "Cảnh báo mức nghiêm trọng đang mở: mốc mục tiêu đã qua mà không đạt, không thể khắc phục được nữa.",
        "red",
    )


def silenced_stat() -> stat.Panel:
    return _count_stat(
        "Đang tạm dừng thông báo",
        f" AND {_SILENCED}",
        "Cảnh báo đang mở nhưng thuộc một lệnh tạm dừng thông báo còn hiệu lực: vẫn hiển thị ở đây, không gửi thông "
        "báo.",
        "blue",
    )


def acknowledged_stat() -> stat.Panel:
    return _count_stat(
        "Đã có người nhận xử lý",
        f" AND {_ACKNOWLEDGED}",
        "Cảnh báo đang mở đã được tiếp nhận (có người nhận xử lý): không nhắc lại cho tới hết hạn tiếp nhận.",
        "blue",
    )


def open_alerts_table() -> table.Panel:
    return with_columns(
        default_table(
            "Danh sách cảnh báo đang mở",
            Sql.table(
                f"""
                WITH shown AS (
                    SELECT * FROM alerts a
                    WHERE a.state = 'firing' AND {_in_scope("a")}
                    ORDER BY a.severity = 'critical' DESC, a.starts_at, a.unit, a.indicator
                    LIMIT 500
                )
                SELECT a.unit AS unit, u.name_vi AS "Đơn vị", l.label AS "Cấp", a.indicator AS "Mã",
                       i.name_vi AS "{words.INDICATOR}", a.kind AS "Loại", a.severity AS "Mức độ",
                       a.starts_at AS "Bắt đầu", a.value AS "Giá trị", a.expected AS "{words.EXPECTED}",
                       a.target AS "Mục tiêu", a.milestone AS "Hạn",
                       (SELECT max(s.ends_at) FROM silences s
                        WHERE s.unit = a.unit AND (s.indicator IS NULL OR s.indicator = a.indicator)
                          AND s.starts_at <= now() AND s.ends_at > now()) AS "Tạm dừng thông báo đến",
                       k.until AS "Tiếp nhận đến", k.created_by AS "Người tiếp nhận"
                FROM shown a
                JOIN units u ON u.code = a.unit
                JOIN indicators i ON i.code = a.indicator
                JOIN {labels_sql(LEVEL_LABELS, "l")} ON l.code = u.level
                LEFT JOIN acknowledgements k ON k.fingerprint = a.fingerprint AND k.until > now()
                ORDER BY a.severity = 'critical' DESC, a.starts_at, a.unit, a.indicator
                """
            ),
            description="Các cảnh báo chưa kết thúc, nghiêm trọng và lâu nhất ở trên; kèm lệnh tạm dừng thông báo và "
            "tiếp nhận đang hiệu lực. Bấm tên đơn vị để xem chi tiết.",
        ),
        *unit_link_columns(),
        status_column("Loại"),
        mapped_column("Mức độ", SEVERITY_LABELS, SEVERITY_COLORS),
    )


def events_timeseries() -> timeseries.Panel:
    return fixed_colors(
        default_timeseries(
            "Cảnh báo phát sinh và kết thúc",
            Sql.series(
                f"""
                SELECT $__timeGroupAlias(e.at, $__interval), st.label AS metric, count(*) AS value
                FROM alert_events e
                JOIN {labels_sql(ALERT_STATE_LABELS, "st")} ON st.code = e.state
                WHERE $__timeFilter(e.at) AND {_in_scope("e")}
                GROUP BY 1, 2
                ORDER BY 1
                """
            ),
            description="Số cảnh báo phát sinh (mở mới) và kết thúc trong từng khoảng thời gian.",
            unit="short",
        ).draw_style(common.GraphDrawStyle.BARS),
        {ALERT_STATE_LABELS[code]: color for code, color in ALERT_STATE_COLORS.items()},
    )


def history_table() -> table.Panel:
    return with_columns(
        default_table(
            "Lịch sử cảnh báo",
            Sql.table(
                f"""
                WITH shown AS (
                    SELECT * FROM alert_events e
                    WHERE $__timeFilter(e.at) AND {_in_scope("e")}
                    ORDER BY e.at DESC, e.id DESC
                    LIMIT 1000
                )
                SELECT e.at AS "Thời điểm", e.state AS "Diễn biến", e.unit AS unit, u.name_vi AS "Đơn vị",
                       e.indicator AS "Mã", i.name_vi AS "{words.INDICATOR}", e.kind AS "Loại", e.severity AS "Mức độ",
                       e.value AS "Giá trị", e.expected AS "{words.EXPECTED}", e.target AS "Mục tiêu",
                       e.starts_at AS "Bắt đầu"
                FROM shown e
                JOIN units u ON u.code = e.unit
                JOIN indicators i ON i.code = e.indicator
                ORDER BY e.at DESC, e.id DESC
                """
            ),
            description="Mọi lần cảnh báo mở và kết thúc trong khoảng thời gian đang xem (mới nhất ở trên).",
        ),
        *unit_link_columns(),
        status_column("Loại"),
        mapped_column("Diễn biến", ALERT_STATE_LABELS, ALERT_STATE_COLORS),
        mapped_column("Mức độ", SEVERITY_LABELS, SEVERITY_COLORS),
    )


def silences_table() -> table.Panel:
    return with_columns(
        default_table(
            "Lệnh tạm dừng thông báo",
            Sql.table(
                f"""
                SELECT s.unit AS unit, coalesce(u.name_vi, s.unit) AS "Đơn vị",
                       coalesce(i.name_vi, 'Tất cả chỉ tiêu') AS "{words.INDICATOR}",
                       s.starts_at AS "Từ", s.ends_at AS "Đến", s.reason AS "Lý do", s.created_by AS "Người tạo",
                       CASE WHEN s.starts_at <= now() AND s.ends_at > now() THEN 'Đang hiệu lực'
                            WHEN s.starts_at > now() THEN 'Chưa bắt đầu' ELSE 'Đã hết hạn' END AS "Tình trạng"
                FROM silences s
                LEFT JOIN units u ON u.code = s.unit
                LEFT JOIN indicators i ON i.code = s.indicator
                WHERE s.ends_at > now() OR $__timeFilter(s.ends_at)
                ORDER BY s.ends_at DESC
                LIMIT 500
                """
            ),
            description="Lệnh tạm dừng thông báo còn hiệu lực, sắp bắt đầu, hoặc đã hết hạn trong khoảng thời gian "
            "đang xem. "
            "Trong thời gian tạm dừng, cảnh báo của đơn vị (một chỉ tiêu hoặc tất cả) vẫn mở nhưng không gửi thông "
            "báo.",
        ),
        *unit_link_columns(),
    )


def acknowledgements_table() -> table.Panel:
    return with_columns(
        default_table(
            "Tiếp nhận xử lý",
            Sql.table(
                f"""
                SELECT a.unit AS unit, u.name_vi AS "Đơn vị", i.name_vi AS "{words.INDICATOR}", a.kind AS "Loại",
                       k.created_at AS "Tiếp nhận lúc", k.until AS "Đến", k.reason AS "Lý do",
                       k.created_by AS "Người tiếp nhận", a.state AS "Cảnh báo"
                FROM acknowledgements k
                JOIN alerts a ON a.fingerprint = k.fingerprint
                JOIN units u ON u.code = a.unit
                JOIN indicators i ON i.code = a.indicator
                WHERE k.until > now() OR $__timeFilter(k.until)
                ORDER BY k.until DESC
                LIMIT 500
                """
            ),
            description="Ai đã nhận xử lý cảnh báo nào, đến khi nào; trong thời gian đó không nhắc lại cảnh báo.",
        ),
        *unit_link_columns(),
        status_column("Loại"),
        mapped_column("Cảnh báo", ALERT_STATE_LABELS, ALERT_STATE_COLORS),
    )


def build() -> dash.Dashboard:
    return (
        default_dashboard(
            "Cảnh báo",
            UID,
            "Cảnh báo chậm tiến độ, có nguy cơ, không đạt và chưa báo cáo: đang mở, lịch sử, tạm dừng thông báo và "
            "tiếp nhận.",
        )
        .time("now-30d", "now")
        .refresh("5m")
        .annotation(alert_annotations("Cảnh báo"))
        .with_variable(level_variable(in_period=False))
        .with_variable(pillar_variable())
        .with_variable(kind_variable())
        .with_panel(firing_stat().span(6).height(4))
        .with_panel(critical_stat().span(6).height(4))
        .with_panel(silenced_stat().span(6).height(4))
        .with_panel(acknowledged_stat().span(6).height(4))
        .with_panel(open_alerts_table().span(24).height(10))
        .with_panel(events_timeseries().span(24).height(8))
        .with_panel(history_table().span(24).height(10))
        .with_panel(silences_table().span(12).height(8))
        .with_panel(acknowledgements_table().span(12).height(8))
    )
