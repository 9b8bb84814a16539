"""Which file counts (docs/supersession.md), case by case, from files a clerk could send:
each built from an example file, dropped in the landing folder, and the week run."""
from __future__ import annotations

import datetime as dt
import os
import shutil

import openpyxl
import pandas as pd
import pytest

from pipelines.consolidate import consolidate
from pipelines.ingest.supersession import resolve_supersession
from pipelines.register import read_register
from pipelines.review.receipts import ACCEPTED, receipt_data
from pipelines.settings import get_settings
from pipelines.warehouse import Warehouse
from tests.conftest import EXAMPLES
from tests.reliability import world as W
from tests.week_run import stage_and_publish

WEEK = "2026-W47"
REPORT = "西华县逍遥镇焦东村第47周周报(改).xlsx"
LEDGER = "焦东村三本账2026第47周.xlsx"
VILLAGE = "411622107201"
SHEETS = ("计划进度账", "措施办法账", "帮扶责任账")
HH = [f"{VILLAGE}{i:04d}" for i in range(1, 46)]  # the example ledger's 45 household codes


def _folder(landing, county="西华县"):
    return landing / WEEK / county / "逍遥镇"


def _arrived(path, hour: int) -> None:
    """Received on Monday 23 November at ``hour`` (Shanghai time)."""
    t = dt.datetime(2026, 11, 23, hour, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp()
    os.utime(path, (t, t))


def _report_copy(landing, name: str, hour: int, county="西华县", **cells):
    """The village report saved under another name with ``cells`` changed."""
    wb = openpyxl.load_workbook(_folder(landing) / REPORT)
    for ref, value in cells.items():
        wb.active[ref] = value
    folder = _folder(landing, county)
    folder.mkdir(parents=True, exist_ok=True)
    wb.save(folder / name)
    _arrived(folder / name, hour)
    return folder / name


def _ledger_with(landing, name: str, keep: set[str], hour: int | None = None):
    """The example ledger with only the households ``keep`` in each of its three sheets."""
    wb = openpyxl.load_workbook(_folder(landing) / LEDGER)
    for title in SHEETS:
        ws = wb[title]
        for r in range(ws.max_row, 0, -1):
            code = str(ws.cell(r, 1).value or "")
            if code in HH and code not in keep:
                ws.delete_rows(r)
    wb.save(_folder(landing) / name)
    if hour is not None:
        _arrived(_folder(landing) / name, hour)
    else:
        shutil.copystat(_folder(landing) / LEDGER, _folder(landing) / name)
    return _folder(landing) / name


def _wh() -> Warehouse:
    return Warehouse(get_settings().warehouse_url)


def _status() -> dict[str, str]:
    subs = _wh().query("SELECT original_name, status FROM core.submissions")
    return dict(zip(subs["original_name"], subs["status"]))


def _findings(rule: str) -> pd.DataFrame:
    return _wh().query("SELECT * FROM core.findings WHERE rule = :r ORDER BY file", {"r": rule})


def _receipt(name: str) -> dict:
    return next(r for r in receipt_data(WEEK, _wh()) if r["file"] == name)


# ---- 1. only the same unit, form and content week ---------------------------------------------

def test_a_later_file_replaces_only_the_same_unit_form_and_week():
    register = read_register((EXAMPLES / "区划名录.csv").read_bytes())
    t = pd.Timestamp("2026-11-22T12:00Z")
    ident = pd.DataFrame({
        "submission_id": ["b1", "b2", "c1", "b3", "b4"],
        "landing_path": [f"{WEEK}/西华县/逍遥镇/{n}" for n in ("b1.xlsx", "b2.xlsx", "c1.csv", "b3.xlsx", "b4.xlsx")],
        "received_at": [t, t + pd.Timedelta(hours=1), t + pd.Timedelta(hours=2), t + pd.Timedelta(hours=3),
                        t + pd.Timedelta(hours=4)],
        "form": ["B", "B", "C", "B", "B"],
        "unit_code": [VILLAGE, VILLAGE, "411622107", "411622107202", VILLAGE],
        "unit_name": "", "content_week": [WEEK, WEEK, WEEK, WEEK, "2026-W46"]})
    out = resolve_supersession(ident, WEEK, None, register).set_index("submission_id")["superseded_by"]
    # b2 replaces b1 (same village, form, week); c1 (another form), b3 (another village) and
    # b4 (another week, sent last) replace nothing
    assert out.to_dict() == {"b1": "b2", "b2": "", "c1": "", "b3": "", "b4": ""}


def test_a_corrected_report_counts_and_both_receipts_say_which(examples_landing):
    newer = _report_copy(examples_landing, "焦东村第47周周报（更正）.xlsx", 9, C6=4)
    stage_and_publish(WEEK)
    assert _status()[REPORT] == "superseded" and _status()[newer.name] == "loaded"
    old, new = _receipt(REPORT), _receipt(newer.name)
    assert new["summary"] == f"{ACCEPTED}。本周以 {newer.name}（最后收到）为准；{REPORT} 已被替代。"
    assert old["summary"] == f"该文件不再入库：本周以 {newer.name}（最后收到）为准，本文件已被其替代。"
    assert not old["findings"]
    from pipelines.review.receipts import _html

    html = _html(old).decode("utf-8")
    assert ACCEPTED not in html and f"本周以 {newer.name}（最后收到）为准" in html


# ---- 2. a file of another week replaces nothing ----------------------------------------------

def test_last_weeks_report_sent_later_into_this_weeks_folder_replaces_nothing(examples_landing):
    stale = _report_copy(examples_landing, "焦东村第46周周报.xlsx", 9, K2="填报周次：2026年第46周")
    stage_and_publish(WEEK)
    consolidate(WEEK)
    assert _status() == {LEDGER: "partial", REPORT: "loaded", stale.name: "rejected",
                         "逍遥镇2026年第47周扶贫周报.csv": "loaded"}
    vr = _wh().query("SELECT s.original_name FROM core.village_reports v JOIN core.submissions s USING (submission_id)")
    assert list(vr["original_name"]) == [REPORT]
    m = _findings("week.mismatch")
    assert list(m["file"].str.rsplit("/", n=1).str[-1]) == [stale.name] and list(m["value"]) == ["2026-W46"]
    rs = _wh().query("SELECT missing, received FROM core.reporting_status WHERE unit_code = :u AND form = 'B'",
                     {"u": VILLAGE})
    assert rs.values.tolist() == [[False, True]], "the village's W47 report is received, not missing"


# ---- 3. a file in another county's folder replaces nothing ------------------------------------

def test_a_report_in_another_countys_folder_is_a_finding_and_replaces_nothing(examples_landing):
    stray = _report_copy(examples_landing, "焦东村第47周周报.xlsx", 9, county="淮阳县", D6=40, N6=39)
    stage_and_publish(WEEK)
    consolidate(WEEK)
    status = _status()
    assert status[REPORT] == "loaded" and status[stray.name] == "rejected"
    f = _findings("unit.wrong_county")
    assert len(f) == 1
    r = f.iloc[0]
    assert (r["severity"], r["value"], r["unit_code"], int(r["row"])) == ("error", "淮阳县", VILLAGE, 0)
    assert r["file"] == f"{WEEK}/淮阳县/逍遥镇/{stray.name}"
    assert "焦东村（411622107201）" in r["message"] and "「淮阳县」文件夹" in r["message"] and "属于西华县" in r["message"]
    vr = _wh().query("SELECT hh_open FROM core.village_reports")
    assert vr["hh_open"].tolist() == [38], "the village's own report counts"
    disc = _wh().query("SELECT * FROM core.discrepancies WHERE unit_code = :u", {"u": VILLAGE})
    assert disc.empty, disc[["rule", "metric", "direction"]].to_string()


def test_a_steward_who_accepts_the_file_in_the_wrong_folder_lets_it_replace(examples_landing):
    from pipelines.review.lifecycle import sync_lifecycle, waive

    stray = _report_copy(examples_landing, "焦东村第47周周报.xlsx", 9, county="淮阳县", C6=4)
    stage_and_publish(WEEK)
    sync_lifecycle(WEEK)
    assert _wh().query("SELECT work_team_size FROM core.village_reports")["work_team_size"].tolist() == [3]
    waive(_findings("unit.wrong_county")["finding_id"].iloc[0], reason="县里确认以此件为准", by="steward")
    stage_and_publish(WEEK)
    status = _status()
    assert status[REPORT] == "superseded" and status[stray.name] == "loaded"
    assert _wh().query("SELECT work_team_size FROM core.village_reports")["work_team_size"].tolist() == [4]


# ---- 4. a ledger in two parts; an overlapping correction ----------------------------------------

def test_a_ledger_in_two_disjoint_parts_is_loaded_whole_with_a_warning(examples_landing):
    one = _ledger_with(examples_landing, "焦东村三本账（一）.xlsx", set(HH[:22]))
    two = _ledger_with(examples_landing, "焦东村三本账（二）.xlsx", set(HH[22:]), hour=8)
    (_folder(examples_landing) / LEDGER).unlink()
    summary = stage_and_publish(WEEK)
    consolidate(WEEK)
    status = _status()
    assert status[one.name] == "partial" and status[two.name] == "loaded"  # (一) holds the mangled ID row
    assert summary["loaded"]["ledger_households"] == 44
    f = _findings("ledger.parts")
    assert len(f) == 1
    r = f.iloc[0]
    assert r["severity"] == "warning" and r["file"].endswith(two.name) and r["value"] == f"{one.name}、{two.name}"
    assert "2 份三本账" in r["message"] and "户编号互不重复" in r["message"]
    ledger = _wh().query("SELECT SUM(households) AS n FROM core.ledger_summary")
    assert int(ledger["n"].iloc[0]) == 45
    disc = _wh().query("SELECT * FROM core.discrepancies WHERE unit_code = :u", {"u": VILLAGE})
    assert disc.empty, "the village report agrees with both parts added up"
    note = f"本周三本账以 {one.name}、{two.name} 为准（分册，户编号互不重复，一并入库）。"
    assert _receipt(one.name)["summary"].endswith(note) and _receipt(two.name)["summary"].endswith(note)


@pytest.mark.parametrize("dropped, rule", [(HH[-2:], "ledger.households_dropped"),
                                           (HH[-10:], "ledger.correction_lost_households")])
def test_a_correction_keeps_the_newer_and_names_the_households_only_in_the_older(examples_landing, dropped, rule):
    """2 of 45 households left out: a warning naming them; 10 (22%, more than the 20% of
    HUIZONG_SUPERSEDE_LOSS_SHARE): the warning of a correction that lost households."""
    newer = _ledger_with(examples_landing, "焦东村三本账（更正）.xlsx", set(HH) - set(dropped), hour=9)
    summary = stage_and_publish(WEEK)
    assert _status()[LEDGER] == "superseded" and _status()[newer.name] == "partial"
    assert summary["loaded"]["ledger_households"] == 44 - len(dropped)
    other = {"ledger.households_dropped", "ledger.correction_lost_households"} - {rule}
    assert _findings(other.pop()).empty
    f = _findings(rule)
    assert len(f) == 1
    r = f.iloc[0]
    assert r["severity"] == "warning" and r["file"].endswith(newer.name) and r["column"] == "户编号"
    assert r["value"] == "、".join(dropped) and f"其中 {len(dropped)} 户" in r["message"] and LEDGER in r["message"]
    ws = openpyxl.load_workbook(EXAMPLES / LEDGER)["计划进度账"]
    ids = [str(row[2]) for row in ws.iter_rows(min_row=4, values_only=True) if str(row[0]) in dropped]
    assert len(ids) == len(dropped) and not any(i in r["message"] or i in r["value"] for i in ids), \
        "households named by code, never by ID number"
    assert ("超过 20%" in r["message"]) == (rule == "ledger.correction_lost_households")


def test_the_loss_share_is_a_setting(examples_landing, monkeypatch):
    monkeypatch.setenv("HUIZONG_SUPERSEDE_LOSS_SHARE", "0.5")
    _ledger_with(examples_landing, "焦东村三本账（更正）.xlsx", set(HH[:-10]), hour=9)
    stage_and_publish(WEEK)
    assert _findings("ledger.correction_lost_households").empty
    assert len(_findings("ledger.households_dropped")) == 1


# ---- the quick path ------------------------------------------------------------------------------

PUBLISHED = ("wh:core.ledger_households", "wh:core.ledger_measures", "wh:core.ledger_helpers",
             "wh:core.village_reports", "wh:core.township_reports", "wh:core.county_reports",
             "wh:core.ledger_summary", "wh:core.submissions")


def _published(home) -> dict:
    return {k: v for k, v in W.snapshot(home).items()
            if k in PUBLISHED or k.startswith(("lake:facts/", "lake:quarantine/", "lake:findings/"))}


def _quick(week: str = WEEK) -> dict:
    """The re-run of a published week the way the DAG takes it when little changed: one
    task, apply_changes (staging, publish, consolidation, review and receipts, the mart)."""
    from pipelines import weekly

    plan = weekly.discover(week)
    assert plan["quick"] and not plan["batches"], plan
    return weekly.apply_changes(week, plan["quick"], run_id="test")


def test_late_files_on_the_quick_path_give_what_a_full_run_gives(examples_landing, home):
    """After the week is published: a ledger's correction without two households, then a
    correction of the village report sent to another county's folder and last week's report
    sent again. Applied on the quick path (each added file staged on its group's earlier
    staging, the publish incremental), the week equals a cold full run."""
    assert stage_and_publish(WEEK)["mode"] == "full"
    _ledger_with(examples_landing, "焦东村三本账（更正）.xlsx", set(HH[:-2]), hour=9)
    second = _quick()
    _report_copy(examples_landing, "焦东村周报.xlsx", 10, county="淮阳县", C6=4)
    _report_copy(examples_landing, "焦东村第46周周报.xlsx", 11, K2="填报周次：2026年第46周")
    third = _quick()
    for run in (second, third):  # each time only the added file of 西华县 is parsed, on its earlier staging
        assert run["publish"]["mode"] == "incremental"
        assert {g["group"]: g.get("added_files") for g in run["publish"]["groups"]}["西华县"] == 1
    status = _status()
    assert status[REPORT] == "loaded" and status["焦东村周报.xlsx"] == "rejected" and status["焦东村第46周周报.xlsx"] == "rejected"
    assert status[LEDGER] == "superseded" and len(_findings("ledger.households_dropped")) == 1
    old = next((get_settings().outbox_dir / WEEK / VILLAGE).glob("回执_焦东村三本账2026第47周_*.html"))
    assert "本周以 焦东村三本账（更正）.xlsx（最后收到）为准，本文件已被其替代。" in old.read_text(encoding="utf-8")
    incremental = _published(home)
    shutil.rmtree(home / "lake" / "staging")
    from pipelines import storage
    from pipelines.ingest import publish_state

    lfs, root = storage.filesystem(get_settings().lake_url)
    publish_state.drop_state(lfs, root, WEEK)
    assert stage_and_publish(WEEK)["mode"] == "full"
    d = W.diff(_published(home), incremental)
    assert not d, W.describe(d)


def test_a_ledger_replaced_by_one_that_is_replaced_in_turn_points_at_the_one_that_counts():
    """Ledger a (households 1-2), b (2-3, sent later), c (3-4, last): a and c share no
    household but b overlaps both, so b replaces a and c replaces b; a's file that counts is c."""
    register = read_register((EXAMPLES / "区划名录.csv").read_bytes())
    t = pd.Timestamp("2026-11-22T12:00Z")
    ident = pd.DataFrame({"submission_id": ["a", "b", "c"],
                          "landing_path": [f"{WEEK}/西华县/逍遥镇/{n}.xlsx" for n in "abc"],
                          "received_at": [t, t + pd.Timedelta(hours=1), t + pd.Timedelta(hours=2)],
                          "form": "A", "unit_code": VILLAGE, "unit_name": "", "content_week": ""})
    households = pd.DataFrame({"submission_id": ["a", "a", "b", "b", "c", "c"],
                               "household_id": [HH[0], HH[1], HH[1], HH[2], HH[2], HH[3]]})
    out = resolve_supersession(ident, WEEK, households, register).set_index("submission_id")["superseded_by"]
    assert out.to_dict() == {"a": "c", "b": "c", "c": ""}


def test_only_a_registered_unit_can_be_in_the_wrong_place():
    """A code outside the register is unit.unknown's finding alone, wherever it lies."""
    from pipelines.ingest.supersession import misplaced

    register = read_register((EXAMPLES / "区划名录.csv").read_bytes())
    ident = pd.DataFrame({"landing_path": [f"{WEEK}/淮阳县/逍遥镇/a.xlsx", f"{WEEK}/淮阳县/逍遥镇/b.xlsx",
                                           f"{WEEK}/西华县/逍遥镇/c.xlsx", f"{WEEK}/d.xlsx", f"{WEEK}/411622/e.xlsx"],
                          "unit_code": [VILLAGE, "411622107999", VILLAGE, VILLAGE, VILLAGE]})
    assert misplaced(ident, register).tolist() == [True, False, False, False, False]
