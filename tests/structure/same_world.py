"""The same world through two trees of the code: does a change alter what a week produces?

A refactor must not change behaviour. This builds one demo world (landing files) and runs
it through two source trees, each in its own HUIZONG_HOME and its own processes, the way
a user runs the product (`huizong ingest`, `huizong report`, `huizong waive` through the
real DAGs), then compares what each left behind:

- every ``core`` and ``mart`` table and view of the warehouse, row for row (run metadata
  aside: see ``tests/reliability/world.py``, META_COLUMNS and MART_META);
- every Parquet file the lake publishes (``facts``, ``quarantine``, ``findings``), per
  file path; the pipeline's own working state (``staging``, ``runs``, ``state``) is
  internal and a restructure may reshape it;
- the archive (file names and bytes) and every receipt in the outbox (names and bytes).

The steps: the four weeks of November loaded; the November conclusion; a village sends a corrected
report into W47 (the quick path); a steward waives one finding; W47 runs again.

Run by hand (``--keep`` leaves the two homes for inspection):

    .venv/bin/python -m tests.structure.same_world --before 8ccfbca --after WORKTREE
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from tests.reliability import world

REPO = Path(__file__).resolve().parents[2]
WEEKS = "2026-W45..2026-W48"  # the whole of November: the monthly conclusion needs every week
MONTH = "2026-11"
SCALE = "0.05"
SEED = 20261128  # the demo's seed
PUBLISHED_AREAS = ("facts", "quarantine", "findings")
WAIVER = ("数据核对：同一结构调整前后对比", "结构对比测试")


def tree_at(rev: str, into: Path) -> Path:
    """The source tree of ``rev`` (a commit of this repository), or the working tree itself."""
    if rev == "WORKTREE":
        return REPO
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", rev], check=True,
                             capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def _env(tree: Path, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUIZONG_", "AIRFLOW_", "AIRFLOW__"))}
    env.update(HUIZONG_HOME=str(home), HUIZONG_PII_KEY=world.PII_KEY, GX_ANALYTICS_ENABLED="False",
               PYTHONPATH=str(tree), PYTHONDONTWRITEBYTECODE="1")
    return env


def huizong(tree: Path, home: Path, *args: str, timeout: int = 1200) -> str:
    """One `huizong` command of ``tree`` against ``home``; its output; raises if it failed."""
    p = subprocess.run([sys.executable, "-m", "pipelines.cli", *args], cwd=tree, env=_env(tree, home),
                       capture_output=True, text=True, timeout=timeout)
    if p.returncode:
        raise RuntimeError(f"huizong {' '.join(args)} failed in {tree}:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p.stdout


def make_landing(tree: Path, landing: Path) -> Path:
    """The demo world at a small scale, generated once by ``tree``."""
    huizong(tree, landing.parent / "synth-home", "synth", "--out", str(landing), "--weeks", WEEKS,
            "--scale", SCALE, "--faults", "default", "--seed", str(SEED))
    return landing


def correct_a_village_report(landing: Path, week: str) -> Path:
    """The first village report CSV of ``week`` (in path order) with a 本周技能培训人次 figure
    is sent again an hour later, that figure changed: a corrected report (the quick path)."""
    for src in sorted((landing / week).rglob("*村*周报*.csv")):
        raw = src.read_bytes()
        enc = "utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "gbk"
        try:
            text = raw.decode(enc)
        except UnicodeDecodeError:
            continue
        rows = list(csv.reader(io.StringIO(text, newline="")))
        head = next((i for i, r in enumerate(rows) if any("技能培训" in c for c in r)), None)
        if head is None or head + 1 >= len(rows):
            continue
        col = next(j for j, c in enumerate(rows[head]) if "技能培训" in c)
        if col >= len(rows[head + 1]) or not rows[head + 1][col].strip().isdigit():
            continue
        rows[head + 1][col] = str(int(rows[head + 1][col]) + 1)
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\r\n" if "\r\n" in text else "\n").writerows(rows)
        new = src.with_name(src.stem + "(更正).csv")
        new.write_bytes(buf.getvalue().encode(enc))
        t = src.stat().st_mtime + 3600
        os.utime(new, (t, t))
        return new
    raise LookupError(f"no village report with a training figure in {landing / week}")


def _first_open_error(home: Path) -> str:
    import duckdb

    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute("SELECT finding_id FROM core.finding_status WHERE status = 'open' "
                           "AND week = '2026-W47' ORDER BY finding_id LIMIT 1").fetchone()[0]
    finally:
        con.close()


def build(tree: Path, home: Path, landing: Path) -> Path:
    """The steps of a month as a user runs them, with ``tree``'s code, in ``home``."""
    shutil.copytree(landing, home / "landing", copy_function=shutil.copy2)
    huizong(tree, home, "ingest", "--weeks", WEEKS)
    huizong(tree, home, "report", "--month", MONTH)
    correct_a_village_report(home / "landing", "2026-W47")
    huizong(tree, home, "ingest", "--weeks", "2026-W47")
    huizong(tree, home, "waive", _first_open_error(home), "--reason", WAIVER[0], "--by", WAIVER[1])
    huizong(tree, home, "ingest", "--weeks", "2026-W47")
    return home


