"""Schema migrations: a warehouse of any earlier release brought to this one's schema.

Two sources, one job each:

- ``warehouse/schema/*.sql`` declare the schema as it is now. Every statement may run
  again (``CREATE … IF NOT EXISTS``, ``CREATE OR REPLACE VIEW``): they create what is
  missing, on a new warehouse everything.
- ``warehouse/migrations/versions/`` (Alembic revisions, forward only) carry what those
  files cannot: a change to a table that exists (a column added, a type changed, rows
  moved). A change to the schema files that alters an existing table comes with a revision:
  a new file in ``versions/`` whose ``revision`` is the next number and ``down_revision``
  the newest one's, with an ``upgrade()`` of plain SQL (``op.execute``) that runs on DuckDB
  and PostgreSQL alike. tests/pipelines/test_migrations.py proves the two sources agree.

``migrate`` runs in the caller's transaction: a warehouse created before migrations existed
(it has ``core.submissions`` but no revision) is stamped BASELINE; then the revisions after
its own run, then the schema files. A new warehouse gets the schema files and is stamped
with the newest revision. Alembic keeps the revision in ``core.alembic_version``.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.ddl.impl import DefaultImpl
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "warehouse" / "migrations"
BASELINE = "0001"  # the schema of the release before migrations (8ccfbca)
VERSION_SCHEMA = "core"


class DuckDBImpl(DefaultImpl):
    """Alembic knows no DuckDB; what the revisions use (op.execute) needs nothing more."""

    __dialect__ = "duckdb"
    transactional_ddl = True


def _config(conn: sa.Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = conn
    return cfg


def head() -> str:
    """The newest revision."""
    return ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


def revision(conn: sa.Connection) -> str | None:
    """The warehouse's revision; None if it has none (new, or from before migrations)."""
    return MigrationContext.configure(conn, opts={"version_table_schema": VERSION_SCHEMA}).get_current_revision()


def files_text() -> list[tuple[str, str]]:
    """The revisions' file names and text (part of the schema's digest)."""
    return [(p.name, p.read_text(encoding="utf-8")) for p in sorted((MIGRATIONS_DIR / "versions").glob("*.py"))]


def migrate(conn: sa.Connection, create: Callable[[], None]) -> tuple[str | None, str]:
    """Bring the warehouse on ``conn`` to the newest revision; ``create`` runs the schema
    files. Returns the revision before (None: a new warehouse) and after."""
    before = revision(conn)
    if before is None and not sa.inspect(conn).has_table("submissions", schema="core"):
        create()
        command.stamp(_config(conn), "head")
        return None, head()
    if before is None:
        command.stamp(_config(conn), BASELINE)
        before = BASELINE
    command.upgrade(_config(conn), "head")
    create()
    return before, head()
