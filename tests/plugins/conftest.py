"""The plugin folder on sys.path, as Airflow puts it, and a real auth manager for tokens."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
if str(PLUGINS) not in sys.path:
    sys.path.insert(0, str(PLUGINS))


@pytest.fixture(scope="session")
def auth_manager(airflow_db):
    """Airflow's configured auth manager (the simple auth manager), initialised as the API server does."""
    from airflow.api_fastapi.app import create_auth_manager

    am = create_auth_manager()
    am.init()
    return am


@pytest.fixture
def mint(auth_manager):
    """A real JWT signed by Airflow's own signer for a user name and role."""
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    def make(username: str, role: str) -> str:
        return auth_manager.generate_jwt(SimpleAuthManagerUser(username=username, role=role))

    return make


@pytest.fixture
def parsed_dags(airflow_db):
    """weekly_ingest in the metadata DB, as the dag-processor leaves it. Yields the run ids
    that were there before (other tests' dag.test runs share the session's metadata DB); the
    runs a test triggers are deleted afterwards."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
    from airflow.models.dag import DagModel
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import delete, select

    manager = DagBundlesManager()
    manager.sync_bundles_to_db()
    for bundle in manager.get_all_dag_bundles():
        bundle.initialize()
        sync_bag_to_db(BundleDagBag(dag_folder=bundle.path, bundle_path=bundle.path, bundle_name=bundle.name),
                       bundle.name, bundle.version)
    with create_session() as session:
        before = set(session.scalars(select(DagRun.run_id).where(DagRun.dag_id == "weekly_ingest")))
        paused = DagModel.get_current("weekly_ingest", session=session).is_paused
    yield frozenset(before)
    with create_session() as session:
        session.execute(delete(DagRun).where(DagRun.dag_id == "weekly_ingest", DagRun.run_id.not_in(before)))
    pause("weekly_ingest", paused)  # as it was: a test may unpause it


def pause(dag_id: str, paused: bool) -> None:
    """Pause or unpause a DAG in the metadata DB, as the UI's toggle does."""
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        DagModel.get_current(dag_id, session=session).is_paused = paused
