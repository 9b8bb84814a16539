"""Staging: parse and validate a mapped task's groups, as the week plan says, into the lake.

Each group of a batch is carried out as planned (pipelines.ingest.plan): reused, appended
to, or restaged. The restaged groups of a task are parsed file by file and validated
together, one form at a time, so that a task pays Great Expectations' fixed cost per suite
once, not once per group. Staging touches no warehouse: the mapped tasks run in parallel,
and the embedded warehouse has a single writer.

What a group stages (layout.staging_path): one Parquet file per core table (rows with
their provenance and an ``_error`` flag), ``id_keys`` beside the plan rows, ``findings``,
``identities`` (each file's form, unit and week), ``household_keys`` (each ledger's household
codes, which tell ledger parts from corrections: pipelines.ingest.supersession), and last
the group's record (``_done``).
"""
from __future__ import annotations

import json
import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines import forms, pii, storage
from pipelines.checkpoints import checkpoint
from pipelines.findings import findings_frame, internal_error
from pipelines.gcpause import paused_gc
from pipelines.ingest import landing
from pipelines.ingest.duplicates import id_keys
from pipelines.ingest.ledger_summary import ledger_summary, sum_ledger_summaries
from pipelines.ingest.layout import done_path, fact_path, group_dir, run_manifest_path, staging_path
from pipelines.ingest.parts import for_parquet
from pipelines.ingest.plan import APPEND, REUSE, read_done, read_plan
from pipelines.ingest.supersession import HOUSEHOLD_KEY_COLUMNS, resolve_supersession
from pipelines.settings import Settings, get_settings
from pipelines.weeks import shift_week

log = logging.getLogger(__name__)

IDENTITY_COLUMNS = ["submission_id", "landing_path", "received_at", "form", "unit_code", "unit_name", "content_week"]


def stage_groups(week: str, group: str | list[str], settings: Settings | None = None) -> dict:
    """Carry out the week plan for one mapped task's groups; the summary of each group
    (``groups``) and of the task."""
    settings = settings or get_settings()
    t0 = time.perf_counter()
    names = [group] if isinstance(group, str) else list(group)
    lfs, lroot = storage.filesystem(settings.lake_url, settings.s3_endpoint_url)
    plan = read_plan(lfs, lroot, week)["groups"]
    manifest = storage.read_parquet(lfs, run_manifest_path(lroot, week))
    results: dict[str, dict] = {}
    todo: list[tuple[str, pd.DataFrame, dict]] = []
    for name in names:
        step = plan[name]
        files = manifest[manifest["group"] == name].drop_duplicates("submission_id")
        if step["action"] == REUSE:
            results[name] = {**read_done(lfs, lroot, week, name)["summary"], "reused": True}
        elif step["action"] == APPEND:  # files came, none went: only they are parsed and validated
            added = files[files["submission_id"].isin(step["added"])]
            results[name] = _stage_added(week, name, added, files, step["inputs"], settings, lfs, lroot)
        else:
            gdir = group_dir(lroot, week, name)
            if lfs.exists(gdir):
                lfs.rm(gdir, recursive=True)
            todo.append((name, files, step["inputs"]))
    if todo:
        with paused_gc():  # the parsed files are all alive until validated: see gcpause
            for summary in _stage_changed(week, todo, settings, lfs, lroot):
                results[summary["group"]] = summary
    groups = [results[n] for n in names]
    if isinstance(group, str):
        return {**groups[0], "seconds": round(time.perf_counter() - t0, 3)}
    return {"group": "、".join(names), "groups": groups, "files": sum(g["files"] for g in groups),
            "findings": sum(g["findings"] for g in groups),
            "parse_seconds": round(sum(g["parse_seconds"] for g in groups if not g["reused"]), 3),
            "validate_seconds": round(sum(g["validate_seconds"] for g in groups if not g["reused"]), 3),
            "reused": all(g["reused"] for g in groups), "seconds": round(time.perf_counter() - t0, 3)}


def _stage_added(week: str, name: str, added: pd.DataFrame, files: pd.DataFrame, inputs: dict,
                 settings: Settings, lfs, lroot: str) -> dict:
    """Stage the added files of group ``name`` in a scratch folder, then write each staged
    part of the group as its earlier rows followed by theirs."""
    import fsspec

    t0 = time.perf_counter()
    done = read_done(lfs, lroot, week, name)
    with tempfile.TemporaryDirectory(prefix="huizong-added-") as tmp:
        tfs = fsspec.filesystem("file")
        (part,) = _stage_changed(week, [(name, added, inputs)], settings, tfs, tmp)
        rows = dict(done["summary"].get("rows", {}))
        tdir = group_dir(tmp, week, name)
        merged: dict[str, pd.DataFrame] = {}
        for path in sorted(Path(tdir).glob("*.parquet")):
            target = staging_path(lroot, week, name, path.stem)
            fresh = pd.read_parquet(path)
            old = storage.read_parquet(lfs, target) if lfs.exists(target) else None
            merged[path.stem] = fresh if old is None or not len(old) else pd.concat([old, _like(fresh, old)],
                                                                                   ignore_index=True)
        # which files count is settled again over the group's earlier and added files
        merged["identities"] = resolve_supersession(merged["identities"], week, merged.get("household_keys"),
                                                    landing.read_landing_register(settings))
        for stem, both in merged.items():
            storage.write_parquet(lfs, staging_path(lroot, week, name, stem), for_parquet(both))
            if stem in rows or stem in {t.short for t in forms.REGISTRY.values()}:
                rows[stem] = int(len(both))
    findings = storage.read_parquet(lfs, staging_path(lroot, week, name, "findings"), columns=["rule"])
    summary = {**done["summary"], "files": int(len(files)), "rows": rows, "findings": int(len(findings)),
               "parse_seconds": part["parse_seconds"], "validate_seconds": part["validate_seconds"],
               "seconds": round(time.perf_counter() - t0, 3), "reused": False, "added_files": int(len(added))}
    _write_done(lfs, lroot, week, name, inputs, summary)
    return summary


@dataclass
class _Parsed:
    """The parsed files of a task's changed groups, by submission."""
    files: dict[str, object] = field(default_factory=dict)       # submission -> ParsedFile
    paths: dict[str, str] = field(default_factory=dict)          # submission -> landing path
    group_of: dict[str, str] = field(default_factory=dict)       # submission -> group
    identities: dict[str, pd.DataFrame] = field(default_factory=dict)  # group -> its files' identities
    households: dict[str, pd.DataFrame] = field(default_factory=dict)  # group -> its ledgers' household codes
    problems: dict[str, list[dict]] = field(default_factory=dict)      # group -> the parser's findings

    def problem_base(self, sid: str, week: str) -> dict:
        """Where a finding on the whole of file ``sid`` points."""
        pf = self.files[sid]
        return {"week": week, "submission_id": sid, "file": self.paths[sid], "unit_code": pf.unit_code or "",
                "level": forms.FORM_LEVEL.get(pf.form or "", ""), "record_key": f"{pf.unit_code or ''}:{pf.form or ''}"}


def _stage_changed(week: str, todo: list[tuple[str, pd.DataFrame, dict]], settings: Settings, lfs,
                   lroot: str) -> list[dict]:
    """Parse the files of the ``todo`` groups, validate them form by form, stage each group."""
    t0 = time.perf_counter()
    parsed = _parse_files(week, todo, settings)
    t_parse = time.perf_counter() - t0
    prev_plan = _previous_plan(settings, week)
    findings: dict[str, list[pd.DataFrame]] = {n: [findings_frame(parsed.problems[n])] for n, _f, _s in todo}
    counts: dict[str, dict[str, int]] = {n: {} for n, _f, _s in todo}
    t_validate = 0.0
    for form in ("A", "B", "C", "D"):
        t_validate += _validate_form(week, form, todo, parsed, prev_plan, settings, lfs, lroot, findings, counts)
    seconds = time.perf_counter() - t0
    n_files = sum(len(f) for _n, f, _s in todo)
    summaries = []
    for name, files, inputs in todo:
        # From here on no clear ID or phone number: the raw archive is the only place they exist.
        group_findings = pii.protect_findings(pd.concat(findings[name], ignore_index=True))
        storage.write_parquet(lfs, staging_path(lroot, week, name, "findings"), group_findings)
        storage.write_parquet(lfs, staging_path(lroot, week, name, "identities"), parsed.identities[name])
        storage.write_parquet(lfs, staging_path(lroot, week, name, "household_keys"), parsed.households[name])
        share = len(files) / n_files if n_files else 0.0  # timings are shared by the groups of a task
        summary = {"group": name, "files": int(len(files)), "rows": counts[name], "findings": int(len(group_findings)),
                   "parse_seconds": round(t_parse * share, 3), "validate_seconds": round(t_validate * share, 3),
                   "seconds": round(seconds * share, 3), "reused": False}
        _write_done(lfs, lroot, week, name, inputs, summary)
        summaries.append(summary)
    return summaries


def _parse_files(week: str, todo: list[tuple[str, pd.DataFrame, dict]], settings: Settings) -> _Parsed:
    """Every file of the ``todo`` groups read from the archive and parsed; each group's
    identities (supersession within the group resolved), ledgers' household codes and
    parser findings."""
    from pipelines.ingest.parse import parse_file

    out = _Parsed()
    register = landing.read_landing_register(settings)
    for name, files, _inputs in todo:
        rows, probs, codes = [], [], []
        for rec in files.itertuples(index=False):
            pf = parse_file(landing.read_archived(settings, rec.archive_path), rec.landing_path, week)
            out.files[rec.submission_id] = pf
            out.paths[rec.submission_id] = rec.landing_path
            out.group_of.setdefault(rec.submission_id, name)
            checkpoint("process.parsed")
            rows.append({
                "submission_id": rec.submission_id, "landing_path": rec.landing_path,
                "received_at": rec.received_at, "form": pf.form or "", "unit_code": pf.unit_code or "",
                "unit_name": pf.unit_name or "", "content_week": pf.week or "",
            })
            plan = pf.parts.get("plan") if pf.form == forms.FORM_A else None
            if plan is not None and plan.n:
                codes.append((rec.submission_id, plan.typed["household_id"]))
            probs += _file_problems(pf, rec.submission_id, rec.landing_path, week)
        out.households[name] = _household_keys(codes)
        out.identities[name] = resolve_supersession(pd.DataFrame(rows, columns=IDENTITY_COLUMNS), week,
                                                    out.households[name], register)
        out.problems[name] = probs
    return out


def _household_keys(codes: list[tuple[str, object]]) -> pd.DataFrame:
    """(submission, household code) of every plan row of the parsed ledgers (as written,
    before validation: a row that will be quarantined still says which household it is)."""
    if not codes:
        return pd.DataFrame({c: pd.Series(dtype="string") for c in HOUSEHOLD_KEY_COLUMNS})
    ids = pd.Series(np.concatenate([np.asarray(pd.array(c, dtype="string").fillna(""), dtype=object)
                                    for _sid, c in codes]), dtype="string")
    sids = np.repeat([sid for sid, _c in codes], [len(c) for _sid, c in codes])
    keys = pd.DataFrame({"submission_id": pd.Series(sids, dtype="string"), "household_id": ids})
    return keys[keys["household_id"] != ""].drop_duplicates().reset_index(drop=True)


def _file_problems(pf, submission_id: str, landing_path: str, week: str) -> list[dict]:
    """The parser's findings on one file, placed (week, submission, file, unit, level)."""
    return [{**p, "week": week, "submission_id": submission_id, "file": p.get("file") or landing_path,
             "unit_code": p.get("unit_code") or pf.unit_code or "",
             "level": p.get("level") or forms.FORM_LEVEL.get(pf.form or "", "")} for p in pf.problems]


