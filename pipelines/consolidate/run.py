"""The consolidation step for one week: reads the week's loaded facts (warehouse) and
report rows as submitted (lake, quarantined included), writes core.consolidated,
core.discrepancies, core.reporting_status and the consolidation findings."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines import forms, labels, storage, vectors
from pipelines.causes import cause_ids
from pipelines.checkpoints import checkpoint
from pipelines.consolidate import reconcile as R
from pipelines.consolidate.history import history_findings
from pipelines.consolidate.reporting import reporting_status
from pipelines.findings import ERROR, WARNING, finding_ids, findings_frame
from pipelines.ingest.layout import fact_path
from pipelines.ingest.ledger_summary import per_village
from pipelines.settings import Settings, get_settings
from pipelines.warehouse import Warehouse
from pipelines.weeks import shift_week

FLOWS = list(forms.FLOW_NAMES)
VALUE_COLUMNS = [*FLOWS, "microcredit_wan", "funds_to_village_wan", "training_persons", "base_driven_hh",
                 "poor_with_helper", "poor_with_measure", "planned_exit_this_year"]
# The figures a township's or county's 合计 row must equal the sum of its rows in.
TOTALLED = FLOWS + ["microcredit_wan", "training_sessions", "training_persons", "poor_village_count",
                    "demo_bases_cum", "base_driven_hh", "base_driven_pp", "fiscal_funds_wan", "team_members",
                    "inspections"]
HEADER = {c.name: c.header for cols in (forms.VILLAGE_REPORT, forms.TOWNSHIP_REPORT, forms.COUNTY_REPORT)
          for c in cols}


def _report_rows(settings: Settings, table: str, week: str) -> pd.DataFrame:
    """Report rows as submitted for a week: facts and quarantine together."""
    lfs, lroot = storage.filesystem(settings.lake_url, settings.s3_endpoint_url)
    frames = []
    for area in ("facts", "quarantine"):
        path = fact_path(lroot, area, table, week)
        if lfs.exists(path):
            frames.append(storage.read_parquet(lfs, path).assign(_quarantined=(area == "quarantine")))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _num(df: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    out = df.copy()
    for c in cols:
        if c in out.columns:
            out[c] = pd.to_numeric(out[c], errors="coerce").astype("float64")
        else:
            out[c] = np.nan
    return out


def village_figures(register: pd.DataFrame, ledger: pd.DataFrame, vr: pd.DataFrame,
                    trows: pd.DataFrame) -> pd.DataFrame:
    """Per village: flows from its ledger, else its own report, else the township's row
    (not verified); money from its own report, else the township's row."""
    villages = register[register["level"] == forms.LEVEL_VILLAGE][["code", "parent_code", "county_code"]]
    villages = villages.rename(columns={"code": "unit_code"})
    led = _num(ledger, FLOWS + ["poor_with_helper", "poor_with_measure", "planned_exit_this_year"]) \
        .drop_duplicates("unit_code").set_index("unit_code")
    own = _num(vr[~vr["_quarantined"]] if len(vr) else vr, VALUE_COLUMNS).drop_duplicates("unit_code").set_index("unit_code") \
        if len(vr) else pd.DataFrame(columns=VALUE_COLUMNS)
    trow = _num(trows[~trows["_quarantined"]] if len(trows) else trows, VALUE_COLUMNS)
    trow = trow.drop_duplicates("village_code").set_index("village_code") if len(trow) else pd.DataFrame(columns=VALUE_COLUMNS)
    v = villages.set_index("unit_code")
    idx = v.index
    in_led, in_own, in_trow = (vectors.member(idx, f.index) for f in (led, own, trow))
    v["source"] = np.select([in_led, in_own, in_trow], ["ledger", "village_report", "township_row"], "none")
    v["verified"] = in_led | in_own
    led, own, trow = (f.reindex(idx) for f in (led, own, trow))  # aligned once, not per column
    for c in VALUE_COLUMNS:
        a = led[c] if c in led.columns else pd.Series(np.nan, index=idx)
        b = own[c] if c in own.columns else pd.Series(np.nan, index=idx)
        t = trow[c] if c in trow.columns else pd.Series(np.nan, index=idx)
        if c in FLOWS:
            v[c] = a.where(in_led, b.where(in_own, t))
        elif c in ("poor_with_helper", "poor_with_measure", "planned_exit_this_year"):
            v[c] = a
        else:
            v[c] = b.where(in_own, t)
    v["level"] = forms.LEVEL_VILLAGE
    v["villages_unverified"] = (~v["verified"]).astype(int)
    return v.reset_index()


