import pandas as pd

from pipelines.consolidate import reconcile as R


def _rows(**cols):
    base = {"unit_code": ["X"], "submission_id": ["s1"], "source_row": [5], "source_sheet": ["Sheet1"]}
    base.update({k: [v] for k, v in cols.items()})
    return pd.DataFrame(base)


def test_compare_reports_over_and_under_with_amounts():
    rep = pd.DataFrame({"unit_code": ["A", "B", "C"], "hh_close": [10, 7, 5], "microcredit_wan": [1.0, 2.0, 3.004],
                        "submission_id": "s", "source_row": [3, 4, 5], "source_sheet": ""})
    ref = pd.DataFrame({"unit_code": ["A", "B", "C"], "hh_close": [8, 7, 6], "microcredit_wan": [1.0, 2.5, 3.0]})
    d = R.compare(rep, ref, "unit_code", ["hh_close", "microcredit_wan"], rule="r", level="村", week="2026-W47",
                  tol_count=0, tol_money=0.01)
    got = {(r.unit_code, r.metric): (r.difference, r.direction) for r in d.itertuples()}
    assert got == {("A", "hh_close"): (2, "虚报"), ("C", "hh_close"): (-1, "漏报"), ("B", "microcredit_wan"): (-0.5, "漏报")}


def test_balance_flags_households_and_people_separately():
    row = _rows(hh_open=38, hh_new=1, hh_return=0, hh_exit=2, hh_cancel=0, hh_close=37,
                pp_open=126, pp_new=4, pp_return=0, pp_exit=7, pp_cancel=0, pp_close=124)
    d = R.balance(row, "unit_code", "村", "2026-W47", 0)
    assert list(d["metric"]) == ["pp_close"] and d["difference"].iloc[0] == 1 and d["consolidated"].iloc[0] == 123


def test_continuity_against_last_week():
    cur = _rows(hh_open=38, pp_open=126)
    prev = pd.DataFrame({"unit_code": ["X"], "hh_close": [39], "pp_close": [126]})
    d = R.continuity(cur, prev, "unit_code", "村", "2026-W47", 0)
    assert list(d["metric"]) == ["hh_open"] and d["difference"].iloc[0] == -1 and d["direction"].iloc[0] == "不连续"
