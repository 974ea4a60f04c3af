"""Unit detail (Chi tiết đơn vị): one unit — its status per indicator, last and overdue reports, history.

Variables: ``level`` narrows the unit list (every level, past units included: a district that ceased
on 30/06/2025 is listed with its end date), ``unit`` picks one, ``pillar`` filters indicators, and
the hidden ``indicator`` repeats the history panel once per indicator that applies to the unit's
level. History is the unit's own values in force (``period_values``); for a unit that succeeded
others (the 54 communes from 01/07/2025) the predecessors' history, re-aggregated by the evaluator
(``successor_values``), is drawn beside it, so 2022–2025 reads on the new unit's page.
The repeated panel's SQL writes ``${indicator:sqlstring}``, never ``$indicator``: a repeat clone
gets its value without the multi/All flags on Grafana 11.6, which would insert it unquoted
(grafana/interpolate.py, ``repeat_clones``).
Explanations (Nguyên nhân, giải pháp) are the period's in force (``period_values.explanation``); an
indicator with categories has them per category, shown labelled beside its total.
One dashboard, one file: its panels share the variables and the unit's SQL (over 400 lines for that).
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import table, timeseries
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import DynamicConfigValue, VariableRefresh

from dxmon import words
from dxmon.catalog import Catalog
from grafana.dashboards.panels import (
    CADENCE_LABELS,
    LEVEL_LABELS,
    PILLAR_LABELS,
    PROGRAMME_SETS_SQL,
    STATUS_LABELS,
    TIMEZONE,
    Sql,
    alert_annotations,
    default_dashboard,
    default_table,
    default_timeseries,
    hidden,
    labels_sql,
    level_variable,
    pillar_variable,
    query_variable,
    reporting_column,
    sql_literal,
    status_column,
    unit_link_columns,
    with_columns,
)

UID = "dx-unit-detail"
TZ = sql_literal(TIMEZONE)


def category_labels() -> dict[str, str]:
    """category_labels: the catalog's category names (e.g. ``commune`` → ``Cấp xã``), in the catalog's order."""
    return {c.code: c.name_vi for ind in Catalog.load().indicators.values() for c in ind.categories}


def explanation_column() -> tuple[str, list[DynamicConfigValue]]:
    """explanation_column: long text wraps in its cell and opens whole in the cell inspector."""
    return words.EXPLANATION, [
        DynamicConfigValue(id_val="custom.cellOptions", value={"type": "auto", "wrapText": True}),
        DynamicConfigValue(id_val="custom.inspect", value=True),
        DynamicConfigValue(id_val="custom.minWidth", value=320),
    ]


def unit_variable() -> dash.QueryVariable:
    """unit_variable: every unit of the chosen levels, current ones first; names carry their district and end date."""
    return query_variable(
        "unit",
        "Đơn vị",
        f"""
        SELECT u.name_vi
               || CASE WHEN p.level = 'district' THEN ', ' || p.name_vi ELSE '' END
               || CASE WHEN u.valid_to IS NOT NULL THEN ' (đến ' || to_char(u.valid_to, 'DD/MM/YYYY') || ')' ELSE '' END
               AS __text,
               u.code AS __value
        FROM units u
        JOIN {labels_sql(LEVEL_LABELS, "l")} ON l.code = u.level
        LEFT JOIN units p ON p.code = u.parent
        WHERE u.level IN ($level)
        ORDER BY u.valid_to IS NOT NULL, l.ord, u.name_vi, u.valid_to DESC
        """,
        multi=False,
    )


def indicator_variable() -> dash.QueryVariable:
    """indicator_variable: the indicators that apply to the unit's level, in the selected pillars (repeats panels)."""
    return hidden(
        query_variable(
            "indicator",
            words.INDICATOR,
            f"""
            SELECT i.code || ' · ' || i.name_vi AS __text, i.code AS __value
            FROM indicators i
            JOIN units u ON u.code = '$unit' AND u.level = ANY (i.applies_to)
            JOIN {labels_sql(PILLAR_LABELS, "p")} ON p.code = i.pillar
            WHERE i.pillar IN ($pillar)
            ORDER BY p.ord, i.code
            """,
            multi=True,
            refresh=VariableRefresh.ON_DASHBOARD_LOAD,
        )
    )


