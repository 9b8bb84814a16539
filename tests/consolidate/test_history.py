import pandas as pd

from pipelines.consolidate.history import history_findings
from pipelines.settings import get_settings


def _history(values: dict[str, list[int]]) -> pd.DataFrame:
    rows = []
    for unit, series in values.items():
        for i, v in enumerate(series):
            rows.append({"week": f"2026-W{38 + i:02d}", "unit_code": unit, "level": "村",
                         "hh_new": 0, "hh_exit": v, "hh_cancel": 0})
    return pd.DataFrame(rows)


def test_sudden_jump_in_exits_is_a_warning_and_steady_units_are_not():
    hist = _history({"A": [2, 3, 2, 2, 3, 2, 2, 3], "B": [2, 3, 2, 2, 3, 2, 2, 3], "C": [0, 0, 0]})
    current = pd.DataFrame({"unit_code": ["A", "B", "C"], "hh_new": [0, 0, 0], "hh_exit": [40, 3, 40],
                            "hh_cancel": [0, 0, 0]})
    f = history_findings(current, hist, "2026-W46", get_settings())
    assert list(f["unit_code"]) == ["A"]  # C has too little history, B is steady
    r = f.iloc[0]
    assert (r["rule"], r["severity"], r["dimension"], r["column"], r["value"]) == \
        ("history.jump", "warning", "dynamics", "本周脱贫户数", "40")
    assert "中位数为 2" in r["message"]


def test_small_changes_below_the_minimum_are_not_flagged():
    hist = _history({"A": [0, 0, 0, 0, 0, 0, 0, 0]})
    current = pd.DataFrame({"unit_code": ["A"], "hh_new": [0], "hh_exit": [3], "hh_cancel": [0]})
    assert history_findings(current, hist, "2026-W46", get_settings()).empty
