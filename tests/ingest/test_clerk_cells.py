"""Cells as clerks fill them (issue 23, Cells): merged key cells, invisible characters,
yes/no written other ways, a 是否贫困村 the register contradicts. Each file is built from
an example, the week runs, and what loads and which findings it gets are checked."""
from __future__ import annotations

import openpyxl
import pytest

from pipelines.settings import get_settings
from pipelines.warehouse import Warehouse
from tests.ingest.test_parse import xls_bytes
from tests.week_run import stage_and_publish

WEEK = "2026-W47"
REPORT = "西华县逍遥镇焦东村第47周周报(改).xlsx"
TOWNSHIP = "逍遥镇2026年第47周扶贫周报.csv"
LEDGER = "焦东村三本账2026第47周.xlsx"
MEASURES = "措施办法账"
PLAN = "计划进度账"


def _path(landing, name):
    return next((landing / WEEK).rglob(name))


def _wh() -> Warehouse:
    return Warehouse(get_settings().warehouse_url)


def _findings(rule: str):
    return _wh().query(f"SELECT file, sheet, row, \"column\", value, severity, unit_code, message FROM core.findings "
                       f"WHERE rule = '{rule}' ORDER BY file, row")


def _rules() -> set[str]:
    return set(_wh().query("SELECT DISTINCT rule FROM core.findings")["rule"])


# ---- merged key cells ----------------------------------------------------------------------

def _merge_repeated_ids(ws) -> dict[int, str]:
    """Each household's 户编号 merged over the rows of its measures, as clerks lay the sheet
    out (the value stays in the first row); the household of every data row."""
    ids = {r: ws.cell(r, 1).value for r in range(2, ws.max_row + 1) if ws.cell(r, 1).value}
    runs, start = [], 2
    for r in range(3, ws.max_row + 2):
        if ids.get(r) != ids.get(start):
            if r - 1 > start:
                runs.append((start, r - 1))
            start = r
    for r0, r1 in runs:
        ws.merge_cells(start_row=r0, start_column=1, end_row=r1, end_column=1)
    assert len(runs) >= 10 and all(ws.cell(r1, 1).value is None for _r0, r1 in runs)
    return ids


def _as_xls(path) -> None:
    """The workbook saved again as a legacy .xls (values and merged ranges), under the same name."""
    wb = openpyxl.load_workbook(path)
    sheets, merges = {}, {}
    for ws in wb:
        sheets[ws.title] = [list(r) for r in ws.iter_rows(values_only=True)]
        merges[ws.title] = [(m.min_row - 1, m.min_col - 1, m.max_row - 1, m.max_col - 1) for m in ws.merged_cells.ranges]
    path.unlink()
    path.with_suffix(".xls").write_bytes(xls_bytes(sheets, merges))


@pytest.mark.parametrize("fmt", ["xlsx", "xls"])
def test_a_household_id_merged_over_its_measures_loads_every_measure_under_it(examples_landing, fmt):
    path = _path(examples_landing, LEDGER)
    wb = openpyxl.load_workbook(path)
    ids = _merge_repeated_ids(wb[MEASURES])
    wb.save(path)
    if fmt == "xls":
        _as_xls(path)
    summary = stage_and_publish(WEEK)
    assert summary["loaded"]["ledger_measures"] == len(ids) == 50
    assert summary["loaded"]["ledger_households"] == 44
    rows = _wh().query("SELECT source_row, household_id FROM core.ledger_measures ORDER BY source_row")
    assert dict(zip(rows["source_row"], rows["household_id"])) == ids
    assert not {"household_id.missing", "household_id.unknown", "measures.missing"} & _rules()


# ---- invisible characters ---------------------------------------------------------------------

