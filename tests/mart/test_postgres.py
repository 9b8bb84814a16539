"""The same mart on PostgreSQL: same schema, same SQL, same numbers as on DuckDB."""
from __future__ import annotations

import pandas as pd
import pytest

from pipelines.mart import refresh_all
from pipelines.mart.dictionary import TABLES, columns_of
from pipelines.warehouse import Warehouse
from tests.mart.helpers import copy_core, duckdb_copy, throwaway_postgres

KEYS = {"mart.weekly_summary": "week, region_code", "mart.monthly_conclusion": "month, region_code",
        "mart.weekly_accuracy": "week, region_code, dimension", "mart.dim_region": "region_code",
        "mart.dim_week": "week", "mart.dim_month": "month", "mart.dim_accuracy": "dimension",
        "mart.findings": "finding_id, row_number, column_name", "mart.discrepancies": "week, unit_code, rule, metric, source_row",
        "mart.reporting_status": "week, unit_code, form"}
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
