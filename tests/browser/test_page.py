"""The data-entry page (/nhap-lieu) in a real headless Chromium, against the real pipeline.

An agency signs in with its key by keyboard, opens the form for last month, makes a mistake the
browser cannot catch (a numerator above its denominator) and sees the contract's reason beside the
field, corrects it, sends, sees what was stored, finds the value on the page of stored values once
the aggregator wrote it, and signs out. Around it: CSRF refusals (403, nothing published), cookie
flags over HTTP and HTTPS, expired and revoked sessions, nothing loaded from elsewhere, a phone-sized
screen, labelled fields. Screenshots: tests/artifacts/browser/.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from dxmon import words
from tests.browser.conftest import AGENCY, UNIT, Browser, last_month, wait_replaced
from tests.integration.entry.entry_files import fill

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def submit(driver, selector: str = "main form button[type=submit]") -> None:
    """submit clicks a form's button and waits until the browser has loaded the answer."""
    button = driver.find_element(By.CSS_SELECTOR, selector)
    button.click()
    wait_replaced(driver, button)


def page_text(driver) -> str:
    return driver.find_element(By.TAG_NAME, "body").text


def session_cookie(driver) -> str:
    """session_cookie: the value of the page's session cookie (failing when the browser holds none)."""
    cookie = driver.get_cookie("dx_phien")
    assert cookie is not None, "no session cookie"
    return cookie["value"]


def unlabelled_fields(driver) -> list[str]:
    """unlabelled_fields: the ids (or names) of visible form fields no <label for> names."""
    labelled = {label.get_attribute("for") for label in driver.find_elements(By.TAG_NAME, "label")}
    fields = driver.find_elements(By.CSS_SELECTOR, "input:not([type=hidden]), select, textarea")
    return [f.get_attribute("id") or f.get_attribute("name") for f in fields if f.get_attribute("id") not in labelled]


def foreign_resources(driver, origin: str) -> list[str]:
    """foreign_resources: everything the page loaded from anywhere but the entry service."""
    names = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    return [n for n in names if not n.startswith(origin)]


