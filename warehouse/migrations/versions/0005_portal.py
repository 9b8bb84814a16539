"""The submission portal's tables (schema portal: accounts, uploads, upload_findings,
audit), for a warehouse created before the portal; a new warehouse gets them from
warehouse/schema/003_portal.sql.
"""
from alembic import op

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None

_CREATE = (
    """CREATE SCHEMA IF NOT EXISTS portal""",
    """CREATE TABLE IF NOT EXISTS portal.accounts (
         unit_code VARCHAR PRIMARY KEY,
         activation_hash VARCHAR,
         activation_expires TIMESTAMP WITH TIME ZONE,
         password_hash VARCHAR,
         created_at TIMESTAMP WITH TIME ZONE NOT NULL,
         activated_at TIMESTAMP WITH TIME ZONE
        )""",
    """CREATE TABLE IF NOT EXISTS portal.uploads (
         upload_id VARCHAR PRIMARY KEY,
         account_code VARCHAR NOT NULL,
         unit_code VARCHAR,
         week VARCHAR NOT NULL,
         form VARCHAR,
         original_name VARCHAR NOT NULL,
         landing_path VARCHAR,
         sha256 VARCHAR NOT NULL,
         size_bytes BIGINT NOT NULL,
         uploaded_at TIMESTAMP WITH TIME ZONE NOT NULL,
         late BOOLEAN NOT NULL,
         outcome VARCHAR NOT NULL,
         errors INTEGER NOT NULL,
         warnings INTEGER NOT NULL,
         reason VARCHAR
        )""",
    """CREATE TABLE IF NOT EXISTS portal.upload_findings (
         upload_id VARCHAR NOT NULL,
         seq INTEGER NOT NULL,
         sheet VARCHAR,
         "row" BIGINT,
         "column" VARCHAR,
         value VARCHAR,
         rule VARCHAR NOT NULL,
         severity VARCHAR NOT NULL,
         message VARCHAR NOT NULL,
         PRIMARY KEY (upload_id, seq)
        )""",
    """CREATE TABLE IF NOT EXISTS portal.audit (
         audit_id VARCHAR PRIMARY KEY,
         "at" TIMESTAMP WITH TIME ZONE NOT NULL,
         unit_code VARCHAR NOT NULL,
         client VARCHAR,
         action VARCHAR NOT NULL,
         week VARCHAR,
         upload_id VARCHAR,
         file_name VARCHAR,
         sha256 VARCHAR,
         detail VARCHAR
        )""",
)


def upgrade() -> None:
    for statement in _CREATE:
        op.execute(statement)
