"""Accounts from the register: activation codes into an xlsx, argon2 hashes only,
activation once, login in a signed cookie, CSRF on every POST, rate-limited attempts,
every action audited."""
from __future__ import annotations

from pipelines.portal.session import Sessions
from tests.conftest import warehouse_of
from tests.portal.conftest import COUNTY, PASSWORD, TOWNSHIP, VILLAGE, activate, csrf, login


def test_accounts_create_issues_one_code_per_unit_of_the_register_kept_only_as_a_hash(portal_home, issued):
    from pipelines.cli import main

    assert len(issued) == 10 and {COUNTY, TOWNSHIP, VILLAGE} <= set(issued)
    assert len(set(issued.values())) == 10
    wh = warehouse_of(portal_home)
    stored = wh.query("SELECT unit_code, activation_hash, password_hash FROM portal.accounts")
    assert len(stored) == 10 and stored["password_hash"].isna().all()
    assert stored["activation_hash"].str.startswith("$argon2id$").all()
    assert not set(issued.values()) & set(stored["activation_hash"])
    assert main(["accounts", "create", "--out", str(portal_home / "again.xlsx")]) == 0
    assert not (portal_home / "again.xlsx").exists()  # every unit has its account: nothing issued
    assert main(["accounts", "create", "--units", "999999", "--out", str(portal_home / "x.xlsx")]) == 1
    assert wh.scalar("SELECT count(*) FROM portal.audit WHERE action = 'create'") == 10
    wh.dispose()


def test_activation_sets_the_password_once_and_login_keeps_a_signed_session(client, issued, portal_home):
    assert activate(client, VILLAGE, "AAAA-BBBB-CCCC").status_code == 400
    assert activate(client, VILLAGE, issued[VILLAGE], "short").status_code == 400
    ok = activate(client, VILLAGE, issued[VILLAGE])
    assert ok.status_code == 200 and "密码已设置" in ok.text
    again = activate(client, VILLAGE, issued[VILLAGE], "另一个密码12345")
    assert again.status_code == 400 and "只能使用一次" in again.text
    assert client.get("/").status_code == 303  # no session yet
    assert login(client, VILLAGE, "wrong-password").status_code == 401
    r = login(client, VILLAGE)
    assert r.status_code == 303 and r.headers["location"] == "/"
    home = client.get("/")
    assert home.status_code == 200 and "焦东村" in home.text and 'name="viewport"' in home.text
    wh = warehouse_of(portal_home)
    stored = wh.scalar("SELECT password_hash FROM portal.accounts WHERE unit_code = :u", {"u": VILLAGE})
    wh.dispose()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    client.cookies.set("huizong_portal", Sessions("another key").make(VILLAGE, stored))
    assert client.get("/").status_code == 303  # a cookie not signed with the portal's key is no session
    wh = warehouse_of(portal_home)
    actions = list(wh.query("SELECT action FROM portal.audit WHERE unit_code = :u ORDER BY audit_id",
                            {"u": VILLAGE})["action"])
    wh.dispose()
    assert actions == ["create", "activate_failed", "activate_failed", "activate", "activate_failed",
                       "login_failed", "login"]


def test_every_post_needs_the_csrf_token_and_the_same_origin(client, issued):
    activate(client, VILLAGE, issued[VILLAGE])
    no_token = client.post("/login", data={"unit_code": VILLAGE, "password": PASSWORD})
    assert no_token.status_code == 403 and "CSRF" in no_token.text
    token = csrf(client)
    cross = client.post("/login", data={"csrf_token": token, "unit_code": VILLAGE, "password": PASSWORD},
                        headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403
    assert login(client, VILLAGE).status_code == 303
    assert client.post("/upload", data={"week": "2026-W47"}, files=[("files", ("a.csv", b"x"))]).status_code == 403


def test_login_attempts_are_rate_limited_per_unit(client, issued, portal_home):
    activate(client, VILLAGE, issued[VILLAGE])
    for _ in range(5):
        assert login(client, VILLAGE, "guess-guess").status_code == 401
    limited = login(client, VILLAGE)  # even the right password, until the window has passed
    assert limited.status_code == 429 and "尝试次数过多" in limited.text
    wh = warehouse_of(portal_home)
    assert wh.scalar("SELECT count(*) FROM portal.audit WHERE action = 'login_failed' AND unit_code = :u",
                     {"u": VILLAGE}) == 5
    wh.dispose()
    activate(client, TOWNSHIP, issued[TOWNSHIP])
    assert login(client, TOWNSHIP).status_code == 303  # another unit is not held back


def test_activation_attempts_are_rate_limited_per_unit(client, issued):
    for _ in range(5):
        assert activate(client, VILLAGE, "AAAA-BBBB-CCCC").status_code == 400
    limited = activate(client, VILLAGE, issued[VILLAGE])
    assert limited.status_code == 429 and "尝试次数过多" in limited.text
    assert login(client, VILLAGE).status_code == 401  # the password was never set
