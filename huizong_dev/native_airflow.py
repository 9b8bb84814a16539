"""The real Airflow deployment as separate processes, for the benchmark.

A throwaway PostgreSQL metadata database, ``airflow db migrate``, then ``airflow
api-server``, ``airflow dag-processor`` and ``airflow scheduler`` as subprocesses (each in
its own session, so stopping one stops its children: the LocalExecutor's workers and the
task processes they supervise). Airflow 3 runs tasks through the api-server's execution
API, so the workers need its URL and the JWT secret; the secrets here are random and live
only as long as the deployment.

``repo`` is the source tree whose dags, plugins and pipelines the services run (this
checkout by default; the benchmark's ``--baseline`` passes an extracted revision).
tests/native uses the same helpers.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

REPO = Path(__file__).resolve().parent.parent
PG_HOST = os.environ.get("HUIZONG_BENCH_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("HUIZONG_BENCH_PG_PORT", "5432"))
PG_USER = os.environ.get("HUIZONG_BENCH_PG_USER", "postgres")
SERVICES = ("api-server", "dag-processor", "scheduler")
# The scheduler sleeps this long after a loop in which nothing happened (Airflow's default
# is 1 s). A finished task is noticed, and its successor queued, only in the next loop, so
# each of the weekly DAG's tasks in a row waits about half the sleep: with the default that
# was most of a re-run's time that was not work. A shorter sleep costs CPU while idle, taken
# from the tasks during the week's long parse: a fifth of the default made the 10x week's
# parse slower, half of it did not (docs/measurements.md). docker-compose.yml sets the same
# (tests/deploy/test_compose.py checks).
SCHEDULER_TUNING = {"AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5"}


def _admin():
    import psycopg

    return psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", autocommit=True,
                           connect_timeout=5)


def pg_url(db: str, driver: str = "psycopg") -> str:
    return f"postgresql+{driver}://{PG_USER}@{PG_HOST}:{PG_PORT}/{db}"


@contextmanager
def throwaway_database(tag: str) -> Iterator[str]:
    """Create huizong_bench_<pid>_<tag>_<rand>; yield its name; drop it (FORCE) afterwards."""
    try:
        admin = _admin()
    except Exception as exc:  # noqa: BLE001
        raise RuntimeError(f"PostgreSQL is required at {PG_HOST}:{PG_PORT} (user {PG_USER}): {exc}") from exc
    if not re.fullmatch(r"[a-z0-9_]{1,20}", tag):
        raise ValueError(f"database tag must be [a-z0-9_]: {tag!r}")
    name = f"huizong_bench_{os.getpid()}_{tag}_{uuid.uuid4().hex[:6]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def query(db: str, sql: str, params: tuple = ()) -> list[tuple]:
    import psycopg

    with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=db, connect_timeout=5) as conn:
        return conn.execute(sql, params).fetchall()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc: subprocess.Popen, timeout: float = 30) -> None:
    """Terminate a process started with start_new_session=True, and its children."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


