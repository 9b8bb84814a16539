"""Findings from validation: the failing rows of each GX expectation, and the 合计 rows
of Forms C/D that do not add up, as Chinese messages naming the row, the column's header
and the submitted value."""
from __future__ import annotations

import functools
import re

import numpy as np
import pandas as pd

from pipelines import forms
from pipelines.findings import ERROR
from pipelines.ingest import rules as R
from pipelines.ingest.check_columns import BLANK, PROVENANCE, as_string

_PLACEHOLDER = re.compile(r"\{([rs])\[(\w+)\]\}")


@functools.lru_cache(maxsize=None)
def rules_by_key() -> dict[str, dict[tuple[str, str], R.Rule]]:
    return {name: {r.key: r for r in rules} for name, rules in R.suite_rules().items()}


def _fmt(v) -> str:
    if v is None or v is pd.NA or v is pd.NaT:
        return BLANK
    if isinstance(v, float):
        if np.isnan(v):
            return BLANK
        return f"{v:.2f}".rstrip("0").rstrip(".") if v != int(v) else str(int(v))
    if isinstance(v, pd.Timestamp):
        return v.strftime("%Y-%m-%d")
    s = str(v)
    return s if s.strip() else BLANK


def _raw_text(raw: pd.DataFrame | None, df: pd.DataFrame, column: str, pos: np.ndarray,
              typed: pd.Series) -> pd.Series:
    """Submitted text of `column` for positional rows `pos` ("" when blank)."""
    vals = None
    if raw is not None and column in raw.columns:
        r = raw[column]
        if not r.index.equals(df.index):
            r = r.reindex(df.index)
        vals = pd.Series(r.to_numpy(object)[pos])
    if vals is None:
        vals = pd.Series([("" if _fmt(v) == BLANK else _fmt(v)) for v in typed.iloc[pos]],
                         dtype=object)
    return vals.map(lambda v: "" if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))
                    else str(v)).reset_index(drop=True)


def _dup_others(f: pd.DataFrame, pos: np.ndarray, key: pd.Series) -> list[str]:
    """For each failing row, where else the same key occurs (few rows: message only)."""
    sub = pd.DataFrame({"k": key.iloc[pos].to_numpy(object),
                        "file": f["file"].iloc[pos].to_numpy(object),
                        "row": f["source_row"].iloc[pos].to_numpy(object),
                        "hid": f["household_id"].iloc[pos].to_numpy(object)
                        if "household_id" in f.columns else None})
    out = []
    groups = {k: g for k, g in sub.groupby("k", sort=False)}
    for i, rec in enumerate(sub.itertuples(index=False)):
        g = groups.get(rec.k)
        others = [] if g is None else [o for j, o in zip(g.index, g.itertuples(index=False))
                                       if j != i]
        parts = []
        for o in others[:5]:
            where = f"第{_fmt(o.row)}行" if o.file == rec.file else f"{o.file} 第{_fmt(o.row)}行"
            if o.hid is not None and o.hid != rec.hid:
                where += f"户编号 {_fmt(o.hid)}"
            parts.append(where)
        if len(others) > 5:
            parts.append(f"等{len(others)}处")
        out.append("另见" + "、".join(parts) if parts else "重复")
    return out


