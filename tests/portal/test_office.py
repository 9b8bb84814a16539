"""After the weekly run, a unit's page shows the office's word on its files of the week:
the weekly receipt (the outbox's, from pipelines.review.receipts) and a finding a steward
sent back (pipelines.review.commands) with the steward's reason; another unit sees neither."""
from __future__ import annotations

import re

import pytest

from tests.conftest import warehouse_of
from tests.portal.conftest import (
    LEDGER,
    OTHER_VILLAGE,
    TOWNSHIP,
    TOWNSHIP_REPORT,
    VILLAGE,
    VILLAGE_REPORT,
    fixed_ledger,
    logged_in,
    upload,
)

REASON = "身份证号被改成科学计数法，请按户籍核对后重新上传"


@pytest.fixture
def sent_back(client, issued, portal_home):
    """W47 uploaded through the portal by 逍遥镇, run, and 焦东村's ledger error sent back."""
    from pipelines.cli import main
    from tests.week_run import stage_and_publish

    logged_in(client, issued, TOWNSHIP)
    upload(client, [LEDGER, VILLAGE_REPORT, TOWNSHIP_REPORT])
    stage_and_publish("2026-W47")
    wh = warehouse_of(portal_home)
    fid = wh.scalar("SELECT finding_id FROM core.findings WHERE week = '2026-W47' AND unit_code = :u "
                    "AND severity = 'error' AND sheet = '计划进度账'", {"u": VILLAGE})
    wh.dispose()
    assert main(["send-back", fid, "--by", "王审核", "--reason", REASON]) == 0
    client.cookies.clear()
    return fid


def test_the_village_sees_its_weekly_receipts_and_the_send_back_with_the_reason(sent_back, client, issued):
    logged_in(client, issued, VILLAGE)
    page = client.get("/?week=2026-W47").text
    task = re.search(r'<div class="box" id="sent-back">(.*?)</div>\s*</div>\s*<div', page, re.S).group(1)
    assert "退回更正" in task and REASON in task and "王审核" in task and "第11行" in task and "计划进度账" in task
    assert "已重新上传" not in task
    weekly = page[page.index('id="weekly"'):]
    assert LEDGER in weekly and VILLAGE_REPORT in weekly and TOWNSHIP_REPORT not in weekly
    assert "该文件部分入库" in weekly and "已退回" in weekly
    link = re.search(r'href="(/weekly/2026-W47/[^"]+)">' + re.escape(LEDGER), weekly).group(1)
    official = client.get(link)
    assert official.status_code == 200 and "周口市扶贫周报报送回执" in official.text and "2026-W47" in official.text and LEDGER in official.text
    upload(client, [], files=[(LEDGER, fixed_ledger())])  # the re-upload answers the send-back
    assert "已重新上传" in client.get("/?week=2026-W47").text


def test_another_village_sees_neither(sent_back, client, issued):
    logged_in(client, issued, VILLAGE)
    link = re.search(r'href="(/weekly/2026-W47/[^"]+)"', client.get("/?week=2026-W47").text).group(1)
    client.cookies.clear()
    logged_in(client, issued, OTHER_VILLAGE)
    page = client.get("/?week=2026-W47").text
    assert REASON not in page and "退回更正" not in page and 'id="weekly"' not in page and LEDGER not in page
    assert client.get(link).status_code == 404
