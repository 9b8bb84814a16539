-- Huizong core schema: what was received and what was loaded.
-- Portable SQL: runs unchanged on DuckDB (embedded default) and PostgreSQL (shared).
-- Every fact row keeps its source: submission_id, source_sheet, source_row.

CREATE SCHEMA IF NOT EXISTS core;

-- The submissions register: one row per distinct file content (sha256) received.
CREATE TABLE IF NOT EXISTS core.submissions (
    submission_id    VARCHAR PRIMARY KEY,   -- first 20 hex digits of the sha256
    sha256           VARCHAR NOT NULL,
    original_name    VARCHAR NOT NULL,      -- file name as sent
    landing_path     VARCHAR NOT NULL,      -- path relative to the landing root
    archive_path     VARCHAR NOT NULL,      -- raw archive location (restricted)
    size_bytes       BIGINT NOT NULL,
    received_at      TIMESTAMP WITH TIME ZONE NOT NULL,
    week             VARCHAR NOT NULL,      -- the landing folder's ISO week
    content_week     VARCHAR,               -- the week the content states (NULL if none)
    detected_form    VARCHAR,               -- A/B/C/D, NULL if not a form
    level            VARCHAR,               -- 村/乡镇/县
    unit_code        VARCHAR,
    unit_name        VARCHAR,
    on_time          BOOLEAN,
    status           VARCHAR NOT NULL,      -- received/loaded/partial/rejected/superseded
    superseded_by    VARCHAR,
    n_errors         BIGINT,
    n_warnings       BIGINT,
    rows_loaded      BIGINT,
    rows_quarantined BIGINT
);

-- Form A, sheet 计划进度账: one row per household per week.
CREATE TABLE IF NOT EXISTS core.ledger_households (
    week                    VARCHAR NOT NULL,
    unit_code               VARCHAR NOT NULL,   -- village
    submission_id           VARCHAR NOT NULL,
    source_sheet            VARCHAR,
    source_row              BIGINT,
    household_id            VARCHAR,
    head_name               VARCHAR,
    id_hash                 VARCHAR,   -- HMAC-SHA256 of the resident ID (key never committed)
    id_masked               VARCHAR,   -- 411622********123X
    household_size          BIGINT,
    poverty_type            VARCHAR,
    main_cause              VARCHAR,
    identified_year         BIGINT,
    planned_exit_year       BIGINT,
    state                   VARCHAR,
    week_change             VARCHAR,
    income_per_capita_yuan  DOUBLE PRECISION,
    food_secure             VARCHAR,
    clothing_secure         VARCHAR,
    education_secure        VARCHAR,
    medical_secure          VARCHAR,
    housing_secure          VARCHAR,
    progress_note           VARCHAR,
    has_warning             BOOLEAN
);

-- Form A, sheet 措施办法账: one row per measure.
CREATE TABLE IF NOT EXISTS core.ledger_measures (
    week                VARCHAR NOT NULL,
    unit_code           VARCHAR NOT NULL,
    submission_id       VARCHAR NOT NULL,
    source_sheet        VARCHAR,
    source_row          BIGINT,
    household_id        VARCHAR,
    measure_category    VARCHAR,
    measure_content     VARCHAR,
    measure_funds_yuan  DOUBLE PRECISION,
    measure_date        DATE,
    measure_status      VARCHAR,
    has_warning         BOOLEAN
);

-- Form A, sheet 帮扶责任账: one row per helper pairing.
CREATE TABLE IF NOT EXISTS core.ledger_helpers (
    week              VARCHAR NOT NULL,
    unit_code         VARCHAR NOT NULL,
    submission_id     VARCHAR NOT NULL,
    source_sheet      VARCHAR,
    source_row        BIGINT,
    household_id      VARCHAR,
    helper_name       VARCHAR,
    helper_org        VARCHAR,
    helper_org_level  VARCHAR,
    phone_hash        VARCHAR,         -- HMAC-SHA256 of the mobile number
    phone_masked      VARCHAR,         -- 136****8848
    paired_date       DATE,
    has_warning       BOOLEAN
);

