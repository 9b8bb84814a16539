"""The production stack's executor without Docker: the real scheduler runs weekly_ingest with
the CeleryExecutor, a Redis broker and a PostgreSQL result backend, as docker-compose.yml
configures them, and an `airflow celery worker` (concurrency 2) runs every task.

The Celery settings are taken from the airflow-worker service of docker-compose.yml, only
pointed at this machine: the broker at 127.0.0.1:6379 on a Redis database of this test's
own (REDIS_DB, flushed before and after, no other database touched), the result backend
and the metadata on a throwaway PostgreSQL database, the queue left at the file's choice.
The worker is declared ready by the compose file's own health check (`celery inspect ping`).

That a task ran through Celery is read from the metadata DB: the scheduler pre-assigns each
task instance's `external_executor_id` as the Celery task id, and the worker's result
backend (table celery_taskmeta in the same database) must hold a SUCCESS row for every one
of them; no other executor writes that table. Two runs, as in test_scheduler_postgres.py:
the shared examples (2026-W47) and a generated week whose county folders become mapped
tasks, run at most two at a time by the worker (its concurrency, not the scheduler's
parallelism of 8, is the limit).
"""
from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys

import pytest

from huizong_dev.bench import max_overlap
from huizong_dev.native_airflow import SCHEDULER_TUNING
from tests.conftest import REPO
from tests.native._support import (PG_HOST, PG_PORT, PG_USER, WEEK, airflow, free_port, landing, meta, pg_url,
                                   stop, tails, throwaway_database, wait)

pytestmark = pytest.mark.slow

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_DB = 11  # this test's own; only this database is flushed
WORKER_CONCURRENCY = 2

RUN_ID = "native_celery_2026-W47"
# Far from 2026-W47, so the examples (another world) are no previous week to compare with.
GEN_WEEK, GEN_RUN_ID = "2027-W20", "native_celery_2027-W20"


# ----------------------------------------------------------------------------- compose
def _compose_celery(meta_db: str) -> dict:
    """The Celery part of the airflow-worker service's environment, pointed at this machine.

    Scheme, driver and the broker URL's (empty) credentials stay as the compose file has them;
    only host, port, database and user change.
    """
    import sqlalchemy as sa
    from urllib.parse import urlsplit

    from tests.deploy._compose import load_compose, service_env

    compose = load_compose()
    env = service_env(compose, "airflow-worker")
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", env["AIRFLOW__CORE__EXECUTOR"]

    broker = urlsplit(env["AIRFLOW__CELERY__BROKER_URL"])
    assert broker.scheme == "redis", broker
    userinfo = broker.netloc.rpartition("@")[0]
    broker_url = f"{broker.scheme}://{userinfo + '@' if '@' in broker.netloc else ''}" \
                 f"{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}"

    def here(url: str) -> str:
        u = sa.engine.make_url(url).set(host=PG_HOST, port=PG_PORT, username=PG_USER, password=None,
                                        database=meta_db)
        return u.render_as_string(hide_password=False)

    backend = env["AIRFLOW__CELERY__RESULT_BACKEND"]
    assert backend.startswith("db+"), backend
    out = {
        "AIRFLOW__CORE__EXECUTOR": env["AIRFLOW__CORE__EXECUTOR"],
        "AIRFLOW__CELERY__BROKER_URL": broker_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + here(backend.removeprefix("db+")),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": here(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": here(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"]),
    }
    # Any other [celery] / queue setting the stack makes is made here too.
    for key, value in env.items():
        if key.startswith(("AIRFLOW__CELERY__", "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__",
                           "AIRFLOW__OPERATORS__DEFAULT_QUEUE")) and key not in out:
            out[key] = value
    worker = compose["services"]["airflow-worker"]
    command = worker["command"] if isinstance(worker["command"], list) else shlex.split(worker["command"])
    health = worker["healthcheck"]["test"]
    assert health[0] == "CMD-SHELL", health
    return {"env": out, "command": command, "health": health[1],
            "queue": env.get("AIRFLOW__OPERATORS__DEFAULT_QUEUE", "default")}


def _health_check(shell: str, hostname: str) -> list[str]:
    """The compose health check (a shell line) as an argv for this venv and this host."""
    argv = shlex.split(shell.replace("$${HOSTNAME}", hostname).replace("${HOSTNAME}", hostname))
    assert argv[0] == "celery", argv
    return [sys.executable, "-m", "celery", *argv[1:]]


# ----------------------------------------------------------------------------- redis
def _redis():
    import redis

    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB, socket_connect_timeout=5,
                         socket_timeout=10)
    try:
        client.ping()
    except Exception as exc:
        pytest.fail(f"Redis is required (make test's machine runs it); none at {REDIS_HOST}:{REDIS_PORT}: {exc}")
    return client


