"""Benchmark: time and peak memory of each stage, end-to-end through the DAG, and the floor.

`make bench` (``python -m huizong_dev.bench``) writes bench/results/<stamp>.json and a readable table
(bench/results/latest.md). Each stage runs in its own process (as Airflow runs tasks),
so its peak RSS is its own. The floor is reading the same files with the fastest reader
(python-calamine; csv module) and writing them to Parquet with nothing else.

Besides the one-process ``dag.test()`` run, each scale also runs the week end to end through
the real Airflow scheduler, the production shape on a 2-core machine: LocalExecutor with 2
slots, a throwaway PostgreSQL metadata database, api-server, dag-processor and scheduler as
separate processes (huizong_dev/native_airflow.py), on its own HUIZONG_HOME with a copy of the
same landing folder (cold). ``--no-scheduler`` skips it; ``--scales 0.05`` runs a small world;
``--out DIR`` writes the results elsewhere. BENCH_SCALES, BENCH_OUT and BENCH_SCHEDULER=0 set
the same from the environment.

The review app's pages are timed too (``pages``, server side through FastAPI's TestClient)
on a copy of the week's warehouse whose findings are grown to about 10,000: the list's first
page, a filtered page and a finding's page, against their targets (1 s, 1 s, 0.5 s).

``--baseline REV`` compares this tree with revision REV instead: REV is extracted with
``git archive`` into a temporary folder, and the week-level commands (the floor, the DAG in
one process, the resubmission, and the scheduler's full run, unchanged re-run and
resubmission) run on a fresh copy of the same generated world with either tree's code
(PYTHONPATH and cwd that tree), the trees alternating round by round (``--rounds``). The
per-stage processes are left out there: they call the package's internals, which differ
between revisions. It reports per measure the ratio current/baseline of the medians and each
tree's spread (max/min over its rounds), the machine's noise.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WEEK = "2026-W47"


def _peak_mb() -> float:
    """This process's peak RSS. VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork and
    exec, so a stage would report its (large) parent's peak."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ---- stages, each run in a child process -----------------------------------------------
def _stage(name: str, week: str, group: str | list[str] | None) -> dict:
    t0 = time.perf_counter()
    out: dict = {}
    if name == "floor":
        out = floor(week)
    elif name == "discover":
        from pipelines import weekly

        plan = weekly.discover(week)
        out = {"groups": plan["batches"] or plan["quick"]}
    elif name == "group":
        from pipelines.ingest.stage import stage_groups

        out = stage_groups(week, group)
    elif name == "publish":
        from pipelines.ingest.publish import publish

        r = publish(week)
        out = {"files": r["files"], "findings": r["findings"]}
    elif name == "consolidate":
        from pipelines.consolidate import consolidate

        r = consolidate(week)
        out = {"discrepancies": r["discrepancies"]}
    elif name == "summary":
        try:
            from pipelines.mart import refresh_weekly_mart
        except ImportError:
            out = {"skipped": "no mart yet"}
        else:
            refresh_weekly_mart(week)
    elif name == "precheck":
        out = precheck_timing()
    elif name == "pages":
        out = page_timing(week)
    elif name == "dag":
        from pipelines.orchestrate import run_week

        dr = run_week(week)
        out = {"state": str(dr.state), "tasks": _task_seconds(dr)}
    else:
        raise ValueError(name)
    out["seconds"] = round(time.perf_counter() - t0, 3)
    out["peak_mb"] = round(_peak_mb(), 1)
    return out


PRECHECK_HOUSEHOLDS = 60
PRECHECK_TARGET_SECONDS = 2.0
EXAMPLE_LEDGER = REPO / "tests" / "fixtures" / "examples" / "焦东村三本账2026第47周.xlsx"


