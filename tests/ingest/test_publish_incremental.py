"""Incremental publish (pipelines/ingest/publish_state.py): a publish after the week's first
rewrites only the submissions whose rows can have changed, and leaves the lake and the
warehouse exactly as a full publish of the same inputs would."""
from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from pipelines import storage
from pipelines import forms
from pipelines.ingest import publish, publish_state, stage
from pipelines.ingest.landing import submission_id_of
from tests.week_run import stage_and_publish
from pipelines.settings import get_settings
from pipelines.warehouse import Warehouse
from tests.reliability import world as W

WEEK = "2026-W47"
# What publish writes; consolidation, review and the mart are other steps.
PUBLISHED = ("wh:core.ledger_households", "wh:core.ledger_measures", "wh:core.ledger_helpers",
             "wh:core.village_reports", "wh:core.township_reports", "wh:core.county_reports",
             "wh:core.findings", "wh:core.ledger_summary", "wh:core.regions", "wh:core.loads",
             "wh:core.submissions")


def _run(week: str = WEEK) -> dict:
    return stage_and_publish(week)


def _published(snap: dict) -> dict:
    return {k: v for k, v in snap.items() if k in PUBLISHED or k.startswith(("lake:facts/", "lake:quarantine/",
                                                                               "lake:findings/"))}


def _lake_mtimes(home: Path) -> dict[str, int]:
    return {str(p.relative_to(home)): p.stat().st_mtime_ns
            for area in ("facts", "quarantine") for p in (home / "lake" / area).rglob("*.parquet")}


def test_unchanged_rerun_rewrites_nothing(examples_landing, home):
    first = _run()
    assert first["mode"] == "full" and first["rewritten_submissions"] == 3
    before, mtimes = W.snapshot(home), _lake_mtimes(home)
    second = _run()
    assert second["mode"] == "incremental" and second["rewritten_submissions"] == 0
    assert second["loaded"] == first["loaded"] and second["quarantined"] == first["quarantined"]
    assert _lake_mtimes(home) == mtimes, "a lake file was rewritten although none of its rows changed"
    d = W.diff(before, W.snapshot(home))
    assert not d, W.describe(d)


def test_a_state_that_does_not_describe_the_warehouse_means_a_full_publish(examples_landing, home, monkeypatch):
    _run()
    s = get_settings()
    wh = Warehouse(s.warehouse_url)
    # Something else loaded the week since (a restore, a manual reload): core.loads differs.
    with wh.transaction() as conn:
        conn.execute(sa.text("UPDATE core.loads SET loaded_at = loaded_at + INTERVAL 1 SECOND WHERE week = :w"),
                     {"w": WEEK})
    assert _run()["mode"] == "full"
    assert _run()["mode"] == "incremental"
    # New code: the whole week again.
    monkeypatch.setattr(publish, "code_fingerprint", lambda: "other code")
    assert _run()["mode"] == "full"
    # No state (a publish cut short removes it before touching the lake).
    lfs, root = storage.filesystem(s.lake_url)
    publish_state.drop_state(lfs, root, WEEK)
    assert _run()["mode"] == "full"
    # A lake file the state counts rows in is gone.
    assert _run()["mode"] == "incremental"
    (home / "lake" / "facts" / "village_reports" / f"week={WEEK}" / "part-0.parquet").unlink()
    again = _run()
    assert again["mode"] == "full" and again["loaded"]["village_reports"] == 1
    assert (home / "lake" / "facts" / "village_reports" / f"week={WEEK}" / "part-0.parquet").exists()


