"""What the last publish of a week wrote, so that the next one rewrites only what changed.

A week is published many times: the Monday run, then every late or corrected file, every
steward's waiver. Most of the week is the same each time. The state file records, per
(submission, group), a fingerprint of everything that decides that submission's rows in
the lake and the warehouse (what its group's staging applies to every file alike: last
week's plan, the code, the settings; whether it is current; the keys of its error and
warning findings, which carry whatever other files of the group changed in its rows), and
how many rows it put in each table. A late file in a county leaves the county's other
submissions as they were. The next
publish compares fingerprints: the submissions whose fingerprint changed (or that came or
went) are "affected"; only their rows are re-split, rewritten in the lake files and
replaced in the warehouse.

The state is trusted only while it matches what it describes:

- it is removed before a publish touches the lake and written again only after the
  warehouse transaction committed, so a publish cut short leaves no state, and the next
  publish is a full one;
- it names the ``core.loads`` row (``loaded_at``) of the publish that wrote it: a warehouse
  restored, rebuilt or loaded by anything else does not match, and the publish is full;
- it names the code (``plan.code_fingerprint``): new parsing, validation or publish code
  republishes the whole week.

The file lives beside the run manifest under a name starting with ``_`` (dataset readers
skip it).
"""
from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import pandas as pd

from pipelines import forms, storage, vectors

COUNT_COLUMNS = [f"{area}_{t.short}" for t in forms.REGISTRY.values() for area in ("loaded", "quarantined")]
STATE_VERSION = "1"


def state_path(root: str, week: str) -> str:
    return storage.join(root, "runs", f"week={week}", "_publish_state.parquet")


def fingerprints(pairs: pd.DataFrame, signatures: dict[str, str], current: set[str], rejected: set[str],
                 keys: dict[str, pd.MultiIndex]) -> pd.Series:
    """One fingerprint per row of ``pairs`` (columns submission_id, group): the group's
    staging base (``signatures``; see plan.group_inputs), current or not, rejected or not, and the submission's finding keys
    (``keys``: kind -> (submission, sheet, row) index; quarantine, waived, warning)."""
    frames = [pd.DataFrame({"submission_id": idx.get_level_values(0).astype(str),
                            "key": kind + ":" + idx.get_level_values(1).astype(str) + ":"
                            + idx.get_level_values(2).astype(str)})
              for kind, idx in keys.items() if len(idx)]
    if frames:
        k = pd.concat(frames, ignore_index=True).drop_duplicates().sort_values(["submission_id", "key"])
        per_sub = k.groupby("submission_id", sort=False)["key"].agg("|".join)
    else:
        per_sub = pd.Series(dtype=object)
    sid = pairs["submission_id"].astype(str)
    text = (pairs["group"].astype(str).map(signatures).fillna("") + "|"
            + np.where(vectors.member(sid, current), "current", "superseded") + "|"
            + np.where(vectors.member(sid, rejected), "rejected", "") + "|"
            + sid.map(per_sub).fillna(""))
    return pd.Series([hashlib.sha1(t.encode()).hexdigest()[:16] for t in text], index=pairs.index, dtype=object)


def read_state(lfs, root: str, week: str) -> tuple[dict, pd.DataFrame] | None:
    """(meta, rows) of the last complete publish, or None."""
    path = state_path(root, week)
    if not lfs.exists(path):
        return None
    import pyarrow.parquet as pq

    try:
        with lfs.open(path, "rb") as f:
            table = pq.read_table(f)
        meta = json.loads((table.schema.metadata or {}).get(b"huizong", b"{}"))
    except (OSError, ValueError):  # unreadable: publish in full and write a new one
        return None
    if meta.get("version") != STATE_VERSION:
        return None
    return meta, table.to_pandas()


def write_state(lfs, root: str, week: str, rows: pd.DataFrame, meta: dict) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(rows.reset_index(drop=True), preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           b"huizong": json.dumps({**meta, "version": STATE_VERSION}).encode()})
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    storage.write_bytes_atomic(lfs, state_path(root, week), buf.getvalue())


def drop_state(lfs, root: str, week: str) -> None:
    path = state_path(root, week)
    if lfs.exists(path):
        lfs.rm(path)


def affected(old: pd.DataFrame, new: pd.DataFrame) -> set[str]:
    """Submissions whose (group, fingerprint) pairs differ between two states."""
    cols = ["submission_id", "group", "fingerprint"]
    both = pd.concat([old[cols].drop_duplicates(), new[cols].drop_duplicates()], ignore_index=True).astype(str)
    return set(both[~both.duplicated(keep=False)]["submission_id"])  # in one of the two only


def token(loaded_at: pd.Timestamp) -> str:
    """``core.loads.loaded_at`` as the state records it (UTC, microseconds)."""
    ts = pd.Timestamp(loaded_at)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.floor("us").isoformat()
