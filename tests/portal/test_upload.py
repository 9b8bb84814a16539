"""Upload: each file written unchanged where the weekly run reads it, and a pre-check
receipt in the weekly findings' words (sheet, row, column, value), the week in the file
against the week chosen; limits; a file for a unit the account does not cover is refused."""
from __future__ import annotations

import hashlib
import re

import pytest

from tests.conftest import EXAMPLES, warehouse_of
from tests.portal.conftest import (
    LEDGER,
    OTHER_VILLAGE,
    TOWNSHIP,
    TOWNSHIP_REPORT,
    VILLAGE,
    VILLAGE_REPORT,
    logged_in,
    upload,
)


def _receipt(client, r):
    assert r.status_code == 303 and r.headers["location"].startswith("/uploads/"), r.text
    page = client.get(r.headers["location"])
    assert page.status_code == 200
    return page.text


def test_a_ledger_with_an_error_is_written_unchanged_and_its_receipt_names_the_row(client, issued, portal_home):
    logged_in(client, issued, VILLAGE)
    text = _receipt(client, upload(client, [LEDGER]))
    assert "预审发现 1 条错误" in text
    assert "计划进度账" in text and "第11行" in text and "身份证号码" in text
    assert "Excel 已将身份证号转为科学计数法" in text  # the weekly finding's message
    assert "4.116*********e+17" in text  # masked, as in the warehouse
    written = portal_home / "landing" / "2026-W47" / "西华县" / "逍遥镇" / "焦东村" / LEDGER
    data = (EXAMPLES / LEDGER).read_bytes()
    assert written.read_bytes() == data
    wh = warehouse_of(portal_home)
    up = wh.query("SELECT * FROM portal.uploads")
    aud = wh.query("SELECT * FROM portal.audit WHERE action = 'upload'")
    wh.dispose()
    sha = hashlib.sha256(data).hexdigest()
    assert up["landing_path"].tolist() == [f"2026-W47/西华县/逍遥镇/焦东村/{LEDGER}"]
    assert up["outcome"].tolist() == ["problems"] and up["errors"].tolist() == [1]
    assert aud["sha256"].tolist() == [sha] and aud["unit_code"].tolist() == [VILLAGE]


def test_the_weekly_run_lists_exactly_the_files_the_portal_wrote(client, issued, portal_home):
    from pipelines.ingest.landing import list_week_files
    from pipelines.settings import get_settings

    logged_in(client, issued, TOWNSHIP)
    assert upload(client, [LEDGER, VILLAGE_REPORT, TOWNSHIP_REPORT]).headers["location"] == "/?week=2026-W47"
    assert upload(client, [TOWNSHIP_REPORT]).status_code == 303  # a correction under the same name: both kept
    listed = list_week_files(get_settings(), "2026-W47")
    assert sorted(listed["landing_path"]) == sorted([
        f"2026-W47/西华县/逍遥镇/焦东村/{LEDGER}", f"2026-W47/西华县/逍遥镇/焦东村/{VILLAGE_REPORT}",
        f"2026-W47/西华县/逍遥镇/{TOWNSHIP_REPORT}", "2026-W47/西华县/逍遥镇/逍遥镇2026年第47周扶贫周报(2).csv"])
    assert set(listed["group"]) == {"西华县"}
    page = client.get("/?week=2026-W47").text
    assert page.count("预审通过") == 3 and "预审发现错误" in page


def test_a_village_report_passes_and_the_week_in_the_file_is_checked_against_the_week_chosen(client, issued):
    logged_in(client, issued, VILLAGE)
    passed = _receipt(client, upload(client, [VILLAGE_REPORT]))
    # W47's deadline has passed: the one finding is the weekly run's late warning
    assert "预审通过" in passed and "另有 1 条警告" in passed and 'class="sev-error"' not in passed
    assert "晚于截止时间（2026-11-23 10:00），记为迟报" in passed
    other = _receipt(client, upload(client, [VILLAGE_REPORT], week="2026-W46"))
    assert "填报周次" in other and "文件内容写明为 2026-W47 的报表，却放在 2026-W46 的文件夹中" in other


def test_a_file_of_a_unit_the_account_does_not_cover_is_refused_and_not_written(client, issued, portal_home):
    logged_in(client, issued, OTHER_VILLAGE)
    text = _receipt(client, upload(client, [LEDGER]))
    assert "未接收" in text and "焦东村（411622107201）" in text and "西营村" in text
    assert not list((portal_home / "landing").glob("2026-W47/**/*.xlsx"))
    wh = warehouse_of(portal_home)
    up = wh.query("SELECT outcome, landing_path FROM portal.uploads")
    assert up["outcome"].tolist() == ["refused"] and up["landing_path"].isna().all()
    assert wh.scalar("SELECT count(*) FROM portal.audit WHERE action = 'refuse' AND sha256 IS NOT NULL") == 1
    wh.dispose()


@pytest.fixture
def small_limits(monkeypatch):
    monkeypatch.setenv("HUIZONG_MAX_FILE_BYTES", "1000")
    monkeypatch.setenv("HUIZONG_PORTAL_MAX_FILES", "2")


def test_size_and_count_limits(small_limits, client, issued, portal_home):
    logged_in(client, issued, VILLAGE)
    text = _receipt(client, upload(client, [LEDGER]))  # the ledger is larger than 1000 bytes
    assert "文件大小超过上限" in text
    many = upload(client, [], files=[(f"{i}.csv", b"a") for i in range(3)])
    assert many.status_code == 400 and "一次最多上传 2 个文件" in many.text
    huge = upload(client, [], files=[("大.csv", b"a" * (2 * 1001 + 2**20))])  # refused before it is read
    assert huge.status_code == 413 and "上传内容过大" in huge.text
    assert not list((portal_home / "landing").glob("2026-W47/**/*.*"))


def test_the_home_page_defaults_to_the_week_being_reported_and_shows_the_deadline(client, issued):
    import datetime as dt

    from pipelines.weeks import reporting_week

    logged_in(client, issued, VILLAGE)
    page = client.get("/").text
    week = reporting_week(dt.datetime.now(dt.timezone.utc))
    assert f"上传 {week} 的报表" in page and "截止时间" in page
    assert re.search(rf'<option value="{week}" selected>', page)


def test_the_weekly_run_loads_the_portals_files_and_finds_what_the_receipt_said(client, issued, portal_home):
    from tests.week_run import stage_and_publish

    logged_in(client, issued, TOWNSHIP)
    upload(client, [LEDGER, VILLAGE_REPORT, TOWNSHIP_REPORT])
    stage_and_publish("2026-W47")
    wh = warehouse_of(portal_home)
    subs = wh.query("SELECT landing_path, sha256 FROM core.submissions WHERE week = '2026-W47'")
    portal = wh.query("SELECT landing_path, sha256 FROM portal.uploads")
    weekly = wh.query("SELECT f.sheet, f.\"row\", f.\"column\", f.value, f.rule, f.message FROM core.findings f "
                      "WHERE f.week = '2026-W47' AND f.severity = 'error'")
    receipt = wh.query("SELECT sheet, \"row\", \"column\", value, rule, message FROM portal.upload_findings "
                       "WHERE severity = 'error'")
    wh.dispose()
    assert sorted(map(tuple, subs.to_numpy())) == sorted(map(tuple, portal.to_numpy()))
    assert weekly.to_dict("records") == receipt.to_dict("records") != []
