"""Validation rules (pipelines.ingest.validate): each rule on hand-built, parser-shaped
frames, the committed GX suites, the file context and Data Docs."""
from __future__ import annotations

import json
import random
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from stdnum.cn import ric

from pipelines import forms
from pipelines.findings import ERROR, FINDING_COLUMNS, WARNING
from pipelines.ingest import rules as R
from pipelines.ingest.validate import (
    ValidationResult,
    duplicate_ids,
    get_runtime,
    validate_tables,
)
from pipelines.settings import get_settings

REPO = Path(__file__).resolve().parents[2]

# ==== builders: frames shaped like the parser's output =========================================

WEEK = "2026-W47"
COUNTY = "411622"
TOWNSHIP = "411622101"
VILLAGE = "411622101201"
FIRST_ROW = 5  # source_row of the first data row (title rows above)

_STR = pd.StringDtype("python")  # what the parser emits (pipelines.ingest.values.STRING_DTYPE)
_DTYPES = {"str": _STR, "code": _STR, "id18": _STR, "yesno": _STR,
           "int": "Int64", "float": "Float64", "date": "datetime64[ns]"}


def id_number(seq: int, birth: str = "19720915", region: str = COUNTY) -> str:
    """A valid 18-character resident ID (GB 11643)."""
    base = f"{region}{birth}{seq % 1000:03d}"
    return base + ric.calc_check_digit(base + "0")


def _raw_text(v) -> str:
    if v is None or v is pd.NA or v is pd.NaT:
        return ""
    if isinstance(v, float):
        return str(int(v)) if v == int(v) else str(v)
    if isinstance(v, pd.Timestamp):
        return v.strftime("%Y-%m-%d")
    return str(v)


def frame(form: str, key: str, rows: list[dict], *, unit_code: str, first_row: int = FIRST_ROW,
          file: str | None = None, raw_overrides: dict | None = None):
    """(typed frame, raw frame) for `rows` (dicts of canonical values), parser-shaped."""
    spec = forms.TABLES[(form, key)]
    data = {}
    for c in spec:
        vals = [r.get(c.name) for r in rows]
        if c.dtype == "date":
            data[c.name] = pd.to_datetime(pd.Series(vals, dtype=object)).astype("datetime64[ns]")
        else:
            data[c.name] = pd.array(vals, dtype=_DTYPES[c.dtype])
    df = pd.DataFrame(data)
    df["submission_id"] = [r.get("submission_id", f"sub-{r.get('_unit', unit_code)}") for r in rows]
    df["file"] = [r.get("file", file or f"{WEEK}/{r.get('_unit', unit_code)}.xlsx") for r in rows]
    df["source_sheet"] = forms.LEDGER_SHEETS.get(key, "Sheet1")
    df["source_row"] = pd.array([r.get("source_row", first_row + i) for i, r in enumerate(rows)],
                                dtype="int64")
    df["unit_code"] = [r.get("_unit", unit_code) for r in rows]
    df["week"] = WEEK
    df["level"] = forms.FORM_LEVEL[form]
    for c in ("submission_id", "file", "source_sheet", "unit_code", "week", "level"):
        df[c] = df[c].astype(str)
    raw = pd.DataFrame({c.name: [_raw_text(r.get(c.name)) for r in rows] for c in spec},
                       dtype=object)
    for (i, col), text in (raw_overrides or {}).items():
        raw.loc[i, col] = text
    return df, raw


# ---- Form A -------------------------------------------------------------------------------
def household(i: int, **kw) -> dict:
    row = {
        "household_id": f"{VILLAGE}{i:04d}", "head_name": f"户主{i}", "id_number": id_number(i),
        "household_size": 3, "poverty_type": "一般贫困户", "main_cause": "因病",
        "identified_year": 2016, "planned_exit_year": 2027, "state": "贫困", "week_change": "无",
        "income_per_capita_yuan": 2500.0, "food_secure": "是", "clothing_secure": "是",
        "education_secure": "是", "medical_secure": "是", "housing_secure": "是",
        "progress_note": "正常推进",
    }
    row.update(kw)
    return row


def measure(i: int, **kw) -> dict:
    row = {"household_id": f"{VILLAGE}{i:04d}", "measure_category": "产业扶贫",
           "measure_content": "养殖", "measure_funds_yuan": 5000.0,
           "measure_date": pd.Timestamp("2026-11-10"), "measure_status": "实施中"}
    row.update(kw)
    return row


def helper(i: int, **kw) -> dict:
    row = {"household_id": f"{VILLAGE}{i:04d}", "helper_name": f"干部{i}",
           "helper_org": "西华县财政局", "helper_org_level": "县直",
           "helper_phone": f"1390394{i:04d}", "paired_date": pd.Timestamp("2026-03-01")}
    row.update(kw)
    return row


