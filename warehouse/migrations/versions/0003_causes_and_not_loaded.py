"""Causes and received-but-not-loaded reports: core.findings.cause_id (the finding of the
source fault, its own id for a cause); core.reporting_status.not_loaded and
rejected_submission_id (a form received whose every file was refused: 已报送未入库).
Findings and reporting status of earlier weeks keep NULL there until their week runs again
(a NULL cause_id reads as the finding's own id in mart.findings).
"""
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE core.findings ADD COLUMN cause_id VARCHAR")
    op.execute("ALTER TABLE core.reporting_status ADD COLUMN not_loaded BOOLEAN")
    op.execute("ALTER TABLE core.reporting_status ADD COLUMN rejected_submission_id VARCHAR")
