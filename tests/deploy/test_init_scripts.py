"""The init scripts of the compose stack, run natively (no Docker engine here).

* docker/postgres-init/*.sql run with psql (as the postgres image does) against the local
  PostgreSQL server, in a throwaway database; then the roles are exercised with psycopg.
* docker/minio-init/create-buckets.sh runs with a stub `mc` that records its calls.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.deploy._compose import MINIO_INIT_SCRIPT, PG_INIT_DIR, load_compose, service_env

PG_HOST, PG_PORT, PG_SUPERUSER = "127.0.0.1", 5432, "postgres"
TEST_DB = f"huizong_compose_test_{os.getpid()}"
TEST_OWNER = f"huizong_compose_owner_{os.getpid()}"
OTHER_DB = f"huizong_compose_airflow_{os.getpid()}"  # stands for Airflow's metadata database


# ---- PostgreSQL ----------------------------------------------------------------------

def _connect(user: str = PG_SUPERUSER, dbname: str = "postgres", **kw):
    import psycopg

    return psycopg.connect(host=PG_HOST, port=PG_PORT, user=user, dbname=dbname, connect_timeout=5, **kw)


def _run_init_sql() -> list[subprocess.CompletedProcess]:
    """As docker-entrypoint.sh does: psql -v ON_ERROR_STOP=1 --no-psqlrc -f <file>, the
    container environment providing the settings."""
    env = {**os.environ, "PGHOST": PG_HOST, "PGPORT": str(PG_PORT), "PGUSER": PG_SUPERUSER,
           "WAREHOUSE_DB": TEST_DB, "WAREHOUSE_USER": TEST_OWNER, "WAREHOUSE_PASSWORD": "owner-pw",
           "BI_READER_PASSWORD": "bi-pw"}
    return [subprocess.run(["psql", "-v", "ON_ERROR_STOP=1", "--no-psqlrc", "--no-password", "-q",
                            "--dbname", "postgres", "-f", str(path)],
                           env=env, capture_output=True, text=True, timeout=120)
            for path in sorted(PG_INIT_DIR.glob("*.sql"))]


@pytest.fixture(scope="module")
def warehouse_db():
    if shutil.which("psql") is None:
        pytest.fail("psql is required (Debian postgresql-client)")
    try:
        admin = _connect(autocommit=True)
    except Exception as exc:  # no local server (e.g. a CI runner without PostgreSQL)
        pytest.fail(f"PostgreSQL is required (the machine starts it before every run); none at {PG_HOST}:{PG_PORT}: {exc}")
    bi_reader_existed = admin.execute("SELECT 1 FROM pg_roles WHERE rolname = 'bi_reader'").fetchone() is not None
    admin.execute(f'DROP DATABASE IF EXISTS "{TEST_DB}" WITH (FORCE)')
    admin.execute(f'DROP ROLE IF EXISTS "{TEST_OWNER}"')
    admin.execute(f'DROP DATABASE IF EXISTS "{OTHER_DB}" WITH (FORCE)')
    admin.execute(f'CREATE DATABASE "{OTHER_DB}"')  # PUBLIC may connect, as on any new database
    try:
        first, second = _run_init_sql(), _run_init_sql()  # the second run proves idempotence
        yield {"runs": (first, second), "bi_reader_existed": bi_reader_existed}
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{TEST_DB}" WITH (FORCE)')
        admin.execute(f'DROP DATABASE IF EXISTS "{OTHER_DB}" WITH (FORCE)')
        admin.execute(f'DROP ROLE IF EXISTS "{TEST_OWNER}"')
        if not bi_reader_existed:
            try:
                admin.execute("DROP ROLE IF EXISTS bi_reader")
            except Exception:  # granted something elsewhere meanwhile: leave it
                pass
        admin.close()


def _as_owner_create(sql: str) -> None:
    with _connect(TEST_OWNER, TEST_DB, autocommit=True) as conn:
        conn.execute(sql)


def test_init_sql_runs_cleanly_twice(warehouse_db):
    for run in (*warehouse_db["runs"][0], *warehouse_db["runs"][1]):
        assert run.returncode == 0, run.stderr
        assert "ERROR" not in run.stderr, run.stderr
    with _connect(autocommit=True) as admin:
        owner = admin.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s",
                              (TEST_DB,)).fetchone()
        assert owner == (TEST_OWNER,)
        assert admin.execute("SELECT rolcanlogin, rolsuper FROM pg_roles WHERE rolname = 'bi_reader'").fetchone()[0]


def test_bi_reader_selects_mart_but_not_core_and_never_writes(warehouse_db):
    import psycopg

    # Tables the app creates later, as the owner role (ALTER DEFAULT PRIVILEGES FOR ROLE).
    _as_owner_create("CREATE TABLE mart.bi_probe (week text, households int);"
                     "INSERT INTO mart.bi_probe VALUES ('2026-W47', 12);"
                     "CREATE TABLE core.people (id_number text);"
                     "INSERT INTO core.people VALUES ('410000000000000000');"
                     "CREATE TABLE public.scratch (x int);")
    # ... and one an administrator creates as the superuser.
    with _connect(dbname=TEST_DB, autocommit=True) as admin:
        admin.execute("CREATE TABLE mart.by_admin (x int); INSERT INTO mart.by_admin VALUES (1)")

    with _connect("bi_reader", TEST_DB, password="bi-pw", autocommit=True) as bi:
        assert bi.execute("SELECT week, households FROM mart.bi_probe").fetchall() == [("2026-W47", 12)]
        assert bi.execute("SELECT x FROM mart.by_admin").fetchall() == [(1,)]
        assert bi.execute("SHOW default_transaction_read_only").fetchone() == ("on",)
        for sql in ("SELECT * FROM core.people", "SELECT * FROM public.scratch"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                bi.execute(sql)
        # Without the read-only default, the privileges alone still refuse every write.
        bi.execute("SET default_transaction_read_only = off")
        for sql in ("INSERT INTO mart.bi_probe VALUES ('2026-W48', 1)",
                    "UPDATE mart.bi_probe SET households = 0",
                    "DELETE FROM mart.bi_probe",
                    "CREATE TABLE mart.mine (x int)",
                    "CREATE TABLE public.mine (x int)"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                bi.execute(sql)
    with _connect(TEST_OWNER, TEST_DB) as owner:
        assert owner.execute("SELECT count(*) FROM mart.bi_probe").fetchone() == (1,)


def test_bi_reader_reads_beijing_time_and_reaches_no_other_database(warehouse_db):
    import psycopg

    with _connect("bi_reader", TEST_DB, password="bi-pw", autocommit=True) as bi:
        assert bi.execute("SHOW timezone").fetchone() == ("Asia/Shanghai",)
        received = bi.execute("SELECT to_char(TIMESTAMPTZ '2026-11-23 06:24:00+00', 'HH24:MI')").fetchone()
        assert received == ("14:24",)
    for other in (OTHER_DB, "postgres"):
        with pytest.raises(psycopg.OperationalError, match="permission denied"):
            _connect("bi_reader", other, password="bi-pw").close()


def test_public_cannot_connect_to_the_warehouse(warehouse_db):
    import psycopg

    with _connect(autocommit=True) as admin:
        admin.execute("DROP ROLE IF EXISTS huizong_compose_nobody")
        admin.execute("CREATE ROLE huizong_compose_nobody LOGIN")
    try:
        with pytest.raises(psycopg.OperationalError, match="permission denied"):
            _connect("huizong_compose_nobody", TEST_DB).close()
    finally:
        with _connect(autocommit=True) as admin:
            admin.execute("DROP ROLE IF EXISTS huizong_compose_nobody")


def test_the_app_loads_its_core_schema_as_the_warehouse_owner(warehouse_db):
    """The compose warehouse URL's role owns the database, so pipelines/warehouse.py can
    create its schema there; bi_reader still sees none of core."""
    import psycopg
    import sqlalchemy as sa

    from pipelines.warehouse import Warehouse

    compose_url = sa.engine.make_url(service_env(load_compose(), "airflow-worker")["HUIZONG_WAREHOUSE_URL"])
    url = compose_url.set(host=PG_HOST, port=PG_PORT, username=TEST_OWNER, password="owner-pw", database=TEST_DB)
    wh = Warehouse(url.render_as_string(hide_password=False))
    try:
        wh.apply_schema()
        tables = wh.query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'core'")
        assert "submissions" in set(tables["table_name"])
    finally:
        wh.dispose()
    with _connect("bi_reader", TEST_DB, password="bi-pw", autocommit=True) as bi:
        # The app's own mart tables and views are readable (default privileges), core is not.
        assert bi.execute("SELECT count(*) FROM mart.weekly_summary").fetchone() == (0,)
        assert bi.execute("SELECT count(*) FROM mart.findings").fetchone() == (0,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            bi.execute("SELECT * FROM core.submissions")


# ---- MinIO ---------------------------------------------------------------------------

STUB_MC = textwrap.dedent("""\
    #!/bin/sh
    echo "$*" >> "$MC_LOG"
    if [ "$1 $2 $3" = "admin user info" ]; then
        echo "AccessKey: $5"
        echo "PolicyName: $STUB_POLICY"
    fi
    exit 0
