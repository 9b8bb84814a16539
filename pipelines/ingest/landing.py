"""Pull: list the week's files in the landing area, archive each file once by sha256,
and record it in the submissions register (core.submissions).

The same bytes arriving twice are one submission. Nothing is ever deleted: the raw
archive is content-addressed and write-once.

File names are free text. A name that is not UTF-8 (GBK bytes from an old Windows zip,
say) arrives from the local file system as a str with surrogate escapes; the landing
path recorded (manifest, core.submissions, findings) is valid UTF-8 text with each
undecodable byte written as ``\\xNN`` (backslashreplace), and the raw bytes' hex is kept in
the manifest column ``landing_path_hex``. The file itself is read by its real name.
Files above ``max_file_bytes`` are hashed and archived in chunks (never held whole).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import posixpath
import re
import uuid
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from pipelines import storage
from pipelines.register import REGISTER_FILE, read_register
from pipelines.settings import Settings
from pipelines.weeks import deadline

ROOT_GROUP = "_root"


def safe_text(path: str) -> tuple[str, str]:
    """(UTF-8-safe text, hex of the raw name bytes or '') for a path from the file system.

    Undecodable bytes (surrogate escapes) become ``\\xNN``; valid names are unchanged."""
    try:
        path.encode("utf-8")
        return path, ""
    except UnicodeEncodeError:
        raw = path.encode("utf-8", "surrogateescape")
        return raw.decode("utf-8", "backslashreplace"), raw.hex()


def list_week_files(settings: Settings, week: str) -> pd.DataFrame:
    """The week's files: landing_path (UTF-8 text), original_name, size_bytes, received_at,
    group, landing_path_hex (raw bytes of a non-UTF-8 path, else '') and source_path (the
    name to open it by; dropped by archive_files, it may not be valid UTF-8)."""
    fs, root = storage.filesystem(settings.landing_url, settings.s3_endpoint_url)
    base = storage.join(root, week)
    cols = ["landing_path", "original_name", "size_bytes", "received_at", "group", "landing_path_hex",
            "source_path"]
    if not fs.exists(base):
        return pd.DataFrame(columns=cols)
    found = storage.find_files(fs, base)
    text, name, size, county, raw_hex, unit, source = ([] for _ in range(7))
    # Every file under the week's folder is a submission, hidden ones included (nothing
    # received is lost; a stray .DS_Store becomes a "not a form" finding).
    for path, info in found.items():
        rel = _relative(path, root)
        t, h = safe_text(rel)
        parts = safe_text(_relative(path, base))[0].split("/")
        c = parts[0] if len(parts) > 1 else ROOT_GROUP
        text.append(t)
        name.append(parts[-1])
        size.append(int(info.get("size") or 0))
        county.append(c)
        raw_hex.append(h)
        unit.append("/".join(parts[:2]) if len(parts) > 2 else c)
        source.append(rel)
    df = pd.DataFrame({"landing_path": text, "original_name": name, "size_bytes": size,
                       "received_at": _received(list(found.values())), "group": county, "landing_path_hex": raw_hex})
    # object dtype: a name that is not UTF-8 holds surrogates, which arrow strings refuse
    df["source_path"] = pd.Series(source, dtype=object, index=df.index)
    df["group"] = batch_groups(df["group"], pd.Series(unit, index=df.index), settings.batch_files)
    return df.sort_values("landing_path", kind="stable").reset_index(drop=True)


def _received(infos: list[dict]) -> pd.Series:
    """Each file's modification time (UTC), as storage.mtime_of reads it; a local folder's
    (seconds since 1970, to the microsecond as datetime.fromtimestamp has it) converted
    as one column, not a datetime object each."""
    seconds = [i.get("mtime") for i in infos]
    if not all(isinstance(v, (int, float)) for v in seconds):
        return pd.Series([storage.mtime_of(i) for i in infos], dtype="datetime64[us, UTC]")
    micros = np.round(np.asarray(seconds, dtype="float64") * 1e6).astype("int64")
    return pd.Series(pd.to_datetime(micros, unit="us", utc=True))


def _relative(path: str, root: str) -> str:
    """posixpath.relpath for a path known to lie under ``root``, without its cost (it
    resolves both against the working folder: seconds for a province's week)."""
    prefix = root.rstrip("/") + "/"
    return path[len(prefix):] if path.startswith(prefix) else posixpath.relpath(path, root)


def batch_groups(county: pd.Series, unit: pd.Series, bound: int) -> pd.Series:
    """The mapped task ("group") of each file: its county folder, or, for a county with
    more than ``bound`` files, ``<county>#<k>``: consecutive township folders (in name
    order) packed into batches of at most ``bound`` files (a bigger township stays whole).
    Memory per task is then bounded whatever the size of a county."""
    sizes = pd.DataFrame({"county": county, "unit": unit}).value_counts().sort_index()
    label: dict[str, str] = {}
    for c, per_unit in sizes.groupby(level="county", sort=False):  # per county, not per file
        if int(per_unit.sum()) <= bound:
            label.update({u: c for _, u in per_unit.index})
            continue
        k, filled = 1, 0
        for (_, u), n in per_unit.items():
            if filled and filled + int(n) > bound:
                k, filled = k + 1, 0
            label[u] = f"{c}#{k}"
            filled += int(n)
    return unit.map(label).astype(object)  # a unit (folder path) lies in one county


def read_landing_register(settings: Settings) -> pd.DataFrame:
    fs, root = storage.filesystem(settings.landing_url, settings.s3_endpoint_url)
    with fs.open(storage.join(root, REGISTER_FILE), "rb") as f:
        return read_register(f.read())


def submission_id_of(sha256: str) -> str:
    return sha256[:20]


_EXT_RE = re.compile(r"^\.[a-z0-9]{1,5}$")


def archive_path_of(sha256: str, name: str) -> str:
    """Archive path by content hash; the extension is kept only when it is plain (.xlsx,
    .csv): nothing from a submitted name other than [a-z0-9] reaches a path."""
    ext = posixpath.splitext(name)[1].lower()
    ext = ext if _EXT_RE.match(ext) else ""
    return f"{sha256[:2]}/{sha256}{ext}"


CHUNK = 8 * 1024 * 1024


def archive_files(settings: Settings, files: pd.DataFrame, known: pd.DataFrame | None = None) -> pd.DataFrame:
    """Copy every file unchanged into the archive; add sha256, submission_id, archive_path.
    ``known``: an earlier manifest of the same files (see the body).

    Files larger than max_file_bytes (the parser will not read them) are hashed and
    copied in chunks, so memory stays bounded whatever lands."""
    lfs, lroot = storage.filesystem(settings.landing_url, settings.s3_endpoint_url)
    afs, aroot = storage.filesystem(settings.archive_url, settings.s3_endpoint_url)

    def one(rel: str, name: str, size: int) -> tuple[str, str]:
        src = storage.join(lroot, rel)
        if size > settings.max_file_bytes:
            return _archive_large(lfs, src, afs, aroot, name)
        data = storage.read_bytes(lfs, src)
        sha = hashlib.sha256(data).hexdigest()
        apath = archive_path_of(sha, name)
        full = storage.join(aroot, apath)
        if not storage.exists(afs, full):
            storage.write_bytes_atomic(afs, full, data)
        return sha, apath

    source = files["source_path"] if "source_path" in files.columns else files["landing_path"]
    out = files.drop(columns=["source_path"], errors="ignore").copy()
    out["sha256"], out["archive_path"] = "", ""
    todo = np.ones(len(out), dtype=bool)
    if known is not None and len(known) and len(out):
        # A file already archived by an earlier run of this week, unchanged since (same
        # path, size and modification time), is not read and hashed again.
        key = ["landing_path", "size_bytes", "received_at"]
        prev = known[key + ["sha256", "archive_path"]].drop_duplicates(key, keep="last")
        prev = prev.astype({"size_bytes": "int64", "received_at": "datetime64[us, UTC]"})
        cur = out[key].astype({"size_bytes": "int64", "received_at": "datetime64[us, UTC]"})
        hit = cur.merge(prev, on=key, how="left")
        hit.index = out.index
        # (the manifest is written only after every file of it was archived)
        have = hit["sha256"].notna().to_numpy(bool)
        out.loc[have, "sha256"] = hit.loc[have, "sha256"]
        out.loc[have, "archive_path"] = hit.loc[have, "archive_path"]
        todo = ~have
    if todo.any():
        args = (source[todo], out.loc[todo, "original_name"], out.loc[todo, "size_bytes"].astype("int64"))
        if storage._is_local(lfs) and storage._is_local(afs):
            # Local disks: one thread. Threads contend for the GIL and the archive's
            # folders here (measured 2.2 s a Zhoukou week in one thread, 5 s in eight).
            results = list(map(one, *args))
        else:  # object stores: requests wait on the network, threads overlap them
            with ThreadPoolExecutor(max_workers=8) as pool:
                results = list(pool.map(one, *args))
        out.loc[todo, "sha256"] = [r[0] for r in results]
        out.loc[todo, "archive_path"] = [r[1] for r in results]
    out["submission_id"] = out["sha256"].map(submission_id_of)
    return out


def _archive_large(lfs, src: str, afs, aroot: str, name: str) -> tuple[str, str]:
    h = hashlib.sha256()
    with lfs.open(src, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    sha = h.hexdigest()
    apath = archive_path_of(sha, name)
    full = storage.join(aroot, apath)
    if afs.exists(full):
        return sha, apath
    afs.makedirs(posixpath.dirname(full), exist_ok=True)
    local = storage._is_local(afs)
    target = f"{full}.{uuid.uuid4().hex}.tmp" if local else full  # object stores: PUT is atomic
    with lfs.open(src, "rb") as f, afs.open(target, "wb") as out:
        while chunk := f.read(CHUNK):
            out.write(chunk)
    if local:
        afs.mv(target, full)
    return sha, apath


def read_archived(settings: Settings, archive_path: str, max_bytes: int | None = None) -> bytes:
    """The archived file's bytes, at most ``max_bytes`` (default max_file_bytes + 1: enough
    for the parser to see that a file is too large without holding all of it)."""
    limit = settings.max_file_bytes + 1 if max_bytes is None else max_bytes
    afs, aroot = storage.filesystem(settings.archive_url, settings.s3_endpoint_url)
    return storage.read_bytes(afs, storage.join(aroot, archive_path), limit)


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