@pytest.mark.slow
def test_incremental_publish_equals_a_full_one(home, monkeypatch):
    """A generated week (three counties, the default faults), published; then a corrected
    village report, a ledger that lands twice (the same bytes in a second county's
    folder), a corrected ledger sent through another county's folder (a finding there: it
    replaces nothing, docs/supersession.md) and a steward's waiver. The incremental publish touches few submissions and
    leaves every published table and lake file equal to a full publish's."""
    from pipelines.review.lifecycle import sync_lifecycle, waive

    W.make_landing(home / "landing", weeks=WEEK)
    monkeypatch.setenv("HUIZONG_PII_KEY", W.PII_KEY)
    first = _run()
    sync_lifecycle(WEEK)
    assert first["mode"] == "full"
    total = first["rewritten_submissions"]

    week_dir = home / "landing" / WEEK
    W.add_corrected_village_report(home / "landing")
    ledgers = sorted(p for p in (week_dir / W.COUNTIES[0]).rglob("*三本账*") if p.suffix == ".xlsx")
    twice, corrected = ledgers[0], ledgers[1]
    shutil.copy2(twice, week_dir / W.COUNTIES[2] / twice.name)
    import openpyxl

    wb = openpyxl.load_workbook(corrected)
    ws = wb.worksheets[0]
    cell = next(c for row in ws.iter_rows() for c in row if isinstance(c.value, (int, float)) and c.row > 4)
    cell.value = cell.value + 1
    late = week_dir / W.COUNTIES[2] / f"更正_{corrected.name}"
    wb.save(late)
    t = corrected.stat().st_mtime + 7200
    os.utime(late, (t, t))
    wh = Warehouse(get_settings().warehouse_url)
    # A row error that is its row's only error, in a file that stays current: waived, the
    # row loads.
    original = submission_id_of(hashlib.sha256(corrected.read_bytes()).hexdigest())
    err = wh.query(
        "SELECT finding_id, submission_id, sheet, \"row\" FROM core.findings f WHERE week = :w AND severity = 'error' "
        "AND \"row\" > 0 AND submission_id <> :s AND (SELECT COUNT(*) FROM core.findings g WHERE g.week = f.week "
        "AND g.submission_id = f.submission_id AND g.sheet = f.sheet AND g.\"row\" = f.\"row\" "
        "AND g.severity = 'error') = 1 ORDER BY finding_id LIMIT 1", {"w": WEEK, "s": original}).iloc[0]

    def loaded(row) -> int:
        return sum(int(wh.scalar(f"SELECT COUNT(*) FROM {t} WHERE submission_id = :s AND source_sheet = :sh "
                                 "AND source_row = :r", {"s": row["submission_id"], "sh": row["sheet"],
                                                         "r": int(row["row"])}))
                   for t in (t.core for t in forms.REGISTRY.values()))

    assert loaded(err) == 0
    waive(err["finding_id"], reason="核实无误", by="steward")

    second = _run()
    assert second["mode"] == "incremental"
    # two of the three counties re-staged, plus the waived row's file
    assert 0 < second["rewritten_submissions"] < total, (second["rewritten_submissions"], total)
    incremental = _published(W.snapshot(home))
    subs = wh.query("SELECT status FROM core.submissions WHERE original_name = :n", {"n": late.name})
    assert list(subs["status"]) == ["rejected"]
    subs = wh.query("SELECT status FROM core.submissions WHERE submission_id = :s", {"s": original})
    assert list(subs["status"]) in (["loaded"], ["partial"]), "the ledger in its own county's folder counts"

    lfs, root = storage.filesystem(get_settings().lake_url)
    publish_state.drop_state(lfs, root, WEEK)
    third = _run()
    assert third["mode"] == "full"
    full = _published(W.snapshot(home))
    d = W.diff(full, incremental)
    assert not d, W.describe(d)
    assert second["loaded"] == third["loaded"] and second["quarantined"] == third["quarantined"]
    assert loaded(err) == 1, "the waived row is loaded, not quarantined"


def test_fingerprints_follow_every_input():
    pairs = pd.DataFrame({"submission_id": ["a", "b", "b"], "group": ["g1", "g1", "g2"]})
    keys = {"quarantine": pd.MultiIndex.from_arrays([["a"], ["计划进度账"], [5]]),
            "warning": pd.MultiIndex.from_arrays([["b"], [""], [0]])}
    base = publish_state.fingerprints(pairs, {"g1": "s1", "g2": "s2"}, {"a", "b"}, set(), keys)
    assert base.nunique() == 3
    same = publish_state.fingerprints(pairs, {"g1": "s1", "g2": "s2"}, {"a", "b"}, set(), keys)
    assert list(same) == list(base)
    moved = {**keys, "quarantine": pd.MultiIndex.from_arrays([["a"], ["计划进度账"], [6]])}
    only_a = {
        "superseded": publish_state.fingerprints(pairs, {"g1": "s1", "g2": "s2"}, {"b"}, set(), keys),
        "rejected": publish_state.fingerprints(pairs, {"g1": "s1", "g2": "s2"}, {"a", "b"}, {"a"}, keys),
        "row moved": publish_state.fingerprints(pairs, {"g1": "s1", "g2": "s2"}, {"a", "b"}, set(), moved),
    }
    for what, fp in only_a.items():
        assert fp.iloc[0] != base.iloc[0], what
        assert list(fp.iloc[1:]) == list(base.iloc[1:]), what
    restaged = publish_state.fingerprints(pairs, {"g1": "s1*", "g2": "s2"}, {"a", "b"}, set(), keys)
    assert list(restaged != base) == [True, True, False]  # every pair of the re-staged group g1
    old = pairs.assign(fingerprint=base)
    assert publish_state.affected(old, old) == set()
    assert publish_state.affected(old, pairs.assign(fingerprint=only_a["rejected"])) == {"a"}
    assert publish_state.affected(old, pairs.assign(fingerprint=restaged)) == {"a", "b"}
    assert publish_state.affected(old, old.iloc[:2]) == {"b"}  # a pair went away


