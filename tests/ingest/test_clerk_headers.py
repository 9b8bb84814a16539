"""Headers a clerk writes their own way (issue 23, Headers): each file built from an example,
run through the week, and what loads and which findings it gets.

The examples alone load 44 households (one held back by the example's one error), 50
measures, 37 helper pairings, the village report and the township's 9 villages."""
from __future__ import annotations

import os

import openpyxl
import pytest

from pipelines.settings import get_settings
from pipelines.warehouse import Warehouse
from tests.conftest import run_pipeline_weeks
from tests.week_run import stage_and_publish

WEEK = "2026-W47"
REPORT = "西华县逍遥镇焦东村第47周周报(改).xlsx"
LEDGER = "焦东村三本账2026第47周.xlsx"
AS_SENT = {"ledger_households": 44, "ledger_measures": 50, "ledger_helpers": 37, "village_reports": 1,
           "township_reports": 9}


def _path(landing, name):
    return next((landing / WEEK).rglob(name))


def _edit(landing, name, cells: dict[tuple[str, str], object], titles: dict[str, str] | None = None) -> None:
    """Write ``cells`` ({(sheet or '', cell): value}; '' is the active sheet) into the landed
    example ``name``, then rename its sheets (``titles``)."""
    path = _path(landing, name)
    wb = openpyxl.load_workbook(path)
    for (sheet, cell), value in cells.items():
        (wb[sheet] if sheet else wb.active)[cell] = value
    for old, new in (titles or {}).items():
        wb[old].title = new
    wb.save(path)


def _wh() -> Warehouse:
    return Warehouse(get_settings().warehouse_url)


def _findings(*rules: str):
    names = ", ".join(f"'{r}'" for r in rules)
    return _wh().query(f"SELECT file, sheet, row, \"column\", value, severity, message FROM core.findings "
                       f"WHERE rule IN ({names}) ORDER BY file, sheet, row, \"column\"")


def _loaded(summary: dict) -> dict:
    return {t: summary["loaded"][t] for t in AS_SENT}


def _village():
    return _wh().query("SELECT * FROM core.village_reports").iloc[0]


# ---- bracketed qualifiers and count units ------------------------------------------------------

@pytest.mark.parametrize("cells", [
    {("帮扶责任账", "E1"): "联系电话(手机)"},
    {("帮扶责任账", "E1"): "联系电话（手机）", ("计划进度账", "K3"): "人均纯收入（元/年）"},
    {("计划进度账", "D3"): "家庭人口数（人）", ("措施办法账", "D1"): "投入资金（元）"},
    {("帮扶责任账", "E1"): "联系电话【手机】", ("计划进度账", "K3"): "人均纯收入[元]"},
], ids=["half-width", "full-width", "count-unit", "square-brackets"])
def test_a_ledger_header_with_a_bracketed_qualifier_loads(examples_landing, cells):
    _edit(examples_landing, LEDGER, cells)
    summary = stage_and_publish(WEEK)
    assert _loaded(summary) == AS_SENT
    assert _findings("file.missing_columns", "file.unknown_columns", "column.unit_converted").empty
    wh = _wh()
    assert wh.scalar("SELECT count(*) FROM core.ledger_helpers WHERE phone_masked = '136****8848'") == 1
    assert wh.scalar("SELECT income_per_capita_yuan FROM core.ledger_households "
                     "WHERE household_id = '4116221072010002'") == 2146


def test_report_headers_with_count_units_in_brackets_load(examples_landing):
    """期初 over 贫困户数（户） (a two-row header) and 本周技能培训人次（人次）."""
    _edit(examples_landing, REPORT, {("", "D5"): "贫困户数（户）", ("", "E5"): "贫困人口数（人）",
                                      ("", "S4"): "本周技能培训人次（人次）", ("", "C4"): "驻村工作队人数(人)"})
    summary = stage_and_publish(WEEK)
    assert _loaded(summary) == AS_SENT
    assert _findings("file.missing_columns", "file.unknown_columns").empty
    v = _village()
    assert (v["hh_open"], v["pp_open"], v["training_persons"], v["work_team_size"]) == (38, 126, 15, 3)


