"""The real Airflow scheduler (not dag.test) runs weekly_ingest with the LocalExecutor on
a PostgreSQL metadata database, loading a PostgreSQL warehouse.

Airflow 3 splits what used to be one scheduler: the dag-processor parses dags/ into the
metadata DB, the scheduler creates and queues task instances, and the LocalExecutor's
workers run each task through the api-server's execution API (JWT-authenticated).
Three runs are triggered: the shared examples (2026-W47), a generated week whose county
folders become mapped tasks running side by side against the PostgreSQL warehouse, and
that week again after a village's corrected report arrived (one task, apply_changes), and
once more when a steward, having waived the finding it brought, re-runs the week from the
review app (the plugin's API on the api-server).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from huizong_dev.native_airflow import SCHEDULER_TUNING
from tests.conftest import REPO
from tests.native._support import (WEEK, airflow, free_port, landing, meta, pg_url, stop, tails,
                                   throwaway_database, wait)

pytestmark = pytest.mark.slow

RUN_ID = "native_scheduler_2026-W47"
# Far from 2026-W47, so the examples (another world) are no previous week to compare with.
GEN_WEEK, GEN_RUN_ID = "2027-W20", "native_scheduler_2027-W20"
FIX_RUN_ID = "native_scheduler_2027-W20_corrected"


def test_scheduler_runs_weekly_ingest_with_local_executor(tmp_path):
    import httpx

    home = tmp_path / "home"
    landing(home)
    af_home = tmp_path / "airflow"
    logs = af_home / "logs"
    logs.mkdir(parents=True)
    port = free_port()
    with throwaway_database("meta") as meta_db, throwaway_database("wh") as wh_db:
        env = {
            "PATH": os.environ["PATH"], "HOME": str(tmp_path), "LANG": "C.UTF-8",
            "PYTHONPATH": str(REPO),
            "AIRFLOW_HOME": str(af_home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": pg_url(meta_db),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": pg_url(meta_db, "psycopg_async"),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "8",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DEFAULT_TIMEZONE": "Asia/Shanghai",
            "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(af_home / "passwords.json"),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__API__SECRET_KEY": "huizong-native-test-api-secret",
            "AIRFLOW__API_AUTH__JWT_SECRET": "huizong-native-test-jwt-secret",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(logs),
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            **SCHEDULER_TUNING,  # as in docker-compose.yml
            "GX_ANALYTICS_ENABLED": "False",
            "HUIZONG_HOME": str(home),
            # one mapped task per county folder (a real week packs ~3000 files per task)
            "HUIZONG_TASK_FILES": "1",
            "HUIZONG_WAREHOUSE_URL": pg_url(wh_db),
            # No scheduled run can fall due: the only run is the one triggered below.
            "HUIZONG_START_DATE": "2099-01-05T12:00",
        }
        migrate = airflow(env, "db", "migrate")
        assert migrate.returncode == 0, migrate.stderr[-3000:]

        procs: dict[str, subprocess.Popen] = {}
        handles = []
        try:
            for name, args in (("api-server", ["api-server", "--port", str(port)]),
                               ("dag-processor", ["dag-processor"]),
                               ("scheduler", ["scheduler"])):
                log = open(logs / f"{name}.log", "w")
                handles.append(log)
                procs[name] = subprocess.Popen([sys.executable, "-m", "airflow", *args], env=env, stdout=log,
                                               stderr=subprocess.STDOUT, start_new_session=True)

            def api_up():
                try:
                    return httpx.get(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=5).status_code == 200
                except httpx.HTTPError:
                    return False

            wait("the api-server", api_up, 180, procs, logs)
            wait("weekly_ingest to be parsed", lambda: meta(
                meta_db, "SELECT 1 FROM serialized_dag WHERE dag_id = 'weekly_ingest'"), 180, procs, logs)

            unpause = airflow(env, "dags", "unpause", "weekly_ingest")
            assert unpause.returncode == 0, unpause.stderr[-3000:]

            def run(week: str, run_id: str) -> list[tuple]:
                trigger = airflow(env, "dags", "trigger", "weekly_ingest", "--run-id", run_id,
                                   "--conf", json.dumps({"week": week}))
                assert trigger.returncode == 0, trigger.stderr[-3000:]

                def finished():
                    rows = meta(meta_db, "SELECT state FROM dag_run WHERE dag_id = 'weekly_ingest' "
                                          "AND run_id = %s", (run_id,))
                    return rows and rows[0][0] in ("success", "failed") and rows[0][0]

                state = wait(f"run {run_id} to finish", finished, 360, procs, logs, every=3)
                tis = meta(meta_db, "SELECT task_id, map_index, state, try_number, start_date, end_date "
                                     "FROM task_instance WHERE dag_id = 'weekly_ingest' AND run_id = %s "
                                     "ORDER BY task_id, map_index", (run_id,))
                assert state == "success", (tis, tails(logs))
                return tis

            tis = run(WEEK, RUN_ID)
            # A generated week with a folder per county: the mapped tasks run side by side.
            from pipelines.synth import generate

            gen = generate(out=str(home / "landing"), weeks=GEN_WEEK, scale="0.03", faults="none", seed=21)
            gen_tis = run(GEN_WEEK, GEN_RUN_ID)
            # A village's corrected report after the week was published: one task applies it.
            from tests.reliability.world import add_corrected_village_report

            fix = add_corrected_village_report(home / "landing", GEN_WEEK)
            fix_tis = run(GEN_WEEK, FIX_RUN_ID)
            # A steward waives the finding the correction brought and runs the week again from
            # the review app (the plugin, served by the api-server, as the logged-in user).
            base = f"http://127.0.0.1:{port}"
            password = json.loads((af_home / "passwords.json").read_text())["admin"]
            login = httpx.post(f"{base}/auth/token", json={"username": "admin", "password": password}, timeout=30)
            assert login.status_code == 201, login.text
            h = {"Authorization": f"Bearer {login.json()['access_token']}"}
            found = httpx.get(f"{base}/huizong/api/findings", params={"week": GEN_WEEK, "severity": "error"},
                              headers=h, timeout=60).json()["findings"]
            (xlevel,) = [f["finding_id"] for f in found if f["rule"] == "xlevel.township_vs_village"]
            waived = httpx.post(f"{base}/huizong/api/findings/{xlevel}/waive", headers=h, timeout=60,
                                json={"reason": "乡镇已电话核实，以更正后的村报为准"})
            assert waived.status_code == 200, waived.text
            rerun = httpx.post(f"{base}/huizong/api/weeks/{GEN_WEEK}/rerun", headers=h, json={}, timeout=60)
            assert rerun.status_code == 200 and rerun.json()["created"], rerun.text
            assert rerun.json()["waiting"] == []  # unpaused, and the scheduler is alive: nothing to explain
            rerun_id = rerun.json()["run_id"]

            def rerun_finished():
                state = httpx.get(f"{base}/huizong/api/runs/{rerun_id}", headers=h, timeout=30).json()["state"]
                return state in ("success", "failed") and state

            rerun_state = wait(f"the steward's run {rerun_id}", rerun_finished, 360, procs, logs, every=3)
            rerun_tis = meta(meta_db, "SELECT task_id, state FROM task_instance WHERE dag_id = 'weekly_ingest' "
                                      "AND run_id = %s", (rerun_id,))
            rerun_by = meta(meta_db, "SELECT run_type, triggering_user_name FROM dag_run WHERE run_id = %s",
                            (rerun_id,))
            jobs = dict(meta(meta_db, "SELECT job_type, count(*) FROM job GROUP BY job_type"))
        finally:
            for proc in reversed(list(procs.values())):
                stop(proc)
            for h in handles:
                h.close()

        # Every task ran once, through the scheduler's executor (no dag.test, no retries).
        assert {"discover", "process_group", "publish", "consolidate", "review",
                "data_docs", "weekly_summary"} <= {t for t, *_ in tis}
        assert all(s == "success" and n == 1 for t, _, s, n, *_ in tis + gen_tis if t != "apply_changes"), tis + gen_tis
        assert [s for t, _, s, *_ in tis + gen_tis if t == "apply_changes"] == ["skipped"] * 2, tis + gen_tis
        # The correction: discover chose the quick path, the full path's tasks were skipped.
        assert {t: s for t, _, s, *_ in fix_tis} == {
            "discover": "success", "choose_path": "success", "apply_changes": "success", **{t: "skipped" for t in (
                "process_group", "data_docs", "publish", "consolidate", "review", "weekly_summary")}}, fix_tis
        # The steward's run: created as the steward, applied in one task (nothing to parse).
        assert rerun_state == "success" and rerun_by == [("manual", "admin")], (rerun_state, rerun_tis)
        assert {t: s for t, s in rerun_tis if s == "success"} == {
            "discover": "success", "choose_path": "success", "apply_changes": "success"}
        assert [m for t, m, *_ in tis if t == "process_group"] == [0]  # one county folder
        mapped = [(start, end) for t, _m, _s, _n, start, end in gen_tis if t == "process_group"]
        assert len(mapped) >= 10, gen_tis
        overlap = max(sum(1 for s2, e2 in mapped if s2 < end and start < e2) for start, end in mapped)
        assert overlap >= 2, mapped  # LocalExecutor ran mapped tasks concurrently
        assert jobs.get("SchedulerJob") and jobs.get("DagProcessorJob"), jobs

        from pipelines.warehouse import Warehouse

        wh = Warehouse(pg_url(wh_db))
        try:
            assert wh.dialect == "postgresql"
            assert wh.scalar("SELECT COUNT(*) FROM core.ledger_households WHERE week = :w", {"w": WEEK}) == 44
            errors = wh.query("SELECT rule FROM core.findings WHERE severity = 'error' AND week = :w", {"w": WEEK})
            assert errors["rule"].tolist() == ["id_number.scientific"]
            loads = wh.query("SELECT week, run_id FROM core.loads ORDER BY week")
            assert loads.values.tolist() == [[WEEK, RUN_ID], [GEN_WEEK, rerun_id]]  # the steward's run published last
            status = wh.query("SELECT submission_id, status FROM core.submissions WHERE submission_id IN (:a, :b)",
                              {"a": fix["old"], "b": fix["new"]}).set_index("submission_id")["status"].to_dict()
            assert status == {fix["old"]: "superseded", fix["new"]: "loaded"}, status
            assert wh.scalar("SELECT COUNT(*) FROM core.submissions WHERE on_time AND week = :w", {"w": WEEK}) == 3
            exp = gen.expected[GEN_WEEK]["rows"]
            count = lambda sql: wh.scalar(sql, {"w": GEN_WEEK})  # noqa: E731
            assert count("SELECT COUNT(*) FROM core.ledger_households WHERE week = :w") == exp["ledger_plan"]
            assert count("SELECT COUNT(*) FROM core.village_reports WHERE week = :w") == exp["village_reports"]
            assert count("SELECT COUNT(*) FROM core.township_reports WHERE week = :w AND NOT is_total") \
                == exp["township_rows"]
            # A clean week; the only error is the one its correction brings: the village's changed
            # figure no longer adds up to its township's report.
            errors = wh.query("SELECT submission_id, rule FROM core.findings WHERE week = :w AND severity = 'error'",
                              {"w": GEN_WEEK})
            assert errors["rule"].tolist() == ["xlevel.township_vs_village"], errors
            assert count("SELECT COUNT(*) FROM core.discrepancies WHERE week = :w") == 1  # the same, consolidated
            # ... and the steward's waiver outlived the re-run (kept, not reopened)
            from pipelines.review import lifecycle

            assert lifecycle.status_of(xlevel, wh) == "waived"
        finally:
            wh.dispose()
        assert not (home / "warehouse.duckdb").exists()
