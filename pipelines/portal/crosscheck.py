"""The pre-check's cross-checks that need only what has arrived: a village report (表B)
against the village's own ledger (表A) uploaded for the same week, if there. The same
comparison and words as consolidation's village_vs_ledger (pipelines.consolidate), on the
two one-unit frames staging would make of the two files."""
from __future__ import annotations

import hashlib

import pandas as pd

from pipelines import forms
from pipelines.consolidate import reconcile as R
from pipelines.consolidate.run import FLOWS, discrepancy_findings
from pipelines.findings import findings_frame
from pipelines.ingest.landing import submission_id_of
from pipelines.ingest.ledger_summary import ledger_summary
from pipelines.ingest.parse import parse_file
from pipelines.ingest.stage import file_tables
from pipelines.settings import Settings


def village_vs_ledger(report, report_path: str, report_sid: str, ledger: tuple[bytes, str] | None, week: str,
                      register: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """The findings of village report ``report`` (a ParsedFile) against ``ledger`` (the
    data and landing path of the same village's latest ledger of the week; None when none
    has arrived)."""
    if ledger is None or report.form != forms.FORM_B:
        return findings_frame()
    data, path = ledger
    sid = submission_id_of(hashlib.sha256(data).hexdigest())
    led_pf = parse_file(data, path, week)
    if led_pf.form != forms.FORM_A or led_pf.unit_code != report.unit_code:
        return findings_frame()
    led = ledger_summary(file_tables(led_pf, path, sid, week), {sid}, week)
    rows = file_tables(report, report_path, report_sid, week).get("core.village_reports", pd.DataFrame())
    disc = R.compare(rows, led, "unit_code", FLOWS, rule="village_vs_ledger", level=forms.LEVEL_VILLAGE, week=week,
                     tol_count=settings.tolerance_count, tol_money=settings.tolerance_money_wan)
    files = pd.DataFrame({"submission_id": [report_sid], "landing_path": [report_path]})
    return discrepancy_findings(disc, files, register)
