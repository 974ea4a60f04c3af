"""Page: the data-entry page at /nhap-lieu, for agencies that do not write JSON (Vietnamese throughout).

    GET  /nhap-lieu/dang-nhap ─▶ sign-in form (CSRF: double submit)
    POST /nhap-lieu/dang-nhap ─▶ the key checked like a bearer key (dxmon.intake.authenticate) ─▶ session cookie
    GET  /nhap-lieu           ─▶ choose a unit of the key and a month
    GET  /nhap-lieu/bao-cao   ─▶ the unit's indicators for that month: target, value in force, what the
                                 glide path needs; inputs with HTML constraints
    POST /nhap-lieu/bao-cao   ─▶ the JSON contract (ReportIn) and its rules (dxmon.intake), errors shown
                                 beside their field ─▶ published like ingest, shown once every PubAck is in
    GET  /nhap-lieu/tinh-hinh ─▶ what the database holds for the unit (after the aggregator stored it)
    GET/POST /nhap-lieu/tai-len ─▶ a filled template ─▶ the dry run's summary ─▶ confirm ─▶ the import
    GET/POST /nhap-lieu/phe-duyet ─▶ an approver key (programme.approval on): the unit-periods it may decide
                                 on, with their values ─▶ approve, or return with a comment (services.entry.approvals)
    POST /nhap-lieu/dang-xuat ─▶ the session ends

Server-rendered HTML (Jinja2, autoescaped), one stylesheet served from here: nothing from a CDN, no
script at all, every field labelled, usable by keyboard and on a phone. Every POST after sign-in must
carry the session's CSRF token (403 otherwise). Sessions: ``services.entry.session``.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from dxmon import words
from dxmon.catalog import Catalog, Category, Indicator, Level, Unit
from dxmon.contracts import LOCAL_TZ, ReportIn
from dxmon.formatting import format_date, format_moment, format_number, format_value
from dxmon.intake import authenticate, check_scope, encode_events, publish_events, validate_reports
from dxmon.keys import APPROVER, Authenticated, approval_scope
from dxmon.periods import MONTHLY, ReportingPeriod, period_numbered, period_of, period_starting
from dxmon.problems import Issue, Problem, Text, issues_from_validation_error, say
from dxmon.service_kit import read_body
from dxmon.store.approvals_repository import APPROVED, RETURNED, SUBMITTED, UnitPeriod
from dxmon.store.entry_repository import InForce, values_in_force, values_of_unit
from services.entry.approvals import decide, unit_periods
from services.entry.importing import CellError, read_number
from services.entry.imports import (
    MULTIPART_OVERHEAD,
    READ_TIMEOUT_SECONDS,
    file_too_large,
    parse_multipart,
    run_import,
)
from services.entry.session import (
    CSRF_FIELD,
    PAGE_PATH,
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    Session,
    SessionStore,
    clear_cookie,
    new_token,
    set_cookie,
    tokens_match,
)
from services.entry.settings import MEBIBYTE
from services.entry.sheet import current_text, expected_text, parse_period, target_text
from services.entry.state import EntryState
from services.entry.templates import FORMATS, build_template, invalid_parameter, period_span, template_filename

log = logging.getLogger("dx.entry.page")

HTML_DIR = Path(__file__).parent / "html"
TEMPLATES = Environment(
    loader=FileSystemLoader(HTML_DIR), autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True
)
STYLESHEET = (HTML_DIR / "page.css").read_bytes()
# The page runs no script and loads nothing from elsewhere; the policy says so to the browser.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
SOURCE = "trang nhập liệu"  # the report's ``source``: which door it came in by
LEVEL_ORDER = {Level.PROVINCE: 0, Level.DEPARTMENT: 1, Level.DISTRICT: 2, Level.COMMUNE: 3}
# Event ids of the page are derived from the form's submission id and the row's content: sending the
# same form again (a reload, a double click) stores nothing twice, while a new entry is a new report.
EVENT_NAMESPACE = uuid.UUID("6b0f5f2e-3c51-4f0e-9d7a-2f1e8f4c9a11")
PARTS = ("value", "numerator", "denominator")
FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
FORM_LIMIT = 1024 * 1024  # the longest form: ≈ 30 rows, each explanation ≤ 2,000 characters (≤ 9 bytes each encoded)
FORM_FIELDS = 1000
# An import summary's row outcomes, as the page names them.
OUTCOME_LABELS = {
    "new": "Mới",
    "corrected": "Điều chỉnh",
    "unchanged": "Không thay đổi",
    "ignored": "Bỏ qua (để trống)",
    "refused": "Bị từ chối",
}


# ───────────────────────────── rendering ─────────────────────────────


def render(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """render fills an HTML template (autoescaped: nothing a person typed is ever markup)."""
    context.setdefault("base", PAGE_PATH)
    context.setdefault("viewer", None)
    html = TEMPLATES.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


def message_page(
    status: int, title: str, text: str, *, viewer: Viewer | None = None, link: tuple[str, str] | None = None
) -> HTMLResponse:
    """message_page is a page that only says something (an error, an expired session) and where to go next."""
    return render(
        "message.html", status, title=title, text=text, viewer=viewer, link=link or (PAGE_PATH, "Về trang nhập liệu")
    )


def database_not_ready(viewer: Viewer, *, connected: bool = True) -> HTMLResponse:
    """database_not_ready: the database cannot be read now (or was never connected); the person tries again."""
    text = (
        "Chưa đọc được cơ sở dữ liệu; hãy thử lại sau ít phút."
        if connected
        else "Chưa kết nối cơ sở dữ liệu; hãy thử lại sau."
    )
    return message_page(503, "Hệ thống chưa sẵn sàng", text, viewer=viewer)


def redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303, headers=PAGE_HEADERS)


@dataclass(frozen=True)
class Viewer:
    """Viewer is the signed-in browser: its session and the key's current caller (scope included)."""

    session: Session
    caller: Authenticated
    approval_on: bool = False  # the catalog's programme.approval

    @property
    def agency(self) -> str:
        return self.caller.key.agency

    @property
    def approves(self) -> bool:
        """approves: the key may approve or return periods here (an approver key, approval on)."""
        return self.approval_on and self.caller.key.role == APPROVER

    @property
    def csrf(self) -> str:
        return self.session.csrf


