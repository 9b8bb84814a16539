"""The PostgreSQL warehouse path: a generated week loads the same rows as on DuckDB."""
from __future__ import annotations

import datetime as dt
import decimal
import math

import pandas as pd
import pytest

from tests.conftest import run_pipeline_weeks
from tests.native._support import pg_url, throwaway_database

pytestmark = pytest.mark.slow

WEEK = "2026-W47"
TABLES = ["core.ledger_households", "core.village_reports", "core.submissions", "core.findings",
          "core.discrepancies", "core.consolidated", "core.reporting_status"]


def _norm(v):
    """One representation per value across DuckDB and PostgreSQL drivers."""
    if v is None or v is pd.NaT:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, (bool,)):
        return v
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):  # numpy scalars
        v = v.item()
    if isinstance(v, decimal.Decimal):
        v = float(v)
    if isinstance(v, float):
        return int(v) if v.is_integer() else round(v, 9)
    if isinstance(v, pd.Timestamp):
        v = v.to_pydatetime()
    if isinstance(v, dt.datetime):
        return (v.astimezone(dt.timezone.utc) if v.tzinfo else v).isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    return v


def _snapshot(url: str) -> dict[str, list[tuple]]:
    from pipelines.warehouse import Warehouse

    wh = Warehouse(url)
    try:
        out = {}
        for table in TABLES:
            cols = [c for c in wh.columns(table) if c not in ("loaded_at",)]
            df = wh.query(f"SELECT {', '.join(chr(34) + c + chr(34) for c in cols)} FROM {table} WHERE week = :w", {"w": WEEK})
            rows = [tuple(_norm(v) for v in r) for r in df.itertuples(index=False, name=None)]
            out[table] = (cols, sorted(rows, key=repr))
        return out
    finally:
        wh.dispose()


def test_week_on_postgres_warehouse_equals_duckdb(tmp_path, monkeypatch):
    """A generated week, then a village's corrected report (an incremental publish):
    both warehouses hold the same rows after each."""
    from pipelines.consolidate import consolidate
    from tests.week_run import stage_and_publish
    from pipelines.synth import generate

    for var in ("HUIZONG_LANDING_URL", "HUIZONG_LAKE_URL", "HUIZONG_ARCHIVE_URL"):
        monkeypatch.delenv(var, raising=False)
    # One key for both runs: ID numbers are stored as a keyed hash (pipelines/pii.py).
    monkeypatch.setenv("HUIZONG_PII_KEY", "huizong-native-test-pii-key")
    snaps = {}
    with throwaway_database("wh") as db:
        for name, url in (("duckdb", None), ("postgresql", pg_url(db))):
            home = tmp_path / name
            monkeypatch.setenv("HUIZONG_HOME", str(home))
            url = url or f"duckdb:///{home / 'warehouse.duckdb'}"
            monkeypatch.setenv("HUIZONG_WAREHOUSE_URL", url)
            generate(out=str(home / "landing"), weeks=WEEK, scale="0.02", faults="default", seed=5)
            run_pipeline_weeks([WEEK])
            snaps[name] = _snapshot(url)
            # A corrected village report: the week is published again incrementally
            # (only the affected submissions' rows deleted and inserted).
            _resend_one_village_report(home / "landing" / WEEK)
            published = stage_and_publish(WEEK)
            assert published["mode"] == "incremental" and published["rewritten_submissions"] > 0, published
            consolidate(WEEK)
            snaps[f"{name}-resubmitted"] = _snapshot(url)
    for first, second in (("duckdb", "postgresql"), ("duckdb-resubmitted", "postgresql-resubmitted")):
        _same(snaps[first], snaps[second])
    assert snaps["duckdb"] != snaps["duckdb-resubmitted"]


def _resend_one_village_report(week_dir) -> None:
    """A village sends its report again an hour later (one more line ending: new bytes)."""
    import os

    village = next(p for p in sorted(week_dir.rglob("*周报*.csv")) if "村" in p.name)
    again = village.with_name(village.stem + "（更正）" + village.suffix)
    again.write_bytes(village.read_bytes() + b"\n")
    t = village.stat().st_mtime + 3600
    os.utime(again, (t, t))


def _same(duck: dict, pg: dict) -> None:
    assert len(duck["core.ledger_households"][1]) > 100
    assert len(duck["core.findings"][1]) > 0  # faults="default" injects errors
    assert len(duck["core.reporting_status"][1]) > 0
    for table in TABLES:
        assert duck[table][0] == pg[table][0], table
        d, p = duck[table][1], pg[table][1]
        assert len(d) == len(p), (table, len(d), len(p))
        diff = [(a, b) for a, b in zip(d, p) if a != b]
        assert not diff, (table, diff[:3])
