"""The week plan: what a run of a week will do, decided once, when the run starts.

``plan_week`` lists the week's files in the landing area, archives and registers them
(pipelines.ingest.landing), writes the run manifest, and decides for every group (a county
folder, or part of one):

- ``reuse``: its staging is what staging it again would give (same files, same last week's
  plan, same code and settings); no task processes it;
- ``append``: it only gained a few files; only they are parsed and validated, and added to
  its staging;
- ``restage``: it is parsed and validated anew.

The groups to process are packed into the mapped tasks' batches; a re-run of a published
week with few files to parse (late or corrected reports, a steward's waiver) takes the
quick path instead (one task: see pipelines.week_steps). The plan is recorded in the lake
(layout.plan_path); process_group carries it out and decides nothing again.
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pandas as pd

from pipelines import storage, vectors
from pipelines.checkpoints import checkpoint
from pipelines.ingest import landing, publish_state
from pipelines.ingest.layout import done_path, fact_path, plan_path, run_manifest_path
from pipelines.settings import Settings, get_settings
from pipelines.warehouse import Warehouse
from pipelines.weeks import shift_week

log = logging.getLogger(__name__)

REUSE, APPEND, RESTAGE = "reuse", "append", "restage"


def plan_week(week: str, settings: Settings | None = None, wh: Warehouse | None = None) -> dict:
    """Archive and register the week's files, decide what each group needs, record the plan.

    Returns the plan: ``groups`` (name -> ``action``, ``inputs``, ``added``: the submissions
    an ``append`` parses), ``batches`` (the mapped tasks of the full path: lists of groups),
    ``quick`` (the same batches when the quick path applies them instead, else ``[]``),
    ``to_parse`` (files the run parses) and ``published`` (the week was published before)."""
    settings = settings or get_settings()
    lfs, lroot = storage.filesystem(settings.lake_url, settings.s3_endpoint_url)
    files = _register_files(week, settings, lfs, lroot, wh or Warehouse(settings.warehouse_url))
    published = lfs.exists(publish_state.state_path(lroot, week))
    groups: dict[str, dict] = {}
    if len(files):
        base = staging_base(week, settings, lfs, lroot)
        for g, part in files.groupby("group", sort=True):
            part = part.drop_duplicates("submission_id")
            groups[str(g)] = _group_plan(part, group_inputs(part, week, settings, lfs, lroot, base),
                                         read_done(lfs, lroot, week, str(g)))
    to_parse = sum(len(p["added"]) if p["action"] == APPEND else p["files"] for p in groups.values()
                   if p["action"] != REUSE)
    batches: list[list[str]] = []
    if groups:
        reused = {g for g, p in groups.items() if p["action"] == REUSE}
        if reused:
            log.info("week %s: %d of %d groups unchanged since staged, not mapped", week, len(reused), len(groups))
        # A week whose groups are all reused still maps one empty task, so that it is published again.
        sizes = files["group"].value_counts().sort_index()
        batches = task_batches(sizes[~vectors.member(sizes.index, reused)], settings.task_files) or [[]]
    quick = published and to_parse <= settings.quick_files and bool(batches)
    plan = {"week": week, "groups": groups, "batches": [] if quick else batches, "quick": batches if quick else [],
            "to_parse": int(to_parse), "published": published}
    storage.write_bytes_atomic(lfs, plan_path(lroot, week), json.dumps(plan, ensure_ascii=False).encode())
    return plan


def read_plan(lfs, lroot: str, week: str) -> dict:
    """The plan plan_week recorded for the week's current run."""
    with lfs.open(plan_path(lroot, week), "rb") as f:
        return json.loads(f.read())


def _register_files(week: str, settings: Settings, lfs, lroot: str, wh: Warehouse) -> pd.DataFrame:
    """The week's files, archived and registered in ``core.submissions``; the run manifest written."""
    files = landing.list_week_files(settings, week)
    manifest = run_manifest_path(lroot, week)
    known = storage.read_parquet(lfs, manifest) if lfs.exists(manifest) else None
    files = landing.archive_files(settings, files, known) if len(files) else files.assign(
        sha256=pd.Series(dtype=str), archive_path=pd.Series(dtype=str), submission_id=pd.Series(dtype=str))
    checkpoint("discover.archived")
    storage.write_parquet(lfs, manifest, files)
    with wh.held():
        wh.apply_schema()
        if len(files):
            rows = landing.new_submission_rows(files, week, settings)
            # Registered already, in any week (the same bytes sent again a week later are the
            # same submission): looked up by value, not by reading every week's register.
            rows = rows[~vectors.member(rows["submission_id"], wh.present("core.submissions", "submission_id",
                                                                           rows["submission_id"].tolist()))]
            with wh.transaction() as conn:
                wh.insert(conn, "core.submissions", rows)
    log.info("week %s: %d files in %d groups", week, len(files), files["group"].nunique() if len(files) else 0)
    return files