def unit_info_table() -> table.Panel:
    return default_table(
        "Thông tin đơn vị",
        Sql.table(
            f"""
            SELECT u.name_vi AS "Tên đơn vị", l.label AS "Cấp", p.name_vi AS "Trực thuộc",
                   u.valid_from AS "Hiệu lực từ", u.valid_to AS "Hiệu lực đến",
                   u.code AS "Mã đơn vị", u.gso AS "{words.ADMIN_CODE}"
            FROM units u
            JOIN {labels_sql(LEVEL_LABELS, "l")} ON l.code = u.level
            LEFT JOIN units p ON p.code = u.parent
            WHERE u.code = '$unit'
            """
        ),
        description="Tên, cấp, đơn vị cấp trên và thời gian tồn tại của đơn vị (theo danh mục đơn vị hành chính).",
    ).filterable(False)


def lineage_table() -> table.Panel:
    return with_columns(
        default_table(
            "Đơn vị tiền thân và kế thừa",
            Sql.table(
                f"""
                SELECT r.relation AS "Quan hệ", o.code AS unit, o.name_vi AS "Đơn vị", l.label AS "Cấp",
                       o.valid_from AS "Hiệu lực từ", o.valid_to AS "Hiệu lực đến",
                       CASE WHEN r.partial THEN 'Một phần' ELSE 'Toàn bộ' END AS "Phạm vi"
                FROM (
                    SELECT 'Tiền thân' AS relation, predecessor AS other, partial FROM unit_successors
                    WHERE successor = '$unit'
                    UNION ALL
                    SELECT 'Kế thừa', successor, partial FROM unit_successors
                    WHERE predecessor = '$unit'
                ) r
                JOIN units o ON o.code = r.other
                JOIN {labels_sql(LEVEL_LABELS, "l")} ON l.code = o.level
                ORDER BY r.relation DESC, o.name_vi
                """
            ),
            description="Đơn vị được sáp nhập vào đơn vị này (tiền thân) hoặc tiếp nhận đơn vị này (kế thừa) khi sắp "
            "xếp "
            "đơn vị hành chính; bấm tên để mở trang của đơn vị đó.",
        ).filterable(False),
        *unit_link_columns(),
    )


def status_table() -> table.Panel:
    return with_columns(
        default_table(
            "Trạng thái các chỉ tiêu",
            Sql.table(
                f"""
                SELECT pc.indicator AS "Mã", i.name_vi AS "{words.INDICATOR}", pc.status AS "Kết quả",
                       CASE WHEN pc.final THEN 'Chính thức' WHEN pc.provisional THEN 'Tạm tính' END
                         AS "Tạm tính / chính thức",
                       pc.reporting AS "Tình hình báo cáo",
                       pc.value AS "Giá trị", pc.deciding_value AS "Số liệu tại thời hạn",
                       pc.revised_value AS "Số liệu điều chỉnh sau chốt", pc.expected AS "{words.EXPECTED}",
                       pc.comparator || ' ' || trim_scale(round(pc.target::numeric, 2)) AS "Mục tiêu",
                       pc.milestone AS "Hạn", pc.target_set AS "{words.TARGET_SET}", pc.cutoff AS "Chốt số liệu",
                       pc.projection AS "Dự báo tại hạn",
                       pc.last_observed_at AS "Kỳ báo cáo gần nhất", pc.status_since AS "Kết quả từ"
                FROM progress_current pc
                JOIN indicators i ON i.code = pc.indicator
                JOIN {labels_sql(STATUS_LABELS, "s")} ON s.code = pc.status
                WHERE pc.unit = '$unit' AND pc.pillar IN ($pillar)
                ORDER BY s.ord, pc.indicator
                """
            ),
            description="Lần đánh giá gần nhất của từng chỉ tiêu có mục tiêu: giá trị mới nhất so với lộ trình "
            "(đường thẳng từ mốc xuất phát tới mốc kế tiếp), mục tiêu và hạn của mốc kế tiếp (theo bộ chỉ tiêu "
            "ghi bên cạnh: Nghị quyết 09 và định hướng đến 2030, hoặc văn bản khác có hiệu lực khi Nghị quyết 09 "
            "không còn mốc nào phía trước), dự báo theo xu hướng. "
            "Chậm nhất ở trên cùng.",
        ),
        status_column(),
        reporting_column(),
    )


