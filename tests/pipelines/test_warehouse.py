"""pipelines.warehouse on the embedded DuckDB: its buffer pool is bounded."""
from __future__ import annotations

import pytest

from pipelines.warehouse import Warehouse


def _limit(wh: Warehouse) -> str:
    return wh.scalar("SELECT current_setting('memory_limit')")


def test_duckdb_memory_is_bounded_by_default(tmp_path, monkeypatch):
    monkeypatch.delenv("HUIZONG_DUCKDB_MEMORY_LIMIT", raising=False)
    wh = Warehouse(f"duckdb:///{tmp_path / 'w.duckdb'}")
    assert _limit(wh) == "488.2 MiB"  # 512 MB, as DuckDB prints it


@pytest.mark.parametrize("env, url_query, expected", [
    ("2GB", "", "1.8 GiB"),
    ("2GB", "?memory_limit=256MB", "244.1 MiB"),  # the URL wins
])
def test_duckdb_memory_limit_from_setting_or_url(tmp_path, monkeypatch, env, url_query, expected):
    monkeypatch.setenv("HUIZONG_DUCKDB_MEMORY_LIMIT", env)
    wh = Warehouse(f"duckdb:///{tmp_path / 'w.duckdb'}{url_query}")
    assert _limit(wh) == expected


def test_duckdb_draws_no_progress_bar(tmp_path, monkeypatch):
    """DuckDB would draw a progress bar on stdout for long queries: noise in task logs."""
    for query in ("", "?memory_limit=256MB"):
        wh = Warehouse(f"duckdb:///{tmp_path / 'w.duckdb'}{query}")
        assert wh.scalar("SELECT current_setting('enable_progress_bar')") is False


def test_delete_in_deletes_only_the_listed_values_of_the_week(tmp_path):
    wh = Warehouse(f"duckdb:///{tmp_path / 'w.duckdb'}")
    _update_case(wh)
    with wh.transaction() as conn:
        wh.delete_in(conn, "core.submissions", "submission_id", ["s1", "s3", "nope"], {"week": "2026-W47"})
        wh.delete_in(conn, "core.submissions", "submission_id", [], {"week": "2026-W47"})
    left = _submissions(wh)
    assert list(zip(left["submission_id"], left["week"])) == [("s2", "2026-W47"), ("s3", "2026-W46")]


def _submissions(wh: Warehouse):
    return wh.query("SELECT submission_id, week, status, n_errors, unit_name FROM core.submissions "
                    "ORDER BY submission_id")


def _update_case(wh: Warehouse) -> None:
    import pandas as pd

    wh.apply_schema()
    base = dict(sha256="x", original_name="a.xlsx", landing_path="a.xlsx", archive_path="x", size_bytes=1,
                received_at=pd.Timestamp("2026-11-23T08:00", tz="UTC"), status="received")
    rows = pd.DataFrame([{**base, "submission_id": "s1", "week": "2026-W47"},
                         {**base, "submission_id": "s2", "week": "2026-W47"},
                         {**base, "submission_id": "s3", "week": "2026-W46"}])
    with wh.transaction() as conn:
        wh.insert(conn, "core.submissions", rows)
    upd = pd.DataFrame({"submission_id": ["s1", "s3", "s9"], "status": ["loaded", "rejected", "loaded"],
                        "n_errors": [0, 2, 1], "unit_name": [None, "某村", "别村"]})
    with wh.transaction() as conn:
        wh.update(conn, "core.submissions", upd, key="submission_id", where={"week": "2026-W47"})
    got = _submissions(wh)
    # s1 (this week) takes the new values; s2 is not in the update; s3 is another week; s9 is unknown
    assert got["status"].tolist() == ["loaded", "received", "received"]
    assert got["n_errors"].isna().tolist() == [False, True, True] and int(got["n_errors"][0]) == 0
    assert got["unit_name"].isna().all()
    assert len(got) == 3
    # Only rows with a differing value are written; a value to NULL and NULL to a value both count.
    again = pd.DataFrame({"submission_id": ["s1", "s2"], "status": ["loaded", "received"],
                          "n_errors": [None, None], "unit_name": ["新村", None]})
    with wh.transaction() as conn:
        wh.update(conn, "core.submissions", again, key="submission_id", where={"week": "2026-W47"})
    got = _submissions(wh)
    assert got["status"].tolist() == ["loaded", "received", "received"]
    assert got["n_errors"].isna().tolist() == [True, True, True]
    assert got["unit_name"].tolist()[:1] == ["新村"] and got["unit_name"][1:].isna().all()


