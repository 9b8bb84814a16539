"""Test-session set-up: everything in temporary folders, Airflow on its own SQLite DB.

Airflow reads its configuration when first imported, so the environment is set here,
at import time, before any test module imports airflow.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_SESSION_DIR = Path(tempfile.mkdtemp(prefix="huizong-tests-"))
REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "tests" / "fixtures" / "examples"  # byte-identical copies of ../shared/examples
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
os.environ["HUIZONG_HOME"] = str(_SESSION_DIR / "home")
from pipelines.orchestrate import airflow_environ  # noqa: E402  (imports no airflow)

os.environ.update(airflow_environ(_SESSION_DIR / "home"))


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A fresh HUIZONG_HOME (landing, lake, archive, warehouse) for one test."""
    h = tmp_path / "home"
    monkeypatch.setenv("HUIZONG_HOME", str(h))
    for var in ("HUIZONG_LANDING_URL", "HUIZONG_LAKE_URL", "HUIZONG_ARCHIVE_URL", "HUIZONG_WAREHOUSE_URL"):
        monkeypatch.delenv(var, raising=False)
    return h


@pytest.fixture(scope="session")
def airflow_db():
    """Migrate the session's Airflow metadata DB once (real SQLite, real migrations)."""
    from pipelines.orchestrate import prepare_airflow

    prepare_airflow(_SESSION_DIR / "home")
    return Path(os.environ["AIRFLOW_HOME"])


@pytest.fixture
def examples_landing(home) -> Path:
    """The three shared example files placed as FORMS.md says files land."""
    import shutil

    landing = home / "landing"
    week = landing / "2026-W47" / "西华县" / "逍遥镇"
    week.mkdir(parents=True)
    shutil.copy(EXAMPLES / "区划名录.csv", landing / "区划名录.csv")
    for name in ("焦东村三本账2026第47周.xlsx", "西华县逍遥镇焦东村第47周周报(改).xlsx", "逍遥镇2026年第47周扶贫周报.csv"):
        shutil.copy(EXAMPLES / name, week / name)
    # Arrived on time: Sunday evening before the Monday 10:00 deadline.
    import datetime as dt

    t = dt.datetime(2026, 11, 22, 20, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp()
    for p in week.iterdir():
        os.utime(p, (t, t))
    return landing


def run_pipeline_weeks(weeks: list[str], full: bool = False) -> None:
    """discover → process_group → publish → consolidate for each week, without Airflow;
    with ``full`` also the DAG's last tasks: lifecycle sync, receipts and the weekly mart."""
    from pipelines.consolidate import consolidate
    from tests.week_run import stage_and_publish

    for week in weeks:
        stage_and_publish(week)
        consolidate(week)
        if full:
            from pipelines.mart import refresh_weekly_mart
            from pipelines.review.lifecycle import sync_lifecycle
            from pipelines.review.receipts import write_receipts

            sync_lifecycle(week, run_id="test")
            write_receipts(week)
            refresh_weekly_mart(week)


@pytest.fixture(scope="session")
def faulty_world():
    """A small synthetic world with every fault kind, run through the pipeline once.

    Tests read it (never write); it lives in its own HUIZONG_HOME.
    """
    from pipelines.synth import generate

    h = _SESSION_DIR / "faulty"
    weeks = ["2026-W45", "2026-W46"]
    mp = pytest.MonkeyPatch()
    mp.setenv("HUIZONG_HOME", str(h))
    result = generate(out=str(h / "landing"), weeks="2026-W45..2026-W46", scale="0.05", faults="default", seed=11)
    run_pipeline_weeks(weeks, full=True)
    mp.undo()
    return {"home": h, "weeks": weeks, "result": result}


@pytest.fixture(scope="session")
def clean_world():
    from pipelines.synth import generate

    h = _SESSION_DIR / "clean"
    weeks = ["2026-W45", "2026-W46"]
    mp = pytest.MonkeyPatch()
    mp.setenv("HUIZONG_HOME", str(h))
    result = generate(out=str(h / "landing"), weeks="2026-W45..2026-W46", scale="0.05", faults="none", seed=12)
    run_pipeline_weeks(weeks)
    mp.undo()
    return {"home": h, "weeks": weeks, "result": result}


def warehouse_of(home: Path):
    from pipelines.warehouse import Warehouse

    return Warehouse(f"duckdb:///{home / 'warehouse.duckdb'}")