def last_reports_table() -> table.Panel:
    return with_columns(
        default_table(
            "Báo cáo gần nhất",
            Sql.table(
                f"""
                SELECT i.code AS "Mã", i.name_vi AS "{words.INDICATOR}", c.label AS "Chu kỳ",
                       lv.observed_at AS "Kỳ báo cáo", lv.value AS "Giá trị",
                       lv.numerator AS "Tử số", lv.denominator AS "Mẫu số",
                       lv.received_at AS "Nhận lúc", lv.reports AS "{words.REPORTS_IN_PERIOD}",
                       coalesce(lv.explanation, (
                           -- a total explains nothing itself: its categories' explanations, labelled
                           SELECT string_agg(coalesce(g.label, m.category) || ': ' || m.explanation, E'\\n'
                                             ORDER BY g.ord, m.category)
                           FROM latest_values m
                           LEFT JOIN {labels_sql(category_labels(), "g")} ON g.code = m.category
                           WHERE m.unit = lv.unit AND m.indicator = lv.indicator AND m.category <> ''
                             AND m.period_start = lv.period_start AND m.explanation IS NOT NULL
                       )) AS "{words.EXPLANATION}",
                       (SELECT l.label FROM {labels_sql(words.APPROVAL, "l")} WHERE l.code = ap.approval)
                           AS "{words.APPROVAL_HEADING}"
                FROM indicators i
                JOIN units u ON u.code = '$unit' AND u.level = ANY (i.applies_to)
                JOIN {labels_sql(CADENCE_LABELS, "c")} ON c.code = i.cadence
                LEFT JOIN latest_values lv ON lv.unit = u.code AND lv.indicator = i.code AND lv.category = ''
                LEFT JOIN dx_approval_states('$unit', now()) ap  -- only when the programme approves its data
                    ON (SELECT approval FROM programme) AND ap.indicator = i.code AND ap.period_start = lv.period_start
                WHERE i.pillar IN ($pillar)
                ORDER BY lv.observed_at NULLS FIRST, i.code
                """
            ),
            description="Kỳ mới nhất đã báo cáo của từng chỉ tiêu áp dụng cho đơn vị (giá trị đang có hiệu lực: báo "
            "cáo "
            "sửa sau cùng thay thế báo cáo trước) và nguyên nhân, giải pháp đơn vị nêu cho kỳ đó. Chỉ tiêu chưa từng "
            "báo cáo ở trên cùng. Phê duyệt (khi chương trình bật phê duyệt số liệu): Chờ phê duyệt, Đã phê duyệt "
            "hoặc Trả lại.",
        ),
        explanation_column(),
    )


def explanations_table() -> table.Panel:
    return with_columns(
        default_table(
            f"{words.EXPLANATION} theo kỳ",
            Sql.table(
                f"""
                SELECT pv.indicator AS "Mã", i.name_vi AS "{words.INDICATOR}", g.label AS "Nhóm",
                       pv.period_start AS "Từ ngày", pv.period_end AS "Đến ngày", pv.value AS "Giá trị",
                       pv.explanation AS "{words.EXPLANATION}", pv.explanation_received_at AS "Nhận lúc"
                FROM period_values pv
                JOIN indicators i ON i.code = pv.indicator
                LEFT JOIN {labels_sql(category_labels(), "g")} ON g.code = pv.category
                WHERE pv.unit = '$unit' AND pv.explanation IS NOT NULL AND i.pillar IN ($pillar)
                  AND $__timeFilter(pv.period_end)
                ORDER BY pv.period_start DESC, pv.indicator, g.ord NULLS FIRST
                """
            ),
            description="Nguyên nhân, giải pháp đơn vị nêu cho từng kỳ trong khoảng thời gian đang xem (của báo cáo "
            "gửi sau cùng có nêu; báo cáo sửa số liệu mà không nêu thì giữ nguyên, nêu rỗng thì rút lại). Chỉ tiêu "
            "báo cáo theo nhóm có nguyên nhân, giải pháp theo từng nhóm.",
        ),
        explanation_column(),
    )


