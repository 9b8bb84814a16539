"""The week's first steps (plan → stage → publish: pipelines.ingest), without Airflow."""
from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from pipelines.ingest.duplicates import _shared_ids
from pipelines.ingest.identify import identity_findings
from pipelines.ingest.plan import group_inputs, plan_week
from pipelines.ingest.publish import publish
from pipelines.ingest.stage import stage_groups
from pipelines.settings import get_settings
from pipelines.warehouse import Warehouse
from tests.week_run import planned_batches, stage_and_publish

WEEK = "2026-W47"
TABLES = ["core.ledger_households", "core.ledger_measures", "core.ledger_helpers", "core.village_reports",
          "core.township_reports", "core.county_reports", "core.findings", "core.submissions"]


def run_week(week: str = WEEK) -> dict:
    return stage_and_publish(week)


def route(week: str = WEEK) -> dict:
    """What the week plan decides about the run's path."""
    plan = plan_week(week)
    return {k: plan[k] for k in ("week", "batches", "quick", "to_parse")}


def snapshot(wh: Warehouse) -> dict[str, pd.DataFrame]:
    out = {}
    for t in TABLES:
        df = wh.query(f"SELECT * FROM {t}")
        out[t] = df.sort_values(list(df.columns)[:6]).reset_index(drop=True).astype(str)
    return out


def test_examples_ingest_with_exactly_the_documented_finding(examples_landing):
    summary = run_week()
    s = get_settings()
    wh = Warehouse(s.warehouse_url)
    f = wh.query("SELECT * FROM core.findings WHERE severity = 'error'")
    assert len(f) == 1, f[["file", "sheet", "row", "column", "value", "rule"]].to_string()
    r = f.iloc[0]
    assert (r["sheet"], int(r["row"]), r["column"], r["value"]) == ("计划进度账", 11, "身份证号码", "4.116*********e+17")
    assert r["rule"] == "id_number.scientific" and r["dimension"] == "identification"
    assert r["unit_code"] == "411622107201" and r["record_key"] == "4116221072010008"
    assert "科学计数法" in r["message"] and r["file"].endswith("焦东村三本账2026第47周.xlsx")
    # 45 households, the mangled-ID row quarantined, the rest loaded.
    hh = wh.query("SELECT * FROM core.ledger_households")
    assert len(hh) == 44
    assert "4116221072010008" not in set(hh["household_id"])
    poor = hh[hh["state"] == "贫困"]
    assert len(poor) == 36 and int(poor["household_size"].sum()) == 120  # 37/123 minus the quarantined 3-person household
    vr = wh.query("SELECT * FROM core.village_reports").iloc[0]
    assert (int(vr.hh_open), int(vr.hh_close), int(vr.pp_close), float(vr.microcredit_wan)) == (38, 37, 123, 10.5)
    tr = wh.query("SELECT * FROM core.township_reports")
    assert len(tr) == 9 and int(tr[tr["is_total"]]["hh_close"].iloc[0]) == 224
    subs = wh.query("SELECT * FROM core.submissions ORDER BY detected_form")
    assert list(subs["detected_form"]) == ["A", "B", "C"]
    assert list(subs["status"]) == ["partial", "loaded", "loaded"]
    assert subs["on_time"].all()
    # Every file kept unchanged in the archive; the quarantined row is findable in the lake.
    for row in subs.itertuples():
        assert (Path(s.archive_url) / row.archive_path).read_bytes() == (Path(s.landing_url) / row.landing_path).read_bytes()
    q = pd.read_parquet(Path(s.lake_url) / "quarantine" / "ledger_households" / f"week={WEEK}")
    assert list(q["household_id"]) == ["4116221072010008"] and list(q["source_row"]) == [11]
    assert summary["loaded"]["ledger_households"] == 44


def test_rerun_is_idempotent(examples_landing):
    run_week()
    wh = Warehouse(get_settings().warehouse_url)
    first = snapshot(wh)
    run_week()
    second = snapshot(wh)
    for t in TABLES:
        pd.testing.assert_frame_equal(first[t], second[t], obj=t)


