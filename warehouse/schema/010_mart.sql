-- Huizong mart schema: the BI contract (周汇总、月总结). Names and columns change only on purpose;
-- every table and column is described in warehouse/README.md and in the database's comments
-- (011_mart_comments.sql, generated from pipelines/mart/dictionary.py).
-- Portable SQL: runs unchanged on DuckDB (embedded default) and PostgreSQL (shared).
-- The tables are filled by pipelines.mart (delete-insert per week / month); the views read core.
-- No resident ID number, phone number or personal name appears here in clear text.

CREATE SCHEMA IF NOT EXISTS mart;

-- Regions as the latest register states them, with the city on top.
CREATE TABLE IF NOT EXISTS mart.dim_region (
    region_code      VARCHAR NOT NULL,
    region_name      VARCHAR NOT NULL,
    level            VARCHAR NOT NULL,
    level_order      BIGINT NOT NULL,
    parent_code      VARCHAR,
    county_code      VARCHAR,
    county_name      VARCHAR,
    township_code    VARCHAR,
    township_name    VARCHAR,
    is_poor_village  BOOLEAN,
    is_key_county    BOOLEAN,
    register_week    VARCHAR,
    PRIMARY KEY (region_code)
);

-- Every ISO week of the years loaded, and the month each belongs to (the month holding four
-- or more of its days).
CREATE TABLE IF NOT EXISTS mart.dim_week (
    week            VARCHAR NOT NULL,
    week_start      DATE NOT NULL,
    week_end        DATE NOT NULL,
    month           VARCHAR NOT NULL,
    iso_year        BIGINT NOT NULL,
    iso_week        BIGINT NOT NULL,
    days_in_month   BIGINT NOT NULL,
    loaded          BOOLEAN NOT NULL,
    loaded_at       TIMESTAMP WITH TIME ZONE,
    PRIMARY KEY (week)
);

-- Every month of the years loaded, with its first and last day and its ISO weeks.
CREATE TABLE IF NOT EXISTS mart.dim_month (
    month           VARCHAR NOT NULL,
    month_start     DATE NOT NULL,
    month_end       DATE NOT NULL,
    year            BIGINT NOT NULL,
    month_of_year   BIGINT NOT NULL,
    first_week      VARCHAR NOT NULL,
    last_week       VARCHAR NOT NULL,
    weeks_in_month  BIGINT NOT NULL,
    weeks_loaded    BIGINT NOT NULL,
    PRIMARY KEY (month)
);

-- The eight accuracies (八个准): data-quality dimensions of findings.
CREATE TABLE IF NOT EXISTS mart.dim_accuracy (
    dimension        VARCHAR NOT NULL,
    dimension_label  VARCHAR NOT NULL,
    ordinal          BIGINT NOT NULL,
    PRIMARY KEY (dimension)
);

-- Metrics the reconciliation compares (mart.discrepancies.metric), with their Chinese name
-- and unit (pipelines/labels.py).
CREATE TABLE IF NOT EXISTS mart.dim_metric (
    metric       VARCHAR NOT NULL,
    metric_name  VARCHAR NOT NULL,
    unit         VARCHAR NOT NULL,
    ordinal      BIGINT NOT NULL,
    PRIMARY KEY (metric)
);

-- 周汇总: one row per region (village → city) per week.
CREATE TABLE IF NOT EXISTS mart.weekly_summary (
    week                  VARCHAR NOT NULL,
    month                 VARCHAR NOT NULL,
    region_code           VARCHAR NOT NULL,
    region_name           VARCHAR,
    level                 VARCHAR NOT NULL,
    parent_code           VARCHAR,
    county_code           VARCHAR,
    township_code         VARCHAR,
    is_key_county         BOOLEAN,
    is_poor_village       BOOLEAN,
    villages              BIGINT,
    poor_villages         BIGINT,
    data_source           VARCHAR,
    verified              BOOLEAN,
    villages_unverified   BIGINT,
    hh_open BIGINT, pp_open BIGINT, hh_new BIGINT, pp_new BIGINT,
    hh_return BIGINT, pp_return BIGINT, hh_exit BIGINT, pp_exit BIGINT,
    hh_cancel BIGINT, pp_cancel BIGINT, hh_close BIGINT, pp_close BIGINT,
    microcredit_wan       DECIMAL(18, 4),
    funds_to_village_wan  DECIMAL(18, 4),
    fiscal_funds_wan      DECIMAL(18, 4),
    training_persons      BIGINT,
    base_driven_hh        BIGINT,
    demo_bases_cum        BIGINT,
    demo_driven_hh        BIGINT,
    demo_driven_pp        BIGINT,
    poor_with_helper      BIGINT,
    poor_with_measure     BIGINT,
    helper_coverage       DECIMAL(9, 6),
    measure_coverage      DECIMAL(9, 6),
    planned_exit_this_year BIGINT,
    planned_exit_done     BIGINT,
    reports_expected      BIGINT,
    reports_received      BIGINT,
    reports_on_time       BIGINT,
    reports_late          BIGINT,
    reports_missing       BIGINT,
    reporting_rate        DECIMAL(9, 6),
    on_time_rate          DECIMAL(9, 6),
    findings_errors       BIGINT,
    findings_warnings     BIGINT,
    findings_open         BIGINT,
    discrepancies         BIGINT,
    discrepancy_abs_hh    BIGINT,
    discrepancy_abs_pp    BIGINT,
    discrepancy_abs_wan   DECIMAL(18, 4),
    refreshed_at          TIMESTAMP WITH TIME ZONE NOT NULL,
    week_start            DATE,   -- columns from here on were added by revision 0002
    week_end              DATE,
    PRIMARY KEY (week, region_code)
);

