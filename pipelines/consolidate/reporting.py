"""Reporting completeness and timeliness (as DHIS2 counts it), from the unit register."""
from __future__ import annotations

import pandas as pd

from pipelines.weeks import deadline

# Which forms each level owes every week (FORMS.md).
FORMS_BY_LEVEL = {"县": ("D",), "乡镇": ("C",), "村": ("A", "B")}
COUNTED_STATUSES = ("loaded", "partial")


def reporting_status(week: str, register: pd.DataFrame, submissions: pd.DataFrame,
                     tz: str = "Asia/Shanghai", deadline_hour: int = 10) -> pd.DataFrame:
    """One row per expected (unit, form): received, on time, late or missing.

    `submissions`: core.submissions rows of the week (current ones are those loaded or
    partially loaded; superseded and rejected files do not count as received). A form
    whose files were all refused is ``not_loaded`` (已报送未入库), not ``missing``.
    """
    exp = []
    for level, forms_ in FORMS_BY_LEVEL.items():
        units = register[register["level"] == level]
        for form in forms_:
            exp.append(units.assign(form=form))
    expected = pd.concat(exp, ignore_index=True)[["code", "name", "level", "form", "county_code", "township_code"]]
    expected = expected.rename(columns={"code": "unit_code", "name": "unit_name"})
    subs = submissions[submissions["status"].isin(COUNTED_STATUSES)]
    subs = (subs.sort_values("received_at").drop_duplicates(["unit_code", "detected_form"], keep="last")
            [["unit_code", "detected_form", "submission_id", "received_at"]]
            .rename(columns={"detected_form": "form"}))
    out = expected.merge(subs, on=["unit_code", "form"], how="left")
    refused = submissions[submissions["status"] == "rejected"]
    refused = (refused.sort_values("received_at").drop_duplicates(["unit_code", "detected_form"], keep="last")
               [["unit_code", "detected_form", "submission_id"]]
               .rename(columns={"detected_form": "form", "submission_id": "rejected_submission_id"}))
    out = out.merge(refused, on=["unit_code", "form"], how="left")
    due = pd.Timestamp(deadline(week, tz, deadline_hour))
    at = pd.to_datetime(out["received_at"], utc=True)
    out["received_at"] = at
    out["week"] = week
    out["expected"] = True
    out["received"] = out["submission_id"].notna()
    out["on_time"] = out["received"] & (at <= due)
    out["late"] = out["received"] & (at > due)
    # Received but not loaded (every file of the unit's form refused): sent, to be corrected.
    out["not_loaded"] = ~out["received"] & out["rejected_submission_id"].notna()
    out["missing"] = ~out["received"] & ~out["not_loaded"]
    cols = ["week", "unit_code", "unit_name", "level", "form", "county_code", "township_code", "expected",
            "received", "on_time", "late", "missing", "submission_id", "received_at", "not_loaded",
            "rejected_submission_id"]
    return out[cols].sort_values(["level", "unit_code", "form"]).reset_index(drop=True)