def test_invisible_characters_in_ledger_cells_are_taken_out_before_any_rule(examples_landing):
    path = _path(examples_landing, LEDGER)
    wb = openpyxl.load_workbook(path)
    ws = wb[PLAN]
    ws["I4"] = "贫困\u200b"                      # zero-width space after the state
    ws["A5"] = "\ufeff" + ws["A5"].value          # a byte-order mark inside the cell
    ws["E6"] = "一般\u200c贫困户\u00a0"            # ZWNJ inside, NBSP after
    ws["L7"] = "\u3000是\u200d"                   # ideographic space, ZWJ
    ws["F8"] = "因病_x0007_"                      # a control character (as Excel escapes it)
    wb[MEASURES]["A2"] = "4116221072010001\u2060"  # word joiner
    wb.save(path)
    summary = stage_and_publish(WEEK)
    assert summary["loaded"]["ledger_households"] == 44 and summary["quarantined"]["ledger_households"] == 1
    assert summary["loaded"]["ledger_measures"] == 50
    plan = _wh().query("SELECT source_row, household_id, state, poverty_type, main_cause, food_secure "
                       "FROM core.ledger_households WHERE source_row IN (4, 5, 6, 7, 8) ORDER BY source_row")
    assert plan["state"].iloc[0] == "贫困" and plan["household_id"].iloc[1] == "4116221072010002"
    assert plan["poverty_type"].iloc[2] == "一般贫困户" and plan["food_secure"].iloc[3] == "是"
    assert plan["main_cause"].iloc[4] == "因病"
    assert not {"state.enum", "poverty_type.enum", "main_cause.enum", "household_id.format",
                "household_id.unknown"} & _rules()


def test_invisible_characters_in_a_utf8_township_report_are_taken_out(examples_landing):
    path = _path(examples_landing, TOWNSHIP)
    text = path.read_bytes().decode("gbk")
    text = text.replace("411622107202,西营村,否", "\u200b411622107202\u200b,西营村\ufeff,否\u200b\x01")
    path.write_bytes(text.encode("utf-8-sig"))
    summary = stage_and_publish(WEEK)
    assert summary["loaded"]["township_reports"] == 9 and summary["quarantined"]["township_reports"] == 0
    row = _wh().query("SELECT village_code, village_name, is_poor_village FROM core.township_reports "
                      "WHERE village_name = '西营村'")
    assert row.values.tolist() == [["411622107202", "西营村", "否"]]
    assert not {"village_code.format", "value.not_yesno"} & _rules()


# ---- yes/no --------------------------------------------------------------------------------------

YES_NO_CELLS = {"L4": 1, "M4": "TRUE", "N4": True, "O4": "是的", "P4": "√",   # household 0001
                "L5": "Ｙ", "M5": "yes", "N5": "有", "O5": "对", "P5": "✔",    # household 0002
                "L6": 0, "M6": "×", "N6": "无", "O6": "不是", "P6": "FALSE"}    # household 0003


def test_yes_no_cells_written_with_clear_equivalents_are_stored_as_yes_or_no(examples_landing):
    path = _path(examples_landing, LEDGER)
    wb = openpyxl.load_workbook(path)
    for cell, value in YES_NO_CELLS.items():
        wb[PLAN][cell] = value
    wb.save(path)
    summary = stage_and_publish(WEEK)
    assert summary["loaded"]["ledger_households"] == 44
    cols = "food_secure, clothing_secure, education_secure, medical_secure, housing_secure"
    got = _wh().query(f"SELECT {cols} FROM core.ledger_households WHERE source_row IN (4, 5, 6) ORDER BY source_row")
    assert got.values.tolist() == [["是"] * 5, ["是"] * 5, ["否"] * 5]
    assert "value.not_yesno" not in _rules()


@pytest.mark.parametrize("value", ["待定", "2", "是否", "-"])
def test_a_yes_no_cell_that_is_neither_is_an_error_on_the_cell_never_stored(examples_landing, value):
    path = _path(examples_landing, LEDGER)
    wb = openpyxl.load_workbook(path)
    wb[PLAN]["M40"] = value
    wb.save(path)
    summary = stage_and_publish(WEEK)
    assert summary["loaded"]["ledger_households"] == 43 and summary["quarantined"]["ledger_households"] == 2
    f = _findings("value.not_yesno")
    assert len(f) == 1
    r = f.iloc[0]
    assert r["file"].endswith(LEDGER) and (r["sheet"], r["row"], r["column"], r["value"], r["severity"], r["unit_code"]) == (
        PLAN, 40, "不愁穿", value, "error", "411622107201")
    assert f"第40行「不愁穿」的值「{value}」不是“是”或“否”" in r["message"] and "√" in r["message"] and "×" in r["message"]
    held = _wh().query("SELECT household_id FROM core.ledger_households WHERE source_row = 40")
    assert held.empty


