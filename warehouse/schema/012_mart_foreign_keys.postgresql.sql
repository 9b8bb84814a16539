-- Foreign keys of the mart's tables to its dimensions: PostgreSQL only (files named
-- *.postgresql.sql run on that engine alone). They are DEFERRABLE INITIALLY DEFERRED, checked at
-- commit, because a refresh deletes and inserts a dimension's rows in the transaction that writes
-- the rows referring to them. DuckDB has no deferred constraints and refuses to delete a row
-- another table refers to, so the embedded warehouse declares primary keys only (warehouse/README.md).
-- Dropped and added again whenever the schema files run: every statement may run again.
-- NOT VALID: rows already there are not checked when the key is added (a warehouse migrated from
-- a release before revision 0002 has an empty dim_month until its next refresh), every row
-- written afterwards is.

ALTER TABLE mart.dim_week DROP CONSTRAINT IF EXISTS fk_dim_week_month;
ALTER TABLE mart.dim_week ADD CONSTRAINT fk_dim_week_month FOREIGN KEY (month) REFERENCES mart.dim_month (month)
    DEFERRABLE INITIALLY DEFERRED NOT VALID;
ALTER TABLE mart.weekly_summary DROP CONSTRAINT IF EXISTS fk_weekly_summary_week;
ALTER TABLE mart.weekly_summary ADD CONSTRAINT fk_weekly_summary_week FOREIGN KEY (week) REFERENCES mart.dim_week (week)
    DEFERRABLE INITIALLY DEFERRED NOT VALID;
ALTER TABLE mart.weekly_summary DROP CONSTRAINT IF EXISTS fk_weekly_summary_month;
ALTER TABLE mart.weekly_summary ADD CONSTRAINT fk_weekly_summary_month FOREIGN KEY (month) REFERENCES mart.dim_month (month)
    DEFERRABLE INITIALLY DEFERRED NOT VALID;
ALTER TABLE mart.weekly_summary DROP CONSTRAINT IF EXISTS fk_weekly_summary_region_code;
ALTER TABLE mart.weekly_summary ADD CONSTRAINT fk_weekly_summary_region_code FOREIGN KEY (region_code) REFERENCES mart.dim_region (region_code)
    DEFERRABLE INITIALLY DEFERRED NOT VALID;
ALTER TABLE mart.weekly_accuracy DROP CONSTRAINT IF EXISTS fk_weekly_accuracy_week;
ALTER TABLE mart.weekly_accuracy ADD CONSTRAINT fk_weekly_accuracy_week FOREIGN KEY (week) REFERENCES mart.dim_week (week)
    DEFERRABLE INITIALLY DEFERRED NOT VALID;
ALTER TABLE mart.weekly_accuracy DROP CONSTRAINT IF EXISTS fk_weekly_accuracy_month;
ALTER TABLE mart.weekly_accuracy ADD CONSTRAINT fk_weekly_accuracy_month FOREIGN KEY (month) REFERENCES mart.dim_month (month)
    DEFERRABLE INITIALLY DEFERRED NOT VALID;
ALTER TABLE mart.weekly_accuracy DROP CONSTRAINT IF EXISTS fk_weekly_accuracy_region_code;
ALTER TABLE mart.weekly_accuracy ADD CONSTRAINT fk_weekly_accuracy_region_code FOREIGN KEY (region_code) REFERENCES mart.dim_region (region_code)
    DEFERRABLE INITIALLY DEFERRED NOT VALID;
ALTER TABLE mart.weekly_accuracy DROP CONSTRAINT IF EXISTS fk_weekly_accuracy_dimension;
ALTER TABLE mart.weekly_accuracy ADD CONSTRAINT fk_weekly_accuracy_dimension FOREIGN KEY (dimension) REFERENCES mart.dim_accuracy (dimension)
    DEFERRABLE INITIALLY DEFERRED NOT VALID;
ALTER TABLE mart.monthly_conclusion DROP CONSTRAINT IF EXISTS fk_monthly_conclusion_month;
ALTER TABLE mart.monthly_conclusion ADD CONSTRAINT fk_monthly_conclusion_month FOREIGN KEY (month) REFERENCES mart.dim_month (month)
    DEFERRABLE INITIALLY DEFERRED NOT VALID;
ALTER TABLE mart.monthly_conclusion DROP CONSTRAINT IF EXISTS fk_monthly_conclusion_region_code;
ALTER TABLE mart.monthly_conclusion ADD CONSTRAINT fk_monthly_conclusion_region_code FOREIGN KEY (region_code) REFERENCES mart.dim_region (region_code)
    DEFERRABLE INITIALLY DEFERRED NOT VALID;