-- 八个准 per region and week: records checked and records with an error in each dimension.
CREATE TABLE IF NOT EXISTS mart.weekly_accuracy (
    week             VARCHAR NOT NULL,
    month            VARCHAR NOT NULL,
    region_code      VARCHAR NOT NULL,
    level            VARCHAR NOT NULL,
    dimension        VARCHAR NOT NULL,
    dimension_label  VARCHAR NOT NULL,
    records          BIGINT NOT NULL,
    error_records    BIGINT NOT NULL,
    accuracy         DECIMAL(9, 6),
    refreshed_at     TIMESTAMP WITH TIME ZONE NOT NULL,
    region_name      VARCHAR,   -- columns from here on were added by revision 0002
    week_start       DATE,
    week_end         DATE,
    county_code      VARCHAR,   -- columns from here on were added by revision 0004
    township_code    VARCHAR,
    PRIMARY KEY (week, region_code, dimension)
);

-- 月总结: one row per region (city, county, township) per month.
CREATE TABLE IF NOT EXISTS mart.monthly_conclusion (
    month                  VARCHAR NOT NULL,
    region_code            VARCHAR NOT NULL,
    region_name            VARCHAR,
    level                  VARCHAR NOT NULL,
    parent_code            VARCHAR,
    county_code            VARCHAR,
    is_key_county          BOOLEAN,
    weeks_in_month         BIGINT NOT NULL,
    weeks_loaded           BIGINT NOT NULL,
    first_week             VARCHAR,
    last_week              VARCHAR,
    poor_villages          BIGINT,
    hh_open BIGINT, pp_open BIGINT, hh_new BIGINT, pp_new BIGINT,
    hh_return BIGINT, pp_return BIGINT, hh_exit BIGINT, pp_exit BIGINT,
    hh_cancel BIGINT, pp_cancel BIGINT, hh_close BIGINT, pp_close BIGINT,
    exits_ytd_hh           BIGINT,
    exits_ytd_pp           BIGINT,
    planned_exit_this_year BIGINT,
    planned_exit_done      BIGINT,
    exit_plan_rate         DECIMAL(9, 6),
    microcredit_wan        DECIMAL(18, 4),
    microcredit_target_wan DECIMAL(18, 4),
    microcredit_rate       DECIMAL(9, 6),
    microcredit_met        BOOLEAN,
    funds_to_village_wan   DECIMAL(18, 4),
    fiscal_funds_wan       DECIMAL(18, 4),
    training_persons       BIGINT,
    demo_bases_cum         BIGINT,
    demo_driven_hh         BIGINT,
    demo_driven_pp         BIGINT,
    helper_coverage        DECIMAL(9, 6),
    measure_coverage       DECIMAL(9, 6),
    reports_expected       BIGINT,
    reports_received       BIGINT,
    reports_on_time        BIGINT,
    reporting_rate         DECIMAL(9, 6),
    on_time_rate           DECIMAL(9, 6),
    acc_identification     DECIMAL(9, 6),
    acc_household          DECIMAL(9, 6),
    acc_cause              DECIMAL(9, 6),
    acc_measures           DECIMAL(9, 6),
    acc_ledger             DECIMAL(9, 6),
    acc_policy             DECIMAL(9, 6),
    acc_entry_exit         DECIMAL(9, 6),
    acc_dynamics           DECIMAL(9, 6),
    accuracy_overall       DECIMAL(9, 6),
    findings_errors        BIGINT,
    findings_warnings      BIGINT,
    findings_open_month_end BIGINT,
    discrepancies          BIGINT,
    discrepancy_abs_hh     BIGINT,
    discrepancy_abs_wan    DECIMAL(18, 4),
    score                  DECIMAL(9, 6),
    rank_in_parent         BIGINT,
    refreshed_at           TIMESTAMP WITH TIME ZONE NOT NULL,
    township_code          VARCHAR,   -- columns from here on were added by revision 0002
    month_start            DATE,
    month_end              DATE,
    reports_late           BIGINT,
    reports_missing        BIGINT,
    discrepancy_abs_pp     BIGINT,
    villages               BIGINT,   -- columns from here on were added by revision 0004
    poor_with_helper       BIGINT,
    poor_with_measure      BIGINT,
    base_driven_hh         BIGINT,
    PRIMARY KEY (month, region_code)
);