def ledger(plan_rows, measure_rows=None, helper_rows=None, *, unit_code=VILLAGE, raw_overrides=None):
    """tables, raw for Form A; measures/helpers default to one per household."""
    n = len(plan_rows)
    if measure_rows is None:
        measure_rows = [measure(i + 1, household_id=r["household_id"]) for i, r in enumerate(plan_rows)]
    if helper_rows is None:
        helper_rows = [helper(i + 1, household_id=r["household_id"]) for i, r in enumerate(plan_rows)]
    tables, raws = {}, {}
    for key, rows in (("plan", plan_rows), ("measures", measure_rows), ("helpers", helper_rows)):
        ov = (raw_overrides or {}).get(key)
        tables[key], raws[key] = frame("A", key, rows, unit_code=unit_code, raw_overrides=ov)
    assert len(tables["plan"]) == n
    return tables, raws


def prev_plan_of(plan_rows, **states) -> pd.DataFrame:
    """Last week's (household_id, state); states: {household_id: state} overrides;
    a state of None drops the household."""
    rows = [(r["household_id"], states.get(r["household_id"], r["state"])) for r in plan_rows]
    rows = [(h, s) for h, s in rows if s is not None]
    return pd.DataFrame(rows, columns=["household_id", "state"]).astype("string")


# ---- Forms B/C/D -----------------------------------------------------------------------------
def flows(scale: int = 1, **kw) -> dict:
    """Balanced stock-and-flow figures (households and people)."""
    row = {"hh_open": 100 * scale, "hh_new": 2 * scale, "hh_return": 1 * scale,
           "hh_exit": 5 * scale, "hh_cancel": 1 * scale, "hh_close": 97 * scale,
           "pp_open": 330 * scale, "pp_new": 6 * scale, "pp_return": 3 * scale,
           "pp_exit": 15 * scale, "pp_cancel": 2 * scale, "pp_close": 322 * scale}
    row.update(kw)
    return row


def village_report(**kw) -> dict:
    row = {"is_poor_village": "是", "first_secretary": "张三", "work_team_size": 3, **flows(),
           "funds_to_village_wan": 12.5, "microcredit_wan": 30.0, "base_driven_hh": 10,
           "training_persons": 25}
    row.update(kw)
    return row


def township_row(j: int, **kw) -> dict:
    row = {"village_code": f"{TOWNSHIP}{200 + j:03d}", "village_name": f"村{j}",
           "is_poor_village": "是", **flows(j), "microcredit_wan": 10.25 * j,
           "training_sessions": j, "training_persons": 20 * j}
    row.update(kw)
    return row


def county_row(j: int, **kw) -> dict:
    row = {"township_code": f"{COUNTY}{100 + j:03d}", "township_name": f"镇{j}",
           "poor_village_count": 3 * j, **flows(j), "microcredit_wan": 100.5 * j,
           "demo_bases_cum": j, "base_driven_hh": 50 * j, "base_driven_pp": 160 * j,
           "fiscal_funds_wan": 80.0 * j, "team_members": 9 * j, "inspections": j}
    row.update(kw)
    return row


def total_of(form: str, rows: list[dict], **kw) -> dict:
    spec = forms.TABLES[(form, "report")]
    tot = {c.name: sum(r[c.name] for r in rows) for c in spec if c.dtype in ("int", "float")}
    tot.update(kw)
    return tot


# ==== helpers ======================================================================================
@pytest.fixture(autouse=True)
def _home(home):
    """Every test runs with a temporary HUIZONG_HOME (conftest's `home` fixture)."""
    return home


def households(n: int = 4) -> list[dict]:
    return [household(i) for i in range(1, n + 1)]


_SAME = object()


def run_a(plan_rows, measure_rows=None, helper_rows=None, *, prev=_SAME, raw_overrides=None,
          **kw) -> ValidationResult:
    tables, raws = ledger(plan_rows, measure_rows, helper_rows, raw_overrides=raw_overrides)
    prev_plan = prev_plan_of(plan_rows) if prev is _SAME else prev
    return validate_tables("A", tables, raws, prev_plan=prev_plan, **kw)


def sheet_findings(res: ValidationResult, sheet: str) -> pd.DataFrame:
    return res.findings[res.findings["sheet"] == sheet]


def assert_single(found: pd.DataFrame, rule: str, *, row: int, column: str, value: str,
                  severity: str, dimension: str, record_key: str | None = None) -> pd.Series:
    """`found` holds exactly one finding, of `rule`, pointing at row/column/value."""
    assert list(found["rule"]) == [rule], found[["row", "rule", "message"]].to_string()
    f = found.iloc[0]
    assert f["row"] == row
    assert f["column"] == column
    assert f["value"] == value
    assert f["severity"] == severity
    assert f["dimension"] == dimension
    assert f["dimension"] in forms.EIGHT_ACCURACIES
    assert f"第{row}行「{column}」" in f["message"]
    assert (value or "（空）") in f["message"]
    assert "请" in f["message"]
    if record_key is not None:
        assert f["record_key"] == record_key
    return f


HDR = {c.name: c.header for cols in forms.TABLES.values() for c in cols}
HID2 = f"{VILLAGE}0002"
ROW2 = FIRST_ROW + 1  # household 2 is the second data row