def roll_up(villages: pd.DataFrame, register: pd.DataFrame) -> pd.DataFrame:
    """Townships, counties and the city as sums of the level below."""
    cols = VALUE_COLUMNS + ["villages_unverified"]
    num = villages[["parent_code", *cols]].copy()
    for c in cols:
        num[c] = pd.to_numeric(num[c], errors="coerce").fillna(0)
    towns = num.groupby("parent_code")[cols].sum()
    treg = register[register["level"] == forms.LEVEL_TOWNSHIP].set_index("code")
    towns = towns.reindex(treg.index).fillna(0)
    towns["parent_code"] = treg["parent_code"]
    towns["county_code"] = treg["county_code"]
    towns["level"] = forms.LEVEL_TOWNSHIP
    counties = towns.groupby("parent_code")[cols].sum()
    creg = register[register["level"] == forms.LEVEL_COUNTY].set_index("code")
    counties = counties.reindex(creg.index).fillna(0)
    counties["parent_code"] = forms.CITY_CODE
    counties["county_code"] = counties.index
    counties["level"] = forms.LEVEL_COUNTY
    city = counties[cols].sum().to_frame().T
    city.index = [forms.CITY_CODE]
    city["parent_code"] = ""
    city["county_code"] = ""
    city["level"] = forms.LEVEL_CITY
    out = pd.concat([towns, counties, city])
    out.index.name = "unit_code"
    out = out.reset_index()
    out["source"] = "sum"
    out["verified"] = out["villages_unverified"] == 0
    return out


def known_sums(villages: pd.DataFrame, upper: pd.DataFrame) -> pd.DataFrame:
    """The sums of ``roll_up`` for checking a reported 合计 against: a figure no village
    has a readable value for (its report held back, no township row to fall back on) is
    unknown, not 0, and so is every sum that holds it: the check is skipped there."""
    out = upper.copy()
    for c in [*FLOWS, "microcredit_wan"]:
        unknown = villages.loc[villages[c].isna(), "unit_code"].astype(str)
        if len(unknown):
            above = set(unknown.str[:6]) | set(unknown.str[:9]) | {forms.CITY_CODE}
            out.loc[vectors.member(out["unit_code"], above), c] = np.nan
    return out


@dataclass
class _Reports:
    """One week's current village, township and county reports, rows and 合计 rows apart."""
    villages: pd.DataFrame
    townships: pd.DataFrame
    township_totals: pd.DataFrame
    counties: pd.DataFrame
    county_totals: pd.DataFrame


def _current_reports(settings: Settings, week: str, current: set[str] | None = None) -> _Reports:
    """The week's reports (of the ``current`` submissions only, when given)."""
    frames = [_report_rows(settings, t, week) for t in ("core.village_reports", "core.township_reports",
                                                        "core.county_reports")]
    if current is not None:
        frames = [df[vectors.member(df["submission_id"], current)] if len(df) else df for df in frames]
    vr, tr, cr = frames

    def split(df: pd.DataFrame, total: bool) -> pd.DataFrame:
        return df[df["is_total"].astype(bool) == total] if len(df) else df

    return _Reports(vr, split(tr, False), split(tr, True), split(cr, False), split(cr, True))