# ───────────────────────────── the form's model ─────────────────────────────


@dataclass
class Row:
    """Row is one report the form can make: an indicator (and one of its categories) for the period."""

    indicator: Indicator
    category: Category | None
    period: ReportingPeriod
    last: str  # the value in force (with its period), or "chưa có số liệu"
    explanation: str = ""  # the explanation in force for that period (kept when the field is left empty)
    entered: dict[str, str] = field(default_factory=dict)  # what the person typed, shown again after errors
    errors: list[str] = field(default_factory=list)
    bad_fields: set[str] = field(default_factory=set)

    @property
    def key(self) -> str:
        """key prefixes the row's field names: ``DG-04`` or ``DG-01.province``."""
        return self.indicator.code + (f".{self.category.code}" if self.category else "")

    @property
    def field_id(self) -> str:
        return "f-" + self.key.replace(".", "-")

    def name(self, part: str) -> str:
        return f"{self.key}.{part}"

    def typed(self, part: str) -> str:
        return self.entered.get(part, "")

    @property
    def filled(self) -> bool:
        return any(v.strip() for v in self.entered.values())


@dataclass
class Block:
    """Block is one indicator of the form: what it asks for and its rows (one per category, or one)."""

    indicator: Indicator
    period: ReportingPeriod
    target: str
    expected: str
    rows: list[Row]

    @property
    def measure(self) -> str:
        return self.indicator.measure.value

    @property
    def measure_vi(self) -> str:
        return words.MEASURE[self.indicator.measure.value]


def parse_month(text: str | None) -> tuple[int, int] | None:
    """parse_month reads ``YYYY-MM`` (what an <input type=month> sends); None when it is not one."""
    text = (text or "").strip()
    if len(text) != 7 or text[4] != "-" or not (text[:4].isdigit() and text[5:].isdigit()):
        return None
    year, month = int(text[:4]), int(text[5:])
    return (year, month) if 2000 <= year <= 2100 and 1 <= month <= 12 else None


def month_of(catalog: Catalog, year: int, month: int) -> ReportingPeriod:
    return period_numbered(year, month, MONTHLY, catalog.reporting_window)


def report_day(month: ReportingPeriod, today: date) -> date:
    """report_day is the day the form's reports describe: the month's last day, or today in the current month.

    Every instant of a month belongs to that month, its quarter and its year, so one day serves the
    indicators of every cadence; a day in the future would be refused (future-observation).
    """
    return min(month.end, today)


def scope_units(catalog: Catalog, caller: Authenticated, day: date) -> list[Unit]:
    """scope_units lists the key's units that exist on ``day``, provincial level first, then by name."""
    units = [catalog.units[c] for c in caller.scope if c in catalog.units and catalog.units[c].active_on(day)]
    return sorted(units, key=lambda u: (LEVEL_ORDER[u.level], u.name_on(day), u.code))


