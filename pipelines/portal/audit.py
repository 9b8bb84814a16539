"""The portal's audit trail (portal.audit): who did what when, with the file's sha256.
Appended only; failed logins and activations are read back from it for the rate limit."""
from __future__ import annotations

import datetime as dt
import secrets
import time

import sqlalchemy as sa

from pipelines.warehouse import Warehouse

COLUMNS = ("week", "upload_id", "file_name", "sha256", "detail")


def record(conn: sa.Connection, unit_code: str, action: str, client: str = "", **fields: str) -> None:
    """Append one action, in the caller's transaction."""
    row = {c: fields.get(c) for c in COLUMNS}
    conn.execute(sa.text(
        "INSERT INTO portal.audit (audit_id, \"at\", unit_code, client, action, week, upload_id, file_name, sha256, "
        "detail) VALUES (:audit_id, :at, :unit_code, :client, :action, :week, :upload_id, :file_name, :sha256, :detail)"),
        {**row, "audit_id": f"{time.time_ns():020d}-{secrets.token_hex(4)}", "at": dt.datetime.now(dt.timezone.utc),
         "unit_code": unit_code, "client": client, "action": action})


def failures(wh: Warehouse, action: str, since: dt.datetime, unit_code: str | None = None,
             client: str | None = None) -> int:
    """How many ``action`` entries (login_failed, activate_failed) since ``since``, for the
    unit code typed or from the client address."""
    if unit_code is not None:
        return int(wh.scalar("SELECT count(*) FROM portal.audit WHERE action = :a AND \"at\" >= :t AND unit_code = :u",
                             {"a": action, "t": since, "u": unit_code}))
    return int(wh.scalar("SELECT count(*) FROM portal.audit WHERE action = :a AND \"at\" >= :t AND client = :c",
                         {"a": action, "t": since, "c": client or ""}))