@pytest.mark.slow
def test_added_files_staged_on_the_earlier_staging_equal_a_cold_week(home, monkeypatch):
    """Late and corrected files are parsed and validated alone and added to their group's
    staging (the rest of the group is not parsed again), and publish then rewrites only
    their submissions and those they supersede; the lake and the warehouse end up as a
    cold run of the same landing folder leaves them."""
    W.make_landing(home / "landing", weeks=WEEK)
    monkeypatch.setenv("HUIZONG_PII_KEY", W.PII_KEY)
    first = _run()
    week_dir = home / "landing" / WEEK
    W.add_corrected_village_report(home / "landing")
    # A village ledger sent again with one number changed, in its own county: it supersedes
    # the ledger already staged in the same group, and carries the same ID numbers.
    ledger = sorted(p for p in (week_dir / W.COUNTIES[1]).rglob("*三本账*") if p.suffix == ".xlsx")[0]
    import openpyxl

    wb = openpyxl.load_workbook(ledger)
    ws = wb.worksheets[0]
    cell = next(c for row in ws.iter_rows() for c in row if isinstance(c.value, (int, float)) and c.row > 4)
    cell.value = cell.value + 1
    late = ledger.with_name(f"更正_{ledger.name}")
    wb.save(late)
    os.utime(late, (ledger.stat().st_mtime + 7200,) * 2)

    calls = []
    real = stage._stage_changed
    monkeypatch.setattr(stage, "_stage_changed",
                        lambda week, todo, *a: calls.append([len(f) for _n, f, _i in todo]) or real(week, todo, *a))
    second = stage_and_publish(WEEK)
    added = {g["group"]: g.get("added_files") for g in second["groups"]}
    assert {g: n for g, n in added.items() if n} == {W.COUNTIES[1]: 2}, added
    assert calls == [[2]], "only the added files are parsed and validated"
    assert second["mode"] == "incremental"
    # the two new files and the two they supersede
    assert second["rewritten_submissions"] == 4, second["rewritten_submissions"]
    assert second["files"] == first["files"] + 2
    incremental = _published(W.snapshot(home))
    wh = Warehouse(get_settings().warehouse_url)
    status = dict(wh.query("SELECT original_name, status FROM core.submissions WHERE original_name IN (:a, :b)",
                           {"a": ledger.name, "b": late.name}).itertuples(index=False))
    assert status[ledger.name] == "superseded" and status[late.name] in ("loaded", "partial")

    # Cold: the staging and the publish state gone, every file parsed again.
    shutil.rmtree(home / "lake" / "staging")
    lfs, root = storage.filesystem(get_settings().lake_url)
    publish_state.drop_state(lfs, root, WEEK)
    calls.clear()
    third = _run()
    assert third["mode"] == "full" and sum(map(sum, calls)) == second["files"]
    d = W.diff(_published(W.snapshot(home)), incremental)
    assert not d, W.describe(d)


def test_duplicate_id_rows_are_read_again_only_for_groups_that_changed(home, monkeypatch):
    """publish keeps the rows holding a city-wide duplicate ID per group between runs of a
    week: an unchanged week reads none of them again; the findings are the same."""
    from pipelines import storage as st

    import openpyxl

    W.make_landing(home / "landing", weeks=WEEK)
    monkeypatch.setenv("HUIZONG_PII_KEY", W.PII_KEY)
    week_dir = home / "landing" / WEEK
    # One household's ID number, registered again in another county's village (a corrected
    # ledger that supersedes that village's first one).
    a, b = (sorted(p for p in (week_dir / c).rglob("*三本账*") if p.suffix == ".xlsx")[0] for c in W.COUNTIES[:2])

    def id_cells(path):
        wb = openpyxl.load_workbook(path)
        ws = wb.worksheets[0]
        head = next(c for row in ws.iter_rows() for c in row if isinstance(c.value, str) and "身份证" in c.value)
        return wb, [ws.cell(r, head.column) for r in range(head.row + 1, ws.max_row + 1)
                    if isinstance(ws.cell(r, head.column).value, str) and len(ws.cell(r, head.column).value) == 18]

    shared = id_cells(a)[1][0].value
    wb, cells = id_cells(b)
    cells[0].value = shared
    twice = b.with_name(f"更正_{b.name}")
    wb.save(twice)
    os.utime(twice, (b.stat().st_mtime + 3600,) * 2)
    reads = []
    real = st.read_parquet_rows
    monkeypatch.setattr(st, "read_parquet_rows", lambda fs, path, at: reads.append(path) or real(fs, path, at))
    _run()
    wh = Warehouse(get_settings().warehouse_url)
    query = "SELECT finding_id, message FROM core.findings WHERE rule = 'id_number.duplicate' ORDER BY 1"
    first = wh.query(query)
    assert len(first) and reads, "the world has duplicate ID numbers across villages"
    assert (home / "lake" / "staging" / f"week={WEEK}" / "_duplicate_rows.parquet").is_file()
    reads.clear()
    _run()
    assert reads == []
    pd.testing.assert_frame_equal(wh.query(query), first)
