"""`huizong ui` prepares a steward login for the embedded default without committing secrets."""
import json
import stat

from pipelines.orchestrate import ui_environ


def test_ui_environment_has_a_steward_and_private_secrets(home):
    env, passwords = ui_environ(8123, home)
    users = json.loads(passwords.read_text())
    assert list(users) == ["steward"] and len(users["steward"]) >= 12
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "steward:admin"
    assert env["AIRFLOW__CORE__PLUGINS_FOLDER"].endswith("plugins")
    assert len(env["AIRFLOW__API_AUTH__JWT_SECRET"]) == 64
    assert stat.S_IMODE(passwords.stat().st_mode) == 0o600
    # Stable across calls: the same password and secret the next time.
    env2, _ = ui_environ(8123, home)
    assert env2["AIRFLOW__API_AUTH__JWT_SECRET"] == env["AIRFLOW__API_AUTH__JWT_SECRET"]
    assert json.loads(passwords.read_text()) == users