def test_corrected_resubmission_supersedes_and_both_are_kept(examples_landing):
    run_week()
    folder = examples_landing / WEEK / "西华县" / "逍遥镇"
    # The village resends its report later with a corrected first secretary's team size.
    src = folder / "西华县逍遥镇焦东村第47周周报(改).xlsx"
    import openpyxl

    wb = openpyxl.load_workbook(src)
    ws = wb.active
    ws["C6"] = 4
    newer = folder / "焦东村第47周周报（更正）.xlsx"
    wb.save(newer)
    t = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp()
    os.utime(newer, (t, t))
    run_week()
    wh = Warehouse(get_settings().warehouse_url)
    subs = wh.query("SELECT * FROM core.submissions WHERE detected_form = 'B' ORDER BY received_at")
    assert list(subs["status"]) == ["superseded", "loaded"]
    assert subs["superseded_by"].iloc[0] == subs["submission_id"].iloc[1]
    vr = wh.query("SELECT * FROM core.village_reports")
    assert len(vr) == 1 and int(vr["work_team_size"].iloc[0]) == 4
    assert vr["submission_id"].iloc[0] == subs["submission_id"].iloc[1]


def test_corrupt_file_is_a_finding_and_the_rest_of_the_county_loads(examples_landing):
    folder = examples_landing / WEEK / "西华县" / "逍遥镇"
    (folder / "后营村周报.xlsx").write_bytes(b"PK\x03\x04 this is not really a workbook")
    (folder / "空文件.csv").write_bytes(b"")
    run_week()
    wh = Warehouse(get_settings().warehouse_url)
    f = wh.query("SELECT * FROM core.findings WHERE row = 0 AND severity = 'error'")
    bad = {Path(x).name for x in f["file"]}
    assert {"后营村周报.xlsx", "空文件.csv"} <= bad
    assert all(m for m in f["message"]) and all(any("\u4e00" <= ch <= "\u9fff" for ch in m) for m in f["message"])
    assert len(wh.query("SELECT * FROM core.ledger_households")) == 44
    subs = wh.query("SELECT original_name, status FROM core.submissions")
    status = dict(zip(subs["original_name"], subs["status"]))
    assert status["后营村周报.xlsx"] == "rejected" and status["空文件.csv"] == "rejected"
    # Kept in the archive nonetheless.
    assert len(list(Path(get_settings().archive_url).rglob("*.*"))) == 5


def test_unknown_unit_and_wrong_week_are_rejected(examples_landing):
    folder = examples_landing / WEEK / "西华县" / "逍遥镇"
    csv = (folder / "逍遥镇2026年第47周扶贫周报.csv").read_bytes().decode("gbk")
    (folder / "逍遥镇2026年第47周扶贫周报.csv").unlink()
    (folder / "外乡镇周报.csv").write_bytes(csv.replace("411622107", "411622999").encode("gbk"))
    (folder / "逍遥镇第46周.csv").write_bytes(csv.replace("第47周", "第46周").encode("gbk"))
    run_week()
    wh = Warehouse(get_settings().warehouse_url)
    f = wh.query("SELECT file, rule FROM core.findings WHERE severity = 'error' AND row = 0")
    rules = dict(zip([Path(x).name for x in f["file"]], f["rule"]))
    assert rules["外乡镇周报.csv"] == "unit.unknown"
    assert rules["逍遥镇第46周.csv"] == "week.mismatch"
    assert len(wh.query("SELECT * FROM core.township_reports")) == 0


def test_unchanged_groups_are_reused_and_a_changed_group_is_reprocessed(examples_landing):
    other = examples_landing / WEEK / "扶沟县"
    other.mkdir()
    (other / "说明.csv").write_bytes("这不是报表\n".encode("utf-8"))
    first = run_week()["groups"]
    assert [g["reused"] for g in first] == [False, False]
    second = run_week()["groups"]
    assert [g["reused"] for g in second] == [True, True]
    # A late file in one county: only that county is parsed and validated again.
    (other / "补报.csv").write_bytes("还是不是报表\n".encode("utf-8"))
    third = {g["group"]: g["reused"] for g in run_week()["groups"]}
    assert third == {"扶沟县": False, "西华县": True}
    # Reused groups are not even mapped: discover gives the changed ones only (none: one
    # empty task, so that the week is still published).
    assert planned_batches(WEEK) == [[]]
    (other / "再补报.csv").write_bytes("第三份\n".encode("utf-8"))
    assert planned_batches(WEEK) == [["扶沟县"]]
    wh = Warehouse(get_settings().warehouse_url)
    assert len(wh.query("SELECT * FROM core.ledger_households")) == 44
    f = wh.query("SELECT file FROM core.findings WHERE rule LIKE 'file.%'")
    assert {Path(x).name for x in f["file"]} == {"说明.csv", "补报.csv"}