""")


def _run_minio_init(tmp_path: Path, policy: str = "readwrite") -> tuple[subprocess.CompletedProcess, list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "mc").write_text(STUB_MC)
    (bin_dir / "mc").chmod(0o755)
    log = tmp_path / "mc.log"
    log.unlink(missing_ok=True)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "MC_LOG": str(log), "STUB_POLICY": policy,
           **service_env(load_compose(), "minio-init")}
    run = subprocess.run(["/bin/sh", str(MINIO_INIT_SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    return run, log.read_text().splitlines() if log.exists() else []


def test_minio_init_creates_every_bucket_the_airflow_settings_use(tmp_path):
    compose = load_compose()
    airflow = service_env(compose, "airflow-worker")
    init = service_env(compose, "minio-init")
    run, calls = _run_minio_init(tmp_path)
    assert run.returncode == 0, run.stderr
    assert calls[0] == f"alias set huizong http://minio:9000 {init['MINIO_ROOT_USER']} {init['MINIO_ROOT_PASSWORD']}"
    endpoint = urlsplit(airflow["HUIZONG_S3_ENDPOINT_URL"])
    assert calls[0].split()[3] == f"{endpoint.scheme}://{endpoint.netloc}"
    for var in ("HUIZONG_LANDING_URL", "HUIZONG_LAKE_URL", "HUIZONG_ARCHIVE_URL"):
        bucket = urlsplit(airflow[var]).netloc
        assert f"mb --ignore-existing huizong/{bucket}" in calls, (var, calls)
        assert f"anonymous set none huizong/{bucket}" in calls
    assert f"admin user add huizong {airflow['AWS_ACCESS_KEY_ID']} {airflow['AWS_SECRET_ACCESS_KEY']}" in calls
    assert f"admin policy attach huizong readwrite --user {airflow['AWS_ACCESS_KEY_ID']}" in calls


def test_minio_init_fails_when_the_app_key_gets_no_policy(tmp_path):
    run, calls = _run_minio_init(tmp_path, policy="none")
    assert run.returncode != 0
    assert "readwrite is not attached" in run.stderr
