"""City-wide duplicate ID numbers: one ID number registered under two households.

The week's plan rows are never held together: process_group stages, beside each group's
plan rows, 64-bit keys of their ID hash and household (``id_keys``); publish finds the ID
hashes shared by more than one household from those keys alone, then reads in full only
the rows holding one, and checks them exactly (``validate.duplicate_ids``).
"""
from __future__ import annotations

import hashlib
import posixpath
import re

import numpy as np
import pandas as pd

from pipelines import storage, vectors
from pipelines.findings import findings_frame
from pipelines.ingest.parts import for_parquet


def id_keys(df: pd.DataFrame) -> pd.DataFrame:
    """Per plan row, aligned with it: 64-bit hashes of the normalised ID hash and of the
    household id, whether an ID is given, and the submission. process_group stages them
    beside the plan rows, so the city-wide duplicate pass reads numbers, not text."""
    idn = df["id_hash"].astype(str).str.strip().str.upper()
    return pd.DataFrame({
        "id": pd.util.hash_array(idn.to_numpy(object)),
        "household": pd.util.hash_array(df["household_id"].astype(str).to_numpy(object)),
        "known": df["id_hash"].notna().to_numpy(bool),
        "submission_id": df["submission_id"].astype(str).to_numpy(object)})


def duplicate_id_findings(lfs, plan_paths: list[str], current: set[str], cache: str | None = None) -> pd.DataFrame:
    """City-wide duplicate ID numbers without holding the city's plan rows: the ID hashes
    registered under more than one household are found from the staged 64-bit keys of
    each group (``id_keys``, 16 bytes a row), then only the candidates' rows are read in
    full and checked exactly by ``duplicate_ids``.

    ``cache``: a Parquet file keeping the candidates' rows of each group from the last
    publish; a group whose staged plan and candidate rows are the same is not read again."""
    cols = ["id_hash", "household_id", "submission_id"]

    def keys(p: str) -> pd.DataFrame:
        kp = posixpath.join(posixpath.dirname(p), "id_keys.parquet")
        if lfs.exists(kp):
            return storage.read_parquet(lfs, kp)
        return id_keys(storage.read_parquet(lfs, p, columns=cols))  # staged before id_keys existed

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
        storage.write_parquet(lfs, cache, for_parquet(pd.concat(
            [df.assign(_src=p, _key=key) for p, (key, df) in rows.items()], ignore_index=True)))
    plan = pd.concat([df for _key, df in rows.values()], ignore_index=True)
    return _duplicate_ids_hashed(plan)


def _read_cache(lfs, cache: str | None) -> dict[str, tuple[str, pd.DataFrame]]:
    """path -> (key, rows) from a duplicate_id_findings cache (none if absent or unreadable)."""
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
    pairs are sorted, not hashed: a province's week has millions of pairs, and sorting
    them all would cost more than the hashing pass."""
    again = pd.Series(ids, copy=False).duplicated(keep=False).to_numpy(bool)
    ids, households = ids[again], households[again]
    order = np.lexsort((households, ids))
    i, h = ids[order], households[order]
    distinct = np.r_[True, (i[1:] != i[:-1]) | (h[1:] != h[:-1])] if len(i) else np.zeros(0, bool)
    pi = i[distinct]
    again = pi[1:] == pi[:-1]
    return np.unique(pi[1:][again])


def _duplicate_ids_hashed(plan: pd.DataFrame) -> pd.DataFrame:
    """City-wide duplicate ID numbers, compared by keyed hash, shown masked."""
    from pipelines.ingest.validate import duplicate_ids

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
    return re.sub(r"[0-9a-f]{32}", lambda m: shown.get(m.group(0), "********"), text)
