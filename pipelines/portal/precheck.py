"""The pre-check receipt (预审回执) of one uploaded file, in seconds: the weekly run's own
parse and form rules on the file (pipelines.ingest.stage.check_file), its identity checks
(unit in the register, level, the week in the file against the week chosen,
pipelines.ingest.identify), and whether the account may send it at all: a file naming a
unit the account does not report for is refused, with the reason, and not written."""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass

import pandas as pd

from pipelines import labels, pii
from pipelines.findings import ERROR, WARNING, findings_frame, internal_error
from pipelines.ingest.identify import identity_findings
from pipelines.ingest.landing import submission_id_of
from pipelines.ingest.stage import IDENTITY_COLUMNS, check_file
from pipelines.portal.accounts import covered_units
from pipelines.portal.crosscheck import village_vs_ledger
from pipelines.settings import Settings
from pipelines.weeks import deadline

log = logging.getLogger(__name__)


@dataclass
class Receipt:
    sha256: str
    form: str
    unit_code: str          # the unit the content names ('' when none)
    late: bool
    findings: pd.DataFrame  # findings_frame, ID and phone numbers masked
    refused: str = ""       # why the file is not accepted ('' when accepted)

    @property
    def errors(self) -> int:
        return int((self.findings["severity"] == ERROR).sum())

    @property
    def warnings(self) -> int:
        return int((self.findings["severity"] == WARNING).sum())

    @property
    def outcome(self) -> str:
        """refused, problems (an error: the rows would be quarantined) or passed (warnings
        at most: the file loads, the warnings flagged)."""
        return "refused" if self.refused else ("problems" if self.errors else "passed")


def precheck(data: bytes, landing_path: str, week: str, account_code: str, register: pd.DataFrame,
             settings: Settings, now: dt.datetime, ledger_of=None) -> Receipt:
    """The receipt of ``data`` sent by ``account_code`` for ``week``, as it would lie at
    ``landing_path``; a village report is checked against the village's ledger that
    ``ledger_of(unit_code)`` gives ((data, landing path), or None when none has arrived)."""
    sha = hashlib.sha256(data).hexdigest()
    sid = submission_id_of(sha)
    late = now > deadline(week, settings.tz, settings.deadline_hour)
    if len(data) > settings.max_file_bytes:
        return Receipt(sha, "", "", late, findings_frame(),
                       refused=f"文件大小超过上限（{settings.max_file_bytes // (1024 * 1024)} MB），未保存；请删去多余的工作表或图片后重新上传")
    base = {"week": week, "submission_id": sid, "file": landing_path, "unit_code": account_code}
    try:
        pf, found = check_file(data, landing_path, sid, week, settings)
    except Exception as exc:  # noqa: BLE001 - the weekly run holds such a file back and says so; so does the receipt
        log.exception("pre-check of %s failed", landing_path)
        return Receipt(sha, "", "", late, findings_frame([internal_error("validate", base, exc)]))
    unit = pf.unit_code or ""
    covered = covered_units(register, account_code)
    if unit in set(register["code"]) and unit not in set(covered["code"]):
        names = dict(zip(register["code"], register["name"]))
        what = labels.FORM_NAMES.get(pf.form or "", "报表")
        return Receipt(sha, pf.form or "", unit, late, findings_frame(),
                       refused=f"文件内容是{names[unit]}（{unit}）的{what}，本账号（{names.get(account_code, account_code)}）"
                               f"只能报送本单位及所辖单位的报表：该文件未保存，请确认是否选错了文件")
    ident = pd.DataFrame([{"submission_id": sid, "landing_path": landing_path, "received_at": pd.Timestamp(now),
                           "form": pf.form or "", "unit_code": unit, "unit_name": pf.unit_name or "",
                           "content_week": pf.week or ""}], columns=IDENTITY_COLUMNS)
    ident["superseded_by"] = ""
    files = ident[["submission_id", "received_at"]]
    checks = pii.protect_findings(identity_findings(ident, files, register, week, settings))
    cross = village_vs_ledger(pf, landing_path, sid, ledger_of(unit) if ledger_of and unit else None, week, register,
                              settings)
    found = pd.concat([found, checks, pii.protect_findings(cross)], ignore_index=True)
    found = found.drop_duplicates(["sheet", "row", "column", "rule"]).reset_index(drop=True)
    return Receipt(sha, pf.form or "", unit, late, findings_frame(found))