# ==== clean frames ===================================================================================
def test_clean_ledger_has_no_findings():
    plan = households(4)
    plan[3].update(state="已脱贫", week_change="无", income_per_capita_yuan=5200.0)
    res = run_a(plan)
    assert res.findings.empty, res.findings["message"].tolist()
    assert list(res.findings.columns) == list(FINDING_COLUMNS)
    assert {k: len(v) for k, v in res.error_rows.items()} == {"plan": 0, "measures": 0, "helpers": 0}
    assert len(res.gx_results) == 3 and all(r.success for r in res.gx_results)


def test_clean_ledger_with_valid_changes_has_no_findings():
    plan = households(5)
    plan[0].update(week_change="新识别")
    plan[1].update(week_change="脱贫", state="已脱贫", income_per_capita_yuan=3000.0)
    plan[2].update(week_change="返贫")
    plan[3].update(week_change="注销", state="注销")
    prev = prev_plan_of(plan, **{plan[0]["household_id"]: None, plan[1]["household_id"]: "贫困",
                                 plan[2]["household_id"]: "已脱贫", plan[3]["household_id"]: "贫困"})
    # an exited household needs neither a measure nor a helper
    res = run_a(plan, prev=prev)
    assert res.findings.empty, res.findings["message"].tolist()


def test_clean_reports_have_no_findings():
    b, braw = frame("B", "report", [village_report()], unit_code=VILLAGE)
    res = validate_tables("B", {"report": b}, {"report": braw})
    assert res.findings.empty, res.findings["message"].tolist()
    for form, unit, maker in (("C", TOWNSHIP, township_row), ("D", COUNTY, county_row)):
        rows = [maker(j) for j in (1, 2, 3)]
        df, raw = frame(form, "report", rows, unit_code=unit)
        tot, _ = frame(form, "report", [total_of(form, rows)], unit_code=unit, first_row=20)
        res = validate_tables(form, {"report": df}, {"report": raw}, totals={"report": tot})
        assert res.findings.empty, res.findings["message"].tolist()
        assert len(res.error_rows["report"]) == 0


def test_continuity_ignores_unknown_last_week_state_and_missing_households():
    plan = households(3)
    plan[0].update(state="已脱贫")                      # 无, but last week's state was invalid
    plan[1].update(week_change="返贫")                  # not in last week's ledger at all
    prev = prev_plan_of(plan, **{plan[0]["household_id"]: "待核实", HID2: None})
    res = run_a(plan, prev=prev)
    assert res.findings.empty, res.findings["message"].tolist()
    res = run_a(plan, prev=None)  # no previous week: continuity rules do not apply
    assert res.findings.empty, res.findings["message"].tolist()


def test_unknown_submitting_unit_skips_the_prefix_checks():
    plan = households(2)
    tables, raws = ledger(plan, unit_code="")
    res = validate_tables("A", tables, raws)
    assert res.findings.empty, res.findings["message"].tolist()
    rows = [township_row(1)]
    df, raw = frame("C", "report", rows, unit_code="")
    assert validate_tables("C", {"report": df}, {"report": raw}).findings.empty


# ==== Form A plan: one rule at a time ===============================================================
BAD_CHECK = id_number(2)[:-1] + ("0" if id_number(2)[-1] != "0" else "1")
BAD_BIRTH = "41162219721332001" + ric.calc_check_digit("41162219721332001" + "0")