def overdue_table() -> table.Panel:
    return default_table(
        "Chỉ tiêu chưa báo cáo",
        Sql.table(
            f"""
            SELECT pc.indicator AS "Mã", i.name_vi AS "{words.INDICATOR}", c.label AS "Chu kỳ",
                   pc.last_observed_at AS "Kỳ báo cáo gần nhất", pc.overdue_since AS "Chưa báo cáo từ",
                   (pc.day - pc.overdue_since) AS "Số ngày chưa báo cáo"
            FROM progress_current pc
            JOIN indicators i ON i.code = pc.indicator
            JOIN {labels_sql(CADENCE_LABELS, "c")} ON c.code = i.cadence
            WHERE pc.unit = '$unit' AND pc.reporting = 'missing' AND pc.pillar IN ($pillar)
            ORDER BY pc.overdue_since, pc.indicator
            """
        ),
        description="Chỉ tiêu mà kỳ đã hết hạn nộp (cuối kỳ + số ngày gia hạn) vẫn chưa có báo cáo, theo lần đánh giá "
        "gần nhất (tình hình báo cáo: Chưa báo cáo).",
    )


def missing_reports_table() -> table.Panel:
    return default_table(
        "Kỳ báo cáo còn thiếu",
        Sql.table(
            f"""
            SELECT r.period_start AS "Từ ngày", r.period_end AS "Đến ngày", c.label AS "Chu kỳ",
                   r.expected AS "Phải nộp", r.actual AS "Đã nộp", r.on_time AS "Đúng hạn",
                   r.expected - r.actual AS "Còn thiếu"
            FROM reporting_rates r
            JOIN {labels_sql(CADENCE_LABELS, "c")} ON c.code = r.period
            WHERE r.unit = '$unit' AND r.actual < r.expected AND $__timeFilter(r.period_end)
            ORDER BY r.period_end DESC, c.ord
            """
        ),
        description="Các kỳ trong khoảng thời gian đang xem mà đơn vị chưa nộp đủ báo cáo: số chỉ tiêu phải nộp, đã "
        "nộp "
        "và nộp đúng hạn (cuối kỳ + số ngày quy định).",
    )


def _unit_series(table: str, label: str, ref_id: str, where: str = "") -> Sql:
    """_unit_series: the unit's values of the repeated indicator from ``table`` (a constant of ours)."""
    return Sql.series(
        f"""
        SELECT observed_at AS "time", value AS "{label}"
        FROM {table}
        WHERE unit = '$unit' AND indicator IN (${{indicator:sqlstring}}) AND $__timeFilter(observed_at){where}
        ORDER BY 1
        """,
        ref_id,
    )


