"""Which unit, form and week each file is.

A file names its unit (行政区划代码, 填报单位) and its week (填报周次); these are checked
against the register of regions and the week of the folder it was sent in, and so is
what a village report or a township report's row says of a village being poor (是否贫困村).
Which of a unit's files counts is pipelines.ingest.supersession's.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines import forms, vectors
from pipelines.findings import ERROR, WARNING, finding, findings_frame
from pipelines.settings import Settings


def identity_findings(ident: pd.DataFrame, files: pd.DataFrame, register: pd.DataFrame,
                      week: str, settings: Settings) -> pd.DataFrame:
    """Register, level and week checks on each current submission (file level)."""
    from pipelines.weeks import deadline

    codes = set(register["code"])
    names = dict(zip(register["code"], register["name"]))
    out = []
    cur = ident[ident["superseded_by"] == ""]
    # Only files that may have something to say are looked at one by one (a few per week).
    form, unit = cur["form"].astype(str), cur["unit_code"].astype(str)
    registered = unit.map(names)
    named = cur["unit_name"].fillna("").astype(str).str.strip()
    suspect = (form != "") & (
        (unit == "") | (unit.str.len() != form.map(forms.CODE_LENGTH).fillna(-1)) | ~vectors.member(unit, codes)
        | ((named != "") & registered.notna() & (named != registered.fillna("")))
        | ((cur["content_week"].fillna("") != "") & (cur["content_week"] != week)))
    for r in cur[suspect].itertuples(index=False):
        base = dict(week=week, submission_id=r.submission_id, file=r.landing_path, unit_code=r.unit_code,
                    level=forms.FORM_LEVEL.get(r.form, ""), row=0, record_key=f"{r.unit_code}:{r.form}")
        if not r.form:
            continue  # the parser already said why the file is not a form
        if not r.unit_code:
            out.append(finding(**base, rule="unit.not_found", severity=ERROR, dimension="identification",
                               message="文件中未找到填报单位的行政区划代码，无法确认是哪个单位的报表，请在表头填写「行政区划代码」后重新报送"))
        elif len(r.unit_code) != forms.CODE_LENGTH[r.form]:
            out.append(finding(**base, column="行政区划代码", value=r.unit_code, rule="unit.level_mismatch",
                               severity=ERROR, dimension="identification",
                               message=f"{forms.FORM_TITLE[r.form]}应由{forms.FORM_LEVEL[r.form]}级单位填报（{forms.CODE_LENGTH[r.form]}位代码），"
                                       f"文件中的代码 {r.unit_code} 不符，请核对后重新报送"))
        elif r.unit_code not in codes:
            out.append(finding(**base, column="行政区划代码", value=r.unit_code, rule="unit.unknown",
                               severity=ERROR, dimension="identification",
                               message=f"单位代码 {r.unit_code}（{r.unit_name or '未填名称'}）不在区划名录中：该文件不予入库，"
                                       f"请确认代码是否填错；如为新设单位，请先由市扶贫办更新区划名录"))
        elif r.unit_name and names.get(r.unit_code) and r.unit_name.strip() not in ("", names[r.unit_code]) \
                and names[r.unit_code] not in r.unit_name:
            out.append(finding(**base, column="填报单位", value=r.unit_name, rule="unit.name_mismatch",
                               severity=WARNING, dimension="identification",
                               message=f"填报单位「{r.unit_name}」与区划名录中代码 {r.unit_code} 的名称「{names[r.unit_code]}」不一致，请核对"))
        if r.content_week and r.content_week != week:
            out.append(finding(**base, column="填报周次", value=r.content_week, rule="week.mismatch",
                               severity=ERROR, dimension="ledger",
                               message=f"文件内容写明为 {r.content_week} 的报表，却放在 {week} 的文件夹中：该文件不计入 {week}，"
                                       f"请确认周次后重新报送"))
    # Late arrivals: a finding (warning) per late current submission.
    due = pd.Timestamp(deadline(week, settings.tz, settings.deadline_hour))
    rec = files.drop_duplicates("submission_id").set_index("submission_id")["received_at"]
    received = pd.to_datetime(cur["submission_id"].map(rec), utc=True)
    late = (cur["form"] != "") & (received > due)  # a file that is no form is not "late"
    due_local = due.tz_convert(settings.tz).strftime("%Y-%m-%d %H:%M")
    lr = cur[late.to_numpy(bool)]  # column-wise: a province's week has about a thousand late files
    local = received[late.to_numpy(bool)].dt.tz_convert(settings.tz).dt.strftime("%Y-%m-%d %H:%M").to_numpy(object)
    late_findings = pd.DataFrame({
        "week": week, "submission_id": lr["submission_id"].to_numpy(object), "file": lr["landing_path"].to_numpy(object),
        "unit_code": lr["unit_code"].to_numpy(object), "level": lr["form"].map(forms.FORM_LEVEL).fillna("").to_numpy(object),
        "row": 0, "record_key": (lr["unit_code"] + ":" + lr["form"]).to_numpy(object), "column": "", "value": local,
        "rule": "submission.late", "severity": WARNING, "dimension": "ledger",
        "message": "报表于 " + pd.Series(local, dtype=object) + f" 收到，晚于截止时间（{due_local}），记为迟报"})
    return findings_frame(pd.concat([findings_frame(out), findings_frame(late_findings)], ignore_index=True))


POOR_VILLAGE_HEADER = next(c.header for c in forms.VILLAGE_REPORT if c.name == "is_poor_village")


def poor_village_findings(reports: pd.DataFrame, register: pd.DataFrame, week: str) -> pd.DataFrame:
    """A 是否贫困村 that contradicts the register's: a warning on the row, naming the village
    and both values (the register is the city office's; the row loads as reported).

    ``reports``: the current rows that say whether a village is poor (a village's own
    report, a township report's village rows) with submission_id, file, source_sheet,
    source_row, unit_code, level, record_key, village_code (the village the row is about)
    and is_poor_village (是/否 as parsed; anything else is not compared)."""
    villages = register[register["level"] == forms.LEVEL_VILLAGE]
    if reports is None or not len(reports) or not len(villages):
        return findings_frame()
    listed = dict(zip(villages["code"], np.where(villages["is_poor_village"].to_numpy(bool), "是", "否")))
    code = reports["village_code"].astype(object).fillna("").astype(str)
    said = reports["is_poor_village"].astype(object).fillna("").astype(str)
    expected = code.map(listed)
    bad = (said.isin(forms.YESNO) & expected.notna() & (said != expected)).to_numpy(bool)
    r, code, said, expected = reports[bad], code[bad], said[bad], expected[bad]
    if not len(r):
        return findings_frame()
    row = pd.to_numeric(r["source_row"], errors="coerce").fillna(0).astype("int64")
    name = code.map(dict(zip(villages["code"], villages["name"])))
    message = ("第" + row.astype(str) + f"行「{POOR_VILLAGE_HEADER}」填报为“" + said + "”，而区划名录中" + name
               + "（" + code + "）的是否贫困村为“" + expected + "”：请核对；贫困村以区划名录为准，"
               "如名录有误请联系市扶贫办更正")
    return findings_frame(pd.DataFrame({
        "week": week, "level": r["level"].to_numpy(object), "unit_code": r["unit_code"].to_numpy(object),
        "submission_id": r["submission_id"].to_numpy(object), "file": r["file"].to_numpy(object),
        "sheet": r["source_sheet"].to_numpy(object), "row": row.to_numpy(), "column": POOR_VILLAGE_HEADER,
        "value": said.to_numpy(object), "rule": "is_poor_village.register", "severity": WARNING,
        "dimension": "identification", "message": message.to_numpy(object),
        "record_key": r["record_key"].to_numpy(object)}))