def village_ledger(households: int = PRECHECK_HOUSEHOLDS) -> bytes:
    """The example village ledger (45 households) grown to ``households``: its first
    households repeated under new household codes and ID numbers (valid check characters),
    with their measures and helpers."""
    import io

    import numpy as np
    import openpyxl

    from pipelines.synth.world import id_check_chars

    wb = openpyxl.load_workbook(EXAMPLE_LEDGER)
    plan = wb["计划进度账"]
    first, last = 4, 4 + sum(1 for r in plan.iter_rows(min_row=4, max_col=1, values_only=True)
                             if str(r[0] or "").isdigit()) - 1
    extra = households - (last - first + 1)
    prefix = str(plan.cell(first, 1).value)[:12]
    new_ids = {str(plan.cell(first + i, 1).value): f"{prefix}{last - first + 2 + i:04d}" for i in range(extra)}
    bodies = np.array([f"41162219{80 + i // 12:02d}{i % 12 + 1:02d}15{i % 900 + 100:03d}" for i in range(extra)])
    plan.insert_rows(last + 1, extra)
    for i in range(extra):
        for col in range(1, plan.max_column + 1):
            plan.cell(last + 1 + i, col).value = plan.cell(first + i, col).value
        plan.cell(last + 1 + i, 1).value = new_ids[str(plan.cell(first + i, 1).value)]
        plan.cell(last + 1 + i, 3).value = bodies[i] + id_check_chars(bodies[i:i + 1])[0]
    for name in ("措施办法账", "帮扶责任账"):
        ws = wb[name]
        rows = [list(r) for r in ws.iter_rows(min_row=2, values_only=True) if str(r[0]) in new_ids]
        for r in rows:
            ws.append([new_ids[str(r[0])], *r[1:]])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def precheck_timing(households: int = PRECHECK_HOUSEHOLDS) -> dict:
    """Seconds the portal's pre-check (pipelines.ingest.stage.check_file) takes on a village
    ledger of ``households`` households, Great Expectations already set up (the portal sets
    it up at start): the second of two runs."""
    from pipelines.ingest.stage import check_file

    data = village_ledger(households)
    path = f"{WEEK}/西华县/逍遥镇/焦东村/焦东村三本账.xlsx"
    check_file(data, path, "bench-precheck", WEEK)
    t0 = time.perf_counter()
    pf, found = check_file(data, path, "bench-precheck", WEEK)
    seconds = round(time.perf_counter() - t0, 3)
    return {"households": int(len(pf.tables["plan"])), "findings": int(len(found)), "precheck_seconds": seconds,
            "target_seconds": PRECHECK_TARGET_SECONDS, "within_target": seconds < PRECHECK_TARGET_SECONDS}


PAGE_FINDINGS = 10_000
PAGE_ROUNDS = 3
PAGE_TARGETS = {"first_page": 1.0, "filtered_page": 1.0, "finding_page": 0.5}
PAGE_LABELS = {"first_page": "问题清单首页", "filtered_page": "筛选页", "finding_page": "问题详情页"}


class _BenchSteward:
    """The user the review app sees in the pages stage (its own steward check is not timed)."""
    role = "admin"

    def get_name(self) -> str:
        return "bench"


def grow_findings(week: str, findings: int = PAGE_FINDINGS) -> int:
    """The week's findings in the warehouse copied under new ids (causes kept with their
    echoes) until there are about ``findings`` in the list; how many the list holds."""
    import sqlalchemy as sa

    from pipelines.review import listing
    from pipelines.settings import get_settings
    from pipelines.warehouse import Warehouse

    wh = Warehouse(get_settings().warehouse_url)
    try:
        have = listing.page(listing.Query(week, size=20), wh)[1]
        if not have:
            raise RuntimeError(f"no findings in {week} to grow")
        copies = max(0, round(findings / have) - 1)
        if copies:
            cols = wh.columns("core.findings")
            renamed = {"finding_id": "f.finding_id || '-' || CAST(r.k AS VARCHAR)",
                       "cause_id": "CASE WHEN f.cause_id IS NULL THEN NULL ELSE f.cause_id || '-' || CAST(r.k AS VARCHAR) END"}
            names = ", ".join(f'"{c}"' for c in cols)
            select = ", ".join(renamed.get(c, f'f."{c}"') for c in cols)
            with wh.transaction() as conn:
                conn.execute(sa.text(f"INSERT INTO core.findings ({names}) SELECT {select} FROM core.findings f "
                                     "CROSS JOIN range(1, :n) AS r(k) WHERE f.week = :w"), {"n": copies + 1, "w": week})
        return listing.page(listing.Query(week, size=20), wh)[1]
    finally:
        wh.dispose()


