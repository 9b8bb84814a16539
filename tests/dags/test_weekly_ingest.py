"""weekly_ingest through Airflow for real (dag.test on the SQLite metadata DB).

dag.test() logs task failures instead of raising, so each test checks the run's state
and the rows the run produced.
"""
from __future__ import annotations

import json

import pytest

from pipelines.orchestrate import load_dag, run_week
from pipelines.ingest.schedule import run_date_for_week
from pipelines.settings import get_settings
from pipelines.warehouse import Warehouse

pytestmark = pytest.mark.slow


def _task_states(dr) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for ti in dr.get_task_instances():
        out.setdefault(ti.task_id, []).append(str(ti.state))
    return out


def test_examples_week_through_airflow(airflow_db, examples_landing):
    dr = run_week("2026-W47")
    states = _task_states(dr)
    assert "success" in str(dr.state), states
    assert all("success" in s for v in states.values() for s in v), states
    assert len(states["process_group"]) == 1  # one county folder → one mapped task
    wh = Warehouse(get_settings().warehouse_url)
    assert wh.scalar("SELECT COUNT(*) FROM core.ledger_households WHERE week = '2026-W47'") == 44
    assert wh.scalar("SELECT COUNT(*) FROM core.findings WHERE severity = 'error'") == 1
    assert wh.scalar("SELECT COUNT(*) FROM core.loads WHERE week = '2026-W47'") == 1


def test_week_comes_from_the_logical_date_without_params(airflow_db, examples_landing):
    """A scheduled run (no params) on Monday 2026-11-23 12:00 processes 2026-W47."""
    from pipelines.orchestrate import prepare_airflow

    prepare_airflow()
    dag = load_dag("weekly_ingest")
    dr = dag.test(logical_date=run_date_for_week("2026-W47"))
    assert "success" in str(dr.state), _task_states(dr)
    wh = Warehouse(get_settings().warehouse_url)
    assert wh.query("SELECT week FROM core.loads")["week"].tolist() == ["2026-W47"]