def _files(root: Path) -> dict[str, str]:
    """Every visible file under ``root``: relative path -> sha256 of its bytes."""
    if not root.exists():
        return {}
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and world.visible(p, root)}


def outcome(home: Path) -> dict[str, world.Table | str]:
    """What a week leaves behind for its users, keyed by where it is."""
    out: dict[str, world.Table | str] = {f"wh:{k}": v for k, v in world.warehouse_snapshot(home).items()}
    out.update({f"lake:{k}": v for k, v in world.lake_snapshot(home).items() if k.split("/", 1)[0] in PUBLISHED_AREAS})
    out.update({f"archive:{k}": v for k, v in _files(home / "archive").items()})
    out.update({f"outbox:{k}": v for k, v in _files(home / "outbox").items()})
    return out


def compare(a: dict, b: dict) -> list[str]:
    """Human-readable differences between two outcomes; empty when they are the same."""
    tables = {k for k in set(a) | set(b) if isinstance(a.get(k, b.get(k)), world.Table)}
    lines = world.describe(world.diff({k: a[k] for k in tables & set(a)}, {k: b[k] for k in tables & set(b)}),
                           limit=50).splitlines()
    lines = [] if lines == ["(identical)"] else lines
    for k in sorted((set(a) | set(b)) - tables):
        if a.get(k) != b.get(k):
            lines.append(f"{k}: {'missing before' if k not in a else 'missing after' if k not in b else 'bytes differ'}")
    return lines


def same_world(before: str, after: str, work: Path) -> tuple[list[str], dict]:
    """Build the world with both trees; return the differences and what was compared."""
    before_tree = tree_at(before, work / "before-src")
    after_tree = tree_at(after, work / "after-src")
    landing = make_landing(before_tree, work / "world" / "landing")
    a = outcome(build(before_tree, work / "before", landing))
    b = outcome(build(after_tree, work / "after", landing))
    compared = {"tables": sum(1 for v in a.values() if isinstance(v, world.Table)),
                "rows": sum(len(v) for v in a.values() if isinstance(v, world.Table)),
                "files": sum(1 for v in a.values() if isinstance(v, str))}
    return compare(a, b), compared


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", required=True, help="a commit, or WORKTREE")
    ap.add_argument("--after", default="WORKTREE", help="a commit, or WORKTREE (default)")
    ap.add_argument("--keep", action="store_true", help="keep the two homes")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="huizong-same-world-"))
    try:
        diffs, compared = same_world(args.before, args.after, work)
        print(f"compared {compared['tables']} tables ({compared['rows']} rows) and {compared['files']} files")
        print("\n".join(diffs) or "identical")
        return 1 if diffs else 0
    finally:
        if args.keep:
            print(f"homes kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
