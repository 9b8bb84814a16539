"""The same mart on PostgreSQL: same schema, same SQL, same numbers as on DuckDB."""
from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa

from pipelines.mart import refresh_all, refresh_weekly_mart
from pipelines.mart.dictionary import TABLES, columns_of
from pipelines.warehouse import Warehouse
from tests.mart.helpers import copy_core, duckdb_copy, throwaway_postgres

KEYS = {"mart.weekly_summary": "week, region_code", "mart.monthly_conclusion": "month, region_code",
        "mart.weekly_accuracy": "week, region_code, dimension", "mart.dim_region": "region_code",
        "mart.dim_week": "week", "mart.dim_month": "month", "mart.dim_accuracy": "dimension",
        "mart.findings": "finding_id, row_number, column_name", "mart.discrepancies": "week, region_code, rule, metric, source_row",
        "mart.reporting_status": "week, region_code, form", "mart.dim_metric": "metric"}
VOLATILE = ["refreshed_at", "loaded_at"]


@pytest.fixture(scope="module")
def both(faulty_world, tmp_path_factory):
    duck = duckdb_copy(faulty_world["home"], tmp_path_factory.mktemp("pg-vs-duck"))
    refresh_all(duck)
    with throwaway_postgres() as url:
        pg = Warehouse(url)
        copy_core(duck, pg)
        refresh_all(pg)
        yield duck, pg
        pg.dispose()


@pytest.mark.parametrize("table", list(TABLES))
def test_postgres_mart_equals_duckdb_mart(both, table):
    duck, pg = both
    assert pg.dialect == "postgresql" and duck.dialect == "duckdb"
    assert pg.columns(table) == duck.columns(table) == columns_of(table)
    order = KEYS[table]
    a = duck.query(f"SELECT * FROM {table} ORDER BY {order}").drop(columns=VOLATILE, errors="ignore")
    b = pg.query(f"SELECT * FROM {table} ORDER BY {order}").drop(columns=VOLATILE, errors="ignore")
    assert len(a) > 0
    for df in (a, b):
        for c in df.columns:
            if "at" in c.split("_") or c.endswith("_at"):
                df[c] = pd.to_datetime(df[c], utc=True)
            if c in ("week_start", "week_end"):
                df[c] = pd.to_datetime(df[c])
    pd.testing.assert_frame_equal(a, b, check_dtype=False, check_exact=False, rtol=1e-9)


def test_postgres_keeps_the_comments(both):
    _, pg = both
    for table, t in TABLES.items():
        assert pg.scalar("SELECT obj_description(CAST(:t AS regclass), 'pg_class')", {"t": table}).startswith(t["label"])
    missing = pg.query("""
        SELECT c.relname, a.attname FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'mart' AND a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'v')
          AND col_description(c.oid, a.attnum) IS NULL""")
    assert missing.empty, missing


def test_schema_applies_twice_on_postgres(both):
    _, pg = both
    pg.apply_schema()   # CREATE ... IF NOT EXISTS / OR REPLACE: re-running is harmless
    assert pg.scalar("SELECT COUNT(*) FROM mart.weekly_summary") > 0


def test_postgres_money_and_rates_are_decimals(both):
    _, pg = both
    types = pg.query("SELECT table_name, column_name, data_type, numeric_precision, numeric_scale "
                     "FROM information_schema.columns WHERE table_schema = 'mart'").set_index(["table_name", "column_name"])
    for table in ("weekly_summary", "monthly_conclusion"):
        assert tuple(types.loc[(table, "microcredit_wan")]) == ("numeric", 18, 4)
        assert tuple(types.loc[(table, "reporting_rate")]) == ("numeric", 9, 6)
    assert tuple(types.loc[("discrepancies", "abs_difference")]) == ("numeric", 18, 4)
    assert types.loc[("weekly_summary", "discrepancy_abs_hh"), "data_type"] == "bigint"
    assert not (types["data_type"] == "double precision").any()
    total = pg.scalar("SELECT CAST(SUM(microcredit_wan) AS VARCHAR) FROM mart.weekly_summary WHERE level = '村'")
    assert len(total.split(".")[1]) == 4


def test_postgres_declares_foreign_keys_that_the_refreshes_keep(both):
    """Every fact table refers to its dimensions; a refresh (dimensions deleted and inserted
    while facts refer to them) still commits, an orphan row does not."""
    _, pg = both
    fks = pg.query("SELECT tc.table_name, kcu.column_name, ccu.table_name AS target, tc.is_deferrable "
                   "FROM information_schema.table_constraints tc "
                   "JOIN information_schema.key_column_usage kcu ON kcu.constraint_name = tc.constraint_name "
                   "JOIN information_schema.constraint_column_usage ccu ON ccu.constraint_name = tc.constraint_name "
                   "WHERE tc.table_schema = 'mart' AND tc.constraint_type = 'FOREIGN KEY'")
    got = set(zip(fks["table_name"], fks["column_name"], fks["target"]))
    for table in ("weekly_summary", "weekly_accuracy"):
        assert {(table, "week", "dim_week"), (table, "month", "dim_month"), (table, "region_code", "dim_region")} <= got
    assert {("monthly_conclusion", "month", "dim_month"), ("monthly_conclusion", "region_code", "dim_region"),
            ("weekly_accuracy", "dimension", "dim_accuracy")} <= got
    assert (fks["is_deferrable"] == "YES").all()
    week = pg.scalar("SELECT min(week) FROM mart.weekly_summary")
    assert refresh_weekly_mart(week, pg)["weekly_rows"] > 0
    with pytest.raises(sa.exc.IntegrityError, match="fk_weekly_summary_region_code"):
        with pg.transaction() as conn:
            conn.execute(sa.text("UPDATE mart.weekly_summary SET region_code = '999999' WHERE level = '市'"))
    assert pg.scalar("SELECT count(*) FROM mart.weekly_summary WHERE region_code = '999999'") == 0