async def test_sign_in_enter_a_month_see_it_stored_upload_a_template_and_sign_out(
    entry, browser: Browser, tmp_path: Path
) -> None:
    _, token = await entry.pipeline.create_key(AGENCY, [UNIT])
    url, driver, period = entry.url, browser.driver, last_month()

    def sign_in_by_keyboard() -> None:
        driver.get(f"{url}/nhap-lieu")
        assert driver.current_url == f"{url}/nhap-lieu/dang-nhap"  # not signed in: sent to sign in
        assert driver.switch_to.active_element.get_attribute("id") == "key"  # the key field has the focus
        browser.screenshot("01-dang-nhap")
        field = driver.switch_to.active_element
        field.send_keys(token + Keys.ENTER)
        wait_replaced(driver, field)

    await browser.run(sign_in_by_keyboard)

    def choose_unit_and_month() -> None:
        assert driver.current_url == f"{url}/nhap-lieu"
        ActionChains(driver).send_keys(Keys.TAB).perform()  # the first Tab reaches the skip link
        assert driver.switch_to.active_element.text == "Bỏ qua, đến nội dung chính"
        assert AGENCY in page_text(driver)
        assert unlabelled_fields(driver) == []
        Select(driver.find_element(By.ID, "unit")).select_by_value(UNIT)
        month = driver.find_element(By.ID, "period")
        driver.execute_script("arguments[0].value = arguments[1]", month, period)
        browser.screenshot("02-chon-don-vi-ky")
        submit(driver, "main button[type=submit]:not([formaction])")

    await browser.run(choose_unit_and_month)

    def enter_with_a_mistake() -> None:
        assert f"/nhap-lieu/bao-cao?unit={UNIT}&period={period}" in driver.current_url
        text = page_text(driver)
        for heading in (words.TARGET, words.EXPECTED, words.CURRENT_VALUE, words.EXPLANATION):
            assert heading in text
        assert unlabelled_fields(driver) == []
        assert foreign_resources(driver, url) == []
        driver.find_element(By.ID, "f-DG-04-numerator").send_keys("700")
        driver.find_element(By.ID, "f-DG-04-denominator").send_keys("600")
        submit(driver)

    await browser.run(enter_with_a_mistake)

    def see_the_reason_and_correct() -> None:
        numerator = driver.find_element(By.ID, "f-DG-04-numerator")
        assert numerator.get_attribute("aria-invalid") == "true"
        errors = driver.find_element(By.ID, "f-DG-04-loi").text
        assert "tử số 700 lớn hơn mẫu số 600" in errors  # the contract's reason, in Vietnamese
        assert numerator.get_attribute("value") == "700"  # what was typed is kept
        browser.screenshot("03-loi-ngay-ben-canh")
        numerator.clear()
        numerator.send_keys("628")
        denominator = driver.find_element(By.ID, "f-DG-04-denominator")
        denominator.clear()
        denominator.send_keys("1000")
        driver.find_element(By.ID, "f-DG-04-explanation").send_keys(
            "Một số thủ tục chưa có biểu mẫu điện tử; đã đề nghị Sở bổ sung trong quý tới."
        )
        denominator.send_keys(Keys.ENTER)  # sent from the keyboard: Enter in a field submits the form
        wait_replaced(driver, denominator)

    await browser.run(see_the_reason_and_correct)

    def see_what_was_stored() -> str:
        text = page_text(driver)
        assert "Đã lưu 1 báo cáo" in text
        assert "628/1.000 (62,8%)" in text
        assert "đã đề nghị Sở bổ sung" in text
        browser.screenshot("04-da-luu")
        return text

    await browser.run(see_what_was_stored)
    await entry.pipeline.wait_drained()
    rows = await entry.pipeline.fetch(
        "SELECT indicator, numerator, denominator, source FROM reports WHERE unit = $1", UNIT
    )
    assert [(r["indicator"], r["numerator"], r["denominator"], r["source"]) for r in rows] == [
        ("DG-04", 628, 1000, "trang nhập liệu")
    ]

    def reload_stores_nothing_twice() -> None:
        driver.refresh()  # resends the same POST: same event ids and content
        assert "Đã lưu 1 báo cáo" in page_text(driver)

    await browser.run(reload_stores_nothing_twice)
    await entry.pipeline.wait_drained()
    assert await entry.pipeline.fetchval("SELECT count(*) FROM reports WHERE unit = $1", UNIT) == 1

    def see_it_on_the_status_page() -> str:
        driver.get(f"{url}/nhap-lieu/tinh-hinh?unit={UNIT}&period={period}")
        cell = driver.find_element(By.CSS_SELECTOR, "td[data-indicator='DG-04']")
        year, month = period.split("-")
        assert cell.text == f"62,8% (628/1.000), tháng {int(month)}/{year}"
        assert "đã đề nghị Sở bổ sung trong quý tới" in cell.find_element(By.XPATH, "..").text  # the explanation
        browser.screenshot("05-so-lieu-da-luu")
        return session_cookie(driver)

    session = await browser.run(see_it_on_the_status_page)

    # A template downloaded from the page, filled the way a person would (openpyxl), uploaded by the browser.
    async with httpx.AsyncClient(base_url=url, cookies={"dx_phien": session}) as http:
        template = await http.get(f"/nhap-lieu/mau?unit={UNIT}&period={period}&format=xlsx")
    assert template.status_code == 200, template.text
    assert "attachment" in template.headers["content-disposition"]
    filled = tmp_path / f"mau-nhap-lieu_{UNIT}_{period}.xlsx"
    filled.write_bytes(fill(template.content, {("DG-03", "", period): {"numerator": 300, "denominator": 1000}}))

    def upload_and_see_the_dry_run() -> None:
        driver.get(f"{url}/nhap-lieu/tai-len")
        assert unlabelled_fields(driver) == []
        driver.find_element(By.ID, "file").send_keys(str(filled))
        submit(driver, "main form[enctype] button[type=submit]")
        counts = {
            td.get_attribute("data-outcome"): td.text
            for td in driver.find_elements(By.CSS_SELECTOR, "td[data-outcome]")
        }
        assert counts["new"] == "1" and counts["refused"] == "0", counts
        assert "Chưa có số liệu nào được lưu" in page_text(driver)
        browser.screenshot("06-kiem-tra-tep")

    await browser.run(upload_and_see_the_dry_run)
    await entry.pipeline.wait_drained()
    assert await entry.pipeline.fetchval("SELECT count(*) FROM reports WHERE indicator = 'DG-03'") == 0  # a dry run

    def confirm() -> None:
        submit(driver, "main form button[type=submit]")
        assert "đã lưu 1 báo cáo" in driver.find_element(By.ID, "ket-qua").text
        browser.screenshot("07-da-nhap-tep")

    await browser.run(confirm)
    await entry.pipeline.wait_drained()
    stored = await entry.pipeline.fetch(
        "SELECT numerator, denominator FROM reports WHERE unit = $1 AND indicator = 'DG-03'", UNIT
    )
    assert [(r["numerator"], r["denominator"]) for r in stored] == [(300, 1000)]

    def sign_out() -> str:
        cookie = session_cookie(driver)
        submit(driver, "header form button")
        assert "Phiên làm việc đã kết thúc" in page_text(driver)
        assert driver.get_cookie("dx_phien") is None
        driver.get(f"{url}/nhap-lieu")
        assert driver.current_url == f"{url}/nhap-lieu/dang-nhap"
        return cookie

    old_session = await browser.run(sign_out)
    async with httpx.AsyncClient(base_url=url, cookies={"dx_phien": old_session}) as http:
        after = await http.get(f"/nhap-lieu/bao-cao?unit={UNIT}&period={period}")
    assert after.status_code == 303 and "/nhap-lieu/dang-nhap" in after.headers["location"]  # ended server-side


async def test_the_form_on_a_phone_needs_no_sideways_scrolling(entry, browser: Browser) -> None:
    _, token = await entry.pipeline.create_key(AGENCY, [UNIT])
    url, driver = entry.url, browser.driver

    def on_a_phone() -> None:
        driver.get(f"{url}/nhap-lieu/dang-nhap")
        field = driver.find_element(By.ID, "key")
        field.send_keys(token + Keys.ENTER)
        wait_replaced(driver, field)
        # A month before the 2025 deadline, where the form shows a target and its glide path (docs/nhap-lieu.png).
        driver.set_window_size(1000, 1250)
        driver.get(f"{url}/nhap-lieu/bao-cao?unit={UNIT}&period=2025-10")
        assert "đến 31/12/2025" in driver.find_element(By.ID, "chi-tieu-DG-04").text
        driver.find_element(By.ID, "f-DG-04-numerator").send_keys("700")
        driver.find_element(By.ID, "f-DG-04-denominator").send_keys("600")
        driver.find_element(By.ID, "f-DG-04-explanation").send_keys("Một số thủ tục chưa có biểu mẫu điện tử.")
        submit(driver)
        browser.screenshot("00-bieu-mau-thang-10-2025")
        driver.set_window_size(390, 844)
        driver.get(f"{url}/nhap-lieu/bao-cao?unit={UNIT}&period={last_month()}")
        viewport = driver.execute_script("return document.querySelector('meta[name=viewport]').content")
        assert "width=device-width" in viewport
        overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the page is {overflow}px wider than a phone"
        browser.screenshot("08-dien-thoai")

    await browser.run(on_a_phone)