PLAN_CASES = [
    # (rule, changes to household 2, prev-week state of household 2 ("keep" = unchanged),
    #  column, value, severity, dimension)
    ("household_id.format", {"household_id": f"{VILLAGE}02"}, "keep",
     "household_id", f"{VILLAGE}02", ERROR, "identification"),
    ("household_id.village", {"household_id": "4116221012990002"}, "keep",
     "household_id", "4116221012990002", ERROR, "identification"),
    ("household_id.missing", {"household_id": None}, "keep", "household_id", "", ERROR,
     "identification"),
    ("id_number.format", {"id_number": id_number(2)[:17]}, "keep", "id_number",
     id_number(2)[:17], ERROR, "identification"),
    ("id_number.checksum", {"id_number": BAD_CHECK}, "keep", "id_number", BAD_CHECK, ERROR,
     "identification"),
    ("id_number.birth_date", {"id_number": BAD_BIRTH}, "keep", "id_number", BAD_BIRTH, ERROR,
     "identification"),
    ("household_size.range", {"household_size": 21}, "keep", "household_size", "21", ERROR,
     "household"),
    ("household_size.range", {"household_size": 0}, "keep", "household_size", "0", ERROR,
     "household"),
    ("poverty_type.enum", {"poverty_type": "贫困户"}, "keep", "poverty_type", "贫困户", ERROR,
     "household"),
    ("main_cause.enum", {"main_cause": "因懒"}, "keep", "main_cause", "因懒", ERROR, "cause"),
    ("state.enum", {"state": "脱贫中"}, "keep", "state", "脱贫中", ERROR, "entry_exit"),
    ("state.missing", {"state": None}, "keep", "state", "", ERROR, "entry_exit"),
    ("week_change.enum", {"week_change": "变化"}, "keep", "week_change", "变化", ERROR, "dynamics"),
    ("week_change.missing", {"week_change": None}, "keep", "week_change", "", ERROR, "dynamics"),
    ("years.order", {"identified_year": 2018, "planned_exit_year": 2017}, "keep",
     "planned_exit_year", "2017", ERROR, "measures"),
    ("identified_year.plausible", {"identified_year": 2027, "planned_exit_year": 2027}, "keep",
     "identified_year", "2027", WARNING, "identification"),
    ("identified_year.plausible", {"identified_year": 1970}, "keep",
     "identified_year", "1970", WARNING, "identification"),
    ("planned_exit_year.plausible", {"planned_exit_year": 2040}, "keep",
     "planned_exit_year", "2040", WARNING, "measures"),
    ("week_change.state", {"week_change": "新识别", "state": "已脱贫"}, None,
     "state", "已脱贫", ERROR, "entry_exit"),
    ("week_change.state", {"week_change": "注销", "state": "贫困"}, "keep",
     "state", "贫困", ERROR, "entry_exit"),
    ("week_change.unrecorded", {}, "已脱贫", "week_change", "无", ERROR, "dynamics"),
    ("week_change.new_existing", {"week_change": "新识别"}, "keep", "week_change", "新识别",
     ERROR, "dynamics"),
    ("week_change.prev_state", {"week_change": "返贫"}, "keep", "week_change", "返贫", ERROR,
     "dynamics"),
    ("week_change.prev_state", {"week_change": "脱贫", "state": "已脱贫",
                                "income_per_capita_yuan": 4000.0}, "注销",
     "week_change", "脱贫", ERROR, "dynamics"),
    ("exit.income", {"week_change": "脱贫", "state": "已脱贫", "income_per_capita_yuan": 2999.5},
     "贫困", "income_per_capita_yuan", "2999.5", ERROR, "entry_exit"),
    ("exit.income", {"week_change": "脱贫", "state": "已脱贫", "income_per_capita_yuan": None},
     "贫困", "income_per_capita_yuan", "", ERROR, "entry_exit"),
    ("exit.security", {"week_change": "脱贫", "state": "已脱贫", "income_per_capita_yuan": 3500.0,
                       "clothing_secure": "否"}, "贫困", "clothing_secure", "否", ERROR,
     "entry_exit"),
    ("exit.security", {"week_change": "脱贫", "state": "已脱贫", "income_per_capita_yuan": 3500.0,
                       "housing_secure": None}, "贫困", "housing_secure", "", ERROR,
     "entry_exit"),
]


@pytest.mark.parametrize("rule,changes,prev_state,column,value,severity,dimension", PLAN_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(PLAN_CASES)])
def test_plan_rule(rule, changes, prev_state, column, value, severity, dimension):
    plan = households(4)
    original_id = plan[1]["household_id"]
    plan[1].update(changes)
    prev = prev_plan_of(plan)
    prev.loc[1, "household_id"] = original_id
    if prev_state is None:
        prev = prev.drop(index=1)
    elif prev_state != "keep":
        prev.loc[1, "state"] = prev_state
    res = run_a(plan, prev=prev)
    found = sheet_findings(res, forms.SHEET_PLAN)
    f = assert_single(found, rule, row=ROW2, column=HDR[column], value=value, severity=severity,
                      dimension=dimension)
    if plan[1]["household_id"]:
        assert f["record_key"] == plan[1]["household_id"]
    assert f["unit_code"] == VILLAGE and f["week"] == WEEK and f["level"] == "村"
    assert f["file"] == f"{WEEK}/{VILLAGE}.xlsx" and f["submission_id"] == f"sub-{VILLAGE}"
    expected_errors = [1] if severity == ERROR else []
    assert list(res.error_rows["plan"]) == expected_errors


def test_checksum_message_names_the_expected_check_character():
    plan = households(3)
    good = id_number(7, birth="19720915")
    wrong = good[:-1] + ("X" if good[-1] != "X" else "0")
    plan[1]["id_number"] = wrong
    res = run_a(plan)
    f = assert_single(sheet_findings(res, forms.SHEET_PLAN), "id_number.checksum", row=ROW2,
                      column="户主身份证号", value=wrong, severity=ERROR, dimension="identification")
    assert f["message"] == (f"第{ROW2}行「户主身份证号」为 {wrong}：校验位错误（应为 {good[-1]}），"
                            f"请核对身份证号")


def test_x_check_character_is_accepted_in_either_case():
    base = "41162219720915524"
    assert ric.calc_check_digit(base + "0") == "X"
    other = "41162219800101001"
    assert ric.calc_check_digit(other + "0") != "X"
    base2 = next(b for b in (f"4116221980010100{d}" for d in range(10))
                 if ric.calc_check_digit(b + "0") == "X")
    plan = households(3)
    plan[0]["id_number"] = base + "X"
    plan[1]["id_number"] = base2 + "x"  # lower-case x as typed
    res = run_a(plan)
    assert res.findings.empty, res.findings["message"].tolist()
    plan[2]["id_number"] = base[:-1] + "5X"  # X where the check character is a digit
    res = run_a(plan)
    assert list(res.findings["rule"]) == ["id_number.checksum"]
    assert res.findings["row"].tolist() == [FIRST_ROW + 2]


