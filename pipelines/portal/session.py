"""Logins kept in a signed cookie (itsdangerous), and the CSRF token every POST carries.

The session cookie holds the unit code and a fingerprint of the account's password hash,
signed with the portal's secret (``HUIZONG_PORTAL_SECRET``, else a random one kept in
``$HUIZONG_HOME/.portal_secret``); it lasts ``SESSION_HOURS`` and a new password ends
every session made with the old one. CSRF: a random token in its own cookie, which every
form repeats (double submit), and a cross-origin ``Origin`` is refused outright.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from itsdangerous import BadSignature, URLSafeTimedSerializer

from pipelines.settings import Settings

SESSION_COOKIE = "huizong_portal"
CSRF_COOKIE = "huizong_portal_csrf"
SESSION_HOURS = 8


def portal_secret(settings: Settings) -> str:
    if settings.portal_secret:
        return settings.portal_secret
    path = settings.home / ".portal_secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another worker made it first
            return path.read_text().strip()
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip()


def fingerprint(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


class Sessions:
    def __init__(self, secret: str):
        self._signer = URLSafeTimedSerializer(secret, salt="huizong-portal-session")

    def make(self, unit_code: str, password_hash: str) -> str:
        return self._signer.dumps({"u": unit_code, "p": fingerprint(password_hash)})

    def read(self, cookie: str | None) -> tuple[str, str] | None:
        """(unit code, password fingerprint) of a valid, unexpired cookie, else None."""
        if not cookie:
            return None
        try:
            data = self._signer.loads(cookie, max_age=SESSION_HOURS * 3600)
        except BadSignature:
            return None
        return str(data.get("u", "")), str(data.get("p", ""))


def new_csrf() -> str:
    return secrets.token_urlsafe(24)


def csrf_ok(cookie: str | None, supplied: str | None) -> bool:
    return bool(cookie and supplied) and hmac.compare_digest(cookie, supplied)