# ----------------------------------------------------------------------------- helpers


# ----------------------------------------------------------------------------- the test
def test_celery_worker_runs_weekly_ingest_with_redis_broker(tmp_path):
    import httpx

    broker = _redis()
    broker.flushdb()
    home = tmp_path / "home"
    landing(home)
    af_home = tmp_path / "airflow"
    logs = af_home / "logs"
    logs.mkdir(parents=True)
    port = free_port()
    hostname = socket.gethostname()
    try:
        with throwaway_database("meta") as meta_db, throwaway_database("wh") as wh_db:
            celery = _compose_celery(meta_db)
            env = {
                "PATH": os.environ["PATH"], "HOME": str(tmp_path), "LANG": "C.UTF-8",
                "PYTHONPATH": str(REPO),
                "AIRFLOW_HOME": str(af_home),
                **celery["env"],
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
                # The worker serves its task logs; not on the fixed 8793 another run may hold.
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                **SCHEDULER_TUNING,  # as in docker-compose.yml
                "GX_ANALYTICS_ENABLED": "False",
                "HUIZONG_HOME": str(home),
            # one mapped task per county folder (a real week packs ~3000 files per task)
            "HUIZONG_TASK_FILES": "1",
                "HUIZONG_WAREHOUSE_URL": pg_url(wh_db),
                # No scheduled run can fall due: the only runs are the ones triggered below.
                "HUIZONG_START_DATE": "2099-01-05T12:00",
            }
            migrate = airflow(env, "db", "migrate")
            assert migrate.returncode == 0, migrate.stderr[-3000:]

            procs: dict[str, subprocess.Popen] = {}
            handles = []
            try:
                # The worker last, so that it is stopped first.
                for name, args in (("api-server", ["api-server", "--port", str(port)]),
                                   ("dag-processor", ["dag-processor"]),
                                   ("scheduler", ["scheduler"]),
                                   ("celery-worker", [*celery["command"], "--concurrency",
                                                      str(WORKER_CONCURRENCY)])):
                    log = open(logs / f"{name}.log", "w")
                    handles.append(log)
                    procs[name] = subprocess.Popen([sys.executable, "-m", "airflow", *args], env=env, stdout=log,
                                                   stderr=subprocess.STDOUT, start_new_session=True)

                def api_up():
                    try:
                        return httpx.get(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=5).status_code == 200
                    except httpx.HTTPError:
                        return False

                ping = _health_check(celery["health"], hostname)

                def worker_healthy():
                    return subprocess.run(ping, env=env, capture_output=True, text=True, timeout=120).returncode == 0

                wait("the api-server", api_up, 180, procs, logs)
                wait("the celery worker's compose health check", worker_healthy, 180, procs, logs, every=3)
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

                    state = wait(f"run {run_id} to finish", finished, 420, procs, logs, every=3)
                    tis = meta(meta_db, "SELECT task_id, map_index, state, try_number, start_date, end_date, "
                                         "queue, external_executor_id FROM task_instance "
                                         "WHERE dag_id = 'weekly_ingest' AND run_id = %s "
                                         "ORDER BY task_id, map_index", (run_id,))
                    assert state == "success", (tis, tails(logs))
                    return tis

                tis = run(WEEK, RUN_ID)
                # A generated week with a folder per county: the mapped tasks queue up for two slots.
                from pipelines.synth import generate

                gen = generate(out=str(home / "landing"), weeks=GEN_WEEK, scale="0.03", faults="none", seed=21)
                gen_tis = run(GEN_WEEK, GEN_RUN_ID)

                # The run succeeds as soon as its last task reports to the api-server; the Celery task
                # around it (supervisor, log upload) stores its result a moment later.
                # (apply_changes, skipped by the scheduler on a week's first run, never reached Celery)
                ids = [x for t, *_, x in tis + gen_tis if t != "apply_changes"]
                assert all(ids), tis + gen_tis

                def results():
                    done = dict(meta(meta_db, "SELECT task_id, status FROM celery_taskmeta"))
                    return all(done.get(i) in ("SUCCESS", "FAILURE") for i in ids) and done

                results = wait("the Celery results of every task", results, 60, procs, logs)
                jobs = dict(meta(meta_db, "SELECT job_type, count(*) FROM job GROUP BY job_type"))
                # What the worker consumed: kombu binds each queue it listens on in the broker's db.
                bindings = sorted(k.decode() for k in broker.keys("_kombu.binding.*"))
            finally:
                for proc in reversed(list(procs.values())):
                    stop(proc)
                for h in handles:
                    h.close()
            worker_log = (logs / "celery-worker.log").read_text(errors="replace")

            # Every task ran once, and ran through Celery: its Celery task id (pre-assigned by the
            # scheduler as external_executor_id) has a SUCCESS result in the worker's result backend.
            all_tis = tis + gen_tis
            assert {"discover", "process_group", "publish", "consolidate", "review",
                    "weekly_summary", "data_docs"} <= {t for t, *_ in tis}
            # apply_changes (a published week's small change) skips on a week's first run.
            assert [s for t, _, s, *_ in all_tis if t == "apply_changes"] == ["skipped"] * 2, all_tis
            all_tis = [ti for ti in all_tis if ti[0] != "apply_changes"]
            assert all(s == "success" and n == 1 for _, _, s, n, *_ in all_tis), all_tis
            assert {q for *_, q, _x in all_tis} == {celery["queue"]}, all_tis
            assert len(set(ids)) == len(ids), all_tis
            assert {i: results.get(i) for i in ids} == {i: "SUCCESS" for i in ids}, (results, all_tis)
            # The same from the worker's side: the compose-configured broker, and each task's id.
            assert f"celery@{hostname} ready" in worker_log, worker_log[-3000:]
            assert re.search(rf"Connected to redis://(\S*@)?{re.escape(REDIS_HOST)}:{REDIS_PORT}/{REDIS_DB}\b",
                             worker_log), worker_log[:3000]
            missing = [i for i in ids if f"execute_workload[{i}] succeeded" not in worker_log]
            assert not missing, (missing, worker_log[-3000:])
            assert f"_kombu.binding.{celery['queue']}" in bindings, bindings
            assert jobs.get("SchedulerJob") and jobs.get("DagProcessorJob"), jobs

            assert [m for t, m, *_ in tis if t == "process_group"] == [0]  # one county folder
            mapped = [(start, end) for t, _m, _s, _n, start, end, *_ in gen_tis if t == "process_group"]
            assert len(mapped) >= 10, gen_tis
            # Side by side, but never more than the worker's two slots (the scheduler would allow 4).
            assert max_overlap(mapped) == WORKER_CONCURRENCY, mapped

            from pipelines.warehouse import Warehouse

            wh = Warehouse(pg_url(wh_db))
            try:
                assert wh.dialect == "postgresql"
                assert wh.scalar("SELECT COUNT(*) FROM core.ledger_households WHERE week = :w", {"w": WEEK}) == 44
                errors = wh.query("SELECT rule FROM core.findings WHERE severity = 'error' AND week = :w",
                                  {"w": WEEK})
                assert errors["rule"].tolist() == ["id_number.scientific"]
                loads = wh.query("SELECT week, run_id FROM core.loads ORDER BY week")
                assert loads.values.tolist() == [[WEEK, RUN_ID], [GEN_WEEK, GEN_RUN_ID]]
                assert wh.scalar("SELECT COUNT(*) FROM core.submissions WHERE on_time AND week = :w",
                                 {"w": WEEK}) == 3
                exp = gen.expected[GEN_WEEK]["rows"]
                count = lambda sql: wh.scalar(sql, {"w": GEN_WEEK})  # noqa: E731
                assert count("SELECT COUNT(*) FROM core.ledger_households WHERE week = :w") == exp["ledger_plan"]
                assert count("SELECT COUNT(*) FROM core.village_reports WHERE week = :w") == exp["village_reports"]
                assert count("SELECT COUNT(*) FROM core.township_reports WHERE week = :w AND NOT is_total") \
                    == exp["township_rows"]
                assert count("SELECT COUNT(*) FROM core.findings WHERE week = :w AND severity = 'error'") == 0
                assert count("SELECT COUNT(*) FROM core.discrepancies WHERE week = :w") == 0
            finally:
                wh.dispose()
            assert not (home / "warehouse.duckdb").exists()
    finally:
        broker.flushdb()
        broker.close()
