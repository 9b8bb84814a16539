-- Huizong submission portal (pipelines/portal): the reporting units' accounts, their
-- uploads with the pre-check receipts, and the audit of every action.
-- Portable SQL: runs unchanged on DuckDB (embedded default) and PostgreSQL (shared).
-- Its own schema: password hashes never sit beside what BI users read.

CREATE SCHEMA IF NOT EXISTS portal;

-- One account per unit of the register (区划名录.csv stays the only source of who exists:
-- names and levels are read from it, not kept here). A new account holds an activation
-- code (hashed) until the unit sets its password with it, then only the password hash.
CREATE TABLE IF NOT EXISTS portal.accounts (
    unit_code            VARCHAR PRIMARY KEY,
    activation_hash      VARCHAR,                  -- argon2 of the one-time code, NULL once used
    activation_expires   TIMESTAMP WITH TIME ZONE,
    password_hash        VARCHAR,                  -- argon2, NULL until activated
    created_at           TIMESTAMP WITH TIME ZONE NOT NULL,
    activated_at         TIMESTAMP WITH TIME ZONE
);

-- Every file a unit uploaded, written to the landing area or refused, with its pre-check.
CREATE TABLE IF NOT EXISTS portal.uploads (
    upload_id        VARCHAR PRIMARY KEY,      -- random, not guessable
    account_code     VARCHAR NOT NULL,         -- the account that uploaded it
    unit_code        VARCHAR,                  -- the unit the content names ('' when unknown)
    week             VARCHAR NOT NULL,         -- the week the unit chose
    form             VARCHAR,                  -- A/B/C/D, '' when not recognised
    original_name    VARCHAR NOT NULL,
    landing_path     VARCHAR,                  -- relative to the landing area, NULL when refused
    sha256           VARCHAR NOT NULL,
    size_bytes       BIGINT NOT NULL,
    uploaded_at      TIMESTAMP WITH TIME ZONE NOT NULL,
    late             BOOLEAN NOT NULL,         -- after the week's deadline
    outcome          VARCHAR NOT NULL,         -- passed | problems | refused
    errors           INTEGER NOT NULL,
    warnings         INTEGER NOT NULL,
    reason           VARCHAR                   -- why a file was refused
);

-- The pre-check's findings on an upload, in the weekly findings' words.
CREATE TABLE IF NOT EXISTS portal.upload_findings (
    upload_id   VARCHAR NOT NULL,
    seq         INTEGER NOT NULL,
    sheet       VARCHAR,
    "row"       BIGINT,
    "column"    VARCHAR,
    value       VARCHAR,                       -- masked (ID and phone numbers)
    rule        VARCHAR NOT NULL,
    severity    VARCHAR NOT NULL,
    message     VARCHAR NOT NULL,
    PRIMARY KEY (upload_id, seq)
);

-- Every action, appended, never updated, never deleted. Failed logins are counted here
-- (the rate limit).
CREATE TABLE IF NOT EXISTS portal.audit (
    audit_id     VARCHAR PRIMARY KEY,          -- time-ordered: ns timestamp + random suffix
    "at"         TIMESTAMP WITH TIME ZONE NOT NULL,
    unit_code    VARCHAR NOT NULL,             -- who: the account (or the code typed at login)
    client       VARCHAR,                      -- the client's address
    action       VARCHAR NOT NULL,             -- create | activate | activate_failed | login | login_failed | logout | upload | refuse
    week         VARCHAR,
    upload_id    VARCHAR,
    file_name    VARCHAR,
    sha256       VARCHAR,
    detail       VARCHAR
);
