"""Publish: the week's staged groups, checked city-wide, into the lake and the warehouse.

In a few named steps, each a function below:

1. ``_read_staged``: the groups' staging records, identities (supersession resolved
   city-wide: which file of a unit and form counts, pipelines.ingest.supersession) and findings;
2. ``_week_findings``: with the city-wide checks (register, level, week, late files,
   是否贫困村 against the register, supersession, duplicate ID numbers) and their stable ids;
3. ``_quarantine_keys``: which files are rejected and which rows quarantined (errors a
   steward waived no longer quarantine), which rows carry a warning;
4. ``_to_rewrite``: which submissions need their rows written again: all of them, or (when
   the last publish's state is trustworthy) those whose fingerprint changed (publish_state);
5. ``_write_lake``: facts and quarantine split group by group (one group's rows in memory at
   a time) and written to the lake with the findings;
6. ``_load_warehouse``: the warehouse's rows of the week replaced in one transaction;
7. the state recorded, only after both: a publish cut short leaves none, and the next is full.
"""
from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines import forms, storage, vectors
from pipelines.checkpoints import checkpoint
from pipelines.causes import cause_ids
from pipelines.findings import ERROR, WARNING, finding_ids, findings_frame
from pipelines.ingest import landing, publish_state
from pipelines.ingest.duplicates import duplicate_id_findings
from pipelines.ingest.identify import identity_findings, poor_village_findings
from pipelines.ingest.layout import fact_path, run_manifest_path, staging_cache_path, staging_path
from pipelines.ingest.ledger_summary import sum_ledger_summaries
from pipelines.ingest.parts import LakeParts
from pipelines.ingest.plan import code_fingerprint, read_done
from pipelines.ingest.supersession import accepted_elsewhere, resolve_supersession, supersession_findings
from pipelines.review.lifecycle import waived_finding_ids
from pipelines.settings import Settings, get_settings
from pipelines.warehouse import Warehouse, insert_parquet_duckdb
from pipelines.weeks import month_of_week

log = logging.getLogger(__name__)

CORE_TABLES = [t.core for t in forms.REGISTRY.values()]
IDENTITY_COLUMNS = ["submission_id", "landing_path", "received_at", "form", "unit_code", "unit_name",
                    "content_week", "misplaced", "superseded_by"]


@dataclass
class _Staged:
    """What the week's groups staged, read back."""
    files: pd.DataFrame          # the manifest: group, submission_id, received_at (one row per file)
    groups: list[str]
    records: dict[str, dict]     # group -> its staging record (layout.done_path)
    ident: pd.DataFrame          # every file's identity, supersession resolved city-wide
    households: pd.DataFrame     # each ledger's household codes (submission_id, household_id)
    current: set[str]            # the submissions that count
    tables: dict[str, list[tuple[str, str]]]  # core table -> (group, staged file) pairs
    home: pd.Series              # submission -> the group whose staging of it is loaded (see _home_groups)


@dataclass
class _Keys:
    """Which files are rejected; which rows are quarantined, waived, flagged."""
    rejected: set[str]
    errors: pd.MultiIndex
    waived: pd.MultiIndex
    warnings: pd.MultiIndex