def test_vectorised_id_checks_agree_with_stdnum():
    rng = random.Random(7)
    ids = []
    for i in range(300):
        birth = f"{rng.randint(1930, 2010)}{rng.randint(1, 13):02d}{rng.randint(1, 31):02d}"
        base = f"411622{birth}{rng.randint(0, 999):03d}"
        check = rng.choice([ric.calc_check_digit(base + "0"), str(rng.randint(0, 9)), "X"])
        ids.append(base + check)
    plan = [household(i + 1, id_number=n, household_id=f"{VILLAGE}{i + 1:04d}")
            for i, n in enumerate(ids)]
    res = run_a(plan)
    found = sheet_findings(res, forms.SHEET_PLAN)
    flagged = set(found.loc[found["rule"].isin(["id_number.checksum", "id_number.birth_date"]),
                            "value"])
    dup = set(found.loc[found["rule"] == "id_number.duplicate", "value"])

    def stdnum_bad(n):
        try:
            ric.get_birth_date(n)
        except Exception:
            return True
        return n[-1] != ric.calc_check_digit(n)

    expected = {n for n in ids if stdnum_bad(n)}
    assert expected and len(expected) < len(ids)
    assert flagged == expected
    assert set(found["rule"]) <= {"id_number.checksum", "id_number.birth_date",
                                  "id_number.duplicate"}
    assert dup == {n for n in ids if ids.count(n) > 1}


def test_duplicate_household_id_flags_both_rows():
    plan = households(4)
    plan[2]["household_id"] = plan[1]["household_id"]
    tables, raws = ledger(plan)
    tables["plan"].index = pd.Index([100, 101, 102, 103])
    raws["plan"].index = tables["plan"].index
    res = validate_tables("A", tables, raws, prev_plan=None)
    found = sheet_findings(res, forms.SHEET_PLAN)
    assert list(found["rule"]) == ["household_id.duplicate"] * 2
    assert list(found["row"]) == [ROW2, ROW2 + 1]
    assert set(found["value"]) == {HID2}
    assert f"另见第{ROW2 + 1}行" in found.iloc[0]["message"]
    assert f"另见第{ROW2}行" in found.iloc[1]["message"]
    assert list(res.error_rows["plan"]) == [101, 102]


def test_duplicate_id_number_across_households_and_duplicate_ids_function():
    plan = households(4)
    plan[3]["id_number"] = plan[1]["id_number"]
    res = run_a(plan)
    found = sheet_findings(res, forms.SHEET_PLAN)
    assert list(found["rule"]) == ["id_number.duplicate"] * 2
    assert list(found["row"]) == [ROW2, ROW2 + 2]
    assert set(found["dimension"]) == {"identification"} and set(found["severity"]) == {ERROR}
    assert f"户编号 {VILLAGE}0004" in found.iloc[0]["message"]
    assert list(res.error_rows["plan"]) == [1, 3]

    # city-wide: the same person registered in another county's village
    other, _ = frame("A", "plan", [household(9, household_id="4116230012010009",
                                             id_number=plan[0]["id_number"])],
                     unit_code="411623001201", file="2026-W47/商水县.xlsx")
    mine, _ = frame("A", "plan", plan, unit_code=VILLAGE)
    city = pd.concat([mine, other], ignore_index=True)
    every = duplicate_ids(city)
    assert list(every.columns) == list(FINDING_COLUMNS)
    assert sorted(every["record_key"]) == sorted([f"{VILLAGE}0001", f"{VILLAGE}0002",
                                                 f"{VILLAGE}0004", "4116230012010009"])
    across = duplicate_ids(city, cross_county_only=True)
    assert sorted(across["record_key"]) == [f"{VILLAGE}0001", "4116230012010009"]
    assert set(across["rule"]) == {"id_number.duplicate"}
    assert "商水县.xlsx" in across.loc[across["record_key"] == f"{VILLAGE}0001", "message"].iat[0]


def test_poor_household_without_measure_or_helper():
    plan = households(4)
    measures = [measure(i) for i in (1, 3, 4)]
    helpers = [helper(i) for i in (1, 2, 4)]
    plan[3]["state"] = "已脱贫"
    measures = [measure(i) for i in (1, 3)]  # household 4 has exited: no measure needed
    res = run_a(plan, measures, helpers)
    found = sheet_findings(res, forms.SHEET_PLAN)
    assert sorted(zip(found["rule"], found["row"])) == [("helpers.missing", ROW2 + 1),
                                                       ("measures.missing", ROW2)]
    m = found[found["rule"] == "measures.missing"].iloc[0]
    assert (m["severity"], m["dimension"], m["column"], m["value"], m["record_key"]) == \
        (ERROR, "measures", "户编号", HID2, HID2)
    h = found[found["rule"] == "helpers.missing"].iloc[0]
    assert (h["severity"], h["dimension"]) == (ERROR, "policy")
    assert list(res.error_rows["plan"]) == [1, 2]


