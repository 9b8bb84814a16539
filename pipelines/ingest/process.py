"""Write-audit-publish for one week.

- ``discover``: list, archive and register the week's files; write the run manifest.
- ``process_group``: parse and validate one group of files (a county's folder) and write
  the result to the lake's staging area. Touches no warehouse (mapped tasks run in
  parallel; DuckDB has a single writer).
- ``publish``: city-wide checks (register, week, supersession, duplicate IDs), then the
  week's facts, quarantine and findings are written to the lake and replaced in the
  warehouse in one transaction.
"""
from __future__ import annotations

import hashlib
import json
import logging
import posixpath
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines import forms, pii, storage, vectors
from pipelines.checkpoints import checkpoint
from pipelines.findings import ERROR, WARNING, finding, findings_frame
from pipelines.gcpause import paused_gc
from pipelines.ingest import discover as disc
from pipelines.ingest import publish_state
from pipelines.settings import Settings, get_settings
from pipelines.warehouse import Warehouse, insert_parquet_duckdb
from pipelines.weeks import month_of_week, shift_week

log = logging.getLogger(__name__)

# (form, table key) -> core table
CORE_TABLES = {
    ("A", "plan"): "core.ledger_households",
    ("A", "measures"): "core.ledger_measures",
    ("A", "helpers"): "core.ledger_helpers",
    ("B", "report"): "core.village_reports",
    ("C", "report"): "core.township_reports",
    ("D", "report"): "core.county_reports",
}
CODE_LENGTH = {"A": 12, "B": 12, "C": 9, "D": 6}
PROVENANCE = ["week", "unit_code", "submission_id", "source_sheet", "source_row"]


def _short(table: str) -> str:
    return table.split(".", 1)[1]


# ---- lake paths ------------------------------------------------------------------------
def run_manifest_path(root: str, week: str) -> str:
    return storage.join(root, "runs", f"week={week}", "files.parquet")


def staging_path(root: str, week: str, group: str, name: str) -> str:
    gid = hashlib.sha1(group.encode()).hexdigest()[:12]
    return storage.join(root, "staging", f"week={week}", f"group={gid}", f"{name}.parquet")


def staging_cache_path(root: str, week: str) -> str:
    """Rows publish keeps between runs of a week (see _duplicate_ids_streamed)."""
    return storage.join(root, "staging", f"week={week}", "_duplicate_rows.parquet")


def fact_path(root: str, area: str, table: str, week: str) -> str:
    return storage.join(root, area, _short(table), f"week={week}", "part-0.parquet")


# ---- discover ------------------------------------------------------------------------
def discover(week: str, settings: Settings | None = None, wh: Warehouse | None = None) -> list[list[str]]:
    """Archive and register the week's files; return the mapped tasks: lists of groups."""
    return discover_week(week, settings, wh)["batches"]


def discover_week(week: str, settings: Settings | None = None, wh: Warehouse | None = None) -> dict:
    """Archive and register the week's files; return ``batches`` (the mapped tasks: lists of
    groups whose staging cannot be reused), ``to_parse`` (how many files those groups will
    parse: a group that only gained files parses just them) and ``published`` (the week's
    last publish left its state: see publish_state)."""
    settings = settings or get_settings()
    files = disc.list_week_files(settings, week)
    lfs, lroot = storage.filesystem(settings.lake_url, settings.s3_endpoint_url)
    manifest = run_manifest_path(lroot, week)
    known = storage.read_parquet(lfs, manifest) if lfs.exists(manifest) else None
    files = disc.archive_files(settings, files, known) if len(files) else files.assign(
        sha256=pd.Series(dtype=str), archive_path=pd.Series(dtype=str), submission_id=pd.Series(dtype=str))
    checkpoint("discover.archived")
    storage.write_parquet(lfs, manifest, files)
    # Staging of earlier attempts is kept: a group whose inputs are unchanged is reused
    # (process_group checks its signature); a group that only gained files parses just those.
    wh = wh or Warehouse(settings.warehouse_url)
    with wh.held():
        wh.apply_schema()
        if len(files):
            rows = disc.new_submission_rows(files, week, settings)
            # Registered already, in any week (the same bytes sent again a week later are the
            # same submission): looked up by value, not by reading every week's register.
            rows = rows[~vectors.member(rows["submission_id"], wh.present("core.submissions", "submission_id",
                                                                           rows["submission_id"].tolist()))]
            with wh.transaction() as conn:
                wh.insert(conn, "core.submissions", rows)
    log.info("week %s: %d files in %d groups", week, len(files), files["group"].nunique() if len(files) else 0)
    published = lfs.exists(publish_state.state_path(lroot, week))
    if not len(files):
        return {"batches": [], "to_parse": 0, "published": published}
    # Only groups whose staging cannot be reused are mapped (a late village: one task);
    # a week with none still maps one empty task, so that the week is published again.
    sizes = files["group"].value_counts().sort_index()
    base = staging_base(week, settings, lfs, lroot)
    staged, to_parse = set(), 0
    for g, part in files.groupby("group", sort=True):
        part = part.drop_duplicates("submission_id")
        inputs = group_inputs(part, week, settings, lfs, lroot, base)
        done = _read_done(lfs, lroot, week, g)
        if done is not None and done.get("signature") == inputs["signature"]:
            staged.add(g)
            continue
        added = _added_files(done, inputs, part)
        to_parse += len(part) if added is None else len(added)
    if staged:
        log.info("week %s: %d of %d groups unchanged since staged, not mapped", week, len(staged), len(sizes))
    return {"batches": task_batches(sizes[~vectors.member(sizes.index, staged)], settings.task_files) or [[]],
            "to_parse": int(to_parse), "published": published}


def route_week(week: str, settings: Settings | None = None) -> dict:
    """discover_week, and which way the run goes on: the week's first run, or a re-run
    that parses many files, fans out over the mapped tasks (``batches``); a re-run of a
    published week that parses at most ``settings.quick_files`` files (late or corrected
    reports, a steward's waiver) is applied in one task (``quick``: its batches;
    see pipelines.incremental), without stepping through the full path's six tasks."""
    settings = settings or get_settings()
    found = discover_week(week, settings)
    quick = found["published"] and found["to_parse"] <= settings.quick_files and bool(found["batches"])
    return {"week": week, "batches": [] if quick else found["batches"],
            "quick": found["batches"] if quick else None, "to_parse": found["to_parse"]}