def test_the_plan_takes_the_quick_way_only_for_a_small_change_to_a_published_week(examples_landing, monkeypatch):
    folder = examples_landing / WEEK / "西华县" / "逍遥镇"
    first = route()  # never published: the full way, whatever the size
    assert first["quick"] == [] and first["batches"] == [["西华县"]] and first["to_parse"] == 3
    run_week()
    assert route() == {"week": WEEK, "batches": [], "quick": [[]], "to_parse": 0}
    # A late file in the county: only it is parsed (the county only gained a file).
    shutil.copy(folder / "逍遥镇2026年第47周扶贫周报.csv", folder / "逍遥镇2026年第47周扶贫周报(更正).csv")
    with open(folder / "逍遥镇2026年第47周扶贫周报(更正).csv", "ab") as f:
        f.write(b"\n")
    assert route() == {"week": WEEK, "batches": [], "quick": [["西华县"]], "to_parse": 1}
    monkeypatch.setenv("HUIZONG_QUICK_FILES", "0")  # fewer files than that: the full way
    assert route()["quick"] == []
    monkeypatch.delenv("HUIZONG_QUICK_FILES")
    # A file changed in place: the whole county is parsed again.
    (folder / "逍遥镇2026年第47周扶贫周报.csv").write_bytes((folder / "逍遥镇2026年第47周扶贫周报.csv").read_bytes() + b"\n\n")
    assert route()["to_parse"] == 4
    # A publish cut short leaves no state: the full way.
    from pipelines import storage
    from pipelines.ingest import publish_state

    lfs, lroot = storage.filesystem(get_settings().lake_url)
    lfs.rm(publish_state.state_path(lroot, WEEK))
    assert route()["quick"] == []


def test_publish_refuses_a_week_with_a_group_left_unprocessed(examples_landing):
    other = examples_landing / WEEK / "扶沟县"
    other.mkdir()
    (other / "说明.csv").write_bytes("这不是报表\n".encode("utf-8"))
    groups = planned_batches(WEEK)
    stage_groups(WEEK, [g for g in groups[0] if g != "扶沟县"] or groups[1])
    with pytest.raises(RuntimeError, match="扶沟县"):
        publish(WEEK, run_id="test")
    wh = Warehouse(get_settings().warehouse_url)
    assert len(wh.query("SELECT * FROM core.ledger_households")) == 0, "nothing published"


def test_hidden_and_odd_files_are_registered_not_ignored(examples_landing):
    folder = examples_landing / WEEK / "西华县"
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (folder / "_备份").mkdir()
    (folder / "_备份" / "~$焦东村.xlsx").write_bytes(b"lock")
    run_week()
    wh = Warehouse(get_settings().warehouse_url)
    subs = wh.query("SELECT original_name, status FROM core.submissions")
    status = dict(zip(subs["original_name"], subs["status"]))
    assert status[".DS_Store"] == "rejected" and status["~$焦东村.xlsx"] == "rejected"
    assert len(wh.query("SELECT * FROM core.ledger_households")) == 44


def test_files_are_parsed_with_gc_paused_and_it_is_resumed_after(examples_landing, monkeypatch):
    """The parsed files stay alive until validated: automatic full collections, which walk
    all of them, are paused for the step (pipelines/gcpause.py) and resumed after it."""
    import gc

    from pipelines.ingest import parse

    seen = []
    real = parse.parse_file

    def spy(data, path, folder_week):
        seen.append(gc.isenabled())
        return real(data, path, folder_week)

    monkeypatch.setattr(parse, "parse_file", spy)
    assert gc.isenabled()
    summary = run_week()
    assert seen and not any(seen)
    assert gc.isenabled()
    assert summary["loaded"]["ledger_households"] == 44


def test_shared_ids_are_the_ids_of_more_than_one_household():
    import numpy as np

    ids = np.array([5, 5, 5, 7, 7, 9, 1, 1, 2**63 + 3, 2**63 + 3], dtype=np.uint64)
    households = np.array([1, 1, 2, 3, 3, 4, 8, 9, 6, 6], dtype=np.uint64)
    # 5: households 1 and 2; 1: 8 and 9; 7 and 2**63+3 repeat one household; 9 is alone
    assert _shared_ids(ids, households).tolist() == [1, 5]
    assert _shared_ids(ids[:0], households[:0]).tolist() == []


