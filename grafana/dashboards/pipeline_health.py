"""Pipeline health (Vận hành hệ thống): is the ingest → aggregator → database path keeping up?

Reads ``ingest_minutely`` (stored reports and ingest→commit lag per minute of commit, written by
the aggregator in the same transaction as the reports) and ``dead_letters``. Ingest's own
rejections (4xx) never reach the database: they are Prometheus metrics only, which the panels say.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import stat, table, timeseries
from grafana_foundation_sdk.models import common

from grafana.dashboards.panels import (
    Sql,
    default_dashboard,
    default_stat,
    default_table,
    default_timeseries,
    note_text,
    thresholds,
)

UID = "dx-pipeline"

REJECTIONS_NOTE = (
    "Báo cáo bị dịch vụ tiếp nhận (ingest) từ chối — sai khóa, sai mã đơn vị/chỉ số, sai định dạng "
    "(lỗi 4xx) — không được ghi vào cơ sở dữ liệu nên không có trên bảng này: chúng chỉ có trong chỉ số "
    'Prometheus `dx_ingest_requests_total{status=~"4.."}` (theo `reason`) tại `/metrics` của ingest. '
    "Bảng này chỉ đếm báo cáo đã qua ingest nhưng bị bộ tổng hợp (aggregator) chuyển vào hàng đợi lỗi."
)


def stored_stat() -> stat.Panel:
    return default_stat(
        "Báo cáo đã lưu",
        Sql.table('SELECT coalesce(sum(stored), 0) AS "Báo cáo" FROM ingest_minutely WHERE $__timeFilter(bucket)'),
        description="Số báo cáo được ghi vào cơ sở dữ liệu trong khoảng thời gian đang xem (không tính báo cáo gửi "
        "trùng).",
        unit="short",
    ).thresholds(thresholds((None, "blue")))


def mean_lag_stat() -> stat.Panel:
    return default_stat(
        "Độ trễ trung bình tiếp nhận → lưu",
        Sql.table(
            """
            SELECT sum(lag_ms_sum) / nullif(sum(stored), 0) AS "Độ trễ trung bình"
            FROM ingest_minutely
            WHERE $__timeFilter(bucket)
            """
        ),
        description="Thời gian trung bình từ lúc ingest nhận báo cáo đến lúc báo cáo được ghi xong (cam kết giao "
        "dịch).",
        unit="ms",
    ).thresholds(thresholds((None, "green"), (5000, "orange"), (60000, "red")))


def max_lag_stat() -> stat.Panel:
    return default_stat(
        "Độ trễ lớn nhất",
        Sql.table('SELECT max(lag_ms_max) AS "Độ trễ lớn nhất" FROM ingest_minutely WHERE $__timeFilter(bucket)'),
        description="Báo cáo chờ lâu nhất giữa tiếp nhận và lưu trữ; tăng vọt khi cơ sở dữ liệu hoặc aggregator gián "
        "đoạn.",
        unit="ms",
    ).thresholds(thresholds((None, "green"), (30000, "orange"), (300000, "red")))


def dead_letters_stat() -> stat.Panel:
    return default_stat(
        "Báo cáo vào hàng đợi lỗi",
        Sql.table('SELECT count(*) AS "Báo cáo lỗi" FROM dead_letters WHERE $__timeFilter(recorded_at)'),
        description="Báo cáo đã qua ingest nhưng không lưu được (không giải mã được, không hợp lệ với danh mục). "
        + REJECTIONS_NOTE,
        unit="short",
    ).thresholds(thresholds((None, "green"), (1, "red")))


def stored_per_minute_timeseries() -> timeseries.Panel:
    return (
        default_timeseries(
            "Báo cáo lưu mỗi phút",
            Sql.series(
                """
                SELECT $__timeGroupAlias(bucket, $__interval),
                       sum(stored) * 60000.0 / $__interval_ms AS "Báo cáo/phút"
                FROM ingest_minutely
                WHERE $__timeFilter(bucket)
                GROUP BY 1
                ORDER BY 1
                """
            ),
            description="Số báo cáo lưu được trung bình mỗi phút trong từng khoảng (theo phút cam kết giao dịch).",
            unit="short",
        )
        # ingest_minutely has one row per minute: a finer $__interval would overstate the rate.
        .interval("1m")
        .draw_style(common.GraphDrawStyle.BARS)
    )


def lag_timeseries() -> timeseries.Panel:
    return default_timeseries(
        "Độ trễ tiếp nhận → lưu",
        Sql.series(
            """
            SELECT $__timeGroupAlias(bucket, $__interval),
                   sum(lag_ms_sum) / nullif(sum(stored), 0) AS "Trung bình",
                   max(lag_ms_max) AS "Lớn nhất"
            FROM ingest_minutely
            WHERE $__timeFilter(bucket)
            GROUP BY 1
            ORDER BY 1
            """
        ),
        description="Thời gian từ khi ingest nhận báo cáo đến khi báo cáo được ghi vào cơ sở dữ liệu.",
        unit="ms",
    ).interval("1m")


def dead_letters_timeseries() -> timeseries.Panel:
    return (
        default_timeseries(
            "Báo cáo vào hàng đợi lỗi theo lý do",
            Sql.series(
                """
                SELECT $__timeGroupAlias(recorded_at, $__interval), reason AS metric, count(*) AS value
                FROM dead_letters
                WHERE $__timeFilter(recorded_at)
                GROUP BY 1, 2
                ORDER BY 1
                """
            ),
            description="Báo cáo bị aggregator chuyển vào hàng đợi lỗi, theo lý do. " + REJECTIONS_NOTE,
            unit="short",
        )
        .interval("1m")
        .draw_style(common.GraphDrawStyle.BARS)
    )


def dead_letters_table() -> table.Panel:
    return default_table(
        "Báo cáo lỗi gần nhất",
        Sql.table(
            """
            SELECT recorded_at AS "Thời điểm", reason AS "Lý do", subject AS "Chủ đề",
                   detail AS "Chi tiết", stream_seq AS "Số thứ tự trong luồng"
            FROM dead_letters
            WHERE $__timeFilter(recorded_at)
            ORDER BY recorded_at DESC
            LIMIT 200
            """
        ),
        description="200 báo cáo lỗi mới nhất trong khoảng thời gian đang xem, kèm lý do để đơn vị gửi sửa lại.",
    )


def build() -> dash.Dashboard:
    return (
        default_dashboard(
            "Vận hành hệ thống",
            UID,
            "Sức khỏe đường truyền báo cáo: số báo cáo lưu mỗi phút, độ trễ tiếp nhận → lưu, báo cáo lỗi.",
        )
        .time("now-6h", "now")
        .refresh("1m")
        .with_panel(stored_stat().span(6).height(4))
        .with_panel(mean_lag_stat().span(6).height(4))
        .with_panel(max_lag_stat().span(6).height(4))
        .with_panel(dead_letters_stat().span(6).height(4))
        .with_panel(stored_per_minute_timeseries().span(12).height(8))
        .with_panel(lag_timeseries().span(12).height(8))
        .with_panel(dead_letters_timeseries().span(12).height(8))
        .with_panel(note_text("Báo cáo bị từ chối khi tiếp nhận", REJECTIONS_NOTE).span(12).height(8))
        .with_panel(dead_letters_table().span(24).height(10))
    )
