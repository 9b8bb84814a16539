"""The reporting rate before the deadline, for an upper level: which of a township's
villages (a county's townships and villages) have uploaded which of their level's forms
for a week, and whether the latest upload of each passed pre-check (the latest counts, as
in the weekly run). Refused uploads do not count: they were not written."""
from __future__ import annotations

import pandas as pd

from pipelines import forms
from pipelines.portal.accounts import covered_units

NOT_UPLOADED = "missing"


def latest_uploads(uploads: pd.DataFrame) -> pd.DataFrame:
    """The latest accepted upload of each unit and form."""
    kept = uploads[(uploads["outcome"] != "refused") & uploads["form"].fillna("").ne("")]
    return kept.sort_values("uploaded_at").drop_duplicates(["unit_code", "form"], keep="last")


def progress(register: pd.DataFrame, account_code: str, uploads: pd.DataFrame) -> pd.DataFrame:
    """One row per unit below ``account_code`` and form of its level: code, name, level,
    township_code, form, outcome (passed, problems or missing), late; in the
    register's order, a township before its villages."""
    below = covered_units(register, account_code)
    below = below[below["code"] != account_code][["code", "name", "level", "township_code"]]
    expected = pd.DataFrame([{"level": lv, "form": f} for f, lv in forms.FORM_LEVEL.items()])
    rows = below.reset_index().merge(expected, on="level").sort_values(["index", "form"])
    latest = latest_uploads(uploads)[["unit_code", "form", "outcome", "late"]]
    rows = rows.merge(latest.rename(columns={"unit_code": "code"}), on=["code", "form"], how="left")
    rows["outcome"] = rows["outcome"].fillna(NOT_UPLOADED)
    rows["late"] = rows["late"].fillna(False).astype(bool)
    return rows.drop(columns="index").reset_index(drop=True)


def summary(rows: pd.DataFrame) -> dict[str, int]:
    """How many forms are expected, uploaded and passed."""
    return {"expected": len(rows), "uploaded": int((rows["outcome"] != NOT_UPLOADED).sum()),
            "passed": int((rows["outcome"] == "passed").sum())}
