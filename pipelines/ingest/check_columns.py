"""Derived check columns: what the GX suites check, computed in pandas (vectorised).

A column starting with ``_`` holds True/False where its rule applies and NA elsewhere
(GX ignores nulls in map expectations), or a value a message names (the expected check
digit, last week's state). ``prepare`` makes the positional frame every suite reads;
``derive_plan`` / ``derive_sheet`` / ``derive_report`` add a table's check columns.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from pipelines import forms, weeks
from pipelines.ingest import rules as R

BLANK = "（空）"
_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
_CHANGE_TO_STATE = {"新识别": "贫困", "返贫": "贫困", "脱贫": "已脱贫", "注销": "注销"}
_CHANGE_PREV_STATE = {"返贫": "已脱贫", "脱贫": "贫困"}
PROVENANCE = ("submission_id", "file", "source_sheet", "source_row", "unit_code", "week",
              "level")

def flag(ok, applies) -> pd.Series:
    """Boolean check column: ok where the rule applies, NA elsewhere (GX skips nulls)."""
    ok = pd.Series(ok).astype("boolean").fillna(False)
    applies = pd.Series(applies).astype("boolean").fillna(False).to_numpy(bool)
    return ok.where(applies)


_STRING = pd.StringDtype("python")  # as the parser emits; fast hash-based isin on large sets


def as_string(series: pd.Series) -> pd.Series:
    return series.astype(_STRING)


def _week_end_ts(week: pd.Series) -> pd.Series:
    """Timestamp of the last day (Sunday) of each row's ISO week (NaT when unparseable)."""
    uniq = {}
    for w in pd.unique(week.dropna()):  # a handful of distinct weeks, not rows
        try:
            uniq[w] = pd.Timestamp(weeks.week_end(str(w)))
        except ValueError:
            uniq[w] = pd.NaT
    return pd.to_datetime(week.map(uniq), errors="coerce")


def prepare(df: pd.DataFrame, form: str, key: str) -> pd.DataFrame:
    """Positional copy of the table with every canonical and provenance column present."""
    f = df.reset_index(drop=True).copy()
    for col in forms.TABLES[(form, key)]:
        if col.name not in f.columns:
            f[col.name] = pd.NA
    for col in PROVENANCE:
        if col not in f.columns:
            f[col] = pd.NA
    for col in forms.TABLES[(form, key)]:
        if col.dtype in ("str", "code", "id18", "yesno"):
            f[col.name] = as_string(f[col.name])
    f["unit_code"] = as_string(f["unit_code"]).str.strip().replace("", pd.NA)  # '' = unknown unit
    f["week"] = as_string(f["week"])
    f["file"] = as_string(f["file"]).fillna("")
    f[R.ROW_ID] = np.arange(len(f), dtype=np.int64)
    return f


def _household_id_checks(f: pd.DataFrame, plan_ids: pd.Series | None) -> None:
    hid = f["household_id"].str.strip()
    fmt = hid.str.fullmatch(r"\d{16}").fillna(False)
    f["_hh_prefix"] = hid.str[:12]
    f["_hh_village_ok"] = flag(f["_hh_prefix"] == f["unit_code"],
                                fmt & f["unit_code"].notna())
    if plan_ids is not None:
        # only for well-formed ids of the submitting village (else the id rules report it)
        applies = fmt & f["_hh_village_ok"].fillna(True)
        f["_hh_known"] = flag(hid.isin(plan_ids.dropna().unique()), applies)
    else:
        f["_hh_known"] = pd.Series(pd.NA, index=f.index, dtype="boolean")


def _id_checks(f: pd.DataFrame, params: dict) -> None:
    idn = f["id_number"].str.strip().str.upper()
    shape = idn.str.fullmatch(r"\d{17}[\dX]").fillna(False).to_numpy(bool)
    birth = pd.to_datetime(idn.str[6:14].where(shape), format="%Y%m%d", errors="coerce")
    upper = f["_week_end"].fillna(pd.Timestamp(dt.date.today()))
    birth_ok = birth.notna() & (birth >= pd.Timestamp("1900-01-01")) & (birth <= upper)
    f["_id_birth"] = idn.str[6:14]
    f["_id_birth_ok"] = flag(birth_ok, shape)
    # GB 11643 / ISO 7064 MOD 11-2 check character, computed for all well-shaped IDs.
    expected = pd.Series(pd.NA, index=f.index, dtype=_STRING)
    if shape.any():
        sel = idn[shape]
        arr = np.frombuffer("".join(sel.tolist()).encode("ascii"), dtype=np.uint8)
        digits = arr.reshape(-1, 18)[:, :17].astype(np.int64) - 48
        chk = (12 - (digits @ _ID_WEIGHTS) % 11) % 11
        expected[shape] = np.where(chk == 10, "X", chk.astype(str))
    f["_id_check_expected"] = expected
    f["_id_check_ok"] = flag(idn.str[17] == expected, shape)
    f["_id_unique_ok"] = flag(~id_dup_mask(f, idn), idn.notna())


def id_dup_mask(f: pd.DataFrame, idn: pd.Series, group: pd.Series | None = None) -> pd.Series:
    """True where the ID number is registered under more than one household id (and, with
    ``group``, more than one group, e.g. county)."""
    frame = pd.DataFrame({"idn": idn, "hid": f["household_id"]})
    n = frame.groupby("idn", dropna=True)["hid"].transform("nunique")
    mask = n.gt(1)
    if group is not None:
        frame["g"] = group
        ng = frame.groupby("idn", dropna=True)["g"].transform("nunique")
        mask = mask & ng.gt(1)
    return mask.fillna(False).astype(bool)


