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
import re
import secrets
import unicodedata
from pathlib import Path

import pandas as pd

# Runs of digits as a clerk may write an ID or phone number: half- or full-width digits in
# groups of three or more, joined by single spaces, dashes or dots (411622 19720915 5340,
# 137-3235-5596, ４１１６…); an ID may end in X. Each run is looked at in Python (few per text).
_DIGIT = "[0-9\uff10-\uff19]"
_SEPARATOR = "[ \u00a0\u3000\\-\uff0d\u2010\u2011\u2013\u2014.\uff0e\u00b7]"
NUMBER_RUN = re.compile(f"(?<![0-9\uff10-\uff19]){_DIGIT}{{3,}}(?:{_SEPARATOR}{_DIGIT}{{3,}})*[Xx\uff38\uff58]?"
                        f"(?![0-9\uff10-\uff19])")
_SPLIT = re.compile(f"({_SEPARATOR})")
ID_DIGITS = re.compile(r"[1-9][0-9]{16}[0-9X]")
PHONE_DIGITS = re.compile(r"1[3-9][0-9]{9}")
# An ID that Excel turned into a float still carries most of its digits.
SCI_PATTERN = r"(?<![0-9])([1-9])\.([0-9]{3})[0-9]{6,}(?:[eE]\+?1[5-7])"


def _masked(digits: str) -> str | None:
    """The masked display form of an ID or mobile number written without separators, or None."""
    if ID_DIGITS.fullmatch(digits.upper()):
        return digits[:6] + "********" + digits[-4:]
    if PHONE_DIGITS.fullmatch(digits):
        return digits[:3] + "****" + digits[-4:]
    return None


def _mask_run(match: re.Match) -> str:
    """A run of digit groups with every ID or phone number in it masked: from left to right,
    the longest stretch of consecutive groups that reads as one (separators between kept)."""
    parts = _SPLIT.split(match.group(0))  # groups at even places, their separators between
    groups, seps = parts[::2], parts[1::2]
    out, i, found = [], 0, False
    while i < len(groups):
        for j in range(len(groups), i, -1):
            masked = _masked(unicodedata.normalize("NFKC", "".join(groups[i:j])))
            if masked:
                break
        else:
            masked, j = groups[i], i + 1
        found = found or masked != groups[i]
        out.append(masked + (seps[j - 1] if j - 1 < len(seps) else ""))
        i = j
    return "".join(out) if found else match.group(0)


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


def number_text(values: pd.Series) -> pd.Series:
    """ID or phone numbers as digits only: full-width forms made half-width, spaces,
    dashes and dots between digit groups removed; other text left as it is."""
    s = values.astype("string").str.strip()
    s = s.str.normalize("NFKC")
    joined = s.str.replace(_SPLIT, "", regex=True)
    return joined.where(joined.str.fullmatch(r"[0-9]+[Xx]?").fillna(False), s)


def keyed_hash(values: pd.Series, key: bytes) -> pd.Series:
    """HMAC-SHA256 (first 32 hex digits) of each non-empty value; NA stays NA."""
    norm = number_text(values).str.upper()
    keyed = hmac.new(key, digestmod=hashlib.sha256)  # the key is mixed in once; each value copies it

    def digest(v: str) -> str:
        h = keyed.copy()
        h.update(v.encode("utf-8"))
        return h.hexdigest()[:32]

    out = [None if v is pd.NA or v is None or v == "" else digest(v) for v in norm.tolist()]
    return pd.Series(out, index=values.index, dtype="string")


def mask_id(values: pd.Series) -> pd.Series:
    s = number_text(values)
    return (s.str.slice(0, 6) + "********" + s.str.slice(-4)).where(s.str.len() >= 10, s.str.replace(r".", "*", regex=True))


def mask_phone(values: pd.Series) -> pd.Series:
    s = number_text(values)
    return (s.str.slice(0, 3) + "****" + s.str.slice(-4)).where(s.str.len() >= 7, s.str.replace(r".", "*", regex=True))


def mask_text(values: pd.Series) -> pd.Series:
    """Mask ID numbers and mobile numbers inside free text, however they are written (with
    spaces, dashes or dots, in full-width digits), and IDs that Excel turned into floats."""
    s = values.astype("string")
    s = s.str.replace(NUMBER_RUN, _mask_run, regex=True)
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