def build_blocks(catalog: Catalog, unit: Unit, day: date, values: list[InForce]) -> list[Block]:
    """build_blocks: the unit's indicators for the periods holding ``day``, with their context from ``values``.

    ``values`` are the unit's values in force (``values_of_unit``). The value in force shown is the
    latest period up to the indicator's period holding ``day`` (this period's own when it was reported
    already); target and glide path are the templates' (``services.entry.sheet``), so both read alike.
    """
    series: dict[tuple[str, str], list[InForce]] = defaultdict(list)
    for v in values:  # ordered by period_start
        series[(v.indicator, v.category)].append(v)
    blocks = []
    for ind in applicable(catalog, unit):
        period = period_of(day, ind.cadence.period, catalog.reporting_window)
        rows = []
        for category in ind.categories or (None,):
            history = [
                v for v in series[(ind.code, category.code if category else "")] if v.period_start <= period.start
            ]
            row = Row(ind, category, period, words.RESULT["no_data"])
            if history:
                v = history[-1]
                shown = period_starting(v.period_start, ind.cadence.period, catalog.reporting_window)
                parts = (None, None) if v.percent_only else (v.numerator, v.denominator)
                row.last = current_text(ind.measure, v.value, *parts, shown)
                row.explanation = v.explanation or ""
            rows.append(row)
        blocks.append(
            Block(
                ind,
                period,
                target_text(catalog, ind, unit.level, period) or "không có mục tiêu",
                expected_text(catalog, unit, ind, period, series[(ind.code, "")]),
                rows,
            )
        )
    return blocks


def applicable(catalog: Catalog, unit: Unit) -> list[Indicator]:
    return [ind for ind in catalog.indicators.values() if unit.level in ind.applies_to]


def shown_value(report: ReportIn, measure: str) -> str:
    """shown_value writes a report's value as people read it: ``628/1.000 (62,8%)`` for parts."""
    if report.numerator is not None and report.denominator:
        percent = format_value(100 * report.numerator / report.denominator, measure)
        return f"{format_number(report.numerator)}/{format_number(report.denominator)} ({percent})"
    return format_value(report.value, measure)


def event_id(submission: str, unit: str, row: Row, payload: dict[str, Any]) -> str:
    content = "|".join([submission, unit, row.key] + [repr(payload.get(p)) for p in (*PARTS, "explanation")])
    return str(uuid.uuid5(EVENT_NAMESPACE, content))


def read_rows(
    blocks: list[Block], form: dict[str, str], unit: Unit, day: date, submission: str
) -> list[tuple[Row, Any]]:
    """read_rows fills each row from the form and turns the filled ones into ReportIn (or marks their errors).

    Returns (row, report) for every filled row whose shape passed the contract; rows with shape errors
    carry them in ``row.errors``. Empty rows are left out: nothing is reported for them.
    """
    made = []
    for block in blocks:
        for row in block.rows:
            row.entered = {p: str(form.get(row.name(p), ""))[:4000] for p in (*PARTS, "explanation")}
            if not row.filled:
                continue
            payload: dict[str, Any] = {
                "unit": unit.code,
                "indicator": row.indicator.code,
                "observed_at": day.isoformat(),
                "source": SOURCE,
            }
            if row.category is not None:
                payload["category"] = row.category.code
            for part in PARTS:
                try:  # as a spreadsheet cell is read: "62,8" or "62.8"; "1.000" is refused, never guessed
                    number = read_number(row.typed(part))
                except CellError as err:
                    row.errors.append(err.message.vi)
                    row.bad_fields.add(part)
                    continue
                if number is not None:
                    payload[part] = number
            explanation = row.typed("explanation").strip()
            if explanation:
                payload["explanation"] = explanation
            if row.errors:
                continue
            payload["event_id"] = event_id(submission, unit.code, row, payload)
            try:
                made.append((row, ReportIn.model_validate(payload)))
            except ValidationError as err:
                add_issues(row, issues_from_validation_error(err))
    return made


def add_issues(row: Row, issues: list[Issue]) -> None:
    for issue in issues:
        row.errors.append(issue.message.vi)
        if issue.field:
            row.bad_fields.add(issue.field)


def period_label(code: str, catalog: Catalog) -> str:
    """period_label names a period code as people read it ("2026-11" → "tháng 11/2026"); the code when unreadable."""
    try:
        return parse_period(code, catalog).label_vi
    except ValueError:
        return code


def problem_detail(p: Problem) -> str:
    """problem_detail: what a refusal says in Vietnamese (its title when it says nothing more)."""
    if isinstance(p.detail, Text):
        return p.detail.vi
    return p.detail or p.title  # a plain str detail is the same in both languages


def problem_text(p: Problem) -> str:
    """problem_text: a refusal as one Vietnamese sentence, its issues after it."""
    parts = [problem_detail(p)] + [i.message.vi for i in p.issues[:5]]
    return "; ".join(parts)


def sentence(text: str) -> str:
    """sentence: ``text`` as a sentence of its own (capital first letter, full stop); str.capitalize would lower
    the rest, agencies' names included."""
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