def findings_for(rule: R.Rule, f: pd.DataFrame, df: pd.DataFrame, raw: pd.DataFrame | None,
                  pos: np.ndarray, record_col: str, params: dict, table: str) -> list[dict]:
    header = R._header(rule.column)
    values = _raw_text(raw, df, rule.column, pos, f[rule.column])
    if rule.only_blank_raw:
        keep = values.str.strip().eq("").to_numpy(bool)
        pos, values = pos[keep], values[keep].reset_index(drop=True)
    if not len(pos):
        return []
    needed = {name for kind, name in _PLACEHOLDER.findall(rule.problem) if kind == "r"}
    extra = {}
    if "_dup_others" in needed:
        needed.discard("_dup_others")
        key = (f["household_id"] if rule.code == "household_id.duplicate"
               else f["id_number"].str.strip().str.upper())
        extra["_dup_others"] = _dup_others(f, pos, key)
    cols = {c: f[c].iloc[pos].tolist() for c in needed}
    prov = {c: f[c].iloc[pos].tolist() for c in PROVENANCE}
    rec_raw = _raw_text(raw, df, record_col, pos, f[record_col]) if record_col in f else None
    s_fmt = {k: _fmt(v) for k, v in params.items()}
    out = []
    for i in range(len(pos)):  # failing rows only: formatting the messages
        r = {c: _fmt(cols[c][i]) for c in needed}
        r.update({k: v[i] for k, v in extra.items()})
        problem = rule.problem.format(r=r, s=s_fmt)
        value = values.iloc[i]
        row = int(prov["source_row"][i]) if pd.notna(prov["source_row"][i]) else 0
        message = (f"第{row}行「{header}」为 {value if value.strip() else BLANK}：{problem}，"
                   f"{rule.action}")
        out.append({
            "week": _str(prov["week"][i]), "level": _str(prov["level"][i]),
            "unit_code": _str(prov["unit_code"][i]),
            "submission_id": _str(prov["submission_id"][i]), "file": _str(prov["file"][i]),
            "sheet": _str(prov["source_sheet"][i]), "row": row, "column": header,
            "value": value, "rule": rule.code, "severity": rule.severity,
            "dimension": rule.dimension, "message": message,
            "record_key": _str(rec_raw.iloc[i]) if rec_raw is not None else "",
            "_table": table, "_pos": int(pos[i]),
        })
    return out


def _str(v) -> str:
    return "" if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) else str(v)


def unexpected_positions(er) -> np.ndarray:
    idx = (er.result or {}).get("unexpected_index_list") or []
    return np.fromiter((int(d[R.ROW_ID]) for d in idx), dtype=np.int64, count=len(idx))


def raised(er) -> str | None:
    info = er.exception_info or {}
    if info.get("raised_exception"):
        return info.get("exception_message") or "exception"
    for v in info.values():
        if isinstance(v, dict) and v.get("raised_exception"):
            return v.get("exception_message") or "exception"
    return None


# ---- 合计 rows (Forms C/D) ----------------------------------------------------------------
def total_findings(form: str, rows: pd.DataFrame, totals: pd.DataFrame, params: dict) -> list[dict]:
    cols = [c for c in forms.TABLES[(form, "report")] if c.dtype in ("int", "float")]
    names = [c.name for c in cols]
    if rows is None or totals is None or not len(totals):
        return []
    rows = rows.copy()
    rows["file"] = as_string(rows["file"]).fillna("")
    tot = totals.reset_index(drop=True).copy()
    tot["file"] = as_string(tot["file"]).fillna("")
    sums = rows.groupby("file")[names].sum().astype("Float64")
    sums = sums.reindex(tot["file"]).fillna(0.0)
    sums.index = tot.index
    tv = tot.reindex(columns=names).astype("Float64")
    diff = tv - sums
    tol = pd.Series({c.name: (params["tolerance_count"] if c.dtype == "int"
                              else params["tolerance_money_wan"]) for c in cols})
    bad = (diff.abs() > tol + 1e-9).fillna(False)
    hits = np.argwhere(bad.to_numpy(bool))
    out = []
    headers = {c.name: c.header for c in cols}
    for ri, ci in hits:  # failing cells only
        name = names[ci]
        rec = tot.iloc[ri]
        row = int(rec["source_row"]) if "source_row" in tot and pd.notna(rec["source_row"]) else 0
        total_v, sum_v, d = tv.iat[ri, ci], sums.iat[ri, ci], diff.iat[ri, ci]
        unit = "万元" if name.endswith("_wan") else ""
        message = (f"第{row}行「{forms.TOTAL_LABEL}·{headers[name]}」为 {_fmt(total_v)}：与各行之和 "
                   f"{_fmt(sum_v)}{unit} 不符（相差 {_fmt(d)}{unit}），请核对合计行或各行数据")
        out.append({
            "week": _str(rec.get("week")), "level": _str(rec.get("level")),
            "unit_code": _str(rec.get("unit_code")),
            "submission_id": _str(rec.get("submission_id")), "file": _str(rec.get("file")),
            "sheet": _str(rec.get("source_sheet")), "row": row, "column": headers[name],
            "value": _fmt(total_v), "rule": "total.mismatch", "severity": ERROR,
            "dimension": "ledger", "message": message, "record_key": forms.TOTAL_LABEL,
        })
    return out

