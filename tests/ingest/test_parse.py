"""parse_file on the shared examples (the acceptance expectations) and on built files."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines import forms
from pipelines.ingest.parse import parse_file

EXAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "examples"
LEDGER = "焦东村三本账2026第47周.xlsx"
VILLAGE = "西华县逍遥镇焦东村第47周周报(改).xlsx"
TOWNSHIP = "逍遥镇2026年第47周扶贫周报.csv"


def _parse_example(name):
    return parse_file((EXAMPLES / name).read_bytes(), f"2026-W47/西华县/逍遥镇/{name}")


@pytest.fixture(scope="module")
def ledger():
    return _parse_example(LEDGER)


@pytest.fixture(scope="module")
def village():
    return _parse_example(VILLAGE)


@pytest.fixture(scope="module")
def township():
    return _parse_example(TOWNSHIP)


def _assert_schema(pf, table):
    df = pf.tables[table]
    spec = forms.TABLES[(pf.form, table)]
    assert list(df.columns) == [c.name for c in spec] + ["source_sheet", "source_row"]
    for c in spec:
        dtype = df[c.name].dtype
        if c.dtype in ("code", "str", "id18", "yesno"):
            assert dtype == "string", (c.name, dtype)
        elif c.dtype == "int":
            assert dtype == "Int64", (c.name, dtype)
        elif c.dtype == "float":
            assert dtype == "Float64", (c.name, dtype)
        elif c.dtype == "date":
            assert dtype == "datetime64[ns]", (c.name, dtype)
    assert df["source_row"].dtype == "int64"
    assert list(pf.raw[table].columns) == [c.name for c in spec]
    assert pf.raw[table].index.equals(df.index)


# ---- Form A example ------------------------------------------------------------------

def test_ledger_identity(ledger):
    assert ledger.form == "A"
    assert ledger.unit_code == "411622107201"
    assert ledger.week == "2026-W47"
    assert ledger.file_format == "xlsx"
    assert ledger.level == "村"
    assert ledger.sheets == {"plan": "计划进度账", "measures": "措施办法账", "helpers": "帮扶责任账"}


def test_ledger_plan_rows(ledger):
    plan = ledger.tables["plan"]
    _assert_schema(ledger, "plan")
    assert len(plan) == 45
    poor = plan[plan["state"] == "贫困"]
    assert len(poor) == 37
    assert int(poor["household_size"].sum()) == 123
    assert plan["source_row"].tolist() == list(range(4, 49))
    assert plan["source_sheet"].eq("计划进度账").all()
    # footer and blank lines are not data
    assert not plan["household_id"].isna().any()


def test_ledger_only_problem_is_scientific_id(ledger):
    assert len(ledger.problems) == 1
    p = ledger.problems[0]
    assert (p["sheet"], p["row"], p["rule"]) == ("计划进度账", 11, "id_number.scientific")
    assert p["value"] == "4.116221985041398e+17"
    assert p["record_key"] == "4116221072010008"
    assert p["column"] == "身份证号码"
    assert p["severity"] == "error" and p["dimension"] == "identification"
    assert "科学计数法" in p["message"] and "第11行" in p["message"]
    plan = ledger.tables["plan"]
    row = plan[plan["source_row"] == 11].index[0]
    assert pd.isna(plan.loc[row, "id_number"])
    assert ledger.raw["plan"].loc[row, "id_number"] == "4.116221985041398e+17"


def test_ledger_values(ledger):
    plan = ledger.tables["plan"]
    first = plan.iloc[0]
    assert first["income_per_capita_yuan"] == 2760.0
    assert ledger.raw["plan"].iloc[0]["income_per_capita_yuan"] == "2,760"
    assert first["id_number"] == "41162219720915524X"
    assert plan["household_size"].notna().all()  # 家庭\n人口数 matched
    measures = ledger.tables["measures"]
    _assert_schema(ledger, "measures")
    assert len(measures) == 50
    assert measures["measure_date"].notna().all()
    assert measures.iloc[0]["measure_date"] == pd.Timestamp("2026-11-13")
    assert measures.iloc[6]["measure_date"] == pd.Timestamp("2026-09-15")  # '2026.09.15'
    helpers = ledger.tables["helpers"]
    _assert_schema(ledger, "helpers")
    assert len(helpers) == 37
    assert helpers["paired_date"].notna().all()
    assert helpers.iloc[0]["paired_date"] == pd.Timestamp("2016-01-18")  # '2016年01月18日'
    assert helpers.iloc[0]["helper_phone"] == "13699028848"


# ---- Form B example ------------------------------------------------------------------

def test_village_report(village):
    assert village.form == "B"
    assert village.unit_code == "411622107201"
    assert village.week == "2026-W47"
    assert village.problems == []
    _assert_schema(village, "report")
    rep = village.tables["report"]
    assert len(rep) == 1
    row = rep.iloc[0]
    expected = dict(hh_open=38, pp_open=126, hh_new=1, pp_new=4, hh_return=0, pp_return=0,
                    hh_exit=2, pp_exit=7, hh_cancel=0, pp_cancel=0, hh_close=37, pp_close=123,
                    work_team_size=3, training_persons=15, base_driven_hh=6)
    for k, v in expected.items():
        assert row[k] == v, k
    assert row["funds_to_village_wan"] == 12.5
    assert row["microcredit_wan"] == 10.5
    assert row["is_poor_village"] == "是"
    assert row["first_secretary"] == "周明远"
    assert row["source_row"] == 6
    assert village.header["filled_date"] == dt.date(2026, 11, 22)
    assert village.header["filled_by"] == "孙立新"
    assert village.header["reviewed_by"] == "周明远"
    raw = village.raw["report"].iloc[0]
    assert raw["hh_return"] == "—" and raw["pp_return"] == "" and raw["pp_cancel"] == "/"
    assert raw["pp_open"] == "１２６"
    assert village.column_headers["report"]["hh_new"] == "本周新识别户数"


# ---- Form C example ------------------------------------------------------------------

def test_township_report(township):
    assert township.form == "C"
    assert township.file_format == "csv"
    assert township.encoding in ("gbk", "gb18030")
    assert township.unit_code == "411622107"
    assert township.week == "2026-W47"
    assert township.problems == []
    _assert_schema(township, "report")
    rep = township.tables["report"]
    assert len(rep) == 8
    assert rep["village_code"].tolist() == [f"41162210720{i}" for i in range(1, 9)]
    assert rep["source_row"].tolist() == list(range(4, 12))
    tot = township.totals["report"]
    assert len(tot) == 1
    assert tot.iloc[0]["hh_close"] == 224
    assert tot.iloc[0]["source_row"] == 12
    assert int(rep["hh_close"].sum()) == 224
    assert township.header["signed_by"] == "钱振华"
    assert township.header["filled_date"] == dt.date(2026, 11, 23)


# ---- built files: every quirk of FORMS.md "What real files look like" ------------------

import csv  # noqa: E402
import io  # noqa: E402

import openpyxl  # noqa: E402
import xlwt  # noqa: E402

from pipelines.findings import FINDING_COLUMNS  # noqa: E402


def xlsx_bytes(sheets: dict, merges: dict | None = None) -> bytes:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, grid in sheets.items():
        ws = wb.create_sheet(name)
        for r, row in enumerate(grid, start=1):
            for c, v in enumerate(row, start=1):
                if v is not None and v != "":
                    ws.cell(r, c, v)
        for ref in (merges or {}).get(name, []):
            ws.merge_cells(ref)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def xls_bytes(sheets: dict, merges: dict | None = None) -> bytes:
    wb = xlwt.Workbook(encoding="utf-8")
    date_style = xlwt.easyxf(num_format_str="yyyy/m/d")
    for name, grid in sheets.items():
        ws = wb.add_sheet(name, cell_overwrite_ok=True)
        covered = set()
        for r0, c0, r1, c1 in (merges or {}).get(name, []):
            ws.write_merge(r0, r1, c0, c1, grid[r0][c0] or "")
            covered |= {(r, c) for r in range(r0, r1 + 1) for c in range(c0, c1 + 1)}
        for r, row in enumerate(grid):
            for c, v in enumerate(row):
                if v is None or v == "" or (r, c) in covered:
                    continue
                if isinstance(v, dt.date):
                    ws.write(r, c, v, date_style)
                else:
                    ws.write(r, c, v)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def csv_bytes(grid: list, encoding: str = "utf-8") -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    for row in grid:
        w.writerow(["" if v is None else v for v in row])
    return buf.getvalue().encode(encoding)


def _shift(grid, rows=0, cols=0):
    """Put blank rows above and blank columns left of the table."""
    width = max(len(r) for r in grid) + cols
    out = [[None] * width for _ in range(rows)]
    for row in grid:
        out.append([None] * cols + list(row) + [None] * (width - cols - len(row)))
    return out


B_PARENT = ["是否贫困村", "第一书记", "驻村工作队人数", "期初", None, "本周新识别", None, "本周返贫", None,
            "本周脱贫", None, "本周注销", None, "期末", None, "本周到村扶贫资金（万元）",
            "本周发放扶贫小额信贷（万元）", "示范基地带动贫困户数", "本周技能培训人次"]
B_CHILD = [None, None, None, "贫困户数", "贫困人口数", "户数", "人数", "户数", "人数", "户数", "人数",
           "户数", "人数", "贫困户数", "贫困人口数", None, None, None, None]
B_MERGES_XLS = [(0, c, 0, c + 1) for c in (3, 5, 7, 9, 11, 13)] + \
    [(0, c, 1, c) for c in (0, 1, 2, 15, 16, 17, 18)]


def b_grid(data_row, code="411622107201", week="2026年第47周", date_cell=46348):
    return [
        ["周口市精准扶贫村级周报表"],
        ["填报单位：西华县逍遥镇焦东村", None, None, None, None, f"行政区划代码：{code}", None, None,
         None, None, f"填报周次：{week}"],
        ["单位：户、人、万元"],
        list(B_PARENT),
        list(B_CHILD),
        list(data_row),
        [],
        ["填表人：孙立新", None, None, None, "审核人：周明远", None, None, None, None, "填报日期：",
         date_cell],
    ]


B_ROW = ["是", "周明远", "３", 38, "１２６", 1, 4, "—", None, 2, 7, "-", "/", 37, 123, "12.5", "10.5", 6, "１５"]


def _b_checks(pf, first_row):
    assert pf.form == "B", pf.problems
    assert pf.unit_code == "411622107201"
    assert pf.week == "2026-W47"
    assert pf.problems == []
    rep = pf.tables["report"]
    assert len(rep) == 1
    r = rep.iloc[0]
    assert (r["hh_open"], r["pp_open"], r["hh_return"], r["pp_return"], r["hh_cancel"],
            r["pp_cancel"], r["pp_close"], r["work_team_size"]) == (38, 126, 0, 0, 0, 0, 123, 3)
    assert r["source_row"] == first_row
    assert pf.header["filled_date"] == dt.date(2026, 11, 22)


def test_b_xls_merged_two_row_header_with_offset():
    grid = _shift(b_grid(B_ROW), rows=2, cols=1)
    merges = [(r0 + 5, c0 + 1, r1 + 5, c1 + 1) for r0, c0, r1, c1 in B_MERGES_XLS]
    pf = parse_file(xls_bytes({"Sheet1": grid}, {"Sheet1": merges}), "w/村周报.xls")
    assert pf.file_format == "xls"
    _b_checks(pf, first_row=8)


def test_b_xlsx_merged_header_openpyxl():
    grid = b_grid(B_ROW)
    merges = ["D4:E4", "F4:G4", "H4:I4", "J4:K4", "L4:M4", "N4:O4", "A4:A5", "B4:B5"]
    pf = parse_file(xlsx_bytes({"周报": grid}, {"周报": merges}), "w/村周报.xlsx")
    _b_checks(pf, first_row=6)
    assert pf.sheets == {"report": "周报"}


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_b_csv_in_every_encoding(encoding):
    grid = b_grid(B_ROW, date_cell="2026年11月22日")
    pf = parse_file(csv_bytes(grid, encoding), "w/村周报.csv")
    assert pf.file_format == "csv"
    _b_checks(pf, first_row=6)


def test_b_date_as_real_date_and_title_week():
    grid = b_grid(B_ROW, week="", date_cell=dt.date(2026, 11, 22))
    grid[0] = ["焦东村扶贫周报（2026第47周）"]
    pf = parse_file(xls_bytes({"S": grid}), "x.xls")
    assert pf.week == "2026-W47" and pf.week_source == "title"
    assert pf.header["filled_date"] == dt.date(2026, 11, 22)


def test_week_missing_is_none():
    grid = b_grid(B_ROW, week="")
    grid[0] = ["村级周报"]
    pf = parse_file(xlsx_bytes({"S": grid}), "x.xlsx")
    assert pf.form == "B" and pf.week is None


C_HEADER = ["村代码", "村名", "是否贫困村", "期初贫困户数", "期初贫困人口数", "本周新识别户数",
            "本周新识别人数", "本周返贫户数", "本周返贫人数", "本周脱贫户数", "本周脱贫人数", "本周注销户数",
            "本周注销人数", "期末贫困户数", "期末贫困人口数", "本周发放扶贫小额信贷(万元)",
            "本周技能培训期数", "本周技能培训人次"]


def c_grid(rows, code="411622107"):
    total = ["合 计", None, None] + [sum(r[k] for r in rows) for k in range(3, 18)]
    return [["逍遥镇精准扶贫周报（2026年第47周）"], ["填报单位：西华县逍遥镇", None, None, None, f"代码：{code}"],
            list(C_HEADER), *rows, total,
            ["填表人：张三", None, "专职副书记：钱振华", None, "填报日期：2026/11/23"]]


def c_rows(n=3):
    return [[411622107201.0 + i, f"村{i}", "是", 10, 30, 0, 0, 0, 0, 1, 3, 0, 0, 9, 27, 1.5, 0, 0]
            for i in range(n)]


def test_c_xlsx_float_codes_totals_and_footer():
    pf = parse_file(xlsx_bytes({"Sheet1": c_grid(c_rows(3))}), "t.xlsx")
    assert pf.form == "C" and pf.unit_code == "411622107" and pf.problems == []
    rep = pf.tables["report"]
    assert rep["village_code"].tolist() == ["411622107201", "411622107202", "411622107203"]
    assert rep["source_row"].tolist() == [4, 5, 6]
    assert pf.totals["report"].iloc[0]["hh_close"] == 27
    assert pf.totals["report"].iloc[0]["source_row"] == 7
    assert pf.header["signed_by"] == "钱振华"


def test_c_header_variants_and_numbering_row():
    header = list(C_HEADER)
    header[0] = "村 代 码"
    header[4] = "期初贫困\n人口数"
    header[15] = "本周发放扶贫小额信贷（万元）"
    header[17] = " 本周技能培训人次 "
    grid = c_grid(c_rows(2))
    grid[2] = header
    grid.insert(3, list(range(1, 19)))   # a column-numbering row under the header
    pf = parse_file(csv_bytes(grid, "utf-8-sig"), "t.csv")
    assert pf.form == "C" and pf.problems == []
    assert len(pf.tables["report"]) == 2
    assert pf.tables["report"]["source_row"].tolist() == [5, 6]
    assert pf.column_headers["report"]["pp_open"] == "期初贫困人口数"


def test_unit_code_mismatch_is_reported():
    pf = parse_file(xlsx_bytes({"S": c_grid(c_rows(2), code="411622108")}), "t.xlsx")
    assert pf.unit_code == "411622107" and pf.unit_codes == {"header": "411622108", "rows": "411622107"}
    assert [p["rule"] for p in pf.problems] == ["unit_code.mismatch"]


D_HEADER = ["乡镇代码", "乡镇名", "贫困村数", *C_HEADER[3:15], "本周发放扶贫小额信贷(万元)", "示范基地数(累计)",
            "基地带动贫困户数", "基地带动贫困人口数", "本周投入财政扶贫资金(万元)", "派驻帮扶队员人数",
            "本周督导暗访次数"]


def test_d_csv_gbk_with_blank_columns():
    rows = [["411622107", "逍遥镇", 8, *([1] * 12), "31.0", 2, 3, 4, "５", 6, 1],
            ["411622108", "东夏亭镇", 5, *([0] * 12), "", 1, 0, 0, "—", 2, 0]]
    total = ["合计", None, 13, *([1] * 12), 31.0, 3, 3, 4, 5, 8, 1]
    grid = [["西华县精准扶贫周报（2026年第47周）"], ["填报单位：西华县", None, "代码：411622"], [],
            list(D_HEADER), *rows, total, [], ["填表人：王五", None, "专职常委：赵六"]]
    pf = parse_file(csv_bytes(_shift(grid, rows=1, cols=2), "gbk"), "d.csv")
    assert pf.form == "D" and pf.unit_code == "411622" and pf.level == "县", pf.problems
    assert pf.problems == []
    rep = pf.tables["report"]
    assert rep["township_code"].tolist() == ["411622107", "411622108"]
    assert rep["fiscal_funds_wan"].tolist() == [5.0, 0.0]
    assert rep["microcredit_wan"].tolist() == [31.0, 0.0]
    assert pf.totals["report"].iloc[0]["team_members"] == 8
    assert pf.header["signed_by"] == "赵六"


# ---- Form A built files --------------------------------------------------------------

PLAN_HEADER = [c.header for c in forms.LEDGER_PLAN]
MEASURE_HEADER = [c.header for c in forms.LEDGER_MEASURES]
HELPER_HEADER = [c.header for c in forms.LEDGER_HELPERS]


def plan_row(seq, id_number=None, size=3, income=2500):
    hid = f"411622107201{seq:04d}"
    return [hid, "张三", id_number or f"41162219700101{seq:03d}X"[-18:], size, "一般贫困户", "因病", 2015,
            2027, "贫困", "无", income, "是", "是", "是", "是", "是", ""]


def a_book(plan_rows, names=("计划进度账", "措施办法账", "帮扶责任账")):
    measures = [list(MEASURE_HEADER), ["4116221072010001", "产业扶贫", "食用菌", "2,000", "2026年11月2日", "计划"]]
    helpers = [list(HELPER_HEADER), ["4116221072010001", "李四", "县教育局", "县直", 13699028848.0, 42400]]
    return {names[0]: [["焦东村贫困户脱贫计划进度账"], list(PLAN_HEADER), *plan_rows],
            names[1]: measures, names[2]: helpers}


def test_a_sheets_found_by_headers_not_names():
    book = a_book([plan_row(1), plan_row(2)], names=("Sheet3", "Sheet1", "Sheet2"))
    pf = parse_file(xlsx_bytes(book), "a.xlsx")
    assert pf.form == "A" and pf.problems == []
    assert pf.sheets == {"plan": "Sheet3", "measures": "Sheet1", "helpers": "Sheet2"}
    assert pf.unit_code == "411622107201" and pf.unit_code_source == "rows"
    assert pf.week is None
    m = pf.tables["measures"].iloc[0]
    assert m["measure_funds_yuan"] == 2000.0 and m["measure_date"] == pd.Timestamp("2026-11-02")
    h = pf.tables["helpers"].iloc[0]
    assert h["helper_phone"] == "13699028848"
    assert h["paired_date"] == pd.Timestamp("2016-01-31")  # serial 42400


def test_a_xls_scientific_ids_and_household_ids():
    rows = [plan_row(1), plan_row(2, id_number=4.116221985041398e+17), plan_row(3)]
    rows[2][0] = 4116221072010030.0   # a 16-digit household id as a number ending in 0: digits may be lost
    rows[0][0] = 411622107201.0 * 10000 + 1   # ending in 1: Excel (15 digits) cannot have written it, exact
    book = a_book(rows)
    book["计划进度账"][1][2] = "身份证号码"
    pf = parse_file(xls_bytes(book), "a.xls")
    assert pf.form == "A"
    probs = sorted((p["row"], p["rule"], p["column"]) for p in pf.problems)
    assert probs == [(4, "id_number.scientific", "身份证号码"), (5, "household_id.scientific", "户编号")]
    plan = pf.tables["plan"]
    assert plan["household_id"].tolist()[:2] == ["4116221072010001", "4116221072010002"]
    assert plan["household_id"].isna().tolist() == [False, False, True]
    assert plan["id_number"].isna().tolist() == [False, True, False]
    sci = next(p for p in pf.problems if p["rule"] == "id_number.scientific")
    assert sci["record_key"] == "4116221072010002" and sci["value"] == "4.116221985041398e+17"


def test_a_csv_style_scientific_text():
    rows = [plan_row(1, id_number="4.11622E+17")]
    pf = parse_file(xlsx_bytes(a_book(rows)), "a.xlsx")
    assert [(p["rule"], p["value"], p["row"]) for p in pf.problems] == [
        ("id_number.scientific", "4.11622E+17", 3)]


def test_bad_numbers_and_dates_are_findings_not_crashes():
    rows = [plan_row(1, size="3户"), plan_row(2, income="abc"), plan_row(3, size="")]
    book = a_book(rows)
    book["措施办法账"][1][4] = "去年秋天"
    pf = parse_file(xlsx_bytes(book), "a.xlsx")
    got = sorted((p["sheet"], p["row"], p["rule"], p["severity"], p["value"]) for p in pf.problems)
    assert got == [("措施办法账", 2, "value.not_date", "warning", "去年秋天"),
                   ("计划进度账", 3, "value.unit_mismatch", "error", "3户"),
                   ("计划进度账", 4, "value.not_number", "error", "abc")]
    plan = pf.tables["plan"]
    assert plan["household_size"].isna().tolist() == [True, False, True]  # empty size stays NA
    assert pd.isna(plan["income_per_capita_yuan"].iloc[1])
    p = next(p for p in pf.problems if p["value"] == "3户")
    assert p["column"] == "家庭人口数" and "第3行" in p["message"] and p["record_key"] == "4116221072010001"
    assert "所带单位「户」与该栏的单位「人」不符" in p["message"]


def test_a_missing_sheet():
    book = a_book([plan_row(1)])
    del book["帮扶责任账"]
    pf = parse_file(xlsx_bytes(book), "a.xlsx")
    assert pf.form == "A"
    assert [(p["rule"], p["value"]) for p in pf.problems] == [("file.missing_sheet", "帮扶责任账")]
    assert len(pf.tables["helpers"]) == 0 and list(pf.tables["helpers"].columns)[0] == "household_id"


# ---- whole-file problems -------------------------------------------------------------

def test_missing_required_columns():
    grid = c_grid(c_rows(2))
    for row in grid[2:5]:
        del row[13:15]   # no 期末 columns
    pf = parse_file(xlsx_bytes({"S": grid}), "t.xlsx")
    assert pf.form == "C"
    assert [p["rule"] for p in pf.problems] == ["file.missing_columns"]
    p = pf.problems[0]
    assert "期末贫困户数" in p["message"] and "期末贫困人口数" in p["value"] and p["row"] == 0
    assert len(pf.tables["report"]) == 0


def test_unknown_columns_warn_once_and_serial_number_is_ignored():
    grid = c_grid(c_rows(2))
    grid[2] = ["序号"] + grid[2] + ["联系人", "备用"]
    for row in grid[3:6]:
        row.insert(0, 1)
    pf = parse_file(xlsx_bytes({"S": grid}), "t.xlsx")
    assert pf.form == "C" and len(pf.tables["report"]) == 2
    assert [(p["rule"], p["severity"], p["value"]) for p in pf.problems] == [
        ("file.unknown_columns", "warning", "联系人、备用")]


@pytest.mark.parametrize("data,rule", [
    (b"", "file.empty"),
    (b"PK\x03\x04 broken zip", "file.unreadable"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 1000, "file.unreadable"),
    ("姓名,年龄\n张三,30\n".encode("gbk"), "file.not_a_form"),
    (bytes(range(256)) * 8, "file.unreadable"),
])
def test_unreadable_files_give_one_file_level_error(data, rule):
    pf = parse_file(data, "坏文件.xlsx")
    assert pf.form is None
    assert len(pf.problems) == 1
    p = pf.problems[0]
    assert p["rule"] == rule and p["row"] == 0 and p["severity"] == "error"
    assert p["file"] == "坏文件.xlsx" and p["message"]
    assert set(p) == set(FINDING_COLUMNS)


def test_empty_workbook():
    pf = parse_file(xlsx_bytes({"Sheet1": [[]]}), "空.xlsx")
    assert pf.form is None and [p["rule"] for p in pf.problems] == ["file.empty"]


def test_internal_bug_never_raises(monkeypatch):
    from pipelines.ingest import headers

    def boom(*a, **k):
        raise RuntimeError("bug")
    monkeypatch.setattr(headers, "find_layout", boom)
    pf = parse_file((EXAMPLES / VILLAGE).read_bytes(), "x.xlsx")
    assert [p["rule"] for p in pf.problems] == ["file.parse_error"]


def test_problems_are_complete_findings(ledger):
    for p in ledger.problems:
        assert set(p) == set(FINDING_COLUMNS)
        assert p["dimension"] in forms.EIGHT_ACCURACIES
        assert p["file"].endswith(LEDGER)
        assert p["level"] == "村" and p["unit_code"] == "411622107201"


def test_string_columns_support_str_methods(ledger, township):
    # pandas 3.1: a StringArray built without an explicit dtype breaks .str
    plan = ledger.tables["plan"]
    assert plan["household_id"].str[:12].dropna().unique().tolist() == ["411622107201"]
    assert plan["id_number"].str.len().max() == 18
    assert township.tables["report"]["village_code"].str.startswith("411622107").all()
    assert plan["state"].dtype.storage == "python"


def test_units_row_under_header_is_not_data():
    grid = c_grid(c_rows(2))
    grid.insert(3, [None, None, None, "（户）", "（人）", "(户)", "(人)", "户", "人", "户", "人", "户", "人",
                    "户", "人", "(万元)", "期", "人次"])
    pf = parse_file(xlsx_bytes({"S": grid}), "t.xlsx")
    assert pf.form == "C" and pf.problems == []
    assert pf.tables["report"]["source_row"].tolist() == [5, 6]


def test_money_in_yuan_by_the_units_row_under_the_header_is_converted():
    grid = c_grid(c_rows(2))
    grid[2][15] = "本周发放扶贫小额信贷"
    grid[3][15] = grid[4][15] = 15000
    grid[5][15] = 30000
    grid.insert(3, [None, None, None, "（户）", "（人）", "(户)", "(人)", "户", "人", "户", "人", "户", "人",
                    "户", "人", "(元)", "期", "人次"])
    pf = parse_file(xlsx_bytes({"S": grid}), "t.xlsx")
    assert pf.tables["report"]["source_row"].tolist() == [5, 6]
    assert pf.tables["report"]["microcredit_wan"].tolist() == [1.5, 1.5]
    assert pf.totals["report"]["microcredit_wan"].tolist() == [3.0]
    assert [(p["rule"], p["message"]) for p in pf.problems] == [
        ("column.unit_converted", "「本周发放扶贫小额信贷」按表头下单位行所注单位「元」填写，已换算为万元（除以 10000）")]


def test_hidden_sheet_loses_to_visible_one():
    wb = openpyxl.Workbook()
    hidden = wb.active
    hidden.title = "旧表"
    for r, row in enumerate(c_grid(c_rows(3), code="411622107"), start=1):
        for c, v in enumerate(row, start=1):
            if v not in (None, ""):
                hidden.cell(r, c, v)
    hidden.sheet_state = "hidden"
    ws = wb.create_sheet("本周")
    for r, row in enumerate(c_grid(c_rows(2)), start=1):
        for c, v in enumerate(row, start=1):
            if v not in (None, ""):
                ws.cell(r, c, v)
    buf = io.BytesIO()
    wb.save(buf)
    pf = parse_file(buf.getvalue(), "t.xlsx")
    assert pf.sheets == {"report": "本周"} and len(pf.tables["report"]) == 2


def test_count_units_in_header_brackets_are_ignored_and_money_in_yuan_is_converted():
    grid = c_grid(c_rows(2))
    grid[2][3] = "期初贫困户数（户）"
    grid[2][4] = "期初贫困人口数(人)"
    pf = parse_file(xlsx_bytes({"S": grid}), "t.xlsx")
    assert pf.form == "C" and pf.problems == []
    assert pf.tables["report"]["hh_open"].tolist() == [10, 10]
    assert pf.column_headers["report"]["hh_open"] == "期初贫困户数（户）"
    grid[2][15] = "本周发放扶贫小额信贷（元）"     # 元, not the form's 万元: converted, and said
    grid[3][15] = grid[4][15] = 15000
    grid[5][15] = 30000                           # the 合计 row
    pf = parse_file(xlsx_bytes({"S": grid}), "t.xlsx")
    assert [(p["rule"], p["severity"], p["value"]) for p in pf.problems] == [
        ("column.unit_converted", "warning", "元")]
    assert pf.tables["report"]["microcredit_wan"].tolist() == [1.5, 1.5]
    assert pf.totals["report"]["microcredit_wan"].tolist() == [3.0]
    assert pf.raw["report"]["microcredit_wan"].tolist() == ["15000", "15000"]


def test_template_without_data_rows():
    grid = c_grid([])
    pf = parse_file(xlsx_bytes({"S": grid}), "t.xlsx")
    assert pf.form == "C" and len(pf.tables["report"]) == 0
    assert "file.no_rows" in [p["rule"] for p in pf.problems]


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_mangled_files_never_raise(data):
    blob = (EXAMPLES / data.draw(st.sampled_from([LEDGER, VILLAGE, TOWNSHIP]))).read_bytes()
    cut = data.draw(st.integers(0, len(blob)))
    flips = data.draw(st.lists(st.tuples(st.integers(0, max(cut - 1, 0)), st.integers(0, 255)),
                               max_size=5))
    b = bytearray(blob[:cut])
    for pos, val in flips:
        if pos < len(b):
            b[pos] = val
    pf = parse_file(bytes(b), "x")
    assert isinstance(pf.problems, list)
    assert all(set(p) == set(FINDING_COLUMNS) for p in pf.problems)
    if pf.form is None:
        assert len(pf.problems) == 1 and pf.problems[0]["row"] == 0
    else:
        for t, df in pf.tables.items():
            assert list(df.columns)[-2:] == ["source_sheet", "source_row"]


def test_blank_rows_inside_the_data_and_total_in_name_column():
    rows = c_rows(3)
    grid = c_grid(rows)
    grid[6][0], grid[6][1] = None, "合计"      # 合计 written in the 村名 column
    grid.insert(4, [None] * 18)                # a blank line between two villages
    pf = parse_file(csv_bytes(grid, "gbk"), "t.csv")
    assert pf.form == "C" and pf.problems == []
    assert pf.tables["report"]["source_row"].tolist() == [4, 6, 7]
    assert pf.totals["report"]["source_row"].tolist() == [8]
    assert pf.totals["report"]["hh_open"].tolist() == [30]


def test_a_footer_line_inside_the_table_does_not_end_it():
    """A 填表人 line between villages (a part pasted under the first part's footer): the rows
    under it are still data; the real footer under the 合计 still ends the table."""
    grid = c_grid(c_rows(3))
    grid.insert(4, ["填表人：张三", None, "专职副书记：钱振华"])
    pf = parse_file(csv_bytes(grid, "gbk"), "t.csv")
    assert pf.form == "C" and pf.problems == []
    assert pf.tables["report"]["source_row"].tolist() == [4, 6, 7]
    assert pf.totals["report"]["source_row"].tolist() == [8]


def test_header_labels_in_their_own_cells():
    grid = b_grid(B_ROW)
    grid[1] = ["填报单位", "西华县逍遥镇焦东村", None, "行政区划代码", 411622107201.0, None, "填报周次",
               "２０２６年第４７周"]
    pf = parse_file(xlsx_bytes({"S": grid}), "b.xlsx")
    assert pf.form == "B" and pf.problems == []
    assert (pf.unit_code, pf.unit_name, pf.week) == ("411622107201", "西华县逍遥镇焦东村", "2026-W47")
    assert pf.header["raw"]["行政区划代码"] == "411622107201"


def test_join_columns_is_concat_of_the_files_frames(ledger, village):
    """process_group joins many files' tables column by column: the same frame (values,
    dtypes, order) as concatenating each file's frame, for every kind of column."""
    from pipelines.ingest.frames import Columns
    from pipelines.ingest.parse import join_columns

    other = _parse_example(LEDGER)
    for table in ("plan", "measures", "helpers"):
        parts = [ledger.parts[table], other.parts[table]]
        typed, raw = join_columns(parts)
        pd.testing.assert_frame_equal(typed, pd.concat([ledger.tables[table], other.tables[table]], ignore_index=True))
        pd.testing.assert_frame_equal(raw, pd.concat([ledger.raw[table], other.raw[table]], ignore_index=True))
        assert len(typed) == 2 * len(ledger.tables[table]) > 0
    part = village.parts["report"]
    # A column of another kind in one part (not something _convert makes): pandas aligns it.
    odd = Columns(part.key, {**part.typed, "source_row": part.typed["source_row"].astype("float64")}, part.raw, part.n)
    typed, _raw = join_columns([part, odd])
    assert typed["source_row"].dtype == "float64" and len(typed) == 2 * part.n
    assert typed["source_row"].tolist() == part.typed["source_row"].tolist() * 2
