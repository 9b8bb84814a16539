"""Where a week's files live in the lake.

- ``runs/week=W/``: the run manifest (every file of the week) and the week plan;
- ``staging/week=W/group=G/``: what process_group staged for one group, and its record;
- ``facts|quarantine|findings/<table>/week=W/``: what publish wrote for the week.
"""
from __future__ import annotations

import hashlib
import posixpath

from pipelines import storage


def run_manifest_path(root: str, week: str) -> str:
    return storage.join(root, "runs", f"week={week}", "files.parquet")


def plan_path(root: str, week: str) -> str:
    """The week plan (see pipelines.ingest.plan); a name starting with ``_``: dataset readers skip it."""
    return storage.join(root, "runs", f"week={week}", "_plan.json")


def staging_path(root: str, week: str, group: str, name: str) -> str:
    gid = hashlib.sha1(group.encode()).hexdigest()[:12]
    return storage.join(root, "staging", f"week={week}", f"group={gid}", f"{name}.parquet")


def group_dir(root: str, week: str, group: str) -> str:
    return posixpath.dirname(staging_path(root, week, group, "x"))


def done_path(root: str, week: str, group: str) -> str:
    """A staged group's record (signature and summary), written when all its parts are there."""
    return staging_path(root, week, group, "_done").replace(".parquet", ".json")


def staging_cache_path(root: str, week: str) -> str:
    """Rows publish keeps between runs of a week (see pipelines.ingest.duplicates)."""
    return storage.join(root, "staging", f"week={week}", "_duplicate_rows.parquet")


def fact_path(root: str, area: str, table: str, week: str) -> str:
    """``table``: a core table, schema-qualified."""
    return storage.join(root, area, table.split(".", 1)[1], f"week={week}", "part-0.parquet")
