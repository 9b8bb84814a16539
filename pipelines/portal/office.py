"""The office's word on a unit's files of a week, after the weekly run: the weekly receipts
(pipelines.review.receipts, the same records the outbox's receipts are written from) and
the findings a steward sent back (core.finding_status), each with the steward's reason and
whether the unit has uploaded that form again since (a re-upload answers a send-back)."""
from __future__ import annotations

import pandas as pd

from pipelines.portal.progress import latest_uploads
from pipelines.review.lifecycle import SENT_BACK, tables_exist, with_retry
from pipelines.review.receipts import _html, unit_receipts
from pipelines.warehouse import Warehouse

COLUMNS = ["file", "form", "sheet", "row", "column", "value", "message", "reason", "updated_by", "updated_at", "answered"]


def receipt_page(wh: Warehouse, week: str, unit_code: str, submission_id: str) -> str | None:
    """The weekly receipt of one of the unit's submissions, as the outbox has it (HTML); None
    when it is not the unit's."""
    found = [r for r in unit_receipts(week, wh, unit_code) if r["submission_id"] == submission_id]
    return _html(found[0]).decode("utf-8") if found else None


def sent_back(wh: Warehouse, week: str, unit_code: str, uploads: pd.DataFrame) -> pd.DataFrame:
    """The unit's findings of the week now sent back: file, form, sheet, row, column, value,
    message, reason, updated_by, updated_at, answered (a later upload of the form)."""
    if not tables_exist(wh):
        return pd.DataFrame(columns=COLUMNS)
    df = with_retry(lambda: wh.query(
        'SELECT f.file, sub.detected_form AS form, f.sheet, f."row", f."column", f.value, f.message, s.reason, s.updated_by, '
        "s.updated_at FROM core.findings f JOIN core.finding_status s ON s.finding_id = f.finding_id "
        "LEFT JOIN core.submissions sub ON sub.submission_id = f.submission_id AND sub.week = f.week "
        "WHERE f.week = :w AND f.unit_code = :u AND s.status = :s ORDER BY s.updated_at DESC, f.sheet, f.\"row\"",
        {"w": week, "u": unit_code, "s": SENT_BACK}))
    latest = latest_uploads(uploads[uploads["unit_code"] == unit_code])[["form", "uploaded_at"]]
    df = df.merge(latest, on="form", how="left")
    df["answered"] = (pd.to_datetime(df["uploaded_at"], utc=True) > pd.to_datetime(df["updated_at"], utc=True)) \
        .to_numpy(bool)
    df["row"] = pd.to_numeric(df["row"], errors="coerce").fillna(0).astype(int)
    return df.fillna({"reason": "", "sheet": "", "column": "", "value": ""})[COLUMNS]
