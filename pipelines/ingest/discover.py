"""Pull: list the week's files in the landing area, archive each file once by sha256,
and record it in the submissions register (core.submissions).

The same bytes arriving twice are one submission. Nothing is ever deleted: the raw
archive is content-addressed and write-once.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import posixpath
from concurrent.futures import ThreadPoolExecutor

import pandas as pd

from pipelines import storage
from pipelines.register import REGISTER_FILE, read_register
from pipelines.settings import Settings
from pipelines.weeks import deadline

ROOT_GROUP = "_root"


def _skipped(rel: str) -> bool:
    """Paths with a component starting with '_' or '.' are not submissions."""
    return any(part.startswith(("_", ".")) for part in rel.split("/"))


def list_week_files(settings: Settings, week: str) -> pd.DataFrame:
    fs, root = storage.filesystem(settings.landing_url, settings.s3_endpoint_url)
    base = storage.join(root, week)
    cols = ["landing_path", "original_name", "size_bytes", "received_at", "group"]
    if not fs.exists(base):
        return pd.DataFrame(columns=cols)
    found = fs.find(base, detail=True)
    rows = []
    for path, info in found.items():
        # Object stores: a zero-byte key ending in "/" is a folder marker (made by
        # consoles and some clients), listed as a file; relpath would strip its slash.
        if info.get("type") == "directory" or path.endswith("/"):
            continue
        rel = posixpath.relpath(path, root)
        inner = posixpath.relpath(path, base)
        if _skipped(inner):
            continue
        parts = inner.split("/")
        rows.append((rel, parts[-1], int(info.get("size") or 0), storage.mtime_of(info),
                     parts[0] if len(parts) > 1 else ROOT_GROUP))
    df = pd.DataFrame(rows, columns=cols)
    return df.sort_values("landing_path", kind="stable").reset_index(drop=True)


def read_landing_register(settings: Settings) -> pd.DataFrame:
    fs, root = storage.filesystem(settings.landing_url, settings.s3_endpoint_url)
    with fs.open(storage.join(root, REGISTER_FILE), "rb") as f:
        return read_register(f.read())


def submission_id_of(sha256: str) -> str:
    return sha256[:20]


def archive_path_of(sha256: str, name: str) -> str:
    ext = posixpath.splitext(name)[1].lower()
    ext = ext if ext.isascii() and len(ext) <= 6 else ""
    return f"{sha256[:2]}/{sha256}{ext}"


def archive_files(settings: Settings, files: pd.DataFrame) -> pd.DataFrame:
    """Copy every file unchanged into the archive; add sha256, submission_id, archive_path."""
    lfs, lroot = storage.filesystem(settings.landing_url, settings.s3_endpoint_url)
    afs, aroot = storage.filesystem(settings.archive_url, settings.s3_endpoint_url)

    def one(rel: str, name: str) -> tuple[str, str]:
        with lfs.open(storage.join(lroot, rel), "rb") as f:
            data = f.read()
        sha = hashlib.sha256(data).hexdigest()
        apath = archive_path_of(sha, name)
        full = storage.join(aroot, apath)
        if not afs.exists(full):
            storage.write_bytes_atomic(afs, full, data)
        return sha, apath

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one, files["landing_path"], files["original_name"]))
    out = files.copy()
    out["sha256"] = [r[0] for r in results]
    out["archive_path"] = [r[1] for r in results]
    out["submission_id"] = out["sha256"].map(submission_id_of)
    return out


def read_archived(settings: Settings, archive_path: str) -> bytes:
    afs, aroot = storage.filesystem(settings.archive_url, settings.s3_endpoint_url)
    with afs.open(storage.join(aroot, archive_path), "rb") as f:
        return f.read()


def new_submission_rows(files: pd.DataFrame, week: str, settings: Settings) -> pd.DataFrame:
    """One register row per distinct content, first arrival wins."""
    first = files.sort_values(["received_at", "landing_path"]).drop_duplicates("submission_id")
    due = deadline(week, settings.tz, settings.deadline_hour)
    return pd.DataFrame({
        "submission_id": first["submission_id"],
        "sha256": first["sha256"],
        "original_name": first["original_name"],
        "landing_path": first["landing_path"],
        "archive_path": first["archive_path"],
        "size_bytes": first["size_bytes"].astype("int64"),
        "received_at": pd.to_datetime(first["received_at"], utc=True),
        "week": week,
        "on_time": pd.to_datetime(first["received_at"], utc=True) <= pd.Timestamp(due),
        "status": "received",
    }).reset_index(drop=True)


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)
