"""Findings: every problem found in a submission, one row each, in Chinese.

A finding names the unit, file, sheet, row, column and value, the rule it breaks, its
severity (error: the row is quarantined; warning: the row loads, flagged) and the
八个准 dimension (pipelines.forms.EIGHT_ACCURACIES key) it belongs to.
"""
from __future__ import annotations

import hashlib

import pandas as pd

ERROR = "error"
WARNING = "warning"

FINDING_COLUMNS = (
    "week",           # 2026-W47
    "level",          # 市/县/乡镇/村
    "unit_code",      # the submitting unit's code ('' when unknown)
    "submission_id",  # core.submissions id ('' before registration)
    "file",           # original file name as received (relative landing path)
    "sheet",          # sheet name ('' for csv / file-level findings)
    "row",            # 1-based row number in the file as the user sees it (0 = file level)
    "column",         # the Chinese header as the form names it ('' for file/row level)
    "value",          # the cell's value as submitted, as text
    "rule",           # stable rule code, e.g. id_number.scientific
    "severity",       # error | warning
    "dimension",      # key of EIGHT_ACCURACIES
    "message",        # Chinese message telling what is wrong and what to do
    "record_key",     # stable identity of the record (household id, village code, ...)
)


# The steps of a week as a person reads them (in findings on an unexpected failure).
STEP_LABELS = {"parse": "读取解析", "validate": "校验", "stage": "暂存", "summary": "台账汇总"}


def finding(**kw) -> dict:
    """One finding as a dict with every column present (missing ones empty)."""
    row = {c: "" for c in FINDING_COLUMNS}
    row["row"] = 0
    row.update({k: v for k, v in kw.items() if k in row})
    row["value"] = "" if row["value"] is None else str(row["value"])
    row["row"] = int(row["row"] or 0)
    return row


def internal_error(step: str, where: dict, exc: BaseException) -> dict:
    """The finding on a file whose data made a step fail unexpectedly: its rows are held
    back (quarantined), the rest of the week goes on, and the office's technical staff
    see it on the review page. ``where``: the finding's unit, file, sheet and row."""
    return finding(**where, rule="file.internal_error", severity=ERROR, dimension="ledger",
                   value=type(exc).__name__,
                   message=f"系统在「{STEP_LABELS[step]}」步骤处理该文件时出错，该文件的数据暂不入库（其他文件不受影响）；"
                           f"市扶贫办已在审核页面看到此问题并将处理，处理前无需重新报送")


def findings_frame(rows: list[dict] | pd.DataFrame | None = None) -> pd.DataFrame:
    """A findings DataFrame with exactly FINDING_COLUMNS, typed (row int, others str)."""
    if rows is None:
        rows = []
    df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    for c in FINDING_COLUMNS:
        if c not in df.columns:
            df[c] = 0 if c == "row" else ""
    df = df[list(FINDING_COLUMNS)].copy()
    df["row"] = pd.to_numeric(df["row"], errors="coerce").fillna(0).astype("int64")
    for c in FINDING_COLUMNS:
        if c != "row":
            df[c] = df[c].fillna("").astype(str)
    return df.reset_index(drop=True)


def finding_ids(f: pd.DataFrame) -> pd.Series:
    """Stable identity: week, unit, rule, record and column; the row's position is added
    only where that is not enough to tell two findings apart (no record, or a repeat)."""
    where = f["file"] + ":" + f["sheet"] + ":" + f["row"].astype(str)
    key = f["week"] + "|" + f["unit_code"] + "|" + f["rule"] + "|" + f["record_key"] + "|" + f["column"]
    key = key.where((f["record_key"] != "") & ~key.duplicated(keep=False), key + "|" + where)
    return key.map(lambda k: hashlib.sha1(k.encode("utf-8")).hexdigest()[:16])
