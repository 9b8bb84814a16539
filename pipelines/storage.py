"""Storage through fsspec: a local folder by default, any fsspec URL (s3:// included).

S3-compatible endpoints (MinIO, moto) are reached with HUIZONG_S3_ENDPOINT_URL and the
usual AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY variables.
"""
from __future__ import annotations

import datetime as dt
import functools
import io
import os
import posixpath
import uuid
from contextlib import contextmanager

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.checkpoints import checkpoint


def filesystem(url: str, endpoint_url: str | None = None):
    """(fs, root path) for a URL. Resolved once per process and URL: a task reads each of
    thousands of archived files through it (resolving the URL again cost ≈0.08 ms a file)."""
    return _filesystem(url, endpoint_url, os.getpid())


@functools.lru_cache(maxsize=64)
def _filesystem(url: str, endpoint_url: str | None, pid: int):
    # pid in the key: a forked task never reuses its parent's (S3) client
    opts = {}
    if url.startswith("s3://"):
        # fsspec reuses one instance per set of options for the life of the process; a
        # cached listing would hide files that other processes wrote or landed since.
        opts["use_listings_cache"] = False
        if endpoint_url:
            opts["client_kwargs"] = {"endpoint_url": endpoint_url}
    fs, root = fsspec.core.url_to_fs(url, **opts)
    return fs, root.rstrip("/")


def join(*parts: str) -> str:
    return posixpath.join(*[p for p in parts if p])


def mtime_of(info: dict) -> dt.datetime:
    """Modification time of an fsspec info dict as an aware UTC datetime."""
    for key in ("mtime", "LastModified", "last_modified", "created"):
        v = info.get(key)
        if v is None:
            continue
        if isinstance(v, (int, float)):
            return dt.datetime.fromtimestamp(v, tz=dt.timezone.utc)
        if isinstance(v, str):
            v = dt.datetime.fromisoformat(v)
        if isinstance(v, dt.datetime):
            return v if v.tzinfo else v.replace(tzinfo=dt.timezone.utc)
    return dt.datetime.now(dt.timezone.utc)


def find_files(fs, base: str) -> dict[str, dict]:
    """Every file under ``base`` (recursively, hidden ones included): path -> fsspec-style
    info (``size``, ``mtime`` or the store's own keys; see mtime_of). Local folders are
    walked with os.scandir (fsspec's find stats each entry again, ≈3× slower on a
    province's week)."""
    if not _is_local(fs):
        found = fs.find(base, detail=True)
        # Object stores: a zero-byte key ending in "/" is a folder marker (made by
        # consoles and some clients), listed as a file.
        return {p: i for p, i in found.items() if i.get("type") != "directory" and not p.endswith("/")}
    out: dict[str, dict] = {}
    for e in walk_local(base):
        try:
            st = e.stat()
        except FileNotFoundError:  # removed while listed (a broken link, a moved file)
            continue
        out[e.path] = {"size": st.st_size, "mtime": st.st_mtime}
    return dict(sorted(out.items()))


def walk_local(base: str):
    """The files under a local folder, recursively (os.DirEntry, in no set order); none
    if it does not exist."""
    todo = [base]
    while todo:
        try:
            entries = list(os.scandir(todo.pop()))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for e in entries:
            if e.is_dir():
                todo.append(e.path)
            else:
                yield e


def write_bytes_atomic(fs, path: str, data: bytes) -> None:
    """Write so that a reader sees the whole file or nothing."""
    with open_atomic(fs, path) as f:
        f.write(data)


def read_bytes(fs, path: str, limit: int = -1) -> bytes:
    """A file's bytes (at most ``limit`` when given); local files through os, not fsspec."""
    if _is_local(fs):
        with open(path, "rb") as f:
            return f.read(limit)
    with fs.open(path, "rb") as f:
        return f.read(limit)


def exists(fs, path: str) -> bool:
    return os.path.exists(path) if _is_local(fs) else fs.exists(path)


def write_parquet(fs, path: str, df: pd.DataFrame) -> None:
    table = pa.Table.from_pandas(df, preserve_index=False)
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    write_bytes_atomic(fs, path, buf.getvalue())


def read_parquet_rows(fs, path: str, positions) -> pd.DataFrame:
    """The rows at ``positions`` (0-based, ascending) of a Parquet file, as a frame."""
    if _is_local(fs):
        table = pq.read_table(path)
    else:
        with fs.open(path, "rb") as f:
            table = pq.read_table(f)
    return table.take(pa.array(positions, pa.int64())).to_pandas()


def read_parquet(fs, path: str, columns: list[str] | None = None, filters=None) -> pd.DataFrame:
    """A Parquet file as a frame: ``columns`` only, rows matching pyarrow ``filters`` only."""
    if _is_local(fs):  # pyarrow's own file reader (memory-mapped), not fsspec's
        return pq.read_table(path, columns=columns, filters=filters).to_pandas()
    with fs.open(path, "rb") as f:
        return pq.read_table(f, columns=columns, filters=filters).to_pandas()


def iter_parquet(fs, path: str, batch_rows: int = 100_000):
    """A Parquet file as DataFrames of at most ``batch_rows`` rows (bounded memory)."""
    with fs.open(path, "rb") as f:
        pf = pq.ParquetFile(f)
        for batch in pf.iter_batches(batch_size=batch_rows):
            yield pa.Table.from_batches([batch], schema=pf.schema_arrow).to_pandas()


def parquet_schema(fs, path: str) -> pa.Schema:
    with fs.open(path, "rb") as f:
        return pq.read_schema(f)


@contextmanager
def open_atomic(fs, path: str):
    """A binary file to stream into, that readers see whole or not at all; nothing needs
    to be held in memory."""
    parent = posixpath.dirname(path)
    if _is_local(fs):
        # Through os, not fsspec: fsspec's local layer costs about half a millisecond a
        # file in stats and moves (seconds for a week's archive).
        # Hidden name (leading dot): dataset readers (pyarrow, Spark, DuckDB hive globs on
        # part-*.parquet) skip it, so a write cut short is never read as a part file.
        if parent:
            os.makedirs(parent, exist_ok=True)
        tmp = posixpath.join(parent, f".{posixpath.basename(path)}.{uuid.uuid4().hex}.tmp")
        try:
            with open(tmp, "wb") as f:
                yield f
            checkpoint("storage.tmp_written")
            os.replace(tmp, path)
        finally:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
    else:  # object stores: the upload becomes visible when it completes
        if parent:
            fs.makedirs(parent, exist_ok=True)
        f = fs.open(path, "wb")
        try:
            yield f
        except BaseException:
            if hasattr(f, "discard"):
                f.discard()  # abort the multipart upload: nothing becomes visible
            raise
        else:
            f.close()


def _is_local(fs) -> bool:
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return protocol in ("file", "local")
