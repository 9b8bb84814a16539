"""Mart keys and business dates: a primary key on every mart table's grain; week_start and
week_end on weekly rows, month_start and month_end on monthly rows; mart.dim_month (created
by the schema files); region_name on weekly_accuracy; township_code, reports_late,
reports_missing and discrepancy_abs_pp on monthly_conclusion; household and people
discrepancy totals as BIGINT. Rows already in the mart are kept and their new columns filled
where they follow from what is there (the rest at the next refresh of their week or month).
"""
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ADD = {
    "mart.weekly_summary": ["week_start DATE", "week_end DATE"],
    "mart.weekly_accuracy": ["region_name VARCHAR", "week_start DATE", "week_end DATE"],
    "mart.monthly_conclusion": ["township_code VARCHAR", "month_start DATE", "month_end DATE",
                                "reports_late BIGINT", "reports_missing BIGINT", "discrepancy_abs_pp BIGINT"],
}
_BIGINT = {"mart.weekly_summary": ["discrepancy_abs_hh", "discrepancy_abs_pp"],
           "mart.monthly_conclusion": ["discrepancy_abs_hh"]}
_KEYS = {"mart.dim_region": "region_code", "mart.dim_week": "week", "mart.dim_accuracy": "dimension",
         "mart.weekly_summary": "week, region_code", "mart.weekly_accuracy": "week, region_code, dimension",
         "mart.monthly_conclusion": "month, region_code"}


def upgrade() -> None:
    for table, columns in _ADD.items():
        for column in columns:
            op.execute(f"ALTER TABLE {table} ADD COLUMN {column}")
    for table, columns in _BIGINT.items():
        for column in columns:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE BIGINT")
    for table in ("mart.weekly_summary", "mart.weekly_accuracy"):
        name = table.split(".")[1]
        op.execute(f"UPDATE {table} SET week_start = (SELECT d.week_start FROM mart.dim_week d "
                   f"WHERE d.week = {name}.week), week_end = (SELECT d.week_end FROM mart.dim_week d "
                   f"WHERE d.week = {name}.week)")
    op.execute("UPDATE mart.weekly_accuracy SET region_name = (SELECT r.region_name FROM mart.dim_region r "
               "WHERE r.region_code = weekly_accuracy.region_code)")
    for table, key in _KEYS.items():
        op.execute(f"ALTER TABLE {table} ADD PRIMARY KEY ({key})")
