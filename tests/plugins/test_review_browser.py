"""End to end in a real browser: Debian chromium (headless) against a real `airflow api-server`.

A steward logs in through Airflow's own login page, opens 数据审核, finds this week's open
errors for one county, reads one with its source row, waives it with a reason, sees it
leave the open list, asks for the week to be run again, searches and sorts the list, opens
a unit's forms and receipts, waives the open list in bulk, undoes a waiver and exports. Screenshots go to
tests/artifacts/ (git-ignored).
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from pipelines.review import lifecycle
from tests.review.weeks import WEEK, run_week, warehouse
from tests.served import free_port, served

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
USER, PASSWORD = "steward", "Zhoukou-steward-2026"

# `make test` installs chromium and chromium-driver first (make sysdeps): a missing browser
# is a broken set-up and fails the test rather than skipping it.
pytestmark = pytest.mark.slow


@pytest.fixture
def api_server(examples_landing, airflow_db, tmp_path):
    """`airflow api-server` on a free port, the plugin folder configured, one admin user."""
    run_week()
    port = free_port()
    passwords = tmp_path / "passwords.json"
    passwords.write_text(json.dumps({USER: PASSWORD}))
    env = {
        **os.environ,
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__API_AUTH__JWT_SECRET": "huizong-browser-test-secret-0123456789abcdef0123456789abcdef",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API__SECRET_KEY": "huizong-browser-test",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    cmd = [sys.executable, "-m", "airflow", "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    base = f"http://127.0.0.1:{port}"
    with served(cmd, f"{base}/api/v2/monitor/health", tmp_path / "api-server.log", env, what="api-server"):
        yield base


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="huizong-chromium-", dir=tmp_path)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                 "--window-size=1400,1000", "--lang=zh-CN"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def test_steward_waives_an_error_from_the_airflow_ui(api_server, browser, parsed_dags):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 60)
    wh = warehouse()
    fid = wh.query("SELECT finding_id FROM core.findings WHERE rule = 'id_number.scientific'")["finding_id"].iat[0]
    wh.dispose()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    # Not logged in: the plugin refuses its API and sends pages to Airflow's login.
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{api_server}/huizong/api/findings?week={WEEK}", timeout=10)
    assert e.value.code == 401
    open_list = f"/huizong/findings?week={WEEK}&county=411622&severity=error&status=open"
    browser.get(api_server + open_list)
    wait.until(EC.presence_of_element_located((By.NAME, "username")))
    assert "/auth/login" in browser.current_url

    # Log in through Airflow's own login page; it brings us back to the review page.
    browser.find_element(By.NAME, "username").send_keys(USER)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(EC.presence_of_element_located((By.ID, "findings")))
    assert "/huizong/findings" in browser.current_url
    assert browser.find_element(By.ID, "shown-count").text == "1"
    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-finding="{fid}"]')
    assert "待处理" in row.text and "身份证号码" in row.text and "科学计数法" in row.text
    browser.save_screenshot(str(ARTIFACTS / "review_01_open_errors.png"))

    # The finding's detail: message in Chinese, the source row as submitted, history.
    row.find_element(By.LINK_TEXT, "详情与处理").click()
    wait.until(EC.presence_of_element_located((By.ID, "source-row")))
    assert "4116221072010008" in browser.find_element(By.ID, "source-row").text
    assert "隔离区" in browser.find_element(By.ID, "source-row").text

    # Waive with a reason.
    browser.find_element(By.CSS_SELECTOR, "#waive-form textarea[name=reason]").send_keys("经乡镇电话核实，户主身份信息无误，同意入库")
    browser.find_element(By.ID, "waive-button").click()
    wait.until(EC.presence_of_element_located((By.ID, "notice")))
    assert browser.find_element(By.ID, "status").text == "已豁免"
    history = browser.find_element(By.ID, "history").text
    assert "豁免" in history and USER in history and "同意入库" in history
    shot = ARTIFACTS / "review_waive.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000

    # Gone from the open list; recorded in the warehouse.
    browser.get(api_server + open_list)
    wait.until(EC.presence_of_element_located((By.ID, "findings")))
    assert browser.find_element(By.ID, "shown-count").text == "0"
    assert not browser.find_elements(By.CSS_SELECTOR, f'tr[data-finding="{fid}"]')
    assert lifecycle.status_of(fid) == "waived"
    assert list(lifecycle.history(fid)["by"]) == ["system", USER]

    # Then runs the week again so that the waiver counts: the run is queued in Airflow (this
    # api-server has no scheduler, and the DAG is paused as deployed: the page says so).
    browser.find_element(By.ID, "rerun-button").click()
    wait.until(EC.presence_of_element_located((By.ID, "rerun-notice")))
    notice = browser.find_element(By.ID, "rerun-notice").text
    assert "已提交重新汇总" in notice and WEEK in notice and "排队中" in notice and "暂停" in notice, notice
    assert browser.find_element(By.ID, "findings")  # still the week's list, under the notice
    browser.save_screenshot(str(ARTIFACTS / "review_02_rerun.png"))
    from airflow.models.dagrun import DagRun

    runs = [r for r in DagRun.find(dag_id="weekly_ingest")
            if (r.conf or {}).get("week") == WEEK and r.run_id not in parsed_dags]  # not other tests' runs
    assert [(r.triggering_user_name, r.run_id in notice) for r in runs] == [(USER, True)]

    # Search by unit code, sort by a column, open the unit's forms and receipts (the week
    # consolidated, as the run does: who reported what).
    from pipelines.consolidate import consolidate

    consolidate(WEEK)
    browser.get(api_server + f"/huizong/findings?week={WEEK}")
    wait.until(EC.presence_of_element_located((By.ID, "overview")))
    assert "全市合计" in browser.find_element(By.ID, "overview").text
    box = browser.find_element(By.ID, "search")
    box.send_keys("411622107201")
    box.submit()
    wait.until(EC.url_contains("q=411622107201"))
    rows = browser.find_elements(By.CSS_SELECTOR, "#findings tbody tr[data-finding]")
    assert rows and int(browser.find_element(By.ID, "shown-count").text) == len(rows)
    assert all("411622107201" in r.text for r in rows)
    browser.save_screenshot(str(ARTIFACTS / "review_04_search.png"))
    browser.find_element(By.CSS_SELECTOR, 'th a[data-sort="rule"]').click()
    wait.until(EC.url_contains("sort=rule"))
    assert "q=411622107201" in browser.current_url and "▲" in browser.find_element(By.ID, "findings").text
    browser.find_element(By.CSS_SELECTOR, "#findings tbody td.c-unit a").click()
    wait.until(EC.presence_of_element_located((By.ID, "owed")))
    assert "三本账（表A）" in browser.find_element(By.ID, "owed").text and browser.find_element(By.ID, "print-button")
    assert browser.find_elements(By.CSS_SELECTOR, "section.receipt")
    browser.save_screenshot(str(ARTIFACTS / "review_05_unit_receipts.png"))

    # Waive the open list of the week in bulk, with one reason; then undo the single waiver.
    browser.get(api_server + f"/huizong/findings?week={WEEK}&status=open")
    wait.until(EC.presence_of_element_located((By.ID, "bulk-form")))
    n_open = int(browser.find_element(By.ID, "shown-count").text)
    assert n_open >= 1
    browser.find_element(By.CSS_SELECTOR, "#findings thead input[type=checkbox]").click()
    browser.find_element(By.ID, "bulk-reason").send_keys("经县扶贫办逐户核实，同意入库")
    browser.find_element(By.ID, "bulk-button").click()
    wait.until(EC.presence_of_element_located((By.ID, "bulk-notice")))
    assert f"已对 {n_open} 个问题执行「豁免」" in browser.find_element(By.ID, "bulk-notice").text
    assert browser.find_element(By.ID, "shown-count").text == "0"
    browser.save_screenshot(str(ARTIFACTS / "review_06_bulk_waived.png"))
    browser.get(api_server + f"/huizong/findings/{fid}")
    browser.find_element(By.ID, "unwaive-button").click()
    wait.until(EC.presence_of_element_located((By.ID, "notice")))
    assert browser.find_element(By.ID, "status").text == "待处理" and lifecycle.status_of(fid) == "open"
    assert "撤销豁免" in browser.find_element(By.ID, "history").text

    # The export link hands over the filtered list as xlsx.
    browser.get(api_server + f"/huizong/findings?week={WEEK}&status=waived")
    href = browser.find_element(By.ID, "export-link").get_attribute("href")
    req = urllib.request.Request(href, headers={"Cookie": f"_token={browser.get_cookie('_token')['value']}"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert "spreadsheetml" in resp.headers["Content-Type"] and resp.read(2) == b"PK"

    # At 390 px the list comes first: overview and facets folded; unit, severity and message shown.
    browser.set_window_size(390, 844)
    browser.get(api_server + f"/huizong/findings?week={WEEK}")
    wait.until(EC.presence_of_element_located((By.ID, "findings")))
    assert browser.find_element(By.ID, "facets").get_attribute("open") is None
    assert browser.find_element(By.ID, "overview").get_attribute("open") is None
    cell = {c: browser.find_element(By.CSS_SELECTOR, f"#findings tbody td.c-{c}") for c in
            ("unit", "severity", "message", "file")}
    assert all(cell[c].is_displayed() for c in ("unit", "severity", "message")) and not cell["file"].is_displayed()
    assert cell["message"].rect["x"] + cell["message"].rect["width"] <= 390 + 1
    browser.save_screenshot(str(ARTIFACTS / "review_07_narrow.png"))
    browser.set_window_size(1400, 1000)

    # The nav entry is registered with Airflow's UI and opens the app inside it.
    browser.get(api_server + "/plugin/huizong-review")
    time.sleep(3)
    browser.save_screenshot(str(ARTIFACTS / "review_03_in_airflow_nav.png"))


def test_links_leave_airflows_sandboxed_menu_frame(api_server, browser, parsed_dags):
    """In Airflow's menu the app is a frame sandboxed without top navigation or popups: 返回
    Airflow still opens Airflow at the top level, 在 Airflow 中查看该运行 a new tab."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 60)
    browser.get(api_server + "/huizong/findings")
    wait.until(EC.presence_of_element_located((By.NAME, "username")))
    browser.find_element(By.NAME, "username").send_keys(USER)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(EC.presence_of_element_located((By.ID, "findings")))

    browser.get(api_server + "/plugin/huizong-review")
    frame = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "iframe[src*='/huizong/findings']")))
    sandbox = frame.get_attribute("sandbox").split()
    assert "allow-same-origin" in sandbox and not {"allow-top-navigation", "allow-popups"} & set(sandbox)
    browser.switch_to.frame(frame)
    wait.until(EC.element_to_be_clickable((By.ID, "rerun-button"))).click()  # forms are allowed
    wait.until(EC.element_to_be_clickable((By.ID, "airflow-run-link"))).click()
    wait.until(lambda b: len(b.window_handles) == 2)
    first = browser.current_window_handle
    browser.switch_to.window([h for h in browser.window_handles if h != first][0])
    wait.until(lambda b: "/dags/weekly_ingest/runs/" in b.current_url)
    browser.close()
    browser.switch_to.window(first)
    browser.switch_to.frame(browser.find_element(By.CSS_SELECTOR, "iframe[src*='/huizong/']"))
    browser.find_element(By.ID, "airflow-link").click()
    browser.switch_to.default_content()
    wait.until(lambda b: b.current_url.rstrip("/") == api_server)
    assert not browser.find_elements(By.CSS_SELECTOR, "iframe[src*='/huizong/']")
