"""Accounts of the reporting units (portal.accounts), one per unit of the register.

The register (区划名录.csv) is the only source of who exists: an account holds no name or
level, and a unit that left the register cannot log in. The office creates accounts with
``huizong accounts create``: each new account gets a one-time activation code (kept only
as its argon2 hash), written with the unit's name into an xlsx the office distributes. The
unit sets its password with the code (``activate``); the code is then gone. Passwords are
kept as argon2 hashes only.
"""
from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from pipelines.portal import audit
from pipelines.warehouse import Warehouse

ACTIVATION_DAYS = 30
PASSWORD_MIN_CHARS = 8
# Activation codes: 12 characters, no look-alikes (0/O, 1/l/I), easy to type from paper.
_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
_hasher = PasswordHasher()


def _code() -> str:
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(12))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def _verify(stored: str | None, given: str) -> bool:
    if not stored or not given:
        return False
    try:
        return _hasher.verify(stored, given)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def covered_units(register: pd.DataFrame, account_code: str) -> pd.DataFrame:
    """The register's units an account reports for: its own and, for a township or county,
    those below it (codes are hierarchical: a village's starts with its township's)."""
    return register[register["code"].str.startswith(account_code)]


def create_accounts(wh: Warehouse, register: pd.DataFrame, units: list[str] | None = None,
                    now: dt.datetime | None = None) -> pd.DataFrame:
    """A one-time activation code for every unit of ``register`` without an account, or,
    with ``units``, for those units (issued again: a forgotten password, a lost code; the
    password is cleared). Returns code, name, level, parent_name, activation_code, expires."""
    now = now or dt.datetime.now(dt.timezone.utc)
    existing = set(wh.query("SELECT unit_code FROM portal.accounts")["unit_code"])
    if units is None:
        chosen = register[~register["code"].isin(existing)]
    else:
        unknown = sorted(set(units) - set(register["code"]))
        if unknown:
            raise ValueError(f"区划名录中没有这些单位代码：{'、'.join(unknown)}")
        chosen = register[register["code"].isin(units)]
    names = dict(zip(register["code"], register["name"]))
    codes = [_code() for _ in range(len(chosen))]
    expires = now + dt.timedelta(days=ACTIVATION_DAYS)
    rows = [{"unit_code": c, "activation_hash": _hasher.hash(a), "activation_expires": expires,
             "password_hash": None, "created_at": now, "activated_at": None}
            for c, a in zip(chosen["code"], codes)]
    with wh.transaction() as conn:
        if rows:
            conn.execute(sa.text("DELETE FROM portal.accounts WHERE unit_code = :unit_code"),
                         [{"unit_code": r["unit_code"]} for r in rows])
            conn.execute(sa.text(
                "INSERT INTO portal.accounts (unit_code, activation_hash, activation_expires, password_hash, created_at, "
                "activated_at) VALUES (:unit_code, :activation_hash, :activation_expires, :password_hash, :created_at, "
                ":activated_at)"), rows)
        for r in rows:
            audit.record(conn, r["unit_code"], "create", "office", detail="发放激活码")
    return pd.DataFrame({"code": chosen["code"].to_numpy(object), "name": chosen["name"].to_numpy(object),
                         "level": chosen["level"].to_numpy(object),
                         "parent_name": chosen["parent_code"].map(names).fillna("").to_numpy(object),
                         "activation_code": codes, "expires": expires})


def write_activation_xlsx(issued: pd.DataFrame, path: Path, portal_url: str, tz: str) -> Path:
    """The list the office hands out: one row per unit with its code, to be kept private."""
    out = pd.DataFrame({
        "单位代码": issued["code"], "单位名称": issued["name"], "层级": issued["level"], "上级单位": issued["parent_name"],
        "激活码": issued["activation_code"],
        "有效期至": pd.to_datetime(issued["expires"], utc=True).dt.tz_convert(tz).dt.strftime("%Y-%m-%d %H:%M"),
        "激活网址": f"{portal_url.rstrip('/')}/activate",
    })
    path.parent.mkdir(parents=True, exist_ok=True)
    with pd.ExcelWriter(path, engine="xlsxwriter") as xw:
        out.to_excel(xw, sheet_name="激活码", index=False)
        sheet = xw.sheets["激活码"]
        sheet.set_column(0, 0, 14)
        sheet.set_column(1, 3, 12)
        sheet.set_column(4, 5, 18)
        sheet.set_column(6, 6, 40)
    return path


def _account(wh: Warehouse, unit_code: str) -> dict | None:
    df = wh.query("SELECT unit_code, activation_hash, activation_expires, password_hash FROM portal.accounts "
                  "WHERE unit_code = :u", {"u": unit_code})
    return None if df.empty else {k: (None if pd.isna(v) else v) for k, v in df.iloc[0].items()}


def activate(wh: Warehouse, unit_code: str, activation_code: str, password: str, client: str = "",
             now: dt.datetime | None = None) -> str | None:
    """Set the password of ``unit_code`` with its activation code (used up by it). Returns
    None on success, else the reason in Chinese (audited either way)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    acc = _account(wh, unit_code)
    reason = None
    if len(password) < PASSWORD_MIN_CHARS:
        reason = f"密码至少 {PASSWORD_MIN_CHARS} 位"
    elif acc is None or not _verify(acc["activation_hash"], activation_code.strip().upper()):
        reason = "单位代码或激活码不正确（激活码只能使用一次）"
    elif pd.Timestamp(acc["activation_expires"]) < pd.Timestamp(now):
        reason = "激活码已过期，请联系市扶贫办重新发放"
    with wh.transaction() as conn:
        if reason is None:
            conn.execute(sa.text("UPDATE portal.accounts SET password_hash = :p, activation_hash = NULL, "
                                 "activation_expires = NULL, activated_at = :t WHERE unit_code = :u"),
                         {"p": _hasher.hash(password), "t": now, "u": unit_code})
        audit.record(conn, unit_code, "activate" if reason is None else "activate_failed", client, detail=reason)
    return reason


def check_password(wh: Warehouse, unit_code: str, password: str) -> str | None:
    """The account's password hash when ``password`` is right (it keys the session), else None."""
    acc = _account(wh, unit_code)
    if acc is None or not _verify(acc["password_hash"], password):
        return None
    return acc["password_hash"]


def password_hash(wh: Warehouse, unit_code: str) -> str | None:
    acc = _account(wh, unit_code)
    return None if acc is None else acc["password_hash"]