def publish(week: str, run_id: str = "", settings: Settings | None = None, wh: Warehouse | None = None) -> dict:
    """Publish ``week`` (see the module's steps); a summary of what was written."""
    settings = settings or get_settings()
    t0 = time.perf_counter()
    lfs, lroot = storage.filesystem(settings.lake_url, settings.s3_endpoint_url)
    wh = wh or Warehouse(settings.warehouse_url)
    register = landing.read_landing_register(settings)
    waived = waived_finding_ids(wh, week)
    staged = _read_staged(lfs, lroot, week, register, waived)
    fnd = _week_findings(lfs, lroot, week, staged, register, settings)
    keys = _quarantine_keys(fnd, waived)
    pairs, prior, todo, code = _to_rewrite(lfs, lroot, week, staged, keys, wh)
    loaded_at = pd.Timestamp.now(tz="UTC").floor("us")
    # Lake first (partitioned by week, atomic files), then the warehouse in one transaction;
    # the state is written only after both (a publish cut short leaves none: the next is full).
    publish_state.drop_state(lfs, lroot, week)
    with tempfile.TemporaryDirectory(prefix="huizong-publish-") as tmp:
        parts = LakeParts(Path(tmp))
        state, summary = _write_lake(lfs, lroot, week, staged, keys, fnd, pairs, prior, todo, parts)
        stats = {name: {t.short: int(state[f"{name}_{t.short}"].sum()) for t in forms.REGISTRY.values()}
                 for name in ("loaded", "quarantined")}
        subs = _submission_updates(staged.ident, fnd, _per_submission(state, "loaded"),
                                   _per_submission(state, "quarantined"), keys.rejected)
        load = {"week": week, "run_id": run_id, "loaded_at": loaded_at,
                "files": int(len(staged.files)),
                "submissions": int(staged.files["submission_id"].nunique()) if len(staged.files) else 0,
                "rows_loaded": int(sum(stats["loaded"].values())),
                "rows_quarantined": int(sum(stats["quarantined"].values())),
                "errors": int((fnd["severity"] == ERROR).sum()), "warnings": int((fnd["severity"] == WARNING).sum())}
        _load_warehouse(wh, lfs, lroot, week, todo, parts, fnd, summary, register.assign(week=week), subs, load)
    publish_state.write_state(lfs, lroot, week, state, {"code": code, "token": publish_state.token(loaded_at)})
    return {"week": week, "month": month_of_week(week), "files": int(len(staged.files)), "findings": int(len(fnd)),
            "errors": int((fnd["severity"] == ERROR).sum()), **stats,
            "staged_groups": {g: r["summary"] for g, r in staged.records.items() if "summary" in r},
            "mode": "full" if todo is None else "incremental",
            "rewritten_submissions": int(len(set(pairs["submission_id"]) if todo is None else todo)),
            "seconds": round(time.perf_counter() - t0, 3)}


def _read_staged(lfs, lroot: str, week: str, register: pd.DataFrame, waived: set[str]) -> _Staged:
    """Step 1: the week's staging, every group of the manifest staged (else this raises);
    ``waived``: the week's waived finding ids (a file in the wrong county's folder that a
    steward accepted takes part in supersession)."""
    # The manifest's columns that publish needs (it has one row per file of the week).
    files = storage.read_parquet(lfs, run_manifest_path(lroot, week),
                                 columns=["group", "submission_id", "received_at", "landing_path"])
    groups = sorted(files["group"].unique().tolist()) if len(files) else []
    records = {g: read_done(lfs, lroot, week, g) for g in groups}
    missing = [g for g, r in records.items() if r is None]
    if missing:  # never publish a week with files left unprocessed (they would read as received)
        raise RuntimeError(f"week {week}: groups not staged (process_group did not finish): {missing}")
    ident = _read_staging(lfs, lroot, week, "identities", groups)
    if ident.empty:
        ident = pd.DataFrame(columns=IDENTITY_COLUMNS)
    households = _read_staging(lfs, lroot, week, "household_keys", groups)
    ident = resolve_supersession(ident, week, households, register)
    accepted = accepted_elsewhere(ident, register, week, waived)
    if accepted:
        ident = resolve_supersession(ident, week, households, register, accepted)
    current = set(ident.loc[ident["superseded_by"] == "", "submission_id"])
    tables = {t: [(g, staging_path(lroot, week, g, t.split(".", 1)[1])) for g in groups] for t in CORE_TABLES}
    tables = {t: [(g, p) for g, p in pairs if lfs.exists(p)] for t, pairs in tables.items()}
    return _Staged(files, groups, records, ident, households, current, tables, _home_groups(files))


def _home_groups(files: pd.DataFrame) -> pd.Series:
    """The group each submission's rows are loaded from. The same bytes sent twice (under two
    names, in two folders) are one submission, staged by each group it landed in: its rows
    are loaded once, from the group of its first arrival (as core.submissions records it)."""
    first = files.sort_values(["received_at", "landing_path"]).drop_duplicates("submission_id")
    return pd.Series(first["group"].to_numpy(object), index=first["submission_id"].to_numpy(object))