def task_batches(sizes: pd.Series, bound: int) -> list[list[str]]:
    """Groups packed into as few tasks of at most ``bound`` files as balance allows, the
    tasks about equal in files (largest group first into the emptiest task), so that the
    slots finish together; a group is never split (discover.batch_groups already bounds
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


def group_results(results: list[dict], staged: dict[str, dict] | None = None) -> list[dict]:
    """The per-group summaries of process_group results (one task can hold several), and,
    from ``staged`` (publish's ``staged_groups``), the groups no task had to process
    because discover found their staging reusable, marked ``reused``."""
    out = [g for r in results for g in r.get("groups", [r])]
    done = {g["group"] for g in out}
    out += [{**summary, "group": name, "reused": True} for name, summary in sorted((staged or {}).items())
            if name not in done]
    return out


# ---- process one group ---------------------------------------------------------------------
def group_dir(root: str, week: str, group: str) -> str:
    return posixpath.dirname(staging_path(root, week, group, "x"))


def _code_fingerprint() -> str:
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
        "code": _code_fingerprint(),
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
    # restate every other file's time): microseconds since 1970 (formatting each time as
    # text cost 0.5 s of a province's week).
    received = pd.to_datetime(files["received_at"], utc=True).dt.as_unit("us").array.asi8.tolist()
    listed = sorted(zip(files["submission_id"].tolist(), files["landing_path"].tolist(), received))
    payload = {"files": listed, **base}
    return {"base": hashlib.sha1(json.dumps(base, sort_keys=True, default=str).encode()).hexdigest(),
            "files": [list(f) for f in listed],
            "signature": hashlib.sha1(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()}


def process_group(week: str, group: str | list[str], settings: Settings | None = None) -> dict:
    """Parse, validate and stage one mapped task's groups (a county folder, or part of
    one; see discover.batch_groups). Each group is staged, and reused while its inputs
    are unchanged, on its own; the groups that changed are validated together, so a
    task pays Great Expectations' fixed cost per suite once, not once per group."""
    settings = settings or get_settings()
    t0 = time.perf_counter()
    names = [group] if isinstance(group, str) else list(group)
    lfs, lroot = storage.filesystem(settings.lake_url, settings.s3_endpoint_url)
    manifest = storage.read_parquet(lfs, run_manifest_path(lroot, week))
    results: dict[str, dict] = {}
    todo: list[tuple[str, pd.DataFrame, dict]] = []
    base = staging_base(week, settings, lfs, lroot)
    for name in names:
        files = _group_files(manifest, name)
        inputs = group_inputs(files, week, settings, lfs, lroot, base)
        done = _read_done(lfs, lroot, week, name)
        if done is not None and done.get("signature") == inputs["signature"]:
            results[name] = {**done["summary"], "reused": True}
            continue
        added = _added_files(done, inputs, files)
        if added is not None:  # files came, none went: only they are parsed and validated
            results[name] = _process_added(week, name, added, files, inputs, done, settings, lfs, lroot)
            continue
        gdir = group_dir(lroot, week, name)
        if lfs.exists(gdir):
            lfs.rm(gdir, recursive=True)
        todo.append((name, files, inputs))
    if todo:
        with paused_gc():  # the parsed files are all alive until validated: see gcpause
            for summary in _process_changed(week, todo, settings, lfs, lroot):
                results[summary["group"]] = summary
    groups = [results[n] for n in names]
    if isinstance(group, str):
        return {**groups[0], "seconds": round(time.perf_counter() - t0, 3)}
    return {"group": "、".join(names), "groups": groups, "files": sum(g["files"] for g in groups),
            "findings": sum(g["findings"] for g in groups),
            "parse_seconds": round(sum(g["parse_seconds"] for g in groups if not g["reused"]), 3),
            "validate_seconds": round(sum(g["validate_seconds"] for g in groups if not g["reused"]), 3),
            "reused": all(g["reused"] for g in groups), "seconds": round(time.perf_counter() - t0, 3)}


def _done_path(lroot: str, week: str, group: str) -> str:
    return staging_path(lroot, week, group, "_done").replace(".parquet", ".json")


def _group_files(manifest: pd.DataFrame, group: str) -> pd.DataFrame:
    return manifest[manifest["group"] == group].drop_duplicates("submission_id")


def _read_done(lfs, lroot: str, week: str, group: str) -> dict | None:
    """The record process_group wrote last for a staged group (signature and summary)."""
    try:
        with lfs.open(_done_path(lroot, week, group), "rb") as f:
            return json.loads(f.read())
    except (FileNotFoundError, ValueError):
        return None


# A group whose files were only added to is staged from its earlier staging and the added
# files, unless they are more than this share of it (then re-staging it whole costs as much).
ADDED_SHARE = 0.25


def _added_files(done: dict | None, inputs: dict, files: pd.DataFrame) -> pd.DataFrame | None:
    """The group's files that its staging does not hold yet, when staging it from its
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
    ids = {sid for sid, _path, _at in new}
    return files[vectors.member(files["submission_id"], ids)]


def _process_added(week: str, name: str, added: pd.DataFrame, files: pd.DataFrame, inputs: dict, done: dict,
                   settings: Settings, lfs, lroot: str) -> dict:
    """Stage the added files of group ``name`` (see _added_files) in a scratch folder, then
    write each staged part of the group as its earlier rows followed by theirs."""
    import fsspec

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="huizong-added-") as tmp:
        tfs = fsspec.filesystem("file")
        (part,) = _process_changed(week, [(name, added, inputs)], settings, tfs, tmp)
        rows = dict(done["summary"].get("rows", {}))
        tdir = group_dir(tmp, week, name)
        parts = sorted(p for p in Path(tdir).glob("*.parquet"))
        for path in parts:
            target = staging_path(lroot, week, name, path.stem)
            fresh = pd.read_parquet(path)
            old = storage.read_parquet(lfs, target) if lfs.exists(target) else None
            both = fresh if old is None or not len(old) else pd.concat([old, _like(fresh, old)], ignore_index=True)
            if path.stem == "identities":
                both = resolve_supersession(both.drop(columns=["superseded_by"], errors="ignore"))
            storage.write_parquet(lfs, target, _for_parquet(both))
            if path.stem in rows or path.stem in {_short(t) for t in CORE_TABLES.values()}:
                rows[path.stem] = int(len(both))
    findings = storage.read_parquet(lfs, staging_path(lroot, week, name, "findings"), columns=["rule"])
    summary = {**done["summary"], "files": int(len(files)), "rows": rows, "findings": int(len(findings)),
               "parse_seconds": part["parse_seconds"], "validate_seconds": part["validate_seconds"],
               "seconds": round(time.perf_counter() - t0, 3), "reused": False, "added_files": int(len(added))}
    _write_done(lfs, lroot, week, name, inputs, summary)
    return summary


def _like(fresh: pd.DataFrame, old: pd.DataFrame) -> pd.DataFrame:
    """``fresh`` with its empty columns typed as ``old``'s (a few added files leave columns
    empty that the group's other files fill; concatenated untyped they would become text)."""
    out = fresh.copy()
    for c in out.columns.intersection(old.columns):
        if out[c].dtype != old[c].dtype and out[c].isna().all():
            try:
                out[c] = out[c].astype(old[c].dtype)
            except (TypeError, ValueError):
                pass
    return out