def page_timing(week: str = WEEK, findings: int = PAGE_FINDINGS) -> dict:
    """Server seconds of the review app's pages (FastAPI's TestClient, the whole request:
    warehouse queries and rendering) on the week grown to about ``findings`` findings: the
    list's first page, a page filtered by its most frequent rule and county, and the first
    finding's page; each the median of PAGE_ROUNDS requests after a first one (which pays
    imports and templates)."""
    sys.path.insert(0, str(REPO / "plugins"))
    from fastapi.testclient import TestClient
    from huizong_review import app as review

    total = grow_findings(week, findings)
    review.app.dependency_overrides[review.require_steward] = _BenchSteward
    try:
        client = TestClient(review.app)
        api = client.get("/api/findings", params={"week": week, "size": 20}).json()
        top = {k: max(api["facets"][k], key=lambda v: v["count"])["value"] for k in ("rule", "county")}
        urls = {"first_page": ("/findings", {"week": week}), "filtered_page": ("/findings", {"week": week, **top}),
                "finding_page": (f"/findings/{api['findings'][0]['finding_id']}", {})}
        out: dict = {"findings": total, "filter": top}
        for key, (url, params) in urls.items():
            seconds = []
            for _ in range(PAGE_ROUNDS + 1):
                t0 = time.perf_counter()
                r = client.get(url, params=params)
                seconds.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    raise RuntimeError(f"{url} answered {r.status_code}")
            out[f"{key}_seconds"] = round(statistics.median(seconds[1:]), 3)
    finally:  # the app object is shared with whatever runs next in this process
        review.app.dependency_overrides.pop(review.require_steward, None)
    out["targets"] = PAGE_TARGETS
    out["within_target"] = all(out[f"{k}_seconds"] < t for k, t in PAGE_TARGETS.items())
    return out


def _task_seconds(dr) -> dict[str, float]:
    """Seconds per task_id of a finished run (mapped instances summed)."""
    out: dict[str, float] = {}
    for ti in dr.get_task_instances():
        if ti.start_date and ti.end_date:
            out[ti.task_id] = round(out.get(ti.task_id, 0.0) + (ti.end_date - ti.start_date).total_seconds(), 3)
    return out


def floor(week: str) -> dict:
    """Read every file of the week with calamine/csv and write the cells to Parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from python_calamine import CalamineWorkbook

    from pipelines.settings import get_settings

    s = get_settings()
    root = Path(s.landing_url) / week
    out = s.home / "bench_floor"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    n = 0
    for county in sorted(p for p in root.iterdir()):
        files, sheets, rows, cells = [], [], [], []
        paths = [county] if county.is_file() else sorted(p for p in county.rglob("*") if p.is_file())
        for path in paths:
            n += 1
            try:
                if path.suffix.lower() == ".csv":
                    raw = path.read_bytes()
                    try:
                        text = raw.decode("utf-8-sig")
                    except UnicodeDecodeError:
                        text = raw.decode("gb18030")
                    grid = {"csv": [line.split(",") for line in text.splitlines()]}
                else:
                    wb = CalamineWorkbook.from_path(str(path))
                    grid = {name: wb.get_sheet_by_name(name).to_python() for name in wb.sheet_names}
            except Exception:  # noqa: BLE001 - the floor only measures reading
                continue
            for sheet, table in grid.items():
                for i, row in enumerate(table):
                    files.append(str(path))
                    sheets.append(sheet)
                    rows.append(i)
                    cells.append("\t".join("" if v is None else str(v) for v in row))
        pq.write_table(pa.table({"file": files, "sheet": sheets, "row": rows, "cells": cells}),
                       out / f"{county.name}.parquet")
    return {"files": n}


def _child(stage: str, env: dict, group: str | list[str] | None = None, tree: Path = REPO) -> dict:
    """One stage in its own process, with the code of `tree` (this file drives it, whatever the tree)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "_stage", stage, "--week", WEEK]
    if group:
        cmd += ["--group", json.dumps(group, ensure_ascii=False)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env={**env, "PYTHONPATH": str(tree)}, cwd=tree, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"stage {stage} failed:\n{proc.stderr[-4000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall"] = round(time.perf_counter() - t0, 3)
    return result