async def read_form(request: Request) -> dict[str, str]:
    """read_form reads a form the page sent (URL-encoded, at most FORM_LIMIT bytes; 413/415 otherwise).

    Read here rather than by starlette's ``request.form()``, which has no limit on a body's size.
    """
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    body = (
        await read_body(request, FORM_LIMIT, READ_TIMEOUT_SECONDS, file_too_large)
        if media_type in (FORM_MEDIA_TYPE, "")
        else b""
    )
    if media_type != FORM_MEDIA_TYPE and (media_type or body):  # an empty POST is an empty form
        raise Problem(
            415,
            "unsupported-media-type",
            "Not a form of the page",
            Text(
                f"biểu mẫu phải được gửi từ trang nhập liệu ({FORM_MEDIA_TYPE}), không phải "
                f"{media_type or 'nội dung không có Content-Type'}",
                f"send the page's form ({FORM_MEDIA_TYPE}), not {media_type or 'no Content-Type'}",
            ),
        )
    try:
        pairs = parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True, max_num_fields=FORM_FIELDS)
    except ValueError:
        raise file_too_large(FORM_LIMIT) from None
    return dict(pairs)


async def read_upload_form(request: Request, max_bytes: int) -> tuple[dict[str, str], tuple[bytes, str, str] | None]:
    """read_upload_form reads the upload form (the CSRF field and one file) within the import's size limit.

    The body is read with the import's own limit (413 as soon as it is passed) before it is parsed:
    starlette's form parser would otherwise spool a file of any size to disk.
    """
    body = await read_body(request, max_bytes + MULTIPART_OVERHEAD, READ_TIMEOUT_SECONDS, file_too_large)
    form = await parse_multipart(request, body)
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    upload = form.get("file")
    data = None
    if isinstance(upload, UploadFile):
        content = await upload.read()
        if len(content) > max_bytes:
            raise file_too_large(max_bytes)
        data = (content, upload.filename or "", (upload.content_type or "").split(";", 1)[0].strip().lower())
    await form.close()
    return fields, data


# ───────────────────────────── approval ─────────────────────────────


@dataclass(frozen=True)
class ApprovalLine:
    """ApprovalLine is one value of a unit-period as the approver reads it (the indicator's total)."""

    code: str
    name: str
    value: str  # the value in force, with its period; "" when it cannot be read
    explanation: str
    approval: str  # the value's approval, as people read it (words.APPROVAL)
    comment: str  # why it was returned, when it was


@dataclass
class ApprovalCard:
    """ApprovalCard is one unit-period on the approval page: its state, its values, its two forms."""

    period: UnitPeriod
    unit_name: str
    lines: list[ApprovalLine]
    error: str = ""  # a refused decision, shown beside its forms
    comment: str = ""  # the comment typed with it, kept for correction

    @property
    def anchor(self) -> str:
        return f"{self.period.unit}-{self.period.period.code}"

    @property
    def may_approve(self) -> bool:  # approving what is all approved is refused (already-decided)
        return self.period.counts[SUBMITTED] + self.period.counts[RETURNED] > 0

    @property
    def may_return(self) -> bool:
        return self.period.counts[SUBMITTED] + self.period.counts[APPROVED] > 0


def approval_cards(catalog: Catalog, periods: list[UnitPeriod], in_force: dict[Any, InForce]) -> list[ApprovalCard]:
    """approval_cards: each unit-period with its values in force (``values_in_force`` of category '')."""
    cards = []
    for p in periods:
        lines = []
        for v in p.values:
            ind = catalog.indicators.get(v.indicator)
            found = in_force.get((p.unit, v.indicator, "", v.period_start))
            value = ""
            if ind is not None and found is not None:
                parts = (None, None) if found.percent_only else (found.numerator, found.denominator)
                value = current_text(ind.measure, found.value, *parts, p.period)
            lines.append(
                ApprovalLine(
                    v.indicator,
                    ind.name_vi if ind else "",
                    value,
                    (found.explanation or "") if found else "",
                    words.APPROVAL[v.approval],
                    (v.comment or "") if v.approval == RETURNED else "",
                )
            )
        unit = catalog.units.get(p.unit)
        cards.append(ApprovalCard(p, unit.name_on(p.period.end) if unit else p.unit, lines))
    return cards


# ───────────────────────────── the router ─────────────────────────────