def _write_done(lfs, lroot: str, week: str, name: str, inputs: dict, summary: dict) -> None:
    """The group's staging record; written last: a group counts as staged only once all
    its parts are there."""
    record = {"signature": inputs["signature"], "base": inputs["base"], "files": inputs["files"], "summary": summary}
    storage.write_bytes_atomic(lfs, _done_path(lroot, week, name), json.dumps(record).encode())


def _process_changed(week: str, todo: list[tuple[str, pd.DataFrame, dict]], settings: Settings, lfs,
                     lroot: str) -> list[dict]:
    from pipelines.ingest.parse import join_columns, parse_file
    from pipelines.ingest.validate import validate_tables

    t0 = time.perf_counter()
    parsed: dict[str, object] = {}
    paths: dict[str, str] = {}
    group_of: dict[str, str] = {}
    idents: dict[str, pd.DataFrame] = {}
    problems: dict[str, list[dict]] = {}
    for name, files, _sig in todo:
        rows, probs = [], []
        for rec in files.itertuples(index=False):
            data = disc.read_archived(settings, rec.archive_path)
            pf = parse_file(data, rec.landing_path)
            parsed[rec.submission_id] = pf
            paths[rec.submission_id] = rec.landing_path
            group_of.setdefault(rec.submission_id, name)
            checkpoint("process.parsed")
            rows.append({
                "submission_id": rec.submission_id, "landing_path": rec.landing_path,
                "received_at": rec.received_at, "form": pf.form or "", "unit_code": pf.unit_code or "",
                "unit_name": pf.unit_name or "", "content_week": pf.week or "",
            })
            for p in pf.problems:
                probs.append({**p, "week": week, "submission_id": rec.submission_id,
                              "file": p.get("file") or rec.landing_path,
                              "unit_code": p.get("unit_code") or pf.unit_code or "",
                              "level": p.get("level") or forms.FORM_LEVEL.get(pf.form or "", "")})
        ident = pd.DataFrame(rows, columns=["submission_id", "landing_path", "received_at", "form",
                                            "unit_code", "unit_name", "content_week"])
        idents[name] = resolve_supersession(ident)
        problems[name] = probs
    t_parse = time.perf_counter() - t0

    prev_plan = _previous_plan(settings, week)
    pii_key = pii.pii_key(settings.home)
    out_findings: dict[str, list[pd.DataFrame]] = {n: [findings_frame(problems[n])] for n, _f, _s in todo}
    counts: dict[str, dict[str, int]] = {n: {} for n, _f, _s in todo}
    t_validate = 0.0
    for form in ("A", "B", "C", "D"):
        # current submissions of this form, group by group (rows of a group stay contiguous)
        subs = [(n, s) for n, _f, _s in todo
                for s in idents[n].loc[(idents[n]["form"] == form) & (idents[n]["superseded_by"] == ""),
                                       "submission_id"]]
        if not subs:
            continue
        tables, raws, totals, owners, total_owners = {}, {}, {}, {}, {}
        for key in [k for (f, k) in CORE_TABLES if f == form]:
            parts, tparts = [], []
            fsids, tsids, rown, town = [], [], [], []
            for n, sid in subs:
                pf = parsed[sid]
                part = pf.parts.get(key)
                if part is None or not part.n:
                    continue
                parts.append(part)
                fsids.append((sid, part.n))
                rown.append((n, part.n))
                tot = pf.total_parts.get(key)
                if tot is not None and tot.n:
                    tparts.append(tot)
                    tsids.append((sid, tot.n))
                    town.append((n, tot.n))
            if parts:
                typed, raws[key] = join_columns(parts)
                tables[key] = _with_provenance(typed, fsids, parsed, paths, week, form)
                owners[key] = np.repeat([n for n, _ in rown], [k for _, k in rown])
            if tparts:
                totals[key] = _with_provenance(join_columns(tparts)[0], tsids, parsed, paths, week, form)
                total_owners[key] = np.repeat([n for n, _ in town], [k for _, k in town])
        if not tables:
            continue
        tv = time.perf_counter()
        res = validate_tables(form, tables, raws, prev_plan=prev_plan if form == "A" else None,
                              totals=totals or None, settings=settings, keep_results=True, run_id=week)
        t_validate += time.perf_counter() - tv
        fnd = findings_frame(res.findings)
        fnd_group = fnd["submission_id"].map(group_of).fillna(todo[0][0])
        for n, _f, _s in todo:
            out_findings[n].append(fnd[(fnd_group == n).to_numpy(bool)])
        for key, df in tables.items():
            table = CORE_TABLES[(form, key)]
            df = df.copy()
            df["_error"] = df.index.isin(list(res.error_rows.get(key, [])))
            if key in totals:
                tot = totals[key].copy()
                tot["_error"] = False
                df["is_total"] = False
                tot["is_total"] = True
            elif form in ("C", "D"):
                df["is_total"] = False
            for n, _f, _s in todo:
                part = df[owners[key] == n]
                if key in totals:
                    part = pd.concat([part, tot[total_owners[key] == n]], ignore_index=True)
                if not len(part):
                    continue
                if key == "plan":
                    part = pii.protect_plan(part, pii_key)
                    storage.write_parquet(lfs, staging_path(lroot, week, n, "id_keys"), _id_keys(part))
                elif key == "helpers":
                    part = pii.protect_helpers(part, pii_key)
                storage.write_parquet(lfs, staging_path(lroot, week, n, _short(table)), _for_parquet(part))
                counts[n][_short(table)] = len(part)
    seconds = time.perf_counter() - t0
    n_files = sum(len(f) for _n, f, _s in todo)
    summaries = []
    for name, files, inputs in todo:
        # From here on no clear ID or phone number: the raw archive is the only place they exist.
        findings = pii.protect_findings(pd.concat(out_findings[name], ignore_index=True))
        storage.write_parquet(lfs, staging_path(lroot, week, name, "findings"), findings)
        storage.write_parquet(lfs, staging_path(lroot, week, name, "identities"), idents[name])
        share = len(files) / n_files if n_files else 0.0  # timings are shared by the groups of a task
        summary = {"group": name, "files": int(len(files)), "rows": counts[name], "findings": int(len(findings)),
                   "parse_seconds": round(t_parse * share, 3), "validate_seconds": round(t_validate * share, 3),
                   "seconds": round(seconds * share, 3), "reused": False}
        _write_done(lfs, lroot, week, name, inputs, summary)
        summaries.append(summary)
    return summaries


