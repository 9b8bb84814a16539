"""Airflow local settings for Huizong: task processes start with their libraries imported.

Airflow imports ``airflow_local_settings`` when any of its processes starts, from
``$AIRFLOW_HOME/config`` or, as here, the plugins folder (both are on ``sys.path``). On Linux
a task process is forked: from a LocalExecutor worker, itself forked from the scheduler, or
from a Celery pool process, forked from the Celery worker. A library imported here, in the
scheduler or the Celery worker, is inherited by every task forked from it, so a task does
not import Great Expectations, pandas and pyarrow again: the forking parent pays for the
import once, and its pages are shared between the forks (docs/measurements-private-api.md
has the measurement).

Only third-party libraries are imported: they change only with a new environment (and a
restart), while ``pipelines`` is imported by each task, so a task always runs the code on
disk. ``HUIZONG_PRELOAD=0`` turns this off. A deployment with its own
``$AIRFLOW_HOME/config/airflow_local_settings.py`` shadows this file and should call
``warm_task_imports()`` from it.
"""
from __future__ import annotations

import gc
import logging
import os
import sys
import time

# The processes that fork task processes (``airflow scheduler``, ``airflow celery worker``).
FORKING_COMMANDS = (("scheduler",), ("celery", "worker"))
# Great Expectations last: the guard at the bottom of this file looks for it. The smaller
# ones (the DuckDB SQLAlchemy dialect, fsspec, Arrow datasets, the receipts' xlsx writer,
# the PostgreSQL driver) are there because tasks import them too.
LIBRARIES = ("numpy", "pandas", "pyarrow", "pyarrow.parquet", "pyarrow.dataset", "python_calamine", "duckdb",
             "sqlalchemy", "duckdb_engine", "psycopg", "fsspec", "xlsxwriter", "great_expectations")

log = logging.getLogger("huizong.preload")


def _command(argv: list[str]) -> tuple[str, ...]:
    return tuple(a for a in argv[1:] if not a.startswith("-"))


def forks_tasks(argv: list[str] | None = None) -> bool:
    cmd = _command(sys.argv if argv is None else argv)
    return any(cmd[:len(c)] == c for c in FORKING_COMMANDS)


def warm_task_imports() -> list[str]:
    """Import LIBRARIES now; returns those imported (a missing one is skipped)."""
    import importlib

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    t0 = time.perf_counter()
    done = []
    for name in LIBRARIES:
        try:
            importlib.import_module(name)
        except ImportError:
            continue
        done.append(name)
    # What was imported lives as long as the process: frozen, the collector never walks it
    # again, neither here nor in the forked tasks (whose full collections would otherwise
    # traverse, and by touching dirty, every inherited object page shared with the parent).
    gc.freeze()
    log.info("preloaded %s for task processes in %.1f s", ", ".join(done), time.perf_counter() - t0)
    return done


# Airflow's plugin loader executes this file again, and forked tasks inherit what it did.
if (os.environ.get("HUIZONG_PRELOAD", "1").lower() not in ("0", "false", "no") and forks_tasks()
        and LIBRARIES[-1] not in sys.modules):
    warm_task_imports()
