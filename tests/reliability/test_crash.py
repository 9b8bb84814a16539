"""Issue 8, part 2 — crash safety: the run is killed with SIGKILL at each stage, a reader
looks at the warehouse and the lake from another process right after, then the week is
run again; the result equals an uninterrupted run.

Kill points (``pipelines/checkpoints.py``; HUIZONG_KILL_STAGE arms one for a stage only):

- after archiving (every file copied into the archive, nothing registered),
- mid-parse (after the 4th file of the first county),
- mid-Parquet write, in process_group (staging) and in publish (the lake's facts): the
  temp file is complete and not yet renamed,
- after the lake is written and before the warehouse is touched,
- mid-warehouse load (inside publish's transaction, after the 2nd / 4th table),
- mid-consolidation (inside its transaction, after core.consolidated),
- mid mart refresh (inside its transaction, after the dimensions).

Two scenarios: a FIRST load of the week (the reader must see the week absent, never
part of it) and a RELOAD after a village sent a corrected report (the reader must see
the complete previous state of each transaction's tables, never a mix).

What a reader may see in between:
- warehouse: per transaction (publish; consolidate; mart week), all its tables in the
  state before the run or all in the state after it. ``core.submissions`` rows that
  existed before are part of the publish transaction; a new submission's row is
  registered by discover on its own (status ``received``) and is allowed;
- lake: no temp file under a name a dataset reader would read (hidden names only), every
  part file readable, each file equal to its content before the run or after it. The
  lake's files are replaced one by one, so across two tables of the lake a reader may see
  one already new and one still old until publish finishes (the warehouse's
  ``core.loads`` row is the commit record of a week);
- archive: every file in the landing area, byte for byte.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from tests.reliability import world as W

pytestmark = pytest.mark.slow

WEEK = "2026-W47"

# (id, stage that arms the kill point, checkpoint name, kill at the Nth hit)
FIRST_LOAD = [
    ("after-archiving", "discover", "discover.archived", 1),
    ("mid-parse", "process", "process.parsed", 4),
    ("mid-parquet-staging", "process", "storage.tmp_written", 3),
    ("mid-parquet-lake", "publish", "storage.tmp_written", 3),
    ("lake-written", "publish", "publish.lake_written", 1),
    ("mid-warehouse-load", "publish", "publish.table_replaced", 2),
    ("mid-consolidation", "consolidate", "consolidate.table_replaced", 1),
    ("mid-mart", "mart", "mart.dimensions", 1),
]
RELOAD = [
    ("mid-parquet-lake", "publish", "storage.tmp_written", 2),
    ("mid-warehouse-load", "publish", "publish.table_replaced", 4),
    ("mid-consolidation", "consolidate", "consolidate.table_replaced", 1),
    ("mid-mart", "mart", "mart.dimensions", 1),
]

PUBLISH = ["core.ledger_households", "core.ledger_measures", "core.ledger_helpers", "core.village_reports",
           "core.township_reports", "core.county_reports", "core.ledger_summary", "core.regions", "core.loads"]
CONSOLIDATE = ["core.consolidated", "core.discrepancies", "core.reporting_status"]
MART_WEEK = ["mart.dim_region", "mart.dim_week", "mart.dim_accuracy", "mart.weekly_summary", "mart.weekly_accuracy"]

STATS = {"kill_points": 0, "reruns": 0, "rows_compared": 0}


@pytest.fixture(scope="module")
def worlds(tmp_path_factory) -> dict:
    """The landing (generated W47 + the shared examples), the uninterrupted first load,
    and the uninterrupted reload after a corrected village report."""
    base = tmp_path_factory.mktemp("crash")
    landing = W.make_landing(base / "landing", weeks=WEEK)
    first = base / "first"
    shutil.copytree(landing, first / "landing")
    r = W.run_subprocess(first, [WEEK], run_id="reference")
    assert r.returncode == 0, r.stderr[-3000:]
    reload_ = base / "reload"
    shutil.copytree(first, reload_)
    W.add_corrected_village_report(reload_ / "landing")
    r = W.run_subprocess(reload_, [WEEK], run_id="reference")
    assert r.returncode == 0, r.stderr[-3000:]
    out = {"landing": landing, "first": first, "first_snap": W.snapshot(first),
           "reload_snap": W.snapshot(reload_)}
    assert W.diff(out["first_snap"], out["reload_snap"]), "the corrected report must change the week"
    return out


def _group(snap: dict, tables: list[str], stage: str | None = None, keep_subs: set | None = None) -> dict:
    out = {t: snap.get(f"wh:{t}") for t in tables if f"wh:{t}" in snap}
    if "wh:core.findings" in snap and stage:
        out["core.findings"] = snap["wh:core.findings"].where(stage=stage)
        if stage == "ingest":  # consolidation links intake findings to their causes (its own transaction)
            out["core.findings"] = out["core.findings"].without("cause_id")
    if keep_subs is not None and "wh:core.submissions" in snap:
        out["core.submissions"] = snap["wh:core.submissions"].where(submission_id=keep_subs)
    return {k: v for k, v in out.items() if v is not None}


def _same(a: dict, b: dict) -> bool:
    """Same content; a table missing on one side equals an empty one (W.diff's rule)."""
    return not W.diff(a, b)


def _subs(snap: dict) -> set:
    t = snap.get("wh:core.submissions")
    return {r[t.columns.index("submission_id")] for r in t.rows} if t is not None else set()


def check_reader_view(home: Path, before: dict, after: dict) -> dict:
    """What another process sees right after the kill: whole transactions, whole files."""
    seen = W.warehouse_snapshot(home)
    seen = {f"wh:{k}": v for k, v in seen.items()}
    keep = _subs(before)
    for name, tables, stage, subs in (("publish", PUBLISH, "ingest", keep),
                                      ("consolidate", CONSOLIDATE, "consolidate", None),
                                      ("mart", MART_WEEK, None, None)):
        now = _group(seen, tables, stage, subs)
        old, new = _group(before, tables, stage, subs), _group(after, tables, stage, subs)
        assert _same(now, old) or _same(now, new), \
            f"{name}: a reader sees a half-loaded week:\nvs before: {W.describe(W.diff(old, now))}\n" \
            f"vs after: {W.describe(W.diff(new, now))}"
    # core.loads present for the week <=> the week's facts are complete (the new state).
    loads = seen.get("wh:core.loads")
    has_week = loads is not None and len(loads.where(week=WEEK)) > 0
    if has_week and not _same(_group(seen, PUBLISH, "ingest", keep), _group(before, PUBLISH, "ingest", keep)):
        assert _same(_group(seen, PUBLISH, "ingest", keep), _group(after, PUBLISH, "ingest", keep))

    lake = home / "lake"
    for p in W.lake_files(home):
        rel = p.relative_to(lake).as_posix()
        if p.name.endswith(".tmp"):
            assert not W.visible(p, lake), f"a temp file a dataset reader would read: {rel}"
            continue
        if W.visible(p, lake) and p.suffix == ".parquet":
            pq.read_table(p)  # every part file readable
    for area in ("facts", "quarantine", "findings"):
        for tdir in (lake / area).glob("*") if (lake / area).exists() else []:
            ds.dataset(tdir, format="parquet").to_table()  # what a BI reader does: every part of every week
    lake_now = {f"lake:{k}": v for k, v in W.lake_snapshot(home).items()}
    for k, t in lake_now.items():
        if k.startswith("lake:staging/"):
            continue  # not for readers; publish reads only a group's complete staging
        olds, news = before.get(k), after.get(k)
        assert (olds is not None and not W.diff({k: olds}, {k: t})) or \
               (news is not None and not W.diff({k: news}, {k: t})), f"{k}: neither before nor after"
    return seen


def _crash_and_recover(home: Path, before: dict, after: dict, stage: str, name: str, n: int):
    r = W.run_subprocess(home, [WEEK], kill_at=name, after=n, stage=stage, run_id="killed")
    assert r.returncode == W.KILLED, f"expected SIGKILL at {name}#{n}, got {r.returncode}:\n{r.stderr[-3000:]}"
    STATS["kill_points"] += 1
    check_reader_view(home, before, after)
    assert W.archive_holds_landing(home) > 0
    r = W.run_subprocess(home, [WEEK], run_id="rerun")
    assert r.returncode == 0, r.stderr[-3000:]
    STATS["reruns"] += 1
    final = W.snapshot(home)
    d = W.diff(after, final)
    assert not d, W.describe(d)
    STATS["rows_compared"] += W.rows_compared(final)
    assert W.archive_holds_landing(home) > 0


@pytest.mark.parametrize("stage,name,n", [p[1:] for p in FIRST_LOAD], ids=[p[0] for p in FIRST_LOAD])
def test_kill_during_first_load(worlds, tmp_path, stage, name, n):
    home = tmp_path / "home"
    shutil.copytree(worlds["landing"], home / "landing")
    _crash_and_recover(home, {}, worlds["first_snap"], stage, name, n)


@pytest.mark.parametrize("stage,name,n", [p[1:] for p in RELOAD], ids=[p[0] for p in RELOAD])
def test_kill_during_reload(worlds, tmp_path, stage, name, n):
    home = tmp_path / "home"
    shutil.copytree(worlds["first"], home)
    W.add_corrected_village_report(home / "landing")
    _crash_and_recover(home, worlds["first_snap"], worlds["reload_snap"], stage, name, n)


def test_unknown_kill_point_is_inert(tmp_path):
    """A checkpoint name that is not armed never kills (the production path)."""
    import subprocess
    import sys

    code = ("import os; os.environ['HUIZONG_KILL_AT']='x'; from pipelines.checkpoints import checkpoint; "
            "[checkpoint('y') for _ in range(3)]; os.environ['HUIZONG_KILL_AFTER']='3'; "
            "checkpoint('x'); checkpoint('x'); print('alive'); checkpoint('x'); print('not reached')")
    r = subprocess.run([sys.executable, "-c", code], cwd=W.REPO, capture_output=True, text=True)
    assert r.returncode == W.KILLED and r.stdout.split() == ["alive"]


def test_zz_report_numbers(capsys):
    """Prints the figures for the README (runs last in this module)."""
    with capsys.disabled():
        print(f"\ncrash safety: {STATS['kill_points']} kill points survived, {STATS['reruns']} re-run checks, "
              f"{STATS['rows_compared']} rows compared")
