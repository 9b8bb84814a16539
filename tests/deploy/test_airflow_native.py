"""The Airflow side of docker-compose.yml, run natively against the local PostgreSQL.

With the compose file's Airflow settings (database hosts pointed at 127.0.0.1): the
metadata database migrates over psycopg (sync and async URLs), the DAGs parse and
serialize, and the api-server answers its health check and logs in the admin whose
password airflow-init's command writes.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.deploy._compose import REPO, interpolate, load_compose, service_env
from tests.served import free_port

pytestmark = pytest.mark.slow

PG = dict(host="127.0.0.1", port=5432, username="postgres", password="unused-trust-auth")
META_DB = f"airflow_compose_test_{os.getpid()}"


def _pg_admin():
    import psycopg

    return psycopg.connect(host=PG["host"], port=PG["port"], user=PG["username"], dbname="postgres",
                           autocommit=True, connect_timeout=5)


def _local(url: str) -> str:
    prefix = "db+" if url.startswith("db+") else ""
    u = sa.engine.make_url(url.removeprefix(prefix)).set(database=META_DB, **PG)
    return prefix + u.render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory):
    try:
        admin = _pg_admin()
    except Exception as exc:
        pytest.fail(f"PostgreSQL is required (the machine starts it before every run); none at {PG['host']}:{PG['port']}: {exc}")
    home = tmp_path_factory.mktemp("airflow-compose")
    compose = load_compose()
    env = service_env(compose, "airflow-init")
    for var in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC",
                "AIRFLOW__CELERY__RESULT_BACKEND"):
        env[var] = _local(env[var])
    try:
        import airflow.providers.celery  # noqa: F401
    except ImportError:  # not in the lock yet (see test_lock_provides_the_celery_executor)
        env["AIRFLOW__CORE__EXECUTOR"] = "LocalExecutor"
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "simple_auth_manager_passwords.json"),
        "HUIZONG_HOME": str(home / "data"),
        "PYTHONPATH": str(REPO),
        "PATH": os.environ["PATH"],
        "HOME": str(home),
    })
    admin.execute(f'DROP DATABASE IF EXISTS "{META_DB}" WITH (FORCE)')
    admin.execute(f'CREATE DATABASE "{META_DB}"')
    try:
        yield env
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{META_DB}" WITH (FORCE)')
        admin.close()


def _airflow(env, *args, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "airflow", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def migrated(airflow_env):
    run = _airflow(airflow_env, "db", "migrate")
    assert run.returncode == 0, run.stderr[-3000:]
    return airflow_env


def test_metadata_database_migrates_over_psycopg(migrated):
    import psycopg

    with psycopg.connect(host=PG["host"], port=PG["port"], user=PG["username"], dbname=META_DB) as conn:
        assert conn.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)
        assert conn.execute("SELECT to_regclass('public.dag_run')").fetchone() != (None,)
    check = _airflow(migrated, "db", "check")
    assert check.returncode == 0, check.stderr[-2000:]


def test_dags_parse_and_serialize_with_the_compose_environment(migrated):
    run = _airflow(migrated, "dags", "reserialize")
    assert run.returncode == 0, run.stderr[-3000:]
    import psycopg

    with psycopg.connect(host=PG["host"], port=PG["port"], user=PG["username"], dbname=META_DB) as conn:
        dags = {r[0] for r in conn.execute("SELECT dag_id FROM serialized_dag")}
        errors = conn.execute("SELECT count(*) FROM import_error").fetchone()[0]
    assert "weekly_ingest" in dags
    assert errors == 0


def test_apiserver_health_check_and_admin_login(migrated, tmp_path):
    import httpx

    compose = load_compose()
    # airflow-init's command writes the passwords file: run that line of it.
    init_cmd = interpolate(compose["services"]["airflow-init"]["command"][-1])
    line = next(ln.strip() for ln in init_cmd.splitlines() if "python -c" in ln)
    pwfile = migrated["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
    user, password = migrated["_AIRFLOW_WWW_USER_USERNAME"], migrated["_AIRFLOW_WWW_USER_PASSWORD"]
    write = subprocess.run(["bash", "-c", f"pwfile={pwfile!r}; {line.replace('python', sys.executable, 1)}"],
                           env=migrated, capture_output=True, text=True, timeout=60)
    assert write.returncode == 0, write.stderr
    assert migrated["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == f"{user}:admin"

    health = compose["services"]["airflow-apiserver"]["healthcheck"]["test"]
    path = re.search(r"http://localhost:8080(/\S*)", " ".join(health)).group(1)
    port = free_port()
    log = open(tmp_path / "api-server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "airflow", "api-server", "--port", str(port)],
                            env=migrated, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline, status = time.time() + 120, None
        while time.time() < deadline and proc.poll() is None:
            try:
                status = httpx.get(base + path, timeout=5).status_code
                if status == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        assert status == 200, (tmp_path / "api-server.log").read_text()[-3000:]
        login = httpx.post(base + "/auth/token", json={"username": user, "password": password}, timeout=30)
        assert login.status_code == 201, login.text
        token = login.json()["access_token"]
        dags = httpx.get(base + "/api/v2/dags", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert dags.status_code == 200, dags.text
        assert "weekly_ingest" in {d["dag_id"] for d in dags.json()["dags"]}
        bad = httpx.post(base + "/auth/token", json={"username": user, "password": password + "x"}, timeout=30)
        assert bad.status_code == 401
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
        log.close()
    assert Path(pwfile).exists()