def _group_plan(files: pd.DataFrame, inputs: dict, done: dict | None) -> dict:
    """What one group needs: reused while its signature is the same; appended to when it only
    gained a few files (see added_files); otherwise restaged."""
    if done is not None and done.get("signature") == inputs["signature"]:
        return {"action": REUSE, "files": int(len(files)), "inputs": inputs, "added": []}
    added = added_files(done, inputs)
    if added is not None:
        return {"action": APPEND, "files": int(len(files)), "inputs": inputs, "added": sorted(added)}
    return {"action": RESTAGE, "files": int(len(files)), "inputs": inputs, "added": []}


def task_batches(sizes: pd.Series, bound: int) -> list[list[str]]:
    """Groups packed into as few tasks of at most ``bound`` files as balance allows, the
    tasks about equal in files (largest group first into the emptiest task), so that the
    slots finish together; a group is never split (landing.batch_groups already bounds
    a group). Tasks come largest first, each with its groups in name order."""
    sizes = sizes.astype("int64")
    if not len(sizes):
        return []
    order = sorted(sizes.items(), key=lambda kv: (-kv[1], str(kv[0])))
    limit = max(bound, int(sizes.max()))
    least = min(len(order), max(1, -(-int(sizes.sum()) // bound)))
    for k in range(least, len(order) + 1):
        tasks: list[list[str]] = [[] for _ in range(k)]
        filled = [0] * k
        for group, n in order:
            i = min(range(k), key=lambda j: (filled[j], j))
            tasks[i].append(str(group))
            filled[i] += int(n)
        if max(filled) <= limit:
            break
    ranked = sorted((t for t in zip(filled, tasks) if t[1]), key=lambda t: (-t[0], sorted(t[1])))
    return [sorted(t) for _n, t in ranked]


def code_fingerprint() -> str:
    """Changes whenever the parsing or validation code or the GX suites change."""
    here = Path(__file__).resolve().parent
    h = hashlib.sha1()
    for path in sorted([*here.glob("*.py"), *(here.parent.parent / "expectations").rglob("*.json")]):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def staging_base(week: str, settings: Settings, lfs, lroot: str) -> dict:
    """What every group's staging of ``week`` depends on alike: last week's plan, the
    parsing and validation code, the settings."""
    prev = fact_path(lroot, "facts", "core.ledger_households", shift_week(week, -1))
    prev_info = lfs.info(prev) if lfs.exists(prev) else {}
    return {
        "prev_plan": [prev_info.get("size"), str(storage.mtime_of(prev_info)) if prev_info else None],
        "code": code_fingerprint(),
        "settings": repr(settings),
    }


def group_inputs(files: pd.DataFrame, week: str, settings: Settings, lfs, lroot: str,
                 base: dict | None = None) -> dict:
    """What a group's staging is made from: ``base`` (a hash of staging_base: everything
    that applies to each file alike), the group's ``files`` (submission, landing path,
    time received), and ``signature``, a hash of both. Staging is reused while the
    signature is the same. ``base``: staging_base, when already known."""
    base = base if base is not None else staging_base(week, settings, lfs, lroot)
    # Each time written alike, whatever the column's other times (astype(str) drops the
    # microseconds of a whole column when none has any: one new file with them would
    # restate every other file's time): microseconds since 1970, as numbers (not text:
    # a province's week has a hundred thousand of them).
    received = pd.to_datetime(files["received_at"], utc=True).dt.as_unit("us").array.asi8.tolist()
    listed = sorted(zip(files["submission_id"].tolist(), files["landing_path"].tolist(), received))
    payload = {"files": listed, **base}
    return {"base": hashlib.sha1(json.dumps(base, sort_keys=True, default=str).encode()).hexdigest(),
            "files": [list(f) for f in listed],
            "signature": hashlib.sha1(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()}


def read_done(lfs, lroot: str, week: str, group: str) -> dict | None:
    """The record process_group wrote last for a staged group (signature and summary)."""
    try:
        with lfs.open(done_path(lroot, week, group), "rb") as f:
            return json.loads(f.read())
    except (FileNotFoundError, ValueError):
        return None


# A group whose files were only added to is staged from its earlier staging and the added
# files, unless they are more than this share of it (then re-staging it whole costs as much).
ADDED_SHARE = 0.25


def added_files(done: dict | None, inputs: dict) -> set[str] | None:
    """The submissions of the group's files that its staging does not hold yet, when staging it from its
    earlier staging is the same as staging it anew: the same base (last week's plan, code,
    settings), no file gone or changed, and few files added. Otherwise None.

    Each file is parsed and validated on its own terms; what spans files of a group (an ID
    number under two households, newer files superseding older ones) is settled again by
    publish, city-wide, over all staged files (supersession, ``duplicate_ids``)."""
    if done is None or done.get("base") != inputs["base"] or "files" not in done:
        return None
    before = {tuple(f) for f in done["files"]}
    now = {tuple(f) for f in inputs["files"]}
    new = now - before
    if not new or not before <= now or len(new) > ADDED_SHARE * len(now):
        return None
    return {sid for sid, _path, _at in new}
