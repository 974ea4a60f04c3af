"""words: the one vocabulary for everything people read (CLI, digests, dashboards, problem messages).

The terms come from the programme's glossary (shared/reference/glossary.md): one term per concept,
in the administrative Vietnamese that provincial staff use. Code names (the dict keys) are English
and never shown to people. The terms the glossary retired are listed with their test
(``tests/unit/retired_terms.py``), which scans every user-facing string for them. Pure data, no
imports from the rest of the package: any layer may use it.
"""

from __future__ import annotations

from collections.abc import Mapping

# Result of a target (kết quả thực hiện chỉ tiêu).
RESULT: Mapping[str, str] = {
    "exceeded": "Vượt",
    "met": "Đạt",
    "on_track": "Đúng tiến độ",
    "at_risk": "Có nguy cơ không đạt",
    "behind": "Chậm tiến độ",
    "missed": "Không đạt",
    "no_data": "Chưa có số liệu",
}
NOT_YET_MET = "Chưa đạt"  # prose only (before a deadline), never a status
PROVISIONAL = "Tạm tính"
FINAL = "Chính thức"
FINAL_OUTCOMES = "Kết quả chính thức"  # the one-off notice of a deadline's final outcomes (our choice)
REVISED_AFTER_CUTOFF = "Số liệu điều chỉnh sau chốt"

# Reporting (tình hình báo cáo).
REPORTING: Mapping[str, str] = {
    "on_time": "Đúng hạn",
    "late": "Trễ hạn",
    "missing": "Chưa báo cáo",
}
REPORTING_RATE = "Tỷ lệ báo cáo"
ON_TIME_RATE = "Tỷ lệ báo cáo đúng hạn"
CUTOFF = "Chốt số liệu"
REPORTING_PERIOD = "Kỳ báo cáo"

# Data approval (phê duyệt số liệu), a dimension of its own: not the provisional/final outcome of a cut-off.
# Not in the glossary yet: DHIS2's Vietnamese terms, as issue 13 names them (our choice).
APPROVAL: Mapping[str, str] = {
    "submitted": "Chờ phê duyệt",
    "approved": "Đã phê duyệt",
    "returned": "Trả lại",
}
APPROVAL_HEADING = "Phê duyệt"

# Targets and measures.
INDICATOR = "Chỉ tiêu"
INDICATORS_LOWER = "chỉ tiêu"
TARGET = "Mục tiêu"
EXPECTED = "Mức cần đạt theo tiến độ"
BASELINE = "Giá trị cơ sở"
DEADLINE = "Thời hạn"
REPORTED_VALUE = "Giá trị báo cáo"
CURRENT_VALUE = "Số liệu hiện hành"
DECIDING_VALUE = "Số liệu tại thời hạn"
TARGET_SET = "Bộ chỉ tiêu"
SCORECARD = "Kết quả thực hiện"
EXPLANATION = "Nguyên nhân, giải pháp"
ADMIN_CODE = "Mã ĐVHC"
REPORTING_UNIT = "Đơn vị báo cáo"
SUCCESSOR = "Đơn vị kế thừa"
PREDECESSOR = "Đơn vị tiền thân"
REPORTS_IN_PERIOD = "Số lần gửi trong kỳ"
# Administrative levels and kinds of measure, as a sentence names them (lower case).
LEVEL: Mapping[str, str] = {
    "province": "cấp tỉnh",
    "department": "sở, ban, ngành",
    "district": "cấp huyện",
    "commune": "cấp xã",
}
# What an import did with each row of a spreadsheet (import summary), in the order it is told.
IMPORT_ROW: Mapping[str, str] = {
    "new": "mới",
    "corrected": "điều chỉnh",
    "unchanged": "không đổi",
    "ignored": "bỏ qua (dòng trống)",
    "refused": "bị từ chối",
}
# Reporting cadences, as "kỳ báo cáo …" names them (lower case).
CADENCE: Mapping[str, str] = {"monthly": "tháng", "quarterly": "quý", "half_yearly": "6 tháng", "yearly": "năm"}
MEASURE: Mapping[str, str] = {
    "ratio": "tỷ lệ",
    "percent": "phần trăm",
    "count": "số lượng",
    "rank": "thứ hạng",
    "boolean": "có/không",
}

# Alerts (cảnh báo).
SEVERITY: Mapping[str, str] = {"critical": "Nghiêm trọng", "warning": "Cần chú ý"}
NOTICE: Mapping[str, str] = {
    "new": "Mới",
    "reminder": "Nhắc lại",
    "open": "Chưa khắc phục",
    "resolved": "Đã khắc phục",
}
ESCALATED = "Chuyển cấp trên theo dõi"
SILENCE = "Tạm dừng thông báo"
ACKNOWLEDGED = "Đã tiếp nhận"
GREETING = "Kính gửi"

# Dates: where a person reads a time, the zone is named.
LOCAL_TIME_SUFFIX = "(giờ Việt Nam)"