def bench_scale(scale: str, base: Path, seed: int = 7, scheduler: bool = True,
                scheduler_timeout: float = 7200, slots: int = 2) -> dict:
    from pipelines.synth import generate

    home = base / scale
    sched_home = base / f"{scale}-scheduler"
    shutil.rmtree(home, ignore_errors=True)
    shutil.rmtree(sched_home, ignore_errors=True)
    env = _bench_env(home)
    t0 = time.perf_counter()
    gen = generate(out=str(home / "landing"), weeks=WEEK, scale=scale, faults="default", seed=seed)
    r: dict = {"scale": scale, "files": gen.files, "generate_seconds": round(time.perf_counter() - t0, 1),
               "households": gen.expected[WEEK]["rows"]["ledger_plan"]}
    if scheduler:  # the same files (mtimes kept), before any run touches the landing folder
        shutil.copytree(home / "landing", sched_home / "landing")
    r["floor"] = _child("floor", env)
    stages = {"discover": _child("discover", env)}
    groups = [_child("group", env, g) for g in stages["discover"]["groups"]]
    stages["parse"] = {"seconds": round(sum(g["parse_seconds"] for g in groups), 3),
                       "peak_mb": max(g["peak_mb"] for g in groups)}
    stages["validate"] = {"seconds": round(sum(g["validate_seconds"] for g in groups), 3),
                          "peak_mb": max(g["peak_mb"] for g in groups)}
    stages["groups_total"] = {"seconds": round(sum(g["seconds"] for g in groups), 3),
                              "peak_mb": max(g["peak_mb"] for g in groups), "groups": len(groups)}
    stages["load"] = _child("publish", env)
    stages["consolidate"] = _child("consolidate", env)
    stages["summary"] = _child("summary", env)
    r["stages"] = stages
    r["precheck"] = _child("precheck", env)
    r["stage_seconds_total"] = round(sum(stages[k]["seconds"] for k in ("discover", "groups_total", "load",
                                                                       "consolidate", "summary")), 3)
    # End to end from cold: the stage runs above left staging the DAG would reuse.
    shutil.rmtree(home / "lake" / "staging", ignore_errors=True)
    r["dag"] = _child("dag", env)
    # A corrected resubmission of one village: re-run the week through the DAG.
    r["resubmission"] = _resubmit_one_village(home, env)
    r["pages"] = _pages(home, env)
    r["ratio_dag_to_floor"] = round(r["dag"]["wall"] / r["floor"]["wall"], 2)
    r["peak_mb"] = max(v["peak_mb"] for v in stages.values() if "peak_mb" in v)
    if scheduler:
        try:
            r["scheduler"] = scheduler_run(sched_home, WEEK, timeout=scheduler_timeout, slots=slots)
        except Exception as exc:  # noqa: BLE001 - keep the other measurements of a long run
            print(f"scheduler run failed ({scale}): {exc}", file=sys.stderr)
            r["scheduler"] = {"error": str(exc)[-4000:]}
        else:
            r["ratio_scheduler_to_floor"] = round(r["scheduler"]["seconds"] / r["floor"]["wall"], 2)
    return r


def _pages(home: Path, env: dict) -> dict:
    """The review pages stage on a copy of the week's warehouse (its findings grown there)."""
    copy = home / "bench_pages" / "warehouse.duckdb"
    copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(home / "warehouse.duckdb", copy)
    return _child("pages", {**env, "HUIZONG_WAREHOUSE_URL": f"duckdb:///{copy}"})


def _bench_env(home: Path) -> dict:
    """The environment of a stage process: everything under `home`, nothing from the caller's settings."""
    env = {**os.environ, "HUIZONG_HOME": str(home), "GX_ANALYTICS_ENABLED": "False"}
    for k in ("HUIZONG_LANDING_URL", "HUIZONG_LAKE_URL", "HUIZONG_ARCHIVE_URL", "HUIZONG_WAREHOUSE_URL", "AIRFLOW_HOME",
              "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"):
        env.pop(k, None)
    return env


def max_overlap(spans: list[tuple]) -> int:
    """The most (start, end) intervals running at one moment (an end frees its slot before a start)."""
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans], key=lambda x: (x[0], x[1]))
    best = now = 0
    for _, step in events:
        now += step
        best = max(best, now)
    return best


def idle_seconds(spans: list[tuple], start, end) -> float:
    """Seconds between ``start`` and ``end`` during which none of the (start, end) spans
    ran: in a DAG run, the time that is Airflow's own (scheduling the next task, starting
    its process), not any task's."""
    busy, reach = 0.0, start
    for s, e in sorted((max(s, start), min(e, end)) for s, e in spans):
        if e <= reach:
            continue
        busy += (e - max(s, reach)).total_seconds()
        reach = e
    return max(0.0, (end - start).total_seconds() - busy)


