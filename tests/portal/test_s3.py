"""The portal writing into a landing bucket (S3 API: moto's server, standing in for MinIO),
where the weekly run lists the file."""
from __future__ import annotations

import pytest

from tests.conftest import EXAMPLES
from tests.native.test_storage_s3 import s3_env, s3_server  # noqa: F401, F811 - fixtures
from tests.portal.conftest import TOWNSHIP, TOWNSHIP_REPORT, activate, login, upload

pytestmark = pytest.mark.slow


def test_an_upload_lands_unchanged_in_the_bucket_and_the_weekly_run_lists_it(s3_env, home):  # noqa: F811
    import pandas as pd
    from fastapi.testclient import TestClient

    from pipelines.cli import main
    from pipelines.ingest.landing import list_week_files
    from pipelines.portal.app import create_app
    from pipelines.settings import get_settings

    assert main(["accounts", "create", "--out", str(home / "激活码.xlsx")]) == 0
    codes = pd.read_excel(home / "激活码.xlsx", dtype=str).set_index("单位代码")["激活码"]
    with TestClient(create_app(), follow_redirects=False) as client:
        assert activate(client, TOWNSHIP, codes[TOWNSHIP]).status_code == 200
        assert login(client, TOWNSHIP).status_code == 303
        r = upload(client, [TOWNSHIP_REPORT])
        assert "预审通过" in client.get(r.headers["location"]).text
    key = f"2026-W47/西华县/逍遥镇/{TOWNSHIP_REPORT}"
    body = s3_env["client"].get_object(Bucket="huizong-landing", Key=key)["Body"].read()
    assert body == (EXAMPLES / TOWNSHIP_REPORT).read_bytes()
    assert key in set(list_week_files(get_settings(), "2026-W47")["landing_path"])
