"""Where an uploaded file goes: written unchanged into the landing area the weekly run
reads, ``<week>/<county>/<township>/<village>/<name>`` by the unit's names in the register
(a township's files in its township's folder, a county's in its county's), through
pipelines.storage (any fsspec URL). A name already taken that week (a corrected file sent
under the same name) gets a number: both files stay, and the newer counts, as in the
weekly run."""
from __future__ import annotations

import os
import posixpath
import re
import uuid

import pandas as pd

from pipelines import storage
from pipelines.settings import Settings

UPLOADING = ".uploading"  # below the landing root, beside the week folders

# Nothing from a submitted name but its last part reaches a path, without characters
# that separate or hide (/ \ NUL, control characters, a leading dot).
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]")


# File systems allow 255 bytes a name; room is left for a number and the temporary
# name a write goes through (pipelines.storage.open_atomic).
_NAME_BYTES = 150


def safe_name(name: str) -> str:
    base = _UNSAFE.sub("_", name.replace("\\", "/").rsplit("/", 1)[-1]).strip().lstrip(".")
    stem, ext = posixpath.splitext(base)
    ext = ext[:10]
    stem = stem.encode("utf-8", "surrogateescape")[:_NAME_BYTES - len(ext.encode("utf-8", "surrogateescape"))]
    return (stem.decode("utf-8", "ignore") or "上传文件") + ext


def unit_folder(register: pd.DataFrame, unit_code: str) -> str:
    """The folder of a unit below the week's: its county, township and village names."""
    names = dict(zip(register["code"], register["name"]))
    chain = [unit_code[:n] for n in (6, 9, 12) if len(unit_code) >= n]
    return "/".join(safe_name(names[c]) for c in chain)


def write_landing(settings: Settings, week: str, folder: str, name: str, data: bytes) -> str:
    """Write ``data`` as it is under ``<week>/<folder>/``; the path relative to the landing
    root (as the weekly run records it)."""
    fs, root = storage.filesystem(settings.landing_url, settings.s3_endpoint_url)
    stem, ext = posixpath.splitext(safe_name(name))
    rel = posixpath.join(week, folder, stem + ext)
    n = 1
    while storage.exists(fs, storage.join(root, rel)):
        n += 1
        rel = posixpath.join(week, folder, f"{stem}({n}){ext}")
    target = storage.join(root, rel)
    if not storage._is_local(fs):  # object stores: a PUT becomes visible whole
        storage.write_bytes_atomic(fs, target, data)
        return rel
    # A local write goes through a temporary file outside the week's folder: the weekly
    # run takes every file below it, hidden ones included, for a submission.
    tmp = storage.join(root, UPLOADING, uuid.uuid4().hex)
    os.makedirs(posixpath.dirname(tmp), exist_ok=True)
    os.makedirs(posixpath.dirname(target), exist_ok=True)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return rel
