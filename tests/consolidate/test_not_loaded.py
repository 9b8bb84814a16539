"""Received but not loaded: a village whose ledger arrived but was refused is told what to
fix (已报送未入库), not to send it, and its households get no cascade of findings."""
from __future__ import annotations

import os

import openpyxl
import pytest

from pipelines.settings import get_settings
from pipelines.warehouse import Warehouse
from tests.conftest import run_pipeline_weeks

LEDGER = "焦东村三本账2026第47周.xlsx"
JIAODONG = "411622107201"


# (a 帮扶责任账 or 措施办法账 alone without its columns is that sheet's finding, the ledger loads:
# tests/ingest/test_clerk_headers.py; without the 计划进度账 the ledger is refused)
@pytest.mark.parametrize("sheets", [("计划进度账", "措施办法账", "帮扶责任账"), ("计划进度账",)])
def test_a_refused_ledger_is_received_not_loaded(examples_landing, sheets):
    path = examples_landing / "2026-W47" / "西华县" / "逍遥镇" / LEDGER
    arrived = path.stat().st_mtime
    wb = openpyxl.load_workbook(path)
    for name in sheets:  # the clerk's own template calls the household id 农户序号
        for row in wb[name].iter_rows(max_row=5):
            for cell in row:
                if cell.value == "户编号":
                    cell.value = "农户序号"
    wb.save(path)
    os.utime(path, (arrived, arrived))
    run_pipeline_weeks(["2026-W47"], full=True)
    wh = Warehouse(get_settings().warehouse_url)
    assert wh.scalar("SELECT status FROM core.submissions WHERE original_name = :n", {"n": LEDGER}) == "rejected"
    rs = wh.query("SELECT * FROM core.reporting_status WHERE unit_code = :u AND form = 'A'", {"u": JIAODONG}).iloc[0]
    assert bool(rs["not_loaded"]) and not bool(rs["missing"]) and not bool(rs["received"])
    f = wh.query("SELECT * FROM core.findings WHERE unit_code = :u", {"u": JIAODONG})
    assert not f["message"].str.contains("未报送").any()
    assert not f["rule"].isin(["helpers.missing", "measures.missing", "submission.missing"]).any()
    told = f[f["rule"] == "submission.not_loaded"]
    assert len(told) == 1 and "已报送未入库" in told["message"].iloc[0] and LEDGER in told["message"].iloc[0]
    # It is an echo of the refusal that says what to fix.
    refusal = f[f["finding_id"] == told["cause_id"].iloc[0]]
    assert list(refusal["rule"]) == ["file.missing_columns"] and "户编号" in refusal["message"].iloc[0]
