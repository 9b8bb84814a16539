"""pipelines/vectors.py: member() answers as pandas' isin does, for every kind of column."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.vectors import member

TEXT = ["a", "b", None, "c", "a", ""]


@pytest.mark.parametrize("allowed", [{"a", ""}, ["a", ""], ("a", ""), pd.Index(["a", ""]), pd.Series(["a", ""]),
                                     np.array(["a", ""], dtype=object), {"a": 1, "": 2}.keys()])
@pytest.mark.parametrize("kind", ["str", "object", "index"])
def test_member_is_isin_for_text(kind, allowed):
    values = {"str": pd.Series(TEXT, dtype="str"), "object": pd.Series(TEXT, dtype=object),
              "index": pd.Index(TEXT, dtype="str")}[kind]
    got = member(values, allowed)
    assert isinstance(got, np.ndarray) and got.dtype == bool
    assert got.tolist() == [True, False, False, False, True, True]
    assert got.tolist() == list(pd.Series(values).isin(list(allowed)))


def test_missing_values_are_never_members_and_empty_sets_match_nothing():
    values = pd.Series(["x", None], dtype="str")
    assert member(values, {None, "x"}).tolist() == [True, False]
    assert member(values, set()).tolist() == [False, False]
    assert member(pd.Series([], dtype="str"), {"x"}).tolist() == []


def test_numbers_and_non_text_allowed_values():
    assert member(pd.Series([1, 2, 3]), {2, 3}).tolist() == [False, True, True]
    assert member(pd.Series(["1", "2"], dtype="str"), {1, "2"}).tolist() == [False, True]  # no coercion
    assert member(pd.Series(["a", "b"], dtype="str"), pd.Series(["b"], dtype="string[pyarrow]")).tolist() == [False, True]


def test_a_sliced_arrow_column():
    s = pd.Series([f"{i:05d}" for i in range(1000)], dtype="str")
    part = s[s.index % 3 == 0]
    assert member(part, {"00003", "00004"}).tolist() == list(part.isin(["00003", "00004"]))


def test_joined_keys_match_row_by_row():
    from pipelines.vectors import joined

    a = pd.Series(["s1", "s1", "s2", None], dtype="str")
    b = pd.Series(["表1", None, "表1", "表1"], dtype=object)
    rows = pd.Series([3, 4, 3, 3], dtype="int64")
    keys = joined(a, b, rows)
    assert keys.to_pylist() == ["s1\x1f表1\x1f3", "s1\x1f\x1f4", "s2\x1f表1\x1f3", "\x1f表1\x1f3"]
    wanted = joined(pd.Series(["s2", "s1"]), pd.Series(["表1", ""]), np.array([3, 4]))
    assert member(keys, wanted).tolist() == [False, True, True, False]
    assert member(keys, joined(pd.Series([], dtype="str"), pd.Series([], dtype="str"))).tolist() == [False] * 4
