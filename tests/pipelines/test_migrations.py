"""Schema migrations: a warehouse created by the release before is brought to exactly the
schema a new warehouse gets, on DuckDB and PostgreSQL, keeping its rows."""
from __future__ import annotations

import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from pipelines import migrations
from pipelines.warehouse import Warehouse, split_sql
from tests.mart.helpers import throwaway_postgres
from tests.structure.same_world import REPO, huizong, make_landing, tree_at

RELEASE_BEFORE = "8ccfbca"  # the release whose schema is migrations.BASELINE


def release_before_schema(into: Path) -> Path:
    """warehouse/schema/*.sql as the release before shipped them."""
    into.mkdir(parents=True, exist_ok=True)
    names = subprocess.run(["git", "-C", str(REPO), "ls-tree", "--name-only", f"{RELEASE_BEFORE}:warehouse/schema"],
                           check=True, capture_output=True, text=True).stdout.split()
    for name in names:
        text = subprocess.run(["git", "-C", str(REPO), "show", f"{RELEASE_BEFORE}:warehouse/schema/{name}"],
                              check=True, capture_output=True, text=True).stdout
        (into / name).write_text(text, encoding="utf-8")
    return into


def shape(wh: Warehouse) -> dict[tuple[str, str, str], str]:
    """Every column of every table and view in core and mart, with its place and type, and
    every table's primary and foreign keys."""
    df = wh.query("SELECT c.table_schema, c.table_name, c.column_name, c.ordinal_position, c.data_type, "
                  "t.table_type FROM information_schema.columns c JOIN information_schema.tables t "
                  "ON t.table_schema = c.table_schema AND t.table_name = c.table_name "
                  "WHERE c.table_schema IN ('core', 'mart')")
    out = {(r.table_schema, r.table_name, r.column_name): f"{r.table_type}:{r.ordinal_position}:{r.data_type}"
           for r in df.itertuples()}
    keys = wh.query("SELECT c.constraint_type, k.table_schema, k.table_name, k.column_name, k.ordinal_position "
                    "FROM information_schema.table_constraints c JOIN information_schema.key_column_usage k "
                    "ON k.constraint_name = c.constraint_name AND k.table_schema = c.table_schema "
                    "AND k.table_name = c.table_name "
                    "WHERE c.constraint_type IN ('PRIMARY KEY', 'FOREIGN KEY') AND c.table_schema IN ('core', 'mart')")
    out.update({("key" if r.constraint_type == "PRIMARY KEY" else "fk", f"{r.table_schema}.{r.table_name}",
                 r.column_name): str(r.ordinal_position) for r in keys.itertuples()})
    return out


def _as_the_release_before(wh: Warehouse, schema: Path) -> None:
    """The release before's apply_schema: its files run, no revision recorded."""
    with wh.transaction() as conn:
        for path in sorted(schema.glob("*.sql")):
            for stmt in split_sql(path.read_text(encoding="utf-8")):
                conn.exec_driver_sql(stmt)
        conn.exec_driver_sql(
            "INSERT INTO core.submissions (submission_id, sha256, original_name, landing_path, archive_path, "
            "size_bytes, received_at, week, status) VALUES ('s1', 'ab', '焦东村周报.csv', 'p', 'a', 1, "
            "TIMESTAMP '2026-11-22 20:00:00', '2026-W47', 'loaded')")
        # A mart row of that release: a float sum, and a month its (then absent) dim_month lacks.
        conn.exec_driver_sql(
            "INSERT INTO mart.dim_week (week, week_start, week_end, month, iso_year, iso_week, days_in_month, loaded) "
            "VALUES ('2026-W47', DATE '2026-11-16', DATE '2026-11-22', '2026-11', 2026, 47, 7, TRUE)")
        conn.exec_driver_sql(
            "INSERT INTO mart.weekly_summary (week, month, region_code, region_name, level, microcredit_wan, "
            "refreshed_at) VALUES ('2026-W47', '2026-11', '411600000000', '周口市', '市', 1434.6000000000001, "
            "CURRENT_TIMESTAMP)")


@contextmanager
def two_warehouses(engine: str, tmp_path: Path):
    if engine == "duckdb":
        yield Warehouse(f"duckdb:///{tmp_path / 'old.duckdb'}"), Warehouse(f"duckdb:///{tmp_path / 'new.duckdb'}")
        return
    with throwaway_postgres() as old_url, throwaway_postgres() as new_url:
        old, new = Warehouse(old_url), Warehouse(new_url)
        try:
            yield old, new
        finally:
            old.dispose()
            new.dispose()