def airflow_env(meta_db: str, af_home: Path, home: Path, port: int, parallelism: int,
                repo: Path = REPO) -> dict[str, str]:
    """Environment of every Airflow process: LocalExecutor with `parallelism` slots, PostgreSQL metadata,
    the code of the tree `repo`."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "HUIZONG_"))}
    py_path = os.pathsep.join(p for p in (str(repo), base.get("PYTHONPATH", "")) if p)
    return {
        **base,
        "LANG": base.get("LANG", "C.UTF-8"),
        "PYTHONPATH": py_path,
        "AIRFLOW_HOME": str(af_home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": pg_url(meta_db),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": pg_url(meta_db, "psycopg_async"),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(parallelism),
        "AIRFLOW__CORE__DAGS_FOLDER": str(repo / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(repo / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DEFAULT_TIMEZONE": "Asia/Shanghai",
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(af_home / "passwords.json"),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(af_home / "logs"),
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        **SCHEDULER_TUNING,
        "GX_ANALYTICS_ENABLED": "False",
        "HUIZONG_HOME": str(home),
        # No scheduled run can fall due: the only run is the one triggered.
        "HUIZONG_START_DATE": "2099-01-05T12:00",
    }


def airflow_cli(env: dict, *args: str, timeout: float = 600, cwd: Path = REPO) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "airflow", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)
    if proc.returncode != 0:
        raise RuntimeError(f"airflow {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return proc


def log_tails(logs: Path, n: int = 3000) -> str:
    return "\n".join(f"--- {p.relative_to(logs)}\n{p.read_text(errors='replace')[-n:]}"
                     for p in sorted(logs.rglob("*.log")))


class MemorySampler:
    """Cheap peak-memory sampling of the deployment's process trees (psutil, at each poll).

    ``tasks_mb``: the largest high-water mark (VmHWM, exact per process) of any process
    that is not one of the three services, i.e. executor workers and task processes seen
    alive at a poll; ``total_mb``: the largest sampled sum of RSS over all the trees
    (forked children share pages, so this overcounts somewhat).
    """

    def __init__(self, procs: dict[str, subprocess.Popen]):
        self.roots = {p.pid for p in procs.values()}
        self.procs = procs
        self.tasks_mb = 0.0
        self.total_mb = 0.0

    def sample(self) -> None:
        import psutil

        total = 0
        for proc in self.procs.values():
            try:
                tree = [psutil.Process(proc.pid)]
                tree += tree[0].children(recursive=True)
            except psutil.Error:
                continue
            for p in tree:
                try:
                    total += p.memory_info().rss
                    if p.pid not in self.roots:
                        self.tasks_mb = max(self.tasks_mb, _hwm_mb(p.pid))
                except (psutil.Error, OSError):
                    continue
        self.total_mb = max(self.total_mb, total / 2**20)


def _hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return 0.0


class Deployment:
    """Metadata DB migrated, the three services running; `run_dag` triggers and waits."""

    def __init__(self, meta_db: str, af_home: Path, home: Path, parallelism: int = 2, repo: Path = REPO):
        self.repo = repo
        self.meta_db = meta_db
        self.af_home = af_home
        self.logs = af_home / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.env = airflow_env(meta_db, af_home, home, self.port, parallelism, repo)
        self.procs: dict[str, subprocess.Popen] = {}
        self._handles: list = []
        self.memory: MemorySampler | None = None

    def start(self, timeout: float = 300) -> None:
        import httpx

        airflow_cli(self.env, "db", "migrate", cwd=self.repo)
        for name in SERVICES:
            args = ["api-server", "--port", str(self.port)] if name == "api-server" else [name]
            log = open(self.logs / f"{name}.log", "w")
            self._handles.append(log)
            self.procs[name] = subprocess.Popen([sys.executable, "-m", "airflow", *args], env=self.env, stdout=log,
                                                stderr=subprocess.STDOUT, start_new_session=True, cwd=self.repo)
        self.memory = MemorySampler(self.procs)

        def api_up() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{self.port}/api/v2/monitor/health", timeout=5).status_code == 200
            except httpx.HTTPError:
                return False

        self.wait("the api-server", api_up, timeout)
        # The task execution API builds its versioned routes on its first request: make that
        # request here, as the compose file's health check does, not in the
        # first task of a run.
        httpx.get(f"http://127.0.0.1:{self.port}/execution/health", timeout=120).raise_for_status()

    def stop(self) -> None:
        for proc in reversed(list(self.procs.values())):
            stop(proc)
        for h in self._handles:
            h.close()
        self._handles.clear()

    def __enter__(self) -> "Deployment":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def wait(self, what: str, check: Callable[[], object], timeout: float, every: float = 1.0):
        deadline = time.time() + timeout
        while True:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited while waiting for {what}:\n" + log_tails(self.logs))
            if self.memory:
                self.memory.sample()
            value = check()
            if value:
                return value
            if time.time() > deadline:
                raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}:\n" + log_tails(self.logs))
            time.sleep(every)

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        return query(self.meta_db, sql, params)

    def run_dag(self, dag_id: str, run_id: str, conf: dict, timeout: float) -> str:
        """Wait until `dag_id` is parsed, unpause it, trigger `run_id` with `conf`; return the final state."""
        self.wait(f"{dag_id} to be parsed",
                  lambda: self.query("SELECT 1 FROM serialized_dag WHERE dag_id = %s", (dag_id,)), 300)
        airflow_cli(self.env, "dags", "unpause", dag_id, cwd=self.repo)
        airflow_cli(self.env, "dags", "trigger", dag_id, "--run-id", run_id, "--conf", json.dumps(conf), cwd=self.repo)

        def finished():
            rows = self.query("SELECT state FROM dag_run WHERE dag_id = %s AND run_id = %s", (dag_id, run_id))
            return bool(rows) and rows[0][0] in ("success", "failed") and rows[0][0]

        return self.wait(f"run {run_id} to finish", finished, timeout)