def scheduler_run(home: Path, week: str, timeout: float = 7200, slots: int = 2, tree: Path = REPO) -> dict:
    """weekly_ingest for `week` through the real scheduler (LocalExecutor, `slots` at a time), cold.

    ``seconds`` is the run's dag_run start_date → end_date in the metadata DB; ``tasks`` the
    sum of task-instance durations per task_id (mapped instances summed; their sum exceeds
    the wall time when the slots overlap); ``startup_seconds`` migrate + services up, not
    part of the run. On the same running deployment, as a city office's would be, two more
    runs of the week follow: ``rerun`` with nothing changed (what Airflow and the pipeline
    cost when every group is reused: the floor of any re-run) and ``resubmission`` after one
    village's corrected report arrived.
    """
    from huizong_dev.native_airflow import Deployment, throwaway_database

    t0 = time.perf_counter()
    with throwaway_database("meta") as meta_db, Deployment(meta_db, home / "airflow", home, slots, tree) as af:
        startup = time.perf_counter() - t0
        out = {"slots": slots, **_scheduled_run(af, week, f"bench_{week}", timeout, home)}
        out["startup_seconds"] = round(startup, 1)
        out["rerun"] = _scheduled_run(af, week, f"bench_{week}_rerun", timeout, home)
        corrected = _correct_one_village(home / "landing" / week)
        out["resubmission"] = {**_scheduled_run(af, week, f"bench_{week}_resubmission", timeout, home),
                               "file": str(corrected.relative_to(home / "landing"))}
        memory = af.memory
    if memory and memory.tasks_mb:
        out["peak_task_mb"] = round(memory.tasks_mb, 1)
        out["peak_total_mb"] = round(memory.total_mb, 1)
    return out


def _scheduled_run(af, week: str, run_id: str, timeout: float, home: Path) -> dict:
    t1 = time.perf_counter()
    state = af.run_dag("weekly_ingest", run_id, {"week": week}, timeout)
    wall = time.perf_counter() - t1
    (start, end), = af.query("SELECT start_date, end_date FROM dag_run WHERE dag_id = 'weekly_ingest' "
                             "AND run_id = %s", (run_id,))
    rows = af.query("SELECT task_id, count(*), sum(extract(epoch FROM end_date - start_date)), "
                    "max(try_number), bool_and(state = 'success'), min(start_date) FROM task_instance "
                    "WHERE dag_id = 'weekly_ingest' AND run_id = %s GROUP BY task_id ORDER BY 6", (run_id,))
    spans = af.query("SELECT start_date, end_date FROM task_instance WHERE dag_id = 'weekly_ingest' "
                     "AND run_id = %s AND start_date IS NOT NULL AND end_date IS NOT NULL", (run_id,))
    if state != "success":
        bad = [t for t, _n, _s, _try, ok, _ in rows if not ok]
        raise RuntimeError(f"scheduler run {run_id} ended {state}; tasks not successful: {bad} "
                           f"(logs under {home / 'airflow' / 'logs'})")
    return {"state": state, "seconds": round((end - start).total_seconds(), 3),
            "trigger_to_end_wall": round(wall, 3), "max_concurrent_tasks": max_overlap(spans),
            "idle_seconds": round(idle_seconds(spans, start, end), 3),
            "tasks": {t: {"n": n, "seconds": round(float(sec or 0), 3), "max_try": tries}
                      for t, n, sec, tries, _ok, _ in rows}}


def _correct_one_village(week_dir: Path) -> Path:
    """A corrected resubmission of one village report (the first csv one), as a new file."""
    village = next(p for p in sorted(week_dir.rglob("*周报*")) if p.suffix == ".csv")
    corrected = village.with_name(village.stem + "（更正）" + village.suffix)
    corrected.write_bytes(village.read_bytes() + b"\n")
    return corrected


def _resubmit_one_village(home: Path, env: dict, tree: Path = REPO) -> dict:
    corrected = _correct_one_village(home / "landing" / WEEK)
    r = _child("dag", env, tree=tree)
    r["file"] = str(corrected.relative_to(home / "landing"))
    return r


def _fmt(v) -> str:
    return "—" if v is None else str(v)


def _factor(scale: str) -> float:
    from pipelines.synth.world import parse_scale

    return parse_scale(scale)


def scaling(results: list[dict]) -> list[dict]:
    """Each later scale against the first: time(k×)/time(1×) end to end, and max stage peak memory."""
    out = []
    a = results[0]
    for b in results[1:]:
        row = {"of": b["scale"], "to": a["scale"], "factor": round(_factor(b["scale"]) / _factor(a["scale"]), 4),
               "dag": round(b["dag"]["wall"] / a["dag"]["wall"], 2),
               "peak_mb": round(b["peak_mb"] / a["peak_mb"], 2)}
        if "seconds" in a.get("scheduler", {}) and "seconds" in b.get("scheduler", {}):
            row["scheduler"] = round(b["scheduler"]["seconds"] / a["scheduler"]["seconds"], 2)
        out.append(row)
    return out


