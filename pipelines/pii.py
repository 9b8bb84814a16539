"""Personal data: resident ID numbers and phone numbers never leave the raw archive in clear.

In the lake and the warehouse they are stored as a keyed hash (HMAC-SHA256 with a secret
that is never committed) plus a masked display form (411622********123X, 136****8848),
so records still join across weeks. The key comes from HUIZONG_PII_KEY; on the embedded
default a random key is created once in $HUIZONG_HOME/.pii_key (mode 600). Losing the key
only means hashes from before and after no longer match; the archive still holds the
clear values (restricted: see README).
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

import pandas as pd

ID_PATTERN = r"(?<![0-9])([1-9][0-9]{5})[0-9]{8}([0-9]{3}[0-9Xx])(?![0-9])"
PHONE_PATTERN = r"(?<![0-9])(1[3-9][0-9])[0-9]{4}([0-9]{4})(?![0-9])"
# An ID that Excel turned into a float still carries most of its digits.
SCI_PATTERN = r"(?<![0-9])([1-9])\.([0-9]{3})[0-9]{6,}(?:[eE]\+?1[5-7])"


def pii_key(home: Path | None = None) -> bytes:
    from pipelines.settings import get_settings

    settings = get_settings()
    if settings.pii_key:
        return settings.pii_key.encode("utf-8")
    path = (home or settings.home) / ".pii_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip().encode("utf-8")


def keyed_hash(values: pd.Series, key: bytes) -> pd.Series:
    """HMAC-SHA256 (first 32 hex digits) of each non-empty value; NA stays NA."""
    norm = values.astype("string").str.strip().str.upper()
    keyed = hmac.new(key, digestmod=hashlib.sha256)  # the key is mixed in once; each value copies it

    def digest(v: str) -> str:
        h = keyed.copy()
        h.update(v.encode("utf-8"))
        return h.hexdigest()[:32]

    out = [None if v is pd.NA or v is None or v == "" else digest(v) for v in norm.tolist()]
    return pd.Series(out, index=values.index, dtype="string")


def mask_id(values: pd.Series) -> pd.Series:
    s = values.astype("string").str.strip()
    return (s.str.slice(0, 6) + "********" + s.str.slice(-4)).where(s.str.len() >= 10, s.str.replace(r".", "*", regex=True))


def mask_phone(values: pd.Series) -> pd.Series:
    s = values.astype("string").str.strip()
    return (s.str.slice(0, 3) + "****" + s.str.slice(-4)).where(s.str.len() >= 7, s.str.replace(r".", "*", regex=True))


def mask_text(values: pd.Series) -> pd.Series:
    """Mask ID numbers, mobile numbers and float-mangled IDs inside free text."""
    s = values.astype("string")
    s = s.str.replace(ID_PATTERN, r"\1********\2", regex=True)
    s = s.str.replace(PHONE_PATTERN, r"\1****\2", regex=True)
    return s.str.replace(SCI_PATTERN, r"\1.\2*********e+17", regex=True)


def protect_plan(df: pd.DataFrame, key: bytes) -> pd.DataFrame:
    """Ledger plan rows: id_number → id_hash + id_masked."""
    if "id_number" not in df.columns:
        return df
    out = df.copy()
    out["id_hash"] = keyed_hash(out["id_number"], key)
    out["id_masked"] = mask_id(out["id_number"])
    return out.drop(columns=["id_number"])


def protect_helpers(df: pd.DataFrame, key: bytes) -> pd.DataFrame:
    """Helper rows: helper_phone → phone_hash + phone_masked."""
    if "helper_phone" not in df.columns:
        return df
    out = df.copy()
    out["phone_hash"] = keyed_hash(out["helper_phone"], key)
    out["phone_masked"] = mask_phone(out["helper_phone"])
    return out.drop(columns=["helper_phone"])


def protect_findings(f: pd.DataFrame) -> pd.DataFrame:
    if f.empty:
        return f
    out = f.copy()
    out["value"] = mask_text(out["value"]).fillna("").astype(str)
    out["message"] = mask_text(out["message"]).fillna("").astype(str)
    return out
