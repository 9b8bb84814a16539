"""Helpers for the native tests: throwaway PostgreSQL databases, the examples' landing folder,
Airflow CLI calls and waiting on processes (ports, processes and metadata queries come from
huizong_dev.native_airflow, which the benchmark uses too)."""
from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

# The same helpers the benchmark uses to run Airflow natively.
from huizong_dev.native_airflow import PG_HOST, PG_PORT, PG_USER, free_port, pg_url, stop  # noqa: F401
from huizong_dev.native_airflow import query as meta  # noqa: F401

WEEK = "2026-W47"
FILES = ("焦东村三本账2026第47周.xlsx", "西华县逍遥镇焦东村第47周周报(改).xlsx", "逍遥镇2026年第47周扶贫周报.csv")


def _admin():
    import psycopg

    return psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres",
                           autocommit=True, connect_timeout=5)


@contextmanager
def throwaway_database(tag: str) -> Iterator[str]:
    """Create huizong_native_<pid>_<tag>_<rand>; yield its name; drop it (FORCE) afterwards."""
    try:
        admin = _admin()
    except Exception as exc:  # pragma: no cover - environment without PostgreSQL
        pytest.fail(f"PostgreSQL is required (the machine starts it before every run); none at {PG_HOST}:{PG_PORT}: {exc}")
    name = f"huizong_native_{os.getpid()}_{tag}_{uuid.uuid4().hex[:6]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def landing(home: Path) -> Path:
    """The shared examples as docs/FORMS.md says files land, arrived before the deadline."""
    from tests.conftest import EXAMPLES

    root = home / "landing"
    week = root / WEEK / "西华县" / "逍遥镇"
    week.mkdir(parents=True)
    shutil.copy(EXAMPLES / "区划名录.csv", root / "区划名录.csv")
    t = dt.datetime(2026, 11, 22, 20, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp()
    for name in FILES:
        shutil.copy(EXAMPLES / name, week / name)
        os.utime(week / name, (t, t))
    return root


def airflow(env: dict, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "airflow", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def wait(what: str, check, timeout: float, procs: dict, logs: Path, every: float = 2.0):
    """Poll `check` until it returns something true; fail (with the logs) if a process exits or time runs out."""
    deadline = time.time() + timeout
    while True:
        for name, proc in procs.items():
            assert proc.poll() is None, f"{name} exited while waiting for {what}:\n" + tails(logs)
        value = check()
        if value:
            return value
        assert time.time() < deadline, f"timed out waiting for {what}:\n" + tails(logs)
        time.sleep(every)


def tails(logs: Path, n: int = 3000) -> str:
    out = []
    for p in sorted(logs.rglob("*.log")):
        out.append(f"--- {p.relative_to(logs)}\n{p.read_text(errors='replace')[-n:]}")
    return "\n".join(out)