def render(results: list[dict], cpus: int | None = None, when: str | None = None) -> str:
    cpus = cpus or os.cpu_count()
    when = when or dt.datetime.now().isoformat(timespec="seconds")
    lines = ["# Huizong benchmark", "", f"机器：{cpus} 核；时间：{when}", ""]
    lines.append("| scale | files | households | floor s | discover | parse | validate | load | consolidate | summary | "
                 "DAG end-to-end s | DAG/floor | scheduler (2 slots) s | scheduler/floor | resubmission s | "
                 "peak MB | scheduler peak task MB |")
    lines.append("|" + "---|" * 17)
    for r in results:
        s = r["stages"]
        sch = r.get("scheduler") or {}
        lines.append(f"| {r['scale']} | {r['files']} | {r['households']} | {r['floor']['wall']} | {s['discover']['seconds']} | "
                     f"{s['parse']['seconds']} | {s['validate']['seconds']} | {s['load']['seconds']} | "
                     f"{s['consolidate']['seconds']} | {s['summary']['seconds']} | {r['dag']['wall']} | "
                     f"{r['ratio_dag_to_floor']} | {_fmt(sch.get('seconds', 'failed' if 'error' in sch else None))} | {_fmt(r.get('ratio_scheduler_to_floor'))} | "
                     f"{r['resubmission']['wall']} | {r['peak_mb']} | {_fmt(sch.get('peak_task_mb'))} |")
    lines.append("")
    for row in scaling(results) if len(results) >= 2 else []:
        k = f"{row['factor']:g}×"
        lines.append(f"scaling time({k})/time(1×) ({row['of']}/{row['to']}): DAG end-to-end = {row['dag']:.2f}"
                     + (f"; scheduler (2 slots) = {row['scheduler']:.2f}" if "scheduler" in row else ""))
        lines.append(f"peak memory({k})/peak(1×) ({row['of']}/{row['to']}, max stage peak) = {row['peak_mb']:.2f}")
    for r in results:
        if "precheck" in r:
            p = r["precheck"]
            lines.append(f"报送平台预审 / portal pre-check ({r['scale']}, {p['households']} 户三本账): "
                         f"{p['precheck_seconds']:g} s（目标 < {p['target_seconds']:g} s）")
        if "pages" in r:
            pg = r["pages"]
            lines.append(f"审核页面 / review pages ({r['scale']}, {pg['findings']} 条问题，服务器端): " + "，".join(
                f"{PAGE_LABELS[k]} {pg[f'{k}_seconds']:g} s（目标 < {t:g} s）" for k, t in pg["targets"].items()))
        lines.append(f"resubmission/full ({r['scale']}) = {r['resubmission']['wall'] / r['dag']['wall']:.2%}")
        sch = r.get("scheduler") or {}
        for key, label in (("resubmission", "resubmission/full"), ("rerun", "unchanged re-run/full")):
            if "seconds" in sch and "seconds" in sch.get(key, {}):
                lines.append(f"scheduler {label} ({r['scale']}) = {sch[key]['seconds']:g} s / {sch['seconds']:g} s "
                             f"= {sch[key]['seconds'] / sch['seconds']:.2%}")
    sched = [r for r in results if "tasks" in r.get("scheduler", {})]
    if sched:
        lines += ["", "调度器运行各任务耗时合计 / scheduler run, task seconds summed per task_id (n = task instances):", "",
                  "| scale | " + " | ".join(sched[0]["scheduler"]["tasks"])
                  + " | run (start→end) | no task running | startup |",
                  "|" + "---|" * (len(sched[0]["scheduler"]["tasks"]) + 4)]
        for r in sched:
            for label, sc, startup in ((r["scale"], r["scheduler"], f"{r['scheduler']['startup_seconds']:g}"),
                                       (f"{r['scale']} re-run, unchanged", r["scheduler"].get("rerun"), "—"),
                                       (f"{r['scale']} resubmission", r["scheduler"].get("resubmission"), "—")):
                if not sc or "tasks" not in sc:
                    continue
                cells = [f"{sc['tasks'][t]['seconds']:g}" + (f" (n={sc['tasks'][t]['n']})" if sc["tasks"][t]["n"] > 1
                                                             else "")
                         if t in sc["tasks"] else "—" for t in sched[0]["scheduler"]["tasks"]]
                lines.append(f"| {label} | " + " | ".join(cells) + f" | {sc['seconds']:g} | "
                             f"{_fmt(sc.get('idle_seconds'))} | {startup} |")
    runs = [(r["scale"], name, r[key]["tasks"]) for r in results for key, name in (("dag", "full week"),
            ("resubmission", "resubmission")) if r.get(key, {}).get("tasks")]
    if runs:
        names = list(dict.fromkeys(t for _s, _n, tasks in runs for t in tasks))
        lines += ["", "dag.test 运行各任务耗时 / task seconds in the one-process runs, the full week and the "
                  "resubmission (the rest of a run's wall time is Airflow's own: start-up, parsing, bookkeeping):", "",
                  "| scale | run | " + " | ".join(names) + " | tasks total |", "|" + "---|" * (len(names) + 3)]
        for scale, name, tasks in runs:
            lines.append(f"| {scale} | {name} | " + " | ".join(_fmt(tasks.get(t)) for t in names)
                         + f" | {sum(tasks.values()):.1f} |")
    lines += ["", "Stage times are seconds inside each task's own process (parse and validate are parts of the "
              "per-county tasks; each process pays its imports, Great Expectations' included); DAG end-to-end is one cold "
              "`dag.test()` run in one process (tasks one after another); scheduler (2 slots) is the same week, cold, "
              "on its own copy of the landing folder, through `airflow scheduler` with the LocalExecutor and "
              "parallelism 2 (PostgreSQL metadata, api-server and dag-processor running): the dag_run's "
              "start_date → end_date, services' start-up excluded; its peak task MB is the largest VmHWM of any "
              "executor worker or task process, sampled each second; the resubmission run re-processes only "
              "the group that changed, in one task (apply_changes) after discover when it parses few files. "
              "The scheduler's re-run (nothing changed) and resubmission are further runs "
              "of the same week on the same running deployment, as in production: the re-run is the floor of any "
              "re-run (Airflow's scheduling and task start-up, and the week-wide steps). No task running is the part "
              "of a run during which no task instance ran: Airflow's own time between tasks."]
    return "\n".join(lines) + "\n"