def test_a_file_whose_helper_sheet_was_not_read_gets_no_helper_finding_per_household():
    """Checked with another village's ledger, a ledger whose 帮扶责任账 was not read (a
    missing column: that sheet's own finding) gets no 没有帮扶责任人 per household; a
    ledger whose sheet was read and lists no helper for a poor household still does."""
    other = "411622107202"
    plan = households(2) + [household(i, household_id=f"{other}{i:04d}", _unit=other) for i in (3, 4)]
    measures = [measure(1, household_id=r["household_id"], _unit=r.get("_unit", VILLAGE)) for r in plan]
    tables, raws = ledger(plan, measures, [helper(1)])
    res = validate_tables("A", tables, raws, prev_plan=prev_plan_of(plan), unread={"helpers": [f"sub-{other}"]})
    found = sheet_findings(res, forms.SHEET_PLAN)
    assert found[["rule", "record_key"]].values.tolist() == [["helpers.missing", HID2]]
    read = validate_tables("A", tables, raws, prev_plan=prev_plan_of(plan))
    assert sorted(sheet_findings(read, forms.SHEET_PLAN)["record_key"]) == [HID2, f"{other}0003", f"{other}0004"]


# ==== Form A measures and helpers ====================================================================
SHEET_CASES = [
    ("measures", "measure_category.enum", {"measure_category": "送温暖"}, "measure_category",
     "送温暖", ERROR, "measures"),
    ("measures", "measure_status.enum", {"measure_status": "完成"}, "measure_status", "完成",
     ERROR, "measures"),
    ("measures", "measure_funds_yuan.negative", {"measure_funds_yuan": -100.0},
     "measure_funds_yuan", "-100", ERROR, "measures"),
    ("measures", "measure_date.future", {"measure_date": pd.Timestamp("2026-11-23")},
     "measure_date", "2026-11-23", WARNING, "ledger"),
    ("measures", "household_id.unknown", {"household_id": f"{VILLAGE}0099"}, "household_id",
     f"{VILLAGE}0099", WARNING, "ledger"),
    ("measures", "household_id.format", {"household_id": "4116221012010002.0"}, "household_id",
     "4116221012010002.0", ERROR, "identification"),
    ("helpers", "helper_org_level.enum", {"helper_org_level": "区直"}, "helper_org_level", "区直",
     ERROR, "policy"),
    ("helpers", "helper_phone.format", {"helper_phone": "0394-1234567"}, "helper_phone",
     "0394-1234567", WARNING, "policy"),
    ("helpers", "helper_phone.format", {"helper_phone": "1390394000"}, "helper_phone",
     "1390394000", WARNING, "policy"),
    ("helpers", "paired_date.future", {"paired_date": pd.Timestamp("2026-12-01")}, "paired_date",
     "2026-12-01", WARNING, "ledger"),
    ("helpers", "household_id.village", {"household_id": "4116221012020002"}, "household_id",
     "4116221012020002", ERROR, "identification"),
]


@pytest.mark.parametrize("key,rule,changes,column,value,severity,dimension", SHEET_CASES,
                         ids=[f"{c[0]}-{c[1]}-{i}" for i, c in enumerate(SHEET_CASES)])
def test_sheet_rule(key, rule, changes, column, value, severity, dimension):
    plan = households(3)
    measures = [measure(i) for i in (1, 2, 3)] + [measure(2, measure_category="技能培训")]
    helpers = [helper(i) for i in (1, 2, 3)] + [helper(2, helper_name="第二帮扶人")]
    rows = measures if key == "measures" else helpers
    rows[3].update(changes)  # the household keeps its other measure/helper
    res = run_a(plan, measures, helpers)
    sheet = forms.LEDGER_SHEETS[key]
    found = sheet_findings(res, sheet)
    assert_single(found, rule, row=FIRST_ROW + 3, column=HDR[column], value=value,
                  severity=severity, dimension=dimension)
    assert res.findings["sheet"].eq(sheet).all(), res.findings["message"].tolist()
    assert list(res.error_rows[key]) == ([3] if severity == ERROR else [])
    assert len(res.error_rows["plan"]) == 0


# ==== Forms B/C/D ===================================================================================
REPORT_CASES = [
    ("balance.households", {"hh_close": 98}, "hh_close", "98", ERROR, "ledger"),
    ("balance.people", {"pp_close": 300}, "pp_close", "300", ERROR, "ledger"),
    ("count.negative", {"training_persons": -1}, "training_persons", "-1", ERROR, "ledger"),
    ("money.negative", {"microcredit_wan": -1.5}, "microcredit_wan", "-1.5", ERROR, "ledger"),
    ("people.lt_households", {"pp_new": 1, "pp_close": 317}, "pp_new", "1", WARNING, "household"),
]


@pytest.mark.parametrize("rule,changes,column,value,severity,dimension", REPORT_CASES,
                         ids=[c[0] for c in REPORT_CASES])
def test_village_report_rule(rule, changes, column, value, severity, dimension):
    # two villages' files: the second one is wrong
    rows = [village_report(), village_report(**changes, _unit="411622101202", source_row=FIRST_ROW)]
    df, raw = frame("B", "report", rows, unit_code=VILLAGE)
    res = validate_tables("B", {"report": df}, {"report": raw})
    f = assert_single(res.findings, rule, row=FIRST_ROW, column=HDR[column], value=value,
                      severity=severity, dimension=dimension, record_key="411622101202")
    assert f["file"] == f"{WEEK}/411622101202.xlsx"
    assert list(res.error_rows["report"]) == ([1] if severity == ERROR else [])


