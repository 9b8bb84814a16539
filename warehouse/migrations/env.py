"""Alembic environment of the warehouse's schema migrations (run by pipelines/migrations.py).

The connection comes from the caller (``config.attributes["connection"]``): the same
transaction as the schema files, so a warehouse is migrated whole or not at all. Alembic
keeps the revision in ``core.alembic_version``. Migrations are plain SQL that runs on
DuckDB and PostgreSQL alike (``op.execute``), forward only (no downgrade).
"""
from __future__ import annotations

from alembic import context

import pipelines.migrations  # noqa: F401  (registers Alembic's DuckDB implementation)

connection = context.config.attributes["connection"]
context.configure(connection=connection, version_table_schema="core", transaction_per_migration=False)
with context.begin_transaction():
    context.run_migrations()
