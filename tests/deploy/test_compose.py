"""docker-compose.yml, Dockerfile and .dockerignore, checked without a Docker engine.

The file is parsed with PyYAML (anchors and merge keys resolved as Compose does) and the
variables are interpolated with their defaults, then cross-checked against the code that
reads them: pipelines/settings.py, requirements/requirements.lock and the init scripts.
"""
from __future__ import annotations

import re
import shlex
import tomllib
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from tests.deploy._compose import (
    AIRFLOW_SERVICES,
    ONE_SHOT_SERVICES,
    PG_INIT_DIR,
    REPO,
    dockerfile_instructions,
    dockerignored,
    interpolate,
    load_compose,
    lock_pins,
    service_env,
    settings_env_names,
)

REQUIRED_SERVICES = {*AIRFLOW_SERVICES, "postgres", "redis", "minio", "minio-init"}
S3_URL_SETTINGS = ("HUIZONG_LANDING_URL", "HUIZONG_LAKE_URL", "HUIZONG_ARCHIVE_URL")


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_compose()


@pytest.fixture(scope="module")
def worker_env(compose) -> dict[str, str]:
    return service_env(compose, "airflow-worker")


def test_required_services_exist_and_long_running_ones_have_health_checks(compose):
    services = compose["services"]
    assert REQUIRED_SERVICES <= set(services), REQUIRED_SERVICES - set(services)
    for name, svc in services.items():
        if name in ONE_SHOT_SERVICES:
            continue
        test = (svc.get("healthcheck") or {}).get("test")
        assert test and test != ["NONE"] and not (svc["healthcheck"].get("disable")), f"{name}: no health check"
        if isinstance(test, list):
            assert test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, f"{name}: malformed health check {test}"


def test_one_shot_services_do_not_restart(compose):
    for name in ("airflow-init", "minio-init"):
        assert compose["services"][name].get("restart", "no") == "no", name


def test_depends_on_uses_conditions_that_match_the_dependency(compose):
    services = compose["services"]
    for name, svc in services.items():
        deps = svc.get("depends_on") or {}
        assert isinstance(deps, dict), f"{name}: depends_on without conditions"
        for dep, spec in deps.items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            expected = ("service_completed_successfully" if dep in ONE_SHOT_SERVICES
                        else "service_healthy")
            assert spec.get("condition") == expected, f"{name} -> {dep}: {spec}"
    # The order that matters: Airflow after its databases and the migration, the worker
    # (the only one touching S3) after the buckets exist.
    for name in AIRFLOW_SERVICES:
        deps = services[name]["depends_on"]
        assert {"postgres", "redis"} <= set(deps), name
        if name != "airflow-init":
            assert "airflow-init" in deps, name
    assert "minio-init" in services["airflow-worker"]["depends_on"]
    assert services["minio-init"]["depends_on"]["minio"]["condition"] == "service_healthy"


def test_airflow_services_use_the_common_anchor(compose):
    common = compose["x-airflow-common"]
    common_env = {k: str(v) for k, v in common["environment"].items()}
    assert common["build"]["dockerfile"] == "Dockerfile"
    for name in AIRFLOW_SERVICES:
        svc = compose["services"][name]
        assert svc["image"] == common["image"], name
        assert svc["build"] == common["build"], name
        assert svc["volumes"] == common["volumes"], name
        env = {k: str(v) for k, v in svc["environment"].items()}
        changed = {k for k in common_env if env.get(k) != common_env[k]}
        assert not changed, f"{name} drops or overrides common settings: {changed}"
        if name != "airflow-init":  # init runs as root to chown the volumes, like upstream
            assert svc["user"] == common["user"], name


