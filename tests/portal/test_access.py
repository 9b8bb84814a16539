"""A unit sees only its own uploads: every page and id of another unit is refused (404,
as for an id that does not exist: it does not tell an upload exists), and nothing but the
login and activation pages answers without a session."""
from __future__ import annotations

import pytest

from tests.portal.conftest import LEDGER, OTHER_VILLAGE, TOWNSHIP, VILLAGE, VILLAGE_REPORT, logged_in, upload


@pytest.fixture
def two_units(client, issued):
    """焦东村 uploads two files; then 西营村 is logged in on the same client."""
    logged_in(client, issued, VILLAGE)
    ids = [upload(client, [n]).headers["location"] for n in (LEDGER, VILLAGE_REPORT)]
    assert all(i.startswith("/uploads/") for i in ids)
    client.cookies.clear()
    logged_in(client, issued, OTHER_VILLAGE)
    return ids


def test_another_units_receipts_are_not_found(client, two_units):
    for path in two_units:
        r = client.get(path)
        assert r.status_code == 404 and "没有这份回执" in r.text and LEDGER not in r.text
    assert client.get("/uploads/not-an-id").status_code == 404


def test_another_units_uploads_are_not_listed(client, two_units):
    page = client.get("/?week=2026-W47")
    assert page.status_code == 200 and "西营村" in page.text
    assert LEDGER not in page.text and VILLAGE_REPORT not in page.text and "本周次尚未上传文件" in page.text


def test_an_upper_level_does_not_see_its_villages_uploads_through_receipt_ids(client, issued, two_units):
    client.cookies.clear()
    logged_in(client, issued, TOWNSHIP)
    assert all(client.get(p).status_code == 404 for p in two_units)


def test_without_a_session_every_page_goes_to_login_and_nothing_is_written(client, two_units, portal_home):
    client.cookies.clear()
    before = sorted(p.name for p in (portal_home / "landing").rglob("*.xlsx"))
    for path in ["/", "/?week=2026-W47", *two_units]:
        r = client.get(path)
        assert r.status_code == 303 and r.headers["location"] == "/login", path
    token = client.get("/login").cookies.get("huizong_portal_csrf") or client.cookies.get("huizong_portal_csrf")
    r = client.post("/upload", data={"csrf_token": token, "week": "2026-W47"},
                    files=[("files", (LEDGER, b"x"))])
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert sorted(p.name for p in (portal_home / "landing").rglob("*.xlsx")) == before
    assert client.get("/login").status_code == 200 and client.get("/activate").status_code == 200