# ---- --baseline: this tree against another revision, alternating ----------------------
AB_MEASURES = ("floor", "dag", "resubmission", "scheduler", "scheduler_rerun", "scheduler_resubmission")


def ab_ratio(current: list[float], baseline: list[float]) -> dict:
    """One measure's rounds of both trees: the ratio current/baseline of the medians, and the noise,
    each tree's spread max/min over its rounds. A ratio inside [1/noise, noise], noise being the
    larger spread, is within the machine's noise."""
    cur, base = statistics.median(current), statistics.median(baseline)
    spread_current, spread_baseline = max(current) / min(current), max(baseline) / min(baseline)
    noise = max(spread_current, spread_baseline)
    ratio = cur / base
    return {"current": round(cur, 3), "baseline": round(base, 3), "ratio": round(ratio, 3),
            "spread_current": round(spread_current, 3), "spread_baseline": round(spread_baseline, 3),
            "within_noise": 1 / noise <= ratio <= noise}


def extract_revision(rev: str, dest: Path) -> str:
    """`git archive REV | tar -x` into `dest`; returns REV's short commit id."""
    sha = subprocess.run(["git", "rev-parse", "--short", f"{rev}^{{commit}}"], cwd=REPO, check=True,
                         capture_output=True, text=True).stdout.strip()
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.Popen(["git", "archive", sha], cwd=REPO, stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(dest)], stdin=archive.stdout, check=True)
    archive.stdout.close()
    if archive.wait() != 0:
        raise RuntimeError(f"git archive {rev} failed")
    return sha


def _ab_round(landing: Path, home: Path, tree: Path, scheduler: bool, timeout: float) -> dict[str, float]:
    """The week-level commands once with `tree`'s code, each on a fresh copy of the world."""
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(landing, home / "landing")
    env = _bench_env(home)
    out = {"floor": _child("floor", env, tree=tree)["wall"], "dag": _child("dag", env, tree=tree)["wall"]}
    out["resubmission"] = _resubmit_one_village(home, env, tree)["wall"]
    if scheduler:
        sched_home = home.with_name(home.name + "-scheduler")
        shutil.rmtree(sched_home, ignore_errors=True)
        shutil.copytree(landing, sched_home / "landing")
        sch = scheduler_run(sched_home, WEEK, timeout=timeout, tree=tree)
        out |= {"scheduler": sch["seconds"], "scheduler_rerun": sch["rerun"]["seconds"],
                "scheduler_resubmission": sch["resubmission"]["seconds"]}
    return out


