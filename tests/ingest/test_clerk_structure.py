"""Files a clerk structures their own way (issue 23, Structure): each built from an example
file, run through the week, and what loads and which findings it gets."""
from __future__ import annotations

import openpyxl
import pytest

from pipelines.settings import get_settings
from pipelines.warehouse import Warehouse
from tests.week_run import stage_and_publish

WEEK = "2026-W47"
REPORT = "西华县逍遥镇焦东村第47周周报(改).xlsx"
TOWNSHIP = "逍遥镇2026年第47周扶贫周报.csv"
LEDGER = "焦东村三本账2026第47周.xlsx"


def _path(landing, name):
    return next((landing / WEEK).rglob(name))


def _findings(rule: str):
    wh = Warehouse(get_settings().warehouse_url)
    return wh.query(f"SELECT file, sheet, row, \"column\", value, severity, message FROM core.findings "
                    f"WHERE rule = '{rule}' ORDER BY file, row")


def _village_rows():
    wh = Warehouse(get_settings().warehouse_url)
    return wh.query("SELECT source_sheet, source_row, hh_open, hh_close FROM core.village_reports")


def _copy_row_below(ws, row: int) -> None:
    """Insert a copy of ``row`` right under it (last week's row left in place)."""
    ws.insert_rows(row + 1)
    for c in range(1, ws.max_column + 1):
        ws.cell(row + 1, c, ws.cell(row, c).value)


# ---- Form B with more than one data row --------------------------------------------------

def test_a_village_report_with_last_weeks_row_under_it_reads_the_row_of_its_week(examples_landing):
    """A 填报周次 column tells the rows apart: the week's row (here the second) is read,
    the other is not, and a warning names both rows and the one read."""
    path = _path(examples_landing, REPORT)
    wb = openpyxl.load_workbook(path)
    ws = wb.active
    _copy_row_below(ws, 6)
    ws["N6"], ws["D7"] = 39, 39          # row 6: last week's figures (期末 39); row 7: this week's (期初 39)
    ws["D6"], ws["N7"] = 40, 38
    ws["T4"], ws["T6"], ws["T7"] = "填报周次", "第46周", "第47周"
    wb.save(path)
    summary = stage_and_publish(WEEK)
    assert summary["loaded"]["village_reports"] == 1
    rows = _village_rows()
    assert rows[["source_sheet", "source_row", "hh_open", "hh_close"]].values.tolist() == [["Sheet1", 7, 39, 38]]
    f = _findings("report.extra_rows")
    assert len(f) == 1
    r = f.iloc[0]
    assert (r["sheet"], r["row"], r["column"], r["value"], r["severity"]) == ("Sheet1", 7, "填报周次", "第6行、第7行", "warning")
    assert "已读取2026年第47周的第7行" in r["message"] and "第6行未读取" in r["message"]


def test_a_village_report_with_two_rows_and_no_week_reads_the_first_and_says_so(examples_landing):
    path = _path(examples_landing, REPORT)
    wb = openpyxl.load_workbook(path)
    ws = wb.active
    _copy_row_below(ws, 6)
    ws["D7"], ws["N7"] = 40, 38
    wb.save(path)
    summary = stage_and_publish(WEEK)
    assert summary["loaded"]["village_reports"] == 1
    assert _village_rows()[["source_row", "hh_open", "hh_close"]].values.tolist() == [[6, 38, 37]]
    f = _findings("report.extra_rows")
    assert len(f) == 1
    r = f.iloc[0]
    assert (r["sheet"], r["row"], r["column"], r["value"]) == ("Sheet1", 6, "", "第6行、第7行")
    assert "已读取第一行（第6行）" in r["message"] and "第7行未读取" in r["message"]


# ---- a workbook with one sheet per week -----------------------------------------------------

def _weekly_sheets(path, weeks: list[int]) -> None:
    """The report kept one sheet per week: 第45周 … (the last sheet is the example's own)."""
    wb = openpyxl.load_workbook(path)
    own = wb.active
    for w in weeks[:-1]:
        ws = wb.copy_worksheet(own)
        ws.title = f"第{w}周"
        ws["K2"] = f"填报周次：2026年第{w}周"
        ws["D6"] = 30 + w - 45  # another week's figures
    own.title = f"第{weeks[-1]}周"
    own["K2"] = f"填报周次：2026年第{weeks[-1]}周"
    wb.move_sheet(own.title, offset=len(weeks) - 1)
    wb.save(path)


def test_a_workbook_with_one_sheet_per_week_reads_the_sheet_of_the_folders_week(examples_landing):
    path = _path(examples_landing, REPORT)
    _weekly_sheets(path, [45, 46, 47])
    assert openpyxl.load_workbook(path).sheetnames == ["第45周", "第46周", "第47周"]
    summary = stage_and_publish(WEEK)
    assert summary["loaded"]["village_reports"] == 1
    assert _village_rows()[["source_sheet", "source_row", "hh_open"]].values.tolist() == [["第47周", 6, 38]]
    assert _findings("week.mismatch").empty and _findings("file.week_sheet_missing").empty