def create_router() -> APIRouter:
    """create_router builds the page's routes; each app keeps its own sessions (``sessions_of``)."""
    router = APIRouter(prefix=PAGE_PATH, include_in_schema=False)

    def state_of(request: Request) -> EntryState:
        return request.app.state.entry

    def sessions_of(request: Request) -> SessionStore:
        # One store per app, timed by the service's clock (tests move it to see sessions expire).
        app_state = request.app.state
        if getattr(app_state, "page_sessions", None) is None:
            clock = app_state.entry.clock
            app_state.page_sessions = SessionStore(clock=lambda: clock().timestamp())
        return app_state.page_sessions

    def viewer_of(request: Request) -> Viewer | None:
        sessions = sessions_of(request)
        session = sessions.get(request.cookies.get(SESSION_COOKIE))
        if session is None:
            return None
        caller = state_of(request).keyring.get(session.key_id)
        if caller is None:  # the key was revoked since sign-in: its sessions end with it
            sessions.end(session.session_id)
            return None
        return Viewer(session, caller, state_of(request).catalog.approval)

    def signed_out(request: Request) -> Response:
        """signed_out answers a request that needs a session and has none (never had one, or it expired)."""
        if request.method == "GET":
            return redirect(f"{PAGE_PATH}/dang-nhap" + ("?het-han=1" if request.cookies.get(SESSION_COOKIE) else ""))
        return message_page(
            401,
            "Cần đăng nhập lại",
            "Phiên làm việc đã hết hạn hoặc đã kết thúc; số liệu vừa nhập chưa được gửi. "
            "Hãy đăng nhập lại rồi nhập lại.",
            link=(f"{PAGE_PATH}/dang-nhap", "Đăng nhập"),
        )

    def csrf_refused(viewer: Viewer | None) -> HTMLResponse:
        return message_page(
            403,
            "Yêu cầu bị từ chối",
            "Biểu mẫu thiếu mã xác thực (CSRF) hoặc mã không đúng: có thể biểu mẫu đã cũ, hoặc "
            "yêu cầu không xuất phát từ trang này. Hãy mở lại trang và gửi lại.",
            viewer=viewer,
        )

    async def posted(request: Request) -> tuple[Viewer | None, dict[str, str], Response | None]:
        """posted reads a POST of a signed-in page: (viewer, form, None), or the refusal to answer instead."""
        viewer = viewer_of(request)
        if viewer is None:
            return None, {}, signed_out(request)
        try:
            form = await read_form(request)
        except Problem as p:
            return viewer, {}, message_page(p.status, "Biểu mẫu không hợp lệ", problem_text(p), viewer=viewer)
        if not tokens_match(viewer.csrf, form.get(CSRF_FIELD)):
            return viewer, form, csrf_refused(viewer)
        return viewer, form, None

    def chosen_unit(viewer: Viewer, catalog: Catalog, code: str) -> Unit | HTMLResponse:
        unit = catalog.units.get(code)
        if unit is None:
            return message_page(
                404, "Không có đơn vị này", f"Mã đơn vị “{code}” không có trong danh mục.", viewer=viewer
            )
        if unit.code not in viewer.caller.scope:
            return message_page(
                403,
                "Ngoài phạm vi của khóa",
                say("outside-key-scope/unit", unit=unit.code).vi.capitalize() + ".",
                viewer=viewer,
            )
        return unit

    # ── static ──

    @router.get("/giao-dien.css")
    async def stylesheet() -> Response:
        return Response(
            STYLESHEET,
            media_type="text/css; charset=utf-8",
            headers={"Cache-Control": "max-age=3600", "X-Content-Type-Options": "nosniff"},
        )

    # ── signing in and out ──

    @router.get("/dang-nhap")
    async def sign_in_form(request: Request) -> Response:
        token = new_token()
        notice = "Phiên làm việc đã hết hạn; hãy đăng nhập lại." if request.query_params.get("het-han") else ""
        response = render("sign_in.html", csrf=token, error="", notice=notice)
        set_cookie(response, request, SIGN_IN_COOKIE, token)
        return response

    @router.post("/dang-nhap")
    async def sign_in(request: Request) -> Response:
        try:
            form = await read_form(request)
        except Problem as p:
            return message_page(
                p.status, "Biểu mẫu không hợp lệ", problem_text(p), link=(f"{PAGE_PATH}/dang-nhap", "Đăng nhập")
            )
        if not tokens_match(request.cookies.get(SIGN_IN_COOKIE, ""), form.get(CSRF_FIELD)):
            return message_page(
                403,
                "Yêu cầu bị từ chối",
                "Biểu mẫu đăng nhập thiếu mã xác thực (CSRF) hoặc mã không đúng. Trình duyệt cần "
                "cho phép cookie của trang này; hãy mở lại trang đăng nhập.",
                link=(f"{PAGE_PATH}/dang-nhap", "Đăng nhập"),
            )
        state = state_of(request)
        token = new_token()
        try:
            caller = authenticate(
                state.keyring, "Bearer " + str(form.get("key", "")).strip(), bus_status=state.bus_status
            )
        except Problem as p:
            error = (
                "Khóa không đúng hoặc đã bị thu hồi."
                if p.status == 401
                else "Hệ thống chưa sẵn sàng kiểm tra khóa; hãy thử lại sau ít phút."
            )
            response: Response = render(
                "sign_in.html", 401 if p.status == 401 else 503, csrf=token, error=error, notice=""
            )
            set_cookie(response, request, SIGN_IN_COOKIE, token)
            return response
        sessions = sessions_of(request)
        sessions.end(request.cookies.get(SESSION_COOKIE))
        session = sessions.create(caller.key.key_id)
        log.info("page: key %s (%s) signed in", caller.key.key_id, caller.key.agency)
        response = redirect(PAGE_PATH)
        set_cookie(response, request, SESSION_COOKIE, session.session_id)
        clear_cookie(response, request, SIGN_IN_COOKIE)
        return response

    @router.post("/dang-xuat")
    async def sign_out(request: Request) -> Response:
        viewer, _, refused = await posted(request)
        if refused is not None:
            return refused if viewer is not None else redirect(f"{PAGE_PATH}/dang-nhap")
        assert viewer is not None  # posted refuses whenever nobody is signed in
        sessions_of(request).end(viewer.session.session_id)
        response = message_page(
            200, "Đã đăng xuất", "Phiên làm việc đã kết thúc.", link=(f"{PAGE_PATH}/dang-nhap", "Đăng nhập lại")
        )
        clear_cookie(response, request, SESSION_COOKIE)
        return response

    # ── choosing what to report ──

    def chooser(request: Request, template: str, **extra: Any) -> Response:
        """chooser shows a page that offers the key's units and this month (choosing, uploading)."""
        viewer = viewer_of(request)
        if viewer is None:
            return signed_out(request)
        state = state_of(request)
        today = state.clock().astimezone(LOCAL_TZ).date()
        return render(
            template,
            viewer=viewer,
            units=scope_units(state.catalog, viewer.caller, today),
            today=today,
            month=f"{today.year:04d}-{today.month:02d}",
            **extra,
        )

    @router.get("")
    @router.get("/")
    async def home(request: Request) -> Response:
        return chooser(request, "home.html")

    async def form_context(request: Request, viewer: Viewer) -> dict[str, Any] | Response:
        """form_context: the unit, the month and the blocks of the form a request names, or the page refusing it."""
        state = state_of(request)
        unit = chosen_unit(viewer, state.catalog, str(request.query_params.get("unit", "")))
        if isinstance(unit, Response):
            return unit
        today = state.clock().astimezone(LOCAL_TZ).date()
        parsed = parse_month(request.query_params.get("period") or f"{today.year:04d}-{today.month:02d}")
        if parsed is None:
            return message_page(
                422, "Kỳ báo cáo không hợp lệ", "Hãy chọn một tháng (năm-tháng, ví dụ 2026-11).", viewer=viewer
            )
        month = month_of(state.catalog, *parsed)
        if month.start > today:
            return message_page(
                422,
                "Kỳ báo cáo chưa bắt đầu",
                f"{month.label_vi.capitalize()} chưa bắt đầu: chỉ báo cáo được cho kỳ đã bắt đầu.",
                viewer=viewer,
            )
        day = report_day(month, today)
        if not unit.active_on(day):
            return message_page(
                422,
                "Đơn vị không hoạt động trong kỳ này",
                f"{unit.name_on(day)} ({unit.code}) không hoạt động vào ngày {format_date(day)}.",
                viewer=viewer,
            )
        if state.pool is None:
            return database_not_ready(viewer, connected=False)
        try:
            async with state.pool.acquire() as conn:
                values = await values_of_unit(conn, unit.code, [i.code for i in applicable(state.catalog, unit)], day)
        except Exception:
            log.exception("page: cannot read the values in force of %s", unit.code)
            return database_not_ready(viewer)
        blocks = build_blocks(state.catalog, unit, day, values)
        return {"unit": unit, "unit_name": unit.name_on(day), "month": month, "day": day, "blocks": blocks}

    async def unit_page(request: Request, template: str, **extra: Any) -> Response:
        """unit_page shows one unit and month (the form, the stored values) to a signed-in viewer."""
        viewer = viewer_of(request)
        if viewer is None:
            return signed_out(request)
        context = await form_context(request, viewer)
        if isinstance(context, Response):
            return context
        return render(template, viewer=viewer, **extra, **context)

    @router.get("/bao-cao")
    async def report_form(request: Request) -> Response:
        return await unit_page(request, "report_form.html", submission=str(uuid.uuid4()), error="")

    @router.post("/bao-cao")
    async def submit_report(request: Request) -> Response:
        viewer, form, refused = await posted(request)
        if refused is not None:
            return refused
        assert viewer is not None  # posted refuses whenever nobody is signed in
        context = await form_context(request, viewer)
        if isinstance(context, Response):
            return context
        state = state_of(request)
        submission = str(form.get("submission", "")) or str(uuid.uuid4())
        made = read_rows(context["blocks"], form, context["unit"], context["day"], submission)
        rows = [row for block in context["blocks"] for row in block.rows]

        def again(status: int, error: str) -> Response:
            return render("report_form.html", status, viewer=viewer, submission=submission, error=error, **context)

        if not any(row.filled for row in rows):
            return again(422, "Chưa nhập số liệu nào: hãy điền ít nhất một chỉ tiêu.")
        reports = [report for _, report in made]
        now = state.clock()
        try:  # the catalog's rules for every row that passed the contract, so all errors show at once
            validate_reports(reports, state.catalog, now, timedelta(seconds=state.settings.future_skew_seconds))
            check_scope(viewer.caller, reports)
        except Problem as p:
            for issue in p.issues:
                if issue.index is not None:
                    add_issues(made[issue.index][0], [issue])
            if p.status != 422:
                return again(p.status, problem_detail(p))
        if any(row.errors for row in rows):
            return again(422, "Có lỗi trong số liệu vừa nhập; xem thông báo bên cạnh từng chỉ tiêu.")
        try:
            duplicates = await publish_events(
                state.js, encode_events(reports, now, viewer.caller), state.settings.publish_timeout_seconds
            )
        except Problem as p:
            return again(
                p.status,
                f"Chưa lưu được số liệu: {problem_detail(p)}. "
                "Hãy bấm Gửi lại sau ít phút (số liệu đã lưu không bị lưu hai lần).",
            )
        log.info(
            "page: key %s stored %d report(s) for %s", viewer.caller.key.key_id, len(reports), context["unit"].code
        )
        stored = [(row, report, duplicate) for (row, report), duplicate in zip(made, duplicates, strict=True)]
        return render(
            "stored.html",
            viewer=viewer,
            stored=stored,
            received_at=format_moment(now),
            shown_value=shown_value,
            **context,
        )

    @router.get("/tinh-hinh")
    async def status_page(request: Request) -> Response:
        return await unit_page(request, "status.html")

    # ── a filled template: dry run, then confirm ──

    @router.get("/tai-len")
    async def upload_form(request: Request) -> Response:
        limit = state_of(request).settings.entry_max_upload_bytes
        return chooser(request, "upload.html", limit=format_number(limit / MEBIBYTE))

    @router.get("/mau")
    async def template_download(request: Request) -> Response:
        """template_download: the template of GET /v1/templates for a signed-in browser (no bearer key there)."""
        viewer = viewer_of(request)
        if viewer is None:
            return signed_out(request)
        state = state_of(request)
        extension = request.query_params.get("format", "xlsx")
        try:
            if extension not in FORMATS:
                raise invalid_parameter("format", "xlsx or csv")
            first, last = period_span(
                state.catalog, request.query_params.get("period", ""), None, state.settings.entry_max_periods
            )
            unit = str(request.query_params.get("unit", ""))
            template = await build_template(state, viewer.caller, unit, first, last)
        except Problem as p:
            return message_page(
                p.status,
                "Không tạo được biểu mẫu",
                problem_text(p),
                viewer=viewer,
                link=(f"{PAGE_PATH}/tai-len", "Quay lại"),
            )
        media_type, write = FORMATS[extension]
        return Response(
            write(template),
            media_type=media_type,
            headers={
                "Content-Disposition": f'attachment; filename="{template_filename(unit, first, last, extension)}"',
                "Cache-Control": "no-store",
            },
        )

    @router.post("/tai-len")
    async def upload(request: Request) -> Response:
        viewer = viewer_of(request)
        state = state_of(request)
        try:
            fields, data = await read_upload_form(request, state.settings.entry_max_upload_bytes)
        except Problem as p:
            return message_page(
                p.status,
                "Không nhận được tệp",
                problem_text(p),
                viewer=viewer,
                link=(f"{PAGE_PATH}/tai-len", "Chọn tệp khác"),
            )
        if viewer is None:
            return signed_out(request)
        if not tokens_match(viewer.csrf, fields.get(CSRF_FIELD)):
            return csrf_refused(viewer)
        if data is None or not data[0]:
            return message_page(
                422,
                "Chưa chọn tệp",
                "Hãy chọn tệp Excel (.xlsx) hoặc CSV đã điền.",
                viewer=viewer,
                link=(f"{PAGE_PATH}/tai-len", "Chọn tệp"),
            )
        return await import_page(request, viewer, data, dry_run=True)

    @router.post("/tai-len/xac-nhan")
    async def confirm_upload(request: Request) -> Response:
        viewer, form, refused = await posted(request)
        if refused is not None:
            return refused
        assert viewer is not None  # posted refuses whenever nobody is signed in
        data = viewer.session.uploads.pop(str(form.get("upload", "")), None)
        if data is None:
            return message_page(
                409,
                "Không còn tệp để nhập",
                "Tệp này đã được nhập hoặc đã quá hạn xác nhận; hãy tải tệp lên lại.",
                viewer=viewer,
                link=(f"{PAGE_PATH}/tai-len", "Tải tệp lên"),
            )
        return await import_page(request, viewer, data, dry_run=False)

    async def import_page(request: Request, viewer: Viewer, data: tuple[bytes, str, str], *, dry_run: bool) -> Response:
        """import_page runs the import path of POST /v1/imports and shows its summary (a dry run keeps the file)."""
        try:
            state = state_of(request)
            status, body = await run_import(state, viewer.caller, *data, dry_run=dry_run)
        except Problem as p:
            return message_page(
                p.status,
                "Không nhập được tệp",
                problem_text(p),
                viewer=viewer,
                link=(f"{PAGE_PATH}/tai-len", "Tải tệp khác lên"),
            )
        summary = body.get("summary", body)
        counts = summary["counts"]
        upload_id = ""
        if dry_run and not summary["refused"] and counts["new"] + counts["corrected"] > 0:
            upload_id = viewer.session.keep_upload(data)
        return render(
            "import_summary.html",
            200 if status in (200, 202) else status,
            viewer=viewer,
            summary=summary,
            dry_run=dry_run,
            upload_id=upload_id,
            filename=data[1],
            outcome=OUTCOME_LABELS,
            problem=body.get("detail", ""),
            catalog=state.catalog,
            period_label=period_label,
        )

    # ── approval (programme.approval on, an approver key) ──

    async def approval_page(
        request: Request,
        viewer: Viewer,
        status: int = 200,
        *,
        done: str = "",
        refused: tuple[str, str, str, str] | None = None,
    ) -> Response:
        """approval_page lists the unit-periods the key may decide on (filters: unit, approval), after a
        decision (``done``) or beside a refused one (``refused``: unit, period, why, the comment typed)."""
        state = state_of(request)
        if state.pool is None:
            return database_not_ready(viewer, connected=False)
        unit = str(request.query_params.get("unit", "")) or None
        approval = str(request.query_params.get("approval", "")) or None
        try:
            periods = await unit_periods(request, viewer.caller, unit, approval)
        except Problem as p:
            if p.reason == "approval-off":
                return message_page(
                    409,
                    "Chưa bật phê duyệt số liệu",
                    "Chương trình chưa bật phê duyệt số liệu: số liệu các đơn vị gửi được dùng ngay, "
                    "không cần phê duyệt.",
                    viewer=viewer,
                )
            title = "Không có quyền phê duyệt" if p.status == 403 else "Không xem được số liệu cần phê duyệt"
            return message_page(p.status, title, sentence(problem_text(p)), viewer=viewer)
        keys = [(p.unit, v.indicator, "", v.period_start) for p in periods for v in p.values]
        try:
            async with state.pool.acquire() as conn:
                in_force = await values_in_force(conn, keys)
        except Exception:  # any database failure: say so, the person tries again
            log.exception("page: cannot read the values to approve")
            return database_not_ready(viewer)
        cards = approval_cards(state.catalog, periods, in_force)
        error = ""
        if refused is not None:
            card = next((c for c in cards if (c.period.unit, c.period.period.code) == refused[:2]), None)
            if card is None:
                error = refused[2]
            else:
                card.error, card.comment = refused[2:]
        today = state.clock().astimezone(LOCAL_TZ).date()
        units = sorted(
            (state.catalog.units[c] for c in approval_scope(viewer.caller, state.catalog)),
            key=lambda u: (LEVEL_ORDER[u.level], u.name_on(today), u.code),
        )
        return render(
            "approvals.html",
            status,
            viewer=viewer,
            cards=cards,
            done=done,
            error=error,
            units=units,
            today=today,
            unit=unit or "",
            approval=approval or "",
            states=words.APPROVAL,
            query=urlencode({"unit": unit or "", "approval": approval or ""}),
        )

    @router.get("/phe-duyet")
    async def approvals_list(request: Request) -> Response:
        viewer = viewer_of(request)
        if viewer is None:
            return signed_out(request)
        return await approval_page(request, viewer)

    @router.post("/phe-duyet")
    async def approval_decision(request: Request) -> Response:
        viewer, form, refused = await posted(request)
        if refused is not None:
            return refused
        assert viewer is not None  # posted refuses whenever nobody is signed in
        unit, period = str(form.get("unit", "")), str(form.get("period", ""))
        decision, comment = str(form.get("decision", "")), str(form.get("comment", ""))
        if decision not in (APPROVED, RETURNED):
            return message_page(
                422,
                "Biểu mẫu không hợp lệ",
                "Hãy chọn Phê duyệt hoặc Trả lại trên trang phê duyệt.",
                viewer=viewer,
                link=(f"{PAGE_PATH}/phe-duyet", "Về trang phê duyệt"),
            )
        try:
            made = await decide(request, viewer.caller, unit, period, decision, comment=comment)
        except Problem as p:
            return await approval_page(
                request, viewer, p.status, refused=(unit, period, sentence(problem_text(p)), comment)
            )
        state = state_of(request)
        log.info("page: key %s %s %s %s", viewer.caller.key.key_id, decision, unit, period)
        what = f"{state.catalog.units[unit].name_vi} ({unit}), {period_label(made.period, state.catalog)}"
        done = (
            f"Đã phê duyệt số liệu của {what}."
            if decision == APPROVED
            else f"Đã trả lại số liệu của {what}, với ý kiến: {made.comment}"
        )
        return await approval_page(request, viewer, done=done)

    return router