def test_a_township_report_counting_its_poor_villages_in_the_total_row_is_no_finding(examples_landing):
    """The 合计 row's 是否贫困村 holds the number of poor villages (7): not a yes/no, and not
    one village's answer either; a village row's 是 written 1 is read as 是."""
    path = _path(examples_landing, TOWNSHIP)
    text = path.read_bytes().decode("gbk")
    text = text.replace("合计,,,", "合计,,7,").replace("411622107203,后营村,是", "411622107203,后营村,1")
    path.write_bytes(text.encode("gbk"))
    summary = stage_and_publish(WEEK)
    assert summary["loaded"]["township_reports"] == 9 and summary["quarantined"]["township_reports"] == 0
    got = _wh().query("SELECT is_poor_village FROM core.township_reports WHERE village_code = '411622107203'")
    assert got["is_poor_village"].tolist() == ["是"]
    assert not {"value.not_yesno", "is_poor_village.register"} & _rules()


def test_a_village_report_with_a_tick_for_poor_village_loads_it_as_yes(examples_landing):
    path = _path(examples_landing, REPORT)
    wb = openpyxl.load_workbook(path)
    ws = wb.active
    col = next(c.column_letter for c in ws[4] if c.value == "是否贫困村")
    ws[f"{col}6"] = "√"
    wb.save(path)
    summary = stage_and_publish(WEEK)
    assert summary["loaded"]["village_reports"] == 1
    assert _wh().scalar("SELECT is_poor_village FROM core.village_reports") == "是"
    assert not {"value.not_yesno", "is_poor_village.register"} & _rules()


# ---- 是否贫困村 against the register -----------------------------------------------------------

def test_a_poor_village_answer_that_contradicts_the_register_is_a_warning(examples_landing):
    """焦东村 (a poor village in the register) says 否 in its own report; the township report
    says 是 for 西营村 (not one): a warning each, naming the village and both values; the
    rows load as reported."""
    path = _path(examples_landing, REPORT)
    wb = openpyxl.load_workbook(path)
    ws = wb.active
    col = next(c.column_letter for c in ws[4] if c.value == "是否贫困村")
    ws[f"{col}6"] = "否"
    wb.save(path)
    town = _path(examples_landing, TOWNSHIP)
    text = town.read_bytes().decode("gbk")
    town.write_bytes(text.replace("411622107202,西营村,否", "411622107202,西营村,是").encode("gbk"))
    summary = stage_and_publish(WEEK)
    assert summary["loaded"]["village_reports"] == 1 and summary["loaded"]["township_reports"] == 9
    f = _findings("is_poor_village.register")
    assert len(f) == 2
    own, town_row = (f[f["file"].str.endswith(REPORT)].iloc[0], f[f["file"].str.endswith(TOWNSHIP)].iloc[0])
    assert (own["sheet"], own["row"], own["column"], own["value"], own["severity"], own["unit_code"]) == (
        "Sheet1", 6, "是否贫困村", "否", "warning", "411622107201")
    assert "填报为“否”" in own["message"] and "焦东村（411622107201）的是否贫困村为“是”" in own["message"]
    assert (town_row["sheet"], town_row["row"], town_row["value"], town_row["unit_code"]) == ("", 5, "是", "411622107")
    assert "西营村（411622107202）的是否贫困村为“否”" in town_row["message"]
    flagged = _wh().query("SELECT village_code, has_warning FROM core.township_reports WHERE village_code = '411622107202'")
    assert flagged["has_warning"].tolist() == [True]


def test_the_examples_agree_with_the_register_on_poor_villages(examples_landing):
    stage_and_publish(WEEK)
    assert _findings("is_poor_village.register").empty
