"""The original file a finding points to, from the raw archive, for a steward.

The archive is the only place with clear ID and phone numbers: every download appends one
row to ``core.archive_downloads`` (who, when, which finding and submission, its sha256)
before the bytes are handed over; nothing updates or deletes those rows.
"""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from pipelines import labels
from pipelines.ingest.landing import read_archived
from pipelines.review.lifecycle import _audit_id, _now, with_retry
from pipelines.review.queries import table_exists
from pipelines.settings import Settings, get_settings
from pipelines.warehouse import Warehouse


class NoOriginal(LookupError):
    """The finding has no file, or its file is not in the archive."""


@dataclass
class Original:
    name: str
    sha256: str
    data: bytes


def download(finding_id: str, by: str, wh: Warehouse, settings: Settings | None = None) -> Original:
    """The bytes of the file ``finding_id`` was found in, as archived; the download audited."""
    settings = settings or get_settings()
    row = with_retry(lambda: wh.query(
        "SELECT f.week, s.submission_id, s.sha256, s.archive_path, s.original_name FROM core.findings f "
        "JOIN core.submissions s ON s.submission_id = f.submission_id WHERE f.finding_id = :f "
        "ORDER BY f.file LIMIT 1", {"f": finding_id}))
    if row.empty:
        raise NoOriginal(labels.ORIGINAL_FILE_NONE)
    r = row.iloc[0]
    try:
        data = read_archived(settings, r["archive_path"], max_bytes=-1)
    except FileNotFoundError as e:
        raise NoOriginal(labels.ORIGINAL_FILE_MISSING) from e
    if not table_exists(wh, "core.archive_downloads"):  # a warehouse of an earlier release
        with_retry(wh.apply_schema)

    def audit():
        with wh.transaction() as conn:
            conn.execute(sa.text(
                'INSERT INTO core.archive_downloads (download_id, "at", "by", finding_id, week, submission_id, '
                "sha256, original_name) VALUES (:d, :at, :by, :f, :w, :s, :sha, :n)"),
                {"d": _audit_id(), "at": _now().to_pydatetime(), "by": by, "f": finding_id, "w": r["week"],
                 "s": r["submission_id"], "sha": r["sha256"], "n": r["original_name"]})

    with_retry(audit)
    return Original(name=str(r["original_name"] or r["archive_path"]).rsplit("/", 1)[-1], sha256=r["sha256"],
                    data=data)
