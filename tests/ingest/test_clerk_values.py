"""Values as clerks write them (issue 23, Cells): a number with its unit after it, a
16-digit 户编号 or a code stored as a number. Each file is built from an example, the week
runs, and what loads and which findings it gets are checked."""
from __future__ import annotations

import csv
import io

import openpyxl
import pytest

from tests.ingest.test_clerk_cells import LEDGER, MEASURES, PLAN, REPORT, TOWNSHIP, WEEK, _findings, _path, _rules, _wh
from tests.week_run import stage_and_publish


# ---- numbers written with their unit -----------------------------------------------------------

def test_ledger_numbers_written_with_their_columns_unit_are_read_as_numbers(examples_landing):
    path = _path(examples_landing, LEDGER)
    wb = openpyxl.load_workbook(path)
    ws = wb[PLAN]
    ws["D4"], ws["G4"], ws["H4"], ws["K4"] = "3人", "2014年", "２０２６年", "2760元"
    ws["D5"], ws["K5"] = "4 人", "3,120.5元"
    wb[MEASURES]["D2"] = "2000元"
    wb.save(path)
    summary = stage_and_publish(WEEK)
    assert summary["loaded"]["ledger_households"] == 44 and summary["loaded"]["ledger_measures"] == 50
    got = _wh().query("SELECT household_size, identified_year, planned_exit_year, income_per_capita_yuan "
                      "FROM core.ledger_households WHERE source_row IN (4, 5) ORDER BY source_row")
    assert got.values.tolist()[0] == [3, 2014, 2026, 2760.0]
    assert got["household_size"].iloc[1] == 4 and got["income_per_capita_yuan"].iloc[1] == 3120.5
    assert _wh().scalar("SELECT measure_funds_yuan FROM core.ledger_measures WHERE source_row = 2") == 2000.0
    assert not {"value.not_number", "value.unit_mismatch", "value.not_integer"} & _rules()


def _report_cells(path) -> tuple[openpyxl.Workbook, dict[str, str]]:
    """The village report's workbook and its data row's cell per canonical header (two-row
    header joined as the form writes it)."""
    wb = openpyxl.load_workbook(path)
    ws = wb.active
    cells, parent = {}, ""
    for top, sub, data in zip(ws[4], ws[5], ws[6]):
        parent = top.value or parent
        name = parent + sub.value if sub.value else top.value
        cells[name] = data.coordinate
    return wb, cells


def test_a_village_report_with_units_in_its_cells_loads_its_row(examples_landing):
    path = _path(examples_landing, REPORT)
    wb, cell = _report_cells(path)
    ws = wb.active
    ws[cell["期初贫困户数"]] = "38户"
    ws[cell["期初贫困人口数"]] = "126人"
    ws[cell["驻村工作队人数"]] = "3人"
    ws[cell["本周技能培训人次"]] = "15人次"
    ws[cell["本周到村扶贫资金（万元）"]] = "12.5万元"
    wb.save(path)
    summary = stage_and_publish(WEEK)
    assert summary["loaded"]["village_reports"] == 1
    got = _wh().query("SELECT hh_open, pp_open, work_team_size, training_persons, funds_to_village_wan "
                      "FROM core.village_reports")
    assert got.values.tolist() == [[38, 126, 3, 15, 12.5]]
    assert not {"value.not_number", "value.unit_mismatch"} & _rules()


@pytest.mark.parametrize("header,value,unit,column_unit", [
    ("期初贫困户数", "38人", "人", "户"),
    ("本周到村扶贫资金（万元）", "5元", "元", "万元"),
    ("本周技能培训人次", "15户", "户", "人次"),
])
def test_a_unit_that_contradicts_the_column_is_an_error_naming_both_units(examples_landing, header, value,
                                                                          unit, column_unit):
    path = _path(examples_landing, REPORT)
    wb, cell = _report_cells(path)
    wb.active[cell[header]] = value
    wb.save(path)
    summary = stage_and_publish(WEEK)
    assert summary["loaded"]["village_reports"] == 0
    f = _findings("value.unit_mismatch")
    assert len(f) == 1
    r = f.iloc[0]
    assert (r["row"], r["column"], r["value"], r["severity"]) == (6, header, value, "error")
    assert f"所带单位「{unit}」与该栏的单位「{column_unit}」不符" in r["message"]
    assert "value.not_number" not in _rules()


def test_a_township_report_with_units_in_its_cells_loads_every_village(examples_landing):
    path = _path(examples_landing, TOWNSHIP)
    text = path.read_bytes().decode("gbk")
    text = text.replace("411622107201,焦东村,是,38,126,1,4,0,0,2,7,0,0,37,123,10.5,1,15",
                        "411622107201,焦东村,是,38户,126人,1户,4人,0,0,2,7,0,0,37,123,10.5万元,1期,15人次")
    path.write_bytes(text.encode("gbk"))
    summary = stage_and_publish(WEEK)
    assert summary["loaded"]["township_reports"] == 9 and summary["quarantined"]["township_reports"] == 0
    got = _wh().query("SELECT hh_open, pp_open, hh_new, microcredit_wan, training_sessions, training_persons "
                      "FROM core.township_reports WHERE village_code = '411622107201'")
    assert got.values.tolist() == [[38, 126, 1, 10.5, 1, 15]]
    assert not {"value.not_number", "value.unit_mismatch"} & _rules()


