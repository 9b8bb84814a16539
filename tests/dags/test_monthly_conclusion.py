"""monthly_conclusion through Airflow for real (dag.test on the session's SQLite metadata DB)."""
from __future__ import annotations

import shutil

import pytest

from pipelines.orchestrate import load_dag, run_month
from pipelines.report.monthly import month_for_run
from pipelines.warehouse import Warehouse
from tests.mart.helpers import month_world


def _states(dr) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dr.get_task_instances()}


def test_monthly_conclusion_shape():
    dag = load_dag("monthly_conclusion")
    assert set(dag.task_ids) == {"plan_month", "check_month", "build_mart", "write_reports"}
    assert "huizong" in dag.tags and "monthly" in dag.tags and dag.doc_md
    assert "month" in dag.params
    assert all(t.retries >= 1 for t in dag.tasks if t.task_id != "check_month")
    uris = {a.uri for a in dag.timetable.asset_condition.objects}
    assert uris == {"huizong://warehouse/core/weekly_load"}
    # The consumer listens to exactly what weekly_ingest emits.
    ingest = load_dag("weekly_ingest")
    emitted = {a.uri for t in ingest.tasks for a in (t.outlets or [])}
    assert emitted == uris


def test_month_comes_from_param_then_event_then_loads():
    assert month_for_run("2026-11", [{"week": "2026-W49", "month": "2026-12"}]) == "2026-11"
    assert month_for_run("", [{"week": "2026-W47", "month": "2026-11"}, {"week": "2026-W49", "month": "2026-12"}]) == "2026-12"
    assert month_for_run(None, [{"week": "2026-W44"}]) == "2026-10"
    with pytest.raises(ValueError):
        month_for_run("2026/11")


@pytest.fixture
def month_home(tmp_path, tmp_path_factory, monkeypatch):
    """A HUIZONG_HOME whose warehouse holds all four weeks of 2026-11."""
    world = month_world(str(tmp_path_factory.getbasetemp() / "worlds"))
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(world["home"] / "warehouse.duckdb", home / "warehouse.duckdb")
    monkeypatch.setenv("HUIZONG_HOME", str(home))
    monkeypatch.delenv("HUIZONG_WAREHOUSE_URL", raising=False)
    return home


@pytest.mark.slow
def test_monthly_conclusion_runs_when_all_weeks_are_loaded(airflow_db, month_home):
    dr = run_month("2026-11", month_home)
    states = _states(dr)
    assert "success" in str(dr.state), states
    assert all("success" in s for s in states.values()), states
    wh = Warehouse(f"duckdb:///{month_home / 'warehouse.duckdb'}")
    mc = wh.query("SELECT * FROM mart.monthly_conclusion WHERE month = '2026-11'")
    assert len(mc) > 0 and set(mc["level"]) == {"市", "县", "乡镇"}
    assert (mc["weeks_loaded"] == 4).all() and (mc["weeks_in_month"] == 4).all()
    assert wh.scalar("SELECT COUNT(DISTINCT week) FROM mart.weekly_summary") == 4
    reports = sorted((month_home / "reports" / "2026-11").glob("*"))
    assert any(p.name == "2026-11_周口市_月总结.html" for p in reports)
    assert len([p for p in reports if p.suffix == ".xlsx"]) == 11   # the city and ten counties


@pytest.mark.slow
def test_monthly_conclusion_skips_while_a_week_is_missing(airflow_db, month_home):
    wh = Warehouse(f"duckdb:///{month_home / 'warehouse.duckdb'}")
    with wh.transaction() as conn:
        conn.exec_driver_sql("DELETE FROM core.loads WHERE week = '2026-W48'")
    dr = run_month("2026-11", month_home)
    states = _states(dr)
    assert states["plan_month"].endswith("success"), states
    assert states["check_month"].endswith("skipped"), states
    assert states["build_mart"].endswith("skipped") and states["write_reports"].endswith("skipped"), states
    assert wh.scalar("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'mart' "
                     "AND table_name = 'monthly_conclusion'") in (0, 1)
    if wh.scalar("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'mart' "
                 "AND table_name = 'monthly_conclusion'"):
        assert wh.scalar("SELECT COUNT(*) FROM mart.monthly_conclusion") == 0
    assert not (month_home / "reports" / "2026-11").exists()