-- BI views over core. Personal data is masked: values of name, ID-number and phone columns,
-- and 18-character ID numbers, Excel-mangled ID numbers and mobile numbers inside messages.
CREATE OR REPLACE VIEW mart.findings AS
SELECT
    f.finding_id,
    f.week,
    w.month,
    f.stage,
    f.level,
    f.unit_code AS region_code,
    r.region_name,
    r.county_code,
    r.township_code,
    f.file,
    f.sheet,
    f."row" AS row_number,
    f."column" AS column_name,
    CASE WHEN f."column" IN ('户主姓名', '户主身份证号', '身份证号', '身份证号码', '帮扶责任人', '联系电话', '第一书记', '填表人', '审核人')
              AND f.value <> '' THEN '***'
         ELSE regexp_replace(regexp_replace(f.value, '[0-9]{17}[0-9Xx]', '******************', 'g'),
                             '[0-9][.][0-9]+[eE][+]?[0-9]+', '***', 'g')
    END AS value,
    f.rule,
    f.severity,
    CASE f.severity WHEN 'error' THEN '错误' WHEN 'warning' THEN '警告' ELSE f.severity END AS severity_label,
    f.dimension,
    a.dimension_label,
    regexp_replace(regexp_replace(regexp_replace(
        CASE WHEN f."column" IN ('户主姓名', '帮扶责任人', '第一书记', '填表人', '审核人') AND f.value <> ''
             THEN replace(f.message, f.value, '***') ELSE f.message END,
        '[0-9]{17}[0-9Xx]', '******************', 'g'),
        '[0-9][.][0-9]+[eE][+]?[0-9]+', '***', 'g'),
        '(^|[^0-9])1[3-9][0-9]{9}([^0-9]|$)', '\1***********\2', 'g') AS message,
    f.record_key,
    COALESCE(s.status, 'open') AS status,
    CASE COALESCE(s.status, 'open') WHEN 'open' THEN '待处理' WHEN 'waived' THEN '已豁免'
         WHEN 'sent_back' THEN '已退回' WHEN 'resolved' THEN '已解决' ELSE s.status END AS status_label,
    s.updated_at AS status_updated_at,
    COALESCE(f.cause_id, f.finding_id) AS cause_id,
    COALESCE(f.cause_id, f.finding_id) = f.finding_id AS is_cause,
    COALESCE(e.echoes, 0) AS echo_count
FROM core.findings f
LEFT JOIN core.finding_status s ON s.finding_id = f.finding_id
LEFT JOIN mart.dim_week w ON w.week = f.week
LEFT JOIN mart.dim_region r ON r.region_code = f.unit_code
LEFT JOIN mart.dim_accuracy a ON a.dimension = f.dimension
LEFT JOIN (SELECT week, cause_id, COUNT(DISTINCT finding_id) AS echoes FROM core.findings
           WHERE cause_id IS NOT NULL AND cause_id <> finding_id GROUP BY week, cause_id) e
       ON e.week = f.week AND e.cause_id = f.finding_id;

CREATE OR REPLACE VIEW mart.discrepancies AS
SELECT
    d.week,
    w.month,
    d.unit_code AS region_code,
    r.region_name,
    r.county_code,
    r.township_code,
    d.level,
    d.reported_by,
    rb.region_name AS reported_by_name,
    d.submission_id,
    d.source_row,
    d.metric,
    COALESCE(m.metric_name, d.metric) AS metric_name,
    m.unit,
    CAST(d.reported AS DECIMAL(18, 4)) AS reported,
    CAST(d.consolidated AS DECIMAL(18, 4)) AS consolidated,
    CAST(d.difference AS DECIMAL(18, 4)) AS difference,
    CAST(abs(d.difference) AS DECIMAL(18, 4)) AS abs_difference,
    d.direction,
    d.rule
FROM core.discrepancies d
LEFT JOIN mart.dim_metric m ON m.metric = d.metric
LEFT JOIN mart.dim_week w ON w.week = d.week
LEFT JOIN mart.dim_region r ON r.region_code = d.unit_code
LEFT JOIN mart.dim_region rb ON rb.region_code = d.reported_by;

CREATE OR REPLACE VIEW mart.reporting_status AS
SELECT
    s.week,
    w.month,
    s.unit_code AS region_code,
    s.unit_name AS region_name,
    s.level,
    s.form,
    CASE s.form WHEN 'A' THEN '村级贫困户三本账' WHEN 'B' THEN '村级周报' WHEN 'C' THEN '乡镇周报'
                WHEN 'D' THEN '县级周报' ELSE s.form END AS form_label,
    s.county_code,
    s.township_code,
    s.expected,
    s.received,
    s.on_time,
    s.late,
    s.missing,
    CASE WHEN s.on_time THEN '按时' WHEN s.late THEN '迟报' ELSE '未报' END AS status_label,
    s.received_at
FROM core.reporting_status s
LEFT JOIN mart.dim_week w ON w.week = s.week