def test_update_sets_columns_by_key_within_the_week_on_duckdb(tmp_path):
    _update_case(Warehouse(f"duckdb:///{tmp_path / 'w.duckdb'}"))


def _on_postgresql(case) -> None:
    from tests.mart.helpers import throwaway_postgres  # a fresh database on the machine's PostgreSQL

    with throwaway_postgres() as url:
        wh = Warehouse(url)
        try:
            case(wh)
        finally:
            wh.dispose()


def test_update_sets_columns_by_key_within_the_week_on_postgresql():
    _on_postgresql(_update_case)


def _present_case(wh: Warehouse) -> None:
    _update_case(wh)
    # any week; absent values, repeats and no values at all
    assert wh.present("core.submissions", "submission_id", ["s3", "s1", "nope", "s1"]) == {"s1", "s3"}
    assert wh.present("core.submissions", "submission_id", []) == set()


def test_present_finds_the_listed_values_on_duckdb(tmp_path):
    _present_case(Warehouse(f"duckdb:///{tmp_path / 'w.duckdb'}"))


def test_present_finds_the_listed_values_on_postgresql():
    _on_postgresql(_present_case)


def _hold_duckdb(path, seconds: float):
    """Another process that opens the DuckDB file and keeps it for ``seconds``."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                             "c.execute('CREATE TABLE IF NOT EXISTS t (x INT)'); print('held', flush=True); "
                             "time.sleep(float(sys.argv[2]))", str(path), str(seconds)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_duckdb_waits_for_another_process_holding_the_file(tmp_path):
    import time

    path = tmp_path / "w.duckdb"
    holder = _hold_duckdb(path, 1.5)
    t0 = time.monotonic()
    try:
        assert Warehouse(f"duckdb:///{path}", lock_wait=30).scalar("SELECT count(*) FROM t") == 0
    finally:
        holder.wait()
    assert time.monotonic() - t0 >= 0.5, "it waited for the holder to let go"


def test_duckdb_gives_up_after_the_lock_wait(tmp_path):
    import sqlalchemy as sa

    path = tmp_path / "w.duckdb"
    holder = _hold_duckdb(path, 5)
    try:
        with pytest.raises(sa.exc.OperationalError, match="lock"):
            Warehouse(f"duckdb:///{path}", lock_wait=0.3).scalar("SELECT 1")
    finally:
        holder.kill()
        holder.wait()


def test_schema_is_applied_again_only_when_its_files_change(tmp_path):
    import shutil

    from pipelines.warehouse import SCHEMA_DIR

    schema = tmp_path / "schema"
    shutil.copytree(SCHEMA_DIR, schema)
    wh = Warehouse(f"duckdb:///{tmp_path / 'wh.duckdb'}")
    assert wh.schema_digest() is None
    wh.apply_schema(schema)
    first = wh.schema_digest()
    assert first and wh.scalar("SELECT count(*) FROM core.schema_applied") == 1
    with wh.transaction() as conn:  # a table gone behind the schema's back stays gone while the files are unchanged
        conn.exec_driver_sql("DROP TABLE core.loads")
    wh.apply_schema(schema)
    assert wh.schema_digest() == first
    assert not wh.scalar("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'core' AND table_name = 'loads'")
    (schema / "003_more.sql").write_text("CREATE TABLE IF NOT EXISTS core.extra (x INTEGER);\n", encoding="utf-8")
    wh.apply_schema(schema)  # the files changed: every statement runs again
    assert wh.schema_digest() not in (None, first) and wh.scalar("SELECT count(*) FROM core.schema_applied") == 1
    assert wh.scalar("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'core' "
                     "AND table_name IN ('loads', 'extra')") == 2
    wh.dispose()