def check_file(data: bytes, landing_path: str, submission_id: str, week: str,
               settings: Settings | None = None) -> tuple[object, pd.DataFrame]:
    """What staging finds in one file, writing nothing: the same parse, and the form's rules
    validated as a task validates it (with last week's published ledger states). Returns the
    ParsedFile and its findings, ID and phone numbers masked (the submission portal's
    pre-check)."""
    from pipelines.ingest.parse import parse_file

    settings = settings or get_settings()
    pf = parse_file(data, landing_path, week)
    parsed = _Parsed(files={submission_id: pf}, paths={submission_id: landing_path}, group_of={submission_id: ""})
    found = [findings_frame(_file_problems(pf, submission_id, landing_path, week))]
    if pf.form:
        prev = _previous_plan(settings, week) if pf.form == "A" else None
        found.append(_check(week, pf.form, [("", submission_id)], parsed, prev, settings, keep_results=False)[0])
    return pf, pii.protect_findings(pd.concat(found, ignore_index=True))


def file_tables(pf, landing_path: str, submission_id: str, week: str) -> dict[str, pd.DataFrame]:
    """One parsed file's rows as staging has them (with provenance), by core table: what a
    cross-check on what has arrived so far compares (the submission portal's pre-check)."""
    if not pf.form:
        return {}
    parsed = _Parsed(files={submission_id: pf}, paths={submission_id: landing_path}, group_of={submission_id: ""})
    tables = _join_form(week, pf.form, [("", submission_id)], parsed)[0]
    return {forms.REGISTRY[(pf.form, key)].core: df for key, df in tables.items()}


def _validate_form(week: str, form: str, todo: list[tuple[str, pd.DataFrame, dict]], parsed: _Parsed,
                   prev_plan: pd.DataFrame | None, settings: Settings, lfs, lroot: str,
                   findings: dict[str, list[pd.DataFrame]], counts: dict[str, dict[str, int]]) -> float:
    """Validate the current files of ``form`` of all ``todo`` groups together, then stage each
    group's rows of each table; adds to ``findings`` and ``counts``. Returns GX's seconds.

    One file's data never stops the others: if the checks fail unexpectedly, each file is
    checked alone; a file whose checks fail gets an error finding (step 校验) and its rows
    are staged quarantined, and the other files are checked together again."""
    # current submissions of this form, group by group (rows of a group stay contiguous)
    subs = [(n, s) for n, _f, _s in todo
            for s in parsed.identities[n].loc[(parsed.identities[n]["form"] == form)
                                              & (parsed.identities[n]["superseded_by"] == ""), "submission_id"]]
    if not subs:
        return 0.0
    tv = time.perf_counter()
    prev = prev_plan if form == "A" else None
    try:
        fnd, parts = _check(week, form, subs, parsed, prev, settings)
    except Exception as exc:  # noqa: BLE001 - a file's data broke a check: find which file
        log.exception("week %s: checking form %s of %d files failed; checking each file alone", week, form, len(subs))
        broken = {sid: err for n, sid in subs if (err := _failure(week, form, [(n, sid)], parsed, prev, settings))}
        broken = broken or {sid: exc for _n, sid in subs}  # only together: none is trusted
        good = [x for x in subs if x[1] not in broken]
        fnd, parts = _check(week, form, good, parsed, prev, settings) if good else (findings_frame(), {})
        _f, held = _check(week, form, [x for x in subs if x[1] in broken], parsed, prev, settings, validate=False)
        for key, frame in held.items():
            parts[key] = pd.concat([parts[key], frame], ignore_index=True) if key in parts else frame
        fnd = pd.concat([fnd, findings_frame([internal_error("validate", parsed.problem_base(sid, week), err)
                                              for sid, err in broken.items()])], ignore_index=True)
    seconds = time.perf_counter() - tv
    if form == "A":
        fnd = pd.concat([fnd, _stage_ledger_summaries(week, parts, parsed, lfs, lroot)], ignore_index=True)
    fnd_group = fnd["submission_id"].map(parsed.group_of).fillna(todo[0][0])
    for n, _f, _s in todo:
        findings[n].append(fnd[(fnd_group == n).to_numpy(bool)])
    pii_key = pii.pii_key(settings.home)
    for (n, key), part in parts.items():
        table = forms.REGISTRY[(form, key)]
        if key == "plan":
            part = pii.protect_plan(part, pii_key)
            storage.write_parquet(lfs, staging_path(lroot, week, n, "id_keys"), id_keys(part))
        elif key == "helpers":
            part = pii.protect_helpers(part, pii_key)
        storage.write_parquet(lfs, staging_path(lroot, week, n, table.short), for_parquet(part))
        counts[n][table.short] = len(part)
    return seconds