# ---- codes stored as numbers --------------------------------------------------------------------

def test_a_16_digit_household_id_stored_as_a_number_is_kept_when_excel_cannot_have_cut_it(examples_landing):
    """Excel keeps 15 significant digits: a numeric 户编号 ending in 1..9 is exact; one ending
    in 0 may have lost its last digit and stays an error."""
    path = _path(examples_landing, LEDGER)
    wb = openpyxl.load_workbook(path)
    ws = wb[PLAN]
    assert (ws["A4"].value, ws["A13"].value) == ("4116221072010001", "4116221072010010")
    ws["A4"], ws["A13"] = 4116221072010001, 4116221072010010
    wb[MEASURES]["A2"] = 4116221072010001
    wb.save(path)
    summary = stage_and_publish(WEEK)
    assert summary["loaded"]["ledger_households"] == 43
    assert _wh().scalar("SELECT household_id FROM core.ledger_households WHERE source_row = 4") == "4116221072010001"
    assert _wh().scalar("SELECT household_id FROM core.ledger_measures WHERE source_row = 2") == "4116221072010001"
    f = _findings("household_id.scientific")
    assert f[["sheet", "row", "value"]].values.tolist() == [[PLAN, 13, "4116221072010010"]]
    assert "末位数字丢失" in f["message"].iloc[0]


def test_a_township_report_saved_as_xlsx_with_numeric_village_codes_loads_every_village(examples_landing):
    path = _path(examples_landing, TOWNSHIP)
    rows = list(csv.reader(io.StringIO(path.read_bytes().decode("gbk"))))
    wb = openpyxl.Workbook()
    for row in rows:
        wb.active.append([int(v) if v.isdigit() else v for v in row])
    assert wb.active["A5"].value == 411622107202
    path.unlink()
    wb.save(path.with_suffix(".xlsx"))
    summary = stage_and_publish(WEEK)
    assert summary["loaded"]["township_reports"] == 9 and summary["quarantined"]["township_reports"] == 0
    codes = _wh().query("SELECT village_code FROM core.township_reports WHERE village_code <> '合计' "
                        "ORDER BY village_code")["village_code"]
    assert codes.tolist() == [f"41162210720{i}" for i in range(1, 9)]
    assert not {"village_code.scientific", "village_code.format"} & _rules()


# ---- a header row repeated inside a table ------------------------------------------------------

def _repeated_header(rule_rows: list[int]):
    f = _findings("row.repeated_header")
    assert f["row"].tolist() == rule_rows and (f["severity"] == "warning").all()
    assert [m for m in f["message"]] == [f"第{r}行是重复的表头，已跳过" for r in rule_rows]
    return f


def test_a_ledger_with_its_header_repeated_for_printing_skips_that_row(examples_landing):
    path = _path(examples_landing, LEDGER)
    wb = openpyxl.load_workbook(path)
    ws = wb[PLAN]
    header = [c.value for c in ws[3]]
    ws.insert_rows(30)
    for j, v in enumerate(header, start=1):
        ws.cell(30, j, v.replace("\n", "") if v else v)   # retyped: the line break left out
    wb[MEASURES].insert_rows(20)
    for j, c in enumerate(wb[MEASURES][1], start=1):
        wb[MEASURES].cell(20, j, c.value)
    wb.save(path)
    summary = stage_and_publish(WEEK)
    assert summary["loaded"]["ledger_households"] == 44 and summary["quarantined"]["ledger_households"] == 1
    assert summary["loaded"]["ledger_measures"] == 50
    f = _repeated_header([20, 30])
    assert f["sheet"].tolist() == [MEASURES, PLAN]
    assert not {"value.not_number", "value.not_integer", "value.not_yesno", "household_id.format"} & _rules()
    errors = _wh().query("SELECT rule, row FROM core.findings WHERE severity = 'error'")
    assert errors.values.tolist() == [["id_number.scientific", 11]]


def test_a_village_report_with_its_two_row_header_repeated_loads_its_one_row(examples_landing):
    path = _path(examples_landing, REPORT)
    wb = openpyxl.load_workbook(path)
    ws = wb.active
    ws.insert_rows(7, 2)
    for r in (4, 5):
        for c in ws[r]:
            if type(c).__name__ == "Cell":
                ws.cell(r + 3, c.column, c.value)
    wb.save(path)
    summary = stage_and_publish(WEEK)
    assert summary["loaded"]["village_reports"] == 1
    assert _wh().scalar("SELECT hh_open FROM core.village_reports") == 38
    _repeated_header([7, 8])
    assert not {"value.not_number", "value.not_yesno", "report.extra_rows"} & _rules()


def test_a_township_report_pasted_as_two_blocks_skips_the_second_header(examples_landing):
    path = _path(examples_landing, TOWNSHIP)
    lines = path.read_bytes().decode("gbk").splitlines()
    assert lines[2].startswith("村代码,")
    lines.insert(6, lines[2])
    path.write_bytes("\n".join(lines).encode("gbk"))
    summary = stage_and_publish(WEEK)
    assert summary["loaded"]["township_reports"] == 9 and summary["quarantined"]["township_reports"] == 0
    _repeated_header([7])
    assert not {"value.not_number", "value.not_yesno", "village_code.format"} & _rules()
