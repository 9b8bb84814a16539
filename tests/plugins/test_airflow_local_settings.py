"""plugins/airflow_local_settings.py: the processes that fork tasks import the heavy libraries
once, through Airflow's own local-settings hook; other processes do not."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.plugins.conftest import PLUGINS

import airflow_local_settings as als  # noqa: E402  (the plugins folder is on sys.path)


@pytest.mark.parametrize("argv, forks", [
    (["/x/bin/airflow", "scheduler"], True),
    (["/x/airflow/__main__.py", "scheduler", "--num-runs", "1"], True),
    (["/x/bin/airflow", "celery", "worker", "-q", "default"], True),
    (["/x/bin/airflow", "celery", "flower"], False),
    (["/x/bin/airflow", "api-server"], False),
    (["/x/bin/airflow", "dag-processor"], False),
    (["/x/bin/airflow", "dags", "test", "weekly_ingest"], False),
    (["/x/bin/pytest", "-q"], False),
])
def test_only_the_forking_commands_preload(argv, forks):
    assert als.forks_tasks(argv) is forks


def _import_airflow_as(argv: list[str], **env) -> dict:
    probe = f"""
import gc, json, sys
sys.argv = {argv!r}
import airflow.settings
import airflow_local_settings
print(json.dumps({{"file": airflow_local_settings.__file__,
                  "gx": "great_expectations" in sys.modules, "pandas": "pandas" in sys.modules,
                  "frozen": gc.get_freeze_count()}}))
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS), **env})
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_airflow_loads_it_and_the_scheduler_starts_with_gx_imported(airflow_db):
    r = _import_airflow_as(["airflow", "scheduler"])
    assert r["file"] == str(PLUGINS / "airflow_local_settings.py")
    assert r["gx"] and r["pandas"]
    # the preloaded objects are frozen: no collection walks them again, here or in a fork
    assert r["frozen"] > 100_000


def test_api_server_and_switched_off_scheduler_import_nothing_heavy(airflow_db):
    api = _import_airflow_as(["airflow", "api-server"])
    assert api["gx"] is False and api["frozen"] == 0
    assert _import_airflow_as(["airflow", "scheduler"], HUIZONG_PRELOAD="0")["gx"] is False