def test_balance_message_gives_both_sides():
    df, raw = frame("B", "report", [village_report(hh_close=98)], unit_code=VILLAGE)
    res = validate_tables("B", {"report": df}, {"report": raw})
    msg = res.findings["message"].iat[0]
    assert msg == ("第5行「期末贫困户数」为 98：期末户数应等于 期初 100 + 新识别 2 + 返贫 1 − 脱贫 5 − "
                   "注销 1 = 97，实填 98（相差 1），请核对期初、本周变动和期末户数")


def test_balance_respects_count_tolerance(monkeypatch):
    df, raw = frame("B", "report", [village_report(hh_close=98)], unit_code=VILLAGE)
    monkeypatch.setenv("HUIZONG_TOLERANCE_COUNT", "1")
    assert validate_tables("B", {"report": df}, {"report": raw}).findings.empty
    monkeypatch.setenv("HUIZONG_TOLERANCE_COUNT", "0")
    assert list(validate_tables("B", {"report": df}, {"report": raw}).findings["rule"]) == \
        ["balance.households"]


CODE_CASES = [
    ("C", TOWNSHIP, township_row, "village_code", "village_code.format", "41162210120"),
    ("C", TOWNSHIP, township_row, "village_code", "village_code.township", "411622102201"),
    ("C", TOWNSHIP, township_row, "village_code", "village_code.missing", None),
    ("D", COUNTY, county_row, "township_code", "township_code.format", "4116221O1"),
    ("D", COUNTY, county_row, "township_code", "township_code.county", "411623101"),
]


@pytest.mark.parametrize("form,unit,maker,col,rule,code", CODE_CASES,
                         ids=[c[4] for c in CODE_CASES])
def test_report_code_rule(form, unit, maker, col, rule, code):
    rows = [maker(j) for j in (1, 2, 3)]
    rows[1][col] = code
    df, raw = frame(form, "report", rows, unit_code=unit)
    tot, _ = frame(form, "report", [total_of(form, rows)], unit_code=unit, first_row=20)
    res = validate_tables(form, {"report": df}, {"report": raw}, totals={"report": tot})
    assert_single(res.findings, rule, row=FIRST_ROW + 1, column=HDR[col], value=code or "",
                  severity=ERROR, dimension="identification")
    assert list(res.error_rows["report"]) == [1]


@pytest.mark.parametrize("form,unit,maker,col", [("C", TOWNSHIP, township_row, "village_code"),
                                                 ("D", COUNTY, county_row, "township_code")])
def test_duplicate_code_within_a_file(form, unit, maker, col):
    rows = [maker(j) for j in (1, 2, 3)]
    rows[2][col] = rows[0][col]
    other = [maker(1, file="other.xlsx")]  # the same code in another file is fine
    df, raw = frame(form, "report", rows + other, unit_code=unit)
    res = validate_tables(form, {"report": df}, {"report": raw})
    assert list(res.findings["rule"]) == [f"{col}.duplicate"] * 2
    assert list(res.findings["row"]) == [FIRST_ROW, FIRST_ROW + 2]
    assert set(res.findings["record_key"]) == {rows[0][col]}
    assert list(res.error_rows["report"]) == [0, 2]


@pytest.mark.parametrize("form,unit,maker", [("C", TOWNSHIP, township_row),
                                             ("D", COUNTY, county_row)])
def test_total_row_equals_sum_of_rows(form, unit, maker):
    rows = [maker(j) for j in (1, 2, 3)]
    df, raw = frame(form, "report", rows, unit_code=unit)
    sums = total_of(form, rows)
    total = dict(sums, hh_close=sums["hh_close"] + 2,
                 microcredit_wan=sums["microcredit_wan"] + 0.005)  # within 0.01 万元
    tot, _ = frame(form, "report", [total], unit_code=unit, first_row=20)
    res = validate_tables(form, {"report": df}, {"report": raw}, totals={"report": tot})
    found = res.findings
    assert list(found["rule"]) == ["total.mismatch"]
    f = found.iloc[0]
    assert (f["row"], f["column"], f["value"], f["severity"], f["dimension"]) == \
        (20, HDR["hh_close"], str(sums["hh_close"] + 2), ERROR, "ledger")
    assert f"与各行之和 {sums['hh_close']} 不符（相差 2）" in f["message"]
    assert len(res.error_rows["report"]) == 0  # the detail rows themselves still load

    total = dict(sums, microcredit_wan=sums["microcredit_wan"] + 0.5)
    tot, _ = frame(form, "report", [total], unit_code=unit, first_row=20)
    res = validate_tables(form, {"report": df}, {"report": raw}, totals={"report": tot})
    f = res.findings.iloc[0]
    assert list(res.findings["rule"]) == ["total.mismatch"]
    assert f["column"] == HDR["microcredit_wan"] and "相差 0.5万元" in f["message"]


