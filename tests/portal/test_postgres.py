"""The portal on the shared warehouse (PostgreSQL), as the compose stack runs it: accounts,
activation, login, the rate limit's count, an upload and its receipt."""
from __future__ import annotations

import pytest

from tests.mart.helpers import throwaway_postgres
from tests.portal.conftest import LEDGER, PASSWORD, VILLAGE, activate, login, upload


@pytest.fixture
def pg_client(portal_home, monkeypatch):
    import pandas as pd
    from fastapi.testclient import TestClient

    from pipelines.cli import main
    from pipelines.portal.app import create_app

    with throwaway_postgres() as url:
        monkeypatch.setenv("HUIZONG_WAREHOUSE_URL", url)
        out = portal_home / "激活码.xlsx"
        assert main(["accounts", "create", "--out", str(out)]) == 0
        df = pd.read_excel(out, dtype=str)
        with TestClient(create_app(), follow_redirects=False) as c:
            yield c, dict(zip(df["单位代码"], df["激活码"])), url


def test_the_portal_runs_on_postgresql(pg_client):
    from pipelines.warehouse import Warehouse

    client, issued, url = pg_client
    assert activate(client, VILLAGE, issued[VILLAGE]).status_code == 200
    assert login(client, VILLAGE, "wrong-password").status_code == 401
    assert login(client, VILLAGE, PASSWORD).status_code == 303
    r = upload(client, [LEDGER])
    page = client.get(r.headers["location"])
    assert page.status_code == 200 and "第11行" in page.text and "身份证号码" in page.text
    wh = Warehouse(url)
    try:
        assert wh.scalar("SELECT count(*) FROM portal.audit WHERE action = 'login_failed'") == 1
        assert wh.scalar("SELECT count(*) FROM portal.upload_findings WHERE rule = 'id_number.scientific'") == 1
        assert wh.scalar("SELECT landing_path FROM portal.uploads") == f"2026-W47/西华县/逍遥镇/焦东村/{LEDGER}"
    finally:
        wh.dispose()