def derive_plan(f, tables, prev_plan, params, unread: dict | None = None) -> None:
    """The plan's check columns; ``unread``: sheet -> the submissions whose sheet of that
    name was found but not read (a missing column: that sheet's own finding)."""
    _household_id_checks(f, None)
    f["_week_end"] = _week_end_ts(f["week"])
    _id_checks(f, params)
    # Years.
    week_year = pd.to_numeric(f["week"].str[:4], errors="coerce").astype("Int64")
    f["_week_year"] = week_year
    f["_exit_year_max"] = week_year + params["exit_years_ahead"]
    iy, py = f["identified_year"].astype("Int64"), f["planned_exit_year"].astype("Int64")
    f["_identified_year_ok"] = flag((iy >= params["year_min"]) & (iy <= week_year),
                                     iy.notna() & week_year.notna())
    f["_planned_exit_year_ok"] = flag((py >= params["year_min"]) & (py <= f["_exit_year_max"]),
                                       py.notna() & week_year.notna())
    # State and this week's change.
    st, wc = f["state"], f["week_change"]
    st_valid = st.isin(forms.STATES).fillna(False)
    expected = as_string(wc.map(_CHANGE_TO_STATE))
    f["_change_expected_state"] = expected
    f["_change_state_ok"] = flag(st == expected, expected.notna() & st_valid)
    na = pd.Series(pd.NA, index=f.index, dtype="boolean")
    if prev_plan is not None and len(prev_plan):
        prev = (prev_plan[["household_id", "state"]].dropna(subset=["household_id"])
                .astype({"household_id": _STRING, "state": _STRING})
                .drop_duplicates("household_id", keep="last").set_index("household_id")["state"])
        existed = f["household_id"].isin(prev.index).fillna(False)
        prev_state = as_string(f["household_id"].map(prev))
        # a last-week state outside the enumeration says nothing about continuity
        prev_state = prev_state.where(prev_state.isin(forms.STATES).fillna(False))
        f["_prev_state"] = prev_state.fillna(BLANK)
        f["_unchanged_ok"] = flag(st == prev_state,
                                   (wc == "无").fillna(False) & existed & st_valid & prev_state.notna())
        f["_new_ok"] = flag(~existed, (wc == "新识别").fillna(False))
        prev_expected = as_string(wc.map(_CHANGE_PREV_STATE))
        f["_prev_expected"] = prev_expected
        f["_prev_state_ok"] = flag(prev_state == prev_expected,
                                    prev_expected.notna() & existed & prev_state.notna())
    else:
        f["_prev_state"] = pd.Series(pd.NA, index=f.index, dtype=_STRING)
        f["_prev_expected"] = pd.Series(pd.NA, index=f.index, dtype=_STRING)
        f["_unchanged_ok"] = f["_new_ok"] = f["_prev_state_ok"] = na
    # Exit (脱贫) requirements: income at the poverty line, 两不愁三保障 all 是.
    exiting = (wc == "脱贫").fillna(False).to_numpy(bool)
    inc = f["income_per_capita_yuan"].astype("Float64")
    inc = inc.mask(exiting & inc.isna().to_numpy(bool), -1.0)
    f["_exit_income"] = inc.where(exiting)
    for col in forms.SECURITY_COLUMNS:
        v = f[col].mask(exiting & f[col].isna().to_numpy(bool), BLANK)
        f[f"_exit_{col}"] = v.where(exiting)
    # Cross-table: every poor household has a measure and a helper, unless its file's sheet
    # was not read (then that sheet's one finding says why, not one per household).
    poor = (st == "贫困").fillna(False) & f["household_id"].notna()
    for other, col in (("measures", "_has_measure"), ("helpers", "_has_helper")):
        t = tables.get(other)
        if t is None:
            f[col] = na
        else:
            ids = as_string(t["household_id"]).str.strip().dropna().unique()
            read = ~f["submission_id"].isin((unread or {}).get(other, []))
            f[col] = flag(f["household_id"].str.strip().isin(ids), poor & read)


def derive_sheet(f, tables, date_col) -> None:
    plan = tables.get("plan")
    plan_ids = None if plan is None else as_string(plan["household_id"]).str.strip()
    _household_id_checks(f, plan_ids)
    f["_week_end"] = _week_end_ts(f["week"])
    d = pd.to_datetime(f[date_col], errors="coerce")
    f["_date_ok"] = flag(d.dt.normalize() <= f["_week_end"],
                          d.notna() & f["_week_end"].notna())


def derive_report(f, form) -> None:
    for k, flows in (("hh", forms.HH_FLOWS), ("pp", forms.PP_FLOWS)):
        o, n, rt, ex, ca, cl = (f[c].astype("Int64") for c in flows)
        expect = o + n + rt - ex - ca
        f[f"_balance_expect_{k}"] = expect
        f[f"_balance_diff_{k}"] = cl - expect
        f[f"_balance_absdiff_{k}"] = (cl - expect).abs()
    for hh, pp in zip(forms.HH_FLOWS, forms.PP_FLOWS):
        f[f"_pp_minus_{hh}"] = f[pp].astype("Int64") - f[hh].astype("Int64")
    if form in ("C", "D"):
        code_col, digits, parent = (("village_code", 12, 9) if form == "C"
                                    else ("township_code", 9, 6))
        code = f[code_col].str.strip()
        fmt = code.str.fullmatch(rf"\d{{{digits}}}").fillna(False)
        f["_code_parent_ok"] = flag(code.str[:parent] == f["unit_code"].str.strip(),
                                     fmt & f["unit_code"].notna())

