"""The uploads and their pre-check findings in the warehouse (portal.uploads,
portal.upload_findings). Every read is scoped to the account asking: a unit sees only
what it uploaded; an upper level also what its subordinates uploaded, for their reporting rate."""
from __future__ import annotations

import datetime as dt
import secrets

import pandas as pd
import sqlalchemy as sa

from pipelines.portal import audit
from pipelines.portal.precheck import Receipt
from pipelines.warehouse import Warehouse

FINDING_COLUMNS = ["sheet", "row", "column", "value", "rule", "severity", "message"]


def save(wh: Warehouse, account_code: str, week: str, name: str, size: int, landing_path: str | None,
         receipt: Receipt, now: dt.datetime, client: str) -> str:
    """Record an upload, its findings and the audit entry in one transaction; its id."""
    upload_id = secrets.token_urlsafe(16)
    row = {"upload_id": upload_id, "account_code": account_code, "unit_code": receipt.unit_code, "week": week,
           "form": receipt.form, "original_name": name, "landing_path": landing_path, "sha256": receipt.sha256,
           "size_bytes": size, "uploaded_at": now, "late": receipt.late, "outcome": receipt.outcome,
           "errors": receipt.errors, "warnings": receipt.warnings, "reason": receipt.refused or None}
    found = receipt.findings[FINDING_COLUMNS].copy()
    found.insert(0, "seq", range(1, len(found) + 1))
    found.insert(0, "upload_id", upload_id)
    with wh.transaction() as conn:
        conn.execute(sa.text("INSERT INTO portal.uploads (upload_id, account_code, unit_code, week, form, original_name, "
                             "landing_path, sha256, size_bytes, uploaded_at, late, outcome, errors, warnings, reason) VALUES "
                             "(:upload_id, :account_code, :unit_code, :week, :form, :original_name, :landing_path, "
                             ":sha256, :size_bytes, :uploaded_at, :late, :outcome, :errors, :warnings, :reason)"), row)
        wh.insert(conn, "portal.upload_findings", found)
        audit.record(conn, account_code, "refuse" if receipt.refused else "upload", client, week=week,
                     upload_id=upload_id, file_name=name, sha256=receipt.sha256,
                     detail=receipt.refused or f"{receipt.outcome}: {receipt.errors} 错误, {receipt.warnings} 警告")
    return upload_id


def uploads_of(wh: Warehouse, account_code: str) -> pd.DataFrame:
    return wh.query("SELECT upload_id, account_code, unit_code, week, form, original_name, landing_path, sha256, "
                    "size_bytes, uploaded_at, late, outcome, errors, warnings, reason FROM portal.uploads "
                    "WHERE account_code = :a ORDER BY uploaded_at DESC", {"a": account_code})


def uploads_below(wh: Warehouse, account_code: str, week: str) -> pd.DataFrame:
    """The week's uploads of the units ``account_code`` covers (whoever sent them)."""
    return wh.query("SELECT unit_code, form, uploaded_at, late, outcome FROM portal.uploads "
                    "WHERE week = :w AND unit_code LIKE :p", {"w": week, "p": account_code + "%"})


def latest_path(wh: Warehouse, unit_code: str, week: str, form: str) -> str | None:
    """Where the latest accepted upload of ``unit_code``'s ``form`` for ``week`` was written."""
    return wh.scalar("SELECT landing_path FROM portal.uploads WHERE unit_code = :u AND week = :w AND form = :f "
                     "AND landing_path IS NOT NULL ORDER BY uploaded_at DESC LIMIT 1",
                     {"u": unit_code, "w": week, "f": form})


def upload_of(wh: Warehouse, account_code: str, upload_id: str) -> dict | None:
    """The upload ``upload_id`` if ``account_code`` made it, else None."""
    df = wh.query("SELECT upload_id, account_code, unit_code, week, form, original_name, landing_path, sha256, "
                  "size_bytes, uploaded_at, late, outcome, errors, warnings, reason FROM portal.uploads "
                  "WHERE upload_id = :u AND account_code = :a", {"u": upload_id, "a": account_code})
    return None if df.empty else df.iloc[0].to_dict()


def findings_of(wh: Warehouse, upload_id: str) -> pd.DataFrame:
    return wh.query("SELECT sheet, \"row\", \"column\", value, rule, severity, message FROM portal.upload_findings "
                    "WHERE upload_id = :u ORDER BY seq", {"u": upload_id})