def test_a_week_column_beside_the_figures_is_not_an_unknown_column(examples_landing):
    _edit(examples_landing, REPORT, {("", "T4"): "填报周次", ("", "T6"): "第47周"})
    summary = stage_and_publish(WEEK)
    assert _loaded(summary) == AS_SENT
    assert _findings("file.unknown_columns").empty


# ---- money units ---------------------------------------------------------------------------------

def test_money_in_yuan_is_converted_to_wan_and_the_receipt_says_so(examples_landing):
    _edit(examples_landing, REPORT, {("", "P4"): "本周到村扶贫资金（元）", ("", "P6"): 125000,
                                      ("", "Q4"): "本周发放扶贫小额信贷(元)", ("", "Q6"): "105,000"})
    run_pipeline_weeks([WEEK], full=True)
    v = _village()
    assert (v["funds_to_village_wan"], v["microcredit_wan"]) == (12.5, 10.5)
    f = _findings("column.unit_converted")
    assert f[["sheet", "row", "column", "value", "severity"]].values.tolist() == [
        ["Sheet1", 0, "本周到村扶贫资金（元）", "元", "warning"],
        ["Sheet1", 0, "本周发放扶贫小额信贷(元)", "元", "warning"]]
    assert f["message"].tolist() == ["「本周到村扶贫资金」按表头单位「元」填写，已换算为万元（除以 10000）",
                                     "「本周发放扶贫小额信贷」按表头单位「元」填写，已换算为万元（除以 10000）"]
    wh = _wh()
    # 10.5 万元 is what the township reports for 焦东村: no cross-level difference from the conversion
    assert wh.scalar("SELECT count(*) FROM core.discrepancies WHERE metric = 'microcredit_wan'") == 0
    sub = wh.query("SELECT status, n_errors FROM core.submissions WHERE original_name = :n", {"n": REPORT}).iloc[0]
    assert (sub["status"], sub["n_errors"]) == ("loaded", 0)
    receipt = next((get_settings().outbox_dir / WEEK).rglob(f"回执_*{REPORT.removesuffix('.xlsx')}*.html"))
    html = receipt.read_text(encoding="utf-8")
    assert "「本周到村扶贫资金」按表头单位「元」填写，已换算为万元" in html and "警告" in html


def test_money_in_yuan_by_the_units_line_above_the_table_is_converted(examples_landing):
    """单位：户、人、元 above the table, money headers without a unit of their own."""
    _edit(examples_landing, REPORT, {("", "A3"): "单位：户、人、元", ("", "P4"): "本周到村扶贫资金",
                                      ("", "P6"): 125000, ("", "Q4"): "本周发放扶贫小额信贷", ("", "Q6"): 105000})
    summary = stage_and_publish(WEEK)
    assert _loaded(summary) == AS_SENT
    v = _village()
    assert (v["funds_to_village_wan"], v["microcredit_wan"]) == (12.5, 10.5)
    f = _findings("column.unit_converted")
    assert f["message"].tolist() == ["「本周到村扶贫资金」按表上方所注单位「元」填写，已换算为万元（除以 10000）",
                                     "「本周发放扶贫小额信贷」按表上方所注单位「元」填写，已换算为万元（除以 10000）"]


def test_a_cell_with_the_unit_its_header_states_is_read_in_that_unit(examples_landing):
    """125000元 under 本周到村扶贫资金（元）: the header's 元, not the form's 万元, is the
    column's unit; 12.5万元 there is a unit the column does not have."""
    _edit(examples_landing, REPORT, {("", "P4"): "本周到村扶贫资金（元）", ("", "P6"): "125000元",
                                      ("", "Q4"): "本周发放扶贫小额信贷(元)", ("", "Q6"): "105000元"})
    summary = stage_and_publish(WEEK)
    assert _loaded(summary) == AS_SENT
    v = _village()
    assert (v["funds_to_village_wan"], v["microcredit_wan"]) == (12.5, 10.5)
    assert _findings("value.unit_mismatch").empty
    assert len(_findings("column.unit_converted")) == 2


