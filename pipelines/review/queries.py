"""Read side of the review: findings with their status (the CLI's list; the review page's
paged list is ``listing``), detail, source rows.

Used by the CLI and the Airflow plugin. Every query binds its values; identifiers come
from this module only. Tables that are built elsewhere (core.discrepancies,
core.reporting_status) may be missing: callers get an empty frame then.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import sqlalchemy as sa

from pipelines import forms, storage
from pipelines.review.lifecycle import OPEN, STATUS_LABEL, tables_exist, with_retry
from pipelines.settings import Settings, get_settings
from pipelines.warehouse import Warehouse

SEVERITY_LABEL = {"error": "错误", "warning": "警告"}
FILTERS = ("county", "level", "dimension", "severity", "status")

# Lake table of each form/sheet (facts and quarantine share the layout).
SHEET_TABLES = {
    forms.SHEET_PLAN: "ledger_households",
    forms.SHEET_MEASURES: "ledger_measures",
    forms.SHEET_HELPERS: "ledger_helpers",
}
FORM_TABLE = {"B": "village_reports", "C": "township_reports", "D": "county_reports"}
TABLE_SPEC = {
    "ledger_households": forms.TABLES[("A", "plan")],
    "ledger_measures": forms.TABLES[("A", "measures")],
    "ledger_helpers": forms.TABLES[("A", "helpers")],
    "village_reports": forms.TABLES[("B", "report")],
    "township_reports": forms.TABLES[("C", "report")],
    "county_reports": forms.TABLES[("D", "report")],
}


def table_exists(wh: Warehouse, table: str) -> bool:
    schema, name = table.split(".")
    try:
        n = wh.scalar("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = :s AND table_name = :t",
                      {"s": schema, "t": name})
    except sa.exc.SQLAlchemyError:
        return False
    return bool(n)


def _names(wh: Warehouse, week: str) -> dict[str, str]:
    if not table_exists(wh, "core.regions"):
        return {}
    df = wh.query("SELECT code, name FROM core.regions WHERE week = :w", {"w": week})
    if df.empty:  # the register as it stood for the latest week we have
        df = wh.query("SELECT code, name FROM core.regions WHERE week = (SELECT MAX(week) FROM core.regions)")
    return dict(zip(df["code"], df["name"]))


def findings(week: str, wh: Warehouse, folded: bool = False, **filters) -> pd.DataFrame:
    """The week's findings with status, county and Chinese labels, filtered; one row per
    finding_id, each with its ``cause_id`` and ``echoes`` (how many findings have it as
    their cause). ``folded``: the causes only, their echoes counted, not listed."""
    def run() -> pd.DataFrame:
        if not table_exists(wh, "core.findings"):
            return pd.DataFrame(), {}
        if tables_exist(wh):
            df = wh.query(
                'SELECT f.*, s.status AS status, s.reason AS status_reason, s.updated_by AS status_by, '
                "s.updated_at AS status_at FROM core.findings f LEFT JOIN core.finding_status s "
                "ON s.finding_id = f.finding_id WHERE f.week = :w", {"w": week})
        else:
            df = wh.query("SELECT * FROM core.findings WHERE week = :w", {"w": week})
            for c in ("status", "status_reason", "status_by", "status_at"):
                df[c] = None
        return df, _names(wh, week)

    df, names = with_retry(run)
    if df.empty:
        return df
    df["status"] = df["status"].fillna(OPEN)
    df["county"] = df["unit_code"].fillna("").str[:6]
    df["county_name"] = df["county"].map(lambda c: names.get(c, c or "未识别"))
    df["unit_name"] = df["unit_code"].fillna("").map(lambda c: names.get(c, ""))
    df["dimension_label"] = df["dimension"].map(lambda d: forms.EIGHT_ACCURACIES.get(d, d or ""))
    df["severity_label"] = df["severity"].map(lambda s: SEVERITY_LABEL.get(s, s))
    df["status_label"] = df["status"].map(lambda s: STATUS_LABEL.get(s, s))
    df["row"] = pd.to_numeric(df["row"], errors="coerce").fillna(0).astype(int)
    # A finding_id can repeat within a week (same unit, rule and record in two files): keep one.
    df = df.sort_values(["severity", "county", "unit_code", "file", "sheet", "row"]).drop_duplicates("finding_id")
    df = with_echoes(df)
    if folded:
        df = df[df["is_cause"]]
    return apply_filters(df, **filters).reset_index(drop=True)


def with_echoes(df: pd.DataFrame) -> pd.DataFrame:
    """``cause_id`` (a finding recorded before causes were kept is its own), ``is_cause``,
    ``echoes`` and ``echo_note`` (另有 N 条关联问题, or empty)."""
    cause = df["cause_id"].fillna(df["finding_id"]) if "cause_id" in df.columns else df["finding_id"]
    is_cause = (cause == df["finding_id"]).to_numpy(bool)
    echoes = df["finding_id"].map(cause[~is_cause].value_counts()).fillna(0).astype("int64")
    note = np.where(echoes > 0, "另有 " + echoes.astype(str) + " 条关联问题", "")
    return df.assign(cause_id=cause, is_cause=is_cause, echoes=echoes, echo_note=note)


def echoes_of(finding_id: str, wh: Warehouse) -> pd.DataFrame:
    """The findings that have ``finding_id`` as their cause (itself excluded)."""
    return with_retry(lambda: wh.query(
        "SELECT * FROM core.findings WHERE cause_id = :f AND finding_id <> :f ORDER BY level, unit_code, rule",
        {"f": finding_id}))


def apply_filters(df: pd.DataFrame, **filters) -> pd.DataFrame:
    for key in FILTERS:
        value = filters.get(key)
        if value:
            df = df[df[key].astype(str) == str(value)]
    return df


def finding_detail(finding_id: str, wh: Warehouse) -> pd.DataFrame:
    """All occurrences of a finding id (usually one) with status."""
    def run():
        if tables_exist(wh):
            return wh.query(
                "SELECT f.*, s.status AS status, s.reason AS status_reason, s.updated_by AS status_by, "
                "s.updated_at AS status_at, s.first_seen_week, s.last_seen_week FROM core.findings f "
                "LEFT JOIN core.finding_status s ON s.finding_id = f.finding_id WHERE f.finding_id = :f",
                {"f": finding_id})
        return wh.query("SELECT * FROM core.findings WHERE finding_id = :f", {"f": finding_id}).assign(status=None)

    df = with_retry(run)
    if len(df):
        df["status"] = df["status"].fillna(OPEN)
        df["status_label"] = df["status"].map(lambda s: STATUS_LABEL.get(s, s))
        df["dimension_label"] = df["dimension"].map(lambda d: forms.EIGHT_ACCURACIES.get(d, d or ""))
        df["severity_label"] = df["severity"].map(lambda s: SEVERITY_LABEL.get(s, s))
    return df


def _lake_table(wh: Warehouse, submission_id: str, sheet: str) -> str | None:
    if sheet in SHEET_TABLES:
        return SHEET_TABLES[sheet]
    form = wh.scalar("SELECT detected_form FROM core.submissions WHERE submission_id = :s", {"s": submission_id})
    return FORM_TABLE.get(form or "")


MASKED_AS = {"id_number": "id_masked", "helper_phone": "phone_masked"}


def _shown(v) -> str:
    """A stored cell as a person reads it: empty for a null, a whole number without ``.0``."""
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return ""
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v)


def source_row(week: str, submission_id: str, sheet: str, row: int, wh: Warehouse,
               settings: Settings | None = None, column: str = "") -> dict | None:
    """The record as loaded from the lake (facts or quarantine): area, table and (header, value) pairs.

    ``hit`` is the standard header of the finding's column (the file may use a synonym).
    """
    if not submission_id or not row:
        return None
    settings = settings or get_settings()
    table = with_retry(lambda: _lake_table(wh, submission_id, sheet))
    if not table:
        return None
    lfs, lroot = storage.filesystem(settings.lake_url, settings.s3_endpoint_url)
    for area in ("quarantine", "facts"):
        path = storage.join(lroot, area, table, f"week={week}", "part-0.parquet")
        if not lfs.exists(path):
            continue
        df = storage.read_parquet(lfs, path)
        hit = df[(df["submission_id"].astype(str) == submission_id)
                 & (pd.to_numeric(df["source_row"], errors="coerce") == int(row))]
        if sheet and "source_sheet" in df.columns and sheet not in FORM_TABLE:
            hit = hit[hit["source_sheet"].astype(str) == sheet]
        if hit.empty:
            continue
        rec = hit.iloc[0]
        hit = ""
        cells = []
        for col in TABLE_SPEC[table]:
            name = MASKED_AS.get(col.name, col.name)  # personal data is only stored masked
            if name in rec.index:
                v = rec[name]
                cells.append((col.header, _shown(v)))
                if column and column.replace(" ", "") in (col.header, *col.synonyms):
                    hit = col.header
        for extra in ("is_total",):
            if extra in rec.index:
                cells.append(("合计行", "是" if bool(rec[extra]) else "否"))
        return {"area": area, "area_label": "隔离区（未入库）" if area == "quarantine" else "已入库",
                "table": table, "sheet": str(rec.get("source_sheet") or sheet), "row": int(row), "cells": cells,
                "hit": hit}
    return None


def optional_table(wh: Warehouse, table: str, week: str) -> pd.DataFrame:
    """The week's rows of a table built by another part of the system, or empty if it is absent."""
    if table not in ("core.discrepancies", "core.reporting_status"):
        raise ValueError(table)

    def run():
        if not table_exists(wh, table):
            return pd.DataFrame()
        return wh.query(f"SELECT * FROM {table} WHERE week = :w", {"w": week})

    try:
        return with_retry(run)
    except sa.exc.SQLAlchemyError:
        return pd.DataFrame()


def weeks(wh: Warehouse) -> list[str]:
    if not table_exists(wh, "core.findings"):
        return []
    df = with_retry(lambda: wh.query(
        "SELECT week FROM core.submissions UNION SELECT week FROM core.findings ORDER BY week DESC"))
    return [w for w in df["week"].tolist() if w]
