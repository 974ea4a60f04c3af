"""The data-entry page's defences: CSRF on every POST, cookie flags, sessions that end, scope, escaping.

Over plain HTTP (httpx) against the real entry service and pipeline, plus the cookie flags as the
real Chromium stores them. A refused POST must publish nothing: each test ends by checking the store.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from starlette.requests import Request

from dxmon import devstack
from services.entry import page
from services.entry.app import create_app
from services.entry.session import SessionStore, is_https, tokens_match
from services.entry.sheet import DATA_SHEET
from services.entry.workbook import LETTER
from tests.browser.conftest import AGENCY, UNIT, Browser, last_month, wait_replaced
from tests.integration.entry.conftest import entry_settings
from tests.integration.entry.entry_files import XLSX, fill
from tests.pipeline import Served
from tests.unit import retired_terms

pytestmark = [pytest.mark.integration, pytest.mark.browser]

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
SUBMISSION = re.compile(r'name="submission" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


@asynccontextmanager
async def signed_in(url: str, token: str) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """signed_in: an HTTP client holding a session of ``token``, and the session's CSRF token."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        form = await http.get("/nhap-lieu/dang-nhap")
        answer = await http.post("/nhap-lieu/dang-nhap", data={"csrf_token": csrf_of(form.text), "key": token})
        assert answer.status_code == 303, answer.text
        home = await http.get("/nhap-lieu")
        assert home.status_code == 200
        yield http, csrf_of(home.text)


def report_form(csrf: str | None, **fields: str) -> dict[str, str]:
    data = {
        "submission": "f1b5c7f4-4c1e-4b55-9a43-0c4b3a9f0c11",
        "DG-04.numerator": "500",
        "DG-04.denominator": "1000",
        **fields,
    }
    if csrf is not None:
        data["csrf_token"] = csrf
    return data


async def test_every_post_without_the_right_csrf_token_is_refused_and_publishes_nothing(entry) -> None:
    _, token = await entry.pipeline.create_key(AGENCY, [UNIT])
    async with signed_in(entry.url, token) as (http, csrf):
        target = f"/nhap-lieu/bao-cao?unit={UNIT}&period={last_month()}"
        missing = await http.post(target, data=report_form(None))
        wrong = await http.post(target, data=report_form(csrf[:-2] + "xx"))
        other_session = await http.post(target, data=report_form(""))
        sign_out = await http.post("/nhap-lieu/dang-xuat", data={})
        for refused in (missing, wrong, other_session, sign_out):
            assert refused.status_code == 403, refused.text
            assert "CSRF" in refused.text
        assert (await http.get("/nhap-lieu")).status_code == 200  # the session survived the forged sign-out
        multipart = await http.post(target, files={"file": ("x.csv", b"x", "text/csv")}, data=report_form(csrf))
        assert multipart.status_code == 415  # the page's forms are URL-encoded; nothing else is parsed
        huge = await http.post(target, data=report_form(csrf, **{"DG-04.explanation": "x" * 1_100_000}))
        assert huge.status_code == 413
        accepted = await http.post(target, data=report_form(csrf))
        assert accepted.status_code == 200 and "Đã lưu 1 báo cáo" in accepted.text
    await entry.pipeline.wait_drained()
    assert await entry.pipeline.fetchval("SELECT count(*) FROM reports WHERE unit = $1", UNIT) == 1


async def test_the_sign_in_form_is_protected_by_a_double_submit_token(entry) -> None:
    _, token = await entry.pipeline.create_key(AGENCY, [UNIT])
    async with httpx.AsyncClient(base_url=entry.url) as http:
        no_cookie = await http.post("/nhap-lieu/dang-nhap", data={"csrf_token": "abc", "key": token})
        assert no_cookie.status_code == 403
        form = await http.get("/nhap-lieu/dang-nhap")
        forged = await http.post("/nhap-lieu/dang-nhap", data={"csrf_token": csrf_of(form.text) + "x", "key": token})
        assert forged.status_code == 403
        assert "dx_phien" not in http.cookies
        wrong_key = await http.post(
            "/nhap-lieu/dang-nhap",
            data={"csrf_token": csrf_of((await http.get("/nhap-lieu/dang-nhap")).text), "key": token[:-4] + "AAAA"},
        )
        assert wrong_key.status_code == 401
        assert "Khóa không đúng hoặc đã bị thu hồi" in wrong_key.text
        assert token[:-4] not in wrong_key.text  # the key is not echoed back into the page