def test_ledger_funds_written_in_wan_are_converted_to_yuan(examples_landing):
    path = _path(examples_landing, LEDGER)
    wb = openpyxl.load_workbook(path)
    ws = wb["措施办法账"]
    ws["D1"] = "投入资金（万元）"
    for row in range(2, ws.max_row + 1):
        if isinstance(ws.cell(row, 4).value, (int, float)):
            ws.cell(row, 4).value /= 10000
    wb.save(path)
    summary = stage_and_publish(WEEK)
    assert _loaded(summary) == AS_SENT
    funds = _wh().query("SELECT measure_funds_yuan FROM core.ledger_measures ORDER BY source_row")["measure_funds_yuan"]
    assert funds.iloc[:3].tolist() == pytest.approx([2000, 50000, 50000])
    f = _findings("column.unit_converted")
    assert f[["sheet", "column", "value", "severity"]].values.tolist() == [["措施办法账", "投入资金（万元）", "万元", "warning"]]
    assert f["message"].iloc[0] == "「投入资金」按表头单位「万元」填写，已换算为元（乘以 10000）"


# ---- traditional characters --------------------------------------------------------------------------

def test_a_ledger_and_a_report_in_traditional_characters_load(examples_landing):
    _edit(examples_landing, LEDGER,
          {("计划进度账", "A3"): "戶編號", ("计划进度账", "B3"): "戶主姓名", ("计划进度账", "J3"): "本週變動",
           ("计划进度账", "E3"): "貧困戶屬性", ("计划进度账", "A2"): "填報單位：西華縣逍遙鎮焦東村（411622107201）",
           ("措施办法账", "A1"): "戶編號", ("措施办法账", "B1"): "措施類別", ("措施办法账", "F1"): "落實狀態",
           ("帮扶责任账", "A1"): "戶編號", ("帮扶责任账", "B1"): "幫扶責任人", ("帮扶责任账", "C1"): "責任人單位",
           ("帮扶责任账", "D1"): "單位層級", ("帮扶责任账", "E1"): "聯繫電話"},
          titles={"计划进度账": "計劃進度賬", "措施办法账": "措施辦法賬", "帮扶责任账": "幫扶責任賬"})
    _edit(examples_landing, REPORT, {("", "A4"): "是否貧困村", ("", "D5"): "貧困戶數", ("", "E5"): "貧困人口數",
                                      ("", "F4"): "本週新識別", ("", "K2"): "填報週次：2026年第47週",
                                      ("", "F2"): "行政區劃代碼：411622107201", ("", "P4"): "本週到村扶貧資金（萬元）"})
    summary = stage_and_publish(WEEK)
    assert _loaded(summary) == AS_SENT
    assert _findings("file.missing_columns", "file.unknown_columns", "file.missing_sheet", "week.unreadable",
                     "unit_code.missing", "column.unit_converted").empty
    wh = _wh()
    sheets = wh.query("SELECT DISTINCT source_sheet FROM core.ledger_measures")["source_sheet"].tolist()
    assert sheets == ["措施辦法賬"]
    v = _village()
    assert (v["hh_open"], v["hh_new"], v["funds_to_village_wan"]) == (38, 1, 12.5)
    sub = wh.query("SELECT unit_code, content_week FROM core.submissions WHERE original_name = :n", {"n": REPORT})
    assert sub.values.tolist() == [["411622107201", WEEK]]


def test_traditional_total_rows_and_footers_are_not_data(examples_landing):
    """合計/總計 rows and a 審核人： footer written in traditional characters are set apart
    from the data as their simplified forms are."""
    _edit(examples_landing, LEDGER, {("计划进度账", "A51"): "合計：44戶", ("计划进度账", "D51"): 133})
    _edit(examples_landing, REPORT, {("", "A8"): "審核人：周明远"})
    town = _path(examples_landing, "逍遥镇2026年第47周扶贫周报.csv")
    town.write_bytes(town.read_bytes().decode("gb18030").replace("合计", "總計").encode("gb18030"))
    summary = stage_and_publish(WEEK)
    assert _loaded(summary) == AS_SENT
    wh = _wh()
    assert wh.scalar("SELECT count(*) FROM core.findings WHERE sheet = '计划进度账' AND row = 51") == 0
    assert wh.scalar("SELECT count(*) FROM core.township_reports WHERE is_total") == 1
    assert wh.scalar("SELECT count(*) FROM core.findings WHERE severity = 'error'") == 1  # the examples' one


