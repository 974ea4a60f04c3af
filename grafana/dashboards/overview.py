"""Province overview (Tổng quan chuyển đổi số): where the province stands, and who is behind.

Status panels read the latest evaluation (``progress_current``, ``milestone_outcomes``); the
province-wide indicator table rolls up ``latest_values`` of the units active today (the 54 new
communes, not the districts that ceased in 2025); reporting panels read ``reporting_rates`` for the
month chosen in ``$period``, whatever units existed then — so a month of 2024 counts districts and
the old communes — and ``$period`` offers only the levels that existed in that month. Ratios are
rolled up by summing numerators and denominators, counts by summing values; other measures are not
rolled up (a share cannot be recombined without its parts). The province's own report is shown
beside the roll-up, never added to it (it already covers the whole province).
One dashboard, one file: its panels share the variables and the roll-up SQL (over 400 lines for that).
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import barchart, stat, table, timeseries
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import DynamicConfigValue

from dxmon import words
from dxmon.catalog import PROGRAMME_SET
from dxmon.store.evaluation_sql import satisfies
from grafana.dashboards.panels import (
    LEVEL_LABELS,
    PILLAR_LABELS,
    PROGRAMME_SETS_SQL,
    REPORTING_COLORS,
    REPORTING_LABELS,
    STATUS_COLORS,
    STATUS_LABELS,
    TIMEZONE,
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
# Before the deadline a target not yet reached is "Chưa đạt" (prose, not a status): the glossary's words.
ASSESSMENT_LABELS = {"met": words.RESULT["met"], "not_met": words.NOT_YET_MET, "no_data": words.RESULT["no_data"]}
ASSESSMENT_COLORS = {"met": "green", "not_met": "red", "no_data": "gray"}

# Reports due in the chosen month: periods (of any cadence) that end in it.
_PERIOD_ENDS_IN_MONTH = (
    "r.period_end >= '$period'::date AND r.period_end < '$period'::date + INTERVAL '1 month'"
    " AND r.period_start > '$period'::date - INTERVAL '1 year'"
)


def pillar_targets_table() -> table.Panel:
    return with_columns(
        default_table(
            "Chỉ tiêu toàn tỉnh đã đạt, theo trụ cột",
            Sql.table(
                f"""
                SELECT p.label AS "Trụ cột",
                       count(*) FILTER (WHERE pc.status IN ('met', 'exceeded')) AS "{words.RESULT["met"]}",
                       count(*) AS "Số chỉ tiêu",
                       round(100.0 * count(*) FILTER (WHERE pc.status IN ('met', 'exceeded')) / count(*), 1)
                         AS "Tỷ lệ đạt"
                FROM units u
                JOIN progress_current pc ON pc.unit = u.code
                JOIN {labels_sql(PILLAR_LABELS, "p")} ON p.code = pc.pillar
                WHERE u.level = 'province' AND pc.active AND pc.pillar IN ($pillar)
                GROUP BY p.label, p.ord
                ORDER BY p.ord
                """
            ),
            description="Chỉ tiêu của tỉnh (đơn vị cấp tỉnh) đã đạt mốc kế tiếp, theo lần đánh giá gần nhất.",
        ).filterable(False),
        (
            "Tỷ lệ đạt",
            [
                DynamicConfigValue(id_val="unit", value="percent"),
                DynamicConfigValue(id_val="min", value=0),
                DynamicConfigValue(id_val="max", value=100),
                DynamicConfigValue(id_val="thresholds", value=percent_thresholds().build().to_json()),
                DynamicConfigValue(id_val="custom.cellOptions", value={"type": "gauge", "mode": "gradient"}),
            ],
        ),
    )


def _rate_stat(title: str, counted: str, description: str) -> stat.Panel:
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


def reporting_rate_stat() -> stat.Panel:
    return _rate_stat(
        "Tỷ lệ báo cáo",
        "actual",
        "Số báo cáo đã nhận trên số báo cáo phải nộp, cho các kỳ kết thúc trong kỳ báo cáo đang chọn "
        "(kỳ tháng; kỳ quý, kỳ năm nếu kết thúc trong tháng đó).",
    )


def on_time_rate_stat() -> stat.Panel:
    return _rate_stat(
        "Tỷ lệ báo cáo đúng hạn",
        "on_time",
        "Báo cáo nộp trong hạn (cuối kỳ + số ngày quy định của chỉ tiêu) trên số báo cáo phải nộp.",
    )


def reporting_by_level_barchart() -> barchart.Panel:
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


def _per_status(count: str) -> str:
    """_per_status: one column per status (Vietnamese label, worst first) counting ``count`` ({code} is the status)."""
    return ",\n".join(
        f'       {count.format(code=sql_literal(code), rank=i)} AS "{label}"'
        for i, (code, label) in enumerate(STATUS_LABELS.items())
    )


def _status_barchart(title: str, query: Sql, x_field: str, description: str) -> barchart.Panel:
    panel = default_barchart(title, query, x_field=x_field, description=description)
    panel = panel.stacking(common.StackingMode.NORMAL).show_value(common.VisibilityMode.AUTO)
    return fixed_colors(panel, {STATUS_LABELS[code]: color for code, color in STATUS_COLORS.items()})


def status_by_level_barchart() -> barchart.Panel:
    return _status_barchart(
        "Kết quả thực hiện chỉ tiêu, theo cấp",
        Sql.table(
            f"""
            SELECT l.label AS "Cấp",
            {_per_status("count(*) FILTER (WHERE pc.status = {code})")}
            FROM progress_current pc
            JOIN {labels_sql(LEVEL_LABELS, "l")} ON l.code = pc.level
            WHERE pc.active AND pc.level IN ($level) AND pc.pillar IN ($pillar)
            GROUP BY l.label, l.ord
            ORDER BY l.ord
            """
        ),
        "Cấp",
        "Số cặp (đơn vị đang hoạt động, chỉ tiêu) ở mỗi kết quả, theo lần đánh giá gần nhất: bức tranh của một cấp "
        "là số chỉ tiêu ở từng kết quả, không phải chỉ tiêu xấu nhất. Tình hình báo cáo có biểu đồ riêng.",
    )


def reporting_status_by_level_barchart() -> barchart.Panel:
    columns = ",\n".join(
        f'       count(*) FILTER (WHERE pc.reporting = {sql_literal(code)}) AS "{label}"'
        for code, label in REPORTING_LABELS.items()
    )
    panel = default_barchart(
        "Tình hình báo cáo, theo cấp",
        Sql.table(
            f"""
            SELECT l.label AS "Cấp",
            {columns}
            FROM progress_current pc
            JOIN {labels_sql(LEVEL_LABELS, "l")} ON l.code = pc.level
            WHERE pc.active AND pc.level IN ($level) AND pc.pillar IN ($pillar)
            GROUP BY l.label, l.ord
            ORDER BY l.ord
            """
        ),
        x_field="Cấp",
        description="Kỳ báo cáo đã hết hạn gần nhất của mỗi cặp (đơn vị, chỉ tiêu): đã gửi đúng hạn, gửi trễ hạn, "
        "hay chưa báo cáo — một đánh giá riêng, không trộn với kết quả thực hiện chỉ tiêu.",
    )
    panel = panel.stacking(common.StackingMode.NORMAL).show_value(common.VisibilityMode.AUTO)
    return fixed_colors(panel, {REPORTING_LABELS[code]: color for code, color in REPORTING_COLORS.items()})


def status_by_pillar_barchart() -> barchart.Panel:
    return _status_barchart(
        "Chỉ tiêu của các đơn vị theo trạng thái, theo trụ cột",
        Sql.table(
            f"""
            SELECT p.label AS "Trụ cột",
            {_per_status("coalesce(sum(r.units) FILTER (WHERE r.status = {code}), 0)")}
            FROM progress_rollup r
            JOIN {labels_sql(PILLAR_LABELS, "p")} ON p.code = r.pillar
            WHERE r.level IN ($level) AND r.pillar IN ($pillar)
            GROUP BY p.label, p.ord
            ORDER BY p.ord
            """
        ),
        "Trụ cột",
        "Mỗi cặp (đơn vị đang hoạt động, chỉ tiêu có mục tiêu) được đếm một lần theo trạng thái của nó, theo lần đánh "
        "giá gần nhất (bảng tổng hợp progress_rollup).",
    )


def furthest_behind_table() -> table.Panel:
    return with_columns(
        default_table(
            "Đơn vị chậm nhất",
            Sql.table(
                f"""
                WITH worst AS (
                    SELECT pc.unit,
                           count(*) FILTER (WHERE pc.status IN ('behind', 'missed')) AS behind,
                           count(*) FILTER (WHERE pc.status = 'at_risk') AS at_risk,
                           count(*) FILTER (WHERE pc.reporting = 'missing') AS overdue,
                           avg(100 * CASE WHEN i.direction = 'higher_is_better' THEN pc.expected - pc.value
                                          ELSE pc.value - pc.expected END / nullif(abs(pc.expected), 0))
                               FILTER (WHERE pc.status IN ('behind', 'missed')) AS shortfall
                    FROM progress_current pc
                    JOIN indicators i ON i.code = pc.indicator
                    WHERE pc.active AND pc.level IN ($level) AND pc.pillar IN ($pillar)
                      AND (pc.status IN ('behind', 'missed', 'at_risk') OR pc.reporting = 'missing')
                    GROUP BY pc.unit
                    ORDER BY behind DESC, shortfall DESC NULLS LAST, overdue DESC, at_risk DESC, pc.unit
                    LIMIT 20
                )
                SELECT w.unit AS unit, u.name_vi AS "Đơn vị", l.label AS "Cấp", p.name_vi AS "Trực thuộc",
                       w.behind AS "Chậm / không đạt", w.at_risk AS "Có nguy cơ",
                       w.overdue AS "{words.REPORTING["missing"]}",
                       round(w.shortfall::numeric, 1) AS "Thiếu hụt so với lộ trình"
                FROM worst w
                JOIN units u ON u.code = w.unit
                LEFT JOIN units p ON p.code = u.parent
                JOIN {labels_sql(LEVEL_LABELS, "l")} ON l.code = u.level
                ORDER BY w.behind DESC, w.shortfall DESC NULLS LAST, w.overdue DESC, w.at_risk DESC, w.unit
                """
            ),
            description="20 đơn vị có nhiều chỉ tiêu chậm tiến độ hoặc không đạt mốc nhất; thiếu hụt là mức thấp hơn "
            "lộ trình "
            f"trung bình của các chỉ tiêu đó, tính theo % {words.EXPECTED.lower()}. Bấm tên đơn vị để xem chi tiết.",
        ),
        *unit_link_columns(),
        ("Thiếu hụt so với lộ trình", [DynamicConfigValue(id_val="unit", value="percent")]),
    )


def province_indicators_table() -> table.Panel:
    met = satisfies("coalesce(r.own, r.rolled)", "r.comparator", "r.value")
    return with_columns(
        default_table(
            "Chỉ tiêu toàn tỉnh so với mục tiêu",
            Sql.table(
                f"""
                WITH rolled AS (
                    -- Each active unit's newest value per indicator (ceased units' values are history).
                    SELECT lv.indicator, count(*) AS reporters,
                           100 * sum(lv.numerator) / nullif(sum(lv.denominator), 0) AS ratio, sum(lv.value) AS total,
                           -- A published percentage has no parts to add: such units are left out of the ratio.
                           count(*) FILTER (WHERE lv.percent_only OR lv.includes_percent_only) AS percent_only
                    FROM latest_values lv
                    JOIN units u ON u.code = lv.unit
                    WHERE lv.category = ''  -- the total of an indicator with categories
                      AND (u.valid_to IS NULL OR u.valid_to >= (now() AT TIME ZONE {TZ})::date)
                      AND u.level <> 'province' AND u.level IN ($level)
                    GROUP BY lv.indicator
                ),
                own AS (
                    SELECT lv.indicator, lv.value
                    FROM units u
                    JOIN latest_values lv ON lv.unit = u.code AND lv.category = ''
                    WHERE u.level = 'province'
                ),
                t AS (
                    -- The province's next milestone; the last one once all have passed.
                    SELECT DISTINCT ON (m.indicator) m.indicator, m.deadline, m.value, m.comparator
                    FROM target_milestones m
                    CROSS JOIN (SELECT (now() AT TIME ZONE {TZ})::date AS today) d
                    WHERE m.level = 'province' AND m.target_set IN {PROGRAMME_SETS_SQL}
                    ORDER BY m.indicator, m.deadline < d.today, abs(m.deadline - d.today)
                ),
                rows AS (
                    SELECT i.code, i.name_vi, i.pillar, own.value AS own, coalesce(rolled.reporters, 0) AS reporters,
                           CASE i.measure WHEN 'ratio' THEN coalesce(rolled.percent_only, 0) END AS percent_only,
                           CASE i.measure WHEN 'ratio' THEN rolled.ratio WHEN 'count' THEN rolled.total END AS rolled,
                           t.indicator IS NOT NULL AS has_target, t.deadline, t.value, t.comparator
                    FROM indicators i
                    LEFT JOIN rolled ON rolled.indicator = i.code
                    LEFT JOIN own ON own.indicator = i.code
                    LEFT JOIN t ON t.indicator = i.code
                    WHERE i.pillar IN ($pillar)
                )
                SELECT r.code AS "Mã", r.name_vi AS "{words.INDICATOR}", p.label AS "Trụ cột",
                       r.own AS "Tỉnh báo cáo", r.rolled AS "Tổng hợp từ các đơn vị",
                       r.reporters AS "Số đơn vị báo cáo",
                       r.percent_only AS "Đơn vị chỉ có tỷ lệ %",
                       r.comparator || ' ' || trim_scale(round(r.value::numeric, 2)) AS "Mục tiêu", r.deadline AS "Hạn",
                       CASE WHEN NOT r.has_target THEN NULL
                            WHEN coalesce(r.own, r.rolled) IS NULL THEN 'no_data'
                            WHEN {met} THEN 'met' ELSE 'not_met' END AS "Đánh giá"
                FROM rows r
                JOIN {labels_sql(PILLAR_LABELS, "p")} ON p.code = r.pillar
                ORDER BY p.ord, r.code
                """
            ),
            description="Từng chỉ tiêu hiện nay: số liệu mới nhất tỉnh tự báo cáo, và số tổng hợp từ số liệu mới nhất "
            "của "
            "các đơn vị đang hoạt động thuộc các cấp đang chọn (tỷ lệ = tổng tử số / tổng mẫu số; số lượng = tổng; chỉ "
            "số phần trăm, thứ hạng, có/không thì không cộng được), so với mục tiêu mốc kế tiếp của tỉnh. Đánh giá "
            "dùng "
            "số tỉnh báo cáo, nếu không có thì số tổng hợp. Đơn vị chỉ có tỷ lệ %: đơn vị có số liệu (hoặc một phân "
            "tổ) "
            "chỉ công bố tỷ lệ, không có tử số và mẫu số, nên không cộng được vào số tổng hợp.",
        ),
        mapped_column("Đánh giá", ASSESSMENT_LABELS, ASSESSMENT_COLORS),
    )


def scorecard_table() -> table.Panel:
    """The NQ 09 scorecard: final outcomes of each target's last NQ 09 milestone, per pillar."""
    return default_table(
        f"{words.SCORECARD} NQ 09 đến năm 2025",
        Sql.table(
            f"""
            WITH last AS (
                SELECT tm.indicator, tm.level, max(tm.deadline) AS deadline
                FROM target_milestones tm
                WHERE tm.target_set = {sql_literal(PROGRAMME_SET)}
                GROUP BY tm.indicator, tm.level
            )
            SELECT p.label AS "Trụ cột",
                   count(*) FILTER (WHERE mo.status = 'exceeded') AS "{words.RESULT["exceeded"]}",
                   count(*) FILTER (WHERE mo.status = 'met') AS "{words.RESULT["met"]}",
                   count(*) FILTER (WHERE mo.status = 'missed') AS "{words.RESULT["missed"]}",
                   count(*) FILTER (WHERE NOT mo.final) AS "{words.PROVISIONAL}",
                   count(*) FILTER (WHERE mo.status IN ('exceeded', 'met')) || '/' || count(*)
                       AS "{words.INDICATOR} đạt"
            FROM milestone_outcomes mo
            JOIN units u ON u.code = mo.unit
            JOIN last l ON l.indicator = mo.indicator AND l.level = u.level AND l.deadline = mo.milestone
                        AND mo.target_set = {sql_literal(PROGRAMME_SET)}
            JOIN indicators i ON i.code = mo.indicator
            JOIN {labels_sql(PILLAR_LABELS, "p")} ON p.code = i.pillar
            WHERE u.level IN ($level) AND i.pillar IN ($pillar)
            GROUP BY p.label, p.ord
            ORDER BY p.ord
            """
        ),
        description="Kết quả thực hiện Nghị quyết 09-NQ/TU (bộ chỉ tiêu đã kết thúc 31/12/2025): với mỗi cặp (đơn vị, "
        "chỉ tiêu) của các cấp đang chọn, kết quả tại mốc cuối của bộ chỉ tiêu — chính thức sau ngày chốt số liệu, "
        "tạm tính trước đó. Không phát sinh cảnh báo.",
    )


