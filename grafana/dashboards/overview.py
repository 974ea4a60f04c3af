"""Province overview (Tổng quan chuyển đổi số): where the province stands, and who is behind.

Status panels read the latest evaluation (``progress_current``, ``progress_rollup``,
``milestone_outcomes``); reporting panels read ``reporting_rates``; the province-wide indicator
table rolls up the values in force (``period_values``) of the reporting period chosen in
``$period``, whatever units existed then — so a month of 2024 counts districts and the old
communes, a month after June 2025 the 54 new communes. Ratios are rolled up by summing numerators
and denominators, counts by summing values; other measures are not rolled up (a share cannot be
recombined without its parts). The province's own report is shown beside the roll-up, never added
to it (it already covers the whole province).
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import DynamicConfigValue

from dxmon.store.progress_repository import satisfies
from grafana.dashboards.panels import (
    LEVEL_LABELS,
    PILLAR_LABELS,
    STATUS_COLORS,
    STATUS_LABELS,
    TIMEZONE,
    PanelBuilder,
    Sql,
    default_barchart,
    default_dashboard,
    default_stat,
    default_table,
    default_timeseries,
    fixed_colors,
    labels_sql,
    level_variable,
    mapped_column,
    percent_thresholds,
    period_variable,
    pillar_variable,
    sql_literal,
    unit_link_columns,
    with_columns,
)

UID = "dx-overview"
OUTCOME_YEAR = 2025  # Resolution 09-NQ/TU's horizon; 2030 milestones are "the next milestone".
TZ = sql_literal(TIMEZONE)
ASSESSMENT_LABELS = {"met": "Đạt mục tiêu", "not_met": "Chưa đạt mục tiêu", "no_data": "Chưa có số liệu"}
ASSESSMENT_COLORS = {"met": "green", "not_met": "red", "no_data": "gray"}

# Reports due in the chosen month: periods (of any cadence) that end in it.
_PERIOD_ENDS_IN_MONTH = (
    "r.period_end >= '$period'::date AND r.period_end < '$period'::date + INTERVAL '1 month'"
    " AND r.period_start > '$period'::date - INTERVAL '1 year'"
)


def pillar_targets_table() -> PanelBuilder:
    return with_columns(
        default_table(
            "Chỉ tiêu toàn tỉnh đã đạt, theo trụ cột",
            Sql.table(
                f"""
                SELECT p.label AS "Trụ cột",
                       count(*) FILTER (WHERE pc.status = 'met') AS "Đã đạt",
                       count(*) AS "Số chỉ tiêu",
                       round(100.0 * count(*) FILTER (WHERE pc.status = 'met') / count(*), 1) AS "Tỷ lệ đạt"
                FROM progress_current pc
                JOIN {labels_sql(PILLAR_LABELS, "p")} ON p.code = pc.pillar
                WHERE pc.level = 'province' AND pc.active AND pc.pillar IN ($pillar)
                GROUP BY p.label, p.ord
                ORDER BY p.ord
                """
            ),
            description="Chỉ tiêu của tỉnh (đơn vị cấp tỉnh) đã đạt mốc kế tiếp, theo lần đánh giá gần nhất.",
        ).filterable(False),
        ("Tỷ lệ đạt", [
            DynamicConfigValue(id_val="unit", value="percent"),
            DynamicConfigValue(id_val="min", value=0),
            DynamicConfigValue(id_val="max", value=100),
            DynamicConfigValue(id_val="thresholds", value=percent_thresholds().build().to_json()),
            DynamicConfigValue(id_val="custom.cellOptions", value={"type": "gauge", "mode": "gradient"}),
        ]),
    )


def _rate_stat(title: str, counted: str, description: str) -> PanelBuilder:
    return default_stat(
        title,
        Sql.table(
            f"""
            SELECT round(100.0 * sum(r.{counted}) / nullif(sum(r.expected), 0), 1) AS "{title}"
            FROM reporting_rates r
            JOIN units u ON u.code = r.unit
            WHERE {_PERIOD_ENDS_IN_MONTH} AND u.level IN ($level)
            """
        ),
        description=description,
        unit="percent",
    ).thresholds(percent_thresholds())


def reporting_rate_stat() -> PanelBuilder:
    return _rate_stat(
        "Tỷ lệ báo cáo",
        "actual",
        "Số báo cáo đã nhận trên số báo cáo phải nộp, cho các kỳ kết thúc trong kỳ báo cáo đang chọn "
        "(kỳ tháng; kỳ quý, kỳ năm nếu kết thúc trong tháng đó).",
    )


def on_time_rate_stat() -> PanelBuilder:
    return _rate_stat(
        "Tỷ lệ báo cáo đúng hạn",
        "on_time",
        "Báo cáo nộp trong hạn (cuối kỳ + số ngày quy định của chỉ số) trên số báo cáo phải nộp.",
    )


def reporting_by_level_barchart() -> PanelBuilder:
    return (
        default_barchart(
            "Tỷ lệ báo cáo theo cấp",
            Sql.table(
                f"""
                SELECT l.label AS "Cấp",
                       round(100.0 * sum(r.actual) / nullif(sum(r.expected), 0), 1) AS "Tỷ lệ báo cáo",
                       round(100.0 * sum(r.on_time) / nullif(sum(r.expected), 0), 1) AS "Tỷ lệ đúng hạn"
                FROM reporting_rates r
                JOIN units u ON u.code = r.unit
                JOIN {labels_sql(LEVEL_LABELS, "l")} ON l.code = u.level
                WHERE {_PERIOD_ENDS_IN_MONTH} AND u.level IN ($level)
                GROUP BY l.label, l.ord
                ORDER BY l.ord
                """
            ),
            x_field="Cấp",
            description="Tỷ lệ báo cáo và báo cáo đúng hạn của từng cấp trong kỳ báo cáo đang chọn.",
            unit="percent",
        )
        .show_value(common.VisibilityMode.ALWAYS)
        .min(0)
        .max(100)
    )


def status_by_level_barchart() -> PanelBuilder:
    status_columns = ",\n".join(
        f"       count(*) FILTER (WHERE s.code = {sql_literal(code)}) AS \"{label}\""
        for code, label in STATUS_LABELS.items()
    )
    panel = default_barchart(
        "Đơn vị theo trạng thái, theo cấp",
        Sql.table(
            f"""
            WITH per_unit AS (
                SELECT pc.unit, pc.level, min(s.ord) AS worst
                FROM progress_current pc
                JOIN {labels_sql(STATUS_LABELS, "s")} ON s.code = pc.status
                WHERE pc.active AND pc.level IN ($level) AND pc.pillar IN ($pillar)
                GROUP BY pc.unit, pc.level
            )
            SELECT l.label AS "Cấp",
            {status_columns}
            FROM per_unit
            JOIN {labels_sql(STATUS_LABELS, "s")} ON s.ord = per_unit.worst
            JOIN {labels_sql(LEVEL_LABELS, "l")} ON l.code = per_unit.level
            GROUP BY l.label, l.ord
            ORDER BY l.ord
            """
        ),
        x_field="Cấp",
        description="Số đơn vị đang hoạt động ở mỗi trạng thái, theo lần đánh giá gần nhất. Trạng thái của một đơn vị "
        "là trạng thái xấu nhất trong các chỉ số của đơn vị (thuộc các trụ cột đang chọn).",
    ).stacking(common.StackingMode.NORMAL).show_value(common.VisibilityMode.AUTO)
    return fixed_colors(panel, {STATUS_LABELS[code]: color for code, color in STATUS_COLORS.items()})


def furthest_behind_table() -> PanelBuilder:
    return with_columns(
        default_table(
            "Đơn vị chậm nhất",
            Sql.table(
                f"""
                SELECT pc.unit AS unit, u.name_vi AS "Đơn vị", l.label AS "Cấp", p.name_vi AS "Trực thuộc",
                       count(*) FILTER (WHERE pc.status IN ('behind', 'missed')) AS "Chậm / không đạt",
                       count(*) FILTER (WHERE pc.status = 'at_risk') AS "Có nguy cơ",
                       count(*) FILTER (WHERE pc.status = 'overdue') AS "Quá hạn báo cáo",
                       round(avg(100 * CASE WHEN i.direction = 'higher_is_better' THEN pc.expected - pc.value
                                            ELSE pc.value - pc.expected END / nullif(abs(pc.expected), 0))
                             FILTER (WHERE pc.status IN ('behind', 'missed'))::numeric, 1) AS "Thiếu hụt so với lộ trình"
                FROM progress_current pc
                JOIN indicators i ON i.code = pc.indicator
                JOIN units u ON u.code = pc.unit
                LEFT JOIN units p ON p.code = u.parent
                JOIN {labels_sql(LEVEL_LABELS, "l")} ON l.code = pc.level
                WHERE pc.active AND pc.level IN ($level) AND pc.pillar IN ($pillar)
                  AND pc.status IN ('behind', 'missed', 'at_risk', 'overdue')
                GROUP BY pc.unit, u.name_vi, l.label, p.name_vi
                ORDER BY "Chậm / không đạt" DESC, "Thiếu hụt so với lộ trình" DESC NULLS LAST,
                         "Quá hạn báo cáo" DESC, "Có nguy cơ" DESC, u.name_vi
                LIMIT 20
                """
            ),
            description="20 đơn vị có nhiều chỉ số chậm so với lộ trình hoặc không đạt mốc nhất; thiếu hụt là mức "
            "thấp hơn lộ trình trung bình của các chỉ số đó, tính theo % giá trị kỳ vọng. Bấm tên đơn vị để xem chi tiết.",
        ),
        *unit_link_columns(),
        ("Thiếu hụt so với lộ trình", [DynamicConfigValue(id_val="unit", value="percent")]),
    )


def province_indicators_table() -> PanelBuilder:
    met = satisfies("coalesce(pv.value, rolled.value)", "t.comparator", "t.value")
    return with_columns(
        default_table(
            "Chỉ số toàn tỉnh so với mục tiêu",
            Sql.table(
                f"""
                WITH win AS (
                    SELECT i.code, i.name_vi, i.pillar, i.measure, w.start,
                           (w.start + make_interval(months => c.months))::date AS stop
                    FROM indicators i
                    JOIN (VALUES ('monthly', 'month', 1), ('quarterly', 'quarter', 3), ('yearly', 'year', 12))
                         AS c (cadence, field, months) ON c.cadence = i.cadence
                    CROSS JOIN LATERAL (SELECT date_trunc(c.field, '$period'::date)::date AS start) w
                    WHERE i.pillar IN ($pillar)
                ),
                in_force AS (
                    -- The value in force per unit in the indicator's period containing $period.
                    SELECT DISTINCT ON (v.indicator, v.unit) v.indicator, v.unit, v.value, v.numerator, v.denominator
                    FROM win
                    JOIN period_values v ON v.indicator = win.code
                     AND v.observed_at >= win.start::timestamp AT TIME ZONE {TZ}
                     AND v.observed_at < win.stop::timestamp AT TIME ZONE {TZ}
                    ORDER BY v.indicator, v.unit, v.observed_at DESC
                ),
                rolled AS (
                    SELECT f.indicator, count(*) AS reporters,
                           CASE min(win.measure)
                               WHEN 'ratio' THEN 100 * sum(f.numerator) / nullif(sum(f.denominator), 0)
                               WHEN 'count' THEN sum(f.value)
                           END AS value
                    FROM in_force f
                    JOIN win ON win.code = f.indicator
                    JOIN units u ON u.code = f.unit
                    WHERE u.level <> 'province' AND u.level IN ($level)
                    GROUP BY f.indicator
                ),
                pv AS (
                    SELECT f.indicator, f.value FROM in_force f JOIN units u ON u.code = f.unit
                    WHERE u.level = 'province'
                ),
                t AS (
                    -- The province's next milestone after the period; the last one once all have passed.
                    SELECT DISTINCT ON (m.indicator) m.indicator, m.deadline, m.value, m.comparator
                    FROM target_milestones m
                    JOIN win ON win.code = m.indicator
                    WHERE m.level = 'province'
                    ORDER BY m.indicator, m.deadline < win.stop - 1, abs(m.deadline - (win.stop - 1))
                )
                SELECT win.code AS "Mã", win.name_vi AS "Chỉ số", p.label AS "Trụ cột",
                       pv.value AS "Tỉnh báo cáo", rolled.value AS "Tổng hợp từ các đơn vị",
                       coalesce(rolled.reporters, 0) AS "Số đơn vị báo cáo",
                       t.comparator || ' ' || trim_scale(round(t.value::numeric, 2)) AS "Mục tiêu", t.deadline AS "Hạn",
                       CASE WHEN t.indicator IS NULL THEN NULL
                            WHEN coalesce(pv.value, rolled.value) IS NULL THEN 'no_data'
                            WHEN {met} THEN 'met' ELSE 'not_met' END AS "Đánh giá"
                FROM win
                JOIN {labels_sql(PILLAR_LABELS, "p")} ON p.code = win.pillar
                LEFT JOIN rolled ON rolled.indicator = win.code
                LEFT JOIN pv ON pv.indicator = win.code
                LEFT JOIN t ON t.indicator = win.code
                ORDER BY p.ord, win.code
                """
            ),
            description="Từng chỉ số trong kỳ báo cáo đang chọn (kỳ tháng, quý hoặc năm chứa tháng đó): số liệu tỉnh tự "
            "báo cáo, và số tổng hợp từ các đơn vị thuộc các cấp đang chọn (tỷ lệ = tổng tử số / tổng mẫu số; số lượng = "
            "tổng), so với mục tiêu mốc kế tiếp của tỉnh. Đánh giá dùng số tỉnh báo cáo, nếu không có thì số tổng hợp.",
        ),
        mapped_column("Đánh giá", ASSESSMENT_LABELS, ASSESSMENT_COLORS),
    )


def outcome_and_next_table() -> PanelBuilder:
    return default_table(
        f"Kết quả mốc {OUTCOME_YEAR} và tiến độ tới mốc tiếp theo",
        Sql.table(
            f"""
            WITH outcome AS (
                SELECT mo.indicator,
                       count(*) FILTER (WHERE mo.status = 'met') AS met,
                       count(*) FILTER (WHERE mo.status = 'missed') AS missed
                FROM milestone_outcomes mo
                JOIN units u ON u.code = mo.unit
                WHERE mo.milestone >= DATE '{OUTCOME_YEAR}-01-01' AND mo.milestone < DATE '{OUTCOME_YEAR + 1}-01-01'
                  AND u.level IN ($level)
                GROUP BY mo.indicator
            ),
            next AS (
                SELECT pc.indicator, min(pc.milestone) AS milestone,
                       count(*) FILTER (WHERE pc.status IN ('met', 'on_track')) AS on_track,
                       count(*) FILTER (WHERE pc.status IN ('behind', 'at_risk')) AS behind,
                       count(*) AS units
                FROM progress_current pc
                WHERE pc.active AND pc.level IN ($level) AND pc.milestone > DATE '{OUTCOME_YEAR}-12-31'
                GROUP BY pc.indicator
            )
            SELECT i.code AS "Mã", i.name_vi AS "Chỉ số",
                   o.met AS "Đạt mốc {OUTCOME_YEAR}", o.missed AS "Không đạt mốc {OUTCOME_YEAR}",
                   round(100.0 * o.met / nullif(o.met + o.missed, 0), 1) AS "Tỷ lệ đạt {OUTCOME_YEAR}",
                   n.milestone AS "Mốc tiếp theo",
                   n.on_track AS "Đúng lộ trình", n.behind AS "Chậm / có nguy cơ",
                   round(100.0 * n.on_track / nullif(n.units, 0), 1) AS "Tỷ lệ đúng lộ trình"
            FROM indicators i
            JOIN {labels_sql(PILLAR_LABELS, "p")} ON p.code = i.pillar
            LEFT JOIN outcome o ON o.indicator = i.code
            LEFT JOIN next n ON n.indicator = i.code
            WHERE i.pillar IN ($pillar) AND (o.indicator IS NOT NULL OR n.indicator IS NOT NULL)
            ORDER BY p.ord, i.code
            """
        ),
        description=f"Số đơn vị đạt và không đạt các mốc có hạn trong năm {OUTCOME_YEAR} (chốt theo giá trị có hiệu lực "
        "vào ngày hết hạn), bên cạnh tiến độ hiện tại tới mốc tiếp theo (thường là năm 2030): số đơn vị đã đạt hoặc "
        "đúng lộ trình và số đơn vị chậm hoặc có nguy cơ không đạt.",
    )


def reporting_rate_timeseries() -> PanelBuilder:
    return default_timeseries(
        "Diễn biến tỷ lệ báo cáo",
        Sql.series(
            f"""
            SELECT r.period_end::timestamp AT TIME ZONE {TZ} AS "time",
                   100.0 * sum(r.actual) / nullif(sum(r.expected), 0) AS "Tỷ lệ báo cáo",
                   100.0 * sum(r.on_time) / nullif(sum(r.expected), 0) AS "Tỷ lệ đúng hạn"
            FROM reporting_rates r
            JOIN units u ON u.code = r.unit
            WHERE $__timeFilter(r.period_end) AND u.level IN ($level)
            GROUP BY r.period_end
            ORDER BY 1
            """
        ),
        description="Tỷ lệ báo cáo và báo cáo đúng hạn theo ngày kết thúc kỳ, qua các giai đoạn trước và sau sắp xếp "
        "đơn vị hành chính.",
        unit="percent",
    ).min(0).max(100)


def build() -> dash.Dashboard:
    return (
        default_dashboard(
            "Tổng quan chuyển đổi số",
            UID,
            "Chuyển đổi số tỉnh Quảng Ninh (Nghị quyết 09-NQ/TU): chỉ tiêu đã đạt, đơn vị chậm tiến độ, tỷ lệ báo cáo.",
        )
        .time("now-4y/y", "now")
        .with_variable(period_variable())
        .with_variable(level_variable(in_period=True))
        .with_variable(pillar_variable())
        .with_panel(pillar_targets_table().span(9).height(7))
        .with_panel(reporting_rate_stat().span(3).height(7))
        .with_panel(on_time_rate_stat().span(3).height(7))
        .with_panel(reporting_by_level_barchart().span(9).height(7))
        .with_panel(status_by_level_barchart().span(12).height(10))
        .with_panel(furthest_behind_table().span(12).height(10))
        .with_panel(province_indicators_table().span(24).height(14))
        .with_panel(outcome_and_next_table().span(24).height(10))
        .with_panel(reporting_rate_timeseries().span(24).height(8))
    )
