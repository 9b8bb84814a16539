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