def _stage_ledger_summaries(week: str, parts: dict[tuple[str, str], pd.DataFrame], parsed: _Parsed, lfs,
                            lroot: str) -> pd.DataFrame:
    """Each group's ledger summary (per submission) staged beside its rows. A file whose
    rows cannot be summed gets an error finding (step 台账汇总) and its rows are held back
    (flagged ``_error`` in ``parts``); the group's other files are summed without it."""
    problems = []
    for n in dict.fromkeys(g for g, _key in parts):
        frames = {forms.REGISTRY[("A", key)].core: part for (g, key), part in parts.items() if g == n}
        sids = set(frames.get("core.ledger_households", pd.DataFrame(columns=["submission_id"]))["submission_id"])
        try:
            summary = ledger_summary(frames, sids, week)
        except Exception:  # noqa: BLE001 - one file's rows must not cost the group's
            log.exception("week %s: the ledger summary of group %s failed; summing each file alone", week, n)
            done, failed = [], {}
            for sid in sorted(sids):
                try:
                    done.append(ledger_summary(frames, {sid}, week))
                except Exception as exc:  # noqa: BLE001
                    failed[sid] = exc
            summary = sum_ledger_summaries(done, week)
            for (g, key), part in parts.items():
                if g == n and failed:
                    part["_error"] = part["_error"].to_numpy(bool) | part["submission_id"].isin(list(failed)).to_numpy(bool)
            problems += [internal_error("summary", parsed.problem_base(sid, week), exc) for sid, exc in failed.items()]
        storage.write_parquet(lfs, staging_path(lroot, week, n, "ledger_summary"), summary)
    return findings_frame(problems)


def _failure(week: str, form: str, subs: list[tuple[str, str]], parsed: _Parsed, prev_plan, settings) -> Exception | None:
    """The error checking ``subs`` alone raises, or None."""
    try:
        _check(week, form, subs, parsed, prev_plan, settings, keep_results=False)
    except Exception as exc:  # noqa: BLE001
        return exc
    return None


def _check(week: str, form: str, subs: list[tuple[str, str]], parsed: _Parsed, prev_plan, settings: Settings,
           validate: bool = True, keep_results: bool = True) -> tuple[pd.DataFrame, dict[tuple[str, str], pd.DataFrame]]:
    """Validate the tables of ``subs`` (unless not ``validate``: then every row is an error);
    the findings and each (group, sheet)'s rows to stage, flagged ``_error`` and ``is_total``."""
    from pipelines.ingest.validate import validate_tables

    tables, raws, totals, owners, total_owners = _join_form(week, form, subs, parsed)
    if not tables:
        return findings_frame(), {}
    if validate:
        unread = {key: [sid for _n, sid in subs if key in parsed.files[sid].held] for key in tables}
        res = validate_tables(form, tables, raws, prev_plan=prev_plan, totals=totals or None, settings=settings,
                              keep_results=keep_results, run_id=week, unread=unread)
        fnd, error_rows = findings_frame(res.findings), res.error_rows
    else:
        fnd, error_rows = findings_frame(), {key: df.index for key, df in tables.items()}
    parts: dict[tuple[str, str], pd.DataFrame] = {}
    for key, df in tables.items():
        df = df.copy()
        df["_error"] = df.index.isin(list(error_rows.get(key, [])))
        if key in totals:
            tot = totals[key].copy()
            tot["_error"] = not validate
            df["is_total"] = False
            tot["is_total"] = True
        elif form in ("C", "D"):
            df["is_total"] = False
        for n in dict.fromkeys(n for n, _sid in subs):
            part = df[owners[key] == n]
            if key in totals:
                part = pd.concat([part, tot[total_owners[key] == n]], ignore_index=True)
            if len(part):
                parts[(n, key)] = part
    held, _raws, _totals, held_owners, _total_owners = _join_form(week, form, subs, parsed, held=True)
    for key, df in held.items():  # a sheet not read (a missing column): held back, unchecked
        df["_error"] = True
        for n in dict.fromkeys(held_owners[key]):
            part = df[held_owners[key] == n]
            parts[(n, key)] = pd.concat([parts[(n, key)], part], ignore_index=True) if (n, key) in parts else part
    return fnd, parts


