"""End to end in a real browser: Debian chromium (headless, a phone's 390 px) against
`huizong portal` served by uvicorn. A village clerk activates the account, uploads a ledger
with an error, reads the pre-check receipt naming the row, uploads the corrected ledger
and passes; the township then sees the village's ledger as passed. Screenshots are written
to tests/artifacts/portal/ (committed)."""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES
from tests.plugins.test_review_browser import CHROMEDRIVER, CHROMIUM
from tests.portal.conftest import LEDGER, PASSWORD, TOWNSHIP, VILLAGE, fixed_ledger
from tests.served import free_port, served

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts" / "portal"

pytestmark = pytest.mark.slow


@pytest.fixture
def portal(issued, tmp_path):
    """`huizong portal` on a free port, this tree's code, the test's HUIZONG_HOME."""
    port = free_port()
    cmd = [sys.executable, "-m", "pipelines.cli", "portal", "--host", "127.0.0.1", "--port", str(port)]
    base = f"http://127.0.0.1:{port}"
    with served(cmd, f"{base}/login", tmp_path / "portal.log", dict(os.environ), cwd=REPO, what="portal"):
        yield base


@pytest.fixture
def phone(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 f"--user-data-dir={tmp_path / 'chromium'}", "--window-size=390,844", "--lang=zh-CN",
                 "--hide-scrollbars"):
        opts.add_argument(flag)
    # a desktop window is at least 500 px wide: the phone's screen is emulated
    opts.add_experimental_option("mobileEmulation", {"deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 1}})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def _fill(driver, fields: dict[str, str]) -> None:
    from selenium.webdriver.common.by import By

    for name, value in fields.items():
        box = driver.find_element(By.NAME, name)
        box.clear()
        box.send_keys(value)
    driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()


def _until(driver, selector: str, text: str) -> None:
    """Wait for the page (after a submit) whose ``selector`` shows ``text``."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 60).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, selector), text))


def _sign_in(driver, base: str, code: str, activation_code: str) -> None:
    driver.get(f"{base}/activate")
    _fill(driver, {"unit_code": code, "activation_code": activation_code, "password": PASSWORD, "password2": PASSWORD})
    _until(driver, ".notice", "密码已设置")
    _fill(driver, {"unit_code": code, "password": PASSWORD})
    _until(driver, "h1", "上传")


def _upload(driver, base: str, path: Path) -> str:
    from selenium.webdriver.common.by import By

    driver.get(f"{base}/?week=2026-W47")
    driver.find_element(By.ID, "files").send_keys(str(path))
    driver.find_element(By.CSS_SELECTOR, "form[action='/upload'] button[type=submit]").click()
    _until(driver, "h1", "预审回执")
    return driver.find_element(By.TAG_NAME, "main").text


def _shot(driver, name: str) -> None:
    """Check the page fits a phone and photograph it: into tests/artifacts/portal/ (committed)
    when the picture is missing or HUIZONG_REFRESH_ARTIFACTS=1, so a test run leaves the
    committed pictures as they are (the pages show upload times)."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")
    width = driver.execute_script("return document.documentElement.scrollWidth")
    assert width <= 390, f"{name}: the page is {width} px wide on a 390 px screen"
    target = ARTIFACTS / name
    if target.exists() and os.environ.get("HUIZONG_REFRESH_ARTIFACTS") != "1":
        target = Path(tempfile.gettempdir()) / f"huizong-portal-{name}"
    assert driver.save_screenshot(str(target)) and target.stat().st_size > 10_000


def test_a_village_clerk_corrects_a_ledger_and_the_township_sees_it_pass(portal, phone, issued, tmp_path):
    from selenium.webdriver.common.by import By

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    _sign_in(phone, portal, VILLAGE, issued[VILLAGE])
    _shot(phone, "1-home.png")

    text = _upload(phone, portal, EXAMPLES / LEDGER)
    assert "预审发现 1 条错误" in text and "计划进度账" in text and "第11行" in text and "身份证号码" in text
    _shot(phone, "2-receipt-error.png")

    corrected = tmp_path / "corrected" / LEDGER
    corrected.parent.mkdir()
    corrected.write_bytes(fixed_ledger())
    text = _upload(phone, portal, corrected)
    assert "预审通过" in text and "预审发现" not in text
    _shot(phone, "3-receipt-passed.png")

    phone.find_element(By.CSS_SELECTOR, "header button.link").click()  # 退出
    _until(phone, "h1", "登录")
    _sign_in(phone, portal, TOWNSHIP, issued[TOWNSHIP])
    phone.get(f"{portal}/overview?week=2026-W47")
    village = phone.find_element(By.ID, f"u-{VILLAGE}")
    ledger = village.find_element(By.XPATH, ".//span[contains(., '三本账')]/span[contains(@class, 'tag')]")
    assert ledger.text == "预审通过" and "o-passed" in ledger.get_attribute("class")
    _shot(phone, "4-township-overview.png")
