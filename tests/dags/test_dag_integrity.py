"""DAG files: import cleanly, stay thin, touch nothing while parsed."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAG_FILES = sorted((REPO / "dags").glob("*.py"))


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_imports_nothing_heavy_and_opens_no_connection(path):
    """Parse the DAG file in a fresh interpreter with the network and databases poisoned."""
    probe = f"""
import json, socket, sys
def _refuse(*a, **k):
    raise RuntimeError("network touched while parsing a DAG file")
socket.socket.connect = _refuse
socket.create_connection = _refuse
before = set(sys.modules)
import importlib.util
spec = importlib.util.spec_from_file_location("dagfile", {str(path)!r})
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
from airflow.sdk import DAG
dags = [v for v in vars(mod).values() if isinstance(v, DAG)]
light = ('pipelines', 'pipelines.dag_defaults')  # the DAGs' shared defaults: stdlib and airflow.sdk only
heavy = sorted(m for m in set(sys.modules) - before
               if m.split('.')[0] in ('pandas', 'great_expectations', 'duckdb', 'pyarrow', 'pipelines', 'sqlalchemy_utils', 'psycopg')
               and m not in light)
print(json.dumps({{"dags": [d.dag_id for d in dags], "heavy": heavy}}))
"""
    env = {**os.environ, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "sqlite:////nonexistent-huizong-dir/airflow.db"}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["dags"], "no DAG defined"
    assert result["heavy"] == [], f"heavy modules imported at parse time: {result['heavy']}"


def test_weekly_ingest_shape():
    from pipelines.orchestrate import load_dag

    dag = load_dag("weekly_ingest")
    assert dag.dag_id == "weekly_ingest"
    assert "huizong" in dag.tags and dag.doc_md
    assert set(dag.task_ids) == {"discover", "choose_path", "process_group", "data_docs", "publish", "consolidate",
                                 "review", "weekly_summary", "apply_changes"}
    for t in dag.tasks:
        assert t.retries >= 1, t.task_id
        assert t.execution_timeout is not None and t.execution_timeout.total_seconds() == 7200, t.task_id
    # Mapped per batch of groups (county folders), not per file.
    assert type(dag.get_task("process_group")).__name__ == "DecoratedMappedOperator"
    assert dag.get_task("weekly_summary").outlets, "weekly_summary must emit the weekly-load asset"
    up = lambda t: dag.get_task(t).upstream_task_ids  # noqa: E731
    # The plan decides the path: choose_path is the only branch, right after discover, and
    # every task of either path follows it directly (skipped at once when not taken).
    assert up("choose_path") == {"discover"}
    assert dag.get_task("choose_path").downstream_task_ids == set(dag.task_ids) - {"discover", "choose_path"}
    # Data Docs sit beside the main line (its second slot, while publish runs), not on it.
    assert up("data_docs") == {"discover", "choose_path", "process_group"}
    assert up("publish") == {"discover", "choose_path", "process_group"}
    assert not dag.get_task("data_docs").downstream_task_ids
    assert up("weekly_summary") == {"discover", "choose_path", "review"}
    # A published week's small change: one task beside the full path, emitting the same asset.
    assert up("apply_changes") == {"discover", "choose_path"} and not dag.get_task("apply_changes").downstream_task_ids
    assert dag.get_task("apply_changes").outlets == dag.get_task("weekly_summary").outlets
    # The quick path runs the full path's steps in the DAG's order (one declaration: pipelines.weekly).
    from pipelines import weekly

    order = [t.task_id for t in dag.topological_sort()]
    steps = [s.__name__ for s in weekly.AFTER_DISCOVER]
    assert set(steps) <= set(order)
    line = [s for s in steps if s != "data_docs"]  # data_docs sits beside the line, after process_group
    assert line == sorted(line, key=order.index) and order.index("data_docs") > order.index("process_group")
    # Monday 12:00 Shanghai, after the 10:00 deadline.
    assert dag.timetable.expression == "0 12 * * 1"
    assert str(dag.timetable.timezone) in ("Asia/Shanghai", "+08:00")
