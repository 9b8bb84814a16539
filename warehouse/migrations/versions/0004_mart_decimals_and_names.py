"""Mart v2 types and names: money (万元) as DECIMAL(18, 4) and rates as DECIMAL(9, 6) in the
mart's tables; villages, poor_with_helper, poor_with_measure and base_driven_hh (as of the
month's last week) on monthly_conclusion; county_code and township_code on weekly_accuracy; the views drop unit_code/unit_name for
region_code/region_name (PostgreSQL cannot rename a view's columns in place, so the views
are dropped here and the schema files create them again, with mart.dim_metric, which the
next refresh fills). Rows already in the mart keep their values, rounded to the new scale;
the new columns are filled from weekly_summary (for a month, its last week's rows).
"""
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_MONEY, _RATE = "DECIMAL(18, 4)", "DECIMAL(9, 6)"
_TYPES = {
    "mart.weekly_summary": {
        _MONEY: ["microcredit_wan", "funds_to_village_wan", "fiscal_funds_wan", "discrepancy_abs_wan"],
        _RATE: ["helper_coverage", "measure_coverage", "reporting_rate", "on_time_rate"]},
    "mart.weekly_accuracy": {_RATE: ["accuracy"]},
    "mart.monthly_conclusion": {
        _MONEY: ["microcredit_wan", "microcredit_target_wan", "funds_to_village_wan", "fiscal_funds_wan",
                 "discrepancy_abs_wan"],
        _RATE: ["exit_plan_rate", "microcredit_rate", "helper_coverage", "measure_coverage", "reporting_rate",
                "on_time_rate", "acc_identification", "acc_household", "acc_cause", "acc_measures", "acc_ledger",
                "acc_policy", "acc_entry_exit", "acc_dynamics", "accuracy_overall", "score"]},
}
_MONTH_END = ["villages", "poor_with_helper", "poor_with_measure", "base_driven_hh"]


def upgrade() -> None:
    for view in ("mart.findings", "mart.discrepancies", "mart.reporting_status"):
        op.execute(f"DROP VIEW IF EXISTS {view}")
    for table, types in _TYPES.items():
        for sql_type, columns in types.items():
            for column in columns:
                op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE {sql_type}")
    for column in _MONTH_END:
        op.execute(f"ALTER TABLE mart.monthly_conclusion ADD COLUMN {column} BIGINT")
        op.execute(f"UPDATE mart.monthly_conclusion SET {column} = (SELECT w.{column} FROM mart.weekly_summary w "
                   f"WHERE w.week = monthly_conclusion.last_week AND w.region_code = monthly_conclusion.region_code)")
    for column in ("county_code", "township_code"):
        op.execute(f"ALTER TABLE mart.weekly_accuracy ADD COLUMN {column} VARCHAR")
        op.execute(f"UPDATE mart.weekly_accuracy SET {column} = (SELECT w.{column} FROM mart.weekly_summary w "
                   f"WHERE w.week = weekly_accuracy.week AND w.region_code = weekly_accuracy.region_code)")
