"""One counting rule for a ledger's 期初/期末 (docs/counting.md), and unreadable report
cells counted as unknown, on the shared examples as a village might send them."""
from __future__ import annotations

import os

import openpyxl

from pipelines.settings import get_settings
from pipelines.warehouse import Warehouse
from tests.conftest import run_pipeline_weeks

LEDGER = "焦东村三本账2026第47周.xlsx"
REPORT = "西华县逍遥镇焦东村第47周周报(改).xlsx"
JIAODONG = "411622107201"


def _edit(path, sheet: str, cell: str, before, after) -> None:
    arrived = path.stat().st_mtime
    wb = openpyxl.load_workbook(path)
    ws = wb[sheet] if sheet else wb.active
    assert ws[cell].value == before
    ws[cell] = after
    wb.save(path)
    os.utime(path, (arrived, arrived))


def test_a_poor_household_marked_exited_is_counted_once(examples_landing):
    folder = examples_landing / "2026-W47" / "西华县" / "逍遥镇"
    # 郭春生's row: 当前状态 贫困, 本周变动 无 → 脱贫 (a contradiction the clerk typed).
    _edit(folder / LEDGER, "计划进度账", "J4", "无", "脱贫")
    run_pipeline_weeks(["2026-W47"])
    wh = Warehouse(get_settings().warehouse_url)
    f = wh.query("SELECT * FROM core.findings WHERE week = '2026-W47'")
    assert len(f[(f["rule"] == "week_change.state") & (f["row"] == 4)]) == 1
    s = wh.query("SELECT * FROM core.ledger_summary WHERE unit_code = :u", {"u": JIAODONG}).iloc[0]
    # As the village's own report says: 期初 38, 脱贫 2, 期末 37 (once, by its state).
    assert (int(s["hh_open"]), int(s["hh_exit"]), int(s["hh_close"])) == (38, 2, 37)
    assert not f["rule"].str.startswith("xlevel.").any(), f[["rule", "message"]].to_string()


def test_an_unreadable_opening_figure_is_unknown_not_zero(examples_landing):
    folder = examples_landing / "2026-W47" / "西华县" / "逍遥镇"
    _edit(folder / REPORT, "", "D6", 38, "约38")
    run_pipeline_weeks(["2026-W47"])
    wh = Warehouse(get_settings().warehouse_url)
    f = wh.query("SELECT * FROM core.findings WHERE week = '2026-W47'")
    assert not f["message"].str.contains("应为 -1").any()
    skipped = f[f["rule"] == "xlevel.balance_unreadable"]
    assert len(skipped) == 1 and skipped["unit_code"].iloc[0] == JIAODONG
    assert skipped["column"].iloc[0] == "期初贫困户数" and "未核对" in skipped["message"].iloc[0]