def _week_findings(lfs, lroot: str, week: str, staged: _Staged, register: pd.DataFrame,
                   settings: Settings) -> pd.DataFrame:
    """Step 2: the staged findings of the current files, with the city-wide checks', each
    with its stable ``finding_id``."""
    fnd = findings_frame(_read_staging(lfs, lroot, week, "findings", staged.groups))
    fnd = fnd[vectors.member(fnd["submission_id"], staged.current) | (fnd["submission_id"] == "").to_numpy(bool)]
    fnd = pd.concat([fnd, identity_findings(staged.ident, staged.files, register, week, settings),
                     poor_village_findings(_poor_village_rows(lfs, staged), register, week),
                     supersession_findings(staged.ident, staged.households, register, week, settings)],
                    ignore_index=True)
    plans = [p for _g, p in staged.tables["core.ledger_households"]]
    fnd = pd.concat([fnd, duplicate_id_findings(lfs, plans, staged.current, staging_cache_path(lroot, week))],
                    ignore_index=True)
    fnd = fnd.drop_duplicates(["submission_id", "sheet", "row", "column", "rule"]).reset_index(drop=True)
    fnd["finding_id"] = finding_ids(fnd) if len(fnd) else pd.Series(dtype=str)
    fnd["cause_id"] = cause_ids(fnd) if len(fnd) else pd.Series(dtype=str)  # consolidation adds the cross-level links
    fnd["stage"] = "ingest"
    return fnd


# The staged rows that say whether a village is poor: the column naming the village, and
# whether the table has 合计 rows.
_POOR_VILLAGE_ROWS = {"core.village_reports": ("unit_code", False), "core.township_reports": ("village_code", True)}


def _poor_village_rows(lfs, staged: _Staged) -> pd.DataFrame:
    """The current files' rows that say whether a village is poor (是否贫困村), with the
    village each is about (one row per village: small beside the ledgers)."""
    frames = []
    cols = ["submission_id", "file", "source_sheet", "source_row", "unit_code", "level", "is_poor_village"]
    for table, (village, totals) in _POOR_VILLAGE_ROWS.items():
        want = list(dict.fromkeys([*cols, village, *(["is_total"] if totals else [])]))
        for _g, path in staged.tables[table]:
            df = storage.read_parquet(lfs, path, columns=want)
            keep = vectors.member(df["submission_id"], staged.current)
            if totals:
                keep &= ~df["is_total"].fillna(False).to_numpy(bool)
            df = df[keep]
            frames.append(df[cols].assign(village_code=df[village], record_key=df[village]))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _quarantine_keys(fnd: pd.DataFrame, waived: set[str]) -> _Keys:
    """Step 3: errors a steward waived (``waived``: their ids) no longer quarantine their
    rows (the findings stay recorded)."""
    all_errors = fnd[fnd["severity"] == ERROR]
    errors = all_errors[~vectors.member(all_errors["finding_id"], waived)]
    row_err = _row_keys(errors["submission_id"], errors["sheet"], errors["row"])
    warns = fnd[fnd["severity"] == WARNING]
    return _Keys(rejected=set(errors.loc[errors["row"] == 0, "submission_id"]), errors=row_err,
                 waived=_row_keys(all_errors["submission_id"], all_errors["sheet"], all_errors["row"]).difference(row_err),
                 warnings=_row_keys(warns["submission_id"], warns["sheet"], warns["row"]))


def _to_rewrite(lfs, lroot: str, week: str, staged: _Staged, keys: _Keys, wh: Warehouse):
    """Step 4: each (submission, group) pair's fingerprint; the last publish's state if it
    still describes the lake and warehouse; the submissions to rewrite (None: all)."""
    pairs = staged.files[["submission_id", "group"]].drop_duplicates().reset_index(drop=True)
    pairs["fingerprint"] = publish_state.fingerprints(
        pairs, {g: r.get("base") or r.get("signature", "") for g, r in staged.records.items()}, staged.current,
        keys.rejected, {"quarantine": keys.errors, "waived": keys.waived, "warning": keys.warnings})
    code = code_fingerprint()
    wh.apply_schema()
    prior = _prior_state(lfs, lroot, week, wh, code)
    todo = None if prior is None else publish_state.affected(prior, pairs)
    return pairs, prior, todo, code


