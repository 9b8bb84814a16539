"""The embedded warehouse opens in the DuckDB command-line client BI users have (duckdb-cli
from PyPI, a 1.x build), read-only, and answers as the pipeline's own connection does."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import warehouse_of

pytestmark = pytest.mark.slow

CLI = Path(sys.executable).with_name("duckdb")  # installed from the lock file next to python


def _cli(db: Path, sql: str) -> list[dict]:
    run = subprocess.run([str(CLI), "-readonly", "-json", str(db), "-c", sql],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout or "[]")


def test_the_duckdb_cli_opens_the_embedded_warehouse(faulty_world, tmp_path):
    assert CLI.exists() or shutil.which("duckdb"), "duckdb-cli is in requirements.lock"
    version = subprocess.run([str(CLI), "--version"], capture_output=True, text=True, timeout=60).stdout
    assert version.startswith("v1."), version  # a 1.x client: the one that cannot read DuckDB 2's own format
    db = tmp_path / "warehouse.duckdb"
    shutil.copy(faulty_world["home"] / "warehouse.duckdb", db)  # the fixture's world is shared: read a copy
    sql = ("SELECT week, count(*) AS units, sum(hh_open)::BIGINT AS households FROM mart.weekly_summary "
           "GROUP BY week ORDER BY week")
    expected = warehouse_of(faulty_world["home"]).query(sql)
    got = _cli(db, sql)
    assert [r["week"] for r in got] == faulty_world["weeks"]
    assert [(r["units"], r["households"]) for r in got] == [
        (int(u), int(h)) for u, h in zip(expected["units"], expected["households"])]
    assert got[0]["households"] > 0
    tables = {r["table_name"] for r in _cli(db, "SELECT table_name FROM information_schema.tables "
                                                "WHERE table_schema = 'mart'")}
    assert {"weekly_summary", "dim_region", "findings"} <= tables
