"""Shared machinery of the reliability tests: a small world, the whole weekly pipeline
(as the DAG runs it), snapshots of the warehouse and the lake, and their comparison.

Importable without pytest and without ``tests.conftest`` (which sets HUIZONG_HOME at
import time), so a test can run the pipeline in a subprocess and SIGKILL it:

    python -c "from tests.reliability.world import main; main()" 2026-W47

with HUIZONG_HOME, and optionally HUIZONG_KILL_STAGE / HUIZONG_KILL_AT / HUIZONG_KILL_AFTER,
in the environment.

What is compared
----------------
Every table and view of the ``core`` and ``mart`` schemas, by CONTENT: all rows as a
multiset (order does not matter), every column except the ones below, which are by
nature the metadata of a particular run and differ between two runs that do the same:

- ``core.loads``: ``loaded_at``, ``run_id`` (when and by which Airflow run the week was loaded);
- ``core.finding_status``: ``updated_at``, ``first_seen_run``, ``first_seen_at``,
  ``last_seen_run``, ``last_seen_at`` (when/which run saw a finding; the status, reason,
  updated_by and first/last seen WEEK are compared);
- ``core.finding_audit``: ``audit_id`` and ``at`` (a clock-based key and the time of
  the action; who did what to which finding, from which state to which, is compared);
- every ``mart`` table and view: ``refreshed_at``; ``mart.dim_week``: ``loaded_at``
  (copied from core.loads.loaded_at); ``mart.findings``: ``status_updated_at`` (the
  finding_status.updated_at above); the same metadata columns wherever views expose them.

Everything else must be identical, including the submissions register (its
``received_at`` is the file's arrival time, not the run's).

The lake: every visible Parquet file under ``facts``, ``quarantine``, ``findings``,
``runs`` and ``staging`` is read and compared as a table (rows as a multiset, per file
path). ``staging/**/_done.json`` is not compared: it records the group's timings.
"""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import math
import os
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "tests" / "fixtures" / "examples"  # byte-identical copies of ../shared/examples
EXAMPLE_FILES = ("焦东村三本账2026第47周.xlsx", "西华县逍遥镇焦东村第47周周报(改).xlsx", "逍遥镇2026年第47周扶贫周报.csv")
# A few counties of the generated world keep a run short and still give several groups.
COUNTIES = ("西华县", "郸城县", "鹿邑县")
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
# One keyed-hash secret for every home of these tests: ID hashes are then comparable
# across homes (each home would otherwise make its own .pii_key).
PII_KEY = "reliability-tests-not-a-secret"

META_COLUMNS = {
    "core.loads": {"loaded_at", "run_id"},
    "core.finding_status": {"updated_at", "first_seen_run", "first_seen_at", "last_seen_run", "last_seen_at"},
    "core.finding_audit": {"audit_id", "at"},
    "core.schema_applied": {"applied_at"},
    "mart.dim_week": {"loaded_at"},
}
MART_META = {"refreshed_at", "updated_at", "status_updated_at", "first_seen_run", "first_seen_at", "last_seen_run", "last_seen_at",
             "loaded_at", "run_id"}
STAGES = ("discover", "process", "publish", "consolidate", "review", "mart")


# ------------------------------------------------------------------ the world
def make_landing(landing: Path, weeks: str = "2026-W47", seed: int = 3) -> Path:
    """A generated world (scale 0.02, default faults) cut to a few counties, plus the
    three shared example files in 西华县/逍遥镇 of 2026-W47 (a corrected village report
    that supersedes the generated one, among others)."""
    from pipelines.synth import generate

    generate(out=str(landing), weeks=weeks, scale="0.02", faults="default", seed=seed)
    shutil.rmtree(landing / "_synth_truth", ignore_errors=True)
    for week_dir in [p for p in landing.iterdir() if p.is_dir()]:
        for county in week_dir.iterdir():
            if county.is_dir() and county.name not in COUNTIES:
                shutil.rmtree(county)
    w47 = landing / "2026-W47"
    if w47.is_dir():
        target = w47 / "西华县" / "逍遥镇"
        target.mkdir(parents=True, exist_ok=True)
        t = dt.datetime(2026, 11, 22, 20, 0, tzinfo=SHANGHAI).timestamp()
        for name in EXAMPLE_FILES:
            shutil.copy(EXAMPLES / name, target / name)
            os.utime(target / name, (t, t))
    return landing


