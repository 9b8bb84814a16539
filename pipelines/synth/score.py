"""Recall of the pipeline against a synthetic world's ground truth (manifest.json).

For every injected fault, is there a finding, discrepancy or reporting-status row at the
right unit, file, row, metric and amount? Used by tests and the benchmark.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from pipelines.weeks import shift_week

ROW_KINDS = {"id_invalid_checksum", "id_scientific", "id_duplicate_across_villages", "household_size_out_of_range",
             "unknown_cause", "unknown_state", "state_change_contradiction", "exit_below_income_line",
             "exit_without_guarantees", "poor_without_helper", "poor_without_measure"}
CROSS_LEVEL = {"village_vs_ledger", "township_vs_village", "wrong_total", "county_inflated", "balance_broken",
               "continuity", "missing_submission", "late_submission"}


def load_manifest(truth_dir: Path, week: str) -> list[dict]:
    return json.loads((Path(truth_dir) / week / "manifest.json").read_text(encoding="utf-8"))


def _close(a, b) -> bool:
    try:
        return abs(float(a) - float(b)) < 0.005
    except (TypeError, ValueError):
        return False


def match(e: dict, f: pd.DataFrame, d: pd.DataFrame, rs: pd.DataFrame) -> bool:
    kind = e["kind"]
    if kind in ROW_KINDS:
        hit = f[(f["file"] == e["file"]) & (f["sheet"] == e["sheet"]) & (f["row"] == int(e["row"]))
                & (f["severity"] == "error")]
        return len(hit) > 0
    if kind == "balance_broken":
        hit = d[(d["rule"] == "balance") & (d["unit_code"] == e["unit_code"])]
        return any(_close(x, e["amount"]) for x in hit["difference"])
    if kind == "village_vs_ledger":
        hit = d[(d["rule"] == "village_vs_ledger") & (d["unit_code"] == e["unit_code"]) & (d["metric"] == e["metric"])]
        return any(_close(x, e["amount"]) for x in hit["difference"])
    if kind == "township_vs_village":
        hit = d[(d["rule"] == "township_vs_village") & (d["unit_code"] == e["village_code"])
                & (d["reported_by"] == e["unit_code"]) & (d["metric"] == e["metric"])]
        return any(_close(x, e["amount"]) for x in hit["difference"])
    if kind == "wrong_total":
        hit = d[(d["rule"] == "total_vs_rows") & (d["reported_by"] == e["unit_code"]) & (d["metric"] == e["metric"])]
        return any(_close(abs(x), abs(e["amount"])) for x in hit["difference"])
    if kind == "county_inflated":
        hit = d[(d["rule"] == "county_vs_township") & (d["unit_code"] == e["township_code"])
                & (d["reported_by"] == e["unit_code"]) & (d["metric"] == e["metric"])]
        return any(_close(x, e["amount"]) and x > 0 for x in hit["difference"])
    if kind in ("missing_submission", "late_submission"):
        col = "missing" if kind == "missing_submission" else "late"
        hit = rs[(rs["unit_code"] == e["unit_code"]) & (rs["form"] == e["form"])]
        return bool(len(hit)) and bool(hit[col].iloc[0])
    if kind == "unknown_unit":
        return len(f[(f["file"] == e["file"]) & (f["rule"] == "unit.unknown")]) > 0
    if kind == "wrong_week":
        return len(f[(f["file"] == e["file"]) & (f["rule"] == "week.mismatch")]) > 0
    if kind == "continuity":
        hit = d[(d["rule"] == "continuity") & ((d["reported_by"] == e["unit_code"]) | (d["unit_code"] == e["unit_code"]))]
        return len(hit) > 0
    raise ValueError(f"unknown fault kind {kind}")


def score(truth_dir: Path, weeks: list[str], wh) -> pd.DataFrame:
    """Per fault kind: injected, found, recall (continuity faults are scored the week after)."""
    rows = []
    for week in weeks:
        f = wh.query("SELECT * FROM core.findings WHERE week = :w", {"w": week})
        d = wh.query("SELECT * FROM core.discrepancies WHERE week = :w", {"w": week})
        rs = wh.query("SELECT * FROM core.reporting_status WHERE week = :w", {"w": week})
        f["row"] = pd.to_numeric(f["row"], errors="coerce").fillna(0).astype(int)
        entries = load_manifest(truth_dir, week)
        prev = shift_week(week, -1)
        if prev in weeks:  # faults that break next week's 期初, where the unit reports again
            absent = set(zip(rs.loc[rs["missing"].astype(bool), "unit_code"], rs.loc[rs["missing"].astype(bool), "form"]))
            entries += [{**e, "kind": "continuity"} for e in load_manifest(truth_dir, prev)
                        if "continuity_next_week" in (e.get("also") or [])
                        and (e["unit_code"], e["form"]) not in absent]
        for e in entries:
            rows.append({"week": week, "kind": e["kind"], "found": match(e, f, d, rs)})
    df = pd.DataFrame(rows, columns=["week", "kind", "found"])
    out = df.groupby("kind").agg(injected=("found", "size"), found=("found", "sum")).reset_index()
    out["recall"] = (out["found"] / out["injected"]).round(4)
    return out


def primary_findings(weeks: list[str], wh) -> dict:
    """The weeks' findings, and the primary ones (each its own cause: echoes folded)."""
    f = wh.query("SELECT finding_id, cause_id FROM core.findings WHERE week IN ("
                 + ", ".join(f":w{i}" for i in range(len(weeks))) + ")", {f"w{i}": w for i, w in enumerate(weeks)})
    return {"findings": int(len(f)), "primary": int((f["cause_id"].fillna(f["finding_id"]) == f["finding_id"]).sum())}


def score_text(truth_dir: Path, weeks: list[str], wh) -> str:
    """The score as the demo prints it: recall per fault kind, primary findings per fault."""
    s = score(truth_dir, weeks, wh)
    p = primary_findings(weeks, wh)
    injected = int(s["injected"].sum())
    lines = [f"注入错误 {injected} 个，发现问题 {p['findings']} 条，其中主要问题（关联问题折叠后）{p['primary']} 条，"
             f"每个注入错误 {p['primary'] / max(injected, 1):.2f} 条主要问题（折叠前 {p['findings'] / max(injected, 1):.2f} 条）"]
    lines += [f"  {r.kind}: 注入 {r.injected}，发现 {r.found}，召回率 {100 * r.recall:.0f}%" for r in s.itertuples()]
    return "\n".join(lines)
