"""Running the DAGs through Airflow on the embedded default (SQLite metadata).

`huizong ingest` and `make demo` use this: it prepares an AIRFLOW_HOME under
HUIZONG_HOME, migrates the metadata database once, and runs a real DAG run with
``dag.test()`` (the same code path as ``airflow dags test``).
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def airflow_environ(home: Path | None = None) -> dict[str, str]:
    from pipelines.settings import get_settings

    home = home or get_settings().home
    af = Path(os.environ.get("AIRFLOW_HOME") or home / "airflow")
    env = {
        "AIRFLOW_HOME": str(af),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DEFAULT_TIMEZONE": "Asia/Shanghai",
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING"),
        "GX_ANALYTICS_ENABLED": "False",
        "HUIZONG_HOME": str(home),
    }
    if "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" not in os.environ:
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{af / 'airflow.db'}"
    return env


def prepare_airflow(home: Path | None = None) -> dict[str, str]:
    """Set the environment for this process and migrate the metadata DB once."""
    env = airflow_environ(home)
    os.environ.update(env)
    af = Path(env["AIRFLOW_HOME"])
    af.mkdir(parents=True, exist_ok=True)
    marker = af / ".migrated"
    if not marker.exists():
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, env={**os.environ, **env},
                       stdout=subprocess.DEVNULL)
        marker.write_text("ok\n")
    return env


def load_dag(dag_id: str):
    """Import a DAG object from the repository's dags/ folder."""
    path = REPO / "dags" / f"{dag_id}.py"
    spec = importlib.util.spec_from_file_location(f"huizong_dag_{dag_id}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from airflow.sdk import DAG

    dags = [v for v in vars(module).values() if isinstance(v, DAG) and v.dag_id == dag_id]
    if not dags:
        raise LookupError(f"DAG {dag_id} not found in {path}")
    return dags[0]


def run_week(week: str, home: Path | None = None):
    """One real run of weekly_ingest for `week`; returns the DagRun."""
    prepare_airflow(home)
    from pipelines.ingest.schedule import run_date_for_week

    dag = load_dag("weekly_ingest")
    return dag.test(logical_date=run_date_for_week(week), run_conf={"week": week})


def run_month(month: str, home: Path | None = None):
    """One real run of monthly_conclusion for `month` (e.g. 2026-11); returns the DagRun."""
    prepare_airflow(home)
    dag = load_dag("monthly_conclusion")
    return dag.test(run_conf={"month": month})


def ui_environ(port: int = 8080, home: Path | None = None) -> tuple[dict[str, str], Path]:
    """Environment for `airflow api-server` on the embedded default: the review plugin,
    Airflow's simple auth manager with one steward (role admin) and a generated password."""
    import json
    import secrets

    env = airflow_environ(home)
    af = Path(env["AIRFLOW_HOME"])
    af.mkdir(parents=True, exist_ok=True)
    passwords = af / "simple_auth_manager_passwords.json"
    if not passwords.exists():
        passwords.write_text(json.dumps({"steward": secrets.token_urlsafe(12)}))
        passwords.chmod(0o600)
    secret = af / ".jwt_secret"
    if not secret.exists():
        secret.write_text(secrets.token_hex(32))
        secret.chmod(0o600)
    env.update({
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": os.environ.get("HUIZONG_UI_USERS", "steward:admin"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__API_AUTH__JWT_SECRET": secret.read_text().strip(),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
    })
    return env, passwords
