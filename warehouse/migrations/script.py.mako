"""${message}

Revision ${up_revision}, after ${down_revision | comma,n}. Forward only: plain SQL that runs
on DuckDB and PostgreSQL alike; the schema files (warehouse/schema/) carry the same change
for warehouses created from now on.
"""
from alembic import op

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = None
depends_on = None


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}
