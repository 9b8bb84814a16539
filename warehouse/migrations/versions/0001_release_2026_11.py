"""The schema as released before migrations existed (commit 8ccfbca, November 2026).

A warehouse created by that release has no revision; it is stamped with this one and
migrated from here. Nothing to run.
"""

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass
