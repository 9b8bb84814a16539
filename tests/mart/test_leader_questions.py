"""Five questions a leader asks (warehouse/questions/), answered by the real clients BI
users have: psql as bi_reader on a PostgreSQL warehouse set up by the compose stack's init
script, and the DuckDB CLI (1.x, from PyPI) on the embedded warehouse. The same SQL, unchanged,
gives the same answers."""
from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.mart import refresh_all
from pipelines.mart.dictionary import QUESTIONS, questions
from pipelines.warehouse import Warehouse
from tests.deploy._compose import PG_INIT_DIR
from tests.mart.helpers import copy_core, duckdb_copy, month_world

pytestmark = pytest.mark.slow

PG = {"PGHOST": "127.0.0.1", "PGPORT": "5432"}
DB, OWNER = f"huizong_questions_{os.getpid()}", f"huizong_questions_owner_{os.getpid()}"
DUCKDB_CLI = Path(sys.executable).with_name("duckdb")


def _psql(*args: str, user: str = "postgres", db: str = "postgres", stdin: str | None = None,
          env: dict | None = None) -> str:
    run = subprocess.run(["psql", "-v", "ON_ERROR_STOP=1", "--no-psqlrc", "-X", "-U", user, "-d", db, *args],
                         input=stdin, env={**os.environ, **PG, **(env or {})}, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    return run.stdout


@pytest.fixture(scope="module")
def warehouses(tmp_path_factory):
    assert shutil.which("psql"), "psql (Debian postgresql-client) is installed by make test"
    world = month_world(str(tmp_path_factory.getbasetemp() / "worlds"))
    duck = duckdb_copy(world["home"], tmp_path_factory.mktemp("questions"))
    refresh_all(duck)
    _psql("-c", f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)', "-c", f'DROP ROLE IF EXISTS "{OWNER}"')
    for script in sorted(PG_INIT_DIR.glob("*.sql")):  # as the postgres image runs them
        _psql("-q", "-f", str(script), env={"WAREHOUSE_DB": DB, "WAREHOUSE_USER": OWNER,
                                            "WAREHOUSE_PASSWORD": "owner-pw", "BI_READER_PASSWORD": "bi-pw"})
    pg = Warehouse(f"postgresql+psycopg://{OWNER}:owner-pw@127.0.0.1:5432/{DB}")
    try:
        copy_core(duck, pg)
        refresh_all(pg)
        duck.dispose()  # the DuckDB CLI opens the file next
        yield Path(duck.engine.url.database)
    finally:
        pg.dispose()
        _psql("-c", f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)', "-c", f'DROP ROLE IF EXISTS "{OWNER}"')


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


@pytest.mark.parametrize("name", sorted(p.name for p in QUESTIONS.glob("*.sql")))
def test_psql_as_bi_reader_and_the_duckdb_cli_give_the_same_answer(warehouses, name):
    sql = (QUESTIONS / name).read_text(encoding="utf-8")
    from_psql = _rows(_psql("--csv", user="bi_reader", db=DB, stdin=sql))
    run = subprocess.run([str(DUCKDB_CLI), "-readonly", "-csv", "-nullvalue", "", str(warehouses)], input=sql,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    from_duckdb = _rows(run.stdout)
    assert from_psql == from_duckdb
    assert len(from_psql) > 1 and from_psql[0][0].startswith(("县", "村", "指标")), from_psql[:3]


def test_the_questions_are_in_the_warehouse_readme():
    readme = (QUESTIONS.parent / "README.md").read_text(encoding="utf-8")
    for title, sql in questions():
        assert title in readme and sql.strip() in readme
