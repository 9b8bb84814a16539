"""Helpers for the mart tests: throwaway PostgreSQL databases, copying core, small worlds."""
from __future__ import annotations

import functools
import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest

PG_ADMIN_URL = os.environ.get("HUIZONG_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
CORE_TABLES = ["core.submissions", "core.ledger_households", "core.ledger_measures", "core.ledger_helpers",
               "core.village_reports", "core.township_reports", "core.county_reports", "core.findings",
               "core.regions", "core.loads", "core.ledger_summary", "core.consolidated", "core.discrepancies",
               "core.reporting_status", "core.finding_status"]


@contextmanager
def throwaway_postgres():
    """A fresh PostgreSQL database for one test, dropped afterwards; skips if no server."""
    import sqlalchemy as sa

    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"huizong_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as c:
            c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as exc:  # pragma: no cover - depends on the machine
        admin.dispose()
        pytest.fail(f"PostgreSQL is required (the machine starts it before every run); none at {PG_ADMIN_URL}: {exc}")
    url = sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def copy_core(src, dst) -> None:
    """Every core table of warehouse `src` into warehouse `dst` (schema applied)."""
    dst.apply_schema()
    types = dst.query("SELECT table_schema || '.' || table_name AS t, column_name AS c, data_type AS d "
                      "FROM information_schema.columns WHERE table_schema = 'core'")
    with dst.transaction() as conn:
        for table in CORE_TABLES:
            df = src.query(f"SELECT * FROM {table}")
            for r in types[(types["t"] == table) & (types["d"] == "bigint")].itertuples():
                if r.c in df.columns:
                    df[r.c] = df[r.c].astype("Int64")
            dst.replace(conn, table, df)


def duckdb_copy(home: Path, tmp: Path):
    """A private copy of a world's DuckDB warehouse (session worlds are read-only)."""
    from pipelines.warehouse import Warehouse

    target = tmp / f"wh-{uuid.uuid4().hex[:6]}.duckdb"
    shutil.copy(home / "warehouse.duckdb", target)
    return Warehouse(f"duckdb:///{target}")


@functools.lru_cache(maxsize=None)
def month_world(root: str, weeks: str = "2026-W45..2026-W48", scale: str = "0.02", seed: int = 31) -> dict:
    """A small generated world whose weeks cover all of 2026-11, run through the weekly
    pipeline without Airflow (once per test session and parameters)."""
    from pipelines.synth import generate
    from pipelines.weeks import week_range
    from tests.conftest import run_pipeline_weeks

    h = Path(root) / f"month-{scale}-{seed}"
    mp = pytest.MonkeyPatch()
    mp.setenv("HUIZONG_HOME", str(h))
    for var in ("HUIZONG_LANDING_URL", "HUIZONG_LAKE_URL", "HUIZONG_ARCHIVE_URL", "HUIZONG_WAREHOUSE_URL"):
        mp.delenv(var, raising=False)
    try:
        result = generate(out=str(h / "landing"), weeks=weeks, scale=scale, faults="default", seed=seed)
        run_pipeline_weeks(week_range(weeks))
    finally:
        mp.undo()
    return {"home": h, "weeks": week_range(weeks), "result": result}
