"""Reconciliation across levels: the same figures arrive three or four times and must agree.

Every comparison yields rows of core.discrepancies (week, unit, level that reported,
metric, reported, consolidated, difference, direction, rule). All vectorised: frames are
aligned on unit codes and compared metric by metric.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines import forms, labels

FLOWS = list(forms.FLOW_NAMES)
MONEY = ["microcredit_wan"]
DISCREPANCY_COLUMNS = ["week", "unit_code", "level", "reported_by", "submission_id", "source_row", "source_sheet",
                       "metric", "reported", "consolidated", "difference", "direction", "rule"]

RULE_TEXT = labels.RULE_TEXT


def compare(reported: pd.DataFrame, reference: pd.DataFrame, key: str, metrics: list[str], *,
            rule: str, level: str, week: str, tol_count: float, tol_money: float,
            reported_by: str | pd.Series = "unit_code") -> pd.DataFrame:
    """Align `reported` (with provenance) and `reference` on `key`; one row per differing metric."""
    metrics = [m for m in metrics if m in reported.columns and m in reference.columns]
    if reported.empty or reference.empty or not metrics:
        return pd.DataFrame(columns=DISCREPANCY_COLUMNS)
    ref = reference[[key, *metrics]].drop_duplicates(key)
    m = reported.merge(ref, on=key, how="inner", suffixes=("", "__ref"))
    out = []
    for metric in metrics:
        rep = pd.to_numeric(m[metric], errors="coerce").astype("float64")
        con = pd.to_numeric(m[f"{metric}__ref"], errors="coerce").astype("float64")
        diff = rep - con
        tol = tol_money if metric in MONEY or metric.endswith("_wan") else tol_count
        bad = diff.abs() > tol + 1e-9
        if not bad.any():
            continue
        sel = m[bad]
        out.append(pd.DataFrame({
            "week": week, "unit_code": sel[key].astype(str), "level": level,
            "reported_by": sel[reported_by].astype(str) if isinstance(reported_by, str) else reported_by[bad].astype(str),
            "submission_id": sel.get("submission_id", pd.Series("", index=sel.index)).astype(str),
            "source_row": pd.to_numeric(sel.get("source_row", pd.Series(0, index=sel.index)), errors="coerce").fillna(0).astype("int64"),
            "source_sheet": sel.get("source_sheet", pd.Series("", index=sel.index)).fillna("").astype(str),
            "metric": metric, "reported": rep[bad].values, "consolidated": con[bad].values,
            "difference": diff[bad].round(4).values,
            "direction": np.where(diff[bad] > 0, "虚报", "漏报"), "rule": rule,
        }))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=DISCREPANCY_COLUMNS)


def balance(rows: pd.DataFrame, key: str, level: str, week: str, tol: float) -> pd.DataFrame:
    """期末 = 期初 + 新识别 + 返贫 − 脱贫 − 注销, for households and people."""
    if rows.empty:
        return pd.DataFrame(columns=DISCREPANCY_COLUMNS)
    out = []
    for p in ("hh", "pp"):
        n = {c: pd.to_numeric(rows[f"{p}_{c}"], errors="coerce").astype("float64")
             for c in ("open", "new", "return", "exit", "cancel", "close")}
        expect = n["open"] + n["new"] + n["return"] - n["exit"] - n["cancel"]
        diff = n["close"] - expect
        bad = diff.abs() > tol  # False where a cell was unreadable (unknown, not 0): see unreadable()
        if not bad.any():
            continue
        sel = rows[bad]
        out.append(pd.DataFrame({
            "week": week, "unit_code": sel[key].astype(str), "level": level, "reported_by": sel["unit_code"].astype(str),
            "submission_id": sel["submission_id"].astype(str), "source_row": sel["source_row"].astype("int64"),
            "source_sheet": sel["source_sheet"].fillna("").astype(str),
            "metric": f"{p}_close", "reported": n["close"][bad].values, "consolidated": expect[bad].values,
            "difference": diff[bad].values, "direction": "不平衡", "rule": "balance",
        }))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=DISCREPANCY_COLUMNS)


def continuity(current: pd.DataFrame, previous: pd.DataFrame, key: str, level: str, week: str,
               tol: float) -> pd.DataFrame:
    """This week's 期初 against last week's 期末 of the same unit."""
    if current.empty or previous.empty:
        return pd.DataFrame(columns=DISCREPANCY_COLUMNS)
    prev = previous[[key, "hh_close", "pp_close"]].rename(columns={"hh_close": "hh_open", "pp_close": "pp_open"})
    d = compare(current, prev, key, ["hh_open", "pp_open"], rule="continuity", level=level, week=week,
                tol_count=tol, tol_money=tol)
    if len(d):
        d["direction"] = "不连续"
    return d


def sum_rows(rows: pd.DataFrame, by: str, metrics: list[str]) -> pd.DataFrame:
    present = [m for m in metrics if m in rows.columns]
    num = rows[[by]].copy()
    for m in present:
        num[m] = pd.to_numeric(rows[m], errors="coerce").fillna(0).astype("float64")
    return num.groupby(by, as_index=False)[present].sum()


def unreadable(rows: pd.DataFrame, key: str, level: str, week: str) -> pd.DataFrame:
    """Rows whose balance could not be checked: a stock or flow cell that is not a number
    (unknown, not 0). One row each, with the headers of the unreadable cells."""
    if rows.empty:
        return pd.DataFrame(columns=[*DISCREPANCY_COLUMNS, "headers"])
    names = [f"{p}_{c}" for p in ("hh", "pp") for c in ("open", "new", "return", "exit", "cancel", "close")]
    present = [c for c in names if c in rows.columns]
    na = pd.DataFrame({c: pd.to_numeric(rows[c], errors="coerce").isna() for c in present})
    hit = na.any(axis=1)
    if not hit.any():
        return pd.DataFrame(columns=[*DISCREPANCY_COLUMNS, "headers"])
    sel = rows[hit]
    label = {c.name: c.header for c in forms.FLOW_COLUMNS}
    cells = np.where(na[hit].to_numpy(bool), np.array([label[c] for c in present], dtype=object), "")
    headers = ["、".join(h for h in r if h) for r in cells.tolist()]  # the failing rows only
    return pd.DataFrame({
        "week": week, "unit_code": sel[key].astype(str), "level": level, "reported_by": sel["unit_code"].astype(str),
        "submission_id": sel["submission_id"].astype(str), "source_row": sel["source_row"].astype("int64"),
        "source_sheet": sel["source_sheet"].fillna("").astype(str), "headers": headers})