def consolidate(week: str, settings: Settings | None = None, wh: Warehouse | None = None) -> dict:
    """Consolidate ``week`` bottom-up (三本账 → 村 → 乡镇 → 县 → 市), reconcile every level,
    and record the figures, discrepancies, reporting status and findings; a summary."""
    settings = settings or get_settings()
    wh = wh or Warehouse(settings.warehouse_url)
    wh.apply_schema()
    t0 = time.perf_counter()
    register = wh.query("SELECT * FROM core.regions WHERE week = :w", {"w": week})
    submissions = wh.query("SELECT * FROM core.submissions WHERE week = :w", {"w": week})
    ledger = per_village(wh.query("SELECT * FROM core.ledger_summary WHERE week = :w", {"w": week}))
    current = set(submissions.loc[submissions["status"].isin(["loaded", "partial"]), "submission_id"])
    rep = _current_reports(settings, week, current)

    # Bottom-up figures.
    villages = village_figures(register, ledger, rep.villages, rep.townships)
    upper = roll_up(villages, register)
    cons = pd.concat([villages, upper], ignore_index=True)
    cons["week"] = week

    disc = _reconcile(rep, _current_reports(settings, shift_week(week, -1)), ledger, known_sums(villages, upper),
                      week, settings)
    status = reporting_status(week, register, submissions, settings.tz, settings.deadline_hour)
    history = wh.query("SELECT week, unit_code, level, hh_new, hh_exit, hh_cancel FROM core.consolidated "
                       "WHERE level = :lv AND week < :w", {"lv": forms.LEVEL_VILLAGE, "w": week})
    fnd = findings_frame(pd.concat([
        discrepancy_findings(disc, submissions, register),
        missing_findings(status),
        not_loaded_findings(status, submissions),
        unreadable_findings(rep, week, submissions, register),
        history_findings(cons[cons["level"] == forms.LEVEL_VILLAGE], history, week, settings),
    ], ignore_index=True))
    fnd["finding_id"] = finding_ids(fnd) if len(fnd) else pd.Series(dtype=str)
    fnd["stage"] = "consolidate"
    fnd, ingest_causes = _with_causes(wh, fnd, disc, week)

    with wh.transaction() as conn:
        wh.replace(conn, "core.consolidated", cons, {"week": week})
        checkpoint("consolidate.table_replaced")
        wh.replace(conn, "core.discrepancies", disc, {"week": week})
        wh.replace(conn, "core.reporting_status", status, {"week": week})
        wh.replace(conn, "core.findings", fnd, {"week": week, "stage": "consolidate"})
        wh.update(conn, "core.findings", ingest_causes, key="finding_id", where={"week": week, "stage": "ingest"})
    city = cons[cons["level"] == forms.LEVEL_CITY].iloc[0]
    return {"week": week, "discrepancies": int(len(disc)),
            "by_rule": disc["rule"].value_counts().to_dict() if len(disc) else {},
            "missing": int(status["missing"].sum()), "late": int(status["late"].sum()),
            "reporting_rate": round(float(status["received"].mean()), 4) if len(status) else 1.0,
            "city_hh_close": int(city["hh_close"]), "city_pp_close": int(city["pp_close"]),
            "findings": int(len(fnd)), "seconds": round(time.perf_counter() - t0, 3)}