def _with_provenance(df: pd.DataFrame, sids: list[tuple[str, int]], parsed: dict, paths: dict,
                     week: str, form: str) -> pd.DataFrame:
    """Add submission_id, file, unit_code, week, level to rows concatenated from many files."""
    ids = np.repeat([s for s, _ in sids], [n for _, n in sids])
    df["submission_id"] = ids
    df["file"] = np.repeat([paths[s] for s, _ in sids], [n for _, n in sids])
    df["unit_code"] = np.repeat([parsed[s].unit_code or "" for s, _ in sids], [n for _, n in sids])
    df["week"] = week
    df["level"] = forms.FORM_LEVEL[form]
    return df


def resolve_supersession(ident: pd.DataFrame) -> pd.DataFrame:
    """Newest file per (form, unit, week) wins; older ones point at it."""
    ident = ident.copy()
    ident["superseded_by"] = ""
    known = ident[(ident["form"] != "") & (ident["unit_code"] != "")]
    if known.empty:
        return ident
    ordered = known.sort_values(["received_at", "landing_path"])
    latest = ordered.groupby(["form", "unit_code"])["submission_id"].transform("last")
    sup = latest[latest != ordered["submission_id"]]
    ident.loc[sup.index, "superseded_by"] = sup
    return ident


def _previous_plan(settings: Settings, week: str) -> pd.DataFrame | None:
    lfs, lroot = storage.filesystem(settings.lake_url, settings.s3_endpoint_url)
    path = fact_path(lroot, "facts", "core.ledger_households", shift_week(week, -1))
    if not lfs.exists(path):
        return None
    import pyarrow.parquet as pq

    with lfs.open(path, "rb") as f:
        return pq.read_table(f, columns=["household_id", "state"]).to_pandas()


def _for_parquet(df: pd.DataFrame) -> pd.DataFrame:
    """Parquet-safe: object columns of python dates/mixed become typed or text."""
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object:
            sample = out[c].dropna()
            if len(sample) and all(hasattr(v, "isoformat") for v in sample.head(50)):
                out[c] = pd.to_datetime(out[c], errors="coerce")
            else:
                out[c] = out[c].astype("string")
    return out