async def test_cookie_flags_as_the_browser_keeps_them(entry, browser: Browser) -> None:
    _, token = await entry.pipeline.create_key(AGENCY, [UNIT])
    url, driver = entry.url, browser.driver

    def sign_in() -> tuple[list[dict], str]:
        driver.get(f"{url}/nhap-lieu/dang-nhap")
        field = driver.find_element(By.ID, "key")
        field.send_keys(token + Keys.ENTER)
        wait_replaced(driver, field)
        return driver.get_cookies(), driver.execute_script("return document.cookie")

    cookies, visible_to_scripts = await browser.run(sign_in)
    session = next(c for c in cookies if c["name"] == "dx_phien")
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Strict"
    assert session["path"] == "/nhap-lieu"
    assert session["secure"] is False  # plain HTTP here; over HTTPS see the next test
    assert "expiry" not in session  # ends with the browser; the server ends it earlier
    assert visible_to_scripts == ""
    assert all(token not in c["value"] and token.split("_")[2] not in c["value"] for c in cookies)
    assert len(session["value"]) >= 40  # 256 random bits


async def test_cookies_are_secure_over_https(entry) -> None:
    _, token = await entry.pipeline.create_key(AGENCY, [UNIT])
    # Behind a TLS proxy (which sends X-Forwarded-Proto: https), whatever address it connects from.
    async with httpx.AsyncClient(base_url=entry.url, headers={"X-Forwarded-Proto": "https"}) as http:
        form = await http.get("/nhap-lieu/dang-nhap")
        sign_in_cookie = form.headers["set-cookie"]
        signed = await http.post(
            "/nhap-lieu/dang-nhap",
            data={"csrf_token": csrf_of(form.text), "key": token},
            headers={"Cookie": f"dx_dang_nhap={form.cookies['dx_dang_nhap']}"},
        )
    session_cookie = next(h for h in signed.headers.get_list("set-cookie") if h.startswith("dx_phien="))
    for header in (sign_in_cookie, session_cookie):
        flags = {part.strip().lower() for part in header.split(";")}
        assert {"httponly", "secure", "samesite=strict", "path=/nhap-lieu"} <= flags, header


async def test_a_revoked_key_ends_its_sessions_at_once(entry) -> None:
    key_id, token = await entry.pipeline.create_key(AGENCY, [UNIT])
    async with signed_in(entry.url, token) as (http, _):
        await entry.pipeline.revoke(key_id)
        keyring = entry.served.app.state.entry.keyring
        for _ in range(100):
            if keyring.get(key_id) is None:
                break
            await asyncio.sleep(0.05)
        after = await http.get("/nhap-lieu")
    assert after.status_code == 303
    assert after.headers["location"] == "/nhap-lieu/dang-nhap?het-han=1"


async def test_units_outside_the_key_are_refused(entry) -> None:
    _, token = await entry.pipeline.create_key(AGENCY, [UNIT])
    async with signed_in(entry.url, token) as (http, csrf):
        home = await http.get("/nhap-lieu")
        assert "QN-P-CAMPHA" not in home.text  # only the key's units are offered
        shown = await http.get(f"/nhap-lieu/bao-cao?unit=QN-P-CAMPHA&period={last_month()}")
        sent = await http.post(f"/nhap-lieu/bao-cao?unit=QN-P-CAMPHA&period={last_month()}", data=report_form(csrf))
    assert shown.status_code == sent.status_code == 403
    assert "đơn vị QN-P-CAMPHA nằm ngoài phạm vi của khóa".capitalize() in sent.text
    await entry.pipeline.wait_drained()
    assert await entry.pipeline.fetchval("SELECT count(*) FROM reports") == 0


async def test_what_people_type_is_shown_as_text_never_as_markup(entry) -> None:
    _, token = await entry.pipeline.create_key(AGENCY, [UNIT])
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)> "Nguyên nhân" & giải pháp'
    async with signed_in(entry.url, token) as (http, csrf):
        answer = await http.post(
            f"/nhap-lieu/bao-cao?unit={UNIT}&period={last_month()}",
            data=report_form(csrf, **{"DG-04.explanation": hostile}),
        )
    assert answer.status_code == 200, answer.text
    assert "<script>" not in answer.text and "<img src=x" not in answer.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in answer.text
    assert answer.headers["content-security-policy"].startswith("default-src 'none'")
    assert retired_terms.retired_terms_in(answer.text) == []