def _write_lake(lfs, lroot: str, week: str, staged: _Staged, keys: _Keys, fnd: pd.DataFrame, pairs: pd.DataFrame,
                prior: pd.DataFrame | None, todo: set[str] | None, parts: LakeParts) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Step 5: the rewritten submissions' rows split into facts and quarantine, one group at
    a time, and the week's lake files written; the new state rows and the ledger summary."""
    member = staged.current if todo is None else staged.current & todo
    split_groups = staged.groups if todo is None else sorted(
        set(pairs.loc[vectors.member(pairs["submission_id"], todo), "group"]) & set(staged.groups))
    err_text, waived_text, warn_text = (_row_text(*(k.get_level_values(i) for i in range(3)))
                                        for k in (keys.errors, keys.waived, keys.warnings))
    by_group = {g: {t: p for t, tparts in staged.tables.items() for g2, p in tparts if g2 == g} for g in split_groups}
    homes = {g: set(sids) for g, sids in staged.home.groupby(staged.home.to_numpy(object)).groups.items()}
    summaries, counts = [], []
    for g in split_groups:  # one group's rows in memory at a time
        frames = {t: storage.read_parquet(lfs, p) for t, p in by_group[g].items()}
        mine = member & homes.get(g, set())  # the submissions loaded from this group
        frames = {t: df[vectors.member(df["submission_id"], mine)] for t, df in frames.items()}
        staged_summary = staging_path(lroot, week, g, "ledger_summary")
        if lfs.exists(staged_summary):
            summary = storage.read_parquet(lfs, staged_summary)
            summaries.append(summary[vectors.member(summary["submission_id"], mine)])
        for table, df in frames.items():
            row = _row_text(df["submission_id"], df["source_sheet"], df["source_row"])
            bad = (df["_error"].astype(bool).to_numpy(bool) & ~vectors.member(row, waived_text)) \
                | vectors.member(df["submission_id"], keys.rejected) | vectors.member(row, err_text)
            df = df.assign(has_warning=vectors.member(row, warn_text))
            facts, quar = df[~bad], df[bad]
            parts.add(table, "facts", facts)
            parts.add(table, "quarantine", quar)
            for name, frame in (("loaded", facts), ("quarantined", quar)):
                n = frame["submission_id"].astype(str).value_counts()
                counts.append(pd.DataFrame({"submission_id": n.index.to_numpy(object), "group": g,
                                            "column": f"{name}_{table.split('.', 1)[1]}", "n": n.to_numpy()}))
        del frames
    state = _state_rows(pairs, counts, prior, todo)
    for table in CORE_TABLES:
        for area in ("facts", "quarantine"):
            parts.publish(lfs, fact_path(lroot, area, table, week), table, area, drop=todo)
    storage.write_parquet(lfs, fact_path(lroot, "findings", "core.findings", week), fnd)
    checkpoint("publish.lake_written")
    return state, sum_ledger_summaries(summaries, week)


def _load_warehouse(wh: Warehouse, lfs, lroot: str, week: str, todo: set[str] | None, parts: LakeParts,
                    fnd: pd.DataFrame, summary: pd.DataFrame, regions: pd.DataFrame, subs: pd.DataFrame,
                    load: dict) -> None:
    """Step 6: the week's rows in the warehouse replaced in one transaction: the core tables
    from the lake files (or, incrementally, the rewritten submissions' rows from this
    publish's parts), findings, ledger summary, regions, submissions and the load's row."""
    with wh.transaction() as conn:
        if wh.dialect == "duckdb":
            # The load streams from the lake files: a small buffer pool suffices, and the
            # week's uncommitted rows spill to disk instead of growing with the week.
            bound = conn.exec_driver_sql("SELECT current_setting('memory_limit')").scalar()
            conn.exec_driver_sql("SET memory_limit = '128MB'")
        for table in CORE_TABLES:
            if todo is None:  # the whole week, from the lake file
                wh.replace(conn, table, pd.DataFrame(), {"week": week})
                sources, sfs = [fact_path(lroot, "facts", table, week)], lfs
            else:  # only the affected submissions' rows, from this publish's parts
                wh.delete_in(conn, table, "submission_id", sorted(todo), {"week": week})
                sources, sfs = [str(p) for p in parts.paths(table, "facts")], _local_fs()
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
        wh.replace(conn, "core.loads", pd.DataFrame([load]), {"week": week})
    if wh.dialect == "duckdb":
        # The bound is the database's, not the connection's: what a task holding the
        # warehouse open (Warehouse.held) runs next gets the usual one back.
        with wh.engine.connect() as conn:
            conn.exec_driver_sql(f"SET memory_limit = '{bound}'")


def _read_staging(lfs, lroot: str, week: str, name: str, groups: list[str]) -> pd.DataFrame:
    """The staged parts of this week's groups (only groups in the current manifest)."""
    paths = [staging_path(lroot, week, g, name) for g in groups]
    frames = [storage.read_parquet(lfs, p) for p in paths if lfs.exists(p)]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


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
    for table in forms.REGISTRY.values():
        for area in ("loaded", "quarantined"):
            lake_area = "facts" if area == "loaded" else "quarantine"
            if int(rows[f"{area}_{table.short}"].sum()) and not lfs.exists(fact_path(lroot, lake_area, table.core, week)):
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