def test_a_workbook_of_weekly_sheets_without_the_folders_week_is_a_finding(examples_landing):
    """Sheets 第44周 … 第46周 in the W47 folder: the latest (第46周) is read, a warning says the
    folder's week has no sheet, and the file is the week mismatch it is (not loaded as W47)."""
    path = _path(examples_landing, REPORT)
    _weekly_sheets(path, [44, 45, 46])
    summary = stage_and_publish(WEEK)
    assert summary["loaded"]["village_reports"] == 0
    f = _findings("file.week_sheet_missing")
    assert len(f) == 1
    r = f.iloc[0]
    assert (r["sheet"], r["row"], r["value"], r["severity"]) == ("第46周", 0, "第44周、第45周、第46周", "warning")
    assert "没有所在文件夹周次（2026年第47周）的工作表" in r["message"]
    m = _findings("week.mismatch")
    assert len(m) == 1 and m["value"].iloc[0] == "2026-W46" and m["file"].iloc[0].endswith(REPORT)


# ---- a week without a year ---------------------------------------------------------------------

@pytest.mark.parametrize("written", ["第47周", "47周", "第４７周"])
def test_a_week_without_its_year_takes_the_folders_year(examples_landing, written):
    path = _path(examples_landing, REPORT)
    wb = openpyxl.load_workbook(path)
    wb.active["K2"] = f"填报周次：{written}"
    wb.save(path)
    summary = stage_and_publish(WEEK)
    assert summary["loaded"]["village_reports"] == 1
    assert _findings("week.unreadable").empty and _findings("week.mismatch").empty


def test_a_week_without_its_year_that_contradicts_the_folder_is_a_week_mismatch(examples_landing):
    path = _path(examples_landing, REPORT)
    wb = openpyxl.load_workbook(path)
    wb.active["K2"] = "填报周次：第46周"
    wb.save(path)
    summary = stage_and_publish(WEEK)
    assert summary["loaded"]["village_reports"] == 0
    assert summary["loaded"]["township_reports"] == 9 and summary["loaded"]["ledger_households"] == 44
    m = _findings("week.mismatch")
    assert len(m) == 1
    r = m.iloc[0]
    assert r["file"].endswith(REPORT) and (r["column"], r["value"], r["severity"]) == ("填报周次", "2026-W46", "error")
    assert _findings("week.unreadable").empty


# ---- delimiters ----------------------------------------------------------------------------------

def _resave_township(landing, sep: str) -> None:
    """The township report saved with ``sep`` between cells (as Excel does in locales
    where the comma is the decimal mark, or a tab-separated export)."""
    path = _path(landing, TOWNSHIP)
    text = path.read_bytes().decode("gbk")
    path.write_bytes(text.replace(",", sep).encode("gbk"))


@pytest.mark.parametrize("sep", [";", "\t", "|"], ids=["semicolon", "tab", "bar"])
def test_a_township_report_separated_by_another_delimiter_loads(examples_landing, sep):
    _resave_township(examples_landing, sep)
    summary = stage_and_publish(WEEK)
    assert summary["loaded"]["township_reports"] == 9 and summary["quarantined"]["township_reports"] == 0
    wh = Warehouse(get_settings().warehouse_url)
    rows = wh.query("SELECT village_code, hh_close, microcredit_wan FROM core.township_reports "
                    "WHERE NOT is_total ORDER BY village_code")
    assert rows["village_code"].iloc[0] == "411622107201" and int(rows["hh_close"].sum()) == 224
    assert float(rows["microcredit_wan"].sum()) == pytest.approx(31.0)
    assert _findings("file.not_a_form").empty


def test_a_township_report_separated_by_chinese_commas_says_what_was_seen(examples_landing):
    """Typed by hand with 「，」 between cells: one column per row. The finding says so and
    names the separator; the other files load as they do."""
    _resave_township(examples_landing, "，")
    summary = stage_and_publish(WEEK)
    assert summary["loaded"]["township_reports"] == 0
    assert summary["loaded"]["village_reports"] == 1 and summary["loaded"]["ledger_households"] == 44
    f = _findings("file.not_a_form")
    assert len(f) == 1
    r = f.iloc[0]
    assert r["file"].endswith(TOWNSHIP) and (r["sheet"], r["row"], r["severity"]) == ("", 0, "error")
    assert "文件每行只有一列，分隔符可能是中文逗号「，」（应为英文逗号「,」）" in r["message"]
    assert "第一行为「逍遥镇" in r["message"]


# ---- value rules ---------------------------------------------------------------------------------

@pytest.mark.parametrize("income", [-500, "99,999,999"], ids=["negative", "huge"])
def test_an_income_below_zero_or_above_the_bound_is_an_error_on_its_cell(examples_landing, income):
    path = _path(examples_landing, LEDGER)
    wb = openpyxl.load_workbook(path)
    wb["计划进度账"]["K40"] = income
    wb.save(path)
    summary = stage_and_publish(WEEK)
    assert summary["loaded"]["ledger_households"] == 43  # the example's one error and this row held back
    f = _findings("income.range")
    assert len(f) == 1
    r = f.iloc[0]
    assert r["file"].endswith(LEDGER) and (r["sheet"], r["row"], r["column"], r["severity"]) == (
        "计划进度账", 40, "人均纯收入(元)", "error")
    assert r["value"] == str(income) and "0–100000 元" in r["message"]
