-- Huizong review schema: the steward's decisions on findings.
-- Portable SQL: runs unchanged on DuckDB (embedded default) and PostgreSQL (shared).

CREATE SCHEMA IF NOT EXISTS core;

-- Current state of each finding (one row per finding_id; finding_id embeds the week).
-- open → waived (reason, who, when) / sent_back (resubmission requested) → resolved
-- (a later run no longer has it, or a steward closed it).
CREATE TABLE IF NOT EXISTS core.finding_status (
    finding_id       VARCHAR PRIMARY KEY,
    week             VARCHAR NOT NULL,
    status           VARCHAR NOT NULL,      -- open | waived | sent_back | resolved
    reason           VARCHAR,               -- the steward's reason for the last decision
    updated_by       VARCHAR NOT NULL,      -- user name, or 'system' for a run
    updated_at       TIMESTAMP WITH TIME ZONE NOT NULL,
    first_seen_week  VARCHAR NOT NULL,
    first_seen_run   VARCHAR,
    first_seen_at    TIMESTAMP WITH TIME ZONE NOT NULL,
    last_seen_week   VARCHAR,
    last_seen_run    VARCHAR,
    last_seen_at     TIMESTAMP WITH TIME ZONE
);

-- Every action on a finding, appended; never updated, never deleted.
CREATE TABLE IF NOT EXISTS core.finding_audit (
    audit_id       VARCHAR PRIMARY KEY,     -- time-ordered: ns timestamp + random suffix
    finding_id     VARCHAR NOT NULL,
    week           VARCHAR NOT NULL,
    "at"           TIMESTAMP WITH TIME ZONE NOT NULL,
    "by"           VARCHAR NOT NULL,
    action         VARCHAR NOT NULL,        -- open | reopen | waive | send_back | close | resolve
    before_status  VARCHAR,
    after_status   VARCHAR NOT NULL,
    reason         VARCHAR
);

-- Every download of an original file from the raw archive (the only place with clear ID
-- and phone numbers) by a steward, appended; never updated, never deleted.
CREATE TABLE IF NOT EXISTS core.archive_downloads (
    download_id    VARCHAR PRIMARY KEY,     -- time-ordered: ns timestamp + random suffix
    "at"           TIMESTAMP WITH TIME ZONE NOT NULL,
    "by"           VARCHAR NOT NULL,
    finding_id     VARCHAR NOT NULL,        -- the finding the file was opened from
    week           VARCHAR NOT NULL,
    submission_id  VARCHAR NOT NULL,
    sha256         VARCHAR NOT NULL,
    original_name  VARCHAR
);