@pytest.mark.parametrize("engine", ["duckdb", "postgresql"])
def test_the_release_befores_warehouse_is_migrated_to_a_new_ones_schema(engine, tmp_path):
    with two_warehouses(engine, tmp_path) as (old, new):
        _as_the_release_before(old, release_before_schema(tmp_path / "schema-before"))
        assert old.apply_schema() == (migrations.BASELINE, migrations.head())
        assert new.apply_schema() == (None, migrations.head())
        assert shape(old) == shape(new)
        assert len(shape(new)) > 300
        assert shape(new)[("key", "mart.weekly_summary", "region_code")] == "2"
        fks = {k for k in shape(new) if k[0] == "fk"}
        # Foreign keys on PostgreSQL only (DuckDB refuses the refreshes' delete-insert of a referenced row).
        assert (("fk", "mart.weekly_summary", "region_code") in fks) == (engine == "postgresql")
        assert len(fks) == (10 if engine == "postgresql" else 0)
        money = "numeric" if engine == "postgresql" else "DECIMAL(18,4)"
        assert shape(old)[("mart", "monthly_conclusion", "microcredit_wan")].endswith(money)
        assert shape(old)[("mart", "discrepancies", "region_code")].startswith("VIEW")
        assert old.scalar("SELECT original_name FROM core.submissions") == "焦东村周报.csv"
        assert old.scalar("SELECT CAST(microcredit_wan AS VARCHAR) FROM mart.weekly_summary") == "1434.6000"
        assert old.scalar("SELECT version_num FROM core.alembic_version") == migrations.head()
        assert old.apply_schema() is None and new.apply_schema() is None  # nothing left to run


def test_a_new_revision_runs_once_on_an_existing_warehouse(tmp_path, monkeypatch):
    """A revision added after a warehouse was created runs on it at the next task, once."""
    scripts = tmp_path / "migrations"
    shutil.copytree(migrations.MIGRATIONS_DIR, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(migrations, "MIGRATIONS_DIR", scripts)
    wh = Warehouse(f"duckdb:///{tmp_path / 'wh.duckdb'}")
    wh.apply_schema()
    (scripts / "versions" / "9999_probe.py").write_text(
        'revision = "9999"\ndown_revision = ' + repr(migrations.head()) + '\n'
        "from alembic import op\n\n\ndef upgrade():\n"
        "    op.execute(\"ALTER TABLE core.submissions ADD COLUMN probe VARCHAR DEFAULT '迁移'\")\n",
        encoding="utf-8")
    assert wh.apply_schema()[1] == "9999"
    assert "probe" in wh.columns("core.submissions")
    assert wh.apply_schema() is None
    wh.dispose()


@pytest.mark.slow
def test_a_week_loaded_by_the_release_before_is_kept_and_the_next_loads(tmp_path):
    """The release before loads W45 in its home (DuckDB 2's own storage format); this
    release migrates it (`huizong migrate`) and loads W46 there; the schema equals a new
    warehouse's, W45's rows are all kept, and the DuckDB CLI opens the file."""
    before = tree_at(RELEASE_BEFORE, tmp_path / "before-src")
    landing = make_landing(REPO, tmp_path / "world" / "landing")
    home = tmp_path / "home"
    shutil.copytree(landing, home / "landing")
    huizong(before, home, "ingest", "--weeks", "2026-W45")
    wh = Warehouse(f"duckdb:///{home / 'warehouse.duckdb'}")
    tables = [t for t in wh.query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'core' "
                                  "AND table_type = 'BASE TABLE'")["table_name"] if t not in ("schema_applied",)]
    kept = {t: wh.scalar(f"SELECT count(*) FROM core.{t} WHERE week = '2026-W45'")
            for t in tables if "week" in wh.columns(f"core.{t}")}
    wh.dispose()
    assert kept["submissions"] > 100 and kept["ledger_households"] > 1000
    said = huizong(REPO, home, "migrate")
    assert "数据仓库结构已升级" in said and "DuckDB 1.0 存储格式" in said, said
    # Rewritten in a format the DuckDB CLI from PyPI (a 1.x build) opens.
    cli = subprocess.run([str(Path(sys.executable).with_name("duckdb")), "-readonly", "-csv", "-noheader",
                          str(home / "warehouse.duckdb"), "-c",
                          "SELECT count(*) FROM core.submissions WHERE week = '2026-W45'"],
                         capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0 and int(cli.stdout) == kept["submissions"], cli.stderr
    huizong(REPO, home, "ingest", "--weeks", "2026-W46")
    wh = Warehouse(f"duckdb:///{home / 'warehouse.duckdb'}")
    fresh = Warehouse(f"duckdb:///{tmp_path / 'fresh.duckdb'}")
    fresh.apply_schema()
    assert shape(wh) == shape(fresh)
    assert {t: wh.scalar(f"SELECT count(*) FROM core.{t} WHERE week = '2026-W45'") for t in kept} == kept
    assert wh.scalar("SELECT count(*) FROM core.loads WHERE week = '2026-W46'") >= 1
    wh.dispose()
    fresh.dispose()
