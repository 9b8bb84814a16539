"""parse_file on the shared examples (the acceptance expectations) and on built files."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from pipelines import forms
from pipelines.ingest.parse import parse_file

EXAMPLES = Path("/work/shared/examples")
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