def outcome_and_next_table() -> table.Panel:
    return default_table(
        f"Kết quả mốc {OUTCOME_YEAR} và tiến độ tới mốc tiếp theo",
        Sql.table(
            f"""
            WITH outcome AS (
                SELECT mo.indicator,
                       count(*) FILTER (WHERE mo.status IN ('met', 'exceeded')) AS met,
                       count(*) FILTER (WHERE mo.status = 'missed') AS missed
                FROM milestone_outcomes mo
                JOIN units u ON u.code = mo.unit
                WHERE mo.milestone >= DATE '{OUTCOME_YEAR}-01-01' AND mo.milestone < DATE '{OUTCOME_YEAR + 1}-01-01'
                  AND mo.target_set = {sql_literal(PROGRAMME_SET)} AND u.level IN ($level)
                GROUP BY mo.indicator
            ),
            next AS (
                SELECT pc.indicator, min(pc.milestone) AS milestone,
                       count(*) FILTER (WHERE pc.status IN ('exceeded', 'met', 'on_track')) AS on_track,
                       count(*) FILTER (WHERE pc.status IN ('behind', 'at_risk')) AS behind,
                       count(*) AS units
                FROM progress_current pc
                WHERE pc.active AND pc.level IN ($level) AND pc.milestone > DATE '{OUTCOME_YEAR}-12-31'
                GROUP BY pc.indicator
            )
            SELECT i.code AS "Mã", i.name_vi AS "{words.INDICATOR}",
                   o.met AS "Đạt mốc {OUTCOME_YEAR}", o.missed AS "Không đạt mốc {OUTCOME_YEAR}",
                   round(100.0 * o.met / nullif(o.met + o.missed, 0), 1) AS "Tỷ lệ đạt {OUTCOME_YEAR}",
                   n.milestone AS "Mốc tiếp theo",
                   n.on_track AS "{words.RESULT["on_track"]}", n.behind AS "Chậm / có nguy cơ",
                   round(100.0 * n.on_track / nullif(n.units, 0), 1) AS "Tỷ lệ đúng tiến độ"
            FROM indicators i
            JOIN {labels_sql(PILLAR_LABELS, "p")} ON p.code = i.pillar
            LEFT JOIN outcome o ON o.indicator = i.code
            LEFT JOIN next n ON n.indicator = i.code
            WHERE i.pillar IN ($pillar) AND (o.indicator IS NOT NULL OR n.indicator IS NOT NULL)
            ORDER BY p.ord, i.code
            """
        ),
        description=f"Số đơn vị đạt và không đạt các mốc có hạn trong năm {OUTCOME_YEAR} (chốt theo giá trị có hiệu "
        "lực "
        "vào ngày hết hạn), bên cạnh tiến độ hiện tại tới mốc tiếp theo (thường là năm 2030): số đơn vị đã đạt hoặc "
        "đúng tiến độ và số đơn vị chậm hoặc có nguy cơ không đạt.",
    )


def reporting_rate_timeseries() -> timeseries.Panel:
    return (
        default_timeseries(
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
            description="Tỷ lệ báo cáo và báo cáo đúng hạn theo ngày kết thúc kỳ, qua các giai đoạn trước và sau sắp "
            "xếp "
            "đơn vị hành chính.",
            unit="percent",
        )
        .min(0)
        .max(100)
    )


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
        .with_panel(status_by_level_barchart().span(12).height(8))
        .with_panel(status_by_pillar_barchart().span(12).height(8))
        .with_panel(reporting_status_by_level_barchart().span(24).height(7))
        .with_panel(furthest_behind_table().span(24).height(10))
        .with_panel(province_indicators_table().span(24).height(14))
        .with_panel(scorecard_table().span(24).height(7))
        .with_panel(outcome_and_next_table().span(24).height(10))
        .with_panel(reporting_rate_timeseries().span(24).height(8))
    )