def compare_scale(scale: str, base: Path, baseline: Path, rounds: int, seed: int = 7, scheduler: bool = True,
                  scheduler_timeout: float = 7200) -> dict:
    """`rounds` rounds of this tree and `baseline` on one generated world; the order flips each round."""
    from pipelines.synth import generate

    landing = base / f"{scale}-world" / "landing"
    shutil.rmtree(landing.parent, ignore_errors=True)
    gen = generate(out=str(landing), weeks=WEEK, scale=scale, faults="default", seed=seed)
    trees = {"current": REPO, "baseline": baseline}
    runs: dict[str, list[dict]] = {"current": [], "baseline": []}
    for i in range(rounds):
        for label in (("current", "baseline") if i % 2 == 0 else ("baseline", "current")):
            print(f"{scale} round {i + 1}/{rounds}: {label}", file=sys.stderr, flush=True)
            runs[label].append(_ab_round(landing, base / f"{scale}-{label}", trees[label], scheduler,
                                         scheduler_timeout))
    measures = {m: ab_ratio([r[m] for r in runs["current"]], [r[m] for r in runs["baseline"]])
                for m in AB_MEASURES if m in runs["current"][0]}
    return {"scale": scale, "files": gen.files, "rounds": rounds, "runs": runs, "measures": measures}


def render_ab(results: list[dict], rev: str, cpus: int | None = None, when: str | None = None) -> str:
    cpus = cpus or os.cpu_count()
    when = when or dt.datetime.now().isoformat(timespec="seconds")
    lines = ["# Huizong benchmark: this tree against " + rev, "", f"机器：{cpus} 核；时间：{when}", "",
             "| scale | measure | current s | baseline s | current/baseline | spread current | spread baseline "
             "| within noise |", "|" + "---|" * 8]
    for r in results:
        for m, v in r["measures"].items():
            lines.append(f"| {r['scale']} | {m} | {v['current']:g} | {v['baseline']:g} | {v['ratio']:.3f} | "
                         f"{v['spread_current']:.3f} | {v['spread_baseline']:.3f} | "
                         f"{'yes' if v['within_noise'] else 'no'} |")
    lines += ["", f"Seconds are medians of {results[0]['rounds'] if results else 0} rounds per tree, the trees "
              "alternating (the order flips each round), each run on a fresh copy of the same generated world. "
              "Spread is max/min of one tree's rounds: the machine's noise; a ratio within [1/noise, noise] "
              "(noise: the larger spread) is within noise. The floor runs no product code: its ratio shows the "
              "machine's drift between the trees' turns."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m huizong_dev.bench")
    sub = p.add_subparsers(dest="cmd")
    st = sub.add_parser("_stage")
    st.add_argument("stage")
    st.add_argument("--week", default=WEEK)
    st.add_argument("--group")
    p.add_argument("--scales", default=os.environ.get("BENCH_SCALES", "zhoukou,henan"),
                   help="comma-separated: zhoukou, henan (10×) or a factor such as 0.05")
    p.add_argument("--out", default=os.environ.get("BENCH_OUT", str(REPO / "bench" / "results")),
                   help="results folder (bench-<stamp>.json and latest.md)")
    p.add_argument("--no-scheduler", dest="scheduler", action="store_false",
                   default=os.environ.get("BENCH_SCHEDULER", "1").lower() not in ("0", "false", "no"),
                   help="skip the run through the real Airflow scheduler (LocalExecutor, PostgreSQL metadata)")
    p.add_argument("--scheduler-timeout", type=float, default=7200, help="seconds to wait for the scheduler run")
    p.add_argument("--baseline", metavar="REV", help="compare with git revision REV, alternating (week-level measures)")
    p.add_argument("--rounds", type=int, default=3, help="rounds of each tree with --baseline")
    args = p.parse_args(argv)
    if args.cmd == "_stage":
        print(json.dumps(_stage(args.stage, args.week, json.loads(args.group) if args.group else None),
                         ensure_ascii=False))
        return 0
    from pipelines.settings import get_settings

    base = get_settings().home / "bench"
    scales = [s.strip() for s in args.scales.split(",") if s.strip()]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%dT%H%M%S")
    if args.baseline:
        with tempfile.TemporaryDirectory(prefix="huizong-baseline-") as tmp:
            sha = extract_revision(args.baseline, Path(tmp))
            ab = [compare_scale(s, base / "ab", Path(tmp), args.rounds, scheduler=args.scheduler,
                                scheduler_timeout=args.scheduler_timeout) for s in scales]
        (out / f"ab-{stamp}-vs-{sha}.json").write_text(json.dumps(ab, ensure_ascii=False, indent=1), encoding="utf-8")
        table = render_ab(ab, sha)
        (out / f"ab-{stamp}-vs-{sha}.md").write_text(table, encoding="utf-8")
        print(table)
        return 0
    results = [bench_scale(s, base, scheduler=args.scheduler, scheduler_timeout=args.scheduler_timeout)
               for s in scales]
    (out / f"bench-{stamp}.json").write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    table = render(results)
    (out / "latest.md").write_text(table, encoding="utf-8")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