-- Form B: the village's own weekly report.
CREATE TABLE IF NOT EXISTS core.village_reports (
    week                  VARCHAR NOT NULL,
    unit_code             VARCHAR NOT NULL,
    submission_id         VARCHAR NOT NULL,
    source_sheet          VARCHAR,
    source_row            BIGINT,
    is_poor_village       VARCHAR,
    first_secretary       VARCHAR,
    work_team_size        BIGINT,
    hh_open BIGINT, pp_open BIGINT, hh_new BIGINT, pp_new BIGINT,
    hh_return BIGINT, pp_return BIGINT, hh_exit BIGINT, pp_exit BIGINT,
    hh_cancel BIGINT, pp_cancel BIGINT, hh_close BIGINT, pp_close BIGINT,
    funds_to_village_wan  DOUBLE PRECISION,
    microcredit_wan       DOUBLE PRECISION,
    base_driven_hh        BIGINT,
    training_persons      BIGINT,
    has_warning           BOOLEAN
);

-- Form C: a township's rows, one per village; is_total marks its 合计 row.
CREATE TABLE IF NOT EXISTS core.township_reports (
    week                VARCHAR NOT NULL,
    unit_code           VARCHAR NOT NULL,   -- township
    submission_id       VARCHAR NOT NULL,
    source_sheet        VARCHAR,
    source_row          BIGINT,
    is_total            BOOLEAN NOT NULL,
    village_code        VARCHAR,
    village_name        VARCHAR,
    is_poor_village     VARCHAR,
    hh_open BIGINT, pp_open BIGINT, hh_new BIGINT, pp_new BIGINT,
    hh_return BIGINT, pp_return BIGINT, hh_exit BIGINT, pp_exit BIGINT,
    hh_cancel BIGINT, pp_cancel BIGINT, hh_close BIGINT, pp_close BIGINT,
    microcredit_wan     DOUBLE PRECISION,
    training_sessions   BIGINT,
    training_persons    BIGINT,
    has_warning         BOOLEAN
);

-- Form D: a county's rows, one per township; is_total marks its 合计 row.
CREATE TABLE IF NOT EXISTS core.county_reports (
    week                VARCHAR NOT NULL,
    unit_code           VARCHAR NOT NULL,   -- county
    submission_id       VARCHAR NOT NULL,
    source_sheet        VARCHAR,
    source_row          BIGINT,
    is_total            BOOLEAN NOT NULL,
    township_code       VARCHAR,
    township_name       VARCHAR,
    poor_village_count  BIGINT,
    hh_open BIGINT, pp_open BIGINT, hh_new BIGINT, pp_new BIGINT,
    hh_return BIGINT, pp_return BIGINT, hh_exit BIGINT, pp_exit BIGINT,
    hh_cancel BIGINT, pp_cancel BIGINT, hh_close BIGINT, pp_close BIGINT,
    microcredit_wan     DOUBLE PRECISION,
    demo_bases_cum      BIGINT,
    base_driven_hh      BIGINT,
    base_driven_pp      BIGINT,
    fiscal_funds_wan    DOUBLE PRECISION,
    team_members        BIGINT,
    inspections         BIGINT,
    has_warning         BOOLEAN
);

-- Every problem found, in Chinese, naming unit, file, sheet, row, column and value.
CREATE TABLE IF NOT EXISTS core.findings (
    finding_id     VARCHAR NOT NULL,   -- stable: hash of week, unit, rule, record, column
    week           VARCHAR NOT NULL,
    level          VARCHAR,
    unit_code      VARCHAR,
    submission_id  VARCHAR,
    file           VARCHAR,
    sheet          VARCHAR,
    "row"          BIGINT,
    "column"       VARCHAR,
    value          VARCHAR,
    rule           VARCHAR NOT NULL,
    severity       VARCHAR NOT NULL,
    dimension      VARCHAR,
    message        VARCHAR NOT NULL,
    record_key     VARCHAR,
    stage          VARCHAR NOT NULL,   -- ingest | consolidate
    cause_id       VARCHAR             -- the finding of the source fault (its own id for a cause)
);

-- The unit register as it stood when a week was processed.
CREATE TABLE IF NOT EXISTS core.regions (
    code             VARCHAR NOT NULL,
    name             VARCHAR NOT NULL,
    level            VARCHAR NOT NULL,
    parent_code      VARCHAR,
    is_poor_village  BOOLEAN,
    is_key_county    BOOLEAN,
    county_code      VARCHAR,
    township_code    VARCHAR,
    week             VARCHAR NOT NULL
);

-- One row per week loaded: when, by which run, and what it held.
CREATE TABLE IF NOT EXISTS core.loads (
    week          VARCHAR NOT NULL,
    run_id        VARCHAR,
    loaded_at     TIMESTAMP WITH TIME ZONE NOT NULL,
    files         BIGINT,
    submissions   BIGINT,
    rows_loaded   BIGINT,
    rows_quarantined BIGINT,
    errors        BIGINT,
    warnings      BIGINT
);

