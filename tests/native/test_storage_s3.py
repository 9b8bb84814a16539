"""Landing, lake and archive on an S3 API (moto's server, standing in for MinIO)."""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import subprocess
import sys
import time

import pytest

from tests.conftest import EXAMPLES, run_pipeline_weeks
from tests.native._support import free_port, stop

pytestmark = pytest.mark.slow

WEEK = "2026-W47"
FILES = ("焦东村三本账2026第47周.xlsx", "西华县逍遥镇焦东村第47周周报(改).xlsx", "逍遥镇2026年第47周扶贫周报.csv")
BUCKETS = ("huizong-landing", "huizong-lake", "huizong-archive")


@pytest.fixture
def s3_server(tmp_path):
    """moto_server on a free port, as a subprocess (a real HTTP S3 endpoint)."""
    import httpx

    port = free_port()
    log = open(tmp_path / "moto.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "moto.log").read_text()
            try:
                if httpx.get(url + "/moto-api/", timeout=2).status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            assert time.time() < deadline, "moto server did not start"
            time.sleep(0.2)
        yield url
    finally:
        stop(proc)
        log.close()


@pytest.fixture
def s3_env(s3_server, home, monkeypatch):
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for var in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HUIZONG_LANDING_URL", "s3://huizong-landing")
    monkeypatch.setenv("HUIZONG_LAKE_URL", "s3://huizong-lake")
    monkeypatch.setenv("HUIZONG_ARCHIVE_URL", "s3://huizong-archive")
    monkeypatch.setenv("HUIZONG_S3_ENDPOINT_URL", s3_server)
    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    for b in BUCKETS:
        client.create_bucket(Bucket=b)
    client.upload_file(str(EXAMPLES / "区划名录.csv"), "huizong-landing", "区划名录.csv")
    uploaded = {}

    def upload(name: str) -> None:
        key = f"{WEEK}/西华县/逍遥镇/{name}"
        client.put_object(Bucket="huizong-landing", Key=key, Body=(EXAMPLES / name).read_bytes())
        uploaded[key] = client.head_object(Bucket="huizong-landing", Key=key)["LastModified"]

    for name in FILES[:2]:
        upload(name)
    # A folder marker (as consoles create them) is not a file; a hidden file is a
    # submission like any other (nothing received is lost) and gets a finding.
    client.put_object(Bucket="huizong-landing", Key=f"{WEEK}/西华县/", Body=b"")
    client.put_object(Bucket="huizong-landing", Key=f"{WEEK}/西华县/.DS_Store", Body=b"x")
    hidden = f"{WEEK}/西华县/.DS_Store"
    return {"client": client, "uploaded": uploaded, "upload": upload, "hidden": hidden,
            "hidden_at": client.head_object(Bucket="huizong-landing", Key=hidden)["LastModified"]}


def test_landing_lake_and_archive_on_s3(s3_env, home, monkeypatch):
    import pyarrow.parquet as pq

    from pipelines.settings import get_settings
    from pipelines.warehouse import Warehouse

    client, uploaded = s3_env["client"], s3_env["uploaded"]
    # Uploaded now, i.e. after the 2026-W47 deadline: the files are late by their S3 LastModified.
    run_pipeline_weeks([WEEK])
    # The township's report lands later; the re-run in the same process must list it
    # (no stale listing cache) and give the week's tables as if run once.
    s3_env["upload"](FILES[2])
    run_pipeline_weeks([WEEK])

    wh = Warehouse(get_settings().warehouse_url)
    assert wh.scalar("SELECT COUNT(*) FROM core.ledger_households WHERE week = :w", {"w": WEEK}) == 44
    errors = wh.query("SELECT rule FROM core.findings WHERE severity = 'error' AND week = :w", {"w": WEEK})
    assert sorted(errors["rule"]) == ["file.not_a_form", "id_number.scientific"]  # the .DS_Store
    assert wh.scalar("SELECT COUNT(*) FROM core.loads WHERE week = :w", {"w": WEEK}) == 1
    uploaded = {**uploaded, s3_env["hidden"]: s3_env["hidden_at"]}

    # Submissions: three, received_at is the object's LastModified (second precision on S3).
    subs = wh.query("SELECT landing_path, received_at, sha256, archive_path, on_time FROM core.submissions")
    assert sorted(subs["landing_path"]) == sorted(uploaded)
    for r in subs.itertuples(index=False):
        got = r.received_at.to_pydatetime() if hasattr(r.received_at, "to_pydatetime") else r.received_at
        assert abs(got - uploaded[r.landing_path]) < dt.timedelta(seconds=1), (got, uploaded[r.landing_path])
        assert not r.on_time
    assert wh.scalar("SELECT COUNT(*) FROM core.findings WHERE rule = 'submission.late' AND week = :w",
                     {"w": WEEK}) == 3  # the three forms; the .DS_Store is rejected, not late

    # Archive: every file received (the three forms and the .DS_Store), byte-identical, under its sha256.
    keys = [o["Key"] for o in client.list_objects_v2(Bucket="huizong-archive").get("Contents", [])]
    assert len(keys) == 4, keys
    for r in subs.itertuples(index=False):
        body = client.get_object(Bucket="huizong-archive", Key=r.archive_path)["Body"].read()
        assert body == client.get_object(Bucket="huizong-landing", Key=r.landing_path)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == r.sha256
        ext = "" if r.landing_path.endswith(".DS_Store") else (".xlsx" if r.landing_path.endswith(".xlsx") else ".csv")
        assert r.archive_path == f"{r.sha256[:2]}/{r.sha256}{ext}"

    # Lake: partitioned Parquet readable as written; staging and manifest there too.
    lake = [o["Key"] for o in client.list_objects_v2(Bucket="huizong-lake").get("Contents", [])]
    key = f"facts/ledger_households/week={WEEK}/part-0.parquet"
    assert key in lake, lake
    table = pq.read_table(io.BytesIO(client.get_object(Bucket="huizong-lake", Key=key)["Body"].read()))
    assert table.num_rows == 44
    assert f"findings/findings/week={WEEK}/part-0.parquet" in lake
    assert not [k for k in lake if k.endswith(".tmp")]
    # Nothing was written locally under HUIZONG_HOME but the warehouse.
    assert not (home / "landing").exists() and not (home / "lake").exists() and not (home / "archive").exists()