def _join_form(week: str, form: str, subs: list[tuple[str, str]], parsed: _Parsed, held: bool = False):
    """The parsed parts of ``subs`` ((group, submission) pairs) joined into one table per
    sheet, with provenance: (tables, raw text, 合计 rows, owner group of each row, of each 合计 row).
    With ``held``, the rows of the sheets not read instead (ParsedFile.held; no 合计 rows)."""
    from pipelines.ingest.parse import join_columns

    tables, raws, totals, owners, total_owners = {}, {}, {}, {}, {}
    for key in [t.sheet for t in forms.REGISTRY.values() if t.form == form]:
        parts, tparts = [], []
        fsids, tsids, rown, town = [], [], [], []
        for n, sid in subs:
            pf = parsed.files[sid]
            part = (pf.held if held else pf.parts).get(key)
            if part is None or not part.n:
                continue
            parts.append(part)
            fsids.append((sid, part.n))
            rown.append((n, part.n))
            tot = None if held else pf.total_parts.get(key)
            if tot is not None and tot.n:
                tparts.append(tot)
                tsids.append((sid, tot.n))
                town.append((n, tot.n))
        if parts:
            typed, raws[key] = join_columns(parts)
            tables[key] = _with_provenance(typed, fsids, parsed, week, form)
            owners[key] = np.repeat([n for n, _ in rown], [k for _, k in rown])
        if tparts:
            totals[key] = _with_provenance(join_columns(tparts)[0], tsids, parsed, week, form)
            total_owners[key] = np.repeat([n for n, _ in town], [k for _, k in town])
    return tables, raws, totals, owners, total_owners


def _previous_plan(settings: Settings, week: str) -> pd.DataFrame | None:
    """Last week's published plan rows (household and state), for this week's checks."""
    lfs, lroot = storage.filesystem(settings.lake_url, settings.s3_endpoint_url)
    path = fact_path(lroot, "facts", "core.ledger_households", shift_week(week, -1))
    if not lfs.exists(path):
        return None
    import pyarrow.parquet as pq

    with lfs.open(path, "rb") as f:
        return pq.read_table(f, columns=["household_id", "state"]).to_pandas()


def _with_provenance(df: pd.DataFrame, sids: list[tuple[str, int]], parsed: _Parsed, week: str,
                     form: str) -> pd.DataFrame:
    """Add submission_id, file, unit_code, week, level to rows concatenated from many files."""
    ids = np.repeat([s for s, _ in sids], [n for _, n in sids])
    df["submission_id"] = ids
    df["file"] = np.repeat([parsed.paths[s] for s, _ in sids], [n for _, n in sids])
    df["unit_code"] = np.repeat([parsed.files[s].unit_code or "" for s, _ in sids], [n for _, n in sids])
    df["week"] = week
    df["level"] = forms.FORM_LEVEL[form]
    return df


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
    storage.write_bytes_atomic(lfs, done_path(lroot, week, name), json.dumps(record).encode())


def group_results(results: list[dict], staged: dict[str, dict] | None = None) -> list[dict]:
    """The per-group summaries of process_group results (one task can hold several), and,
    from ``staged`` (publish's ``staged_groups``), the groups no task had to process
    because discover found their staging reusable, marked ``reused``."""
    out = [g for r in results for g in r.get("groups", [r])]
    done = {g["group"] for g in out}
    out += [{**summary, "group": name, "reused": True} for name, summary in sorted((staged or {}).items())
            if name not in done]
    return out