def add_corrected_village_report(landing: Path, week: str = "2026-W47") -> dict:
    """A village sends a corrected report (one figure changed) after its first one.

    Returns the unit code, the old and new submission ids and the file's path."""
    from pipelines.ingest.landing import submission_id_of

    county = landing / week / COUNTIES[1]
    src = sorted(p for p in county.rglob("*周报*.csv") if "村" in p.name and "镇乡镇" not in p.name
                 and "乡镇周报" not in p.name and "县" not in p.stem[:3])[0]
    raw = src.read_bytes()
    for enc in ("utf-8-sig", "gbk"):
        try:
            text = raw.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    rows = list(csv.reader(io.StringIO(text, newline="")))
    code = next(c for r in rows for c in r if "行政区划代码" in c).split("：")[1].strip()
    h = next(i for i, r in enumerate(rows) if any("技能培训" in c for c in r))
    col = next(j for j, c in enumerate(rows[h]) if "技能培训" in c)
    rows[h + 1][col] = "7" if rows[h + 1][col] != "7" else "8"  # 本周技能培训人次
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n" if "\r\n" in text else "\n").writerows(rows)
    data = (("\ufeff" if raw.startswith(b"\xef\xbb\xbf") else "") + buf.getvalue()).encode(
        "utf-8" if enc == "utf-8-sig" else enc)
    new = src.with_name(src.stem + "(更正).csv")
    t = src.stat().st_mtime + 3600  # an hour after the first report: deterministic, and newer
    new.write_bytes(data)
    os.utime(new, (t, t))
    return {"unit_code": code, "old": submission_id_of(hashlib.sha256(raw).hexdigest()),
            "new": submission_id_of(hashlib.sha256(data).hexdigest()), "path": new}


# ------------------------------------------------------------------ the pipeline
def run_week(week: str, run_id: str = "reliability", stage_hook=None) -> dict:
    """discover → process_group (each group) → publish → consolidate → review (lifecycle)
    → weekly mart, as the weekly_ingest DAG runs them (receipts aside)."""
    from pipelines import weekly
    from pipelines.review.lifecycle import sync_lifecycle
    from tests.week_run import planned_batches

    hook = stage_hook or (lambda stage: None)
    hook("discover")
    run = weekly.Run(week, run_id, planned_batches(week))
    hook("process")
    run.staged = weekly.process_group(run)
    hook("publish")
    published = weekly.publish(run)
    summaries = published.pop("groups")
    hook("consolidate")
    consolidated = weekly.consolidate(run)
    hook("review")
    lifecycle = sync_lifecycle(week, run_id=run_id)
    hook("mart")
    mart = weekly.weekly_summary(run)
    return {"groups": summaries, "published": published, "consolidated": consolidated,
            "lifecycle": lifecycle, "mart": mart}


def main(argv: list[str] | None = None) -> None:
    """Subprocess entry: run the weeks given on the command line in HUIZONG_HOME.

    HUIZONG_KILL_AT is disarmed until the stage named by HUIZONG_KILL_STAGE starts (all
    stages if unset), so "the 2nd Parquet write" means the 2nd one of that stage."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    weeks = (argv if argv is not None else sys.argv[1:])
    kill_at = os.environ.pop("HUIZONG_KILL_AT", None)
    kill_stage = os.environ.get("HUIZONG_KILL_STAGE")

    def hook(stage: str) -> None:
        if kill_at and (not kill_stage or stage == kill_stage):
            os.environ["HUIZONG_KILL_AT"] = kill_at

    for week in weeks:
        run_week(week, run_id=os.environ.get("HUIZONG_RUN_ID", "reliability"), stage_hook=hook)


def run_subprocess(home: Path, weeks: list[str], kill_at: str | None = None, after: int = 1,
                   stage: str | None = None, run_id: str = "reliability", timeout: int = 600):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUIZONG_")}
    env.update(HUIZONG_HOME=str(home), GX_ANALYTICS_ENABLED="False", HUIZONG_RUN_ID=run_id, HUIZONG_PII_KEY=PII_KEY,
               PYTHONPATH=str(REPO))
    if kill_at:
        env.update(HUIZONG_KILL_AT=kill_at, HUIZONG_KILL_AFTER=str(after))
        if stage:
            env["HUIZONG_KILL_STAGE"] = stage
    code = "from tests.reliability.world import main; main()"
    return subprocess.run([sys.executable, "-c", code, *weeks], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)


KILLED = -signal.SIGKILL


# ------------------------------------------------------------------ snapshots
def _norm(v):
    if v is None:
        return None
    if isinstance(v, float):
        if math.isnan(v):
            return None
        return round(v, 9)
    if v is pd.NaT:
        return None
    if isinstance(v, (pd.Timestamp, dt.datetime)):
        return pd.Timestamp(v).isoformat()
    if isinstance(v, (dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).hex()
    if isinstance(v, (list, tuple)):
        return tuple(_norm(x) for x in v)
    if hasattr(v, "item"):  # numpy scalar
        return _norm(v.item())
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return v


class Table:
    """A table's content: its column names and its rows as a multiset."""

    def __init__(self, df: pd.DataFrame, drop: set[str] = frozenset()):
        df = df.drop(columns=[c for c in df.columns if c in drop])
        self.columns = tuple(sorted(df.columns))
        df = df[list(self.columns)]
        self.rows = Counter(tuple(_norm(v) for v in row) for row in df.itertuples(index=False, name=None))

    def __len__(self) -> int:
        return sum(self.rows.values())

    def frame(self, rows) -> pd.DataFrame:
        return pd.DataFrame(list(rows), columns=list(self.columns))

    def where(self, **eq) -> "Table":
        out = Table.__new__(Table)
        out.columns = self.columns
        idx = {c: self.columns.index(c) for c in eq}
        out.rows = Counter({r: n for r, n in self.rows.items()
                            if all(r[idx[c]] in (v if isinstance(v, (set, frozenset)) else {v})
                                   for c, v in eq.items())})
        return out

    def without(self, column: str) -> "Table":
        """The same rows with ``column`` left out."""
        keep = [i for i, c in enumerate(self.columns) if c != column]
        out = Table.__new__(Table)
        out.columns = tuple(self.columns[i] for i in keep)
        out.rows = Counter()
        for r, n in self.rows.items():
            out.rows[tuple(r[i] for i in keep)] += n
        return out


