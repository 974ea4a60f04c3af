"""Fixtures for the data-entry page's tests in a real headless Chromium (Debian's ``chromium`` and
``chromium-driver``, driven by Selenium), against the real pipeline: ingest, the aggregator and the
entry service on real NATS and PostgreSQL.

Selenium blocks, and the servers run in the test's event loop: every browser step runs in a thread
(``Browser.run``), so the servers keep answering. Screenshots go to ``tests/artifacts/browser/``
(gitignored; CI keeps the directory as the run's artifacts).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.ui import WebDriverWait

from dxmon.contracts import LOCAL_TZ
from tests.integration.entry.conftest import entry  # noqa: F401 - the entry service beside the pipeline

UNIT = "QN-P-HONGGAI"
AGENCY = "UBND phường Hồng Gai"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "browser"
T = TypeVar("T")


def _chromium() -> tuple[str, str]:
    """_chromium finds the browser and its driver; without them the tests skip here and fail in CI."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if browser and driver:
        return browser, driver
    why = (
        "Chromium or chromedriver missing: apt-get install chromium chromium-driver "
        "(scripts/bootstrap.sh does it as root)"
    )
    if os.environ.get("CI"):
        pytest.fail(why)
    pytest.skip(why)


def wait_replaced(driver: webdriver.Chrome, element: WebElement, timeout: float = 30) -> None:
    """wait_replaced waits until the browser has loaded the next page (``element`` of the old one is gone).

    While Chromium swaps documents, asking about the old element can fail with an inspector error ("Node
    with given id does not belong to the document") instead of a stale reference: that is retried too.
    """
    WebDriverWait(driver, timeout, ignored_exceptions=(WebDriverException,)).until(staleness_of(element))


def last_month() -> str:
    """last_month is the month before today's (Asia/Ho_Chi_Minh) as the month field sends it: YYYY-MM."""
    today = datetime.now(LOCAL_TZ).date()
    year, month = (today.year - 1, 12) if today.month == 1 else (today.year, today.month - 1)
    return f"{year:04d}-{month:02d}"


@dataclass
class Browser:
    """Browser is one headless Chromium; ``run`` calls a blocking Selenium step without stopping the servers."""

    driver: webdriver.Chrome

    async def run(self, step: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(step, *args)

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path


@pytest.fixture(scope="session")
def chromium() -> Iterator[webdriver.Chrome]:
    binary, driver_path = _chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
        "--lang=vi-VN",
        "--disable-gpu",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture
def browser(chromium: webdriver.Chrome) -> Iterator[Browser]:
    """browser: the session's Chromium with no cookies and a desktop window, for one test."""
    chromium.delete_all_cookies()
    chromium.set_window_size(1280, 1000)
    yield Browser(chromium)
    chromium.delete_all_cookies()