# ==== error rows, GX suites, file context, Data Docs ===============================================
def test_error_rows_are_exactly_the_rows_with_errors():
    plan = households(5)
    plan[0]["household_size"] = 30                 # error
    plan[1]["planned_exit_year"] = 2045            # warning only
    plan[3]["main_cause"] = "其他"                  # error
    tables, raws = ledger(plan)
    labels = pd.Index(["a", "b", "c", "d", "e"])
    tables["plan"].index = raws["plan"].index = labels
    res = validate_tables("A", tables, raws)
    assert list(res.error_rows["plan"]) == ["a", "d"]
    assert sorted(res.findings["severity"]) == [ERROR, ERROR, WARNING]


def test_committed_suites_match_build_suites():
    files = R.build_suites(write=False)
    root = get_settings().gx_root
    assert root == REPO / "expectations"
    for rel, text in files.items():
        assert (root / rel).read_text(encoding="utf-8") == text, f"{rel} is stale: run python -m pipelines.ingest.rules"
    names = {json.loads(t)["name"] for r, t in files.items() if r.endswith(".json")}
    assert names == set({t.suite for t in forms.REGISTRY.values()})


def test_suites_load_by_name_from_the_file_context():
    rt = get_runtime()
    assert Path(rt.context.root_directory).resolve() != (REPO / "expectations" / "gx").resolve()
    for name, rules in R.suite_rules().items():
        suite = rt.context.suites.get(name)
        assert suite.name == name
        assert len(suite.expectations) == len(rules)
        metas = {(e.meta["rule"], e.meta["column"]) for e in suite.expectations}
        assert metas == {r.key for r in rules}
    types = {e.expectation_type for s in {t.suite for t in forms.REGISTRY.values()}
             for e in rt.context.suites.get(s).expectations}
    assert {"expect_column_values_to_be_in_set", "expect_column_values_to_be_between",
            "expect_column_values_to_match_regex", "expect_column_values_to_not_be_null",
            "expect_column_values_to_be_unique"} <= types


def test_settings_flow_into_suite_parameters(monkeypatch):
    plan = households(2)
    plan[1].update(week_change="脱贫", state="已脱贫", income_per_capita_yuan=3500.0)
    prev = prev_plan_of(plan, **{HID2: "贫困"})
    assert run_a(plan, prev=prev).findings.empty
    monkeypatch.setenv("HUIZONG_POVERTY_LINE_YUAN", "4000")
    res = run_a(plan, prev=prev)
    assert list(res.findings["rule"]) == ["exit.income"]
    assert "贫困线 4000 元" in res.findings["message"].iat[0]


def _git_status(path: Path) -> str:
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all", str(path)],
                          cwd=REPO, capture_output=True, text=True, check=True).stdout


def test_data_docs_are_built_and_repository_stays_clean(home):
    before = _git_status(REPO / "expectations")
    plan = households(3)
    plan[1]["household_size"] = 99
    res = run_a(plan, build_docs=True, run_id="test-run")
    assert list(res.findings["rule"]) == ["household_size.range"]
    docs = get_settings().data_docs_dir
    assert docs.is_relative_to(home)
    index = docs / "index.html"
    assert index.is_file()
    assert "form_a_plan" in index.read_text(encoding="utf-8")
    assert "offline.js" in index.read_text(encoding="utf-8") and "cdn.jsdelivr.net" not in index.read_text(encoding="utf-8")
    assert list((home / "gx" / "validations").rglob("*.json"))
    assert _git_status(REPO / "expectations") == before


def test_county_sized_call_is_fast():
    """~15k plan rows, 25k measures, 15k helpers validate in a few seconds."""
    n = 15000
    rng = np.random.default_rng(1)
    villages = [f"{TOWNSHIP[:6]}{100 + t:03d}{200 + v:03d}" for t in range(10) for v in range(30)]
    hid = [f"{villages[i % len(villages)]}{i // len(villages) + 1:04d}" for i in range(n)]
    rng.shuffle(hid)
    ids = [id_number(i, birth=f"{1940 + i % 60}{1 + (i // 60) % 12:02d}{1 + (i // 720) % 28:02d}")
           for i in range(n)]
    assert len(set(ids)) == n
    plan = pd.DataFrame([household(1)] * n)
    plan["household_id"], plan["id_number"] = hid, ids
    plan["source_row"] = np.arange(n) + 5
    plan_rows = plan.to_dict("records")
    m_rows = [measure(1, household_id=h) for h in hid] + \
        [measure(1, household_id=h) for h in hid[: 10000]]
    h_rows = [helper(1, household_id=h) for h in hid]
    tables, raws = {}, {}
    for key, rows in (("plan", plan_rows), ("measures", m_rows), ("helpers", h_rows)):
        units = [r["household_id"][:12] for r in rows]
        for r, u in zip(rows, units):
            r["_unit"] = u
        tables[key], raws[key] = frame("A", key, rows, unit_code="")
    validate_tables("A", {"plan": tables["plan"].head(10)}, {"plan": raws["plan"].head(10)})
    t0 = time.perf_counter()
    res = validate_tables("A", tables, raws, prev_plan=tables["plan"][["household_id", "state"]])
    elapsed = time.perf_counter() - t0
    assert res.findings.empty, res.findings["message"].head().tolist()
    assert elapsed < 20, elapsed
    print(f"county-sized validation: {elapsed:.2f}s")