async def test_a_number_the_browser_lets_through_gets_the_contract_reason(entry) -> None:
    _, token = await entry.pipeline.create_key(AGENCY, [UNIT])
    async with signed_in(entry.url, token) as (http, csrf):
        target = f"/nhap-lieu/bao-cao?unit={UNIT}&period={last_month()}"
        answer = await http.post(
            target,
            data=report_form(
                csrf,
                **{
                    "DG-04.value": "62,8",  # a percentage beside the parts: value-with-parts
                    "DG-03.numerator": "abc",
                    "DG-05.numerator": "1.000",  # a thousand, or one? refused, never guessed
                    "DG-05.denominator": "2000",
                    "DS-10.value": "12,5",  # a count: value-not-integer
                    "DE-12.value": "2",  # yes/no: value-out-of-range
                },
            ),
        )
        assert answer.status_code == 422
        for reason in (
            "không gửi cả hai",
            "1.000",
            "phải là số nguyên, nhận được 12,5",
            "chỉ nhận 0 hoặc 1, nhận được 2",
        ):
            assert reason in answer.text
        assert 'value="abc"' in answer.text  # typed values are kept for correction
        empty = await http.post(target, data={"csrf_token": csrf, "submission": "x"})
        assert empty.status_code == 422 and "Chưa nhập số liệu nào" in empty.text
    await entry.pipeline.wait_drained()
    assert await entry.pipeline.fetchval("SELECT count(*) FROM reports") == 0


def test_sessions_expire_when_idle_and_after_a_working_day() -> None:
    now = [1000.0]
    store = SessionStore(idle_seconds=60, max_age_seconds=300, clock=lambda: now[0])
    idle = store.create("a" * 16)
    busy = store.create("b" * 16)
    assert idle.session_id != busy.session_id and idle.csrf != busy.csrf
    for _ in range(5):
        now[0] += 50
        assert store.get(busy.session_id) is busy  # used within the idle limit: kept
    assert store.get(idle.session_id) is None  # 250 s idle
    now[0] += 51
    assert store.get(busy.session_id) is None  # 301 s old, however busy
    assert len(store) == 0


def test_the_session_store_stays_bounded_and_tokens_compare_strictly() -> None:
    store = SessionStore(max_sessions=3)
    sessions = [store.create(f"{n:016x}") for n in range(5)]
    assert len(store) == 3
    assert store.get(sessions[0].session_id) is None and store.get(sessions[4].session_id) is sessions[4]
    assert store.get(None) is None and store.get("") is None
    assert tokens_match("abc", "abc")
    assert not tokens_match("abc", "abd") and not tokens_match("abc", None) and not tokens_match("", "")


async def test_an_upload_needs_the_csrf_token_and_a_refused_cell_says_where_it_is(entry) -> None:
    _, token = await entry.pipeline.create_key(AGENCY, [UNIT])
    period = last_month()
    async with signed_in(entry.url, token) as (http, csrf):
        template = await http.get(f"/nhap-lieu/mau?unit={UNIT}&period={period}&format=xlsx")
        assert template.status_code == 200
        bad = fill(template.content, {("DG-03", "", period): {"numerator": 700, "denominator": 600}})
        files = {"file": ("mau.xlsx", bad, XLSX)}
        assert (await http.post("/nhap-lieu/tai-len", files=files)).status_code == 403
        assert (await http.post("/nhap-lieu/tai-len", files=files, data={"csrf_token": "x"})).status_code == 403
        checked = await http.post("/nhap-lieu/tai-len", files=files, data={"csrf_token": csrf})
        assert checked.status_code == 200, checked.text
        assert "tử số 700 lớn hơn mẫu số 600" in checked.text
        table = re.search(r'<table id="bi-tu-choi">.*?</table>', checked.text, re.S)
        assert table is not None, checked.text
        refused = table.group(0)
        assert f"<td>{DATA_SHEET}</td>" in refused and f"<td>{LETTER['numerator']} (Tử số)</td>" in refused
        assert 'name="upload"' not in checked.text  # nothing to confirm
        forged = await http.post("/nhap-lieu/tai-len/xac-nhan", data={"upload": "whatever"})
        unknown = await http.post("/nhap-lieu/tai-len/xac-nhan", data={"upload": "whatever", "csrf_token": csrf})
        assert (forged.status_code, unknown.status_code) == (403, 409)
        too_big = entry.settings.entry_max_upload_bytes + 1
        huge = await http.post(
            "/nhap-lieu/tai-len", files={"file": ("big.csv", b"x" * too_big, "text/csv")}, data={"csrf_token": csrf}
        )
        assert huge.status_code == 413 and "Không nhận được tệp" in huge.text
    await entry.pipeline.wait_drained()
    assert await entry.pipeline.fetchval("SELECT count(*) FROM reports") == 0