def indicator_history_timeseries() -> timeseries.Panel:
    """indicator_history_timeseries: one indicator's values, predecessors' history, glide path and milestones."""
    values = _unit_series("period_values", "Giá trị báo cáo", "A", " AND category = ''")  # totals
    predecessors = _unit_series("successor_values", "Đơn vị tiền thân (tổng hợp)", "B")
    # The glide path drawn as a polyline: start anchor (baseline, else the unit's first value; a
    # milestone on the same day wins) capped at the first milestone after it, then the milestones.
    # dxmon/progress.py is the definition; booleans have no partial progress, hence no line.
    glide = Sql.series(
        f"""
        WITH target AS (
            -- NQ 09's target (its baseline), else the one that continues it.
            SELECT DISTINCT ON (t.indicator) t.indicator, t.baseline_date, t.baseline_value, i.direction
            FROM targets t
            JOIN units u ON u.code = '$unit' AND t.level = u.level
            JOIN indicators i ON i.code = t.indicator
            JOIN target_sets s ON s.code = t.target_set
            WHERE t.indicator IN (${{indicator:sqlstring}}) AND i.measure <> 'boolean'
              AND t.target_set IN {PROGRAMME_SETS_SQL}
            ORDER BY t.indicator, s.applies_from
        ),
        milestone AS (
            SELECT m.indicator, m.deadline, m.value
            FROM target_milestones m
            JOIN units u ON u.code = '$unit' AND m.level = u.level
            JOIN target ON target.indicator = m.indicator
            WHERE m.target_set IN {PROGRAMME_SETS_SQL}
        ),
        own_start AS (
            SELECT DISTINCT ON (v.indicator) v.indicator,
                   (v.observed_at AT TIME ZONE {TZ})::date AS day, v.value
            FROM period_values v
            JOIN target ON target.indicator = v.indicator
            WHERE v.unit = '$unit' AND v.category = ''
            ORDER BY v.indicator, v.observed_at
        ),
        anchor AS (
            SELECT target.indicator, target.direction,
                   coalesce(target.baseline_date, own_start.day) AS day,
                   coalesce(target.baseline_value, own_start.value) AS value
            FROM target
            LEFT JOIN own_start ON own_start.indicator = target.indicator
        )
        SELECT a.day::timestamp AT TIME ZONE {TZ} AS "time",
               CASE WHEN a.direction = 'higher_is_better' THEN least(a.value, n.value)
                    ELSE greatest(a.value, n.value) END AS "Lộ trình"
        FROM anchor a
        JOIN LATERAL (
            SELECT m.value FROM milestone m
            WHERE m.indicator = a.indicator AND m.deadline >= a.day
            ORDER BY m.deadline LIMIT 1
        ) n ON true
        WHERE NOT EXISTS (SELECT 1 FROM milestone m WHERE m.indicator = a.indicator AND m.deadline = a.day)
        UNION ALL
        SELECT m.deadline::timestamp AT TIME ZONE {TZ}, m.value
        FROM milestone m
        JOIN anchor a ON a.indicator = m.indicator
        WHERE m.deadline >= a.day
        ORDER BY 1
        """,
        "C",
    )
    milestones = Sql.series(
        f"""
        SELECT m.deadline::timestamp AT TIME ZONE {TZ} AS "time", m.value AS "Mục tiêu"
        FROM target_milestones m
        JOIN units u ON u.code = '$unit' AND m.level = u.level
        WHERE m.indicator IN (${{indicator:sqlstring}}) AND m.target_set IN {PROGRAMME_SETS_SQL}
        ORDER BY 1
        """,
        "D",
    )
    return (
        default_timeseries(
            "${indicator:text}",
            values,
            predecessors,
            glide,
            milestones,
            description="Giá trị đơn vị báo cáo theo kỳ; với đơn vị mới sau sắp xếp, số liệu tổng hợp của các đơn vị "
            "tiền "
            "thân; lộ trình (đường nét đứt) từ mốc xuất phát tới các mốc mục tiêu; mục tiêu (chấm) tại hạn của từng "
            "mốc.",
        )
        .repeat("indicator")
        .repeat_direction("h")
        .max_per_row(2)
        .span_nulls(True)
        .show_points(common.VisibilityMode.ALWAYS)
        .point_size(5)
        .override_by_name(
            "Lộ trình",
            [
                DynamicConfigValue(id_val="custom.lineStyle", value={"fill": "dash", "dash": [10, 10]}),
                DynamicConfigValue(id_val="custom.showPoints", value="never"),
                DynamicConfigValue(id_val="color", value={"mode": "fixed", "fixedColor": "blue"}),
            ],
        )
        .override_by_name(
            "Mục tiêu",
            [
                DynamicConfigValue(id_val="custom.drawStyle", value="points"),
                DynamicConfigValue(id_val="custom.pointSize", value=12),
                DynamicConfigValue(id_val="color", value={"mode": "fixed", "fixedColor": "red"}),
            ],
        )
        .override_by_name(
            "Đơn vị tiền thân (tổng hợp)",
            [
                DynamicConfigValue(id_val="custom.lineStyle", value={"fill": "dot", "dash": [0, 10]}),
                DynamicConfigValue(id_val="color", value={"mode": "fixed", "fixedColor": "gray"}),
            ],
        )
    )


def build() -> dash.Dashboard:
    return (
        default_dashboard(
            "Chi tiết đơn vị",
            UID,
            "Một đơn vị: trạng thái từng chỉ tiêu so với lộ trình và mục tiêu, báo cáo gần nhất, báo cáo quá hạn, diễn "
            "biến.",
        )
        .time("now-4y/y", "now/y")
        .annotation(alert_annotations("Cảnh báo của đơn vị", "$unit"))
        .with_variable(level_variable(in_period=False))
        .with_variable(unit_variable())
        .with_variable(pillar_variable())
        .with_variable(indicator_variable())
        .with_panel(unit_info_table().span(14).height(4))
        .with_panel(lineage_table().span(10).height(4))
        .with_panel(status_table().span(24).height(10))
        .with_panel(overdue_table().span(12).height(7))
        .with_panel(missing_reports_table().span(12).height(7))
        .with_panel(last_reports_table().span(24).height(10))
        .with_panel(explanations_table().span(24).height(8))
        .with_row(dash.Row("Diễn biến từng chỉ tiêu").collapsed(False))
        .with_panel(indicator_history_timeseries().span(12).height(8))
    )
