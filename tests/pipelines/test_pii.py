"""pipelines/pii.py: the keyed hash that joins ID numbers across weeks without keeping them."""
from __future__ import annotations

import hashlib
import hmac

import pandas as pd

from pipelines.pii import keyed_hash


def test_keyed_hash_is_hmac_sha256_of_the_normalised_value():
    key = b"0123456789abcdef" * 4
    values = pd.Series([" 41162219720915524x ", "411622197209155240", "", None, pd.NA], index=[5, 6, 7, 8, 9])
    out = keyed_hash(values, key)
    expect = hmac.new(key, b"41162219720915524X", hashlib.sha256).hexdigest()[:32]
    assert out.index.tolist() == [5, 6, 7, 8, 9] and str(out.dtype) == "string"
    assert out[5] == expect  # stripped and upper-cased first: the same ID written two ways joins
    assert out[6] == hmac.new(key, b"411622197209155240", hashlib.sha256).hexdigest()[:32] != expect
    assert out[[7, 8, 9]].isna().all()


def test_keyed_hash_depends_on_the_key():
    values = pd.Series(["411622197209155240"])
    assert keyed_hash(values, b"a" * 64)[0] != keyed_hash(values, b"b" * 64)[0]