def test_executor_is_celery_with_redis_broker_and_postgres_result_backend(compose, worker_env):
    assert worker_env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    broker = urlsplit(worker_env["AIRFLOW__CELERY__BROKER_URL"])
    assert broker.scheme == "redis" and broker.hostname == "redis" and (broker.port or 6379) == 6379
    backend = worker_env["AIRFLOW__CELERY__RESULT_BACKEND"]
    assert backend.startswith("db+postgresql")
    backend_url = sa.engine.make_url(backend.removeprefix("db+"))
    meta_url = sa.engine.make_url(worker_env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    meta_async_url = sa.engine.make_url(worker_env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"])
    pg = service_env(compose, "postgres")
    for url in (backend_url, meta_url, meta_async_url):
        assert url.get_backend_name() == "postgresql"
        assert url.host == "postgres" and url.database == pg["POSTGRES_DB"]
        assert url.username == pg["POSTGRES_USER"] and url.password == pg["POSTGRES_PASSWORD"]
    assert "redis" in compose["services"] and "postgres" in compose["services"]


def test_sqlalchemy_urls_use_a_driver_from_the_lock(worker_env):
    """psycopg (v3) is what the lock has; a psycopg2 URL would fail in the image."""
    pins = lock_pins()
    urls = {
        "metadata": worker_env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"],
        # Airflow derives postgresql+asyncpg when this is missing, and asyncpg is not locked.
        "metadata (async)": worker_env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"],
        "celery results": worker_env["AIRFLOW__CELERY__RESULT_BACKEND"].removeprefix("db+"),
        "warehouse": worker_env["HUIZONG_WAREHOUSE_URL"],
    }
    for what, raw in urls.items():
        url = sa.engine.make_url(raw)
        dialect = url.get_dialect()
        dbapi = dialect.import_dbapi()
        if what == "metadata (async)":
            assert dialect.is_async, f"{what}: {raw} is not an async driver"
        assert dbapi.__name__.split(".")[0] in pins, f"{what}: driver {dbapi.__name__} is not in the lock"


def test_huizong_variables_are_ones_settings_reads(compose):
    read = settings_env_names()
    assert {"HUIZONG_HOME", "HUIZONG_WAREHOUSE_URL", "HUIZONG_S3_ENDPOINT_URL"} <= read  # the parser works
    for name in compose["services"]:
        for var in service_env(compose, name):
            if var.startswith("HUIZONG_"):
                assert var in read, f"{name} sets {var}, which pipelines/settings.py never reads"
    needed = {"HUIZONG_HOME", *S3_URL_SETTINGS, "HUIZONG_WAREHOUSE_URL", "HUIZONG_S3_ENDPOINT_URL", "HUIZONG_TZ"}
    for name in AIRFLOW_SERVICES:
        env = service_env(compose, name)
        assert needed <= set(env), f"{name} misses {needed - set(env)}"
        assert env["GX_ANALYTICS_ENABLED"] == "False"
        assert env["HUIZONG_TZ"] == env["AIRFLOW__CORE__DEFAULT_TIMEZONE"] == "Asia/Shanghai"


def test_s3_settings_point_at_buckets_minio_init_creates(compose, worker_env):
    buckets = service_env(compose, "minio-init")["BUCKETS"].split()
    for var in S3_URL_SETTINGS:
        url = urlsplit(worker_env[var])
        assert url.scheme == "s3", f"{var}={worker_env[var]}"
        assert url.netloc in buckets, f"{var}: bucket {url.netloc} not created by minio-init"
    endpoint = urlsplit(worker_env["HUIZONG_S3_ENDPOINT_URL"])
    assert endpoint.hostname == "minio" and endpoint.port == 9000
    assert any(str(p).endswith(":9000") for p in compose["services"]["minio"]["ports"])
    assert any(str(p).endswith(":9001") for p in compose["services"]["minio"]["ports"])


def test_s3_key_of_the_airflow_containers_is_the_one_minio_init_creates(compose, worker_env):
    for env in ({}, {"S3_APP_ACCESS_KEY": "k-from-dotenv", "S3_APP_SECRET_KEY": "s-from-dotenv"}):
        airflow = service_env(compose, "airflow-worker", env)
        init = service_env(compose, "minio-init", env)
        assert airflow["AWS_ACCESS_KEY_ID"] == init["S3_APP_ACCESS_KEY"]
        assert airflow["AWS_SECRET_ACCESS_KEY"] == init["S3_APP_SECRET_KEY"]
        assert len(init["S3_APP_SECRET_KEY"]) >= 8  # MinIO refuses shorter secret keys
    init = compose["services"]["minio-init"]
    script = [v for v in init["volumes"] if v.startswith("./docker/minio-init:")]
    assert script, "minio-init does not mount docker/minio-init"
    mount = script[0].split(":")[1]
    assert init["entrypoint"][-1] == f"{mount}/create-buckets.sh"


def test_warehouse_url_points_at_the_database_the_postgres_init_creates(compose):
    sql_files = sorted(PG_INIT_DIR.glob("*.sql"))
    assert sql_files, "no init SQL in docker/postgres-init"
    sql = "\n".join(p.read_text(encoding="utf-8") for p in sql_files)
    defaults = dict(re.findall(r"^\\set (\w+) (\S+)$", sql, re.M))
    getenv = dict(re.findall(r"^\\getenv (\w+) (\w+)$", sql, re.M))
    assert "CREATE DATABASE" in sql and "bi_reader" in sql
    pg = compose["services"]["postgres"]
    assert any(v.startswith("./docker/postgres-init:/docker-entrypoint-initdb.d") for v in pg["volumes"])
    for env in ({}, {"WAREHOUSE_DB": "wh2", "WAREHOUSE_USER": "u2", "WAREHOUSE_PASSWORD": "p2"}):
        url = sa.engine.make_url(service_env(compose, "airflow-worker", env)["HUIZONG_WAREHOUSE_URL"])
        pg_env = service_env(compose, "postgres", env)
        # what the script will use inside the container: \getenv overrides the \set default
        used = {psql_var: pg_env.get(env_var, defaults[psql_var]) for psql_var, env_var in getenv.items()}
        assert url.host == "postgres" and (url.port or 5432) == 5432
        assert url.database == used["wh_db"], (url.database, used)
        assert url.username == used["wh_user"] and url.password == used["wh_password"]
        assert url.database != pg_env["POSTGRES_DB"], "warehouse and Airflow metadata share a database"
    assert defaults["wh_db"] == "huizong"


def test_volumes_are_declared_or_exist_in_the_repository(compose):
    declared = set(compose.get("volumes") or {})
    used = set()
    for name, svc in compose["services"].items():
        for vol in svc.get("volumes") or []:
            source = vol["source"] if isinstance(vol, dict) else interpolate(vol).split(":")[0]
            if source.startswith((".", "/")):
                path = (REPO / source).resolve()
                assert path.exists(), f"{name}: {source} does not exist"
                assert REPO in path.parents or path == REPO, f"{name}: {source} is outside the repository"
            else:
                assert source in declared, f"{name}: volume {source} is not declared"
                used.add(source)
    assert declared == used, f"declared but unused: {declared - used}"
    # Airflow's data lives on a volume, where HUIZONG_HOME points.
    env = service_env(compose, "airflow-worker")
    targets = [interpolate(v).split(":")[1] for v in compose["services"]["airflow-worker"]["volumes"]]
    assert env["HUIZONG_HOME"] in targets


def test_worker_is_scalable(compose):
    worker = compose["services"]["airflow-worker"]
    assert "container_name" not in worker and not worker.get("ports")
    assert worker["command"] == "celery worker"
    assert worker["environment"]["DUMB_INIT_SETSID"] == "0"


def test_apiserver_serves_the_ui_and_the_execution_api(compose, worker_env):
    api = compose["services"]["airflow-apiserver"]
    assert api["command"] == "api-server"
    assert any(interpolate(str(p)) == "8080:8080" for p in api["ports"])
    url = urlsplit(worker_env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert (url.hostname, url.port, url.path) == ("airflow-apiserver", 8080, "/execution/")
    assert "8080" in " ".join(api["healthcheck"]["test"])
    # the health check reaches the execution API the workers use (and warms its routes)
    assert "localhost:8080" + url.path + "health" in " ".join(api["healthcheck"]["test"])
    assert compose["services"]["airflow-scheduler"]["command"] == "scheduler"
    assert worker_env["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "true"  # scheduler health check on 8974


def test_scheduler_is_tuned_as_the_benchmarked_stack(worker_env):
    from huizong_dev.native_airflow import SCHEDULER_TUNING

    assert SCHEDULER_TUNING and {k: worker_env.get(k) for k in SCHEDULER_TUNING} == SCHEDULER_TUNING
    assert float(worker_env["AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME"]) < 1  # Airflow's default is 1 s


def test_airflow_settings_for_the_huizong_image(compose, worker_env):
    assert worker_env["AIRFLOW__CORE__LOAD_EXAMPLES"].lower() == "false"
    assert worker_env["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/huizong/dags"
    assert worker_env["AIRFLOW__CORE__PLUGINS_FOLDER"] == "/opt/huizong/plugins"
    workdir = [arg for ins, arg in dockerfile_instructions() if ins == "WORKDIR"]
    assert workdir == ["/opt/huizong"]
    assert (REPO / "dags" / "weekly_ingest.py").exists()
    assert not dockerignored("dags/weekly_ingest.py")


def test_secrets_come_from_the_environment(compose):
    common = compose["x-airflow-common"]["environment"]
    for var in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__FERNET_KEY", "AWS_SECRET_ACCESS_KEY",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "HUIZONG_WAREHOUSE_URL"):
        assert "${" in str(common[var]), f"{var} is hard-coded"
    override = {"AIRFLOW_JWT_SECRET": "from-dotenv"}
    assert service_env(compose, "airflow-scheduler", override)["AIRFLOW__API_AUTH__JWT_SECRET"] == "from-dotenv"
    # one secret for every component that signs or checks the execution API's tokens
    secrets = {service_env(compose, n)["AIRFLOW__API_AUTH__JWT_SECRET"] for n in AIRFLOW_SERVICES}
    assert len(secrets) == 1 and "" not in secrets


def test_dockerfile_base_image_agrees_with_the_lock_and_python_311():
    instructions = dockerfile_instructions()
    froms = [arg for ins, arg in instructions if ins == "FROM"]
    assert len(froms) == 1
    m = re.fullmatch(r"apache/airflow:(?P<airflow>[\d.]+)-python(?P<python>\d+\.\d+)", froms[0])
    assert m, f"not an official Airflow image tag: {froms[0]}"
    assert m["airflow"] == lock_pins()["apache-airflow"], "image and lock disagree on Airflow"
    assert m["python"] == "3.11"
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    assert ">=3.11" in requires
    runs = " ".join(arg for ins, arg in instructions if ins == "RUN")
    assert "--require-hashes -r requirements/requirements.lock" in runs
    assert f"!= {m['airflow']}" in runs  # the build re-checks the installed Airflow version


def test_dockerfile_copies_only_what_exists_and_is_not_ignored():
    for ins, arg in dockerfile_instructions():
        if ins != "COPY":
            continue
        words = [w for w in shlex.split(arg) if not w.startswith("--")]
        for src in words[:-1]:
            if src == ".":
                continue
            assert (REPO / src).exists(), f"COPY {src}: missing"
            assert not dockerignored(src), f"COPY {src}: excluded by .dockerignore"
    for needed in ("pyproject.toml", "requirements/requirements.lock", "pipelines/settings.py",
                   "dags/weekly_ingest.py", "warehouse/schema/001_core.sql", "expectations/x.json",
                   "plugins/x.py"):
        assert not dockerignored(needed), needed


@pytest.mark.parametrize("path", [".venv/bin/python", "data/warehouse.duckdb", "logs/x.log", ".git/HEAD",
                                  ".env", "tests/conftest.py", "pipelines/__pycache__/settings.cpython-311.pyc"])
def test_dockerignore_keeps_local_state_out_of_the_image(path):
    assert dockerignored(path)


def test_lock_provides_the_celery_executor():
    pins = lock_pins()
    assert {"apache-airflow-providers-celery", "celery", "redis"} <= set(pins)


def test_every_airflow_container_gets_the_same_pii_key(compose):
    """Hashes of ID numbers join across weeks and workers only under one key."""
    for name in AIRFLOW_SERVICES:
        assert service_env(compose, name, {"HUIZONG_PII_KEY": "k" * 64})["HUIZONG_PII_KEY"] == "k" * 64, name
    example = (REPO / "docker" / "env.example").read_text(encoding="utf-8")
    assert "\nHUIZONG_PII_KEY=" in example


TUNABLES = {"HUIZONG_BATCH_FILES": "batch_files", "HUIZONG_TASK_FILES": "task_files",
            "HUIZONG_QUICK_FILES": "quick_files"}


def test_work_partition_defaults_are_the_codes_and_env_overrides_them(compose, monkeypatch, tmp_path):
    """The stack runs with the settings' own defaults unless .env sets them; a value in .env
    reaches every Airflow container (the scheduler routes, the workers process)."""
    from pipelines.settings import get_settings

    for var in TUNABLES:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HUIZONG_HOME", str(tmp_path))
    defaults = get_settings()
    example = dict(line.split("=", 1) for line in (REPO / "docker" / "env.example").read_text(encoding="utf-8")
                   .splitlines() if line and not line.startswith("#"))
    for name in AIRFLOW_SERVICES:
        for env in ({}, example):  # no .env, and the example copied as it is
            got = service_env(compose, name, env)
            for var, field in TUNABLES.items():
                assert int(got[var]) == getattr(defaults, field), (name, var)
        got = service_env(compose, name, {"HUIZONG_QUICK_FILES": "50", "HUIZONG_TASK_FILES": "1500"})
        assert (got["HUIZONG_QUICK_FILES"], got["HUIZONG_TASK_FILES"]) == ("50", "1500"), name
    for var, value in service_env(compose, "airflow-worker", {"HUIZONG_TASK_FILES": "1500"}).items():
        if var in TUNABLES:
            monkeypatch.setenv(var, value)
    assert get_settings().task_files == 1500


def test_the_portal_serves_the_cli_command_with_the_pipelines_settings(compose, worker_env):
    from pipelines.cli import build_parser

    svc = compose["services"]["portal"]
    command = svc["command"]
    assert command[:3] == ["python", "-m", "pipelines.cli"]
    args = build_parser().parse_args(command[3:])
    assert args.command == "portal" and args.host == "0.0.0.0"
    assert svc["ports"] == [f"${{PORTAL_HOST_PORT:-{args.port}}}:{args.port}"]
    assert f"localhost:{args.port}/login" in svc["healthcheck"]["test"][1]
    env = service_env(compose, "portal")
    for var in ("HUIZONG_LANDING_URL", "HUIZONG_WAREHOUSE_URL", "HUIZONG_S3_ENDPOINT_URL", "HUIZONG_TZ"):
        assert env[var] == worker_env[var], var  # it writes where the weekly run reads
    assert "${" in str(svc["environment"]["HUIZONG_PORTAL_SECRET"])