# ---- publish ------------------------------------------------------------------------------
def _read_staging(lfs, lroot: str, week: str, name: str, groups: list[str]) -> pd.DataFrame:
    """The staged parts of this week's groups (only groups in the current manifest)."""
    paths = [staging_path(lroot, week, g, name) for g in groups]
    frames = [storage.read_parquet(lfs, p) for p in paths if lfs.exists(p)]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


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
        (unit == "") | (unit.str.len() != form.map(CODE_LENGTH).fillna(-1)) | ~vectors.member(unit, codes)
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
        elif len(r.unit_code) != CODE_LENGTH[r.form]:
            out.append(finding(**base, column="行政区划代码", value=r.unit_code, rule="unit.level_mismatch",
                               severity=ERROR, dimension="identification",
                               message=f"{forms.FORM_TITLE[r.form]}应由{forms.FORM_LEVEL[r.form]}级单位填报（{CODE_LENGTH[r.form]}位代码），"
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


def finding_ids(f: pd.DataFrame) -> pd.Series:
    """Stable identity: week, unit, rule, record and column; the row's position is added
    only where that is not enough to tell two findings apart (no record, or a repeat)."""
    where = f["file"] + ":" + f["sheet"] + ":" + f["row"].astype(str)
    key = f["week"] + "|" + f["unit_code"] + "|" + f["rule"] + "|" + f["record_key"] + "|" + f["column"]
    key = key.where((f["record_key"] != "") & ~key.duplicated(keep=False), key + "|" + where)
    return key.map(lambda k: hashlib.sha1(k.encode("utf-8")).hexdigest()[:16])


def publish(week: str, run_id: str = "", settings: Settings | None = None, wh: Warehouse | None = None) -> dict:
    from pipelines.ingest.validate import duplicate_ids

    settings = settings or get_settings()
    t0 = time.perf_counter()
    lfs, lroot = storage.filesystem(settings.lake_url, settings.s3_endpoint_url)
    # The manifest's columns that publish needs (it has one row per file of the week).
    files = storage.read_parquet(lfs, run_manifest_path(lroot, week), columns=["group", "submission_id", "received_at"])
    groups = sorted(files["group"].unique().tolist()) if len(files) else []
    records = {g: _read_done(lfs, lroot, week, g) for g in groups}
    missing = [g for g, r in records.items() if r is None]
    if missing:  # never publish a week with files left unprocessed (they would read as received)
        raise RuntimeError(f"week {week}: groups not staged (process_group did not finish): {missing}")
    register = disc.read_landing_register(settings)
    ident = _read_staging(lfs, lroot, week, "identities", groups)
    if ident.empty:
        ident = pd.DataFrame(columns=["submission_id", "landing_path", "received_at", "form", "unit_code",
                                      "unit_name", "content_week", "superseded_by"])
    ident = resolve_supersession(ident.drop(columns=["superseded_by"], errors="ignore"))
    current = set(ident.loc[ident["superseded_by"] == "", "submission_id"])

    fnd = _read_staging(lfs, lroot, week, "findings", groups)
    fnd = findings_frame(fnd)
    fnd = fnd[vectors.member(fnd["submission_id"], current) | (fnd["submission_id"] == "").to_numpy(bool)]
    fnd = pd.concat([fnd, identity_findings(ident, files, register, week, settings)], ignore_index=True)

    # The week's rows are never all in memory: staged tables are read one group (mapped
    # task) at a time, split into facts and quarantine, and streamed into the lake; the
    # warehouse is then loaded from the lake files in batches.
    staged = {t: [(g, staging_path(lroot, week, g, _short(t))) for g in groups] for t in CORE_TABLES.values()}
    staged = {t: [(g, p) for g, p in parts if lfs.exists(p)] for t, parts in staged.items()}
    fnd = pd.concat([fnd, _duplicate_ids_streamed(lfs, [p for _, p in staged["core.ledger_households"]], current,
                                                  duplicate_ids, staging_cache_path(lroot, week))],
                    ignore_index=True)
    fnd = fnd.drop_duplicates(["submission_id", "sheet", "row", "column", "rule"]).reset_index(drop=True)
    fnd["finding_id"] = finding_ids(fnd) if len(fnd) else pd.Series(dtype=str)
    fnd["stage"] = "ingest"

    # Errors a steward waived no longer quarantine their rows (the findings stay recorded).
    from pipelines.review.lifecycle import waived_finding_ids

    wh = wh or Warehouse(settings.warehouse_url)
    waived = waived_finding_ids(wh, week)
    all_errors = fnd[fnd["severity"] == ERROR]
    errors = all_errors[~vectors.member(all_errors["finding_id"], waived)]
    rejected = set(errors.loc[errors["row"] == 0, "submission_id"])
    row_err = _row_keys(errors["submission_id"], errors["sheet"], errors["row"])
    waived_rows = _row_keys(all_errors["submission_id"], all_errors["sheet"], all_errors["row"]).difference(row_err)
    warns = fnd[fnd["severity"] == WARNING]
    row_warn = _row_keys(warns["submission_id"], warns["sheet"], warns["row"])

    # Which submissions need their rows written again: all of them, or (when the state
    # of the last publish is trustworthy) those whose fingerprint changed; see publish_state.
    pairs = files[["submission_id", "group"]].drop_duplicates().reset_index(drop=True)
    pairs["fingerprint"] = publish_state.fingerprints(
        pairs, {g: r.get("base") or r.get("signature", "") for g, r in records.items()}, current, rejected,
        {"quarantine": row_err, "waived": waived_rows, "warning": row_warn})
    code = _code_fingerprint()
    wh.apply_schema()
    prior = _prior_state(lfs, lroot, week, wh, code)
    todo = None if prior is None else publish_state.affected(prior, pairs)
    member = current if todo is None else current & todo
    split_groups = groups if todo is None else sorted(set(pairs.loc[vectors.member(pairs["submission_id"], todo), "group"])
                                                      & set(groups))

    summaries, counts = [], []
    err_text, waived_text, warn_text = (_row_text(*(k.get_level_values(i) for i in range(3)))
                                        for k in (row_err, waived_rows, row_warn))
    by_group = {g: {t: p for t, parts in staged.items() for g2, p in parts if g2 == g} for g in split_groups}
    loaded_at = pd.Timestamp.now(tz="UTC").floor("us")
    # Lake first (partitioned by week, atomic files), then the warehouse in one transaction;
    # the state is written only after both (a publish cut short leaves none: the next is full).
    publish_state.drop_state(lfs, lroot, week)
    with tempfile.TemporaryDirectory(prefix="huizong-publish-") as tmp:
        parts = _LakeParts(Path(tmp))
        for g in split_groups:  # one group's rows in memory at a time
            frames = {t: storage.read_parquet(lfs, p) for t, p in by_group[g].items()}
            frames = {t: df[vectors.member(df["submission_id"], member)] for t, df in frames.items()}
            summaries.append(ledger_summary(frames, member, week))
            for table, df in frames.items():
                keys = _row_text(df["submission_id"], df["source_sheet"], df["source_row"])
                bad = (df["_error"].astype(bool).to_numpy(bool) & ~vectors.member(keys, waived_text)) \
                    | vectors.member(df["submission_id"], rejected) | vectors.member(keys, err_text)
                df = df.assign(has_warning=vectors.member(keys, warn_text))
                facts, quar = df[~bad], df[bad]
                parts.add(table, "facts", facts)
                parts.add(table, "quarantine", quar)
                for name, frame in (("loaded", facts), ("quarantined", quar)):
                    n = frame["submission_id"].astype(str).value_counts()
                    counts.append(pd.DataFrame({"submission_id": n.index.to_numpy(object), "group": g,
                                                "column": f"{name}_{_short(table)}", "n": n.to_numpy()}))
            del frames
        state = _state_rows(pairs, counts, prior, todo)
        for table in CORE_TABLES.values():
            for area in ("facts", "quarantine"):
                parts.publish(lfs, fact_path(lroot, area, table, week), table, area, drop=todo)
        storage.write_parquet(lfs, fact_path(lroot, "findings", "core.findings", week), fnd)
        checkpoint("publish.lake_written")

        per_sub_loaded = _per_submission(state, "loaded")
        per_sub_quar = _per_submission(state, "quarantined")
        stats = {name: {t: int(state[f"{name}_{t}"].sum()) for t in map(_short, CORE_TABLES.values())}
                 for name in ("loaded", "quarantined")}
        summary = _sum_ledger_summaries(summaries, week)
        subs = _submission_updates(ident, fnd, per_sub_loaded, per_sub_quar, rejected)
        regions = register.assign(week=week)
        with wh.transaction() as conn:
            if wh.dialect == "duckdb":
                # The load streams from the lake files: a small buffer pool suffices, and the
                # week's uncommitted rows spill to disk instead of growing with the week.
                bound = conn.exec_driver_sql("SELECT current_setting('memory_limit')").scalar()
                conn.exec_driver_sql("SET memory_limit = '128MB'")
            for table in CORE_TABLES.values():
                if todo is None:  # the whole week, from the lake file
                    wh.replace(conn, table, pd.DataFrame(), {"week": week})
                    sources = [fact_path(lroot, "facts", table, week)]
                    sfs = lfs
                else:  # only the affected submissions' rows, from this publish's parts
                    wh.delete_in(conn, table, "submission_id", sorted(todo), {"week": week})
                    sources = [str(p) for p in parts.paths(table, "facts")]
                    sfs = _local_fs()
                for path in sources:
                    _load_parquet(wh, conn, table, sfs, path)
                checkpoint("publish.table_replaced")
            wh.replace(conn, "core.findings", fnd, {"week": week, "stage": "ingest"})
            if todo is None:
                wh.replace(conn, "core.ledger_summary", summary, {"week": week})
            else:
                wh.delete_in(conn, "core.ledger_summary", "submission_id", sorted(todo), {"week": week})
                wh.insert(conn, "core.ledger_summary", summary)
            wh.replace(conn, "core.regions", regions, {"week": week})
            # what parsing learned about the week's submissions (this week's rows only)
            wh.update(conn, "core.submissions", subs, key="submission_id", where={"week": week})
            wh.replace(conn, "core.loads", pd.DataFrame([{
                "week": week, "run_id": run_id, "loaded_at": loaded_at,
                "files": int(len(files)), "submissions": int(files["submission_id"].nunique()) if len(files) else 0,
                "rows_loaded": int(sum(stats["loaded"].values())),
                "rows_quarantined": int(sum(stats["quarantined"].values())),
                "errors": int((fnd["severity"] == ERROR).sum()), "warnings": int((fnd["severity"] == WARNING).sum()),
            }]), {"week": week})
        if wh.dialect == "duckdb":
            # The bound is the database's, not the connection's: what a task holding the
            # warehouse open (Warehouse.held) runs next gets the usual one back.
            with wh.engine.connect() as conn:
                conn.exec_driver_sql(f"SET memory_limit = '{bound}'")
    publish_state.write_state(lfs, lroot, week, state, {"code": code, "token": publish_state.token(loaded_at)})
    return {"week": week, "month": month_of_week(week), "files": int(len(files)), "findings": int(len(fnd)),
            "errors": int((fnd["severity"] == ERROR).sum()), **stats,
            "staged_groups": {g: r["summary"] for g, r in records.items() if "summary" in r},
            "mode": "full" if todo is None else "incremental",
            "rewritten_submissions": int(len(set(pairs["submission_id"]) if todo is None else todo)),
            "seconds": round(time.perf_counter() - t0, 3)}


def _local_fs():
    import fsspec

    return fsspec.filesystem("file")


def _load_parquet(wh: Warehouse, conn, table: str, fs, path: str) -> None:
    if not fs.exists(path):
        return
    if wh.dialect == "duckdb" and storage._is_local(fs):
        insert_parquet_duckdb(wh, conn, table, path)
    else:
        for batch in storage.iter_parquet(fs, path):
            wh.insert(conn, table, batch)




def _prior_state(lfs, lroot: str, week: str, wh: Warehouse, code: str) -> pd.DataFrame | None:
    """The last publish's state rows, if they describe what the lake and warehouse hold now."""
    found = publish_state.read_state(lfs, lroot, week)
    if found is None:
        return None
    meta, rows = found
    if meta.get("code") != code:
        return None
    loads = wh.query("SELECT loaded_at FROM core.loads WHERE week = :w", {"w": week})
    if len(loads) != 1 or publish_state.token(loads["loaded_at"].iloc[0]) != meta.get("token"):
        return None
    for table in CORE_TABLES.values():
        for area in ("loaded", "quarantined"):
            lake_area = "facts" if area == "loaded" else "quarantine"
            if int(rows[f"{area}_{_short(table)}"].sum()) and not lfs.exists(fact_path(lroot, lake_area, table, week)):
                return None
    return rows


def _state_rows(pairs: pd.DataFrame, counts: list[pd.DataFrame], prior: pd.DataFrame | None,
                todo: set[str] | None) -> pd.DataFrame:
    """The new state: the rewritten (submission, group) pairs with this publish's row counts,
    and, in an incremental publish, the others as the last publish left them."""
    fresh = pairs if todo is None else pairs[vectors.member(pairs["submission_id"], todo)]
    fresh = fresh[["submission_id", "group", "fingerprint"]].astype(str)
    if counts:
        wide = (pd.concat(counts, ignore_index=True)
                .pivot_table(index=["submission_id", "group"], columns="column", values="n", aggfunc="sum")
                .reset_index())
        wide = wide.astype({"submission_id": str, "group": str})
        fresh = fresh.merge(wide, on=["submission_id", "group"], how="left")
    for c in publish_state.COUNT_COLUMNS:
        fresh[c] = pd.to_numeric(fresh[c], errors="coerce").fillna(0).astype("int64") if c in fresh else 0
    fresh = fresh[["submission_id", "group", "fingerprint", *publish_state.COUNT_COLUMNS]]
    if todo is None or prior is None:
        return fresh.reset_index(drop=True)
    kept = prior[~vectors.member(prior["submission_id"], todo)][fresh.columns]
    return pd.concat([kept, fresh], ignore_index=True)


def _per_submission(state: pd.DataFrame, area: str) -> pd.Series:
    cols = [c for c in publish_state.COUNT_COLUMNS if c.startswith(f"{area}_")]
    return state[cols].sum(axis=1).groupby(state["submission_id"]).sum()


class _LakeParts:
    """Facts and quarantine of a week, written one group at a time to local temporary
    Parquet parts, then published as one lake file per table and area (streamed, in
    the parts' order, under one schema)."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.parts: dict[tuple[str, str], list[Path]] = {}

    def add(self, table: str, area: str, frame: pd.DataFrame) -> None:
        if not len(frame):
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        key = (table, area)
        path = self.tmp / f"{_short(table)}-{area}-{len(self.parts.get(key, []))}.parquet"
        data = pa.Table.from_pandas(_for_parquet(frame.drop(columns=["_error"], errors="ignore")),
                                    preserve_index=False)
        pq.write_table(data, path)
        self.parts.setdefault(key, []).append(path)

    def paths(self, table: str, area: str) -> list[Path]:
        return list(self.parts.get((table, area), []))

    def publish(self, lfs, path: str, table: str, area: str, drop: set[str] | None = None) -> None:
        """Write the lake file of ``table`` and ``area`` from the parts. With ``drop`` (an
        incremental publish), the file's present rows are kept, except those of the
        submissions in ``drop``, and the parts (those submissions' new rows) follow them;
        a file that would not change is not written."""
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        parts = self.parts.get((table, area), [])
        keep = None
        if drop is not None and lfs.exists(path):
            with lfs.open(path, "rb") as f:
                ids = pq.read_table(f, columns=["submission_id"]).column("submission_id")
            gone = pc.is_in(ids, value_set=pa.array(sorted(drop), pa.string()))
            n_gone = pc.sum(gone).as_py() or 0
            if not parts and not n_gone:
                return  # none of its rows change
            if not parts and n_gone == len(ids):
                lfs.rm(path)  # as a full publish: no rows, no file
                return
            keep = pa.array(sorted(drop), pa.string())
        elif drop is not None and not parts:
            return  # no file before, none after
        schemas = [pq.read_schema(p) for p in parts]
        if keep is not None:
            with lfs.open(path, "rb") as f:
                schemas.insert(0, pq.read_schema(f))
        if not schemas:
            if lfs.exists(path):
                lfs.rm(path)
            return
        if all(sc.equals(schemas[0], check_metadata=False) for sc in schemas):
            schema = schemas[0]  # the usual case; keeps pandas' dtypes for readers
        else:
            schema = pa.unify_schemas([sc.remove_metadata() for sc in schemas], promote_options="permissive")
        with storage.open_atomic(lfs, path) as out, pq.ParquetWriter(out, schema, compression="zstd") as w:
            if keep is not None:  # streamed by batches: the week's file is never held whole
                with lfs.open(path, "rb") as f:
                    for batch in pq.ParquetFile(f).iter_batches(batch_size=100_000):
                        t = pa.Table.from_batches([batch])
                        t = t.filter(pc.invert(pc.is_in(t.column("submission_id"), value_set=keep)))
                        if len(t):
                            w.write_table(_conform(t, schema))
            for p in parts:
                w.write_table(_conform(pq.read_table(p), schema))


def _conform(t, schema):
    """``t`` with exactly ``schema``'s columns and types (missing columns null)."""
    import pyarrow as pa

    if not t.schema.equals(schema, check_metadata=False):
        cols = [t.column(f.name).cast(f.type) if f.name in t.column_names
                else pa.nulls(len(t), f.type) for f in schema]
        t = pa.Table.from_arrays(cols, schema=schema)
    return t.replace_schema_metadata(schema.metadata)


def _id_keys(df: pd.DataFrame) -> pd.DataFrame:
    """Per plan row, aligned with it: 64-bit hashes of the normalised ID hash and of the
    household id, whether an ID is given, and the submission. process_group stages them
    beside the plan rows, so the city-wide duplicate pass reads numbers, not text."""
    idn = df["id_hash"].astype(str).str.strip().str.upper()
    return pd.DataFrame({
        "id": pd.util.hash_array(idn.to_numpy(object)),
        "household": pd.util.hash_array(df["household_id"].astype(str).to_numpy(object)),
        "known": df["id_hash"].notna().to_numpy(bool),
        "submission_id": df["submission_id"].astype(str).to_numpy(object)})


def _duplicate_ids_streamed(lfs, plan_paths: list[str], current: set[str], duplicate_ids,
                            cache: str | None = None) -> pd.DataFrame:
    """City-wide duplicate ID numbers without holding the city's plan rows: the ID hashes
    registered under more than one household are found from the staged 64-bit keys of
    each group (``_id_keys``, 16 bytes a row), then only the candidates' rows are read in
    full and checked exactly by ``duplicate_ids``.

    ``cache``: a Parquet file keeping the candidates' rows of each group from the last
    publish; a group whose staged plan and candidate rows are the same is not read again."""
    cols = ["id_hash", "household_id", "submission_id"]

    def keys(p: str) -> pd.DataFrame:
        kp = posixpath.join(posixpath.dirname(p), "id_keys.parquet")
        if lfs.exists(kp):
            return storage.read_parquet(lfs, kp)
        return _id_keys(storage.read_parquet(lfs, p, columns=cols))  # staged before id_keys existed

    ids, households, where = [], [], {}
    for p in plan_paths:
        if not set(cols) <= set(storage.parquet_schema(lfs, p).names):
            continue
        k = keys(p)
        mine = vectors.member(k["submission_id"], current) & k["known"].to_numpy(bool)
        where[p] = (k["id"].to_numpy(np.uint64), mine)
        ids.append(where[p][0][mine])
        households.append(k["household"].to_numpy(np.uint64)[mine])
    if not ids:
        return findings_frame()
    dups = _shared_ids(np.concatenate(ids), np.concatenate(households))
    if not len(dups):
        return findings_frame()
    kept = _read_cache(lfs, cache)
    rows, fresh = {}, False
    for p, (id_arr, mine) in where.items():  # only the rows holding a duplicated ID are read in full
        at = np.flatnonzero(mine & np.isin(id_arr, dups))
        if not len(at):
            continue
        info = lfs.info(p)
        key = hashlib.sha1(f"{info.get('size')}|{storage.mtime_of(info)}|".encode() + at.tobytes()).hexdigest()
        if p in kept and kept[p][0] == key:
            rows[p] = (key, kept[p][1])
        else:
            rows[p] = (key, storage.read_parquet_rows(lfs, p, at))
            fresh = True
    if cache is not None and (fresh or set(rows) != set(kept)):
        storage.write_parquet(lfs, cache, _for_parquet(pd.concat(
            [df.assign(_src=p, _key=key) for p, (key, df) in rows.items()], ignore_index=True)))
    plan = pd.concat([df for _key, df in rows.values()], ignore_index=True)
    return _duplicate_ids_hashed(plan, duplicate_ids)


def _read_cache(lfs, cache: str | None) -> dict[str, tuple[str, pd.DataFrame]]:
    """path -> (key, rows) from a _duplicate_ids_streamed cache (none if absent or unreadable)."""
    if cache is None or not lfs.exists(cache):
        return {}
    try:
        df = storage.read_parquet(lfs, cache)
    except (OSError, ValueError):
        return {}
    if not {"_src", "_key"} <= set(df.columns):
        return {}
    return {str(p): (str(part["_key"].iloc[0]), part.drop(columns=["_src", "_key"]).reset_index(drop=True))
            for p, part in df.groupby("_src", sort=False)}


def _shared_ids(ids: np.ndarray, households: np.ndarray) -> np.ndarray:
    """The ids paired with more than one distinct household. Only ids that occur more
    than once can be (one hashing pass finds them: almost every id occurs once); those
    pairs are sorted, not hashed. A province's week has millions of pairs: 0.8 s sorted
    whole, 0.3 s this way."""
    again = pd.Series(ids, copy=False).duplicated(keep=False).to_numpy(bool)
    ids, households = ids[again], households[again]
    order = np.lexsort((households, ids))
    i, h = ids[order], households[order]
    distinct = np.r_[True, (i[1:] != i[:-1]) | (h[1:] != h[:-1])] if len(i) else np.zeros(0, bool)
    pi = i[distinct]
    again = pi[1:] == pi[:-1]
    return np.unique(pi[1:][again])


def _sum_ledger_summaries(summaries: list[pd.DataFrame], week: str) -> pd.DataFrame:
    """One row per (village, submission), whatever groups the rows came from."""
    frames = [s for s in summaries if len(s)]
    if not frames:
        return summaries[0] if summaries else ledger_summary({}, set(), week)
    out = pd.concat(frames, ignore_index=True)
    cols = list(out.columns)
    key = ["week", "unit_code", "submission_id"]
    if out.duplicated(key).any():  # the same file landed in two folders
        out = out.groupby(key, as_index=False).sum()[cols]
    return out


def _row_parts(submission_id, sheet, row) -> list[pd.Series]:
    """(submission, sheet, row) of each row, written alike wherever they come from: text,
    text with no sheet as "", the row number as an integer (0 where there is none)."""
    return [pd.Series(submission_id).astype(str), pd.Series(sheet).fillna("").astype(str),
            pd.to_numeric(pd.Series(row), errors="coerce").fillna(0).astype("int64")]


def _row_keys(submission_id: pd.Series, sheet: pd.Series, row: pd.Series) -> pd.MultiIndex:
    """(submission, sheet, row) of each row, for column-wise membership tests."""
    sid, sheet_text, number = _row_parts(submission_id, sheet, row)
    return pd.MultiIndex.from_arrays([sid.to_numpy(object), sheet_text.to_numpy(object), number.to_numpy()])


def _row_text(submission_id, sheet, row):
    """(submission, sheet, row) of each row as one Arrow text key (vectors.joined), for
    membership tests over a group's rows: what _row_keys holds, without a MultiIndex."""
    return vectors.joined(*_row_parts(submission_id, sheet, row))


def _duplicate_ids_hashed(plan: pd.DataFrame, duplicate_ids) -> pd.DataFrame:
    """City-wide duplicate ID numbers, compared by keyed hash, shown masked."""
    if "id_hash" not in plan.columns:
        return findings_frame()
    f = findings_frame(duplicate_ids(plan.assign(id_number=plan["id_hash"])))
    if f.empty:
        return f
    shown = dict(zip(plan["id_hash"].astype(str), plan["id_masked"].astype(str)))
    for col in ("value", "message"):
        f[col] = [_replace_hashes(text, shown) for text in f[col]]  # only the few duplicate rows
    return f


def _replace_hashes(text: str, shown: dict[str, str]) -> str:
    import re

    return re.sub(r"[0-9a-f]{32}", lambda m: shown.get(m.group(0), "********"), text)


def _submission_updates(ident, fnd, loaded, quar, rejected) -> pd.DataFrame:
    """What parsing and publishing learned about each submission (one row per file)."""
    n_err = fnd[fnd["severity"] == ERROR]["submission_id"].value_counts()
    n_warn = fnd[fnd["severity"] == WARNING]["submission_id"].value_counts()
    sid = ident["submission_id"].astype(str)

    def text(col: str) -> pd.Series:  # "" (not known) is NULL in the warehouse
        v = ident[col].fillna("").astype(str)
        return v.astype(object).where(v != "", None)

    def count(by: dict | pd.Series) -> pd.Series:
        return sid.map(by).fillna(0).astype("int64")

    form, superseded = text("form"), text("superseded_by")
    level = form.map(forms.FORM_LEVEL)
    n_quar = count(quar)
    status = np.select([superseded.notna(), vectors.member(sid, rejected) | form.isna().to_numpy(bool), n_quar > 0],
                       ["superseded", "rejected", "partial"], "loaded")
    return pd.DataFrame({
        "submission_id": sid, "detected_form": form, "level": level.astype(object).where(level.notna(), None),
        "unit_code": text("unit_code"), "unit_name": text("unit_name"), "content_week": text("content_week"),
        "status": status, "superseded_by": superseded, "n_errors": count(n_err), "n_warnings": count(n_warn),
        "rows_loaded": count(loaded), "rows_quarantined": n_quar}).reset_index(drop=True)


def ledger_summary(tables: dict[str, pd.DataFrame], current: set[str], week: str) -> pd.DataFrame:
    """Per village: what its own ledger says, over all rows it submitted (quarantined included)."""
    plan = tables.get("core.ledger_households", pd.DataFrame())
    cols = ["week", "unit_code", "submission_id", "households", *forms.FLOW_NAMES,
            "poor_with_helper", "poor_with_measure", "planned_exit_this_year"]
    if plan.empty:
        return pd.DataFrame(columns=cols)
    plan = plan[vectors.member(plan["submission_id"], current)]
    size = pd.to_numeric(plan["household_size"], errors="coerce").fillna(0).astype("int64")
    state = plan["state"].astype(str)
    change = plan["week_change"].astype(str)
    poor = state.eq("贫困")
    key = ["unit_code", "submission_id"]

    def has(table: str) -> pd.Series:
        other = tables.get(table, pd.DataFrame())
        if other.empty:
            return pd.Series(False, index=plan.index)
        keys = vectors.joined(other["submission_id"], other["household_id"])
        mine = vectors.joined(plan["submission_id"], plan["household_id"])
        return pd.Series(vectors.member(mine, keys), index=plan.index)

    year = int(week[:4])
    frame = pd.DataFrame({
        "unit_code": plan["unit_code"], "submission_id": plan["submission_id"], "households": 1,
        "hh_close": poor.astype(int), "pp_close": size.where(poor, 0),
        **{f"hh_{k}": change.eq(v).astype(int) for k, v in (("new", "新识别"), ("return", "返贫"), ("exit", "脱贫"), ("cancel", "注销"))},
        **{f"pp_{k}": size.where(change.eq(v), 0) for k, v in (("new", "新识别"), ("return", "返贫"), ("exit", "脱贫"), ("cancel", "注销"))},
        "poor_with_helper": (poor & has("core.ledger_helpers")).astype(int),
        "poor_with_measure": (poor & has("core.ledger_measures")).astype(int),
        "planned_exit_this_year": pd.to_numeric(plan["planned_exit_year"], errors="coerce").eq(year).astype(int),
    })
    out = frame.groupby(key, as_index=False).sum()
    for p in ("hh", "pp"):
        out[f"{p}_open"] = out[f"{p}_close"] - out[f"{p}_new"] - out[f"{p}_return"] + out[f"{p}_exit"] + out[f"{p}_cancel"]
    out["week"] = week
    return out[cols]