def _with_causes(wh: Warehouse, fnd: pd.DataFrame, disc: pd.DataFrame, week: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The consolidation findings with their ``cause_id``, and the week's intake findings'
    ``cause_id`` where an intake finding is an echo (pipelines.causes: over both stages).
    The discrepancy findings come first in ``fnd``, one per row of ``disc``."""
    raw = wh.query("SELECT * FROM core.findings WHERE week = :w AND stage = 'ingest'", {"w": week})
    ingest = findings_frame(raw).assign(finding_id=raw["finding_id"].fillna("").to_numpy(object))
    both = pd.concat([fnd.drop(columns="stage"), ingest], ignore_index=True)
    amount = pd.Series(np.nan, index=both.index)
    amount.iloc[:len(disc)] = pd.to_numeric(disc["difference"], errors="coerce").abs().to_numpy(float)
    cause = cause_ids(both, amount).to_numpy(object)
    fnd = fnd.assign(cause_id=cause[:len(fnd)])
    ingest = pd.DataFrame({"finding_id": ingest["finding_id"], "cause_id": cause[len(fnd):]})
    return fnd, ingest.drop_duplicates("finding_id")


def _balanced(rep: _Reports) -> list[tuple[pd.DataFrame, str, str]]:
    """The report rows whose own balance is checked: (rows, key of the unit they are about, level)."""
    return [(rep.villages, "unit_code", forms.LEVEL_VILLAGE), (rep.townships, "village_code", forms.LEVEL_TOWNSHIP),
            (rep.township_totals, "unit_code", forms.LEVEL_TOWNSHIP), (rep.counties, "township_code", forms.LEVEL_COUNTY),
            (rep.county_totals, "unit_code", forms.LEVEL_COUNTY)]


def unreadable_findings(rep: _Reports, week: str, submissions: pd.DataFrame, register: pd.DataFrame) -> pd.DataFrame:
    """One warning per report row whose balance was not checked: a stock or flow cell that
    is not a number is unknown (not 0), and the check says it skipped the row."""
    u = [R.unreadable(rows, key, level, week) for rows, key, level in _balanced(rep) if len(rows)]
    u = pd.concat([x for x in u if len(x)], ignore_index=True) if any(len(x) for x in u) else pd.DataFrame()
    if u.empty:
        return findings_frame()
    names = dict(zip(register["code"], register["name"]))
    files = dict(zip(submissions["submission_id"], submissions["landing_path"]))
    return findings_frame(pd.DataFrame({
        "week": week, "level": u["level"], "unit_code": u["reported_by"], "submission_id": u["submission_id"],
        "file": u["submission_id"].map(files).fillna(""), "sheet": u["source_sheet"], "row": u["source_row"],
        "column": u["headers"], "value": "", "rule": "xlevel.balance_unreadable", "severity": WARNING,
        "dimension": "ledger", "record_key": u["unit_code"],
        "message": "第" + u["source_row"].astype(str) + "行「" + u["unit_code"].map(names).fillna(u["unit_code"])
                   + "」的「" + u["headers"] + "」无法识别为数字，按未知处理（不按 0 计），未核对该行期末数是否平衡；"
                   "请填写数字后重新报送",
    }))


def _reconcile(rep: _Reports, prev: _Reports, ledger: pd.DataFrame, upper: pd.DataFrame, week: str,
               settings: Settings) -> pd.DataFrame:
    """Every level checked against itself (balance), last week (continuity), the level
    below (village vs ledger, township vs villages, county vs townships) and its own 合计."""
    tol_c, tol_m = settings.tolerance_count, settings.tolerance_money_wan
    vr, trows, ttot, crows, ctot = rep.villages, rep.townships, rep.township_totals, rep.counties, rep.county_totals
    d = []
    if len(vr):
        d.append(R.compare(vr, ledger, "unit_code", FLOWS, rule="village_vs_ledger", level=forms.LEVEL_VILLAGE,
                           week=week, tol_count=tol_c, tol_money=tol_m))
    for rows, key, level in _balanced(rep):
        if len(rows):
            d.append(R.balance(rows, key, level, week, tol_c))
    for now, before, level in ((vr, prev.villages, forms.LEVEL_VILLAGE), (ttot, prev.township_totals, forms.LEVEL_TOWNSHIP),
                               (ctot, prev.county_totals, forms.LEVEL_COUNTY)):
        if len(now) and len(before):
            d.append(R.continuity(now, before, "unit_code", level, week, tol_c))
    money = FLOWS + ["microcredit_wan", "training_persons"]
    if len(trows) and len(vr):
        d.append(R.compare(trows, vr.rename(columns={"unit_code": "village_code"}), "village_code", money,
                           rule="township_vs_village", level=forms.LEVEL_TOWNSHIP, week=week,
                           tol_count=tol_c, tol_money=tol_m))
    for rows, tot, level in ((trows, ttot, forms.LEVEL_TOWNSHIP), (crows, ctot, forms.LEVEL_COUNTY)):
        if len(rows) and len(tot):
            sums = R.sum_rows(rows, "submission_id", TOTALLED)
            wrong = R.compare(tot, sums, "submission_id", TOTALLED, rule="total_vs_rows", level=level, week=week,
                              tol_count=tol_c, tol_money=tol_m)
            d.append(wrong.assign(unit_code=wrong["reported_by"]))  # the 合计 is the reporting unit's own
    for rows, below, key, rule, level, when in (
            (ttot, upper[upper["level"] == forms.LEVEL_TOWNSHIP], "unit_code", "township_total_vs_villages",
             forms.LEVEL_TOWNSHIP, len(ttot)),
            (crows, ttot.rename(columns={"unit_code": "township_code"}), "township_code", "county_vs_township",
             forms.LEVEL_COUNTY, len(crows) and len(ttot)),
            (ctot, upper[upper["level"] == forms.LEVEL_COUNTY], "unit_code", "county_total_vs_townships",
             forms.LEVEL_COUNTY, len(ctot))):
        if when:
            d.append(R.compare(rows, below, key, FLOWS + ["microcredit_wan"], rule=rule, level=level, week=week,
                               tol_count=tol_c, tol_money=tol_m))
    d = [x for x in d if len(x)]
    return pd.concat(d, ignore_index=True) if d else pd.DataFrame(columns=R.DISCREPANCY_COLUMNS)


def discrepancy_findings(disc: pd.DataFrame, submissions: pd.DataFrame, register: pd.DataFrame) -> pd.DataFrame:
    if disc.empty:
        return findings_frame()
    names = dict(zip(register["code"], register["name"]))
    files = dict(zip(submissions["submission_id"], submissions["landing_path"]))
    d = disc.reset_index(drop=True)
    header = d["metric"].map(HEADER).fillna(d["metric"])
    fmt = lambda s: s.map(lambda x: f"{x:g}")  # noqa: E731 (few rows: the failing ones)
    unit_name = d["unit_code"].map(names).fillna(d["unit_code"])
    diff = d["difference"].map(lambda x: f"{x:+g}")
    rule_text = d["rule"].map(R.RULE_TEXT)
    base = ("第" + d["source_row"].astype(str) + "行「" + unit_name + "」的「" + header + "」为 " + fmt(d["reported"])
            + "，而" + np.where(d["rule"].isin(["balance"]), "按期初和本周变动应为 ",
                                np.where(d["rule"].eq("continuity"), "上周期末为 ", "下级数据支持的数为 "))
            + fmt(d["consolidated"]) + "，相差 " + diff + "（" + d["direction"] + "）：" + rule_text + "，请核实后更正重报")
    dimension = np.where(d["rule"].eq("continuity"), "dynamics", "ledger")
    return findings_frame(pd.DataFrame({
        "week": d["week"], "level": d["level"], "unit_code": d["reported_by"], "submission_id": d["submission_id"],
        "file": d["submission_id"].map(files).fillna(""), "sheet": d["source_sheet"], "row": d["source_row"],
        "column": header, "value": fmt(d["reported"]), "rule": "xlevel." + d["rule"],
        "severity": ERROR, "dimension": dimension, "message": base, "record_key": d["unit_code"],
    }))


FORM_NAMES = labels.FORM_NAMES


def missing_findings(status: pd.DataFrame) -> pd.DataFrame:
    m = status[status["missing"]]
    if m.empty:
        return findings_frame()
    return findings_frame(pd.DataFrame({
        "week": m["week"], "level": m["level"], "unit_code": m["unit_code"], "submission_id": "", "file": "",
        "sheet": "", "row": 0, "column": "", "value": m["form"], "rule": "submission.missing", "severity": WARNING,
        "dimension": "ledger", "record_key": m["unit_code"] + ":" + m["form"],
        "message": m["unit_name"].fillna("") + "（" + m["unit_code"] + "）本周未报送" + m["form"].map(FORM_NAMES)
                   + "：其数据暂按上级报表填列并标记为未核实，请尽快补报",
    }))


def not_loaded_findings(status: pd.DataFrame, submissions: pd.DataFrame) -> pd.DataFrame:
    """A form received but not loaded (its file refused): 已报送未入库, what to fix, not to send."""
    m = status[status["not_loaded"]]
    if m.empty:
        return findings_frame()
    names = dict(zip(submissions["submission_id"], submissions["original_name"]))
    paths = dict(zip(submissions["submission_id"], submissions["landing_path"]))
    sid = m["rejected_submission_id"].astype(str)
    return findings_frame(pd.DataFrame({
        "week": m["week"], "level": m["level"], "unit_code": m["unit_code"], "submission_id": sid,
        "file": sid.map(paths).fillna(""), "sheet": "", "row": 0, "column": "", "value": m["form"],
        "rule": "submission.not_loaded", "severity": WARNING, "dimension": "ledger",
        "record_key": m["unit_code"] + ":" + m["form"],
        "message": m["unit_name"].fillna("") + "（" + m["unit_code"] + "）本周的" + m["form"].map(FORM_NAMES)
                   + "已报送（" + sid.map(names).fillna("") + "），但未能入库（已报送未入库）：请按该文件回执所列问题"
                   "修改后重新报送；其数据暂按上级报表填列并标记为未核实",
    }))
