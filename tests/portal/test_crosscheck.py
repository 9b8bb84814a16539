"""The pre-check's cross-check on what has arrived: a village report against the village's
own ledger uploaded for the same week, in the weekly discrepancy's words."""
from __future__ import annotations

import io

import openpyxl

from tests.conftest import EXAMPLES, warehouse_of
from tests.portal.conftest import LEDGER, VILLAGE, VILLAGE_REPORT, logged_in, upload


def _report_with_one_more_new_household() -> bytes:
    """The example village report claiming 2 newly identified households (its ledger has 1),
    期末 raised to match so the report balances by itself."""
    wb = openpyxl.load_workbook(EXAMPLES / VILLAGE_REPORT)
    ws = wb.active
    assert (ws["F6"].value, ws["N6"].value) == (1, 37)
    ws["F6"], ws["N6"] = 2, 38
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _vs_ledger(portal_home) -> list[str]:
    wh = warehouse_of(portal_home)
    try:
        return wh.query("SELECT message FROM portal.upload_findings WHERE rule = 'xlevel.village_vs_ledger' "
                        "ORDER BY message")["message"].tolist()
    finally:
        wh.dispose()


def test_a_village_report_is_checked_against_the_ledger_uploaded_before_it(client, issued, portal_home):
    from pipelines.consolidate import consolidate
    from tests.week_run import stage_and_publish

    logged_in(client, issued, VILLAGE)
    report = [(VILLAGE_REPORT, _report_with_one_more_new_household())]
    upload(client, [], files=report)
    assert _vs_ledger(portal_home) == []  # no ledger yet: nothing to compare with
    upload(client, [LEDGER])
    r = upload(client, [], files=report)
    text = client.get(r.headers["location"]).text
    assert "预审发现 2 条错误" in text and "第6行" in text and "相差 +1（虚报）" in text
    found = _vs_ledger(portal_home)
    assert len(found) == 2 and all("「焦东村」" in m and "下级数据支持的数为" in m for m in found)
    # the weekly run on the same files says the same
    stage_and_publish("2026-W47")
    consolidate("2026-W47")
    wh = warehouse_of(portal_home)
    weekly = wh.query("SELECT message FROM core.findings WHERE week = '2026-W47' AND rule = 'xlevel.village_vs_ledger' "
                      "ORDER BY message")["message"].tolist()
    wh.dispose()
    assert weekly == found


def test_an_unchanged_report_agrees_with_its_ledger(client, issued, portal_home):
    logged_in(client, issued, VILLAGE)
    upload(client, [LEDGER])
    text = client.get(upload(client, [VILLAGE_REPORT]).headers["location"]).text
    assert "预审通过" in text and _vs_ledger(portal_home) == []
