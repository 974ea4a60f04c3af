"""Problems: machine-readable reasons for refusing input, rendered as RFC 9457 problem+json.

Every refusal carries one ``reason`` per offending item so an agency's system can act on it without
parsing prose. The reason strings are part of the public contract: add new ones, never rename.
``type`` and ``title`` are fixed per reason too (``title`` is a short English label for developers,
like ``type``); what a person reads, ``detail`` and each item's ``message``, is Vietnamese unless the
request asks for English (``Accept-Language: en``). All that prose is in ``MESSAGES``, one place.
Long because of that table (every reason in two languages), not because of logic.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

PROBLEM_TYPE_BASE = "https://dx-monitor.github.io/problems/"
LANGUAGES = ("vi", "en")
DEFAULT_LANGUAGE = "vi"

# pydantic error type -> our reason. Anything unlisted becomes "invalid-field".
_PYDANTIC_REASONS = {
    "missing": "missing-field",
    "extra_forbidden": "unknown-field",
    "finite_number": "invalid-number",
    "missing_timezone": "missing-timezone",
    "timestamp_invalid": "invalid-timestamp",
    "timestamp_type": "invalid-timestamp",
    "string_pattern_mismatch": "invalid-code",
    "string_too_long": "too-long",
    "invalid_character": "invalid-character",
    "control_character": "invalid-character",
    "uuid_parsing": "invalid-event-id",
    "uuid_type": "invalid-event-id",
    "model_type": "not-an-object",
    "model_attributes_type": "not-an-object",
    "dict_type": "not-an-object",
}
# pydantic type errors that say "a number" / "a string" was expected ("invalid-field" keeps the reason).
_EXPECTED_NUMBER = {"float_type", "float_parsing", "int_type", "int_parsing", "int_from_float"}
_EXPECTED_TEXT = {"string_type", "string_unicode"}
# pydantic error types whose reason is shared but whose cause is told apart ("reason/variant" in MESSAGES).
_VARIANTS = {"control_character": "invalid-character/control"}

# Every sentence a refusal shows, Vietnamese then English, keyed by reason (or "reason/variant" where one
# reason has several causes). Placeholders are str.format fields; say() fills them.
MESSAGES: dict[str, tuple[str, str]] = {
    # Report contract (pydantic): "{field}: " is prefixed by issues_from_validation_error.
    "missing-field": ("thiếu trường bắt buộc", "Field required"),
    "unknown-field": ("trường này không có trong mẫu báo cáo", "Extra inputs are not permitted"),
    "invalid-number": ("phải là một số hữu hạn (không nhận NaN hay vô cực)", "Input should be a finite number"),
    "missing-timezone": (
        "thời điểm thiếu múi giờ; thêm ví dụ +07:00 hoặc Z",
        "timestamp has no UTC offset; add e.g. +07:00 or Z",
    ),
    "invalid-timestamp": (
        "không phải ngày (YYYY-MM-DD) hay ngày giờ ISO 8601 hợp lệ có múi giờ",
        "not an ISO 8601 date or date-time",
    ),
    "invalid-code": (
        "mã chỉ gồm chữ in hoa không dấu, chữ số, '-' và '_', dài 1–64 ký tự",
        "String should match pattern '^[A-Z0-9_-]{{1,64}}$'",
    ),
    "too-long": ("dài quá {max_length} ký tự", "String should have at most {max_length} characters"),
    "invalid-character": (
        "văn bản không được chứa ký tự NUL (U+0000)",
        "text cannot contain the NUL character (U+0000)",
    ),
    "invalid-character/control": (
        "văn bản không được chứa ký tự điều khiển {character}; chỉ nhận chữ, dấu câu, dấu tab và xuống dòng",
        "text cannot contain the control character {character}",
    ),
    "invalid-event-id": ("event_id phải là một UUID", "Input should be a valid UUID"),
    "not-an-object": ("mỗi báo cáo phải là một đối tượng JSON", "Input should be an object"),
    "invalid-field": ("giá trị không hợp lệ", "Input is not valid"),
    "invalid-field/number": ("phải là một số", "Input should be a valid number"),
    "invalid-field/text": ("phải là một chuỗi ký tự", "Input should be a valid string"),
    "malformed-json": ("không phải JSON hợp lệ (dòng {line}, cột {column})", "Invalid JSON: {error}"),
    "malformed-json/unplaced": ("không phải JSON hợp lệ", "Invalid JSON: {error}"),
    # Catalog rules (dxmon.validation).
    "unknown-unit": ("mã đơn vị '{unit}' không có trong danh mục", "unit '{unit}' is not in the catalog"),
    "unknown-indicator": (
        "mã chỉ tiêu '{indicator}' không có trong danh mục",
        "indicator '{indicator}' is not in the catalog",
    ),
    "future-observation": (
        "observed_at {observed_at} là thời điểm trong tương lai",
        "observed_at {observed_at} is in the future",
    ),
    "unit-not-valid-on-date/ceased": (
        "đơn vị {unit} chỉ hoạt động đến hết ngày {valid_to_vi}",
        "unit {unit} ceased on {valid_to}",
    ),
    "unit-not-valid-on-date/ceased-successors": (
        "đơn vị {unit} chỉ hoạt động đến hết ngày {valid_to_vi}; hãy báo cáo cho {units}",
        "unit {unit} ceased on {valid_to}; report for {units} instead",
    ),
    "unit-not-valid-on-date/not-yet": (
        "đơn vị {unit} chỉ tồn tại từ ngày {valid_from_vi}",
        "unit {unit} exists only from {valid_from}",
    ),
    "unit-not-valid-on-date/not-yet-predecessors": (
        "đơn vị {unit} chỉ tồn tại từ ngày {valid_from_vi}; trước đó hãy báo cáo cho {units}",
        "unit {unit} exists only from {valid_from}; before that report for {units}",
    ),
    "indicator-not-applicable": (
        "chỉ tiêu {indicator} do {levels_vi} báo cáo, không áp dụng cho {level_vi}",
        "indicator {indicator} is reported by {levels}, not by a {level}",
    ),
    "value-out-of-range/huge": ("{name} lớn hơn {limit}", "{name} is larger than {limit}"),
    "value-out-of-range/percent": (
        "tỷ lệ phần trăm phải từ 0 đến 100, nhận được {value_vi}",
        "a percentage must be within 0..100, got {value}",
    ),
    "value-out-of-range/boolean": (
        "chỉ tiêu có/không chỉ nhận 0 hoặc 1, nhận được {value_vi}",
        "a yes/no indicator takes 0 or 1, got {value}",
    ),
    "value-out-of-range/rank": ("thứ hạng bắt đầu từ 1, nhận được {value_vi}", "a rank starts at 1, got {value}"),
    "ratio-needs-parts": (
        "chỉ tiêu tỷ lệ cần cả tử số (numerator) và mẫu số (denominator), hoặc chỉ tỷ lệ phần trăm "
        "đã công bố (value) khi nguồn không có số đếm",
        "ratio indicators need both numerator and denominator (or, when the source publishes "
        "no counts, the percentage as value)",
    ),
    "value-with-parts": (
        "gửi tử số (numerator) và mẫu số (denominator), hoặc chỉ tỷ lệ phần trăm đã công bố (value), không gửi cả hai",
        "send numerator and denominator, or only a published percentage as value, not both",
    ),
    "category-required": (
        "chỉ tiêu {indicator} được báo cáo theo từng nhóm (category): một trong {codes}",
        "indicator {indicator} is reported by category: one of {codes}",
    ),
    "unknown-category": (
        "chỉ tiêu {indicator} không có nhóm (category) '{category}'; nhóm hợp lệ: {codes}",
        "indicator {indicator} has no category '{category}'; allowed: one of {codes}",
    ),
    "unknown-category/none": (
        "chỉ tiêu {indicator} không báo cáo theo nhóm: bỏ trường category",
        "indicator {indicator} has no categories: leave category out",
    ),
    "negative-value/parts": ("tử số và mẫu số không được âm", "numerator and denominator cannot be negative"),
    "negative-value": ("giá trị {value_vi} không được âm", "value {value} cannot be negative"),
    "zero-denominator": ("mẫu số (denominator) phải lớn hơn 0", "denominator must be greater than 0"),
    "numerator-exceeds-denominator": (
        "tử số {numerator_vi} lớn hơn mẫu số {denominator_vi}",
        "numerator {numerator} exceeds denominator {denominator}",
    ),
    "parts-not-allowed": (
        "chỉ tiêu {measure_vi} gửi value, không gửi tử số/mẫu số (numerator/denominator)",
        "a {measure} indicator takes value, not numerator/denominator",
    ),
    "value-required": ("chỉ tiêu {measure_vi} cần có value", "a {measure} indicator needs value"),
    "value-not-integer": (
        "chỉ tiêu {measure_vi} phải là số nguyên, nhận được {value_vi}",
        "a {measure} must be a whole number, got {value}",
    ),
    # Ingest refusals (problem details).
    "invalid-reports": ("có {count} lỗi trong báo cáo gửi đến", "{count} problem(s) found"),
    "invalid-reports/not-an-object": (
        "hãy gửi một báo cáo (đối tượng JSON) hoặc một mảng báo cáo",
        "send a report object or an array of them",
    ),
    "malformed-json/lines": ("có dòng không phải JSON hợp lệ", "one or more lines are not valid JSON"),
    "empty-body": ("nội dung yêu cầu không có báo cáo nào", "the body holds no report"),
    "empty-body/batch": ("mảng không có báo cáo nào", "the array holds no report"),
    "unsupported-media-type": (
        "hãy gửi {json} (một báo cáo hoặc một mảng) hoặc {ndjson} (mỗi dòng một báo cáo), không phải {got}",
        "send {json} (one report or an array) or {ndjson} (one report per line), not {got}",
    ),
    "unsupported-media-type/none": (
        "hãy gửi {json} (một báo cáo hoặc một mảng) hoặc {ndjson} (mỗi dòng một báo cáo); yêu cầu thiếu Content-Type",
        "send {json} (one report or an array) or {ndjson} (one report per line), not no Content-Type",
    ),
    "batch-too-large": (
        "gửi {count} báo cáo; mỗi yêu cầu tối đa {limit} — hãy chia nhỏ lô",
        "{count} reports sent; at most {limit} per request — split the batch",
    ),
    "body-too-large": (
        "nội dung tối đa {limit} byte mỗi yêu cầu — hãy chia nhỏ lô",
        "at most {limit} bytes per request — split the batch",
    ),
    "missing-credentials": (
        "cần khóa API: gửi tiêu đề Authorization: Bearer <khóa>",
        "send Authorization: Bearer <key>",
    ),
    "invalid-credentials": ("khóa API không đúng hoặc đã bị thu hồi", "the API key is unknown or revoked"),
    "outside-key-scope": (
        "khóa {key_id} ({agency}) không được báo cáo cho: {units}",
        "key {key_id} ({agency}) may not report for: {units}",
    ),
    "outside-key-scope/unit": ("đơn vị {unit} nằm ngoài phạm vi của khóa", "unit {unit} is outside the key's scope"),
    "outside-key-scope/report": (
        "khóa {key_id} ({agency}) chỉ được lập báo cáo cho đơn vị thuộc phạm vi của khóa ({units}), không cho {unit}",
        "key {key_id} ({agency}) may produce reports for the units of its scope ({units}) only, not for {unit}",
    ),
    "report-unit-required": (
        "khóa {key_id} ({agency}) dùng cho nhiều đơn vị: chọn một bằng tham số unit ({units})",
        "key {key_id} ({agency}) covers several units: choose one with the unit parameter ({units})",
    ),
    "rate-limited": (
        "vượt giới hạn {limit} báo cáo/giây của khóa; gửi lại sau {retry_after} giây",
        "limit {limit} reports/s; retry after {retry_after} s",
    ),
    "request-timeout": ("nội dung phải đến trong vòng {seconds} giây", "the body must arrive within {seconds} s"),
    "client-disconnected": (
        "bên gửi đã đóng kết nối trước khi gửi xong nội dung",
        "the client closed the connection before sending the body",
    ),
    "bus-unavailable/keys-not-loaded": (
        "chưa nạp xong danh sách khóa API ({status})",
        "API keys are not loaded yet ({status})",
    ),
    "bus-unavailable/not-connected": (
        "chưa kết nối được hệ thống lưu trữ báo cáo (message bus)",
        "the message bus is not connected",
    ),
    "bus-unavailable/timeout": ("JetStream không xác nhận lưu kịp thời", "JetStream did not confirm storage in time"),
    "bus-unavailable/no-stream": ("stream {stream} không sẵn sàng", "stream {stream} is not available"),
    "bus-unavailable/refused": (
        "JetStream từ chối lưu báo cáo ({description})",
        "JetStream refused the reports ({description})",
    ),
    "bus-unavailable/failed": ("kết nối tới message bus bị lỗi ({error})", "the message bus failed ({error})"),
    "bus-unavailable/resend": (
        "{cause}; hãy gửi lại đúng yêu cầu này sau (báo cáo đã lưu sẽ được trả lời là 'duplicate')",
        "{cause}; resend the same request later (reports already stored are answered 'duplicate')",
    ),
    # Spreadsheets (entry service: templates and imports).
    "empty-body/file": ("tệp tải lên không có nội dung", "the uploaded file is empty"),
    "unsupported-media-type/spreadsheet": (
        "hãy gửi tệp Excel (.xlsx) hoặc CSV (.csv) theo mẫu nhập liệu, không phải {got}",
        "send an Excel (.xlsx) or CSV (.csv) file made from the template, not {got}",
    ),
    "unreadable-spreadsheet/ole2": (
        "tệp là bảng tính Excel cũ (.xls) hoặc được đặt mật khẩu: hãy bỏ mật khẩu và lưu thành .xlsx",
        "the file is a legacy .xls workbook or password-protected: remove the password and save it as .xlsx",
    ),
    "unreadable-spreadsheet/not-xlsx": (
        "tệp không phải bảng tính .xlsx đọc được (tệp hỏng hoặc không đúng định dạng)",
        "the file is not a readable .xlsx workbook (damaged or another format)",
    ),
    "unreadable-spreadsheet/zip-as-csv": (
        "tệp là tệp nén (như .xlsx), không phải CSV: hãy gửi với tên .xlsx",
        "the file is a zip archive (like .xlsx), not CSV: send it named .xlsx",
    ),
    "unreadable-spreadsheet/no-data-sheet": (
        "bảng tính không có trang «{sheet}» của mẫu nhập liệu",
        "the workbook has no sheet named '{sheet}' (the template's data sheet)",
    ),
    "unreadable-spreadsheet/no-header": (
        "trang {sheet} không có dòng tiêu đề của mẫu nhập liệu",
        "sheet {sheet} has no header row of the template",
    ),
    "unreadable-spreadsheet/missing-columns": (
        "dòng tiêu đề (dòng {row}) thiếu cột: {columns}",
        "the header row (row {row}) lacks the columns: {columns}",
    ),
    "unreadable-spreadsheet/not-utf8": (
        "tệp CSV không phải UTF-8 (byte thứ {position}): trong Excel chọn «CSV UTF-8» khi lưu",
        "the CSV file is not UTF-8 (byte {position}): save as 'CSV UTF-8' in Excel",
    ),
    "unreadable-spreadsheet/csv": ("tệp CSV không đọc được ({error})", "the CSV file cannot be read ({error})"),
    "spreadsheet-too-large/entries": (
        "tệp .xlsx có {count} thành phần; tối đa {limit}",
        "the .xlsx file has {count} parts; at most {limit}",
    ),
    "spreadsheet-too-large/unpacked": (
        "tệp .xlsx khi giải nén lớn {size} byte; tối đa {limit} byte",
        "the .xlsx file unpacks to {size} bytes; at most {limit}",
    ),
    "spreadsheet-too-large/rows": (
        "mỗi tệp tối đa {limit} dòng số liệu (có dữ liệu ở dòng {row}): hãy chia thành nhiều tệp",
        "at most {limit} data rows per file (data found on row {row}): split the file",
    ),
    "body-too-large/file": (
        "tệp tối đa {limit} byte — hãy chia thành nhiều tệp",
        "at most {limit} bytes per file — split it",
    ),
    "malformed-multipart": (
        "biểu mẫu tải lên không hợp lệ ({error}); gửi tệp trong trường «file»",
        "malformed upload form ({error}); send the file in the field 'file'",
    ),
    "invalid-import": (
        "có {count} dòng bị từ chối; chưa gửi dòng nào — sửa các dòng này rồi gửi lại cả tệp",
        "{count} row(s) refused; nothing was sent — fix them and send the whole file again",
    ),
    "invalid-period": (
        "mã kỳ '{period}' không hợp lệ: viết 2026-11 (tháng), 2026-Q4 (quý), 2026 (năm)",
        "period code '{period}' is not valid: write 2026-11 (month), 2026-Q4 (quarter), 2026 (year)",
    ),
    "invalid-period/cadence": (
        "chỉ tiêu {indicator} báo cáo theo kỳ {cadence_vi}; mã kỳ '{period}' không phải kỳ đó",
        "indicator {indicator} is reported {cadence}; '{period}' is not such a period",
    ),
    "formula-without-value": (
        "ô chứa công thức chưa được tính: mở tệp bằng Excel, lưu lại (hoặc nhập số thay cho công thức)",
        "the cell holds a formula that was never calculated: open and save the file in Excel (or type the number)",
    ),
    "invalid-field/cell": ("phải là một số, ô đang chứa «{got}»", "should be a number, the cell holds '{got}'"),
    "invalid-field/grouped": (
        "số «{got}» có thể hiểu hai cách (dấu phân cách hàng nghìn hay thập phân): viết không "
        "có dấu phân cách hàng nghìn, ví dụ 1000 hoặc 1,5",
        "'{got}' is ambiguous (thousands "
        "separator or decimal point): write it without a thousands separator, e.g. 1000 or 1.5",
    ),
    "duplicate-row": (
        "dòng trùng với dòng {row} (cùng đơn vị, chỉ tiêu, phân loại và kỳ)",
        "same unit, indicator, category and period as row {row}",
    ),
    "database-unavailable": (
        "chưa đọc được cơ sở dữ liệu ({error}); hãy thử lại sau ít phút",
        "the database cannot be read ({error}); try again in a few minutes",
    ),
    # Data approval (dxmon/store/approvals_repository.py; the entry service's /v1/approvals); invalid-period
    # and database-unavailable are the spreadsheets' above.
    "approval-off": (
        "chương trình không bật phê duyệt số liệu (programme.approval trong danh mục)",
        "data approval is off for this programme (catalog programme.approval)",
    ),
    "invalid-period/none": ("không có kỳ báo cáo '{period}'", "there is no period '{period}'"),
    "comment-required": ("trả lại cần ghi ý kiến (lý do trả lại)", "a return needs a comment saying why"),
    "decided-by-required": ("cần ghi người phê duyệt", "name who decides"),
    "nothing-to-approve": ("chưa có số liệu nào của {what_vi} để phê duyệt", "nothing is reported for {what} yet"),
    "already-decided/approved": ("số liệu của {what_vi} đã được phê duyệt", "{what} is already approved"),
    "already-decided/returned": (
        "số liệu của {what_vi} đã bị trả lại, chờ đơn vị gửi lại số liệu",
        "{what} is already returned; the unit has not sent corrected figures yet",
    ),
    "not-an-approver": (
        "khóa {key_id} ({agency}) không có quyền phê duyệt (tạo khóa phê duyệt bằng "
        "dxmon keys create … --role approver)",
        "key {key_id} ({agency}) is not an approver key (dxmon keys create … --role approver)",
    ),
    "outside-approval-scope": (
        "khóa {key_id} ({agency}) không được phê duyệt số liệu của đơn vị {unit}",
        "key {key_id} ({agency}) may not approve the figures of unit {unit}",
    ),
    "not-found": ("không có địa chỉ này", "Not Found"),
    "method-not-allowed": ("địa chỉ này không nhận phương thức {method}", "Method Not Allowed"),
    "http-error": ("yêu cầu không hợp lệ", "{detail}"),
    "invalid-parameter": ("tham số không hợp lệ", "{detail}"),
}


@dataclass(frozen=True)
class Text:
    """Text is one sentence in both languages a refusal is written in: Vietnamese, and English on request."""

    vi: str
    en: str

    def in_language(self, language: str) -> str:
        return self.en if language == "en" else self.vi

    def prefixed(self, prefix: str) -> Text:
        """prefixed puts ``prefix`` (a field name, a code: the same in both languages) before both."""
        return Text(f"{prefix}{self.vi}", f"{prefix}{self.en}")


def say(key: str, **params: Any) -> Text:
    """say renders the ``MESSAGES`` entry ``key`` with ``params`` in both languages.

    A ``Text`` parameter (a cause rendered by another say) is put in each language in its own.
    """
    vi, en = MESSAGES[key]
    return Text(vi.format(**_for("vi", params)), en.format(**_for("en", params)))


def _for(language: str, params: dict[str, Any]) -> dict[str, Any]:
    return {k: v.in_language(language) if isinstance(v, Text) else v for k, v in params.items()}


def placeholders(key: str) -> set[str]:
    """placeholders: the parameters MESSAGES[key] needs (tests render every message with them)."""
    return {name for text in MESSAGES[key] for _, name, _, _ in string.Formatter().parse(text) if name}


def negotiate_language(accept_language: str | None) -> str:
    """negotiate_language picks "vi" or "en" from an Accept-Language header; Vietnamese unless English wins.

    Quality values are honoured ("vi;q=0.2, en" → en); a tag matches by its primary subtag ("en-US" → en);
    anything unreadable or unsupported falls back to Vietnamese, the language of the people we serve.
    """
    best, best_q = DEFAULT_LANGUAGE, 0.0
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in LANGUAGES:
            continue
        q = 1.0
        match = re.fullmatch(r"\s*q\s*=\s*([01](?:\.\d{0,3})?)\s*", params) if params else None
        if params and match is None:
            continue  # a malformed parameter: ignore this entry rather than guess
        if match:
            q = float(match.group(1))
        if q > best_q:
            best, best_q = primary, q
    return best


@dataclass(frozen=True)
class Issue:
    """Issue is one reason one item was refused."""

    reason: str
    message: Text
    field: str | None = None
    index: int | None = None
    event_id: str | None = None

    def to_json(self, language: str = DEFAULT_LANGUAGE) -> dict[str, Any]:
        out: dict[str, Any] = {"reason": self.reason, "message": _in(self.message, language)}
        if self.index is not None:
            out["index"] = self.index
        if self.field is not None:
            out["field"] = self.field
        if self.event_id is not None:
            out["event_id"] = self.event_id
        return out


@dataclass
class Problem(Exception):
    """Problem is an HTTP refusal: status, a short title, and the issues behind it."""

    status: int
    reason: str
    title: str
    detail: Text | str | None = None  # a str is the same in both languages (e.g. a byte count)
    issues: list[Issue] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def to_json(self, language: str = DEFAULT_LANGUAGE) -> dict[str, Any]:
        """to_json is the problem+json body; ``detail`` and messages in ``language`` ("vi" or "en")."""
        body: dict[str, Any] = {
            "type": PROBLEM_TYPE_BASE + self.reason,
            "title": self.title,
            "status": self.status,
            "reason": self.reason,
        }
        if self.detail:
            body["detail"] = _in(self.detail, language)
        if self.issues:
            body["errors"] = [i.to_json(language) for i in self.issues]
        return body


def _in(text: Text | str, language: str) -> str:
    # A plain str is a message nobody translated: shown as is (tests/unit/test_vocabulary.py forbids them).
    return text.in_language(language) if isinstance(text, Text) else text


class _Context(dict):
    # pydantic's error context fills our placeholders; one it did not give reads "…", never a KeyError (500).
    def __missing__(self, key: str) -> str:
        return "…"


_JSON_POSITION = re.compile(r"line (\d+) column (\d+)")


def json_syntax_message(error: str) -> Text:
    """json_syntax_message says where a JSON parser gave up, from its English ``error`` ("… at line 1 column 5")."""
    at = _JSON_POSITION.search(error)
    if at is None:
        return say("malformed-json/unplaced", error=error)
    return say("malformed-json", line=at.group(1), column=at.group(2), error=error)


def issues_from_validation_error(
    err: ValidationError, index_offset: int = 0, batch: bool = False, index: int | None = None
) -> list[Issue]:
    """issues_from_validation_error turns pydantic errors into issues with an item index and field name.

    With ``batch`` the first element of each error location is the item's index in the array. The
    English message is pydantic's (it names the constraint); the Vietnamese one is ours, per reason.
    """
    issues = []
    for e in err.errors(include_url=False):
        loc = list(e["loc"])
        item = index
        if batch and loc and isinstance(position := loc[0], int):
            del loc[0]
            item = position + index_offset
        # Union members (e.g. "str" inside "str | None") add noise to the location: keep field names.
        names = [str(p) for p in loc if isinstance(p, str) and not p.startswith(("function-", "constrained-"))]
        known = {"str", "float", "int", "none", "is-instance[datetime]", "uuid"}
        names = [n for n in names if n not in known]
        field_name = names[0] if names else None
        reason = _PYDANTIC_REASONS.get(e["type"], "invalid-field")
        key = _VARIANTS.get(e["type"], reason)
        if e["type"] in _EXPECTED_NUMBER:
            key = "invalid-field/number"
        elif e["type"] in _EXPECTED_TEXT:
            key = "invalid-field/text"
        vi = MESSAGES[key][0].format_map(_Context(e.get("ctx") or {}))
        message = Text(vi, e["msg"])
        if field_name:
            message = message.prefixed(f"{field_name}: ")
        issues.append(Issue(reason=reason, message=message, field=field_name, index=item))
    return _dedupe(issues)


def _dedupe(issues: list[Issue]) -> list[Issue]:
    # "float | None" reports the same bad input once per union member; keep one per (index, field, reason).
    seen: set[tuple[Any, ...]] = set()
    out = []
    for i in issues:
        key = (i.index, i.field, i.reason)
        if key not in seen:
            seen.add(key)
            out.append(i)
    return out


PROBLEM_JSON = "application/problem+json"


def problem_response(p: Problem, request: Any = None):
    """problem_response renders ``p`` as an RFC 9457 response (starlette is imported only by HTTP services).

    Given the ``request``, its prose is in the language the request's Accept-Language asks for (and the
    response says which); without it, in Vietnamese.
    """
    from starlette.responses import JSONResponse

    if request is None:
        return JSONResponse(p.to_json(), status_code=p.status, media_type=PROBLEM_JSON, headers=p.headers)
    language = negotiate_language(request.headers.get("accept-language"))
    headers = {**p.headers, "Content-Language": language, "Vary": "Accept-Language"}
    return JSONResponse(p.to_json(language), status_code=p.status, media_type=PROBLEM_JSON, headers=headers)