def warehouse_snapshot(home: Path) -> dict[str, Table]:
    """Every core.* and mart.* table and view, read-only from this process."""
    import duckdb

    path = home / "warehouse.duckdb"
    if not path.exists():
        return {}
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = con.execute("SELECT table_schema || '.' || table_name FROM information_schema.tables "
                            "WHERE table_schema IN ('core', 'mart') ORDER BY 1").fetchall()
        out = {}
        for (name,) in names:
            df = con.execute(f"SELECT * FROM {name}").df()  # names come from the catalogue
            drop = set(META_COLUMNS.get(name, set()))
            if name.startswith("mart."):
                drop |= MART_META
            out[name] = Table(df, drop)
        return out
    finally:
        con.close()


LAKE_AREAS = ("facts", "quarantine", "findings", "runs", "staging")


def lake_files(home: Path) -> list[Path]:
    lake = home / "lake"
    return sorted(p for p in lake.rglob("*") if p.is_file()) if lake.exists() else []


def visible(p: Path, root: Path) -> bool:
    return not any(part.startswith((".", "_")) for part in p.relative_to(root).parts)


def lake_snapshot(home: Path) -> dict[str, Table]:
    """Every visible Parquet file of the lake, read as a table; key: its relative path."""
    import pyarrow.parquet as pq

    lake = home / "lake"
    out = {}
    for p in lake_files(home):
        if not visible(p, lake):
            continue
        rel = p.relative_to(lake).as_posix()
        assert p.suffix == ".parquet", f"a visible file in the lake that is not a part file: {rel}"
        out[rel] = Table(pq.read_table(p).to_pandas())
    return out


def snapshot(home: Path) -> dict[str, Table]:
    return {**{f"wh:{k}": v for k, v in warehouse_snapshot(home).items()},
            **{f"lake:{k}": v for k, v in lake_snapshot(home).items()}}


def rows_compared(snap: dict[str, Table]) -> int:
    return sum(len(t) for t in snap.values())


def diff(a: dict[str, Table], b: dict[str, Table], keys=None) -> dict[str, dict]:
    """Per table: rows only in a, rows only in b (as DataFrames); tables present in only one side."""
    out = {}
    for k in sorted(keys if keys is not None else set(a) | set(b)):
        ta, tb = a.get(k), b.get(k)
        if ta is None or tb is None:
            if (ta is not None and len(ta)) or (tb is not None and len(tb)):
                out[k] = {"missing_in": "a" if ta is None else "b"}
            continue
        if ta.columns != tb.columns:
            out[k] = {"columns": (ta.columns, tb.columns)}
            continue
        only_a, only_b = ta.rows - tb.rows, tb.rows - ta.rows
        if only_a or only_b:
            out[k] = {"only_a": ta.frame(only_a.elements()), "only_b": tb.frame(only_b.elements())}
    return out


def describe(d: dict[str, dict], limit: int = 20) -> str:
    lines = []
    for k, v in list(d.items())[:limit]:
        if "only_a" in v:
            lines.append(f"{k}: {len(v['only_a'])} rows only before/left, {len(v['only_b'])} only after/right")
        else:
            lines.append(f"{k}: {v}")
    return "\n".join(lines) or "(identical)"


def archive_holds_landing(home: Path) -> int:
    """Every file in the landing area (submissions, not the register) is in the archive,
    byte for byte, under its sha256. Returns how many were checked."""
    landing, archive = home / "landing", home / "archive"
    n = 0
    for week_dir in [p for p in landing.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))]:
        for p in week_dir.rglob("*"):
            if not p.is_file() or not visible(p, week_dir):
                continue
            data = p.read_bytes()
            sha = hashlib.sha256(data).hexdigest()
            found = list((archive / sha[:2]).glob(f"{sha}*")) if (archive / sha[:2]).exists() else []
            found = [f for f in found if not f.name.startswith(".")]
            assert found, f"{p.relative_to(landing)} is not in the archive"
            assert hashlib.sha256(found[0].read_bytes()).hexdigest() == sha
            n += 1
    return n