# ---- a sheet missing a required column -------------------------------------------------------------

def test_a_helper_sheet_missing_a_column_leaves_the_other_sheets_loaded(examples_landing):
    _edit(examples_landing, LEDGER, {("帮扶责任账", "E1"): "联络电话"})
    summary = stage_and_publish(WEEK)
    assert _loaded(summary) == {**AS_SENT, "ledger_helpers": 0}
    assert summary["quarantined"]["ledger_helpers"] == 37  # held back as sent, not checked
    f = _findings("file.missing_columns")
    assert len(f) == 1
    r = f.iloc[0]
    assert (r["sheet"], r["row"], r["value"], r["severity"]) == ("帮扶责任账", 1, "联系电话", "error")
    assert r["message"] == ("工作表「帮扶责任账」缺少必填栏目：联系电话（表中最接近的是「联络电话」）。"
                            "表中找到的表头：户编号、帮扶责任人、责任人单位、单位层级、联络电话、结对日期。"
                            "该工作表的数据暂不入库，其他工作表照常入库；请使用统一模板补齐这些栏目后重新报送")
    sub = _wh().query("SELECT status, rows_loaded, rows_quarantined FROM core.submissions WHERE original_name = :n",
                      {"n": LEDGER}).iloc[0]
    assert (sub["status"], sub["rows_loaded"], sub["rows_quarantined"]) == ("partial", 44 + 50, 1 + 37)
    assert _findings("helpers.missing").empty
    assert _findings("helper_phone.format", "value.not_date").empty  # the sheet's cells are not checked


def test_a_ledger_whose_helper_sheet_was_not_read_gets_no_finding_per_household(examples_landing):
    """Checked with another village's ledger (which has helper rows), the ledger whose
    帮扶责任账 lacks 联系电话 gets that sheet's finding, not 没有帮扶责任人 per poor household.
    (The copy's ID numbers are the example's: its households are held back as duplicates.)"""
    path = _path(examples_landing, LEDGER)
    wb = openpyxl.load_workbook(path)
    for ws in wb:
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, str):
                    cell.value = cell.value.replace("411622107201", "411622107202").replace("焦东村", "西营村")
    wb["帮扶责任账"]["E1"] = "联络电话"
    other = path.with_name("西营村三本账2026第47周.xlsx")
    wb.save(other)
    stamp = path.stat().st_mtime
    os.utime(other, (stamp, stamp))
    summary = stage_and_publish(WEEK)
    assert summary["loaded"]["ledger_helpers"] == 37  # 焦东村's; 西营村's sheet not read: held back
    assert summary["quarantined"]["ledger_helpers"] == 37
    f = _findings("file.missing_columns")
    assert f[["file", "sheet", "row"]].values.tolist() == [[f"{WEEK}/西华县/逍遥镇/{other.name}", "帮扶责任账", 1]]
    assert _findings("helpers.missing").empty


def test_a_report_missing_a_column_names_the_headers_found_and_the_closest(examples_landing):
    _edit(examples_landing, REPORT, {("", "S4"): "技能培训人数"})
    summary = stage_and_publish(WEEK)
    assert _loaded(summary) == {**AS_SENT, "village_reports": 0}
    r = _findings("file.missing_columns").iloc[0]
    assert (r["sheet"], r["row"], r["value"]) == ("Sheet1", 0, "本周技能培训人次")
    assert "缺少必填栏目：本周技能培训人次（表中最接近的是「技能培训人数」）" in r["message"]
    assert "表中找到的表头：是否贫困村、第一书记、驻村工作队人数、期初贫困户数、期初贫困人口数、" in r["message"]