def test_a_file_received_with_microseconds_leaves_the_others_times_as_they_were():
    """Group inputs list each file's time the same way whatever the other files' times
    (a new file whose time has microseconds must not restate the rest)."""
    settings = get_settings()

    def inputs(times):
        files = pd.DataFrame({"submission_id": [f"s{i}" for i in range(len(times))],
                              "landing_path": [f"p{i}" for i in range(len(times))],
                              "received_at": pd.to_datetime(times, utc=True, format="ISO8601")})
        return group_inputs(files, WEEK, settings, None, "", base={"fixed": 1})["files"]

    whole = inputs(["2026-11-23T08:00:00Z"])
    later = inputs(["2026-11-23T08:00:00Z", "2026-11-24T09:30:00.123456Z"])
    assert whole[0] == later[0] and later[1][2] != whole[0][2]


def test_identity_findings_name_late_files_and_unknown_units():
    settings = get_settings()
    ident = pd.DataFrame({
        "submission_id": ["s1", "s2", "s3", "s4"], "landing_path": ["a/1.xlsx", "a/2.csv", "a/3.xlsx", "a/4.txt"],
        "received_at": "", "form": ["B", "B", "C", ""], "unit_code": ["411622107201", "411622999999", "411622107", ""],
        "unit_name": ["焦东村", "", "", ""], "content_week": [WEEK, WEEK, "2026-W46", ""],
        "superseded_by": ["", "", "", ""]})
    files = pd.DataFrame({"submission_id": ["s1", "s2", "s3", "s4"],
                          "received_at": pd.to_datetime(["2026-11-23T01:00:00Z", "2026-11-23T03:30:00Z",
                                                         "2026-11-23T01:00:00Z", "2026-11-24T01:00:00Z"], utc=True)})
    register = pd.DataFrame({"code": ["411622107201", "411622107"], "name": ["焦东村", "城关镇"]})
    f = identity_findings(ident, files, register, WEEK, settings).set_index("rule")
    # s2 came at 11:30 Shanghai time, after the Monday 10:00 deadline; s4 is no form, never late
    late = f.loc[["submission.late"]]
    assert late["submission_id"].tolist() == ["s2"] and late["value"].tolist() == ["2026-11-23 11:30"]
    assert late["message"].iloc[0] == "报表于 2026-11-23 11:30 收到，晚于截止时间（2026-11-23 10:00），记为迟报"
    assert (late["level"].iloc[0], late["record_key"].iloc[0], late["severity"].iloc[0]) == ("村", "411622999999:B", "warning")
    assert f.loc["unit.unknown", "submission_id"] == "s2" and f.loc["week.mismatch", "submission_id"] == "s3"
    assert "s1" not in set(f["submission_id"])


def test_the_same_file_sent_twice_in_two_folders_is_loaded_once(examples_landing):
    """Every example file (ledger, village and township reports) also sent, an hour later and
    under another name, into another county's folder: one submission each, and every fact
    table holds each (submission, sheet, source row) once, as with one copy."""
    once = run_week()
    wh = Warehouse(get_settings().warehouse_url)
    before = snapshot(wh)
    other = examples_landing / WEEK / "扶沟县" / "城关镇"
    other.mkdir(parents=True)
    for src in (examples_landing / WEEK / "西华县" / "逍遥镇").iterdir():
        copy = other / f"再次报送_{src.name}"
        shutil.copy2(src, copy)
        os.utime(copy, (src.stat().st_mtime + 3600,) * 2)
    twice = run_week()
    assert twice["loaded"] == once["loaded"] and twice["quarantined"] == once["quarantined"]
    for table in ("core.ledger_households", "core.ledger_measures", "core.ledger_helpers", "core.village_reports",
                  "core.township_reports"):
        keys = wh.query(f"SELECT submission_id, source_sheet, source_row FROM {table}")
        assert len(keys) and not keys.duplicated().any(), table
        assert len(keys) == len(before[table]), table
    summary = wh.query("SELECT * FROM core.ledger_summary")
    assert len(summary) == 1 and int(summary["households"].iloc[0]) == 45
    subs = wh.query("SELECT DISTINCT submission_id FROM core.submissions")
    assert len(subs) == 3