-- What each village's own ledger (Form A) says, over every row submitted (quarantined
-- rows included): the bottom of the bottom-up consolidation.
CREATE TABLE IF NOT EXISTS core.ledger_summary (
    week               VARCHAR NOT NULL,
    unit_code          VARCHAR NOT NULL,
    submission_id      VARCHAR NOT NULL,
    households         BIGINT,     -- rows in the plan sheet
    hh_open BIGINT, pp_open BIGINT, hh_new BIGINT, pp_new BIGINT,
    hh_return BIGINT, pp_return BIGINT, hh_exit BIGINT, pp_exit BIGINT,
    hh_cancel BIGINT, pp_cancel BIGINT, hh_close BIGINT, pp_close BIGINT,
    poor_with_helper   BIGINT,     -- 贫困 households with at least one helper
    poor_with_measure  BIGINT,     -- 贫困 households with at least one measure
    planned_exit_this_year BIGINT  -- households whose 计划脱贫年度 is the week's year
);

-- Consolidated figures, bottom-up: one row per unit (village → city) per week.
CREATE TABLE IF NOT EXISTS core.consolidated (
    week               VARCHAR NOT NULL,
    unit_code          VARCHAR NOT NULL,
    level              VARCHAR NOT NULL,   -- 市/县/乡镇/村
    parent_code        VARCHAR,
    county_code        VARCHAR,
    source             VARCHAR NOT NULL,   -- ledger/village_report/township_row/sum/none
    verified           BOOLEAN NOT NULL,   -- false when taken from a higher level's row
    villages_unverified BIGINT,
    hh_open BIGINT, pp_open BIGINT, hh_new BIGINT, pp_new BIGINT,
    hh_return BIGINT, pp_return BIGINT, hh_exit BIGINT, pp_exit BIGINT,
    hh_cancel BIGINT, pp_cancel BIGINT, hh_close BIGINT, pp_close BIGINT,
    microcredit_wan     DOUBLE PRECISION,
    funds_to_village_wan DOUBLE PRECISION,
    training_persons    BIGINT,
    base_driven_hh      BIGINT,
    poor_with_helper    BIGINT,
    poor_with_measure   BIGINT,
    planned_exit_this_year BIGINT
);

-- A level's figure that disagrees with what the level below supports (不含水分).
CREATE TABLE IF NOT EXISTS core.discrepancies (
    week               VARCHAR NOT NULL,
    unit_code          VARCHAR NOT NULL,   -- the unit whose figure is checked
    level              VARCHAR NOT NULL,   -- the level that reported it
    reported_by        VARCHAR,            -- the reporting unit (e.g. the township for a village row)
    submission_id      VARCHAR,
    source_row         BIGINT,
    metric             VARCHAR NOT NULL,   -- canonical column, e.g. hh_close
    reported           DOUBLE PRECISION,
    consolidated       DOUBLE PRECISION,   -- what the level below / the rule supports
    difference         DOUBLE PRECISION,   -- reported − consolidated
    direction          VARCHAR,            -- 虚报 (over) / 漏报 (under) / 不平衡
    rule               VARCHAR NOT NULL
);

-- Reporting completeness and timeliness, as DHIS2 counts it: one row per unit, form, week.
CREATE TABLE IF NOT EXISTS core.reporting_status (
    week            VARCHAR NOT NULL,
    unit_code       VARCHAR NOT NULL,
    unit_name       VARCHAR,
    level           VARCHAR NOT NULL,
    form            VARCHAR NOT NULL,
    county_code     VARCHAR,
    township_code   VARCHAR,
    expected        BOOLEAN NOT NULL,
    received        BOOLEAN NOT NULL,
    on_time         BOOLEAN NOT NULL,
    late            BOOLEAN NOT NULL,
    missing         BOOLEAN NOT NULL,
    submission_id   VARCHAR,
    received_at     TIMESTAMP WITH TIME ZONE,
    not_loaded      BOOLEAN,           -- received, but every file of the form was refused (已报送未入库)
    rejected_submission_id VARCHAR     -- the refused file, when not_loaded
);

-- Which schema files were applied last (a digest of their text): tasks skip re-applying
-- them while they are unchanged (pipelines/warehouse.py, apply_schema).
CREATE TABLE IF NOT EXISTS core.schema_applied (
    digest          VARCHAR NOT NULL,
    applied_at      TIMESTAMP WITH TIME ZONE NOT NULL
);
