"""The terms ../shared/reference/glossary.md retired, kept with the test that hunts them (never shipped:
the product must not carry the words it may not show)."""

from __future__ import annotations

# Terms the glossary retired: none may appear in anything a person reads. Where a retired term is
# also the start of an allowed one ("Không đạt" inside "Không đạt mục tiêu"), the longer one is listed.
RETIRED: tuple[str, ...] = (
    "Vượt mục tiêu",
    "Đã đạt",
    "Đạt mục tiêu",
    "Đúng lộ trình",
    "Có nguy cơ không đạt mục tiêu",
    "Chậm so với lộ trình",
    "Không đạt mục tiêu",
    "Chưa đạt mục tiêu",
    "Quá hạn báo cáo",
    "Chỉ số",
    "Kỳ vọng",
    "kỳ vọng",
    "Mã thống kê",
    "Số lần gửi cho kỳ",
    "Mức độ: Cảnh báo",
    "Vẫn tiếp diễn",
    "vẫn tiếp diễn",
    "Báo cáo vượt cấp",
)
# "Chỉ số" stays correct for an index (DTI, the QĐ 766 index): these phrases are allowed.
RETIRED_EXCEPTIONS: tuple[str, ...] = (
    "Chỉ số chuyển đổi số",
    "Chỉ số DTI",
    "Chỉ số phục vụ",
    "Chỉ số chỉ đạo",
)


def retired_terms_in(text: str) -> list[str]:
    """retired_terms_in lists the retired terms found in ``text`` (allowed index names excepted)."""
    for allowed in RETIRED_EXCEPTIONS:
        text = text.replace(allowed, "")
    return [term for term in RETIRED if term in text]