def test_the_page_speaks_the_glossary() -> None:
    html = Path(page.__file__).parent / "html"
    found = {f.name: retired_terms.retired_terms_in(f.read_text(encoding="utf-8")) for f in html.glob("*.html")}
    assert found and all(terms == [] for terms in found.values()), found
    assert retired_terms.retired_terms_in(" ".join(page.OUTCOME_LABELS.values())) == []


async def test_a_session_ends_an_hour_unused_and_eight_hours_after_sign_in(pipeline, catalog) -> None:
    now = [datetime.now(UTC)]
    served = Served(create_app(entry_settings(pipeline), catalog, clock=lambda: now[0]), devstack.free_port())
    await served.start()
    try:
        _, token = await pipeline.create_key(AGENCY, [UNIT])
        url = f"http://127.0.0.1:{served.port}"
        async with signed_in(url, token) as (http, csrf):
            for _ in range(2):
                now[0] += timedelta(minutes=59)
                assert (await http.get("/nhap-lieu")).status_code == 200  # used within the hour: kept
            now[0] += timedelta(minutes=61)
            idle = await http.get("/nhap-lieu")
            assert idle.status_code == 303 and idle.headers["location"] == "/nhap-lieu/dang-nhap?het-han=1"
            late = await http.post(f"/nhap-lieu/bao-cao?unit={UNIT}&period={last_month()}", data=report_form(csrf))
            assert late.status_code == 401 and "Phiên làm việc đã hết hạn" in late.text
            notice = await http.get("/nhap-lieu/dang-nhap?het-han=1")
            assert "Phiên làm việc đã hết hạn; hãy đăng nhập lại." in notice.text
        async with signed_in(url, token) as (http, _):
            for _ in range(8):
                now[0] += timedelta(minutes=59)
                assert (await http.get("/nhap-lieu")).status_code == 200
            now[0] += timedelta(minutes=30)  # 8 h 2 min after sign-in, 30 min after the last use
            assert (await http.get("/nhap-lieu")).status_code == 303
    finally:
        await served.stop()
    await pipeline.wait_drained()
    assert await pipeline.fetchval("SELECT count(*) FROM reports") == 0


async def test_an_indicator_with_categories_is_entered_one_row_per_category(entry) -> None:
    _, token = await entry.pipeline.create_key("Sở Khoa học và Công nghệ", ["QN"])
    async with signed_in(entry.url, token) as (http, csrf):
        target = f"/nhap-lieu/bao-cao?unit=QN&period={last_month()}"
        form = await http.get(target)
        for category in ("province", "district", "commune"):
            assert f'name="DG-01.{category}.numerator"' in form.text
        answer = await http.post(
            target,
            data={
                "csrf_token": csrf,
                "submission": "c1",
                "DG-01.province.numerator": "90",
                "DG-01.province.denominator": "100",
                "DG-01.commune.value": "55,5",
            },
        )
        assert answer.status_code == 200 and "Đã lưu 2 báo cáo" in answer.text, answer.text
    await entry.pipeline.wait_drained()
    rows = await entry.pipeline.fetch(
        "SELECT category, numerator, denominator, value FROM reports WHERE unit = 'QN' ORDER BY category"
    )
    assert [tuple(r) for r in rows] == [("commune", None, None, 55.5), ("province", 90, 100, None)]


def test_cookies_are_secure_over_https_directly_or_behind_any_tls_proxy() -> None:
    def request(scheme: str, forwarded: str | None) -> Request:
        headers = [(b"x-forwarded-proto", forwarded.encode())] if forwarded else []
        return Request(
            {
                "type": "http",
                "scheme": scheme,
                "method": "GET",
                "path": "/nhap-lieu",
                "query_string": b"",
                "headers": headers,
                "server": ("nhaplieu", 8081),
                "client": ("172.18.0.1", 40000),
            }
        )

    assert is_https(request("https", None))
    assert is_https(request("http", "https"))  # a proxy on the compose network's gateway, not on 127.0.0.1
    assert is_https(request("http", "https, http"))
    assert not is_https(request("http", None)) and not is_https(request("http", "http"))
