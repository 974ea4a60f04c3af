"""Data approval on the data-entry page (/nhap-lieu/phe-duyet), in a real headless Chromium against the real
pipeline, with ``programme.approval`` on: a unit sends a month on the page, an approver key sees it waiting
(Chờ phê duyệt), returns it with a comment (the decision is in the audit), the unit corrects it, the
approver approves it (Đã phê duyệt). Around it, over plain HTTP: CSRF on the decision forms, a reporter
key refused (403), approval off said plainly. A refused decision records nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from dxmon import devstack, words
from dxmon.catalog import Catalog
from services.entry.app import create_app
from tests.browser.conftest import AGENCY, UNIT, Browser, last_month, wait_replaced
from tests.browser.test_page import page_text, submit, unlabelled_fields
from tests.browser.test_page_security import signed_in
from tests.integration.entry.conftest import entry_settings
from tests.integration.entry.test_approvals_api import approver_key
from tests.pipeline import Pipeline, Served
from tests.unit import retired_terms

pytestmark = [pytest.mark.integration, pytest.mark.browser]

APPROVER_AGENCY = "Sở Khoa học và Công nghệ"
PAGE = "/nhap-lieu/phe-duyet"


@pytest.fixture
async def approving(pipeline: Pipeline, catalog: Catalog) -> AsyncIterator[str]:
    """approving: the entry service of a programme with approval on; its URL."""
    served = Served(
        create_app(entry_settings(pipeline), dataclasses.replace(catalog, approval=True)), devstack.free_port()
    )
    await served.start()
    yield f"http://127.0.0.1:{served.port}"
    await served.stop()


async def decisions(pipeline: Pipeline) -> list[tuple]:
    rows = await pipeline.fetch(
        "SELECT unit, period, indicator, decision, comment, by, key_id FROM approval_decisions ORDER BY at, id"
    )
    return [tuple(r) for r in rows]


async def test_send_return_with_a_comment_correct_and_approve_on_the_page(
    pipeline: Pipeline, catalog: Catalog, approving: str, browser: Browser
) -> None:
    _, reporter = await pipeline.create_key(AGENCY, [UNIT])
    approver_id, approver = await approver_key(pipeline, catalog, APPROVER_AGENCY, ["QN"])
    url, driver, period = approving, browser.driver, last_month()
    card_id = f"ky-{UNIT}-{period}"
    year, month = period.split("-")

    def sign_in(token: str) -> None:
        driver.delete_all_cookies()
        driver.get(f"{url}/nhap-lieu/dang-nhap")
        field = driver.find_element(By.ID, "key")
        field.send_keys(token + Keys.ENTER)
        wait_replaced(driver, field)

    def send_month(numerator: str) -> None:
        sign_in(reporter)
        assert "Phê duyệt số liệu" not in page_text(driver)  # a reporter key is offered no approval
        driver.get(f"{url}/nhap-lieu/bao-cao?unit={UNIT}&period={period}")
        driver.find_element(By.ID, "f-DG-04-numerator").send_keys(numerator)
        driver.find_element(By.ID, "f-DG-04-denominator").send_keys("1000")
        driver.find_element(By.ID, "f-DG-04-explanation").send_keys("Đã rà soát lại số hồ sơ.")
        submit(driver)
        assert "Đã lưu 1 báo cáo" in page_text(driver)

    def card():
        return driver.find_element(By.ID, card_id)

    await browser.run(send_month, "628")
    await pipeline.wait_drained()

    def see_it_waiting() -> None:
        sign_in(approver)
        link = driver.find_element(By.CSS_SELECTOR, "main a[href='/nhap-lieu/phe-duyet']")
        assert link.text == "Phê duyệt số liệu"
        link.send_keys(Keys.ENTER)  # by keyboard
        WebDriverWait(driver, 30).until(expected_conditions.url_to_be(f"{url}{PAGE}"))
        assert unlabelled_fields(driver) == []
        assert card().get_attribute("data-approval") == "submitted"
        text = card().text
        assert words.APPROVAL["submitted"] in text and f"tháng {int(month)}/{year}" in text
        assert (
            driver.find_element(By.CSS_SELECTOR, f"#{card_id} td[data-indicator='DG-04']").text
            == f"62,8% (628/1.000), tháng {int(month)}/{year}"
        )
        assert "Đã rà soát lại số hồ sơ." in text
        assert "Chờ phê duyệt: 1, Đã phê duyệt: 0, Trả lại: 0" in text
        browser.screenshot("09-cho-phe-duyet")

    await browser.run(see_it_waiting)

    def return_it() -> None:
        comment = driver.find_element(By.ID, f"{card_id}-y-kien")
        comment.send_keys("   ")  # passes the browser's `required`, not the server: a comment is needed
        submit(driver, f"#{card_id}-tra-lai")
        error = driver.find_element(By.ID, f"{card_id}-loi")
        assert error.text == "Trả lại cần ghi ý kiến (lý do trả lại)."
        comment = driver.find_element(By.ID, f"{card_id}-y-kien")
        assert comment.get_attribute("aria-invalid") == "true"
        assert comment.get_attribute("aria-describedby") == f"{card_id}-loi"
        comment.clear()
        comment.send_keys("Mẫu số chưa khớp với hệ thống một cửa")
        submit(driver, f"#{card_id}-tra-lai")
        done = driver.find_element(By.ID, "da-quyet").text
        assert done.startswith("Đã trả lại số liệu của Phường Hồng Gai (QN-P-HONGGAI), tháng")
        assert card().get_attribute("data-approval") == "returned"
        assert "Trả lại: Mẫu số chưa khớp với hệ thống một cửa" in card().text
        browser.screenshot("10-tra-lai")

    await browser.run(return_it)
    assert await decisions(pipeline) == [
        (UNIT, period, "", "returned", "Mẫu số chưa khớp với hệ thống một cửa", APPROVER_AGENCY, approver_id)
    ]

    await browser.run(send_month, "650")  # the unit corrects: waiting again
    await pipeline.wait_drained()

    def approve_it() -> None:
        sign_in(approver)
        driver.get(f"{url}{PAGE}?approval=submitted")
        assert card().get_attribute("data-approval") == "submitted"
        assert "65% (650/1.000)" in card().text
        submit(driver, f"#{card_id}-phe-duyet")
        assert driver.find_element(By.ID, "da-quyet").text.startswith("Đã phê duyệt số liệu của Phường Hồng Gai")
        assert driver.find_elements(By.ID, card_id) == []  # the list keeps its filter: nothing waits any more
        driver.get(f"{url}{PAGE}?unit={UNIT}")
        assert card().get_attribute("data-approval") == "approved"
        assert words.APPROVAL["approved"] in card().text
        assert driver.find_elements(By.ID, f"{card_id}-phe-duyet") == []  # nothing left to approve
        browser.screenshot("11-da-phe-duyet")

    await browser.run(approve_it)
    assert [d[3] for d in await decisions(pipeline)] == ["returned", "approved"]


async def test_the_decision_forms_need_the_session_csrf_token(
    pipeline: Pipeline, catalog: Catalog, approving: str
) -> None:
    _, approver = await approver_key(pipeline, catalog, APPROVER_AGENCY, ["QN"])
    _, reporter = await pipeline.create_key(AGENCY, [UNIT])
    async with signed_in(approving, reporter) as (http, csrf):
        sent = await http.post(
            f"/nhap-lieu/bao-cao?unit={UNIT}&period={last_month()}",
            data={"csrf_token": csrf, "submission": "a1", "DG-04.value": "60"},
        )
        assert sent.status_code == 200, sent.text
    await pipeline.wait_drained()
    decision = {"unit": UNIT, "period": last_month(), "decision": "approved"}
    async with signed_in(approving, approver) as (http, csrf):
        listed = await http.get(PAGE)
        assert listed.status_code == 200 and 'data-approval="submitted"' in listed.text
        for forged in ({}, {"csrf_token": csrf[:-2] + "xx"}, {"csrf_token": ""}):
            refused = await http.post(PAGE, data={**decision, **forged})
            assert refused.status_code == 403 and "CSRF" in refused.text
        odd = await http.post(PAGE, data={**decision, "decision": "deleted", "csrf_token": csrf})
        assert odd.status_code == 422
        outside = await http.post(PAGE, data={**decision, "unit": "QN-NOPE", "csrf_token": csrf})
        assert outside.status_code == 422 and 'id="loi-phe-duyet"' in outside.text
        assert await decisions(pipeline) == []
        approved = await http.post(PAGE, data={**decision, "csrf_token": csrf})
        assert approved.status_code == 200 and "Đã phê duyệt số liệu của" in approved.text
        again = await http.post(PAGE, data={**decision, "csrf_token": csrf})  # a reload of the answer
        assert again.status_code == 409 and "đã được phê duyệt" in again.text
    assert len(await decisions(pipeline)) == 1


async def test_a_reporter_key_is_refused_and_approval_off_is_said_plainly(entry, approving: str) -> None:
    pipeline = entry.pipeline
    _, reporter = await pipeline.create_key(AGENCY, [UNIT])
    async with signed_in(approving, reporter) as (http, csrf):
        home = await http.get("/nhap-lieu")
        assert "/nhap-lieu/phe-duyet" not in home.text
        shown = await http.get(PAGE)
        assert shown.status_code == 403 and "Không có quyền phê duyệt" in shown.text
        assert "không có quyền phê duyệt" in shown.text and AGENCY in shown.text  # the agency's name as written
        posted = await http.post(
            PAGE, data={"unit": UNIT, "period": last_month(), "decision": "approved", "csrf_token": csrf}
        )
        assert posted.status_code == 403
        assert retired_terms.retired_terms_in(shown.text) == []
    _, approver = await approver_key(pipeline, pipeline.catalog, APPROVER_AGENCY, ["QN"])
    async with signed_in(entry.url, approver) as (http, _):  # this service's catalog has approval off
        assert "/nhap-lieu/phe-duyet" not in (await http.get("/nhap-lieu")).text
        off = await http.get(PAGE)
        assert off.status_code == 409 and "Chương trình chưa bật phê duyệt số liệu" in off.text
    async with signed_in(approving, approver) as (http, _):
        assert 'href="/nhap-lieu/phe-duyet"' in (await http.get("/nhap-lieu")).text
    assert await decisions(pipeline) == []
