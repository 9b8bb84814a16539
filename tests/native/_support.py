"""Helpers for the native tests: throwaway PostgreSQL databases, free ports, processes."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import uuid
from contextlib import contextmanager
from typing import Iterator

import pytest

PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"


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


def pg_url(db: str, driver: str = "psycopg") -> str:
    return f"postgresql+{driver}://{PG_USER}@{PG_HOST}:{PG_PORT}/{db}"


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
